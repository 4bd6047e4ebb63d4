// /api/v1/listeners and the posture summaries over a hand-made snapshot: a scan built by hand,
// metadata from a kubelet PodList (real JSON shape) and a CRI answer merged as the cache merges
// them, cgroups as the scan reads them, and the PodIndex built from them as the agent does.
// Checks each listener's exposure, declared, hostPort and uid0, the filters (exposure, declared and
// the socket filters), the 400s, the pods' listener summaries, the metrics and the table.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_handler.h"
#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_list.h"
#include "podnetstat/k8s/pod_metadata.h"

#include "netns.h"

namespace podnetstat::agent {
namespace {

using nlohmann::json;
using scanner::Transport;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

constexpr std::uint64_t kHostNs = 4026531840;
constexpr std::uint64_t kNsA = 4026532001;
constexpr const char* kUidWeb = "5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab";
constexpr const char* kUidProxy = "d4c3b2a1-1111-4222-8333-944455566677";
constexpr const char* kUidOrphan = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee";
const std::string kSandboxWeb(64, 'a');
const std::string kSandboxProxy(64, 'c');
const std::string kContainerWeb(64, '1');
const std::string kContainerProxy(64, '3');
const std::string kContainerOrphan(64, '4');

/// The kubelet's /pods for web-0 (declares 8080/TCP with hostPort 30080) and kube-proxy-x
/// (hostNetwork, declares nothing); the orphan pod is unknown to it.
std::string kubeletPodList() {
  return R"({"kind":"PodList","apiVersion":"v1","metadata":{},"items":[
  {"metadata":{"name":"web-0","namespace":"shop","uid":")" +
         std::string(kUidWeb) + R"(","labels":{"app":"web"}},
   "spec":{"containers":[{"name":"nginx","image":"nginx:1.25",
     "ports":[{"name":"http","containerPort":8080,"hostPort":30080,"protocol":"TCP"}]}],
     "nodeName":"node-1"},
   "status":{"phase":"Running","hostIP":"10.0.0.1","podIP":"10.244.1.7",
     "podIPs":[{"ip":"10.244.1.7"}],"qosClass":"BestEffort",
     "containerStatuses":[{"name":"nginx","ready":true,"restartCount":0,
       "containerID":"containerd://)" +
         kContainerWeb + R"("}]}},
  {"metadata":{"name":"kube-proxy-x","namespace":"kube-system","uid":")" +
         kUidProxy + R"("},
   "spec":{"hostNetwork":true,"containers":[{"name":"kube-proxy","image":"kube-proxy:v1.30"}],
     "nodeName":"node-1"},
   "status":{"phase":"Running","hostIP":"10.0.0.1","podIP":"10.0.0.1",
     "containerStatuses":[{"name":"kube-proxy","containerID":"containerd://)" +
         kContainerProxy + R"("}]}}]})";
}

std::string podCgroup(const std::string& uid, const std::string& container) {
  return "/kubepods/besteffort/pod" + uid + "/" + container;
}

/// Host namespace: sshd (50, root) on 0.0.0.0:22; kube-proxy-x's container (301, root) on
/// 0.0.0.0:10256 and 127.0.0.1:10249; a process of a pod no source names (400, uid 1000) on
/// 0.0.0.0:7000. Namespace "cni-a" (web-0): nginx (101, root) on 0.0.0.0:8080 (declared) and
/// 127.0.0.1:9090, a worker (102, uid 101) on UDP 0.0.0.0:5353, a unix listener, plus an
/// established connection that is no listener.
class ListenersApiTest : public ::testing::Test {
 protected:
  ListenersApiTest()
      : handler_(
            store_, metrics_, NodeInfo{"node-1", "6.1.0", scanner::Backend::Procfs}, {}, false) {
    scanner::NetNamespace host;
    host.inode = kHostNs;
    host.is_host = true;
    host.pids = {1, 50, 300, 301, 400};
    scanner::NetNamespace a;
    a.inode = kNsA;
    a.names = {"cni-a"};
    a.pids = {100, 101, 102};
    scan_.namespaces = {host, a};
    process(50, 0, "sshd");
    process(301, 0, "kube-proxy");
    process(400, 1000, "orphan");
    process(101, 0, "nginx");
    process(102, 101, "worker");
    tcp(0, "0.0.0.0", 22, 50);
    tcp(0, "0.0.0.0", 10256, 301);
    tcp(0, "127.0.0.1", 10249, 301);
    tcp(0, "0.0.0.0", 7000, 400);
    tcp(1, "0.0.0.0", 8080, 101);
    tcp(1, "127.0.0.1", 9090, 101);
    scanner::Socket udp = socket(1, Transport::Udp, "0.0.0.0", 5353, 102);
    udp.state = static_cast<std::uint8_t>(scanner::TcpState::Close);
    scan_.sockets.push_back(udp);
    scanner::Socket connection = socket(1, Transport::Tcp, "10.244.1.7", 8080, 101);
    connection.remote = {*scanner::IpAddress::parse("10.244.2.9"), 41000};
    connection.state = static_cast<std::uint8_t>(scanner::TcpState::Established);
    connection.inode = 555;
    scan_.sockets.push_back(connection);
    scanner::Socket unix_listener = socket(1, Transport::Unix, "0.0.0.0", 0, 101);
    unix_listener.local = {};
    unix_listener.remote = {};
    unix_listener.unix_path = "/run/nginx.sock";
    unix_listener.unix_has_path = true;
    unix_listener.unix_type = 1;
    unix_listener.unix_flags = scanner::kUnixFlagAcceptCon;
    unix_listener.state = static_cast<std::uint8_t>(scanner::UnixState::Unconnected);
    unix_listener.inode = 77;
    scan_.sockets.push_back(unix_listener);
    scan_.started_unix_ms = 1'700'000'000'123;
    scan_.duration_ms = 5;

    cgroup(1, "/");
    cgroup(50, "/system.slice/sshd.service");
    cgroup(100, podCgroup(kUidWeb, kSandboxWeb));
    cgroup(101, podCgroup(kUidWeb, kContainerWeb));
    cgroup(102, podCgroup(kUidWeb, kContainerWeb));
    cgroup(300, podCgroup(kUidProxy, kSandboxProxy));
    cgroup(301, podCgroup(kUidProxy, kContainerProxy));
    cgroup(400, podCgroup(kUidOrphan, kContainerOrphan));

    k8s::CriSnapshot cri;
    cri.endpoint = "unix:///run/containerd/containerd.sock";
    k8s::CriPod web;
    web.uid = kUidWeb;
    web.namespace_name = "shop";
    web.name = "web-0";
    web.sandbox_id = kSandboxWeb;
    web.pid = 100;
    k8s::CriPod proxy;
    proxy.uid = kUidProxy;
    proxy.namespace_name = "kube-system";
    proxy.name = "kube-proxy-x";
    proxy.sandbox_id = kSandboxProxy;
    proxy.pid = 300;
    proxy.host_network = true;
    cri.pods = {web, proxy};
    auto kubelet = k8s::parsePodList(kubeletPodList());
    EXPECT_TRUE(kubelet.ok()) << kubelet.error().message;
    metadata_ = std::make_shared<k8s::PodMetadata>(k8s::mergePodMetadata(&cri, &*kubelet, nullptr));

    PodAttribution pods;
    pods.metadata = metadata_;
    pods.index = k8s::PodIndex::build(
        scan_, *metadata_,
        k8s::NodeFiles(scanner::Roots{dir_.path() / "proc", dir_.path() / "netns"}));
    store_.publish(
        std::make_shared<const Snapshot>(scan_, "node-1", 1'700'000'000'500, std::move(pods)));
  }

  void process(std::int32_t pid, std::uint32_t uid, const std::string& comm) {
    scanner::Process p;
    p.pid = pid;
    p.uid = uid;
    p.comm = comm;
    p.program = comm;
    scan_.processes.push_back(p);
  }

  scanner::Socket socket(std::uint32_t ns,
                         Transport transport,
                         const std::string& ip,
                         std::uint16_t port,
                         std::int32_t pid) {
    scanner::Socket s;
    s.transport = transport;
    s.local = {*scanner::IpAddress::parse(ip), port};
    s.remote = {*scanner::IpAddress::parse("0.0.0.0"), 0};
    s.state = static_cast<std::uint8_t>(scanner::TcpState::Listen);
    s.inode = 1000 + port + (transport == Transport::Udp ? 100000 : 0);
    s.netns_index = ns;
    s.ref_count = 1;
    for (std::uint32_t i = 0; i < scan_.processes.size(); ++i) {
      if (scan_.processes[i].pid == pid) {
        s.owners_begin = static_cast<std::uint32_t>(scan_.owner_table.size());
        s.owners_count = 1;
        scan_.owner_table.push_back(i);
        scan_.processes[i].netns_inode = scan_.namespaces[ns].inode;
      }
    }
    return s;
  }

  void tcp(std::uint32_t ns, const std::string& ip, std::uint16_t port, std::int32_t pid) {
    scan_.sockets.push_back(socket(ns, Transport::Tcp, ip, port, pid));
  }

  /// The cgroup file of `pid`, as the scan read it.
  void cgroup(std::int32_t pid, const std::string& path) {
    scan_.cgroups.push_back({pid, "0::" + path + "\n"});
  }

  std::string get(const std::string& target, unsigned status = 200) {
    HttpResponse r = handler_({"GET", target});
    EXPECT_EQ(r.status, status) << target << ": " << r.body;
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

  /// "transport/port" of a list's items (unix sockets: "unix/<path>").
  static std::multiset<std::string> keys(const json& list) {
    std::multiset<std::string> out;
    for (const json& l : list.at("items")) {
      const std::string transport = l.at("transport");
      out.insert(transport + "/" +
                 (transport == "unix" ? l.at("path").get<std::string>()
                                      : std::to_string(l.at("local").at("port").get<int>())));
    }
    return out;
  }

  static const json& find(const json& list, const std::string& key) {
    for (const json& l : list.at("items")) {
      const std::string transport = l.at("transport");
      if (transport + "/" +
              (transport == "unix" ? l.at("path").get<std::string>()
                                   : std::to_string(l.at("local").at("port").get<int>())) ==
          key) {
        return l;
      }
    }
    static const json kNone = json::object();
    ADD_FAILURE() << key << " not in " << list.dump();
    return kNone;
  }

  testing::ScratchDir dir_{"pns-listeners-"};
  scanner::ScanResult scan_;
  std::shared_ptr<const k8s::PodMetadata> metadata_;
  SnapshotStore store_;
  ScanMetrics metrics_;
  ApiHandler handler_;
};

TEST_F(ListenersApiTest, ListsExactlyTheListeningSocketsWithTheirPosture) {
  const json list = getJson("/api/v1/listeners");
  EXPECT_EQ(list.at("node"), "node-1");
  EXPECT_THAT(keys(list),
              UnorderedElementsAre("tcp/22", "tcp/10256", "tcp/10249", "tcp/7000", "tcp/8080",
                                   "tcp/9090", "udp/5353", "unix//run/nginx.sock"));

  const json& web = find(list, "tcp/8080");
  EXPECT_EQ(web.at("exposure"), "pod");
  EXPECT_EQ(web.at("exposureReason"), "pod network namespace, bound to 0.0.0.0 (all addresses)");
  EXPECT_EQ(web.at("declared"), true);
  EXPECT_EQ(web.at("hostPort"), 30080);
  EXPECT_EQ(web.at("uid0"), true);
  EXPECT_EQ(web.at("pod").at("name"), "web-0");
  EXPECT_EQ(web.at("pod").at("container").at("name"), "nginx");
  EXPECT_EQ(web.at("processes"), json::parse(R"([{"pid":101,"name":"nginx","program":"nginx"}])"));
  EXPECT_EQ(web.at("state"), "LISTEN");  // the socket object's own fields are all there

  const json& metrics_port = find(list, "tcp/9090");
  EXPECT_EQ(metrics_port.at("exposure"), "loopback");
  EXPECT_EQ(metrics_port.at("declared"), false);
  EXPECT_TRUE(metrics_port.at("hostPort").is_null());

  const json& mdns = find(list, "udp/5353");
  EXPECT_EQ(mdns.at("exposure"), "pod");
  EXPECT_EQ(mdns.at("declared"), false);
  EXPECT_EQ(mdns.at("uid0"), false);

  const json& unix_listener = find(list, "unix//run/nginx.sock");
  EXPECT_EQ(unix_listener.at("exposure"), "loopback");
  EXPECT_EQ(unix_listener.at("exposureReason"), "unix socket");
  EXPECT_TRUE(unix_listener.at("declared").is_null());

  const json& proxy = find(list, "tcp/10256");
  EXPECT_EQ(proxy.at("exposure"), "node");
  EXPECT_EQ(proxy.at("declared"), false);
  EXPECT_EQ(proxy.at("pod").at("name"), "kube-proxy-x");
  EXPECT_EQ(find(list, "tcp/10249").at("exposure"), "loopback");

  const json& sshd = find(list, "tcp/22");
  EXPECT_EQ(sshd.at("exposure"), "node");
  EXPECT_EQ(sshd.at("exposureReason"), "host network namespace, bound to 0.0.0.0 (all addresses)");
  EXPECT_TRUE(sshd.at("pod").is_null());
  EXPECT_TRUE(sshd.at("declared").is_null());

  // A pod the kubelet does not report: its spec is unknown, so declared is too.
  const json& orphan = find(list, "tcp/7000");
  EXPECT_EQ(orphan.at("pod").at("uid"), kUidOrphan);
  EXPECT_TRUE(orphan.at("declared").is_null());
  EXPECT_EQ(orphan.at("exposure"), "node");
  EXPECT_EQ(orphan.at("uid0"), false);
}

TEST_F(ListenersApiTest, ExposureAndDeclaredFilterAndCombineWithTheSocketFilters) {
  EXPECT_THAT(keys(getJson("/api/v1/listeners?exposure=node")),
              UnorderedElementsAre("tcp/22", "tcp/10256", "tcp/7000"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?exposure=loopback")),
              UnorderedElementsAre("tcp/10249", "tcp/9090", "unix//run/nginx.sock"));
  // What a posture tool asks: undeclared listeners reachable beyond loopback.
  EXPECT_THAT(keys(getJson("/api/v1/listeners?exposure=pod,node&declared=false")),
              UnorderedElementsAre("tcp/10256", "udp/5353"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?exposure=pod&exposure=node&declared=false")),
              UnorderedElementsAre("tcp/10256", "udp/5353"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?declared=false")),
              UnorderedElementsAre("tcp/10256", "tcp/10249", "tcp/9090", "udp/5353"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?declared=true")), UnorderedElementsAre("tcp/8080"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?namespace=shop&transport=tcp")),
              UnorderedElementsAre("tcp/8080", "tcp/9090"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?pod=kube-proxy-x&exposure=node")),
              UnorderedElementsAre("tcp/10256"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?netns=cni-a&transport=udp")),
              UnorderedElementsAre("udp/5353"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?port=22")), UnorderedElementsAre("tcp/22"));
  EXPECT_THAT(keys(getJson("/api/v1/listeners?pid=301")),
              UnorderedElementsAre("tcp/10256", "tcp/10249"));
  EXPECT_TRUE(getJson("/api/v1/listeners?netns=nowhere").at("items").empty());
  EXPECT_TRUE(getJson("/api/v1/listeners?listening=false").at("items").empty());
}

TEST_F(ListenersApiTest, BadValuesAre400NamingTheParameter) {
  const auto message = [&](const std::string& target) {
    return getJson(target, 400).at("error").at("message").get<std::string>();
  };
  EXPECT_THAT(message("/api/v1/listeners?exposure=cluster"), HasSubstr("parameter 'exposure'"));
  EXPECT_THAT(message("/api/v1/listeners?exposure=pod,"), HasSubstr("parameter 'exposure'"));
  EXPECT_THAT(message("/api/v1/listeners?exposure="), HasSubstr("parameter 'exposure'"));
  EXPECT_THAT(message("/api/v1/listeners?declared=maybe"), HasSubstr("parameter 'declared'"));
  EXPECT_THAT(message("/api/v1/listeners?declared=true&declared=false"),
              HasSubstr("parameter 'declared'"));
  EXPECT_THAT(message("/api/v1/listeners?transport=sctp"), HasSubstr("parameter 'transport'"));
  const std::string unknown = message("/api/v1/listeners?reachable=yes");
  EXPECT_THAT(unknown, HasSubstr("unknown parameter 'reachable'"));
  EXPECT_THAT(unknown, HasSubstr("exposure, declared"));
  // The socket lists do not take the listener parameters.
  EXPECT_THAT(getJson("/api/v1/sockets?exposure=pod", 400).at("error").at("message"),
              HasSubstr("unknown parameter 'exposure'"));
}

TEST_F(ListenersApiTest, PodsSummariseTheirListeners) {
  const json pods = getJson("/api/v1/pods");
  std::map<std::string, json> by_uid;
  for (const json& p : pods.at("items")) {
    by_uid[p.at("uid")] = p.at("listeners");
  }
  EXPECT_EQ(by_uid[kUidWeb], json::parse(R"({"byExposure":{"loopback":2,"pod":2,"node":0},)"
                                         R"("undeclared":2})"));
  EXPECT_EQ(by_uid[kUidProxy], json::parse(R"({"byExposure":{"loopback":1,"pod":0,"node":1},)"
                                           R"("undeclared":2})"));
  EXPECT_EQ(by_uid[kUidOrphan], json::parse(R"({"byExposure":{"loopback":0,"pod":0,"node":1},)"
                                            R"("undeclared":null})"));
}

TEST_F(ListenersApiTest, MetricsCountListenersByExposureAndUndeclaredByPod) {
  const std::string text = get("/metrics");
  EXPECT_THAT(text, HasSubstr("# TYPE podnetstat_listeners gauge\n"));
  EXPECT_THAT(text,
              HasSubstr(R"(podnetstat_listeners{namespace="shop",pod="web-0",exposure="pod"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(R"(podnetstat_listeners{namespace="shop",pod="web-0",exposure="loopback"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(podnetstat_listeners{namespace="",pod="",exposure="node"} 1)"));
  EXPECT_THAT(text, HasSubstr(std::string(R"(podnetstat_listeners{namespace="",pod=")") +
                              kUidOrphan + R"(",exposure="node"} 1)"));
  EXPECT_THAT(text, Not(HasSubstr(R"(pod="web-0",exposure="node")")));
  EXPECT_THAT(text, HasSubstr("# TYPE podnetstat_undeclared_listeners gauge\n"));
  EXPECT_THAT(text,
              HasSubstr(R"(podnetstat_undeclared_listeners{namespace="shop",pod="web-0"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(podnetstat_undeclared_listeners{namespace="kube-system",pod="kube-proxy-x"} 2)"));
  // No spec, no undeclared count: unknown is not zero.
  EXPECT_THAT(text, Not(HasSubstr(std::string("podnetstat_undeclared_listeners{namespace=\"\","
                                              "pod=\"") +
                                  kUidOrphan)));
}

TEST_F(ListenersApiTest, TheTableHasOneAlignedRowPerListener) {
  const std::string table = get("/api/v1/listeners?format=table&exposure=pod,node&declared=false");
  std::vector<std::string> lines;
  std::istringstream in(table);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  ASSERT_EQ(lines.size(), 3U) << table;
  EXPECT_THAT(lines[0], ::testing::StartsWith("Netns "));
  const auto column = lines[0].find("Exposure");
  ASSERT_NE(column, std::string::npos);
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_TRUE(lines[i].compare(column, 4, "pod ") == 0 ||
                lines[i].compare(column, 5, "node ") == 0)
        << lines[i];
  }
  EXPECT_THAT(table, HasSubstr("kube-system/kube-proxy-x"));
  EXPECT_THAT(table, HasSubstr("0.0.0.0:10256"));
  EXPECT_THAT(table, HasSubstr("102/worker"));
  EXPECT_THAT(table, HasSubstr("pod network namespace, bound to 0.0.0.0 (all addresses)"));
  EXPECT_EQ(handler_({"GET", "/api/v1/listeners?format=table"}).content_type,
            "text/plain; charset=utf-8");
}

}  // namespace
}  // namespace podnetstat::agent
