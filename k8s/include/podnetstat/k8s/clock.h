#pragma once

// The clock the k8s sources read, behind a small interface so that tests can move time (token
// re-reads every few minutes, stale source data) without sleeping.

#include <chrono>

namespace podnetstat::k8s {

class Clock {
 public:
  virtual ~Clock() = default;
  /// Monotonic time: for intervals and deadlines.
  virtual std::chrono::steady_clock::time_point steadyNow() const = 0;
  /// Wall-clock time: for "last success at" in health reports.
  virtual std::chrono::system_clock::time_point systemNow() const = 0;
};

/// The real clocks. A process-wide object that lives forever.
const Clock& systemClock();

}  // namespace podnetstat::k8s
