#pragma once

// JSON of the API objects, written straight into a string (no document tree), so that large
// answers can be produced piece by piece. Shapes: DESIGN.md "REST API".

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "podnetstat/k8s/exposure.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// Appends `text` as a JSON string literal (quotes included), escaping as RFC 8259 requires.
/// Invalid UTF-8 bytes are replaced by U+FFFD so the output is always valid JSON.
void appendJsonString(std::string& out, std::string_view text);

/// Appends the socket object of DESIGN.md for `s`, with every owner, its namespace and its pod
/// (`pod`: null when nullopt).
void appendSocketJson(std::string& out,
                      const scanner::Socket& s,
                      const scanner::ScanResult& scan,
                      const std::optional<k8s::SocketPod>& pod = std::nullopt);

/// Appends the `pod` field's value of a socket or netns: `{"namespace","name","uid","container"}`
/// (names null when only the cgroup is known; container null when none), or null.
void appendPodRefJson(std::string& out, const std::optional<k8s::SocketPod>& pod);

/// Appends the netns reference `{"inode","name","names"}` of a namespace.
void appendNetnsRefJson(std::string& out, const scanner::NetNamespace& ns);

/// Listening sockets of one pod (listeners.h), for its summary.
struct PodListenerCounts {
  std::array<std::uint64_t, k8s::kExposureCount> by_exposure{};  // indexed by k8s::Exposure
  std::uint64_t undeclared = 0;                                  // declared == false
};

/// Socket counts of one pod, for its summary.
struct PodSocketCounts {
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> by_state;
  PodListenerCounts listeners;
};

/// Appends the pod object of DESIGN.md ("Other objects"): `netns` is the pod's own namespace
/// (null for hostNetwork pods and pods whose namespace was not found).
void appendPodJson(std::string& out,
                   const k8s::Pod& pod,
                   const scanner::NetNamespace* netns,
                   const PodSocketCounts& sockets);

}  // namespace podnetstat::agent
