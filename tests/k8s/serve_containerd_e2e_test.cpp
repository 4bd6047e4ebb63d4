// `podnetstat serve` end to end against a real containerd (tests/support/containerd_harness.h):
// three pod sandboxes with kubelet-style cgroup parents (one hostNetwork), a container in one of
// them, sockets held by processes that really belong to the pods (the container's process, and
// helpers written into the pods' cgroups). The agent runs as its own process, with the harness's
// CRI socket and no kubelet, and is asked over HTTP: every socket of a pod carries that pod (and
// its container where it has one), the node's own socket has `pod: null`, the per-pod endpoints
// return exactly that pod's sockets, /api/v1/pods lists the pods, and a stopped sandbox is gone
// after the next refresh. `podnetstat list --pods` is checked on the same pods. A second test
// stops containerd while the agent runs (answers still served, the CRI source failing) and starts
// it again on the same socket (the agent recovers without a restart).
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

#include "podnetstat/agent/http_client.h"
#include "podnetstat/k8s/cri_info.h"

#include "containerd_harness.h"
#include "e2e_cri_client.h"
#include "e2e_pods.h"
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
using podnetstat::testing::TestPod;

/// The agent under test, as its own process.
class Agent {
 public:
  explicit Agent(const ContainerdHarness& harness) : port_file_(harness.workDir() / "serve.port") {
    process_ = std::make_unique<Subprocess>(std::vector<std::string>{
        podnetstat::testing::podnetstatBinary().string(), "serve", "--cri-endpoint",
        "unix://" + harness.socketPath().string(), "--kubelet-url", "none", "--pod-log-dir", "none",
        "--listen", "127.0.0.1:0", "--port-file", port_file_.string(), "--refresh", "200ms",
        "--log-level", "warn"});
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
  std::vector<TestPod> pods(3);
  pods[0] = {"e2e-serve", "web-0", newPodUid(), "", false, {}, "", 0, 0};
  pods[0].cgroup_parent = root + "/kubepods/besteffort/pod" + pods[0].uid;
  pods[1] = {"e2e-serve", "db-0", newPodUid(), "", false, {}, "", 0, 0};
  pods[1].cgroup_parent = root + "/kubepods/burstable/pod" + pods[1].uid;
  pods[2] = {"e2e-serve-system", "hostnet-0", newPodUid(), "", true, {}, "", 0, 0};
  pods[2].cgroup_parent = root + "/kubepods/pod" + pods[2].uid;
  for (TestPod& pod : pods) {
    pod.config = E2eCriClient::sandboxConfig(pod.namespace_name, pod.name, pod.uid,
                                             pod.cgroup_parent, pod.host_network);
    pod.sandbox_id = cri.runPodSandbox(pod.config);
    const auto status = cri.sandboxStatus(pod.sandbox_id);
    const auto info = parseSandboxVerboseInfo({status.info().begin(), status.info().end()});
    ASSERT_TRUE(info.ok()) << info.error().message;
    pod.pid = info->pid;
    ASSERT_GT(pod.pid, 0);
    pod.netns = podnetstat::testing::inodeOf("/proc/" + std::to_string(pod.pid) + "/ns/net");
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

  // The per-pod endpoints return exactly the sockets the full list gives the pod (both lists
  // come from the same snapshot when asked right away; retry once if a refresh fell between).
  for (const TestPod& pod : pods) {
    const std::string by_name =
        "/api/v1/namespaces/" + pod.namespace_name + "/pods/" + pod.name + "/sockets";
    bool same = false;
    std::string detail;
    for (int attempt = 0; attempt < 5 && !same; ++attempt) {
      const json all = agent.getJson("/api/v1/sockets");
      const json mine = agent.getJson(by_name);
      const json mine_by_uid = agent.getJson("/api/v1/pods/" + pod.uid + "/sockets");
      if (all.at("scannedAt") != mine.at("scannedAt") ||
          all.at("scannedAt") != mine_by_uid.at("scannedAt")) {
        continue;
      }
      json expected = json::array();
      for (const json& s : all.at("items")) {
        if (podUid(s) == pod.uid) {
          expected.push_back(s);
        }
      }
      EXPECT_FALSE(expected.empty()) << pod.name;
      same = socketKeys(expected) == socketKeys(mine.at("items")) &&
             socketKeys(expected) == socketKeys(mine_by_uid.at("items"));
      detail = "expected " + expected.dump() + "\ngot " + mine.dump();
      for (const json& s : mine.at("items")) {
        EXPECT_EQ(podUid(s), pod.uid);
      }
    }
    EXPECT_TRUE(same) << pod.name << ": " << detail.substr(0, 4000);
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
    pod.config = E2eCriClient::sandboxConfig(pod.namespace_name, pod.name, pod.uid,
                                             pod.cgroup_parent, false);
    pod.sandbox_id = cri.runPodSandbox(pod.config);
    const auto status = cri.sandboxStatus(pod.sandbox_id);
    const auto info = parseSandboxVerboseInfo({status.info().begin(), status.info().end()});
    if (!info.ok()) {
      throw std::runtime_error(info.error().message);
    }
    pod.pid = info->pid;
    pod.netns = podnetstat::testing::inodeOf("/proc/" + std::to_string(pod.pid) + "/ns/net");
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

}  // namespace
}  // namespace podnetstat::k8s
