#pragma once

// Prometheus text exposition format 0.0.4 of the agent's metrics (names: DESIGN.md "Metrics").

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "podnetstat/agent/http/http_server.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

class Snapshot;

/// Escapes a label value: backslash, double quote and newline (the format's only escapes).
std::string escapeLabelValue(std::string_view value);

/// Appends the `# HELP` and `# TYPE` lines of a metric family (`type`: counter, gauge, ...).
void appendMetricHeader(std::string& out,
                        std::string_view name,
                        std::string_view type,
                        std::string_view help);

/// Counters about the scans, accumulated since start. Thread-safe.
class ScanMetrics {
 public:
  /// Upper bounds of the scan duration histogram, in seconds.
  static constexpr std::array<double, 12> kDurationBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                              0.5,   1,    2.5,   5,    10,  30};

  /// A scan that produced a snapshot: its duration, what it skipped, when it completed.
  void recordScan(const scanner::ScanResult& scan, double seconds, std::int64_t completed_unix_ms);

  /// A scan that failed as a whole (the previous snapshot stays).
  void recordFailure(double seconds, std::string message);

  struct LastFailure {
    std::int64_t unix_ms = 0;
    std::string message;
  };

  /// The last failed scan, if the last scan failed.
  std::optional<LastFailure> lastFailure() const;

  std::uint64_t scans() const;

  /// The whole /metrics body: sockets of `snapshot` (may be null), scan counters and histogram,
  /// source health, HTTP counters (when `http` is given) and build info.
  std::string render(const Snapshot* snapshot, const HttpServerStats* http) const;

 private:
  void observeLocked(double seconds);

  mutable std::mutex mu_;
  std::array<std::uint64_t, kDurationBuckets.size()> bucket_counts_{};  // not cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
  std::map<std::string, std::uint64_t> errors_;  // by kind
  std::array<std::uint64_t, scanner::kTransportCount> skipped_lines_{};
  double last_success_seconds_ = 0;
  bool last_ok_ = false;
  std::optional<LastFailure> last_failure_;
};

}  // namespace podnetstat::agent
