#pragma once

// The pod index of one scan: network namespace inode -> pod, PID -> pod and container, and so
// socket -> pod and container. Built per scan, cheaply, from the scan itself (with the cgroups
// its first step read: ScanOptions::cgroups), and the latest PodMetadata (pod_metadata.h).
//
// How the agent uses it, per scan:
//   auto metadata = cache.current();                       // never blocks
//   PodIndex index = PodIndex::build(scan, *metadata, node_files);
//   for (const Socket& s : scan.sockets) { auto sp = index.ofSocket(s, scan); ... }
//   if (index.unknownPodCount() > 0) cache.requestRefresh();
// The index points into nothing but itself: keep it beside the scan's snapshot.
//
// Attribution rules:
//  - A pod-network pod owns its network namespace: the READY sandbox's pid's namespace, else its
//    netns file's (CRI-O without an infra container), else a container's pid's; with no CRI at
//    all, the namespace whose processes' cgroups name one pod. The host namespace and hostNetwork
//    pods never own a namespace.
//  - A process belongs to the pod (and container) its /proc/<pid>/cgroup names, as the scan read
//    it. Cgroups are looked at only for processes that own a socket or live outside the host
//    namespace.
//  - A socket in a pod's namespace belongs to that pod (the container: the first owner whose
//    cgroup names a container of that pod). A socket elsewhere (host namespace: hostNetwork
//    pods) belongs to the pod of its first owner (ascending PID) whose cgroup names one; none:
//    the node's own socket, no pod.
//  - A pod is listed when a READY sandbox of it is alive (its pid or netns is there), the
//    kubelet has it in a phase other than Succeeded/Failed (unless its READY sandbox is gone: a
//    pod deleted since the kubelet's last answer), or a cgroup names it. A pod only a cgroup
//    knows has its uid and no names (unless /var/log/pods names it).
//  - A pod's containers are the ones the CRI and the kubelet name; cgroups add containers only
//    to pods neither source knows. A process in a container its pod's sources do not name yet
//    (the sandbox before it is READY, a container started since their last answer) belongs to
//    the pod without a container, and counts in stats().unknown_containers.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "podnetstat/k8s/pod_list.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::k8s {

/// What the index looks up on the node beyond the scan, under the scanner's roots (tests point
/// them at fixture trees): the namespaces of runtime PIDs and netns paths the scan did not see.
/// Races are normal: a vanished process gives nullopt.
class NodeFiles {
 public:
  explicit NodeFiles(scanner::Roots roots = {});

  /// The network namespace inode of a live process (stat <proc>/<pid>/ns/net).
  std::optional<std::uint64_t> netnsInodeOfPid(std::int32_t pid) const;

  /// The inode of a netns file a runtime names with a host path: "/var/run/netns/X" and
  /// "/run/netns/X" are looked up in the netns dir root, "/proc/<pid>/ns/net" in the proc root,
  /// anything else as is.
  std::optional<std::uint64_t> netnsInodeOfPath(const std::string& host_path) const;

  const scanner::Roots& roots() const { return roots_; }

 private:
  scanner::Roots roots_;
};

/// A container of a listed pod.
struct PodContainer {
  std::string id;                   // runtime container ID ("" for a spec container not created)
  std::optional<std::string> name;  // nullopt when no source names it (cgroup only)
  ContainerKind kind = ContainerKind::Regular;
  std::vector<ContainerPort> ports;  // declared in the pod spec
  std::vector<std::int32_t> pids;    // its processes seen in this scan, ascending
};

/// A pod of this node, as far as this scan and the metadata tell.
struct Pod {
  std::string uid;
  std::optional<std::string> namespace_name;  // nullopt: known only by its uid
  std::optional<std::string> name;
  bool host_network = false;
  std::vector<std::string> ips;
  /// Its network namespace (pod-network pods whose namespace was found); nullopt otherwise.
  std::optional<std::uint64_t> netns_inode;
  std::vector<std::int32_t> pids;  // ascending: its namespace's processes and cgroup members
  std::vector<PodContainer> containers;
  std::map<std::string, std::string> labels;
  std::vector<OwnerReference> owners;
  bool static_pod = false;
  std::string phase;
  std::string qos_class;
  std::string sandbox_id;
  unsigned sources = 0;  // PodSourceBit
};

/// A socket's (or process's) pod; container is null when no container is known.
struct SocketPod {
  const Pod* pod = nullptr;
  const PodContainer* container = nullptr;
};

/// Counters of one build, for /api/v1/node ("cgroup" source) and debugging.
struct PodIndexStats {
  std::size_t cgroups_read = 0;        // /proc/<pid>/cgroup files looked at
  std::size_t cgroups_missing = 0;     // processes gone (or unreadable) by then
  std::size_t pod_processes = 0;       // processes a cgroup placed in a pod
  std::size_t unknown_pods = 0;        // pods a cgroup named that no metadata source knows
  std::size_t unknown_containers = 0;  // processes in a container their pod's sources do not name
  std::size_t dead_sandboxes = 0;      // READY sandboxes whose pid and netns are gone
};

class PodIndex {
 public:
  PodIndex() = default;  // no pods

  /// Builds the index (see the rules at the top of this file) from `scan`, whose cgroups it
  /// reads (a scan without them places no process by cgroup). Never fails: what cannot be read
  /// is counted in stats().
  static PodIndex build(const scanner::ScanResult& scan,
                        const PodMetadata& metadata,
                        const NodeFiles& node);

  /// Listed pods: named ones by namespace/name, then uid-only ones by uid.
  std::span<const Pod> pods() const { return pods_; }

  const Pod* byUid(std::string_view uid) const;
  const Pod* byName(std::string_view namespace_name, std::string_view name) const;
  std::vector<const Pod*> inNamespace(std::string_view namespace_name) const;

  /// The pod owning a network namespace; nullptr for the host's and unowned ones.
  const Pod* ofNetns(std::uint64_t inode) const;

  /// The pod (and container) of a process: its cgroup's, else its pod namespace's.
  std::optional<SocketPod> ofPid(std::int32_t pid) const;

  /// The pod (and container) of a socket of `scan` (the scan the index was built from).
  std::optional<SocketPod> ofSocket(const scanner::Socket& socket,
                                    const scanner::ScanResult& scan) const;

  const PodIndexStats& stats() const { return stats_; }

  /// Pods a cgroup named that no metadata source knows: a reason to refresh the metadata.
  std::size_t unknownPodCount() const { return stats_.unknown_pods; }

 private:
  struct PidEntry {
    std::uint32_t pod = 0;
    std::int32_t container = -1;  // index into the pod's containers; -1: none
    bool by_cgroup = false;       // false: only its pod namespace places it
  };

  /// The steps of build() (pod_index.cpp).
  class Builder;

  SocketPod at(const PidEntry& e) const;

  std::vector<Pod> pods_;
  std::unordered_map<std::string, std::uint32_t> by_uid_;
  std::unordered_map<std::uint64_t, std::uint32_t> by_netns_;
  std::unordered_map<std::int32_t, PidEntry> by_pid_;
  PodIndexStats stats_;
};

}  // namespace podnetstat::k8s
