#pragma once

// The ages of what the scans see, carried from scan to scan (model/scan_ages.h for what one scan
// gets):
//   - a socket's firstSeen: the start of the first scan that had its identity (the identity of
//     state/watch_history.h); forgotten as soon as a scan no longer has it, so a socket that
//     comes back later is new again;
//   - a pod's first scan (by UID), forgotten when a scan no longer lists the pod; a listener of
//     the pod is late when its socket was first seen after that scan (lateListeners);
//   - per pod, the listeners that appeared (a listener of the pod that was not one in the scan
//     before) and disappeared (the reverse) since the pod's first scan, counted from its second:
//     the listeners of its first scan are where the counting starts, not appearances.
// Cost: one hash lookup per socket per scan.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "podnetstat/agent/model/scan_ages.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/state/watch_history.h"

namespace podnetstat::agent {

/// Only the refresher's thread calls it.
class ObjectAges {
 public:
  /// The ages of `snapshot`'s sockets and pods, the scan after the ones seen so far.
  ScanAges observe(const Snapshot& snapshot);

 private:
  struct SocketAge {
    std::int64_t first_seen_ms = 0;
    std::uint64_t first_scan = 0;
  };

  struct PodAge {
    std::uint64_t first_scan = 0;
    PodListenerChurn churn;
  };

  using SocketAges = std::unordered_map<SocketKey, SocketAge, SocketKeyHash>;
  using ListenerOwners = std::unordered_map<SocketKey, std::string, SocketKeyHash>;

  std::uint64_t scans_ = 0;
  SocketAges sockets_;
  std::unordered_map<std::string, PodAge> pods_;
  ListenerOwners listeners_;  // the previous scan's listeners of pods, with their pod's UID
};

}  // namespace podnetstat::agent
