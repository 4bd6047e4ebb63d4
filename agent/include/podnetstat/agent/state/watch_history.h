#pragma once

// What changed between consecutive scans, computed once per scan (not per watcher) and kept for
// a bounded number of scans so that a watch can resume from a resourceVersion.
//
// A socket's identity is its network namespace (inode), its transport and its socket inode; a
// socket without an inode (TIME_WAIT and SYN_RECV rows) is identified by its namespace,
// transport and both endpoints. Between two scans, an identity that appears is ADDED, one that
// disappears is DELETED, and one whose meaningful fields changed is MODIFIED: its state, its
// owners (PIDs), its pod and container, and, for a listener, its exposure and whether its pod
// declares it. Queues, timers, uid, timeout and refcount do not count.
//
// Each diff carries the objects of its events, rendered as the lists render them (from the
// pages of the scan they belong to: the new version for ADDED and MODIFIED, the last one seen
// for DELETED), with a small scan of its own (those sockets, their namespaces and owners) so
// that the list filters apply to events unchanged.
//
// Pods are diffed in the same pass, for the pod watches: a pod's identity is its UID (every pod
// the agent lists has one: cgroups name pods by UID). A pod is MODIFIED when what it is changes:
// its namespace, name, hostNetwork, IPs, network namespace, containers (IDs, names, PIDs) or
// lateListeners. Its socket and listener counts do not count (they move with every connection);
// an event carries them as they are in the pages of its version.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "podnetstat/agent/model/listener_table.h"
#include "podnetstat/agent/render/snapshot_pages.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

enum class WatchEventType : std::uint8_t { Added, Modified, Deleted };

/// "ADDED", "MODIFIED", "DELETED".
const char* watchEventName(WatchEventType type);

/// The identity of a socket across scans (see the top of this file).
struct SocketKey {
  std::uint64_t netns_inode = 0;
  std::uint64_t inode = 0;
  scanner::Endpoint local;  // unset when inode != 0
  scanner::Endpoint remote;
  scanner::Transport transport = scanner::Transport::Tcp;

  bool operator==(const SocketKey&) const = default;
};

struct SocketKeyHash {
  std::size_t operator()(const SocketKey& k) const noexcept;
};

/// The identity of scan.sockets[i].
SocketKey socketKeyOf(const scanner::ScanResult& scan, std::uint32_t i);

/// One version of one socket, as an event carries it.
struct WatchObject {
  std::string json;  // the socket object of /api/v1/sockets, without its closing brace
  bool has_pod = false;
  std::string pod_uid;
  std::string pod_namespace;
  std::string pod_name;
  /// Its pod's container ("" and nullopt for none): the listener table of a watch names it.
  std::string container_id;
  std::optional<std::string> container_name;
  /// For a listening socket: its posture (socket = index into the diff's scan) and the fields
  /// /api/v1/listeners adds to the object (closing brace included).
  std::optional<Listener> listener;
  std::string listener_tail;
};

struct WatchEvent {
  WatchEventType type = WatchEventType::Added;
  std::int32_t old_object = -1;  // MODIFIED and DELETED: the version before
  std::int32_t new_object = -1;  // ADDED and MODIFIED: the version after
};

/// One version of one pod, as a pod watch's events carry it.
struct PodWatchObject {
  std::string json;  // the pod object of /api/v1/pods
  std::optional<std::string> namespace_name;
};

/// The changes from generation - 1 to generation. objects[i] is the socket scan.sockets[i];
/// pod_events index pod_objects.
struct ScanDiff {
  std::uint64_t generation = 0;
  scanner::ScanResult scan;
  std::vector<WatchObject> objects;
  std::vector<WatchEvent> events;
  std::vector<PodWatchObject> pod_objects;
  std::vector<WatchEvent> pod_events;
};

/// The diffs of the last scans, and who waits for the next one. Thread-safe.
class WatchHistory {
 public:
  /// Keeps at most `max_scans` diffs and, beyond one diff, at most `max_events` events in all,
  /// socket and pod events together (the oldest diffs are dropped first).
  explicit WatchHistory(std::size_t max_scans = 120, std::size_t max_events = 20000);

  /// Diffs `pages` against the pages recorded before (the first pages have no diff: everything
  /// is "since the beginning"), keeps the diff and wakes every subscriber. Call before the pages
  /// are published: a reader that sees generation N in the store finds every diff up to N here.
  /// Returns the diff (null for the first pages).
  std::shared_ptr<const ScanDiff> record(const std::shared_ptr<const SnapshotPages>& pages);

  /// The diffs after `generation`, oldest first; nullopt when some of them are no longer kept
  /// (the watch must start over: 410 Expired).
  std::optional<std::vector<std::shared_ptr<const ScanDiff>>> since(std::uint64_t generation) const;

  /// The generation of the last recorded pages (0: none yet).
  std::uint64_t generation() const;

  /// Calls `wake` (from the recording thread, after each diff is kept) until unsubscribed.
  std::uint64_t subscribe(std::function<void()> wake);
  void unsubscribe(std::uint64_t id);

  std::size_t maxScans() const { return max_scans_; }

  std::size_t maxEvents() const { return max_events_; }

 private:
  struct Seen {
    std::uint32_t index = 0;
    std::uint64_t fingerprint = 0;
  };

  using SeenMap = std::unordered_map<SocketKey, Seen, SocketKeyHash>;
  using PodSeenMap = std::unordered_map<std::string, Seen>;  // by UID

  std::shared_ptr<ScanDiff> diff(const SnapshotPages& pages,
                                 const std::vector<SocketKey>& keys,
                                 const SeenMap& seen) const;
  /// The pod events of `pages` against the previous pages, from pods_seen_ (this scan's).
  void diffPods(const SnapshotPages& pages, ScanDiff& out) const;

  std::size_t max_scans_;
  std::size_t max_events_;
  // Only the recording thread touches these.
  std::shared_ptr<const SnapshotPages> previous_;
  SeenMap previous_seen_;
  std::vector<SocketKey> previous_keys_;
  PodSeenMap previous_pods_;
  PodSeenMap pods_seen_;

  mutable std::mutex mu_;
  std::deque<std::shared_ptr<const ScanDiff>> diffs_;
  std::size_t events_ = 0;
  std::uint64_t generation_ = 0;
  std::uint64_t first_generation_ = 0;  // the oldest generation a watch may resume from
  std::uint64_t next_subscriber_ = 1;
  std::unordered_map<std::uint64_t, std::function<void()>> subscribers_;
};

}  // namespace podnetstat::agent
