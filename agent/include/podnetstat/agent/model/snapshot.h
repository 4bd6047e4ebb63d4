#pragma once

// The agent's view of the node: an immutable snapshot of the last successful scan, with the
// indexes and pre-rendered JSON that make queries cheap, swapped atomically by a background
// refresher. Requests never scan: they read whatever snapshot is current.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "podnetstat/agent/api/listeners.h"
#include "podnetstat/agent/render/net_metrics.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

class ScanMetrics;

/// The pods of one scan: its pod index and the metadata it was built from (null: no pod sources).
struct PodAttribution {
  k8s::PodIndex index;
  std::shared_ptr<const k8s::PodMetadata> metadata;
};

/// One scan, ready to be queried. Immutable once built, except for the lazily rendered table
/// rows (built once, thread-safe).
class Snapshot {
 public:
  /// Indexes the scan and renders every socket's JSON object (with its pod from `pods`, built
  /// from this same scan). `completed_unix_ms` is when the scan finished. `net_counters` (index
  /// for index with the scan's namespaces, or empty) become the per-namespace network counter
  /// series of netCounterMetrics().
  Snapshot(scanner::ScanResult scan,
           std::string node,
           std::int64_t completed_unix_ms,
           PodAttribution pods = {},
           std::vector<NetnsCounters> net_counters = {});

  const scanner::ScanResult& scan() const { return scan_; }

  /// No pod (socketPod()).
  static constexpr std::uint32_t kNoPod = UINT32_MAX;

  /// The pod index of this scan; its pods() are what podIndex numbers refer to.
  const k8s::PodIndex& podIndex() const { return pods_.index; }

  /// The metadata the pod index was built from; null when the agent has no pod sources.
  const k8s::PodMetadata* podMetadata() const { return pods_.metadata.get(); }

  /// The pod (an index into podIndex().pods()) of scan().sockets[i], or kNoPod.
  std::uint32_t socketPod(std::uint32_t i) const { return socket_pods_[i]; }

  /// The pod object (DESIGN.md) of podIndex().pods()[pod].
  const std::string& podJson(std::uint32_t pod) const { return pod_json_[pod]; }

  /// The index of a pod pointer of podIndex().
  std::uint32_t podNumber(const k8s::Pod* pod) const {
    return static_cast<std::uint32_t>(pod - pods_.index.pods().data());
  }

  /// The label of a pod in tables: "namespace/name", its uid when unnamed, "-" for kNoPod.
  std::string podLabel(std::uint32_t pod) const;

  const std::string& node() const { return node_; }

  /// RFC 3339 time the scan began.
  const std::string& scannedAt() const { return scanned_at_; }

  std::int64_t completedUnixMs() const { return completed_unix_ms_; }

  /// The sockets of namespace `netns_index` are scan().sockets[first, second).
  std::pair<std::uint32_t, std::uint32_t> netnsRange(std::uint32_t netns_index) const {
    return netns_ranges_[netns_index];
  }

  /// The index of the namespace with this name or inode (decimal), -1 when none. A name wins
  /// over an inode spelled the same way.
  std::int64_t findNetns(std::string_view name_or_inode) const;

  /// The label of a namespace in tables and metrics: its first name, else its inode.
  const std::string& netnsLabel(std::uint32_t netns_index) const {
    return netns_labels_[netns_index];
  }

  /// `{"node":...,"scannedAt":...,"scanDurationMs":...,"items":[` — the head of every list.
  const std::string& listHead() const { return list_head_; }

  /// The JSON objects of sockets [first, last), comma separated.
  std::string_view socketsJson(std::uint32_t first, std::uint32_t last) const;

  /// socketsJson(first, last).size() + 1, without building the view.
  std::size_t socketsJsonBytes(std::uint32_t first, std::uint32_t last) const {
    return socket_json_starts_[last] - socket_json_starts_[first];
  }

  /// The title of the column that names the namespace in tables.
  static constexpr const char* kNetnsColumn = "Netns";

  /// The title of the column that names the pod in tables.
  static constexpr const char* kPodColumn = "Pod";

  /// The netstat rows (`list -anpe`, newline included) of sockets [first, last), concatenated,
  /// each opened by the namespace and pod columns. Rendered on first use.
  std::string_view tableRows(std::uint32_t first, std::uint32_t last) const;

  /// tableRows(first, last).size().
  std::size_t tableRowsBytes(std::uint32_t first, std::uint32_t last) const;

  /// netstat's title and column lines of the inet (true) or unix (false) block, with the
  /// namespace and pod columns.
  const std::string& tableHeader(bool inet) const;

  /// The whole body of /api/v1/netns.
  const std::string& netnsListJson() const { return netns_json_; }

  /// Socket counts by namespace, transport and state, as podnetstat_sockets series.
  const std::string& socketMetrics() const { return socket_metrics_; }

  /// The listening sockets with their posture (exposure, declared, ...).
  const ListenerTable& listeners() const { return listeners_; }
  /// Interface, TCP and UDP counters by namespace (net_metrics.h), labelled like the sockets;
  /// empty when the snapshot was built without them.
  const std::string& netCounterMetrics() const { return net_metrics_; }

 private:
  void renderTable() const;

  scanner::ScanResult scan_;
  PodAttribution pods_;
  std::vector<std::uint32_t> socket_pods_;
  std::vector<std::string> pod_json_;
  std::string node_;
  std::int64_t completed_unix_ms_ = 0;
  std::string scanned_at_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> netns_ranges_;
  std::unordered_map<std::string, std::uint32_t> netns_by_name_;
  std::unordered_map<std::uint64_t, std::uint32_t> netns_by_inode_;
  std::vector<std::string> netns_labels_;
  std::string list_head_;
  std::string socket_json_;                      // objects separated by ','
  std::vector<std::size_t> socket_json_starts_;  // n + 1 entries; the last is size() + 1
  std::string netns_json_;
  std::string socket_metrics_;
  ListenerTable listeners_;
  std::string net_metrics_;

  mutable std::once_flag table_once_;
  mutable std::string table_;
  mutable std::string table_inet_header_;
  mutable std::string table_unix_header_;
  mutable std::vector<std::size_t> table_starts_;  // n + 1 entries
};

/// Holds the current snapshot. Readers get a shared_ptr that stays valid however many snapshots
/// are published after it.
class SnapshotStore {
 public:
  std::shared_ptr<const Snapshot> current() const {
    std::lock_guard lock(mu_);
    return current_;
  }

  void publish(std::shared_ptr<const Snapshot> snapshot) {
    std::lock_guard lock(mu_);
    current_.swap(snapshot);
    // The old snapshot is released outside the lock (when `snapshot` goes out of scope), unless a
    // request still holds it.
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
};

/// Produces a scan; the real one wraps scanner::Scanner, tests inject slow or failing ones.
using ScanFunction = std::function<Result<scanner::ScanResult>()>;

/// Attributes a scan's sockets to pods (the agent's: the metadata cache's current view and a
/// PodIndex); empty: no pods.
using PodFunction = std::function<PodAttribution(const scanner::ScanResult&)>;

/// Reads the network counters of a scan's namespaces for /metrics (readNetCounters); empty:
/// none.
using NetCounterFunction = std::function<std::vector<NetnsCounters>(const scanner::ScanResult&)>;

/// Runs `scan` in a background thread: at once, then every `interval` (measured from the start of
/// the previous scan; after a scan longer than the interval, the next one waits half an
/// interval). One scan at a time. Each success becomes the store's current snapshot; a failure
/// keeps the previous one and is counted.
class SnapshotRefresher {
 public:
  SnapshotRefresher(ScanFunction scan,
                    std::chrono::milliseconds interval,
                    std::string node,
                    SnapshotStore& store,
                    ScanMetrics& metrics,
                    PodFunction pods = {},
                    NetCounterFunction net_counters = {});
  /// Waits for a scan in progress.
  ~SnapshotRefresher();
  SnapshotRefresher(const SnapshotRefresher&) = delete;
  SnapshotRefresher& operator=(const SnapshotRefresher&) = delete;

  void start();

  /// Asks the thread to stop and waits up to `timeout` for it (a scan in progress is not
  /// interrupted). True when it has stopped; false when a scan is still running.
  bool stop(std::chrono::milliseconds timeout);

 private:
  void run();

  ScanFunction scan_;
  PodFunction pods_;
  NetCounterFunction net_counters_;
  std::chrono::milliseconds interval_;
  std::string node_;
  SnapshotStore& store_;
  ScanMetrics& metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace podnetstat::agent
