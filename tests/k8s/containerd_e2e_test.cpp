// End to end against a real containerd (tests/support/containerd_harness.h): three pod sandboxes
// with kubelet-style cgroup parents (one hostNetwork), a container in one of them, sockets held by
// processes that really belong to the pods (the container's process, and helpers written into
// the pods' cgroups), then scanner::Scanner + PodMetadataCache (the product's CRI client) +
// PodIndex must attribute every socket to the right pod and container, leave the node's own
// socket without a pod, and drop a stopped sandbox at the next refresh.
// Skips when containerd cannot run here (and says why); fails instead when CI=true.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/cri_info.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/scan.h"

#include "containerd_harness.h"
#include "e2e_cri_client.h"
#include "e2e_pods.h"
#include "netns.h"

namespace podnetstat::k8s {
namespace {

using namespace std::chrono_literals;
using podnetstat::testing::ContainerdHarness;
using podnetstat::testing::E2eCriClient;
namespace e2ecri = ::podnetstat::e2e::cri;
using podnetstat::testing::Subprocess;
using scanner::Transport;

constexpr std::uint16_t kContainerPort = 18081;  // the container's listener; UDP on +1

using podnetstat::testing::Helper;
using podnetstat::testing::netnsOf;
using podnetstat::testing::newPodUid;
using podnetstat::testing::NodeListener;
using podnetstat::testing::onCi;
using podnetstat::testing::runSandbox;
using podnetstat::testing::TestPod;
using podnetstat::testing::threeTestPods;

struct Observation {
  std::shared_ptr<const PodMetadata> metadata;
  scanner::ScanResult scan;
  PodIndex index;

  /// The first socket of `transport` in namespace `netns` with this local port (and state).
  const scanner::Socket* find(std::uint64_t netns,
                              Transport transport,
                              std::uint16_t port,
                              std::optional<std::uint8_t> state = std::nullopt) const {
    for (const scanner::Socket& s : scan.sockets) {
      if (scan.namespaces[s.netns_index].inode == netns && s.transport == transport &&
          s.local.port == port && (!state || s.state == *state)) {
        return &s;
      }
    }
    return nullptr;
  }

  /// "<namespace>/<name>[/<container name>]" of a socket, or "-" without a pod.
  std::string owner(const scanner::Socket* s) const {
    if (s == nullptr) {
      return "(socket not found)";
    }
    const auto sp = index.ofSocket(*s, scan);
    if (!sp) {
      return "-";
    }
    std::string out = sp->pod->namespace_name.value_or("?") + "/" + sp->pod->name.value_or("?");
    if (sp->container != nullptr) {
      out += "/" + sp->container->name.value_or(sp->container->id);
    }
    return out;
  }
};

Observation observe(PodMetadataCache& cache) {
  Observation o;
  o.metadata = cache.refresh();
  const scanner::Scanner scanner(scanner::Roots{});
  scanner::ScanOptions options;
  options.all_netns = true;
  options.cgroups = true;
  auto scan = scanner.scan(options);
  if (!scan) {
    throw std::runtime_error("scan: " + scan.error().message);
  }
  o.scan = std::move(*scan);
  o.index = PodIndex::build(o.scan, *o.metadata, NodeFiles(scanner::Roots{}));
  return o;
}

TEST(ContainerdEndToEnd, EverySocketGetsItsPodAndContainer) {
  const auto started = std::chrono::steady_clock::now();
  if (const std::string reason = ContainerdHarness::skipReason(); !reason.empty()) {
    PODNETSTAT_SKIP_OR_FAIL(reason);
  }
  std::unique_ptr<ContainerdHarness> harness;
  try {
    harness = std::make_unique<ContainerdHarness>();
  } catch (const std::exception& e) {
    PODNETSTAT_SKIP_OR_FAIL(std::string("containerd cannot run here: ") + e.what());
  }
  E2eCriClient cri(harness->socketPath().string());
  harness->setCriCleanup(
      [socket = harness->socketPath().string()] { E2eCriClient(socket).removeAll(); });
  std::string why;
  ASSERT_TRUE(cri.waitReady(30s, &why)) << why << "\n" << harness->log();

  // Three pods with kubelet-style cgroup parents under the harness's cgroup root.
  const std::string root = harness->cgroupRoot();
  std::vector<TestPod> pods = threeTestPods(root, "e2e-apps", "e2e-system");
  for (TestPod& pod : pods) {
    runSandbox(cri, pod);
  }
  TestPod& web = pods[0];
  TestPod& db = pods[1];
  TestPod& hostnet = pods[2];
  ASSERT_EQ(hostnet.netns, podnetstat::testing::hostNetnsInode());
  ASSERT_NE(web.netns, hostnet.netns);

  // A container in web-0 running the listener.
  const std::string container_id =
      cri.createContainer(web.sandbox_id, web.config, "server", harness->imageRef(),
                          {"/listener", std::to_string(kContainerPort)});
  cri.startContainer(container_id);
  const auto container_status = cri.containerStatus(container_id);
  const auto container_info =
      parseContainerVerboseInfo({container_status.info().begin(), container_status.info().end()});
  ASSERT_TRUE(container_info.ok()) << container_info.error().message;
  const int container_pid = container_info->pid;
  ASSERT_GT(container_pid, 0);

  // Helpers in the pods' cgroups, and a socket of the node itself.
  Helper web_helper(*harness, web);
  Helper db_helper(*harness, db);
  Helper host_helper(*harness, hostnet);
  const NodeListener node;

  // The product's side: its CRI client on the harness's socket, the cache, a scan, the index.
  auto client = makeCriClient({.endpoint = harness->socketPath().string()});
  ASSERT_TRUE(client.ok()) << client.error().message;
  PodMetadataCache cache(PodMetadataSources{std::move(*client), nullptr, {}});

  constexpr auto kListen = static_cast<std::uint8_t>(scanner::TcpState::Listen);
  Observation o = observe(cache);
  // The container's listener may still be starting.
  for (int i = 0; i < 50 && o.find(web.netns, Transport::Tcp, kContainerPort, kListen) == nullptr;
       ++i) {
    std::this_thread::sleep_for(100ms);
    o = observe(cache);
  }
  ASSERT_TRUE(o.metadata->cri.ok) << o.metadata->cri.error;
  EXPECT_EQ(o.metadata->cri.endpoint, "unix://" + harness->socketPath().string());
  EXPECT_NE(o.metadata->cri.detail.find("containerd"), std::string::npos) << o.metadata->cri.detail;

  // Pods: names from CRI, network namespaces, hostNetwork.
  for (const TestPod& pod : pods) {
    const Pod* p = o.index.byName(pod.namespace_name, pod.name);
    ASSERT_NE(p, nullptr) << pod.name;
    EXPECT_EQ(p->uid, pod.uid);
    EXPECT_EQ(p->sandbox_id, pod.sandbox_id);
    EXPECT_EQ(p->host_network, pod.host_network) << pod.name;
    EXPECT_NE(std::ranges::find(p->pids, pod.pid), p->pids.end()) << pod.name;
    if (pod.host_network) {
      EXPECT_FALSE(p->netns_inode.has_value());
      EXPECT_EQ(o.index.ofNetns(pod.netns), nullptr);
    } else {
      EXPECT_EQ(p->netns_inode, pod.netns) << pod.name;
      EXPECT_EQ(o.index.ofNetns(pod.netns), p);
      EXPECT_FALSE(p->ips.empty()) << pod.name;
    }
    EXPECT_EQ(p->labels.at("app"), pod.name);
  }
  EXPECT_EQ(o.index.byUid(web.uid), o.index.byName("e2e-apps", "web-0"));
  EXPECT_EQ(o.index.inNamespace("e2e-apps").size(), 2U);

  // The container's sockets: listener, both ends of its loopback connection, UDP.
  constexpr auto kEstablished = static_cast<std::uint8_t>(scanner::TcpState::Established);
  EXPECT_EQ(o.owner(o.find(web.netns, Transport::Tcp, kContainerPort, kListen)),
            "e2e-apps/web-0/server");
  EXPECT_EQ(o.owner(o.find(web.netns, Transport::Tcp, kContainerPort, kEstablished)),
            "e2e-apps/web-0/server");
  EXPECT_EQ(o.owner(o.find(web.netns, Transport::Udp, kContainerPort + 1)),
            "e2e-apps/web-0/server");
  const Pod* web_pod = o.index.byUid(web.uid);
  ASSERT_NE(web_pod, nullptr);
  const auto container = std::ranges::find(web_pod->containers, container_id, &PodContainer::id);
  ASSERT_NE(container, web_pod->containers.end());
  EXPECT_EQ(container->name, "server");
  EXPECT_NE(std::ranges::find(container->pids, container_pid), container->pids.end());
  const auto by_pid = o.index.ofPid(container_pid);
  ASSERT_TRUE(by_pid.has_value());
  EXPECT_EQ(by_pid->container, &*container);

  // Helpers: pod-level processes (no container) of web-0 and db-0, inside their namespaces.
  EXPECT_EQ(o.owner(o.find(web.netns, Transport::Tcp, web_helper.tcp_port, kListen)),
            "e2e-apps/web-0");
  EXPECT_EQ(o.owner(o.find(web.netns, Transport::Udp, web_helper.udp_port)), "e2e-apps/web-0");
  EXPECT_EQ(o.owner(o.find(db.netns, Transport::Tcp, db_helper.tcp_port, kListen)),
            "e2e-apps/db-0");
  EXPECT_EQ(o.owner(o.find(db.netns, Transport::Tcp, db_helper.tcp_port, kEstablished)),
            "e2e-apps/db-0");

  // hostNetwork: the helper's sockets are in the host namespace; its cgroup names the pod.
  EXPECT_EQ(o.owner(o.find(hostnet.netns, Transport::Tcp, host_helper.tcp_port, kListen)),
            "e2e-system/hostnet-0");
  EXPECT_EQ(o.owner(o.find(hostnet.netns, Transport::Udp, host_helper.udp_port)),
            "e2e-system/hostnet-0");
  // The node's own socket has no pod.
  EXPECT_EQ(o.owner(o.find(hostnet.netns, Transport::Tcp, node.port, kListen)), "-");

  // Every socket of a pod's namespace is that pod's, and only those and the hostNetwork
  // helper's are attributed at all (this machine may run other pods, but not in our cgroups).
  for (const scanner::Socket& s : o.scan.sockets) {
    const std::uint64_t netns = o.scan.namespaces[s.netns_index].inode;
    const auto sp = o.index.ofSocket(s, o.scan);
    if (netns == web.netns || netns == db.netns) {
      ASSERT_TRUE(sp.has_value());
      EXPECT_EQ(sp->pod->uid, netns == web.netns ? web.uid : db.uid);
    } else if (sp && (sp->pod->uid == web.uid || sp->pod->uid == db.uid)) {
      ADD_FAILURE() << "a socket outside the pods' namespaces attributed to " << sp->pod->uid;
    }
  }

  // Stopping db-0's sandbox: gone after the next refresh; the others stay.
  db_helper.process->stop();
  cri.stopPodSandbox(db.sandbox_id);
  const Observation after = observe(cache);
  EXPECT_EQ(after.index.byUid(db.uid), nullptr);
  EXPECT_EQ(after.index.byName("e2e-apps", "db-0"), nullptr);
  EXPECT_EQ(after.index.ofNetns(db.netns), nullptr);
  EXPECT_NE(after.index.byUid(web.uid), nullptr);
  EXPECT_NE(after.index.byUid(hostnet.uid), nullptr);

  std::cout << "[          ] containerd end-to-end: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - started)
                   .count()
            << " ms before teardown\n";
}

}  // namespace
}  // namespace podnetstat::k8s
