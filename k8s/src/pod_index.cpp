// Building the pod index of one scan (the rules are in pod_index.h):
//  1. From the scan: PID -> netns inode, netns name -> inode, the host namespace.
//  2. Cgroups (as the scan read them) of socket owners and of processes outside the host
//     namespace -> pod UID and container ID (a container ID alone, from a private cgroup
//     namespace, is looked up in the metadata).
//  3. READY sandboxes: alive when their pid, netns file or a container's pid is there; their
//     namespace is the pod's. Kubelet pods in a live phase and cgroup-named pods are listed too.
//  4. Namespaces no sandbox claimed: owned by the one pod their processes' cgroups name.
//  5. PIDs and containers: namespace members, cgroup members, CRI pids that are alive.
//  6. Sort (named pods by namespace/name, then uid-only pods) and index.

#include "podnetstat/k8s/pod_index.h"

#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <set>
#include <tuple>
#include <utility>

#include "podnetstat/k8s/cgroup.h"

namespace podnetstat::k8s {
namespace {

constexpr std::array<std::string_view, 2> kHostNetnsDirs = {"/var/run/netns", "/run/netns"};
constexpr std::array<std::string_view, 2> kFinishedPhases = {"Succeeded", "Failed"};

std::optional<std::uint64_t> inodeOf(const std::filesystem::path& path) {
  struct stat st {};

  if (::stat(path.c_str(), &st) != 0) {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(st.st_ino);
}

/// Work state of one pod while the index is built.
struct Draft {
  Pod pod;
  bool listed = false;
  std::set<std::int32_t> pids;
  std::vector<std::set<std::int32_t>> container_pids;  // parallel to pod.containers

  std::optional<std::size_t> find(const std::string& id) const {
    for (std::size_t i = 0; i < pod.containers.size(); ++i) {
      if (pod.containers[i].id == id) {
        return i;
      }
    }
    return std::nullopt;
  }

  std::size_t container(const std::string& id) {
    if (const auto i = find(id)) {
      return *i;
    }
    PodContainer c;
    c.id = id;
    pod.containers.push_back(std::move(c));
    container_pids.emplace_back();
    return pod.containers.size() - 1;
  }
};

Pod fromMeta(const PodMeta& meta) {
  Pod pod;
  pod.uid = meta.uid;
  if (!meta.name.empty()) {
    pod.namespace_name = meta.namespace_name;
    pod.name = meta.name;
  }
  pod.host_network = meta.host_network;
  pod.ips = meta.ips;
  pod.labels = meta.labels;
  pod.owners = meta.owners;
  pod.static_pod = meta.static_pod;
  pod.phase = meta.phase;
  pod.qos_class = meta.qos_class;
  pod.sandbox_id = meta.sandbox_id;
  pod.sources = meta.sources;
  for (const ContainerMeta& c : meta.containers) {
    pod.containers.push_back(
        PodContainer{c.id,
                     c.name.empty() ? std::nullopt : std::optional<std::string>(c.name),
                     c.kind,
                     c.ports,
                     {}});
  }
  return pod;
}

struct CgroupPlace {
  std::string uid;
  std::string container_id;  // "" for pod-level processes and the sandbox
};

}  // namespace

// ---- NodeFiles ----

NodeFiles::NodeFiles(scanner::Roots roots) : roots_(std::move(roots)) {}

std::optional<std::uint64_t> NodeFiles::netnsInodeOfPid(std::int32_t pid) const {
  if (pid <= 0) {
    return std::nullopt;
  }
  return inodeOf(roots_.proc / std::to_string(pid) / "ns" / "net");
}

std::optional<std::uint64_t> NodeFiles::netnsInodeOfPath(const std::string& host_path) const {
  const std::filesystem::path path(host_path);
  const std::string parent = path.parent_path().string();
  for (const std::string_view dir : kHostNetnsDirs) {
    if (parent == dir) {
      return inodeOf(roots_.netns_dir / path.filename());
    }
  }
  // "/proc/<pid>/ns/net"
  auto it = path.begin();
  if (path.is_absolute() && ++it != path.end() && *it == "proc") {
    const std::filesystem::path rest = path.lexically_relative("/proc");
    return inodeOf(roots_.proc / rest);
  }
  return inodeOf(path);
}

// ---- PodIndex ----

/// The steps of build(), in the order of the list at the top of this file, on draft pods that
/// become the index's pods at the end.
class PodIndex::Builder {
 public:
  Builder(const scanner::ScanResult& scan,
          const PodMetadata& metadata,
          const NodeFiles& node,
          PodIndex& index)
      : scan_(scan), metadata_(metadata), node_(node), index_(index) {
    learnFromScan();
  }

  /// 2. The pod (and container) of each process that matters, by its cgroup.
  void placeProcessesByCgroup();
  /// 3. Pods from the metadata (live sandboxes, the kubelet's live phases) and the cgroups.
  void listPods();
  /// 4. Namespaces no sandbox claimed: the one pod their processes' cgroups name.
  void claimNamespacesByCgroup();
  /// 5. PIDs and containers: namespace members, cgroup members, runtime PIDs that are alive.
  void addMembers();
  /// 6. The listed pods, sorted, and the maps to their final numbers.
  void finish();

 private:
  /// A READY sandbox as the node shows it: alive (its pid, netns file or a container's pid is
  /// there) and its namespace.
  struct Sandbox {
    bool alive = false;
    std::optional<std::uint64_t> netns;
  };

  void learnFromScan();
  std::optional<std::uint64_t> liveNetnsOfPid(std::int32_t pid) const;
  std::optional<std::uint64_t> netnsOfPath(const std::string& path) const;

  bool isHost(std::uint64_t inode) const { return host_inode_ && *host_inode_ == inode; }

  Sandbox sandboxOf(const PodMeta& meta) const;
  /// Lists the pod of `meta` by its runtime's and kubelet's word.
  void listFromMetadata(const PodMeta& meta);
  std::size_t draftFor(const std::string& uid);
  void claim(std::uint64_t inode, std::size_t draft);
  void addCgroupMember(std::int32_t pid, const CgroupPlace& place);
  void addRuntimePids(std::size_t draft, const PodMeta& meta);
  void addPid(std::size_t draft, std::int32_t pid, std::int32_t container, bool by_cgroup);

  const scanner::ScanResult& scan_;
  const PodMetadata& metadata_;
  const NodeFiles& node_;
  PodIndex& index_;
  // 1. What the scan knows.
  std::optional<std::uint64_t> host_inode_;
  std::unordered_map<std::int32_t, std::uint64_t> netns_of_pid_;
  std::unordered_map<std::string, std::uint64_t> netns_of_name_;
  // The work.
  std::unordered_map<std::int32_t, CgroupPlace> cgroup_of_;
  std::vector<Draft> drafts_;
  std::unordered_map<std::string, std::size_t> draft_of_uid_;
  std::unordered_map<std::uint64_t, std::size_t> draft_of_netns_;
};

void PodIndex::Builder::learnFromScan() {
  for (const scanner::NetNamespace& ns : scan_.namespaces) {
    if (ns.is_host) {
      host_inode_ = ns.inode;
    }
    for (const std::int32_t pid : ns.pids) {
      netns_of_pid_.emplace(pid, ns.inode);
    }
    for (const std::string& name : ns.names) {
      netns_of_name_.emplace(name, ns.inode);
    }
  }
}

std::optional<std::uint64_t> PodIndex::Builder::liveNetnsOfPid(std::int32_t pid) const {
  if (pid <= 0) {
    return std::nullopt;
  }
  const auto it = netns_of_pid_.find(pid);
  return it != netns_of_pid_.end() ? std::optional(it->second) : node_.netnsInodeOfPid(pid);
}

std::optional<std::uint64_t> PodIndex::Builder::netnsOfPath(const std::string& path) const {
  const auto it = netns_of_name_.find(std::filesystem::path(path).filename().string());
  return it != netns_of_name_.end() ? std::optional(it->second) : node_.netnsInodeOfPath(path);
}

void PodIndex::Builder::placeProcessesByCgroup() {
  // Cgroups are looked at for socket owners and for processes outside the host namespace.
  std::set<std::int32_t> wanted;
  for (const scanner::Process& p : scan_.processes) {
    wanted.insert(p.pid);
  }
  for (const scanner::NetNamespace& ns : scan_.namespaces) {
    if (!ns.is_host) {
      wanted.insert(ns.pids.begin(), ns.pids.end());
    }
  }
  std::unordered_map<std::string, std::string> uid_of_sandbox;
  for (const PodMeta& meta : metadata_.pods) {
    if (!meta.sandbox_id.empty()) {
      uid_of_sandbox.emplace(meta.sandbox_id, meta.uid);
    }
  }
  std::unordered_map<std::int32_t, const std::string*> cgroup_text;
  for (const scanner::ProcessCgroup& c : scan_.cgroups) {
    cgroup_text.emplace(c.pid, &c.text);
  }
  for (const std::int32_t pid : wanted) {
    const auto text = cgroup_text.find(pid);
    if (text == cgroup_text.end()) {
      ++index_.stats_.cgroups_missing;
      continue;
    }
    ++index_.stats_.cgroups_read;
    auto identity = parseProcCgroup(*text->second);
    if (!identity) {
      continue;
    }
    CgroupPlace place{std::move(identity->pod_uid), std::move(identity->container_id)};
    if (place.uid.empty() && !place.container_id.empty()) {
      // A container ID alone (a private cgroup namespace): the metadata knows its pod.
      if (const auto ref = metadata_.findContainer(place.container_id)) {
        place.uid = ref->pod->uid;
      } else if (const auto s = uid_of_sandbox.find(place.container_id);
                 s != uid_of_sandbox.end()) {
        place.uid = s->second;
      }
    }
    if (!place.uid.empty()) {
      ++index_.stats_.pod_processes;
      cgroup_of_.emplace(pid, std::move(place));
    }
  }
}

std::size_t PodIndex::Builder::draftFor(const std::string& uid) {
  auto [it, inserted] = draft_of_uid_.try_emplace(uid, drafts_.size());
  if (inserted) {
    Draft d;
    if (const PodMeta* meta = metadata_.find(uid)) {
      d.pod = fromMeta(*meta);
    } else {
      d.pod.uid = uid;
      ++index_.stats_.unknown_pods;
    }
    d.container_pids.resize(d.pod.containers.size());
    drafts_.push_back(std::move(d));
  }
  return it->second;
}

void PodIndex::Builder::claim(std::uint64_t inode, std::size_t draft) {
  Pod& pod = drafts_[draft].pod;
  if (isHost(inode) || pod.host_network || pod.netns_inode) {
    return;
  }
  if (draft_of_netns_.try_emplace(inode, draft).second) {
    pod.netns_inode = inode;
  }
}

PodIndex::Builder::Sandbox PodIndex::Builder::sandboxOf(const PodMeta& meta) const {
  Sandbox sandbox;
  if (const auto inode = liveNetnsOfPid(meta.sandbox_pid)) {
    sandbox = {true, inode};
  }
  if (!sandbox.netns && !meta.host_network && !meta.netns_path.empty()) {
    if (const auto inode = netnsOfPath(meta.netns_path)) {
      sandbox = {true, inode};
    }
  }
  for (const ContainerMeta& c : meta.containers) {
    if (sandbox.alive && (sandbox.netns || meta.host_network)) {
      break;
    }
    if (const auto inode = liveNetnsOfPid(c.pid)) {
      sandbox.alive = true;
      sandbox.netns = sandbox.netns ? sandbox.netns : inode;
    }
  }
  return sandbox;
}

void PodIndex::Builder::listFromMetadata(const PodMeta& meta) {
  bool sandbox_gone = false;
  if (!meta.sandbox_id.empty()) {
    const Sandbox sandbox = sandboxOf(meta);
    if (sandbox.alive) {
      const std::size_t d = draftFor(meta.uid);
      drafts_[d].listed = true;
      if (sandbox.netns) {
        claim(*sandbox.netns, d);
      }
    } else {
      ++index_.stats_.dead_sandboxes;
      // Gone, as far as the runtime's own facts (its pid, its netns file) can tell.
      sandbox_gone = meta.sandbox_pid > 0 || !meta.netns_path.empty();
    }
  }
  // The kubelet's word lists a pod in a live phase, unless the runtime's sandbox of it is gone:
  // a pod deleted since the kubelet's last answer.
  if (!sandbox_gone && (meta.sources & kSourceKubelet) != 0 &&
      std::ranges::find(kFinishedPhases, meta.phase) == kFinishedPhases.end()) {
    drafts_[draftFor(meta.uid)].listed = true;
  }
}

void PodIndex::Builder::listPods() {
  for (const PodMeta& meta : metadata_.pods) {
    listFromMetadata(meta);
  }
  for (const auto& [pid, place] : cgroup_of_) {
    Draft& d = drafts_[draftFor(place.uid)];
    d.listed = true;
    d.pod.sources |= kSourceCgroup;
  }
}

void PodIndex::Builder::claimNamespacesByCgroup() {
  for (const scanner::NetNamespace& ns : scan_.namespaces) {
    if (ns.is_host || draft_of_netns_.contains(ns.inode)) {
      continue;
    }
    std::optional<std::string> uid;
    bool single = true;
    for (const std::int32_t pid : ns.pids) {
      const auto it = cgroup_of_.find(pid);
      if (it == cgroup_of_.end()) {
        continue;
      }
      if (uid && *uid != it->second.uid) {
        single = false;
        break;
      }
      uid = it->second.uid;
    }
    if (uid && single) {
      claim(ns.inode, draft_of_uid_.at(*uid));
    }
  }
}

void PodIndex::Builder::addPid(std::size_t draft,
                               std::int32_t pid,
                               std::int32_t container,
                               bool by_cgroup) {
  drafts_[draft].pids.insert(pid);
  const PidEntry entry{static_cast<std::uint32_t>(draft), container, by_cgroup};
  if (by_cgroup) {
    index_.by_pid_.insert_or_assign(pid, entry);  // a cgroup is the surest place
  } else {
    index_.by_pid_.try_emplace(pid, entry);
  }
}

void PodIndex::Builder::addCgroupMember(std::int32_t pid, const CgroupPlace& place) {
  const std::size_t i = draft_of_uid_.at(place.uid);
  Draft& d = drafts_[i];
  std::int32_t container = -1;
  if (!place.container_id.empty() && place.container_id != d.pod.sandbox_id) {
    // The runtime or the kubelet lists the pod's containers: an ID neither names (yet) is a
    // sandbox not READY yet or a container started since their last answer, whose processes
    // count for the pod only until they do. For a pod neither knows, the cgroups are all there
    // is: their IDs are its containers.
    const bool sources_list_containers = (d.pod.sources & (kSourceCri | kSourceKubelet)) != 0;
    std::optional<std::size_t> c = d.find(place.container_id);
    if (!c && !sources_list_containers) {
      c = d.container(place.container_id);
    }
    if (c) {
      d.container_pids.resize(d.pod.containers.size());
      d.container_pids[*c].insert(pid);
      container = static_cast<std::int32_t>(*c);
    } else {
      ++index_.stats_.unknown_containers;
    }
  }
  addPid(i, pid, container, true);
}

void PodIndex::Builder::addRuntimePids(std::size_t draft, const PodMeta& meta) {
  if (liveNetnsOfPid(meta.sandbox_pid)) {
    addPid(draft, meta.sandbox_pid, -1, false);
  }
  for (const ContainerMeta& c : meta.containers) {
    if (c.id.empty() || !liveNetnsOfPid(c.pid)) {
      continue;
    }
    Draft& d = drafts_[draft];
    const std::size_t ci = d.container(c.id);
    d.container_pids.resize(d.pod.containers.size());
    d.container_pids[ci].insert(c.pid);
    addPid(draft, c.pid, static_cast<std::int32_t>(ci), false);
  }
}

void PodIndex::Builder::addMembers() {
  for (std::size_t i = 0; i < drafts_.size(); ++i) {
    const auto& netns = drafts_[i].pod.netns_inode;
    for (const scanner::NetNamespace& ns : scan_.namespaces) {
      for (std::size_t p = 0; netns && ns.inode == *netns && p < ns.pids.size(); ++p) {
        addPid(i, ns.pids[p], -1, false);
      }
    }
  }
  for (const auto& [pid, place] : cgroup_of_) {
    addCgroupMember(pid, place);
  }
  for (std::size_t i = 0; i < drafts_.size(); ++i) {
    const PodMeta* meta = metadata_.find(drafts_[i].pod.uid);
    if (meta != nullptr && drafts_[i].listed) {
      addRuntimePids(i, *meta);
    }
  }
}

void PodIndex::Builder::finish() {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < drafts_.size(); ++i) {
    if (drafts_[i].listed) {
      order.push_back(i);
    }
  }
  const auto key = [&](std::size_t i) {
    const Pod& p = drafts_[i].pod;
    return std::make_tuple(!p.name.has_value(), p.namespace_name.value_or(""), p.name.value_or(""),
                           std::cref(p.uid));
  };
  std::ranges::sort(order, [&](std::size_t a, std::size_t b) { return key(a) < key(b); });
  std::vector<std::int64_t> final_of(drafts_.size(), -1);
  for (std::size_t n = 0; n < order.size(); ++n) {
    Draft& d = drafts_[order[n]];
    final_of[order[n]] = static_cast<std::int64_t>(n);
    d.pod.pids.assign(d.pids.begin(), d.pids.end());
    for (std::size_t c = 0; c < d.pod.containers.size() && c < d.container_pids.size(); ++c) {
      d.pod.containers[c].pids.assign(d.container_pids[c].begin(), d.container_pids[c].end());
    }
    index_.by_uid_.emplace(d.pod.uid, static_cast<std::uint32_t>(n));
    index_.pods_.push_back(std::move(d.pod));
  }
  for (const auto& [inode, draft] : draft_of_netns_) {
    if (final_of[draft] >= 0) {
      index_.by_netns_.emplace(inode, static_cast<std::uint32_t>(final_of[draft]));
    }
  }
  for (auto it = index_.by_pid_.begin(); it != index_.by_pid_.end();) {
    const std::int64_t n = final_of[it->second.pod];
    if (n < 0) {
      it = index_.by_pid_.erase(it);
    } else {
      it->second.pod = static_cast<std::uint32_t>(n);
      ++it;
    }
  }
}

PodIndex PodIndex::build(const scanner::ScanResult& scan,
                         const PodMetadata& metadata,
                         const NodeFiles& node) {
  PodIndex index;
  Builder builder(scan, metadata, node, index);
  builder.placeProcessesByCgroup();
  builder.listPods();
  builder.claimNamespacesByCgroup();
  builder.addMembers();
  builder.finish();
  return index;
}

SocketPod PodIndex::at(const PidEntry& e) const {
  const Pod& pod = pods_[e.pod];
  return SocketPod{
      &pod, e.container >= 0 ? &pod.containers[static_cast<std::size_t>(e.container)] : nullptr};
}

const Pod* PodIndex::byUid(std::string_view uid) const {
  auto it = by_uid_.find(std::string(uid));
  if (it == by_uid_.end()) {
    if (auto normal = normalizePodUid(uid); normal && *normal != uid) {
      it = by_uid_.find(*normal);
    }
  }
  return it == by_uid_.end() ? nullptr : &pods_[it->second];
}

const Pod* PodIndex::byName(std::string_view namespace_name, std::string_view name) const {
  for (const Pod& pod : pods_) {
    if (pod.namespace_name == namespace_name && pod.name == name) {
      return &pod;
    }
  }
  return nullptr;
}

std::vector<const Pod*> PodIndex::inNamespace(std::string_view namespace_name) const {
  std::vector<const Pod*> out;
  for (const Pod& pod : pods_) {
    if (pod.namespace_name == namespace_name) {
      out.push_back(&pod);
    }
  }
  return out;
}

const Pod* PodIndex::ofNetns(std::uint64_t inode) const {
  const auto it = by_netns_.find(inode);
  return it == by_netns_.end() ? nullptr : &pods_[it->second];
}

std::optional<SocketPod> PodIndex::ofPid(std::int32_t pid) const {
  const auto it = by_pid_.find(pid);
  if (it == by_pid_.end()) {
    return std::nullopt;
  }
  return at(it->second);
}

std::optional<SocketPod> PodIndex::ofSocket(const scanner::Socket& socket,
                                            const scanner::ScanResult& scan) const {
  const auto owners = scan.owners(socket);
  if (socket.netns_index < scan.namespaces.size()) {
    const auto ns = by_netns_.find(scan.namespaces[socket.netns_index].inode);
    if (ns != by_netns_.end()) {
      for (const std::uint32_t owner : owners) {
        const auto it = by_pid_.find(scan.processes[owner].pid);
        if (it != by_pid_.end() && it->second.by_cgroup && it->second.pod == ns->second &&
            it->second.container >= 0) {
          return at(it->second);
        }
      }
      return SocketPod{&pods_[ns->second], nullptr};
    }
  }
  for (const std::uint32_t owner : owners) {
    const auto it = by_pid_.find(scan.processes[owner].pid);
    if (it != by_pid_.end() && it->second.by_cgroup) {
      return at(it->second);
    }
  }
  return std::nullopt;
}

}  // namespace podnetstat::k8s
