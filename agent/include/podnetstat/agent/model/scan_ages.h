#pragma once

// What the agent remembers of earlier scans, as one scan's snapshot needs it rendered: when each
// socket was first seen, how many of each pod's listeners came after the pod's first scan, and
// each pod's count of listeners that came and went. Computed by state/object_ages.h once per
// scan; plain data here so that the pages (render/) can show it.

#include <cstdint>
#include <vector>

namespace podnetstat::agent {

/// A pod's listeners that appeared and disappeared since the agent first saw the pod.
struct PodListenerChurn {
  std::uint64_t appearances = 0;
  std::uint64_t disappearances = 0;
};

struct ScanAges {
  /// Per socket of the scan (index for index): Unix ms of the first scan that had its identity;
  /// empty: every socket is as old as this scan.
  std::vector<std::int64_t> socket_first_seen_ms;
  /// Per pod of the pod index (index for index): its current listeners that were not there at
  /// its first scan; empty: none.
  std::vector<std::uint32_t> pod_late_listeners;
  /// Per pod of the pod index (index for index); empty: none.
  std::vector<PodListenerChurn> pod_listener_churn;
};

}  // namespace podnetstat::agent
