// PodIndex over hand-made scans: the metadata comes from fake sources through the same merge the
// cache uses, the cgroups as a scan reads them (ScanOptions::cgroups), runtime netns paths under
// a scratch root (NodeFiles).

#include "podnetstat/k8s/pod_index.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "podnetstat/k8s/pod_metadata.h"

#include "netns.h"

namespace podnetstat::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr const char* kUidA = "5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab";
constexpr const char* kUidB = "0b1e8c6d-3f2a-4d5e-9c7b-6a5f4e3d2c1b";
constexpr const char* kUidHost = "d4c3b2a1-1111-4222-8333-944455566677";
constexpr const char* kUidOrphan = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const std::string kSandboxA(64, 'a');
const std::string kSandboxB(64, 'b');
const std::string kSandboxHost(64, 'c');
const std::string kContainerA(64, '1');
const std::string kContainerB(64, '2');
const std::string kContainerHost(64, '3');
const std::string kContainerOrphan(64, '4');

constexpr std::uint64_t kHostNs = 4026531840;
constexpr std::uint64_t kNsA = 4026532001;
constexpr std::uint64_t kNsB = 4026532002;
constexpr std::uint64_t kNsOther = 4026532003;

/// A scan built by hand: namespaces with their PIDs, socket-owning processes, sockets.
class ScanBuilder {
 public:
  std::uint32_t addNamespace(std::uint64_t inode,
                             std::vector<std::int32_t> pids,
                             std::vector<std::string> names = {}) {
    scanner::NetNamespace ns;
    ns.inode = inode;
    ns.is_host = inode == kHostNs;
    ns.pids = std::move(pids);
    ns.names = std::move(names);
    scan_.namespaces.push_back(std::move(ns));
    return static_cast<std::uint32_t>(scan_.namespaces.size() - 1);
  }

  /// A TCP listener on `port` in namespace `ns`, held by `owners` (ascending).
  void addSocket(std::uint64_t ns_inode, std::uint16_t port, std::vector<std::int32_t> owners) {
    scanner::Socket s;
    s.local.port = port;
    s.state = static_cast<std::uint8_t>(scanner::TcpState::Listen);
    for (std::uint32_t i = 0; i < scan_.namespaces.size(); ++i) {
      if (scan_.namespaces[i].inode == ns_inode) {
        s.netns_index = i;
      }
    }
    s.owners_begin = static_cast<std::uint32_t>(scan_.owner_table.size());
    for (const std::int32_t pid : owners) {
      scan_.owner_table.push_back(processIndex(pid, ns_inode));
    }
    s.owners_count = static_cast<std::uint32_t>(owners.size());
    scan_.sockets.push_back(s);
  }

  const scanner::ScanResult& scan() const { return scan_; }

 private:
  std::uint32_t processIndex(std::int32_t pid, std::uint64_t ns) {
    for (std::uint32_t i = 0; i < scan_.processes.size(); ++i) {
      if (scan_.processes[i].pid == pid) {
        return i;
      }
    }
    scanner::Process p;
    p.pid = pid;
    p.netns_inode = ns;
    p.comm = "p" + std::to_string(pid);
    scan_.processes.push_back(p);
    return static_cast<std::uint32_t>(scan_.processes.size() - 1);
  }

  scanner::ScanResult scan_;
};

/// The cgroup files a scan read (ScanOptions::cgroups), and a scratch proc root for the rest.
class FakeProc {
 public:
  void cgroup(std::int32_t pid, const std::string& path) {
    cgroups_[pid] = "12:memory:" + path + "\n0::" + path + "\n";
  }

  /// `scan` with these cgroups, as a scan that read them gives it.
  scanner::ScanResult withCgroups(scanner::ScanResult scan) const {
    for (const auto& [pid, text] : cgroups_) {
      scan.cgroups.push_back({pid, text});
    }
    return scan;
  }

  NodeFiles node() const {
    return NodeFiles(scanner::Roots{dir_.path() / "proc", dir_.path() / "netns"});
  }

 private:
  std::map<std::int32_t, std::string> cgroups_;
  testing::ScratchDir dir_{"pns-podindex-"};
};

std::string podCgroup(const std::string& uid, const std::string& container) {
  return "/kubepods/besteffort/pod" + uid + "/" + container;
}

CriPod criPod(const std::string& uid,
              const std::string& ns,
              const std::string& name,
              const std::string& sandbox,
              std::int32_t pid) {
  CriPod p;
  p.uid = uid;
  p.namespace_name = ns;
  p.name = name;
  p.sandbox_id = sandbox;
  p.pid = pid;
  return p;
}

CriContainer criContainer(const std::string& id, const std::string& name, std::int32_t pid) {
  CriContainer c;
  c.id = id;
  c.name = name;
  c.pid = pid;
  c.state = CriContainerState::Running;
  return c;
}

/// The usual node: pod A (pod network, a container), pod B (pod network), a hostNetwork pod, a
/// node daemon; sockets in each.
struct Node {
  ScanBuilder scan;
  FakeProc proc;
  CriSnapshot cri;

  Node() {
    scan.addNamespace(kHostNs, {1, 50, 300, 301});
    scan.addNamespace(kNsA, {100, 101}, {"cni-aaaa"});
    scan.addNamespace(kNsB, {200, 201});
    scan.addSocket(kHostNs, 22, {50});     // sshd of the node
    scan.addSocket(kNsA, 8080, {101});     // A's container
    scan.addSocket(kNsB, 5432, {201});     // B's container
    scan.addSocket(kHostNs, 9100, {301});  // hostNetwork pod's container
    scan.addSocket(kNsA, 9999, {});        // no owner (TIME_WAIT-like)

    proc.cgroup(1, "/");
    proc.cgroup(50, "/system.slice/sshd.service");
    proc.cgroup(100, podCgroup(kUidA, kSandboxA));
    proc.cgroup(101, podCgroup(kUidA, kContainerA));
    proc.cgroup(200, podCgroup(kUidB, kSandboxB));
    proc.cgroup(201, podCgroup(kUidB, kContainerB));
    proc.cgroup(300, podCgroup(kUidHost, kSandboxHost));
    proc.cgroup(301, podCgroup(kUidHost, kContainerHost));

    CriPod a = criPod(kUidA, "shop", "web-0", kSandboxA, 100);
    a.ips = {"10.244.1.7"};
    a.containers = {criContainer(kContainerA, "nginx", 101)};
    CriPod b = criPod(kUidB, "shop", "db-0", kSandboxB, 200);
    b.containers = {criContainer(kContainerB, "postgres", 201)};
    CriPod h = criPod(kUidHost, "kube-system", "kube-proxy-x", kSandboxHost, 300);
    h.host_network = true;
    h.containers = {criContainer(kContainerHost, "kube-proxy", 301)};
    cri.pods = {a, b, h};
  }

  PodIndex build(const PodList* kubelet = nullptr,
                 const std::vector<LogDirPod>* logs = nullptr) const {
    metadata = mergePodMetadata(&cri, kubelet, logs);
    return PodIndex::build(proc.withCgroups(scan.scan()), metadata, proc.node());
  }

  std::string ownerOf(const PodIndex& index, std::uint16_t port) const {
    for (const scanner::Socket& s : scan.scan().sockets) {
      if (s.local.port == port) {
        const auto sp = index.ofSocket(s, scan.scan());
        if (!sp) {
          return "-";
        }
        return sp->pod->name.value_or(sp->pod->uid) +
               (sp->container != nullptr ? "/" + sp->container->name.value_or(sp->container->id)
                                         : "");
      }
    }
    return "(no socket)";
  }

  mutable PodMetadata metadata;
};

TEST(PodIndex, PodNetworkSocketsBelongToTheSandboxNamespacesPod) {
  const Node node;
  const PodIndex index = node.build();
  EXPECT_EQ(node.ownerOf(index, 8080), "web-0/nginx");
  EXPECT_EQ(node.ownerOf(index, 5432), "db-0/postgres");
  EXPECT_EQ(node.ownerOf(index, 9999), "web-0");  // no owner, but in web-0's namespace
  ASSERT_NE(index.ofNetns(kNsA), nullptr);
  EXPECT_EQ(index.ofNetns(kNsA)->uid, kUidA);
  EXPECT_EQ(index.ofNetns(kHostNs), nullptr);
}

TEST(PodIndex, HostNetworkSocketsBelongToTheOwnersCgroupPod) {
  const Node node;
  const PodIndex index = node.build();
  EXPECT_EQ(node.ownerOf(index, 9100), "kube-proxy-x/kube-proxy");
  const Pod* pod = index.byName("kube-system", "kube-proxy-x");
  ASSERT_NE(pod, nullptr);
  EXPECT_TRUE(pod->host_network);
  EXPECT_FALSE(pod->netns_inode.has_value());
  EXPECT_THAT(pod->pids, ElementsAre(300, 301));
}

TEST(PodIndex, TheNodesOwnSocketsHaveNoPod) {
  const Node node;
  const PodIndex index = node.build();
  EXPECT_EQ(node.ownerOf(index, 22), "-");
  EXPECT_FALSE(index.ofPid(50).has_value());
}

TEST(PodIndex, ListsPodsWithNamespacePidsAndContainers) {
  const Node node;
  const PodIndex index = node.build();
  ASSERT_EQ(index.pods().size(), 3U);
  // Named pods sorted by namespace/name.
  EXPECT_EQ(index.pods()[0].name, "kube-proxy-x");
  EXPECT_EQ(index.pods()[1].name, "db-0");
  EXPECT_EQ(index.pods()[2].name, "web-0");
  const Pod* web = index.byUid(kUidA);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->netns_inode, kNsA);
  EXPECT_THAT(web->pids, ElementsAre(100, 101));
  EXPECT_THAT(web->ips, ElementsAre("10.244.1.7"));
  EXPECT_EQ(web->sandbox_id, kSandboxA);
  ASSERT_EQ(web->containers.size(), 1U);  // the sandbox is no container
  EXPECT_EQ(web->containers[0].id, kContainerA);
  EXPECT_EQ(web->containers[0].name, "nginx");
  EXPECT_THAT(web->containers[0].pids, ElementsAre(101));
  EXPECT_EQ(web->sources, kSourceCri | kSourceCgroup);
  EXPECT_EQ(index.inNamespace("shop").size(), 2U);
  EXPECT_EQ(index.byName("shop", "web-0"), web);
  EXPECT_EQ(index.byUid(std::string(kUidA).replace(8, 1, "_")), web);  // systemd spelling
}

TEST(PodIndex, PidLookupGivesPodAndContainer) {
  const Node node;
  const PodIndex index = node.build();
  const auto sp = index.ofPid(101);
  ASSERT_TRUE(sp.has_value());
  EXPECT_EQ(sp->pod->uid, kUidA);
  ASSERT_NE(sp->container, nullptr);
  EXPECT_EQ(sp->container->id, kContainerA);
  const auto pause = index.ofPid(100);
  ASSERT_TRUE(pause.has_value());
  EXPECT_EQ(pause->container, nullptr);
}

TEST(PodIndex, WithoutAnySourceCgroupsGiveUidOnlyPods) {
  Node node;
  node.cri.pods.clear();
  const PodIndex index = node.build();
  ASSERT_EQ(index.pods().size(), 3U);
  const Pod* web = index.byUid(kUidA);
  ASSERT_NE(web, nullptr);
  EXPECT_FALSE(web->name.has_value());
  EXPECT_FALSE(web->namespace_name.has_value());
  EXPECT_EQ(web->sources, kSourceCgroup);
  // The namespace whose processes all sit in one pod is that pod's.
  EXPECT_EQ(web->netns_inode, kNsA);
  EXPECT_EQ(node.ownerOf(index, 8080), kUidA + std::string("/") + kContainerA);
  EXPECT_EQ(node.ownerOf(index, 9100), kUidHost + std::string("/") + kContainerHost);
  EXPECT_EQ(index.unknownPodCount(), 3U);
  // uid-only pods come after named ones, by uid: here all are uid-only.
  EXPECT_EQ(index.pods()[0].uid, kUidB);
}

TEST(PodIndex, LogDirsNameCgroupOnlyPods) {
  Node node;
  node.cri.pods.clear();
  const std::vector<LogDirPod> logs = {{"shop", "web-0", kUidA}};
  const PodIndex index = node.build(nullptr, &logs);
  const Pod* web = index.byUid(kUidA);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->name, "web-0");
  EXPECT_EQ(web->namespace_name, "shop");
  EXPECT_EQ(index.unknownPodCount(), 2U);
}

TEST(PodIndex, KubeletGivesNamesLabelsOwnersAndDeclaredPorts) {
  const Node node;
  PodList kubelet;
  PodInfo info;
  info.uid = kUidA;
  info.runtime_uid = kUidA;
  info.namespace_name = "shop";
  info.name = "web-0";
  info.labels = {{"app", "web"}};
  info.owners = {{"StatefulSet", "web", "1234", true}};
  info.phase = "Running";
  info.pod_ips = {"10.244.1.7", "fd00::7"};
  ContainerInfo c;
  c.name = "nginx";
  c.id = kContainerA;
  c.runtime = "containerd";
  c.ports = {{"http", 8080, "TCP", 0, ""}};
  info.containers = {c};
  kubelet.pods = {info};
  const PodIndex index = node.build(&kubelet);
  const Pod* web = index.byUid(kUidA);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->labels.at("app"), "web");
  ASSERT_EQ(web->owners.size(), 1U);
  EXPECT_EQ(web->owners[0].kind, "StatefulSet");
  EXPECT_THAT(web->ips, ElementsAre("10.244.1.7", "fd00::7"));
  ASSERT_EQ(web->containers.size(), 1U);
  ASSERT_EQ(web->containers[0].ports.size(), 1U);
  EXPECT_EQ(web->containers[0].ports[0].container_port, 8080);
  EXPECT_THAT(web->containers[0].pids, ElementsAre(101));
  EXPECT_EQ(web->sources, kSourceCri | kSourceKubelet | kSourceCgroup);
}

/// The kubelet's PodList with one pod of namespace "shop".
PodList kubeletPod(const std::string& uid,
                   const std::string& name,
                   const std::string& phase,
                   std::vector<ContainerInfo> containers = {}) {
  PodInfo info;
  info.uid = info.runtime_uid = uid;
  info.namespace_name = "shop";
  info.name = name;
  info.phase = phase;
  info.containers = std::move(containers);
  PodList kubelet;
  kubelet.pods = {info};
  return kubelet;
}

/// What the kubelet says of pod A while it is new: its spec container, no ID yet.
PodList newPodAFromTheKubelet() {
  ContainerInfo c;
  c.name = "nginx";
  return kubeletPod(kUidA, "web-0", "Pending", {c});
}

TEST(PodIndex, ANewPodsSandboxAndContainerTheRuntimeDoesNotListYetAreNoExtraContainers) {
  // The runtime's last answer predates the pod (its sandbox was not READY yet): the kubelet
  // knows its container by name only, the cgroups name the pause and the container by ID.
  Node node;
  node.cri.pods.erase(node.cri.pods.begin());
  const PodList kubelet = newPodAFromTheKubelet();
  const PodIndex index = node.build(&kubelet);
  const Pod* web = index.byUid(kUidA);
  ASSERT_NE(web, nullptr);
  ASSERT_EQ(web->containers.size(), 1U) << "neither the pause nor the unnamed container";
  EXPECT_EQ(web->containers[0].name, "nginx");
  EXPECT_EQ(web->containers[0].id, "");
  EXPECT_THAT(web->pids, ElementsAre(100, 101));
  const auto sp = index.ofPid(101);
  ASSERT_TRUE(sp.has_value());
  EXPECT_EQ(sp->pod, web);
  EXPECT_EQ(sp->container, nullptr);
  EXPECT_EQ(index.stats().unknown_containers, 2U);
}

TEST(PodIndex, AContainerStartedSinceTheRuntimesLastAnswerIsNoUnnamedContainer) {
  Node node;
  node.cri.pods[0].containers.clear();  // the sandbox is READY, its container not listed yet
  const PodList kubelet = newPodAFromTheKubelet();
  const PodIndex index = node.build(&kubelet);
  const Pod* web = index.byUid(kUidA);
  ASSERT_NE(web, nullptr);
  ASSERT_EQ(web->containers.size(), 1U);
  EXPECT_EQ(web->containers[0].name, "nginx");
  EXPECT_EQ(node.ownerOf(index, 8080), "web-0");
  EXPECT_EQ(index.stats().unknown_containers, 1U);
}

TEST(PodIndex, ANewPodsContainerNamedByTheKubeletWithoutIdIsTheRuntimesOne) {
  Node node;
  const PodList kubelet = newPodAFromTheKubelet();
  const PodIndex index = node.build(&kubelet);
  const Pod* web = index.byUid(kUidA);
  ASSERT_NE(web, nullptr);
  ASSERT_EQ(web->containers.size(), 1U) << "not once without its ID and once with";
  EXPECT_EQ(web->containers[0].id, kContainerA);
  EXPECT_EQ(web->containers[0].name, "nginx");
  EXPECT_THAT(web->containers[0].pids, ElementsAre(101));
  EXPECT_EQ(index.stats().unknown_containers, 0U);
}

TEST(PodIndex, KubeletPodsOfFinishedPhasesAreNotListed) {
  Node node;
  PodList kubelet;
  PodInfo done;
  done.uid = done.runtime_uid = kUidOrphan;
  done.namespace_name = "batch";
  done.name = "job-x";
  done.phase = "Succeeded";
  PodInfo pending = done;
  pending.uid = pending.runtime_uid = "12345678-1234-4234-8234-123456789012";
  pending.name = "job-y";
  pending.phase = "Pending";
  kubelet.pods = {done, pending};
  const PodIndex index = node.build(&kubelet);
  EXPECT_EQ(index.byName("batch", "job-x"), nullptr);
  const Pod* waiting = index.byName("batch", "job-y");
  ASSERT_NE(waiting, nullptr);
  EXPECT_FALSE(waiting->netns_inode.has_value());
  EXPECT_THAT(waiting->pids, IsEmpty());
}

TEST(PodIndex, DeadSandboxesAreDropped) {
  Node node;
  // A READY sandbox whose pause process is gone and whose netns file does not exist.
  CriPod gone = criPod(kUidOrphan, "shop", "gone-0", std::string(64, 'd'), 4242);
  gone.netns_path = "/var/run/netns/cni-gone";
  node.cri.pods.push_back(gone);
  const PodIndex index = node.build();
  EXPECT_EQ(index.byUid(kUidOrphan), nullptr);
  EXPECT_EQ(index.stats().dead_sandboxes, 1U);
}

TEST(PodIndex, APodDeletedSinceTheKubeletsLastAnswerGoesWithItsSandbox) {
  // The kubelet's last answer still has gone-0 Running; the runtime's sandbox of it is gone.
  Node node;
  CriPod gone = criPod(kUidOrphan, "shop", "gone-0", std::string(64, 'd'), 4242);
  gone.netns_path = "/var/run/netns/cni-gone";
  node.cri.pods.push_back(gone);
  const PodList kubelet = kubeletPod(kUidOrphan, "gone-0", "Running");
  const PodIndex index = node.build(&kubelet);
  EXPECT_EQ(index.byUid(kUidOrphan), nullptr);
  // Without the runtime's word the kubelet's still counts.
  node.cri.pods.pop_back();
  EXPECT_NE(node.build(&kubelet).byUid(kUidOrphan), nullptr);
}

TEST(PodIndex, CriOSandboxWithoutPidUsesTheNetnsPath) {
  Node node;
  node.cri.pods[0].pid = 0;  // drop_infra_ctr: no pause process
  node.cri.pods[0].netns_path = "/var/run/netns/cni-aaaa";
  node.cri.pods[0].containers[0].pid = 0;
  const PodIndex index = node.build();
  ASSERT_NE(index.byUid(kUidA), nullptr);
  EXPECT_EQ(index.byUid(kUidA)->netns_inode, kNsA);
}

TEST(PodIndex, CriOSandboxWithoutPidOrPathUsesAContainerPid) {
  Node node;
  node.cri.pods[0].pid = 0;
  const PodIndex index = node.build();
  ASSERT_NE(index.byUid(kUidA), nullptr);
  EXPECT_EQ(index.byUid(kUidA)->netns_inode, kNsA);
}

TEST(PodIndex, NetnsPathOutsideTheScanIsStatted) {
  Node node;
  testing::ScratchDir files("pns-netns-");
  const auto path = files.path() / "cni-elsewhere";
  std::ofstream(path) << "";
  node.cri.pods[1].pid = 0;
  node.cri.pods[1].containers.clear();
  node.cri.pods[1].netns_path = path.string();
  const PodIndex index = node.build();
  ASSERT_NE(index.byUid(kUidB), nullptr);
  EXPECT_EQ(index.byUid(kUidB)->netns_inode, testing::inodeOf(path));
}

TEST(PodIndex, ContainerIdWithoutPodLevelIsFoundThroughTheMetadata) {
  Node node;
  // A reader in a private cgroup namespace sees only the container leaf.
  node.proc.cgroup(301, "/../cri-containerd-" + kContainerHost + ".scope");
  const PodIndex index = node.build();
  EXPECT_EQ(node.ownerOf(index, 9100), "kube-proxy-x/kube-proxy");
}

TEST(PodIndex, NamespaceOfSeveralPodsIsNobodys) {
  Node node;
  node.cri.pods.clear();
  node.scan.addNamespace(kNsOther, {400, 401});
  node.proc.cgroup(400, podCgroup(kUidA, kContainerOrphan));
  node.proc.cgroup(401, podCgroup(kUidB, kContainerOrphan));
  const PodIndex index = node.build();
  EXPECT_EQ(index.ofNetns(kNsOther), nullptr);
}

TEST(PodIndex, VanishedProcessesAreCounted) {
  Node node;
  node.scan.addNamespace(kNsOther, {500});  // no cgroup file: exited since the scan
  const PodIndex index = node.build();
  EXPECT_EQ(index.stats().cgroups_missing, 1U);
  // Only socket owners (50, 101, 201, 301) and processes outside the host namespace (100, 200)
  // are read: not PID 1, not the hostNetwork sandbox's pause (300).
  EXPECT_EQ(index.stats().cgroups_read, 6U);
}

TEST(NodeFiles, MapsRuntimeNetnsPathsUnderTheRoots) {
  const testing::ScratchDir dir("pns-nodefiles-");
  std::filesystem::create_directories(dir.path() / "netns");
  std::filesystem::create_directories(dir.path() / "proc" / "42" / "ns");
  std::ofstream(dir.path() / "netns" / "cni-1") << "";
  std::ofstream(dir.path() / "proc" / "42" / "ns" / "net") << "";
  const NodeFiles node(scanner::Roots{dir.path() / "proc", dir.path() / "netns"});
  const auto named = testing::inodeOf(dir.path() / "netns" / "cni-1");
  EXPECT_EQ(node.netnsInodeOfPath("/var/run/netns/cni-1"), named);
  EXPECT_EQ(node.netnsInodeOfPath("/run/netns/cni-1"), named);
  EXPECT_EQ(node.netnsInodeOfPath("/proc/42/ns/net"),
            testing::inodeOf(dir.path() / "proc" / "42" / "ns" / "net"));
  EXPECT_EQ(node.netnsInodeOfPid(42), node.netnsInodeOfPath("/proc/42/ns/net"));
  EXPECT_FALSE(node.netnsInodeOfPath("/var/run/netns/cni-2").has_value());
  EXPECT_FALSE(node.netnsInodeOfPid(43).has_value());
  EXPECT_FALSE(node.netnsInodeOfPid(0).has_value());
}

TEST(PodIndex, EmptyIndexKnowsNothing) {
  const PodIndex index;
  EXPECT_THAT(index.pods(), IsEmpty());
  EXPECT_EQ(index.byUid(kUidA), nullptr);
  EXPECT_FALSE(index.ofPid(1).has_value());
}

}  // namespace
}  // namespace podnetstat::k8s
