// The pod side of the API over a hand-made snapshot: a scan built by hand, metadata from a fake
// CRI answer (through the cache's merge), cgroups as the scan reads them, and the PodIndex
// built from them as the agent does per scan. Checks the `pod` of sockets and namespaces, the pod
// lists, the per-pod socket lists, the namespace/pod filters, the table's Pod column, the metrics'
// pod labels and the source health.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_handler.h"
#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"

#include "netns.h"

namespace podnetstat::agent {
namespace {

using nlohmann::json;
using scanner::Transport;

constexpr std::uint64_t kHostNs = 4026531840;
constexpr std::uint64_t kNsA = 4026532001;
constexpr const char* kUidA = "5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab";
constexpr const char* kUidHost = "d4c3b2a1-1111-4222-8333-944455566677";
constexpr const char* kUidOrphan = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const std::string kSandboxA(64, 'a');
const std::string kSandboxHost(64, 'c');
const std::string kContainerA(64, '1');
const std::string kContainerHost(64, '3');
const std::string kContainerOrphan(64, '4');

std::string podCgroup(const std::string& uid, const std::string& container) {
  return "/kubepods/besteffort/pod" + uid + "/" + container;
}

/// Host namespace: the node's sshd (50), a hostNetwork pod's sandbox (300) and container (301),
/// a process of a pod no source knows (400). Namespace "cni-a": pod web-0's sandbox (100) and
/// container (101).
class PodApiTest : public ::testing::Test {
 protected:
  PodApiTest()
      : handler_(
            store_, metrics_, NodeInfo{"node-1", "6.1.0", scanner::Backend::Procfs}, {}, false) {
    scanner::NetNamespace host;
    host.inode = kHostNs;
    host.is_host = true;
    host.pids = {1, 50, 300, 301, 400};
    scanner::NetNamespace a;
    a.inode = kNsA;
    a.names = {"cni-a"};
    a.pids = {100, 101};
    scan_.namespaces = {host, a};
    addSocket(0, 22, 50);
    addSocket(0, 9100, 301);
    addSocket(0, 7000, 400);
    addSocket(1, 8080, 101);
    scan_.started_unix_ms = 1'700'000'000'123;
    scan_.duration_ms = 5;

    cgroup(1, "/");
    cgroup(50, "/system.slice/sshd.service");
    cgroup(100, podCgroup(kUidA, kSandboxA));
    cgroup(101, podCgroup(kUidA, kContainerA));
    cgroup(300, podCgroup(kUidHost, kSandboxHost));
    cgroup(301, podCgroup(kUidHost, kContainerHost));
    cgroup(400, podCgroup(kUidOrphan, kContainerOrphan));

    k8s::CriSnapshot cri;
    cri.endpoint = "unix:///run/containerd/containerd.sock";
    k8s::CriPod web;
    web.uid = kUidA;
    web.namespace_name = "shop";
    web.name = "web-0";
    web.sandbox_id = kSandboxA;
    web.pid = 100;
    web.ips = {"10.244.1.7"};
    k8s::CriContainer nginx;
    nginx.id = kContainerA;
    nginx.name = "nginx";
    nginx.pid = 101;
    nginx.state = k8s::CriContainerState::Running;
    web.containers = {nginx};
    k8s::CriPod proxy;
    proxy.uid = kUidHost;
    proxy.namespace_name = "kube-system";
    proxy.name = "kube-proxy-x";
    proxy.sandbox_id = kSandboxHost;
    proxy.pid = 300;
    proxy.host_network = true;
    k8s::CriContainer kp;
    kp.id = kContainerHost;
    kp.name = "kube-proxy";
    kp.pid = 301;
    kp.state = k8s::CriContainerState::Running;
    proxy.containers = {kp};
    cri.pods = {web, proxy};
    auto metadata =
        std::make_shared<k8s::PodMetadata>(k8s::mergePodMetadata(&cri, nullptr, nullptr));
    metadata->cri.enabled = true;
    metadata->cri.ok = true;
    metadata->cri.endpoint = cri.endpoint;
    metadata_ = metadata;
  }

  void addSocket(std::uint32_t ns, std::uint16_t port, std::int32_t pid) {
    scanner::Socket s;
    s.transport = Transport::Tcp;
    s.local = {*scanner::IpAddress::parse("0.0.0.0"), port};
    s.remote = {*scanner::IpAddress::parse("0.0.0.0"), 0};
    s.state = static_cast<std::uint8_t>(scanner::TcpState::Listen);
    s.inode = 1000 + port;
    s.netns_index = ns;
    s.ref_count = 1;
    scanner::Process p;
    p.pid = pid;
    p.netns_inode = scan_.namespaces[ns].inode;
    p.comm = "p" + std::to_string(pid);
    scan_.processes.push_back(p);
    s.owners_begin = static_cast<std::uint32_t>(scan_.owner_table.size());
    s.owners_count = 1;
    scan_.owner_table.push_back(static_cast<std::uint32_t>(scan_.processes.size() - 1));
    scan_.sockets.push_back(s);
  }

  /// The cgroup file of `pid`, as the scan read it.
  void cgroup(std::int32_t pid, const std::string& path) {
    scan_.cgroups.push_back({pid, "0::" + path + "\n"});
  }

  void publish() {
    PodAttribution pods;
    pods.metadata = metadata_;
    pods.index = k8s::PodIndex::build(
        scan_, *metadata_,
        k8s::NodeFiles(scanner::Roots{dir_.path() / "proc", dir_.path() / "netns"}));
    store_.publish(
        std::make_shared<const Snapshot>(scan_, "node-1", 1'700'000'000'500, std::move(pods)));
  }

  std::string get(const std::string& target, unsigned status = 200) {
    HttpResponse r = handler_({"GET", target});
    EXPECT_EQ(r.status, status) << target;
    if (!r.stream) {
      return r.body;
    }
    std::string out;
    while (r.stream->next(out)) {
    }
    return out;
  }

  json getJson(const std::string& target, unsigned status = 200) {
    return json::parse(get(target, status));
  }

  /// The local ports of a socket list's items.
  static std::vector<int> ports(const json& list) {
    std::vector<int> out;
    for (const json& s : list.at("items")) {
      out.push_back(s.at("local").at("port").get<int>());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static const json& byPort(const json& list, int port) {
    for (const json& s : list.at("items")) {
      if (s.at("local").at("port") == port) {
        return s;
      }
    }
    static const json kNone;
    return kNone;
  }

  testing::ScratchDir dir_{"pns-podapi-"};
  scanner::ScanResult scan_;
  std::shared_ptr<const k8s::PodMetadata> metadata_;
  SnapshotStore store_;
  ScanMetrics metrics_;
  ApiHandler handler_;
};

TEST_F(PodApiTest, EverySocketCarriesItsPodAndContainer) {
  publish();
  const json list = getJson("/api/v1/sockets");
  EXPECT_TRUE(byPort(list, 22).at("pod").is_null());
  EXPECT_EQ(byPort(list, 8080).at("pod"),
            json::parse(R"({"namespace":"shop","name":"web-0","uid":")" + std::string(kUidA) +
                        R"(","container":{"id":")" + kContainerA + R"(","name":"nginx"}})"));
  const json& proxy = byPort(list, 9100).at("pod");
  EXPECT_EQ(proxy.at("name"), "kube-proxy-x");
  EXPECT_EQ(proxy.at("container").at("name"), "kube-proxy");
  // Known only from its cgroup: the uid, null names; the container by its id only.
  const json& orphan = byPort(list, 7000).at("pod");
  EXPECT_EQ(orphan.at("uid"), kUidOrphan);
  EXPECT_TRUE(orphan.at("namespace").is_null());
  EXPECT_TRUE(orphan.at("name").is_null());
  EXPECT_EQ(orphan.at("container").at("id"), kContainerOrphan);
  EXPECT_TRUE(orphan.at("container").at("name").is_null());
}

TEST_F(PodApiTest, PodListsHaveTheDesignShape) {
  publish();
  const json pods = getJson("/api/v1/pods");
  ASSERT_EQ(pods.at("items").size(), 3U) << pods.dump();
  EXPECT_EQ(pods.at("node"), "node-1");
  const json* web = nullptr;
  for (const json& p : pods.at("items")) {
    if (p.at("uid") == kUidA) {
      web = &p;
    }
    if (p.at("uid") == kUidHost) {
      EXPECT_EQ(p.at("hostNetwork"), true);
      EXPECT_TRUE(p.at("netns").is_null());
    }
    if (p.at("uid") == kUidOrphan) {
      EXPECT_TRUE(p.at("name").is_null());
    }
  }
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->at("namespace"), "shop");
  EXPECT_EQ(web->at("name"), "web-0");
  EXPECT_EQ(web->at("hostNetwork"), false);
  EXPECT_EQ(web->at("ips"), json::parse(R"(["10.244.1.7"])"));
  EXPECT_EQ(web->at("netns"),
            json::parse(R"({"inode":4026532001,"name":"cni-a","names":["cni-a"]})"));
  EXPECT_EQ(web->at("containers"),
            json::parse(R"([{"id":")" + kContainerA + R"(","name":"nginx","pids":[101]}])"));
  EXPECT_EQ(web->at("sockets"), json::parse(R"({"total":1,"byState":{"LISTEN":1}})"));

  const json shop = getJson("/api/v1/namespaces/shop/pods");
  ASSERT_EQ(shop.at("items").size(), 1U);
  EXPECT_EQ(shop.at("items")[0].at("name"), "web-0");
  EXPECT_TRUE(getJson("/api/v1/namespaces/nowhere/pods").at("items").empty());
}

TEST_F(PodApiTest, PerPodSocketListsHoldExactlyThatPodsSockets) {
  publish();
  EXPECT_THAT(ports(getJson("/api/v1/namespaces/shop/pods/web-0/sockets")),
              ::testing::ElementsAre(8080));
  EXPECT_THAT(ports(getJson("/api/v1/namespaces/kube-system/pods/kube-proxy-x/sockets")),
              ::testing::ElementsAre(9100));
  EXPECT_THAT(ports(getJson(std::string("/api/v1/pods/") + kUidOrphan + "/sockets")),
              ::testing::ElementsAre(7000));
  EXPECT_THAT(ports(getJson(std::string("/api/v1/pods/") + kUidA + "/sockets")),
              ::testing::ElementsAre(8080));
  // The socket filters still apply.
  EXPECT_TRUE(
      getJson("/api/v1/namespaces/shop/pods/web-0/sockets?state=ESTABLISHED").at("items").empty());
  getJson("/api/v1/namespaces/shop/pods/nope/sockets", 404);
  getJson("/api/v1/pods/00000000-0000-4000-8000-000000000000/sockets", 404);
}

TEST_F(PodApiTest, NamespaceAndPodFiltersSelectPodSockets) {
  publish();
  EXPECT_THAT(ports(getJson("/api/v1/sockets?namespace=shop")), ::testing::ElementsAre(8080));
  EXPECT_THAT(ports(getJson("/api/v1/sockets?pod=kube-proxy-x")), ::testing::ElementsAre(9100));
  EXPECT_THAT(ports(getJson("/api/v1/sockets?namespace=shop&pod=kube-proxy-x")),
              ::testing::IsEmpty());
  EXPECT_THAT(ports(getJson("/api/v1/sockets?namespace=nowhere")), ::testing::IsEmpty());
}

TEST_F(PodApiTest, NetnsObjectsNameTheirPod) {
  publish();
  const json list = getJson("/api/v1/netns");
  for (const json& ns : list.at("items")) {
    if (ns.at("inode") == kNsA) {
      EXPECT_EQ(ns.at("pod").at("uid"), kUidA);
      EXPECT_EQ(ns.at("pod").at("name"), "web-0");
      EXPECT_TRUE(ns.at("pod").at("container").is_null());
    } else {
      EXPECT_TRUE(ns.at("pod").is_null());
    }
  }
}

TEST_F(PodApiTest, TheTableHasAPodColumn) {
  publish();
  const std::string table = get("/api/v1/sockets?format=table&transport=tcp");
  EXPECT_THAT(table, ::testing::HasSubstr("\nNetns      Pod                                  "));
  EXPECT_THAT(table, ::testing::HasSubstr("cni-a      shop/web-0 "));
  EXPECT_THAT(table, ::testing::HasSubstr(std::string("4026531840 ") + kUidOrphan + " tcp"));
  EXPECT_THAT(table, ::testing::HasSubstr("4026531840 -  "));
}

TEST_F(PodApiTest, MetricsCarryPodLabelsAndSourceHealth) {
  publish();
  metrics_.recordScan(store_.current()->snapshot().scan(), 0.01, 1'700'000'000'500);
  const std::string text = get("/metrics");
  EXPECT_THAT(
      text, ::testing::HasSubstr(R"(podnetstat_sockets{namespace="shop",pod="web-0",netns="cni-a",)"
                                 R"(transport="tcp",state="LISTEN"} 1)"));
  EXPECT_THAT(text,
              ::testing::HasSubstr(R"(podnetstat_sockets{namespace="",pod="",netns="4026531840",)"
                                   R"(transport="tcp",state="LISTEN"} 1)"));
  EXPECT_THAT(text, ::testing::HasSubstr(R"(podnetstat_source_up{source="cri"} 1)"));
  EXPECT_THAT(text, ::testing::HasSubstr(R"(podnetstat_source_up{source="kubelet"} 0)"));
  EXPECT_THAT(text, ::testing::HasSubstr(R"(podnetstat_source_up{source="cgroup"} 1)"));
}

TEST_F(PodApiTest, NodeReportsSourceHealth) {
  publish();
  k8s::PodMetadata metadata;
  metadata.cri.enabled = true;
  metadata.cri.ok = true;
  metadata.cri.endpoint = "unix:///run/containerd/containerd.sock";
  metadata.kubelet.enabled = true;
  metadata.kubelet.endpoint = "https://10.0.0.1:10250";
  metadata.kubelet.error = "401 Unauthorized: the token lacks nodes/proxy get";
  metadata.kubelet.last_attempt = std::chrono::system_clock::now();
  const json node = json::parse(nodeJson(NodeInfo{"node-1", "6.1.0", scanner::Backend::Procfs},
                                         &store_.current()->snapshot(), &metadata, metrics_));
  EXPECT_EQ(node.at("sources").at("cri"),
            json::parse(R"({"endpoint":"unix:///run/containerd/containerd.sock","ok":true,)"
                        R"("error":null})"));
  EXPECT_EQ(node.at("sources").at("kubelet").at("ok"), false);
  EXPECT_EQ(node.at("sources").at("kubelet").at("error"),
            "401 Unauthorized: the token lacks nodes/proxy get");
  EXPECT_EQ(node.at("sources").at("cgroup").at("ok"), true);
  EXPECT_EQ(node.at("sources").at("cgroup").at("endpoint"), "/proc");

  // Without pod sources (outside Kubernetes) the sources say so.
  const json bare = getJson("/api/v1/node");
  EXPECT_EQ(bare.at("sources").at("cri").at("ok"), false);
  EXPECT_EQ(bare.at("sources").at("cri").at("error"), "disabled");
}

}  // namespace
}  // namespace podnetstat::agent
