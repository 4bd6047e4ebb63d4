#pragma once

// The agent's model of the node at one scan: the scan itself, its pods, and the indexes every
// answer reads, each computed once — every socket's pod and container, the namespaces by name
// and inode with their ranges of sockets, per-pod socket counts, the listeners with their
// posture, and the namespaces' network counters. Immutable once built. It writes no text:
// renderers (render/) read it, and the pages of a snapshot (render/snapshot_pages.h) are
// rendered from it once.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "podnetstat/agent/model/listener_table.h"
#include "podnetstat/agent/model/net_counters.h"
#include "podnetstat/agent/model/pod_attribution.h"
#include "podnetstat/agent/model/pod_counts.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

class Snapshot {
 public:
  /// Indexes `scan` and attributes its sockets with `pods` (built from this same scan).
  /// `completed_unix_ms` is when the scan finished. `net_counters` are index for index with the
  /// scan's namespaces, or empty.
  Snapshot(scanner::ScanResult scan,
           std::string node,
           std::int64_t completed_unix_ms,
           PodAttribution pods = {},
           std::vector<NetnsCounters> net_counters = {});

  const scanner::ScanResult& scan() const { return scan_; }

  const std::string& node() const { return node_; }

  std::int64_t completedUnixMs() const { return completed_unix_ms_; }

  /// The pod index of this scan; its pods() are what pod numbers refer to.
  const k8s::PodIndex& podIndex() const { return pods_.index; }

  /// The metadata the pod index was built from; null when the agent has no pod sources.
  const k8s::PodMetadata* podMetadata() const { return pods_.metadata.get(); }

  /// The pod number of scan().sockets[i], or kNoPod.
  std::uint32_t socketPod(std::uint32_t i) const { return socket_pods_.pod(i); }

  /// The pod and container of scan().sockets[i]; nullopt for a socket of no pod.
  std::optional<k8s::SocketPod> socketPodOf(std::uint32_t i) const {
    return socket_pods_.of(i, pods_.index);
  }

  /// The pod numbered `pod`, or null for kNoPod.
  const k8s::Pod* pod(std::uint32_t pod) const {
    return pod < pods_.index.pods().size() ? &pods_.index.pods()[pod] : nullptr;
  }

  /// The number of a pod of podIndex().
  std::uint32_t podNumber(const k8s::Pod* pod) const {
    return static_cast<std::uint32_t>(pod - pods_.index.pods().data());
  }

  /// The sockets (by state) and listeners of the pod numbered `pod`.
  const PodSocketCounts& podCounts(std::uint32_t pod) const { return pod_counts_[pod]; }

  /// The sockets of namespace `netns_index` are scan().sockets[first, second).
  std::pair<std::uint32_t, std::uint32_t> netnsRange(std::uint32_t netns_index) const {
    return netns_ranges_[netns_index];
  }

  /// The index of the namespace with this name or inode (decimal), -1 when none. A name wins
  /// over an inode spelled the same way.
  std::int64_t findNetns(std::string_view name_or_inode) const;

  /// The namespace with this inode, or null.
  const scanner::NetNamespace* netnsByInode(std::uint64_t inode) const;

  /// The listening sockets with their posture.
  const ListenerTable& listeners() const { return listeners_; }

  /// The network counters of each namespace (index for index), or empty.
  const std::vector<NetnsCounters>& netCounters() const { return net_counters_; }

 private:
  void indexNamespaces();
  void countPods();

  scanner::ScanResult scan_;
  std::string node_;
  std::int64_t completed_unix_ms_ = 0;
  PodAttribution pods_;
  SocketPods socket_pods_;
  std::vector<PodSocketCounts> pod_counts_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> netns_ranges_;
  std::unordered_map<std::string, std::uint32_t> netns_by_name_;
  std::unordered_map<std::uint64_t, std::uint32_t> netns_by_inode_;
  ListenerTable listeners_;
  std::vector<NetnsCounters> net_counters_;
};

}  // namespace podnetstat::agent
