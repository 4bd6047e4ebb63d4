#pragma once

// The background scans of the agent: scan, attribute pods, read the network counters, build the
// snapshot model, render its pages, publish them; again every interval.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "podnetstat/agent/model/net_counters.h"
#include "podnetstat/agent/model/pod_attribution.h"
#include "podnetstat/agent/model/scan_metrics.h"
#include "podnetstat/agent/state/object_ages.h"
#include "podnetstat/agent/state/snapshot_store.h"
#include "podnetstat/agent/state/watch_history.h"
#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

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
/// interval). One scan at a time. Each success becomes the store's current snapshot (its
/// resourceVersion one more than the previous one's; its diff recorded in `history` first, when
/// given); a failure keeps the previous one and is counted.
class SnapshotRefresher {
 public:
  SnapshotRefresher(ScanFunction scan,
                    std::chrono::milliseconds interval,
                    std::string node,
                    SnapshotStore& store,
                    ScanMetrics& metrics,
                    PodFunction pods = {},
                    NetCounterFunction net_counters = {},
                    WatchHistory* history = nullptr);
  /// Waits for a scan in progress.
  ~SnapshotRefresher();
  SnapshotRefresher(const SnapshotRefresher&) = delete;
  SnapshotRefresher& operator=(const SnapshotRefresher&) = delete;

  void start();

  /// Asks the thread to stop and waits up to `timeout` for it (a scan in progress is not
  /// interrupted). True when it has stopped; false when a scan is still running.
  bool stop(std::chrono::milliseconds timeout);

 private:
  using Clock = std::chrono::steady_clock;

  void run();
  /// One scan and, when it succeeds, its snapshot published.
  void refresh();
  /// The snapshot of a successful scan (`seconds` long), published; throws on allocation failure.
  void publish(scanner::ScanResult scan, double seconds, Clock::time_point scanned);

  ScanFunction scan_;
  PodFunction pods_;
  NetCounterFunction net_counters_;
  std::chrono::milliseconds interval_;
  std::string node_;
  SnapshotStore& store_;
  ScanMetrics& metrics_;
  WatchHistory* history_;
  std::uint64_t generation_ = 0;
  ObjectAges ages_;  // only the refresher's thread
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace podnetstat::agent
