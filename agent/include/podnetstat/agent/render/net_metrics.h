#pragma once

// The network counters of every namespace (model/net_counters.h) as Prometheus series for
// /metrics, labelled like podnetstat_sockets.

#include <string>
#include <vector>

#include "podnetstat/agent/model/net_counters.h"
#include "podnetstat/agent/model/snapshot.h"

namespace podnetstat::agent {

/// The Prometheus series of `counters`, one block per metric (HELP and TYPE once each, also when
/// there are no series). `labels[i]` is namespace i's label set without braces
/// (`namespace="shop",pod="web-0",netns="cni-1"`); per-interface series add `interface`, UDP ones
/// `transport` (udp, udp6).
std::string renderNetCounterMetrics(const std::vector<NetnsCounters>& counters,
                                    const std::vector<std::string>& labels);

/// The network counter series of `snapshot`, each namespace labelled as its podnetstat_sockets
/// series are (`namespace`, `pod`: the pod that owns the namespace, `netns`); empty when the
/// snapshot has no counters.
std::string netCounterSeries(const Snapshot& snapshot);

}  // namespace podnetstat::agent
