#pragma once

// The posture of a listening socket: how far it reaches (its exposure) and whether the spec of
// its pod admits to it (a declared containerPort). Pure functions over a socket of a scan and
// what the pod index knows; the agent applies them to every listening socket of a snapshot.
//
// Exposure:
//  - loopback: a unix socket, or bound to 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. Only its
//    own network namespace (or, for unix sockets, the file system) reaches it.
//  - node: in the host network namespace, bound to the wildcard or any other address:
//    hostNetwork pods and node daemons, reachable on the node's addresses.
//  - pod: in any other namespace (a pod's), bound to the wildcard or a non-loopback address:
//    reachable on the pod network. A hostPort in the spec also maps it onto the node; that is
//    reported beside the exposure (PortDeclaration::host_port), not folded into it.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::k8s {

enum class Exposure : std::uint8_t { Loopback, Pod, Node };

inline constexpr std::size_t kExposureCount = 3;

inline constexpr std::array<Exposure, kExposureCount> kAllExposures = {
    Exposure::Loopback, Exposure::Pod, Exposure::Node};

/// "loopback", "pod" or "node" (the API's names).
std::string_view exposureName(Exposure e);

/// Inverse of exposureName() (exact, lower case); nullopt for anything else.
std::optional<Exposure> exposureFromName(std::string_view name);

/// An exposure and why, in a short phrase ("pod network namespace, bound to 0.0.0.0 (all
/// addresses)").
struct ExposureVerdict {
  Exposure exposure = Exposure::Loopback;
  std::string reason;
};

/// Classifies a socket by its local address and its namespace (rules at the top of this file).
/// `host_netns`: the socket lives in the host's network namespace. `netns_pod`: the pod that owns
/// the socket's namespace (nullptr for the host's and for namespaces of no known pod); its IPs
/// name the address in the reason. Meant for listening sockets, but any socket gets an answer.
ExposureVerdict classifyExposure(const scanner::Socket& socket,
                                 bool host_netns,
                                 const Pod* netns_pod);

/// The containerPort protocol of a transport: "TCP" (tcp, tcp6), "UDP" (udp, udp6); nullopt for
/// the transports a pod spec cannot declare (udplite, raw, unix).
std::optional<std::string_view> specProtocol(scanner::Transport t);

/// Whether a pod's spec declares a socket's local port.
struct PortDeclaration {
  /// true: a containerPort of the pod (any container: they share the network namespace) has the
  /// socket's local port and protocol. false: none has (always false for udplite and raw, which a
  /// spec cannot declare). nullopt: unknown — no pod, no kubelet data for the pod, or a unix
  /// socket (ports do not apply).
  std::optional<bool> declared;
  /// The hostPort the spec maps to that port (first matching entry that has one); 0: none.
  std::uint16_t host_port = 0;
  /// The declaring container's name ("" when not declared).
  std::string container;
};

/// Matches the socket's local port and protocol against `pod`'s containerPorts (see
/// PortDeclaration). `pod` may be null (a socket of no pod). The kubelet is the only source of
/// ports: a pod it does not report (kSourceKubelet unset) gives nullopt.
PortDeclaration findDeclaredPort(const scanner::Socket& socket, const Pod* pod);

}  // namespace podnetstat::k8s
