#include "podnetstat/agent/model/scan_metrics.h"

#include <utility>

#include "podnetstat/scanner/wall_clock.h"

namespace podnetstat::agent {

void ScanMetrics::observeLocked(double seconds) {
  for (std::size_t i = 0; i < kDurationBuckets.size(); ++i) {
    if (seconds <= kDurationBuckets[i]) {
      ++totals_.bucket_counts[i];
      break;
    }
  }
  ++totals_.count;
  totals_.sum += seconds;
}

void ScanMetrics::recordScan(const scanner::ScanResult& scan,
                             double seconds,
                             std::int64_t completed_unix_ms) {
  std::lock_guard lock(mu_);
  observeLocked(seconds);
  const auto& st = scan.stats;
  totals_.errors["unreadable_process"] += st.unreadable_processes;
  totals_.errors["unreadable_namespace"] += st.unreadable_namespaces;
  totals_.errors["stale_netns_entry"] += st.stale_netns_entries;
  totals_.errors["table"] += st.table_errors;
  for (std::size_t i = 0; i < scanner::kTransportCount; ++i) {
    totals_.skipped_lines[i] += st.skipped_lines_by_transport[i];
  }
  totals_.last_success_seconds = static_cast<double>(completed_unix_ms) / 1000.0;
  totals_.last_ok = true;
  totals_.last_failure.reset();
}

void ScanMetrics::recordFailure(double seconds, std::string message) {
  std::lock_guard lock(mu_);
  observeLocked(seconds);
  ++totals_.errors["scan_failed"];
  totals_.last_ok = false;
  totals_.last_failure = LastFailure{scanner::nowUnixMs(), std::move(message)};
}

std::optional<ScanMetrics::LastFailure> ScanMetrics::lastFailure() const {
  std::lock_guard lock(mu_);
  return totals_.last_failure;
}

std::uint64_t ScanMetrics::scans() const {
  std::lock_guard lock(mu_);
  return totals_.count;
}

ScanMetrics::Totals ScanMetrics::totals() const {
  std::lock_guard lock(mu_);
  return totals_;
}

}  // namespace podnetstat::agent
