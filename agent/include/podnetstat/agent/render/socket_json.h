#pragma once

// JSON of the API objects, written straight into a string (no document tree), so that large
// answers can be produced piece by piece. Shapes: DESIGN.md "REST API".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/model/pod_counts.h"
#include "podnetstat/k8s/exposure.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// Appends the socket object of DESIGN.md for `s`, with every owner, its namespace and its pod
/// (`pod`: null when nullopt); a TCP listener's `acceptQueue`. With `tcp_info`, also `tcpInfo`:
/// what sock_diag told of a TCP socket, or null (procfs, another transport, a socket the kernel
/// sends no tcp_info for). With `first_seen` (not empty), also `firstSeen`: when the agent first
/// saw the socket, RFC 3339 UTC with milliseconds like `scannedAt` (formatRfc3339Ms).
void appendSocketJson(std::string& out,
                      const scanner::Socket& s,
                      const scanner::ScanResult& scan,
                      const std::optional<k8s::SocketPod>& pod = std::nullopt,
                      bool tcp_info = false,
                      std::string_view first_seen = {});

/// Appends the `pod` field's value of a socket or netns: `{"namespace","name","uid","container"}`
/// (names null when only the cgroup is known; container null when none), or null.
void appendPodRefJson(std::string& out, const std::optional<k8s::SocketPod>& pod);

/// Appends the netns reference `{"inode","name","names"}` of a namespace.
void appendNetnsRefJson(std::string& out, const scanner::NetNamespace& ns);

/// Appends the netns object of DESIGN.md ("Other objects"): `sockets` is how many the snapshot
/// has in it, `pod` the pod that owns it (null: none).
void appendNetnsJson(std::string& out,
                     const scanner::NetNamespace& ns,
                     std::uint32_t sockets,
                     const k8s::Pod* pod);

/// Appends the pod object of DESIGN.md ("Other objects"): `netns` is the pod's own namespace
/// (null for hostNetwork pods and pods whose namespace was not found); `late_listeners` its
/// listeners that appeared after the agent's first scan of it (model/scan_ages.h).
void appendPodJson(std::string& out,
                   const k8s::Pod& pod,
                   const scanner::NetNamespace* netns,
                   const PodSocketCounts& sockets,
                   std::uint32_t late_listeners = 0);

}  // namespace podnetstat::agent
