// `podnetstat serve` end to end against a real containerd (tests/support/containerd_harness.h):
// three pod sandboxes with kubelet-style cgroup parents (one hostNetwork), a container in one of
// them, sockets held by processes that really belong to the pods (the container's process, and
// helpers written into the pods' cgroups). The agent runs as its own process, with the harness's
// CRI socket and no kubelet, and is asked over HTTP: every socket of a pod carries that pod (and
// its container where it has one), the node's own socket has `pod: null`, the per-pod endpoints
// return exactly that pod's sockets, /api/v1/pods lists the pods, and a stopped sandbox is gone
// after the next refresh. `podnetstat list --pods` is checked on the same pods. A second test
// adds a kubelet (tests/k8s/kubelet_server.h) serving the pods' specs and checks the posture view
// (/api/v1/listeners: exposure, declared ports, hostPort) on pods listening on loopback, on the
// wildcard, on declared and undeclared ports, and on the node. A third test stops containerd while
// the agent runs (answers still served, the CRI source failing) and starts it again on the same
// socket (the agent recovers without a restart).
// Skips when containerd cannot run here (and says why); fails instead when CI=true.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/k8s/cri_info.h"

#include "containerd_harness.h"
#include "e2e_cri_client.h"
#include "e2e_pods.h"
#include "http_client.h"
#include "kubelet_server.h"
#include "netns.h"
#include "test_paths.h"

namespace podnetstat::k8s {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::ContainerdHarness;
using podnetstat::testing::E2eCriClient;
namespace e2ecri = ::podnetstat::e2e::cri;
using podnetstat::testing::Subprocess;

constexpr std::uint16_t kContainerPort = 18091;  // the container's listener; UDP on +1

using podnetstat::testing::Helper;
using podnetstat::testing::newPodUid;
using podnetstat::testing::NodeListener;
using podnetstat::testing::onCi;
using podnetstat::testing::runSandbox;
using podnetstat::testing::TestPod;
using podnetstat::testing::threeTestPods;

/// The agent under test, as its own process: the harness's CRI socket, and the kubelet flags
/// given (no kubelet by default).
class Agent {
 public:
  explicit Agent(const ContainerdHarness& harness,
                 const std::vector<std::string>& kubelet_flags = {"--kubelet-url", "none"})
      : port_file_(harness.workDir() / "serve.port") {
    std::vector<std::string> argv = {podnetstat::testing::podnetstatBinary().string(),
                                     "serve",
                                     "--cri-endpoint",
                                     "unix://" + harness.socketPath().string(),
                                     "--pod-log-dir",
                                     "none",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     port_file_.string(),
                                     "--refresh",
                                     "200ms",
                                     "--log-level",
                                     "warn"};
    argv.insert(argv.end(), kubelet_flags.begin(), kubelet_flags.end());
    process_ = std::make_unique<Subprocess>(argv);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::ifstream in(port_file_);
      unsigned port = 0;
      if (in >> port && port > 0) {
        client_ =
            std::make_unique<agent::HttpClient>("127.0.0.1", static_cast<std::uint16_t>(port));
        return;
      }
      std::this_thread::sleep_for(50ms);
    }
    throw std::runtime_error("podnetstat serve did not write its port file");
  }

  /// GET `target`; the status and the body.
  std::pair<unsigned, std::string> get(const std::string& target) {
    auto r = client_->get(target);
    if (!r) {
      throw std::runtime_error("GET " + target + ": " + r.error().message);
    }
    return {r->status, r->body};
  }

  json getJson(const std::string& target) {
    auto [status, body] = get(target);
    if (status != 200) {
      throw std::runtime_error("GET " + target + ": status " + std::to_string(status) + ": " +
                               body);
    }
    return json::parse(body);
  }

 private:
  std::filesystem::path port_file_;
  std::unique_ptr<Subprocess> process_;
  std::unique_ptr<agent::HttpClient> client_;
};

std::uint64_t netnsInode(const json& socket) {
  return socket.at("netns").at("inode").get<std::uint64_t>();
}

std::string podUid(const json& socket) {
  return socket.at("pod").is_null() ? "" : socket.at("pod").at("uid").get<std::string>();
}

/// The first socket of the list with this transport, local port and state.
const json* findSocket(const json& items,
                       std::uint64_t netns,
                       const std::string& transport,
                       std::uint16_t port,
                       const std::string& state = "") {
  for (const json& s : items) {
    if (s.at("transport") == transport && netnsInode(s) == netns &&
        s.at("local").at("port") == port && (state.empty() || s.at("state") == state)) {
      return &s;
    }
  }
  return nullptr;
}

/// "<namespace>/<name>[/<container name>]" of a socket, "-" without a pod.
std::string owner(const json* s) {
  if (s == nullptr) {
    return "(socket not found)";
  }
  const json& pod = s->at("pod");
  if (pod.is_null()) {
    return "-";
  }
  std::string out = pod.at("namespace").is_null() ? "?" : pod.at("namespace").get<std::string>();
  out += "/" + (pod.at("name").is_null() ? "?" : pod.at("name").get<std::string>());
  if (!pod.at("container").is_null()) {
    const json& c = pod.at("container");
    out += "/" + (c.at("name").is_null() ? c.at("id").get<std::string>()
                                         : c.at("name").get<std::string>());
  }
  return out;
}

/// The inodes of a socket list's items (with the transport: unix and inet inodes are distinct
/// anyway, but a set of pairs reads clearer in failures).
std::set<std::pair<std::string, std::uint64_t>> socketKeys(const json& items) {
  std::set<std::pair<std::string, std::uint64_t>> out;
  for (const json& s : items) {
    out.emplace(s.at("transport").get<std::string>(), s.at("inode").get<std::uint64_t>());
  }
  return out;
}

const json* findPod(const json& items, const std::string& uid) {
  for (const json& p : items) {
    if (p.at("uid") == uid) {
      return &p;
    }
  }
  return nullptr;
}

TEST(ServeContainerdEndToEnd, TheApiAttributesEverySocketToItsPod) {
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

  const std::string root = harness->cgroupRoot();
  std::vector<TestPod> pods = threeTestPods(root, "e2e-serve", "e2e-serve-system");
  for (TestPod& pod : pods) {
    runSandbox(cri, pod);
  }
  TestPod& web = pods[0];
  TestPod& db = pods[1];
  TestPod& hostnet = pods[2];
  ASSERT_EQ(hostnet.netns, podnetstat::testing::hostNetnsInode());

  const std::string container_id =
      cri.createContainer(web.sandbox_id, web.config, "server", harness->imageRef(),
                          {"/listener", std::to_string(kContainerPort)});
  cri.startContainer(container_id);
  const auto container_status = cri.containerStatus(container_id);
  const auto container_info =
      parseContainerVerboseInfo({container_status.info().begin(), container_status.info().end()});
  ASSERT_TRUE(container_info.ok()) << container_info.error().message;
  const int container_pid = container_info->pid;

  Helper web_helper(*harness, web);
  Helper db_helper(*harness, db);
  Helper host_helper(*harness, hostnet);
  const NodeListener node;

  Agent agent(*harness);
  // Wait until a snapshot has the container's listener with its pod and name.
  json sockets;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    auto [status, body] = agent.get("/api/v1/sockets");
    if (status == 200) {
      sockets = json::parse(body);
      if (owner(findSocket(sockets.at("items"), web.netns, "tcp", kContainerPort, "LISTEN")) ==
              "e2e-serve/web-0/server" &&
          owner(findSocket(sockets.at("items"), hostnet.netns, "tcp", host_helper.tcp_port,
                           "LISTEN")) == "e2e-serve-system/hostnet-0") {
        break;
      }
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the agent never attributed the pods' listeners; last answer " << status << ": "
        << body.substr(0, 2000) << "\n"
        << harness->log();
    std::this_thread::sleep_for(200ms);
  }
  const json& items = sockets.at("items");

  // Per socket: the container's sockets name the container; the helpers' only the pod.
  EXPECT_EQ(owner(findSocket(items, web.netns, "tcp", kContainerPort, "ESTABLISHED")),
            "e2e-serve/web-0/server");
  EXPECT_EQ(owner(findSocket(items, web.netns, "udp", kContainerPort + 1)),
            "e2e-serve/web-0/server");
  const json* container_listener = findSocket(items, web.netns, "tcp", kContainerPort, "LISTEN");
  ASSERT_NE(container_listener, nullptr);
  EXPECT_EQ(container_listener->at("pod").at("uid"), web.uid);
  EXPECT_EQ(container_listener->at("pod").at("container").at("id"), container_id);
  EXPECT_EQ(owner(findSocket(items, web.netns, "tcp", web_helper.tcp_port, "LISTEN")),
            "e2e-serve/web-0");
  EXPECT_EQ(owner(findSocket(items, db.netns, "tcp", db_helper.tcp_port, "LISTEN")),
            "e2e-serve/db-0");
  EXPECT_EQ(owner(findSocket(items, db.netns, "udp", db_helper.udp_port)), "e2e-serve/db-0");
  EXPECT_EQ(owner(findSocket(items, hostnet.netns, "udp", host_helper.udp_port)),
            "e2e-serve-system/hostnet-0");
  EXPECT_EQ(owner(findSocket(items, hostnet.netns, "tcp", node.port, "LISTEN")), "-");

  // Every socket in a pod's namespace is that pod's.
  for (const json& s : items) {
    const std::uint64_t netns = netnsInode(s);
    if (netns == web.netns) {
      EXPECT_EQ(podUid(s), web.uid) << s.dump();
    } else if (netns == db.netns) {
      EXPECT_EQ(podUid(s), db.uid) << s.dump();
    }
  }

  // The per-pod endpoints return exactly the sockets the full list gives the pod. All three
  // lists come from the same snapshot when asked right away; ask again (briefly) while a refresh
  // fell between, which under a sanitizer's slowdown can happen several times in a row.
  for (const TestPod& pod : pods) {
    const std::string by_name =
        "/api/v1/namespaces/" + pod.namespace_name + "/pods/" + pod.name + "/sockets";
    json all;
    json mine;
    json mine_by_uid;
    bool one_snapshot = false;
    const auto give_up = std::chrono::steady_clock::now() + 60s;
    while (!one_snapshot && std::chrono::steady_clock::now() < give_up) {
      all = agent.getJson("/api/v1/sockets");
      mine = agent.getJson(by_name);
      mine_by_uid = agent.getJson("/api/v1/pods/" + pod.uid + "/sockets");
      one_snapshot = all.at("scannedAt") == mine.at("scannedAt") &&
                     all.at("scannedAt") == mine_by_uid.at("scannedAt");
      if (!one_snapshot) {
        std::this_thread::sleep_for(50ms);
      }
    }
    ASSERT_TRUE(one_snapshot) << pod.name << ": never three answers of one snapshot in 60 s";
    json expected = json::array();
    for (const json& s : all.at("items")) {
      if (podUid(s) == pod.uid) {
        expected.push_back(s);
      }
    }
    EXPECT_FALSE(expected.empty()) << pod.name;
    EXPECT_EQ(socketKeys(expected), socketKeys(mine.at("items")))
        << pod.name << ": expected " << expected.dump().substr(0, 2000) << "\ngot "
        << mine.dump().substr(0, 2000);
    EXPECT_EQ(socketKeys(expected), socketKeys(mine_by_uid.at("items"))) << pod.name;
    for (const json& s : mine.at("items")) {
      EXPECT_EQ(podUid(s), pod.uid);
    }
  }
  // The pod filters of the full list.
  {
    const json filtered = agent.getJson("/api/v1/sockets?namespace=e2e-serve&pod=db-0");
    ASSERT_FALSE(filtered.at("items").empty());
    for (const json& s : filtered.at("items")) {
      EXPECT_EQ(podUid(s), db.uid);
    }
  }

  // /api/v1/pods and the namespace's list.
  const json pod_list = agent.getJson("/api/v1/pods");
  for (const TestPod& pod : pods) {
    const json* p = findPod(pod_list.at("items"), pod.uid);
    ASSERT_NE(p, nullptr) << pod.name << " missing from " << pod_list.dump();
    EXPECT_EQ(p->at("namespace"), pod.namespace_name);
    EXPECT_EQ(p->at("name"), pod.name);
    EXPECT_EQ(p->at("hostNetwork"), pod.host_network);
    if (pod.host_network) {
      EXPECT_TRUE(p->at("netns").is_null());
    } else {
      EXPECT_EQ(p->at("netns").at("inode"), pod.netns);
      EXPECT_FALSE(p->at("ips").empty());
    }
    EXPECT_GT(p->at("sockets").at("total").get<int>(), 0) << pod.name;
  }
  const json* web_json = findPod(pod_list.at("items"), web.uid);
  ASSERT_NE(web_json, nullptr);
  bool container_listed = false;
  for (const json& c : web_json->at("containers")) {
    if (c.at("id") == container_id) {
      container_listed = true;
      EXPECT_EQ(c.at("name"), "server");
      const auto pids = c.at("pids").get<std::vector<int>>();
      EXPECT_NE(std::ranges::find(pids, container_pid), pids.end());
    }
  }
  EXPECT_TRUE(container_listed) << web_json->dump();
  const json apps = agent.getJson("/api/v1/namespaces/e2e-serve/pods");
  EXPECT_EQ(apps.at("items").size(), 2U) << apps.dump();

  // The netns list names the pod of each pod namespace; the node the CRI source.
  const json netns_list = agent.getJson("/api/v1/netns");
  for (const json& ns : netns_list.at("items")) {
    if (ns.at("inode") == web.netns) {
      EXPECT_EQ(ns.at("pod").at("uid"), web.uid);
    } else if (ns.at("inode") == hostnet.netns) {
      EXPECT_TRUE(ns.at("pod").is_null());
    }
  }
  const json node_json = agent.getJson("/api/v1/node");
  EXPECT_EQ(node_json.at("sources").at("cri").at("ok"), true) << node_json.dump();
  EXPECT_EQ(node_json.at("sources").at("cri").at("endpoint"),
            "unix://" + harness->socketPath().string());
  EXPECT_EQ(node_json.at("sources").at("kubelet").at("ok"), false);

  // Metrics and the table carry the pods.
  const auto [metrics_status, metrics] = agent.get("/metrics");
  EXPECT_EQ(metrics_status, 200U);
  EXPECT_NE(metrics.find(R"(podnetstat_sockets{namespace="e2e-serve",pod="web-0")"),
            std::string::npos);
  EXPECT_NE(metrics.find(R"(podnetstat_source_up{source="cri"} 1)"), std::string::npos);
  const auto [table_status, table] =
      agent.get("/api/v1/namespaces/e2e-serve/pods/web-0/sockets?format=table");
  EXPECT_EQ(table_status, 200U);
  EXPECT_NE(table.find("e2e-serve/web-0"), std::string::npos) << table;

  // `podnetstat list --pods` on the same pods.
  {
    Subprocess list({podnetstat::testing::podnetstatBinary().string(), "list", "--pods",
                     "--all-netns", "-tan", "--cri-endpoint",
                     "unix://" + harness->socketPath().string(), "--kubelet-url", "none"});
    std::string out;
    while (auto line = list.readLine(20s)) {
      out += *line + "\n";
    }
    EXPECT_EQ(list.wait(5s), 0);
    EXPECT_NE(out.find("Pod: e2e-serve/web-0\n"), std::string::npos) << out;
    EXPECT_NE(out.find("Pod: e2e-serve/db-0\n"), std::string::npos) << out;
    // The hostNetwork pod's listener, in the host's block, with its Pod column.
    bool host_row = false;
    std::istringstream lines(out);
    for (std::string line; std::getline(lines, line);) {
      host_row = host_row ||
                 (line.starts_with("e2e-serve-system/hostnet-0 ") &&
                  line.find(":" + std::to_string(host_helper.tcp_port) + " ") != std::string::npos);
    }
    EXPECT_TRUE(host_row) << out;
  }

  // The rest of netstat per pod: web-0's tables are its namespace's (what `podnetstat list`
  // prints for it), hostnet-0's the host's; /metrics carries web-0's counters.
  {
    const std::string binary = podnetstat::testing::podnetstatBinary().string();
    const auto [status, routes] =
        agent.get("/api/v1/namespaces/e2e-serve/pods/web-0/routes?format=table");
    EXPECT_EQ(status, 200U) << routes;
    EXPECT_EQ(routes, podnetstat::testing::runCommand(
                          {binary, "list", "-rn", "--netns-pid", std::to_string(web.pid)})
                          .out);
    const auto [host_status, host_routes] =
        agent.get("/api/v1/namespaces/e2e-serve-system/pods/hostnet-0/routes?format=table");
    EXPECT_EQ(host_status, 200U) << host_routes;
    EXPECT_EQ(host_routes, podnetstat::testing::runCommand({binary, "list", "-rn"}).out);
    const json interfaces = agent.getJson("/api/v1/namespaces/e2e-serve/pods/web-0/interfaces");
    EXPECT_EQ(interfaces.at("pod").at("uid"), web.uid);
    EXPECT_EQ(interfaces.at("netns").at("inode"), web.netns);
    EXPECT_FALSE(interfaces.at("items").empty());
    EXPECT_EQ(agent.get("/api/v1/namespaces/e2e-serve/pods/nope-0/stats").first, 404U);
    const auto [metrics2_status, metrics2] = agent.get("/metrics");
    EXPECT_NE(
        metrics2.find(
            R"(podnetstat_interface_receive_bytes_total{namespace="e2e-serve",pod="web-0",netns=")"),
        std::string::npos);
    EXPECT_NE(
        metrics2.find(
            R"(podnetstat_tcp_retransmitted_segments_total{namespace="e2e-serve",pod="web-0",netns=")"),
        std::string::npos);
    const auto list = podnetstat::testing::runCommand(
        {binary, "list", "--pods", "--all-netns", "-rn", "--cri-endpoint",
         "unix://" + harness->socketPath().string(), "--kubelet-url", "none"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    EXPECT_NE(list.out.find("Pod: e2e-serve/web-0\nKernel IP routing table\n"), std::string::npos)
        << list.out;
  }

  // Stopping db-0's sandbox: gone after the next refreshes; the others stay.
  db_helper.process->stop();
  cri.stopPodSandbox(db.sandbox_id);
  const auto gone_deadline = std::chrono::steady_clock::now() + 15s;
  json after;
  for (;;) {
    after = agent.getJson("/api/v1/pods");
    if (findPod(after.at("items"), db.uid) == nullptr) {
      break;
    }
    ASSERT_LT(std::chrono::steady_clock::now(), gone_deadline)
        << "db-0 still listed after its sandbox stopped: " << after.dump();
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_NE(findPod(after.at("items"), web.uid), nullptr);
  EXPECT_NE(findPod(after.at("items"), hostnet.uid), nullptr);
  EXPECT_EQ(agent.get("/api/v1/namespaces/e2e-serve/pods/db-0/sockets").first, 404U);
  EXPECT_EQ(agent.get("/api/v1/pods/" + db.uid + "/sockets").first, 404U);
}

/// The IPv4 address of eth0 in a pod's network namespace (the CNI bridge's lease).
std::string podIp(const TestPod& pod) {
  const std::string out = podnetstat::testing::runOrThrow(
      {"nsenter", "--net=/proc/" + std::to_string(pod.pid) + "/ns/net", "ip", "-4", "-o", "addr",
       "show", "dev", "eth0"});
  const auto inet = out.find("inet ");
  if (inet == std::string::npos) {
    throw std::runtime_error("no IPv4 address on the pod's eth0: " + out);
  }
  const auto begin = inet + 5;
  return out.substr(begin, out.find('/', begin) - begin);
}

/// One item of the kubelet's /pods, as a real kubelet writes it, for a sandbox of the test.
json podListItem(const TestPod& pod, const std::string& ip, json containers, json statuses) {
  json spec = {
      {"containers", std::move(containers)}, {"nodeName", "e2e-node"}, {"restartPolicy", "Always"}};
  if (pod.host_network) {
    spec["hostNetwork"] = true;
  }
  return {{"metadata",
           {{"name", pod.name},
            {"namespace", pod.namespace_name},
            {"uid", pod.uid},
            {"annotations", {{"kubernetes.io/config.source", "api"}}}}},
          {"spec", std::move(spec)},
          {"status",
           {{"phase", "Running"},
            {"hostIP", "127.0.0.1"},
            {"podIP", ip},
            {"podIPs", json::array({{{"ip", ip}}})},
            {"qosClass", "BestEffort"},
            {"containerStatuses", std::move(statuses)}}}};
}

json containerPort(std::uint16_t port, const std::string& protocol, std::uint16_t host_port = 0) {
  json p = {{"containerPort", port}, {"protocol", protocol}};
  if (host_port != 0) {
    p["hostPort"] = host_port;
  }
  return p;
}

/// "<transport>/<port>@<pod uid>" of a listener list's inet items that belong to one of `uids`.
std::set<std::string> listenerKeys(const json& items, const std::set<std::string>& uids) {
  std::set<std::string> out;
  for (const json& l : items) {
    if (l.at("transport") == "unix" || !uids.contains(podUid(l))) {
      continue;
    }
    out.insert(l.at("transport").get<std::string>() + "/" +
               std::to_string(l.at("local").at("port").get<int>()) + "@" + podUid(l));
  }
  return out;
}

std::string key(const std::string& transport, std::uint16_t port, const TestPod& pod) {
  return transport + "/" + std::to_string(port) + "@" + pod.uid;
}

/// The listener of a list with this transport and local port in namespace `netns`.
const json* findListener(const json& items,
                         std::uint64_t netns,
                         const std::string& transport,
                         std::uint16_t port) {
  for (const json& l : items) {
    if (l.at("transport") == transport && netnsInode(l) == netns &&
        l.at("local").at("port") == port) {
      return &l;
    }
  }
  return nullptr;
}

/// "exposure declared hostPort" of a listener, e.g. "pod true 28191"; "(missing)" when null.
std::string posture(const json* l) {
  if (l == nullptr) {
    return "(missing)";
  }
  return l->at("exposure").get<std::string>() + " " + l->at("declared").dump() + " " +
         l->at("hostPort").dump();
}

// The posture view against real pods and a kubelet that speaks HTTPS: web-0 runs a container
// listening on the wildcard (TCP declared with a hostPort, UDP declared) and a helper on
// loopback (undeclared); db-0 a helper on the wildcard whose ports its spec does not declare;
// hostnet-0 (hostNetwork) a helper on the node whose TCP port is declared and UDP port is not;
// the test itself a node socket on 127.0.0.1. The kubelet stand-in serves a PodList with the
// sandboxes' UIDs, names and IPs.
TEST(ServeContainerdEndToEnd, ListenersClassifyExposureAndDeclaredPorts) {
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

  constexpr std::uint16_t kServerPort = 18191;  // the container's TCP listener; UDP on +1
  constexpr std::uint16_t kServerHostPort = 28191;
  const std::string root = harness->cgroupRoot();
  std::vector<TestPod> pods = threeTestPods(root, "e2e-posture", "e2e-posture-system");
  for (TestPod& pod : pods) {
    runSandbox(cri, pod);
  }
  const TestPod& web = pods[0];
  const TestPod& db = pods[1];
  const TestPod& hostnet = pods[2];
  ASSERT_EQ(hostnet.netns, podnetstat::testing::hostNetnsInode());

  const std::string container_id =
      cri.createContainer(web.sandbox_id, web.config, "server", harness->imageRef(),
                          {"/listener", std::to_string(kServerPort)});
  cri.startContainer(container_id);
  Helper web_loopback(*harness, web, "127.0.0.1");
  Helper db_wildcard(*harness, db);
  Helper host_helper(*harness, hostnet);
  const NodeListener node;

  // The kubelet's view of the same pods: web-0 declares the container's ports, db-0 a port
  // nothing listens on, hostnet-0 its helper's TCP port (hostNetwork: hostPort = containerPort).
  const std::string web_ip = podIp(web);
  const std::string db_ip = podIp(db);
  json items = json::array();
  items.push_back(podListItem(
      web, web_ip,
      json::array({{{"name", "server"},
                    {"image", harness->imageRef()},
                    {"ports", json::array({containerPort(kServerPort, "TCP", kServerHostPort),
                                           containerPort(kServerPort + 1, "UDP")})}}}),
      json::array({{{"name", "server"},
                    {"ready", true},
                    {"restartCount", 0},
                    {"containerID", "containerd://" + container_id}}})));
  items.push_back(
      podListItem(db, db_ip,
                  json::array({{{"name", "db"},
                                {"image", harness->imageRef()},
                                {"ports", json::array({containerPort(5432, "TCP")})}}}),
                  json::array({{{"name", "db"},
                                {"ready", false},
                                {"restartCount", 0},
                                {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}})));
  items.push_back(
      podListItem(hostnet, "127.0.0.1",
                  json::array({{{"name", "agent"},
                                {"image", harness->imageRef()},
                                {"ports", json::array({containerPort(host_helper.tcp_port, "TCP",
                                                                     host_helper.tcp_port)})}}}),
                  json::array({{{"name", "agent"},
                                {"ready", false},
                                {"restartCount", 0},
                                {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}})));
  const json pod_list = {{"kind", "PodList"},
                         {"apiVersion", "v1"},
                         {"metadata", json::object()},
                         {"items", std::move(items)}};
  const podnetstat::testing::kubelet::Certificates certs;
  podnetstat::testing::kubelet::TestKubelet kubelet(certs);
  kubelet.setBody(pod_list.dump());
  const std::string token = "e2e-token-" + std::to_string(::getpid());
  podnetstat::testing::kubelet::writeFile(certs.file("token"), token + "\n");
  kubelet.requireToken(token);

  Agent agent(*harness,
              {"--kubelet-url", kubelet.url(), "--kubelet-ca", certs.file("ca.crt").string(),
               "--kubelet-token-file", certs.file("token").string()});
  // Wait until a snapshot has the kubelet's spec (declared known) and every helper's pod.
  json listeners;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    auto [status, body] = agent.get("/api/v1/listeners");
    if (status == 200) {
      listeners = json::parse(body);
      const json& list = listeners.at("items");
      const json* server = findListener(list, web.netns, "tcp", kServerPort);
      const json* host_tcp = findListener(list, hostnet.netns, "tcp", host_helper.tcp_port);
      const json* db_tcp = findListener(list, db.netns, "tcp", db_wildcard.tcp_port);
      if (server != nullptr && server->at("declared") == true && host_tcp != nullptr &&
          podUid(*host_tcp) == hostnet.uid && db_tcp != nullptr && podUid(*db_tcp) == db.uid) {
        break;
      }
    }
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the agent never had the kubelet's pods; last answer " << status << ": "
        << body.substr(0, 3000) << "\n"
        << agent.get("/api/v1/node").second << "\n"
        << harness->log();
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_FALSE(kubelet.authorizations().empty());
  EXPECT_EQ(kubelet.authorizations().back(), "Bearer " + token);
  const json& list = listeners.at("items");

  // Each listener: exposure, declared, hostPort; the pod and container it belongs to.
  EXPECT_EQ(posture(findListener(list, web.netns, "tcp", kServerPort)), "pod true 28191");
  EXPECT_EQ(posture(findListener(list, web.netns, "udp", kServerPort + 1)), "pod true null");
  EXPECT_EQ(posture(findListener(list, web.netns, "tcp", web_loopback.tcp_port)),
            "loopback false null");
  EXPECT_EQ(posture(findListener(list, web.netns, "udp", web_loopback.udp_port)),
            "loopback false null");
  EXPECT_EQ(posture(findListener(list, db.netns, "tcp", db_wildcard.tcp_port)), "pod false null");
  EXPECT_EQ(posture(findListener(list, db.netns, "udp", db_wildcard.udp_port)), "pod false null");
  EXPECT_EQ(posture(findListener(list, hostnet.netns, "tcp", host_helper.tcp_port)),
            "node true " + std::to_string(host_helper.tcp_port));
  EXPECT_EQ(posture(findListener(list, hostnet.netns, "udp", host_helper.udp_port)),
            "node false null");
  EXPECT_EQ(posture(findListener(list, hostnet.netns, "tcp", node.port)), "loopback null null");

  const json* server = findListener(list, web.netns, "tcp", kServerPort);
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->at("exposureReason"),
            "pod network namespace, bound to 0.0.0.0 (all addresses)");
  EXPECT_EQ(server->at("pod").at("name"), "web-0");
  EXPECT_EQ(server->at("pod").at("container").at("id"), container_id);
  EXPECT_EQ(server->at("pod").at("container").at("name"), "server");
  // The image runs as 65535 (as the real pause image does); the helpers, moved out of this test,
  // as root.
  EXPECT_EQ(server->at("uid0"), false);
  const json* loopback = findListener(list, web.netns, "tcp", web_loopback.tcp_port);
  ASSERT_NE(loopback, nullptr);
  EXPECT_EQ(loopback->at("exposureReason"), "bound to loopback 127.0.0.1");
  EXPECT_EQ(loopback->at("processes").at(0).at("pid"), web_loopback.process->pid());
  EXPECT_EQ(loopback->at("uid0"), true);
  const json* host_tcp = findListener(list, hostnet.netns, "tcp", host_helper.tcp_port);
  ASSERT_NE(host_tcp, nullptr);
  EXPECT_EQ(host_tcp->at("pod").at("name"), "hostnet-0");
  EXPECT_EQ(host_tcp->at("exposureReason"),
            "host network namespace, bound to 0.0.0.0 (all addresses)");
  const json* node_json = findListener(list, hostnet.netns, "tcp", node.port);
  ASSERT_NE(node_json, nullptr);
  EXPECT_TRUE(node_json->at("pod").is_null());

  // No established connection or other non-listening socket of the pods is listed.
  for (const json& l : list) {
    if (l.at("transport") == "tcp" || l.at("transport") == "tcp6") {
      EXPECT_EQ(l.at("state"), "LISTEN") << l.dump();
    }
  }

  // declared=false: exactly the undeclared ones, and nothing of any other pod or the node (the
  // kubelet knows only the test's pods; a socket of no pod has declared null).
  const std::set<std::string> ours = {web.uid, db.uid, hostnet.uid};
  const std::set<std::string> undeclared = {
      key("tcp", web_loopback.tcp_port, web), key("udp", web_loopback.udp_port, web),
      key("tcp", db_wildcard.tcp_port, db), key("udp", db_wildcard.udp_port, db),
      key("udp", host_helper.udp_port, hostnet)};
  const json not_declared = agent.getJson("/api/v1/listeners?declared=false");
  EXPECT_EQ(listenerKeys(not_declared.at("items"), ours), undeclared) << not_declared.dump();
  for (const json& l : not_declared.at("items")) {
    EXPECT_EQ(l.at("declared"), false) << l.dump();
    EXPECT_TRUE(ours.contains(podUid(l))) << l.dump();
  }
  // The posture question: undeclared listeners reachable beyond loopback.
  const json reachable = agent.getJson("/api/v1/listeners?exposure=pod,node&declared=false");
  EXPECT_EQ(listenerKeys(reachable.at("items"), ours),
            (std::set<std::string>{key("tcp", db_wildcard.tcp_port, db),
                                   key("udp", db_wildcard.udp_port, db),
                                   key("udp", host_helper.udp_port, hostnet)}))
      << reachable.dump();
  EXPECT_EQ(reachable.at("items").size(), 3U) << reachable.dump();
  const json declared = agent.getJson("/api/v1/listeners?declared=true&namespace=e2e-posture");
  EXPECT_EQ(
      listenerKeys(declared.at("items"), ours),
      (std::set<std::string>{key("tcp", kServerPort, web), key("udp", kServerPort + 1, web)}));
  const json on_node = agent.getJson("/api/v1/listeners?exposure=node&pod=hostnet-0");
  EXPECT_EQ(listenerKeys(on_node.at("items"), ours),
            (std::set<std::string>{key("tcp", host_helper.tcp_port, hostnet),
                                   key("udp", host_helper.udp_port, hostnet)}));
  EXPECT_EQ(agent.get("/api/v1/listeners?exposure=cluster").first, 400U);

  // The pods' summaries and the metrics.
  const json pods_json = agent.getJson("/api/v1/pods");
  const auto summary = [&](const TestPod& pod) {
    const json* p = findPod(pods_json.at("items"), pod.uid);
    return p == nullptr ? json() : p->at("listeners");
  };
  EXPECT_EQ(summary(web),
            json::parse(R"({"byExposure":{"loopback":2,"pod":2,"node":0},"undeclared":2})"));
  EXPECT_EQ(summary(db),
            json::parse(R"({"byExposure":{"loopback":0,"pod":2,"node":0},"undeclared":2})"));
  EXPECT_EQ(summary(hostnet),
            json::parse(R"({"byExposure":{"loopback":0,"pod":0,"node":2},"undeclared":1})"));
  const auto [metrics_status, metrics] = agent.get("/metrics");
  EXPECT_EQ(metrics_status, 200U);
  EXPECT_NE(metrics.find(R"(podnetstat_listeners{namespace="e2e-posture",pod="web-0",)"
                         R"(exposure="loopback"} 2)"),
            std::string::npos)
      << metrics;
  EXPECT_NE(
      metrics.find(R"(podnetstat_undeclared_listeners{namespace="e2e-posture",pod="db-0"} 2)"),
      std::string::npos);
  EXPECT_NE(metrics.find(R"(podnetstat_undeclared_listeners{namespace="e2e-posture-system",)"
                         R"(pod="hostnet-0"} 1)"),
            std::string::npos);

  // The table for people.
  const auto [table_status, table] =
      agent.get("/api/v1/listeners?format=table&exposure=pod,node&declared=false");
  EXPECT_EQ(table_status, 200U);
  EXPECT_NE(table.find("e2e-posture/db-0"), std::string::npos) << table;
  EXPECT_NE(table.find(":" + std::to_string(host_helper.udp_port) + " "), std::string::npos)
      << table;
  EXPECT_EQ(table.find("e2e-posture/web-0"), std::string::npos) << table;
}

}  // namespace

// containerd stops while the agent runs: the answers are still served, the CRI source shows as
// failing, the pod it named stays named a while (the last good answer is kept); containerd starts
// again on the same socket: the agent uses it again without a restart (a pod made after the
// restart is listed with its name).
TEST(ServeContainerdEndToEnd, AContainerdRestartDegradesThenRecoversWithoutAnAgentRestart) {
  if (const std::string reason = ContainerdHarness::skipReason(); !reason.empty()) {
    PODNETSTAT_SKIP_OR_FAIL(reason);
  }
  std::unique_ptr<ContainerdHarness> harness;
  try {
    harness = std::make_unique<ContainerdHarness>();
  } catch (const std::exception& e) {
    PODNETSTAT_SKIP_OR_FAIL(std::string("containerd cannot run here: ") + e.what());
  }
  harness->setCriCleanup(
      [socket = harness->socketPath().string()] { E2eCriClient(socket).removeAll(); });
  const std::string root = harness->cgroupRoot();
  const auto makePod = [&](const std::string& name) {
    E2eCriClient cri(harness->socketPath().string());
    std::string why;
    if (!cri.waitReady(30s, &why)) {
      throw std::runtime_error("CRI not ready: " + why + "\n" + harness->log());
    }
    TestPod pod{"e2e-restart", name, newPodUid(), "", false, {}, "", 0, 0};
    pod.cgroup_parent = root + "/kubepods/besteffort/pod" + pod.uid;
    runSandbox(cri, pod);
    return pod;
  };
  const TestPod web = makePod("web-0");
  Helper web_helper(*harness, web);

  Agent agent(*harness);
  const auto named = [&](const TestPod& pod) {
    const auto [status, body] = agent.get("/api/v1/pods");
    if (status != 200) {
      return false;  // 503 until the first snapshot
    }
    const json list = json::parse(body);
    const json* p = findPod(list.at("items"), pod.uid);
    return p != nullptr && p->at("name") == pod.name;
  };
  const auto cri = [&] {
    return agent.getJson("/api/v1/node").at("sources").at("cri");
  };
  const auto waitUntil = [&](const std::function<bool()>& condition, const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!condition()) {
      if (std::chrono::steady_clock::now() > deadline) {
        ADD_FAILURE() << "timed out waiting for " << what << "; cri " << cri().dump();
        return false;
      }
      std::this_thread::sleep_for(200ms);
    }
    return true;
  };
  ASSERT_TRUE(waitUntil([&] { return named(web) && cri().at("ok") == true; }, "web-0 named"));

  harness->stopContainerd();
  ASSERT_TRUE(waitUntil([&] { return cri().at("ok") == false; }, "the CRI source failing"));
  const json down = cri();
  EXPECT_TRUE(down.at("error").is_string() && !down.at("error").get<std::string>().empty())
      << down.dump();
  for (const char* target : {"/api/v1/sockets", "/api/v1/pods", "/api/v1/netns", "/readyz"}) {
    EXPECT_EQ(agent.get(target).first, 200U) << target;
  }
  // /metrics speaks of the snapshot, which takes up the source's health at its scan.
  EXPECT_TRUE(waitUntil(
      [&] {
        const auto [status, metrics] = agent.get("/metrics");
        return status == 200 &&
               metrics.find(R"(podnetstat_source_up{source="cri"} 0)") != std::string::npos;
      },
      "/metrics saying the CRI source is down"));
  EXPECT_TRUE(named(web)) << "the last good CRI answer is kept while containerd is away";
  // The helper's listener is still the pod's (its cgroup says so, whatever the runtime).
  const json sockets = agent.getJson("/api/v1/sockets");
  EXPECT_EQ(owner(findSocket(sockets.at("items"), web.netns, "tcp", web_helper.tcp_port, "LISTEN")),
            "e2e-restart/web-0");

  harness->restartContainerd();
  ASSERT_TRUE(waitUntil([&] { return cri().at("ok") == true; }, "the CRI source back"));
  EXPECT_TRUE(cri().at("error").is_null());
  const TestPod db = makePod("db-0");
  EXPECT_TRUE(waitUntil([&] { return named(db) && named(web); }, "db-0, made after the restart"));
}

}  // namespace podnetstat::k8s
