#pragma once

// The wall clock in the unit every timestamp of a scan and an answer uses.

#include <chrono>
#include <cstdint>

namespace podnetstat::scanner {

/// Milliseconds since the Unix epoch, now.
inline std::int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace podnetstat::scanner
