// The agent over real HTTP on loopback, scanning this machine: a network namespace with known
// sockets (sockmaker), the agent in-process on an ephemeral port, and curl-like requests.
// Also: scans that are slow or failing never block or break requests.
//
// Needs root and `ip` (skipped otherwise). Everything made here is removed by destructors.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_server.h"

#include "http_client.h"
#include "netns.h"
#include "ready_api_server.h"
#include "serve_process.h"
#include "sockmaker.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::ScratchDir;
using podnetstat::testing::Sockmaker;
using podnetstat::testing::waitReady;
using Clock = std::chrono::steady_clock;

/// The API's transport name for a sockmaker label ("tcp4-listen-any" -> "tcp").
std::string transportOfLabel(const std::string& label) {
  static const std::map<std::string, std::string> kNames = {
      {"tcp4", "tcp"},  {"tcp6", "tcp6"},        {"udp4", "udp"},
      {"udp6", "udp6"}, {"udplite4", "udplite"}, {"udplite6", "udplite6"},
      {"raw4", "raw"},  {"raw6", "raw6"},        {"unix", "unix"}};
  auto it = kNames.find(label.substr(0, label.find('-')));
  return it == kNames.end() ? "" : it->second;
}

bool isUnspecified(const json& ip) {
  return ip == "0.0.0.0" || ip == "::";
}

/// DESIGN.md's listening and connected, computed from the JSON.
bool listeningOf(const json& s) {
  const std::string t = s["transport"];
  if (t == "unix") {
    const auto& flags = s["flags"];
    return std::find(flags.begin(), flags.end(), "ACC") != flags.end();
  }
  if (t == "tcp" || t == "tcp6") {
    return s["state"] == "LISTEN";
  }
  return isUnspecified(s["remote"]["ip"]) && s["remote"]["port"] == 0;
}

bool connectedOf(const json& s) {
  if (s["transport"] == "unix") {
    return s["state"] == "CONNECTED";
  }
  return !isUnspecified(s["remote"]["ip"]) || s["remote"]["port"] != 0;
}

std::multiset<std::string> dumps(const json& items) {
  std::multiset<std::string> out;
  for (const auto& item : items) {
    out.insert(item.dump());
  }
  return out;
}

class ServeLive : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!podnetstat::testing::liveTestSkipReason().empty()) {
      return;
    }
    try {
      dir_ = std::make_unique<ScratchDir>("podnetstat-serve-");
      ns_ = std::make_unique<NetNamespace>("pnsv");
      std::filesystem::create_directory(dir_->path() / "u");
      maker_ = std::make_unique<Sockmaker>(
          *ns_, std::vector<std::string>{"--lifetime", "600", "--unix-dir",
                                         (dir_->path() / "u").string()});
      ApiServerOptions options;
      options.listen = {"127.0.0.1", 0};
      options.refresh = std::chrono::hours(1);  // one snapshot: answers can be compared exactly
      options.node_name = "test-node";
      options.roots.netns_dir = podnetstat::testing::netnsDir();
      server_ = podnetstat::testing::startReadyApiServer(options);
    } catch (const std::exception& e) {
      setup_error_ = e.what();
      TearDownTestSuite();
    }
  }

  static void TearDownTestSuite() {
    if (server_) {
      server_->stop(1s);
    }
    server_.reset();
    maker_.reset();
    ns_.reset();
    dir_.reset();
  }

  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    ASSERT_TRUE(server_);
  }

  static HttpClientResponse get(const std::string& target, const std::string& method = "GET") {
    HttpClient client("127.0.0.1", server_->port());
    auto r = client.request(method, target);
    if (!r.ok()) {
      ADD_FAILURE() << target << ": " << r.error().message;
      return {};
    }
    return *r;
  }

  static json getJson(const std::string& target, unsigned status = 200) {
    auto r = get(target);
    EXPECT_EQ(r.status, status) << target << ": " << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json") << target;
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << target << ": " << r.body;
    return j;
  }

  /// Our namespace's sockets, unfiltered.
  static json nsSockets(const std::string& extra = "") {
    return getJson("/api/v1/sockets?netns=" + ns_->name() + extra)["items"];
  }

  inline static std::unique_ptr<ScratchDir> dir_;
  inline static std::unique_ptr<NetNamespace> ns_;
  inline static std::unique_ptr<Sockmaker> maker_;
  inline static std::unique_ptr<ApiServer> server_;
  inline static std::string setup_error_;
};

TEST_F(ServeLive, EveryEndpointAnswersWithItsStatusAndContentType) {
  struct Case {
    std::string target;
    unsigned status;
    std::string type;
  };

  const std::vector<Case> cases = {
      {"/healthz", 200, "application/json"},
      {"/readyz", 200, "application/json"},
      {"/metrics", 200, "text/plain; version=0.0.4; charset=utf-8"},
      {"/api/v1/node", 200, "application/json"},
      {"/api/v1/sockets", 200, "application/json"},
      {"/api/v1/sockets?format=table", 200, "text/plain; charset=utf-8"},
      {"/api/v1/netns", 200, "application/json"},
      {"/api/v1/pods", 200, "application/json"},
      {"/api/v1/namespaces/default/pods", 200, "application/json"},
      {"/api/v1/namespaces/default/pods/web-0/sockets", 404, "application/json"},
      {"/api/v1/pods/0b1c2d3e/sockets", 404, "application/json"},
      {"/api/v1/nothing", 404, "application/json"},
      {"/api/v1/sockets?bogus=1", 400, "application/json"},
  };
  for (const auto& c : cases) {
    auto r = get(c.target);
    EXPECT_EQ(r.status, c.status) << c.target;
    EXPECT_EQ(r.header("content-type"), c.type) << c.target;
    if (c.type == "application/json") {
      EXPECT_FALSE(json::parse(r.body, nullptr, false).is_discarded()) << c.target;
    }
  }
  EXPECT_EQ(getJson("/healthz"), json({{"status", "ok"}}));
  const json node = getJson("/api/v1/node");
  EXPECT_EQ(node["node"], "test-node");
  EXPECT_GT(node["lastScan"]["sockets"].get<int>(), 0);
}

TEST_F(ServeLive, KnownSocketsAppearWithTheirFieldsAndNamespace) {
  const json items = nsSockets();
  std::map<std::uint64_t, json> by_inode;
  for (const auto& s : items) {
    EXPECT_EQ(s["netns"]["name"], ns_->name());
    EXPECT_EQ(s["netns"]["inode"], ns_->inode());
    EXPECT_TRUE(s["pod"].is_null());
    if (s["inode"] != 0) {
      by_inode[s["inode"].get<std::uint64_t>()] = s;
    }
  }
  int checked = 0;
  for (const auto& known : maker_->sockets()) {
    if (known.inode == 0 || podnetstat::testing::isInvisibleSocket(known.label)) {
      continue;
    }
    auto it = by_inode.find(known.inode);
    if (it == by_inode.end()) {
      ADD_FAILURE() << known.label << " (inode " << known.inode << ") is missing";
      continue;
    }
    const json& s = it->second;
    EXPECT_EQ(s["transport"], transportOfLabel(known.label)) << known.label;
    std::vector<int> pids;
    for (const auto& p : s["processes"]) {
      pids.push_back(p["pid"]);
      EXPECT_FALSE(p["name"].get<std::string>().empty()) << known.label;
    }
    EXPECT_EQ(pids, std::vector<int>(known.pids.begin(), known.pids.end())) << known.label;
    ++checked;
  }
  EXPECT_GT(checked, 30);

  const auto* any = maker_->find("tcp4-listen-any");
  ASSERT_NE(any, nullptr);
  const json& listen = by_inode.at(any->inode);
  EXPECT_EQ(listen["local"], json({{"ip", "0.0.0.0"}, {"port", 7000}}));
  EXPECT_EQ(listen["remote"], json({{"ip", "0.0.0.0"}, {"port", 0}}));
  EXPECT_EQ(listen["state"], "LISTEN");
  EXPECT_EQ(listen["processes"][0]["pid"], maker_->pid());
  const auto* lo = maker_->find("tcp4-listen-lo");
  ASSERT_NE(lo, nullptr);
  EXPECT_EQ(by_inode.at(lo->inode)["local"], json({{"ip", "127.0.0.1"}, {"port", 7001}}));
  const auto* shared = maker_->find("tcp4-listen-shared");
  ASSERT_NE(shared, nullptr);
  EXPECT_GE(by_inode.at(shared->inode)["processes"].size(), 2U) << "every owner is listed";
}

TEST_F(ServeLive, FiltersSelectExactlyWhatTheyShould) {
  const json all = nsSockets();
  ASSERT_GT(all.size(), 30U);
  const auto expect = [&](const std::string& query, auto predicate) {
    json wanted = json::array();
    for (const auto& s : all) {
      if (predicate(s)) {
        wanted.push_back(s);
      }
    }
    const json got = nsSockets(query);
    EXPECT_EQ(dumps(got), dumps(wanted)) << query;
    EXPECT_FALSE(wanted.empty()) << query << " selects something in the zoo";
  };
  expect("&transport=tcp", [](const json& s) { return s["transport"] == "tcp"; });
  expect("&transport=udp6,unix",
         [](const json& s) { return s["transport"] == "udp6" || s["transport"] == "unix"; });
  expect("&state=LISTEN", [](const json& s) { return s["state"] == "LISTEN"; });
  expect("&state=established,time_wait",
         [](const json& s) { return s["state"] == "ESTABLISHED" || s["state"] == "TIME_WAIT"; });
  expect("&listening=true", listeningOf);
  expect("&listening=false", [](const json& s) { return !listeningOf(s); });
  expect("&connected=true", connectedOf);
  expect("&port=7001", [](const json& s) {
    return s["transport"] != "unix" && (s["local"]["port"] == 7001 || s["remote"]["port"] == 7001);
  });
  const int pid = maker_->pid();
  expect("&pid=" + std::to_string(pid), [&](const json& s) {
    for (const auto& p : s["processes"]) {
      if (p["pid"] == pid) {
        return true;
      }
    }
    return false;
  });
  expect("&transport=tcp&state=LISTEN&port=7000", [](const json& s) {
    return s["transport"] == "tcp" && s["state"] == "LISTEN" &&
           (s["local"]["port"] == 7000 || s["remote"]["port"] == 7000);
  });

  // The namespace by inode is the same namespace; Kubernetes filters select no pod yet.
  EXPECT_EQ(dumps(getJson("/api/v1/sockets?netns=" + std::to_string(ns_->inode()))["items"]),
            dumps(all));
  EXPECT_EQ(getJson("/api/v1/sockets?netns=no-such-netns")["items"], json::array());
  EXPECT_EQ(getJson("/api/v1/sockets?namespace=default")["items"], json::array());
  // Without netns every namespace is there, ours included.
  const json everything = getJson("/api/v1/sockets")["items"];
  std::size_t ours = 0;
  for (const auto& s : everything) {
    ours += s["netns"]["inode"] == ns_->inode() ? 1 : 0;
  }
  EXPECT_EQ(ours, all.size());
}

TEST_F(ServeLive, TableIsNetstatTextWithTheNamespaceColumn) {
  auto r = get("/api/v1/sockets?netns=" + ns_->name() + "&format=table");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "text/plain; charset=utf-8");
  EXPECT_THAT(r.body,
              ::testing::StartsWith("Active Internet connections (servers and established)\n"
                                    "Netns "));
  EXPECT_THAT(r.body,
              ::testing::HasSubstr("Active UNIX domain sockets (servers and established)\n"));
  EXPECT_THAT(r.body, ::testing::HasSubstr("\n" + ns_->name() + " "));
  EXPECT_THAT(r.body, ::testing::HasSubstr(" 0.0.0.0:7000 "));
  EXPECT_THAT(r.body, ::testing::HasSubstr(std::to_string(maker_->pid()) + "/"));
}

TEST_F(ServeLive, NetnsAndMetricsCountTheSameSockets) {
  const json all = nsSockets();
  const json netns = getJson("/api/v1/netns");
  bool found = false;
  for (const auto& n : netns["items"]) {
    if (n["name"] == ns_->name()) {
      found = true;
      EXPECT_EQ(n["inode"], ns_->inode());
      EXPECT_EQ(n["sockets"], all.size());
      EXPECT_EQ(n["readable"], true);
      const auto& pids = n["pids"];
      EXPECT_NE(std::find(pids.begin(), pids.end(), maker_->pid()), pids.end());
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(netns["items"][0]["host"], true) << "the host's namespace comes first";

  std::size_t tcp_listen = 0;
  for (const auto& s : all) {
    tcp_listen += (s["transport"] == "tcp" && s["state"] == "LISTEN") ? 1 : 0;
  }
  const auto metrics = get("/metrics").body;
  EXPECT_THAT(metrics,
              ::testing::HasSubstr("podnetstat_sockets{namespace=\"\",pod=\"\",netns=\"" +
                                   ns_->name() + "\",transport=\"tcp\",state=\"LISTEN\"} " +
                                   std::to_string(tcp_listen) + "\n"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("podnetstat_scan_duration_seconds_count 1\n"));
}

TEST_F(ServeLive, BadRequestsGetTheirStatus) {
  auto r = get("/api/v1/sockets?port=http");
  EXPECT_EQ(r.status, 400);
  EXPECT_THAT(json::parse(r.body)["error"]["message"].get<std::string>(),
              ::testing::HasSubstr("'port'"));
  EXPECT_EQ(get("/nope").status, 404);
  r = get("/api/v1/sockets", "POST");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.header("allow"), "GET, HEAD");
  HttpClient client("127.0.0.1", server_->port());
  auto big = client.request("GET", "/healthz", {{"X-Pad", std::string(9000, 'p')}});
  ASSERT_TRUE(big.ok()) << big.error().message;
  EXPECT_EQ(big->status, 431);
  auto body = client.request("GET", "/healthz", {{"Content-Length", "3"}});
  // The client sends no body after announcing one: the server answers from the header alone.
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_EQ(body->status, 413);
}

TEST_F(ServeLive, HeadAnswersHeadersOnly) {
  auto r = get("/api/v1/sockets", "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.body, "");
  r = get("/api/v1/node", "HEAD");
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.header("content-length"), "0");
  EXPECT_EQ(r.body, "");
}

TEST_F(ServeLive, HundredConcurrentClientsGetCorrectAnswers) {
  const std::string target = "/api/v1/sockets?netns=" + ns_->name();
  const std::string reference = get(target).body;
  const std::string table_target = target + "&format=table";
  const std::string table = get(table_target).body;
  ASSERT_FALSE(reference.empty());
  constexpr int kClients = 100;
  constexpr int kRequests = 5;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient client("127.0.0.1", server_->port(), 30s);
      for (int i = 0; i < kRequests; ++i) {
        const bool as_table = (c + i) % 3 == 0;
        auto r = client.get(as_table ? table_target : target);
        if (r.ok() && r->status == 200 && r->body == (as_table ? table : reference)) {
          ++good;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(good.load(), kClients * kRequests);
}

// --- Scans that block, crawl or fail: requests go on regardless. No root needed. ---

scanner::ScanResult fakeScan(int sockets) {
  scanner::ScanResult r;
  scanner::NetNamespace host;
  host.inode = 4026531840;
  host.is_host = true;
  r.namespaces.push_back(host);
  for (int i = 0; i < sockets; ++i) {
    scanner::Socket s;
    s.transport = scanner::Transport::Tcp;
    s.local.port = static_cast<std::uint16_t>(1000 + i);
    s.state = 10;
    s.inode = static_cast<std::uint64_t>(5000 + i);
    r.sockets.push_back(s);
  }
  r.started_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  return r;
}

class ServeWithFakeScans : public ::testing::Test {
 protected:
  void start(ScanFunction scan, std::chrono::milliseconds refresh) {
    ApiServerOptions options;
    options.listen = {"127.0.0.1", 0};
    options.refresh = refresh;
    options.node_name = "fake";
    options.scan = std::move(scan);
    server_ = std::make_unique<ApiServer>(options);
    auto started = server_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
  }

  void TearDown() override {
    release_.store(true);
    if (server_) {
      server_->stop(1s);
    }
    server_.reset();
  }

  unsigned status(const std::string& target) {
    HttpClient client("127.0.0.1", server_->port(), 5s);
    auto r = client.get(target);
    return r.ok() ? r->status : 0;
  }

  // Used by the scan functions, which run on the refresher thread until TearDown() stops it.
  std::atomic<bool> release_{false};
  std::atomic<int> scans_{0};
  std::atomic<int> running_{0};
  std::atomic<int> max_running_{0};
  std::atomic<bool> slow_started_{false};
  std::unique_ptr<ApiServer> server_;
};

TEST_F(ServeWithFakeScans, NotReadyUntilTheFirstScanEnds) {
  start(
      [this]() -> Result<scanner::ScanResult> {
        while (!release_.load()) {
          std::this_thread::sleep_for(10ms);
        }
        return fakeScan(3);
      },
      1h);
  EXPECT_EQ(status("/healthz"), 200U);
  EXPECT_EQ(status("/readyz"), 503U);
  EXPECT_EQ(status("/api/v1/sockets"), 503U);
  EXPECT_EQ(status("/api/v1/node"), 200U);
  release_.store(true);
  EXPECT_TRUE(waitReady(server_->port(), 5s));
  EXPECT_EQ(status("/api/v1/sockets"), 200U);
}

TEST_F(ServeWithFakeScans, ASlowScanNeverBlocksRequests) {
  start(
      [this]() -> Result<scanner::ScanResult> {
        const int now = ++running_;
        max_running_.store(std::max(max_running_.load(), now));
        if (scans_++ > 0) {
          slow_started_.store(true);
          for (int i = 0; i < 150 && !release_.load(); ++i) {
            std::this_thread::sleep_for(10ms);  // 1.5 s, a slow scan
          }
        }
        --running_;
        return fakeScan(1000);
      },
      50ms);
  ASSERT_TRUE(waitReady(server_->port(), 5s));
  const auto deadline = Clock::now() + 5s;
  while (!slow_started_.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_TRUE(slow_started_.load());
  HttpClient client("127.0.0.1", server_->port(), 5s);
  for (int i = 0; i < 50; ++i) {
    const auto begin = Clock::now();
    auto r = client.get("/api/v1/sockets?port=1500");
    const auto took = Clock::now() - begin;
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_LT(took, 200ms) << "request " << i << " waited for the scan";
  }
  EXPECT_EQ(max_running_.load(), 1) << "one scan at a time";
}

TEST_F(ServeWithFakeScans, AFailedScanKeepsThePreviousSnapshot) {
  start(
      [this]() -> Result<scanner::ScanResult> {
        if (scans_++ == 0) {
          return fakeScan(5);
        }
        return Error{"proc root vanished"};
      },
      30ms);
  ASSERT_TRUE(waitReady(server_->port(), 5s));
  const auto deadline = Clock::now() + 5s;
  while (scans_.load() < 4 && Clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  HttpClient client("127.0.0.1", server_->port(), 5s);
  auto r = client.get("/api/v1/sockets");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body)["items"].size(), 5U);
  r = client.get("/metrics");
  ASSERT_TRUE(r.ok());
  EXPECT_THAT(r->body, ::testing::Not(::testing::HasSubstr(
                           "podnetstat_scan_errors_total{kind=\"scan_failed\"} 0\n")));
  r = client.get("/api/v1/node");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(json::parse(r->body)["lastFailure"]["message"], "proc root vanished");
}

TEST_F(ServeWithFakeScans, SnapshotsAreRefreshed) {
  start([this]() -> Result<scanner::ScanResult> { return fakeScan(++scans_); }, 50ms);
  ASSERT_TRUE(waitReady(server_->port(), 5s));
  const auto deadline = Clock::now() + 5s;
  std::size_t seen = 0;
  while (Clock::now() < deadline && seen < 3) {
    HttpClient client("127.0.0.1", server_->port(), 5s);
    auto r = client.get("/api/v1/sockets");
    ASSERT_TRUE(r.ok());
    seen = json::parse(r->body)["items"].size();
  }
  EXPECT_GE(seen, 3U);
}

}  // namespace
}  // namespace podnetstat::agent
