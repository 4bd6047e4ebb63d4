#pragma once

// Counters about the agent's scans, accumulated since start: the duration histogram, the
// problems met by kind, the skipped lines by table, the last success and the last failure.
// Rendered by /metrics (render/metrics.h) and /api/v1/node. Thread-safe.

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

class ScanMetrics {
 public:
  /// Upper bounds of the scan duration histogram, in seconds.
  static constexpr std::array<double, 12> kDurationBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                              0.5,   1,    2.5,   5,    10,  30};

  /// Scan error kinds, always exported (a counter that appears only after its first increment
  /// breaks rate()).
  static constexpr std::array<const char*, 5> kErrorKinds = {
      "scan_failed", "unreadable_process", "unreadable_namespace", "stale_netns_entry", "table"};

  struct LastFailure {
    std::int64_t unix_ms = 0;
    std::string message;
  };

  /// Everything counted so far, as one consistent copy.
  struct Totals {
    std::array<std::uint64_t, kDurationBuckets.size()> bucket_counts{};  // not cumulative
    std::uint64_t count = 0;
    double sum = 0;
    std::map<std::string, std::uint64_t> errors;  // by kind
    std::array<std::uint64_t, scanner::kTransportCount> skipped_lines{};
    double last_success_seconds = 0;  // Unix time of the last successful scan's end; 0: none
    bool last_ok = false;
    std::optional<LastFailure> last_failure;  // set while the last scan failed
  };

  /// A scan that produced a snapshot: its duration, what it skipped, when it completed.
  void recordScan(const scanner::ScanResult& scan, double seconds, std::int64_t completed_unix_ms);

  /// A scan that failed as a whole (the previous snapshot stays).
  void recordFailure(double seconds, std::string message);

  /// The last failed scan, if the last scan failed.
  std::optional<LastFailure> lastFailure() const;

  std::uint64_t scans() const;

  Totals totals() const;

 private:
  void observeLocked(double seconds);

  mutable std::mutex mu_;
  Totals totals_;
};

}  // namespace podnetstat::agent
