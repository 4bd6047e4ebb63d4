#pragma once

// The /metrics page, Prometheus text exposition format 0.0.4 (names: DESIGN.md "Metrics"): the
// snapshot's series, the scan counters, source health, the HTTP server's counters and build info.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "podnetstat/agent/model/scan_ages.h"
#include "podnetstat/agent/model/scan_metrics.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/k8s/pod_index.h"

namespace podnetstat::agent {

class SnapshotPages;

/// Escapes a label value: backslash, double quote and newline (the format's only escapes).
std::string escapeLabelValue(std::string_view value);

/// Appends the `# HELP` and `# TYPE` lines of a metric family (`type`: counter, gauge, ...).
void appendMetricHeader(std::string& out,
                        std::string_view name,
                        std::string_view type,
                        std::string_view help);

/// Appends `namespace="...",pod="..."`, the labels of every per-pod series: the pod's namespace
/// and name (its uid when it has none), both empty for a socket of no pod (null).
void appendPodSeriesLabels(std::string& out, const k8s::Pod* pod);

/// podnetstat_sockets{namespace,pod,netns,transport,state} series of `snapshot` (no HELP/TYPE).
std::string socketSeries(const Snapshot& snapshot);

/// What podnetstat_listen_queue_length (`max` false) or podnetstat_listen_queue_max (`max` true)
/// shows: per TCP listener, {namespace,pod,netns,transport,address,port} (no HELP/TYPE). Listeners
/// that share an address and port (SO_REUSEPORT) are summed. The maximum only where netlink read
/// it: procfs has the length alone.
std::string listenQueueSeries(const Snapshot& snapshot, bool max);

/// podnetstat_pod_listener_appearances_total (`appearances` true) or
/// podnetstat_pod_listener_disappearances_total{namespace,pod} series (no HELP/TYPE): one per pod
/// of `snapshot` from `churn` (index for index with its pods; none when empty). A pod that is gone
/// has no series.
std::string podListenerChurnSeries(const Snapshot& snapshot,
                                   const std::vector<PodListenerChurn>& churn,
                                   bool appearances);

/// The HTTP server's counters shown on the page.
struct ServerCounters {
  std::uint64_t requests = 0;
  std::size_t open = 0;
  std::uint64_t rejected = 0;
  std::uint64_t evicted = 0;
};

/// The counters of the watches (api/watch_stream.h), for /metrics.
struct WatchTotals {
  std::uint64_t open = 0;
  std::uint64_t started = 0;
  std::uint64_t events = 0;
  std::uint64_t dropped = 0;
};

/// podnetstat_watchers, podnetstat_watches_total, podnetstat_watch_events_total and
/// podnetstat_watchers_dropped_total, HELP and TYPE included.
void appendWatchSeries(std::string& out, const WatchTotals& watch);

/// The whole page: the series of `pages` (may be null), the scan counters, source health, the
/// HTTP counters (when `server` is given) and build info.
std::string metricsPage(const SnapshotPages* pages,
                        const ScanMetrics& scans,
                        const ServerCounters* server);

}  // namespace podnetstat::agent
