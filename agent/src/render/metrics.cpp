#include "podnetstat/agent/render/metrics.h"

#include <charconv>
#include <chrono>
#include <cmath>

#include "podnetstat/agent/model/snapshot.h"

namespace podnetstat::agent {

namespace {

// Scan error kinds, always exported (a counter that appears only after its first increment
// breaks rate()).
constexpr std::array<const char*, 5> kErrorKinds = {
    "scan_failed", "unreadable_process", "unreadable_namespace", "stale_netns_entry", "table"};

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
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out.append(buf, end);
}

}  // namespace

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

void ScanMetrics::observeLocked(double seconds) {
  for (std::size_t i = 0; i < kDurationBuckets.size(); ++i) {
    if (seconds <= kDurationBuckets[i]) {
      ++bucket_counts_[i];
      break;
    }
  }
  ++count_;
  sum_ += seconds;
}

void ScanMetrics::recordScan(const scanner::ScanResult& scan,
                             double seconds,
                             std::int64_t completed_unix_ms) {
  std::lock_guard lock(mu_);
  observeLocked(seconds);
  const auto& st = scan.stats;
  errors_["unreadable_process"] += st.unreadable_processes;
  errors_["unreadable_namespace"] += st.unreadable_namespaces;
  errors_["stale_netns_entry"] += st.stale_netns_entries;
  errors_["table"] += st.table_errors;
  for (std::size_t i = 0; i < scanner::kTransportCount; ++i) {
    skipped_lines_[i] += st.skipped_lines_by_transport[i];
  }
  last_success_seconds_ = static_cast<double>(completed_unix_ms) / 1000.0;
  last_ok_ = true;
  last_failure_.reset();
}

void ScanMetrics::recordFailure(double seconds, std::string message) {
  std::lock_guard lock(mu_);
  observeLocked(seconds);
  ++errors_["scan_failed"];
  last_ok_ = false;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  last_failure_ = LastFailure{std::chrono::duration_cast<std::chrono::milliseconds>(now).count(),
                              std::move(message)};
}

std::optional<ScanMetrics::LastFailure> ScanMetrics::lastFailure() const {
  std::lock_guard lock(mu_);
  return last_failure_;
}

std::uint64_t ScanMetrics::scans() const {
  std::lock_guard lock(mu_);
  return count_;
}

std::string ScanMetrics::render(const Snapshot* snapshot, const HttpServerStats* http) const {
  std::string out;
  out.reserve(4096 + (snapshot != nullptr
                          ? snapshot->socketMetrics().size() + snapshot->netCounterMetrics().size()
                          : 0));

  appendMetricHeader(
      out, "podnetstat_sockets", "gauge",
      "Sockets in the last snapshot by pod, network namespace, transport and state.");
  if (snapshot != nullptr) {
    out += snapshot->socketMetrics();
    out += snapshot->netCounterMetrics();
  }
  appendMetricHeader(
      out, "podnetstat_listeners", "gauge",
      "Listening sockets in the last snapshot by pod and exposure (loopback, pod, node).");
  if (snapshot != nullptr) {
    out += snapshot->listeners().listenerMetrics();
  }
  appendMetricHeader(
      out, "podnetstat_undeclared_listeners", "gauge",
      "Listening sockets whose port the pod spec does not declare, per pod the kubelet "
      "reports.");
  if (snapshot != nullptr) {
    out += snapshot->listeners().undeclaredMetrics();
  }

  std::lock_guard lock(mu_);
  appendMetricHeader(out, "podnetstat_scan_duration_seconds", "histogram",
                     "How long scans took, failed ones included.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kDurationBuckets.size(); ++i) {
    cumulative += bucket_counts_[i];
    out += "podnetstat_scan_duration_seconds_bucket{le=\"";
    appendNumber(out, kDurationBuckets[i]);
    out += "\"} ";
    appendNumber(out, cumulative);
    out += '\n';
  }
  out += "podnetstat_scan_duration_seconds_bucket{le=\"+Inf\"} ";
  appendNumber(out, count_);
  out += "\npodnetstat_scan_duration_seconds_sum ";
  appendNumber(out, sum_);
  out += "\npodnetstat_scan_duration_seconds_count ";
  appendNumber(out, count_);
  out += '\n';

  appendMetricHeader(out, "podnetstat_scan_errors_total", "counter",
                     "Problems met by scans, by kind (scan_failed: no snapshot could be made).");
  for (const char* kind : kErrorKinds) {
    auto it = errors_.find(kind);
    out += "podnetstat_scan_errors_total{kind=\"";
    out += kind;
    out += "\"} ";
    appendNumber(out, it == errors_.end() ? std::uint64_t{0} : it->second);
    out += '\n';
  }

  appendMetricHeader(out, "podnetstat_skipped_lines_total", "counter",
                     "Malformed socket table lines skipped, by table file.");
  for (std::size_t i = 0; i < scanner::kTransportCount; ++i) {
    out += "podnetstat_skipped_lines_total{file=\"";
    out += scanner::transportName(scanner::kAllTransports[i]);
    out += "\"} ";
    appendNumber(out, skipped_lines_[i]);
    out += '\n';
  }

  appendMetricHeader(out, "podnetstat_last_scan_timestamp_seconds", "gauge",
                     "When the last successful scan completed, in Unix time (0: none yet).");
  out += "podnetstat_last_scan_timestamp_seconds ";
  appendNumber(out, last_success_seconds_);
  out += '\n';

  appendMetricHeader(
      out, "podnetstat_source_up", "gauge",
      "Whether a data source worked for the current snapshot (procfs: the last scan).");
  const k8s::PodMetadata* metadata = snapshot != nullptr ? snapshot->podMetadata() : nullptr;
  for (const char* source : kSources) {
    const std::string_view name = source;
    bool up = false;
    if (name == "procfs") {
      up = last_ok_;
    } else if (name == "cri") {
      up = metadata != nullptr && metadata->cri.enabled && metadata->cri.ok;
    } else if (name == "kubelet") {
      up = metadata != nullptr && metadata->kubelet.enabled && metadata->kubelet.ok;
    } else if (snapshot != nullptr) {  // cgroup
      const auto& stats = snapshot->podIndex().stats();
      up = stats.cgroups_read > 0 || stats.cgroups_missing == 0;
    }
    out += "podnetstat_source_up{source=\"";
    out += source;
    out += "\"} ";
    out += up ? '1' : '0';
    out += '\n';
  }

  if (http != nullptr) {
    appendMetricHeader(out, "podnetstat_http_requests_total", "counter", "HTTP requests answered.");
    out += "podnetstat_http_requests_total ";
    appendNumber(out, http->requests);
    appendMetricHeader(out += '\n', "podnetstat_http_connections", "gauge",
                       "HTTP connections open.");
    out += "podnetstat_http_connections ";
    appendNumber(out, static_cast<std::uint64_t>(http->open));
    appendMetricHeader(out += '\n', "podnetstat_http_rejected_connections_total", "counter",
                       "Connections answered 503 because --max-connections were open.");
    out += "podnetstat_http_rejected_connections_total ";
    appendNumber(out, http->rejected);
    appendMetricHeader(
        out += '\n', "podnetstat_http_evicted_connections_total", "counter",
        "Idle connections (keep-alive, or new and silent) closed to make room for new ones.");
    out += "podnetstat_http_evicted_connections_total ";
    appendNumber(out, http->evicted);
    out += '\n';
  }

  appendMetricHeader(out, "podnetstat_build_info", "gauge", "Build information; always 1.");
  out += "podnetstat_build_info{version=\"";
  out += escapeLabelValue(PODNETSTAT_VERSION);
  out += "\"} 1\n";
  return out;
}

}  // namespace podnetstat::agent
