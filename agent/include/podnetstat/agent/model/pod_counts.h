#pragma once

// What a pod's summary counts: its sockets by state and its listeners by exposure.

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "podnetstat/k8s/exposure.h"

namespace podnetstat::agent {

/// Listening sockets of one pod (listener_table.h).
struct PodListenerCounts {
  std::array<std::uint64_t, k8s::kExposureCount> by_exposure{};  // indexed by k8s::Exposure
  std::uint64_t undeclared = 0;                                  // declared == false
};

/// Socket counts of one pod.
struct PodSocketCounts {
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> by_state;
  PodListenerCounts listeners;
};

}  // namespace podnetstat::agent
