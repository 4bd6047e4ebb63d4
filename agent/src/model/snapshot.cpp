#include "podnetstat/agent/model/snapshot.h"

#include <algorithm>
#include <charconv>

namespace podnetstat::agent {

Snapshot::Snapshot(scanner::ScanResult scan,
                   std::string node,
                   std::int64_t completed_unix_ms,
                   PodAttribution pods,
                   std::vector<NetnsCounters> net_counters)
    : scan_(std::move(scan)),
      node_(std::move(node)),
      completed_unix_ms_(completed_unix_ms),
      pods_(std::move(pods)),
      net_counters_(std::move(net_counters)) {
  // The pod index has read the cgroups it wanted; the snapshot does not keep them.
  scan_.cgroups = {};
  indexNamespaces();
  socket_pods_ = SocketPods(scan_, pods_.index);
  listeners_ = ListenerTable::build(scan_, pods_.index, socket_pods_);
  countPods();
}

void Snapshot::indexNamespaces() {
  auto& sockets = scan_.sockets;
  const auto by_netns = [](const scanner::Socket& a, const scanner::Socket& b) {
    return a.netns_index < b.netns_index;
  };
  // The scanner groups sockets by namespace already; the ranges below rely on it.
  if (!std::is_sorted(sockets.begin(), sockets.end(), by_netns)) {
    std::stable_sort(sockets.begin(), sockets.end(), by_netns);
  }
  const auto ns_count = static_cast<std::uint32_t>(scan_.namespaces.size());
  netns_ranges_.assign(ns_count, {0, 0});
  std::uint32_t i = 0;
  const auto n = static_cast<std::uint32_t>(sockets.size());
  for (std::uint32_t ns = 0; ns < ns_count; ++ns) {
    while (i < n && sockets[i].netns_index < ns) {
      ++i;  // sockets of a namespace index out of range cannot exist; skip defensively
    }
    const std::uint32_t begin = i;
    while (i < n && sockets[i].netns_index == ns) {
      ++i;
    }
    netns_ranges_[ns] = {begin, i};
    const auto& info = scan_.namespaces[ns];
    for (const auto& name : info.names) {
      netns_by_name_.emplace(name, ns);
    }
    netns_by_inode_.emplace(info.inode, ns);
  }
}

void Snapshot::countPods() {
  pod_counts_.resize(pods_.index.pods().size());
  for (std::uint32_t i = 0; i < scan_.sockets.size(); ++i) {
    const std::uint32_t pod = socket_pods_.pod(i);
    if (pod != kNoPod) {
      ++pod_counts_[pod].total;
      ++pod_counts_[pod].by_state[scanner::socketStateName(scan_.sockets[i])];
    }
  }
  for (std::uint32_t p = 0; p < pod_counts_.size(); ++p) {
    pod_counts_[p].listeners = listeners_.podCounts(p);
  }
}

std::int64_t Snapshot::findNetns(std::string_view name_or_inode) const {
  if (auto it = netns_by_name_.find(std::string(name_or_inode)); it != netns_by_name_.end()) {
    return it->second;
  }
  std::uint64_t inode = 0;
  const char* end = name_or_inode.data() + name_or_inode.size();
  auto [ptr, ec] = std::from_chars(name_or_inode.data(), end, inode);
  if (!name_or_inode.empty() && ec == std::errc() && ptr == end) {
    if (auto it = netns_by_inode_.find(inode); it != netns_by_inode_.end()) {
      return it->second;
    }
  }
  return -1;
}

const scanner::NetNamespace* Snapshot::netnsByInode(std::uint64_t inode) const {
  const auto it = netns_by_inode_.find(inode);
  return it == netns_by_inode_.end() ? nullptr : &scan_.namespaces[it->second];
}

}  // namespace podnetstat::agent
