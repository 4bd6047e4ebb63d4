#pragma once

// The posture of a scan: every listening socket (the API's `listening=true`: TCP LISTEN,
// unconnected UDP/UDP-Lite/raw, unix with ACC) with its exposure (loopback, pod, node;
// k8s/exposure.h), whether its pod's spec declares it, the hostPort mapped to it, and whether a
// process holding it runs as uid 0; with the counts per pod and per (pod, exposure). Built once
// per snapshot; rendered as /api/v1/listeners, summed per pod in /api/v1/pods and exported as
// podnetstat_listeners and podnetstat_undeclared_listeners (render/listener_text.h).

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "podnetstat/agent/model/pod_attribution.h"
#include "podnetstat/agent/model/pod_counts.h"
#include "podnetstat/k8s/exposure.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// One listening socket with its posture.
struct Listener {
  std::uint32_t socket = 0;  // index into the scan's sockets
  k8s::Exposure exposure = k8s::Exposure::Loopback;
  std::string reason;
  std::optional<bool> declared;
  std::uint16_t host_port = 0;  // 0: none
  std::optional<bool> uid0;     // nullopt: no owning process known
};

/// The listeners of one scan, in its socket order.
class ListenerTable {
 public:
  /// (pod number or kNoPod, exposure) -> listeners.
  using Series = std::map<std::pair<std::uint32_t, k8s::Exposure>, std::uint64_t>;

  ListenerTable() = default;

  /// Classifies the listening sockets of `scan`, whose pods are `index` and `pods`.
  static ListenerTable build(const scanner::ScanResult& scan,
                             const k8s::PodIndex& index,
                             const SocketPods& pods);

  const std::vector<Listener>& listeners() const { return listeners_; }

  /// Counts of the pod numbered `pod` in the pod index.
  const PodListenerCounts& podCounts(std::uint32_t pod) const { return pod_counts_[pod]; }

  /// Listeners by pod and exposure, for podnetstat_listeners.
  const Series& series() const { return series_; }

 private:
  std::vector<Listener> listeners_;
  std::vector<PodListenerCounts> pod_counts_;
  Series series_;
};

}  // namespace podnetstat::agent
