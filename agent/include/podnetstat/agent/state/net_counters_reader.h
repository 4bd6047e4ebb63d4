#pragma once

// Reading the network counters (model/net_counters.h) of every namespace of a scan, once per
// background scan, after the socket scan: four small files per namespace, no namespace entered.

#include <vector>

#include "podnetstat/agent/model/net_counters.h"
#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::agent {

/// Reads the counters of every namespace of `scan` (index for index) under the scanner's roots,
/// on the scanner's worker pool. Never fails: an unreadable namespace has read == false.
std::vector<NetnsCounters> readNetCounters(const scanner::ScanResult& scan,
                                           const scanner::Scanner& scanner);

}  // namespace podnetstat::agent
