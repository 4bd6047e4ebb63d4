#include "podnetstat/agent/render/metrics.h"

#include <charconv>
#include <cmath>
#include <map>
#include <tuple>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/snapshot_pages.h"

namespace podnetstat::agent {
namespace {

// Data sources: procfs (the scan), and the pod sources cri, kubelet and cgroup.
constexpr std::array<const char*, 4> kSources = {"procfs", "cri", "kubelet", "cgroup"};

void appendNumber(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

void appendNumber(std::string& out, std::uint64_t value) {
  appendJsonUint(out, value);
}

/// The families of the snapshot: sockets (and the network counters), listeners, undeclared.
void appendSnapshotFamilies(std::string& out, const SnapshotPages* pages) {
  appendMetricHeader(
      out, "podnetstat_sockets", "gauge",
      "Sockets in the last snapshot by pod, network namespace, transport and state.");
  if (pages != nullptr) {
    out += pages->socketSeries();
    out += pages->netCounterSeries();
  }
  appendMetricHeader(
      out, "podnetstat_listeners", "gauge",
      "Listening sockets in the last snapshot by pod and exposure (loopback, pod, node).");
  if (pages != nullptr) {
    out += pages->listenerSeries();
  }
  appendMetricHeader(
      out, "podnetstat_undeclared_listeners", "gauge",
      "Listening sockets whose port the pod spec does not declare, per pod the kubelet "
      "reports.");
  if (pages != nullptr) {
    out += pages->undeclaredSeries();
  }
  appendMetricHeader(out, "podnetstat_listen_queue_length", "gauge",
                     "Connections waiting in a TCP listener's accept queue, per listener.");
  if (pages != nullptr) {
    out += pages->listenQueueLengthSeries();
  }
  appendMetricHeader(out, "podnetstat_listen_queue_max", "gauge",
                     "A TCP listener's accept queue maximum (its backlog), per listener; "
                     "netlink backend only.");
  if (pages != nullptr) {
    out += pages->listenQueueMaxSeries();
  }
  appendMetricHeader(out, "podnetstat_pod_listener_appearances_total", "counter",
                     "Listeners that appeared in a pod since the agent's first scan of it.");
  if (pages != nullptr) {
    out += pages->podListenerChurnSeries(true);
  }
  appendMetricHeader(out, "podnetstat_pod_listener_disappearances_total", "counter",
                     "Listeners that disappeared from a pod since the agent's first scan of it.");
  if (pages != nullptr) {
    out += pages->podListenerChurnSeries(false);
  }
}

void appendDurationHistogram(std::string& out, const ScanMetrics::Totals& t) {
  appendMetricHeader(out, "podnetstat_scan_duration_seconds", "histogram",
                     "How long scans took, failed ones included.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < ScanMetrics::kDurationBuckets.size(); ++i) {
    cumulative += t.bucket_counts[i];
    out += "podnetstat_scan_duration_seconds_bucket{le=\"";
    appendNumber(out, ScanMetrics::kDurationBuckets[i]);
    out += "\"} ";
    appendNumber(out, cumulative);
    out += '\n';
  }
  out += "podnetstat_scan_duration_seconds_bucket{le=\"+Inf\"} ";
  appendNumber(out, t.count);
  out += "\npodnetstat_scan_duration_seconds_sum ";
  appendNumber(out, t.sum);
  out += "\npodnetstat_scan_duration_seconds_count ";
  appendNumber(out, t.count);
  out += '\n';
}

void appendScanCounters(std::string& out, const ScanMetrics::Totals& t) {
  appendMetricHeader(out, "podnetstat_scan_errors_total", "counter",
                     "Problems met by scans, by kind (scan_failed: no snapshot could be made).");
  for (const char* kind : ScanMetrics::kErrorKinds) {
    auto it = t.errors.find(kind);
    out += "podnetstat_scan_errors_total{kind=\"";
    out += kind;
    out += "\"} ";
    appendNumber(out, it == t.errors.end() ? std::uint64_t{0} : it->second);
    out += '\n';
  }
  appendMetricHeader(out, "podnetstat_skipped_lines_total", "counter",
                     "Malformed socket table lines skipped, by table file.");
  for (std::size_t i = 0; i < scanner::kTransportCount; ++i) {
    out += "podnetstat_skipped_lines_total{file=\"";
    out += scanner::transportName(scanner::kAllTransports[i]);
    out += "\"} ";
    appendNumber(out, t.skipped_lines[i]);
    out += '\n';
  }
  appendMetricHeader(out, "podnetstat_last_scan_timestamp_seconds", "gauge",
                     "When the last successful scan completed, in Unix time (0: none yet).");
  out += "podnetstat_last_scan_timestamp_seconds ";
  appendNumber(out, t.last_success_seconds);
  out += '\n';
}

/// Whether `source` worked for the current snapshot (procfs: the last scan).
bool sourceUp(std::string_view source, const Snapshot* snapshot, bool last_ok) {
  const k8s::PodMetadata* metadata = snapshot != nullptr ? snapshot->podMetadata() : nullptr;
  if (source == "procfs") {
    return last_ok;
  }
  if (source == "cri") {
    return metadata != nullptr && metadata->cri.enabled && metadata->cri.ok;
  }
  if (source == "kubelet") {
    return metadata != nullptr && metadata->kubelet.enabled && metadata->kubelet.ok;
  }
  if (snapshot == nullptr) {
    return false;
  }
  const auto& stats = snapshot->podIndex().stats();  // cgroup
  return stats.cgroups_read > 0 || stats.cgroups_missing == 0;
}

void appendSourceHealth(std::string& out, const Snapshot* snapshot, bool last_ok) {
  appendMetricHeader(
      out, "podnetstat_source_up", "gauge",
      "Whether a data source worked for the current snapshot (procfs: the last scan).");
  for (const char* source : kSources) {
    out += "podnetstat_source_up{source=\"";
    out += source;
    out += "\"} ";
    out += sourceUp(source, snapshot, last_ok) ? '1' : '0';
    out += '\n';
  }
}

void appendServerCounters(std::string& out, const ServerCounters& http) {
  appendMetricHeader(out, "podnetstat_http_requests_total", "counter", "HTTP requests answered.");
  out += "podnetstat_http_requests_total ";
  appendNumber(out, http.requests);
  appendMetricHeader(out += '\n', "podnetstat_http_connections", "gauge", "HTTP connections open.");
  out += "podnetstat_http_connections ";
  appendNumber(out, static_cast<std::uint64_t>(http.open));
  appendMetricHeader(out += '\n', "podnetstat_http_rejected_connections_total", "counter",
                     "Connections answered 503 because --max-connections were open.");
  out += "podnetstat_http_rejected_connections_total ";
  appendNumber(out, http.rejected);
  appendMetricHeader(
      out += '\n', "podnetstat_http_evicted_connections_total", "counter",
      "Idle connections (keep-alive, or new and silent) closed to make room for new ones.");
  out += "podnetstat_http_evicted_connections_total ";
  appendNumber(out, http.evicted);
  out += '\n';
}

}  // namespace

void appendWatchSeries(std::string& out, const WatchTotals& watch) {
  appendMetricHeader(out, "podnetstat_watchers", "gauge", "Watches (?watch=true) open now.");
  out += "podnetstat_watchers ";
  appendNumber(out, watch.open);
  appendMetricHeader(out += '\n', "podnetstat_watches_total", "counter", "Watches started.");
  out += "podnetstat_watches_total ";
  appendNumber(out, watch.started);
  appendMetricHeader(out += '\n', "podnetstat_watch_events_total", "counter",
                     "Events (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) sent to watches.");
  out += "podnetstat_watch_events_total ";
  appendNumber(out, watch.events);
  appendMetricHeader(out += '\n', "podnetstat_watchers_dropped_total", "counter",
                     "Watches ended because their client fell too many scans behind.");
  out += "podnetstat_watchers_dropped_total ";
  appendNumber(out, watch.dropped);
  out += '\n';
}

void appendMetricHeader(std::string& out,
                        std::string_view name,
                        std::string_view type,
                        std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

std::string escapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void appendPodSeriesLabels(std::string& out, const k8s::Pod* pod) {
  out += R"(namespace=")";
  if (pod != nullptr) {
    out += escapeLabelValue(pod->namespace_name.value_or(""));
    out += R"(",pod=")";
    out += escapeLabelValue(pod->name.value_or(pod->uid));
  } else {
    out += R"(",pod=")";
  }
  out += '"';
}

std::string socketSeries(const Snapshot& snapshot) {
  const auto& scan = snapshot.scan();
  std::map<std::tuple<std::uint32_t, std::uint32_t, scanner::Transport, std::string>, std::uint64_t>
      counts;
  for (std::uint32_t i = 0; i < scan.sockets.size(); ++i) {
    const auto& s = scan.sockets[i];
    ++counts[{s.netns_index, snapshot.socketPod(i), s.transport, scanner::socketStateName(s)}];
  }
  std::string out;
  for (const auto& [key, count] : counts) {
    const auto& [ns, pod, transport, state] = key;
    out += "podnetstat_sockets{";
    appendPodSeriesLabels(out, snapshot.pod(pod));
    out += R"(,netns=")";
    out += escapeLabelValue(netnsLabel(scan.namespaces[ns]));
    out += R"(",transport=")";
    out += scanner::transportName(transport);
    out += R"(",state=")";
    out += escapeLabelValue(state);
    out += "\"} ";
    appendJsonUint(out, count);
    out += '\n';
  }
  return out;
}

std::string podListenerChurnSeries(const Snapshot& snapshot,
                                   const std::vector<PodListenerChurn>& churn,
                                   bool appearances) {
  // Summed by labels: two pods may share a namespace and name (one going, one coming).
  std::map<std::string, std::uint64_t> series;
  const auto pods = snapshot.podIndex().pods();
  for (std::size_t p = 0; p < pods.size() && p < churn.size(); ++p) {
    std::string labels;
    appendPodSeriesLabels(labels, &pods[p]);
    series[labels] += appearances ? churn[p].appearances : churn[p].disappearances;
  }
  std::string out;
  for (const auto& [labels, value] : series) {
    out += appearances ? "podnetstat_pod_listener_appearances_total{"
                       : "podnetstat_pod_listener_disappearances_total{";
    out += labels;
    out += "} ";
    appendNumber(out, value);
    out += '\n';
  }
  return out;
}

std::string listenQueueSeries(const Snapshot& snapshot, bool max) {
  const auto& scan = snapshot.scan();
  std::map<std::string, std::uint64_t> series;  // labels -> value
  for (std::uint32_t i = 0; i < scan.sockets.size(); ++i) {
    const auto& s = scan.sockets[i];
    if (!scanner::isTcp(s.transport) ||
        s.state != static_cast<std::uint8_t>(scanner::TcpState::Listen) ||
        (max && !s.accept_queue_max)) {
      continue;
    }
    std::string labels;
    appendPodSeriesLabels(labels, snapshot.pod(snapshot.socketPod(i)));
    labels += R"(,netns=")";
    labels += escapeLabelValue(netnsLabel(scan.namespaces[s.netns_index]));
    labels += R"(",transport=")";
    labels += scanner::transportName(s.transport);
    labels += R"(",address=")";
    labels += s.local.ip.toString();
    labels += R"(",port=")";
    labels += std::to_string(s.local.port);
    labels += '"';
    series[labels] += max ? *s.accept_queue_max : s.rx_queue;
  }
  const std::string_view name =
      max ? "podnetstat_listen_queue_max" : "podnetstat_listen_queue_length";
  std::string out;
  for (const auto& [labels, value] : series) {
    out += name;
    out += '{';
    out += labels;
    out += "} ";
    appendJsonUint(out, value);
    out += '\n';
  }
  return out;
}

std::string metricsPage(const SnapshotPages* pages,
                        const ScanMetrics& scans,
                        const ServerCounters* server) {
  std::string out;
  out.reserve(4096 + (pages != nullptr
                          ? pages->socketSeries().size() + pages->netCounterSeries().size()
                          : 0));
  appendSnapshotFamilies(out, pages);
  const ScanMetrics::Totals totals = scans.totals();
  appendDurationHistogram(out, totals);
  appendScanCounters(out, totals);
  appendSourceHealth(out, pages != nullptr ? &pages->snapshot() : nullptr, totals.last_ok);
  if (server != nullptr) {
    appendServerCounters(out, *server);
  }
  appendMetricHeader(out, "podnetstat_build_info", "gauge", "Build information; always 1.");
  out += "podnetstat_build_info{version=\"";
  out += escapeLabelValue(PODNETSTAT_VERSION);
  out += "\"} 1\n";
  return out;
}

}  // namespace podnetstat::agent
