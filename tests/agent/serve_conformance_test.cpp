// The agent's artefacts checked by the tools their consumers run, on a live agent (the real
// binary, real sockets of every transport in a test network namespace, a pod made of a process in a
// kubelet-style cgroup and named by a /var/log/pods-style directory, static bearer tokens):
//
// - docs/openapi.json by Stoplight Prism's validating proxy (`prism proxy --errors`), which checks
//   each request and each answer against the document. Every path of the document is asked for
//   every status it declares: the normal answers (JSON and table), 400, 401, 403, 404, 414, 431
//   and 503 through the proxy. The answers the proxy cannot carry, because its Node.js front end
//   or its router refuses the request before forwarding it (405: a method the document does not
//   declare; 413: a request body; 501: a method HTTP does not define; 505: another HTTP version),
//   are asked of the agent directly and checked by Prism's own response validator
//   (prism_validate.mjs). Any violation, on the request side or the answer side, fails.
// - /metrics by `promtool check metrics` (Prometheus's own linter), with namespaces, pods and
//   listeners in it.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/render/socket_json.h"
#include "podnetstat/k8s/pod_metadata.h"

#include "http_client.h"
#include "netns.h"
#include "raw_http.h"
#include "serve_process.h"
#include "sockmaker.h"
#include "test_paths.h"
#include "tools.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace pt = podnetstat::testing;

constexpr const char* kReader = "reader-token";       // every path
constexpr const char* kScraper = "scraper-token";     // /metrics only
constexpr const char* kApiOnly = "api-reader-token";  // /api/v1/ only
constexpr const char* kPodUid = "8d2f7c1e-3b4a-4c5d-9e6f-0a1b2c3d4e5f";
constexpr const char* kGonePodUid = "1c9e8d7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f";  // known to no source
const std::string kContainerId(64, 'e');

fs::path sourceRoot() {
  return pt::fixturesDir().parent_path().parent_path();
}

fs::path specPath() {
  return sourceRoot() / "docs" / "openapi.json";
}

std::uint16_t freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error("no free loopback port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

/// `exec ARGV >LOG 2>&1` through /bin/sh, so that a chatty child never blocks on a full pipe.
std::vector<std::string> loggedTo(const fs::path& log, std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" >'" + log.string() + "' 2>&1"});
  return argv;
}

/// Polls GET `target` on 127.0.0.1:port with the reader's token until it answers (with 200 when
/// `need_200`); false when `alive` says the server died or after `timeout`.
bool waitForAnswer(std::uint16_t port,
                   const std::string& target,
                   bool need_200,
                   std::chrono::milliseconds timeout,
                   const std::function<bool()>& alive) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline && alive()) {
    HttpClient client("127.0.0.1", port, 5s);
    auto r = client.request("GET", target, {{"Authorization", std::string("Bearer ") + kReader}});
    if (r.ok() && (!need_200 || r->status == 200)) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

/// A kubelet-style pod cgroup (`/<unique>/kubepods/besteffort/pod<uid>/<container>`) in every
/// cgroup hierarchy the agent's cgroup parser reads (v2, and v1's name=systemd); removed again,
/// bottom up, once its processes are gone.
class PodCgroup {
 public:
  PodCgroup(const std::string& uid, const std::string& container)
      : relative_(pt::uniqueName("pnsprism") + "/kubepods/besteffort/pod" + uid + "/" + container) {
    std::ifstream mounts("/proc/self/mounts");
    for (std::string line; std::getline(mounts, line);) {
      std::istringstream fields(line);
      std::string source, point, type, options;
      fields >> source >> point >> type >> options;
      if (type == "cgroup2" ||
          (type == "cgroup" && options.find("name=systemd") != std::string::npos)) {
        const fs::path dir = fs::path(point) / relative_;
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (!ec) {
          dirs_.push_back(dir);
        }
      }
    }
  }

  ~PodCgroup() {
    // The leaf, then its parents up to the unique top directory; a process that is still exiting
    // keeps the leaf busy for a moment.
    constexpr int kLevels = 5;
    for (const fs::path& leaf : dirs_) {
      for (int attempt = 0; attempt < 100 && ::rmdir(leaf.c_str()) != 0 && errno == EBUSY;
           ++attempt) {
        std::this_thread::sleep_for(20ms);
      }
      fs::path dir = leaf.parent_path();
      for (int i = 1; i < kLevels; ++i, dir = dir.parent_path()) {
        ::rmdir(dir.c_str());
      }
    }
  }

  PodCgroup(const PodCgroup&) = delete;
  PodCgroup& operator=(const PodCgroup&) = delete;

  /// Moves `pid` into the cgroup in every hierarchy; false when no hierarchy took it.
  bool enter(pid_t pid) const {
    bool any = false;
    for (const fs::path& dir : dirs_) {
      std::ofstream procs(dir / "cgroup.procs");
      procs << pid << std::flush;
      any = any || static_cast<bool>(procs);
    }
    return any;
  }

 private:
  std::string relative_;
  std::vector<fs::path> dirs_;
};

/// One request through Prism: the status it must get, with which bearer token and header fields.
struct Ask {
  std::string target;
  unsigned status = 200;
  std::string token = kReader;
  std::vector<std::pair<std::string, std::string>> fields = {};
  std::string method = "GET";
};

/// The live agent with a pod, listeners and tokens.
class LivePodAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();

    // The pod: sockets of every transport in a namespace, held by a process in the pod's cgroup.
    ns_ = std::make_unique<pt::NetNamespace>("pnsp");
    gone_ = std::make_unique<pt::NetNamespace>("pnsg");
    fs::create_directory(dir_.path() / "unix");
    cgroup_ = std::make_unique<PodCgroup>(kPodUid, kContainerId);
    maker_ = std::make_unique<pt::Sockmaker>(
        *ns_, std::vector<std::string>{"--lifetime", "300", "--unix-dir",
                                       (dir_.path() / "unix").string()});
    ASSERT_TRUE(cgroup_->enter(maker_->pid())) << "no cgroup hierarchy took the pod's process";
    // Its name from a /var/log/pods-style directory.
    fs::create_directories(dir_.path() / "pods" / (std::string("default_web-0_") + kPodUid));
    std::ofstream(dir_.path() / "tokens") << kReader << ",alice\n"
                                          << kScraper << ",prometheus,/metrics\n"
                                          << kApiOnly << ",bob,/api/v1/\n";

    startAgent();
  }

  void TearDown() override {
    agent_.reset();
    maker_.reset();
    cgroup_.reset();
    gone_.reset();
    ns_.reset();
  }

  void startAgent() {
    const fs::path ports = dir_.path() / "ports";
    agent_ = std::make_unique<pt::Subprocess>(
        loggedTo(dir_.path() / "agent.log", {pt::podnetstatBinary().string(),
                                             "serve",
                                             "--listen",
                                             "127.0.0.1:0",
                                             "--port-file",
                                             ports.string(),
                                             "--log-level",
                                             "warn",
                                             "--refresh",
                                             "1h",
                                             "--cri-endpoint",
                                             "none",
                                             "--kubelet-url",
                                             "none",
                                             "--netns-dir",
                                             pt::netnsDir().string(),
                                             "--pod-log-dir",
                                             (dir_.path() / "pods").string(),
                                             "--auth",
                                             "static:" + (dir_.path() / "tokens").string()}));
    const auto found = pt::waitForPorts(ports, 30s);
    ASSERT_FALSE(found.empty()) << readFile(dir_.path() / "agent.log");
    agent_port_ = found.front();
    ASSERT_TRUE(waitForAnswer(agent_port_, "/readyz", true, 60s, [&] { return agent_->running(); }))
        << readFile(dir_.path() / "agent.log");
  }

  /// GET straight from the agent, with the reader's token.
  HttpClientResponse get(const std::string& target) {
    HttpClient client("127.0.0.1", agent_port_, 30s);
    auto r = client.request("GET", target, {{"Authorization", std::string("Bearer ") + kReader}});
    if (!r.ok()) {
      ADD_FAILURE() << target << ": " << r.error().message;
      return {};
    }
    return *r;
  }

  pt::ScratchDir dir_{"pns-conformance-"};
  std::unique_ptr<pt::NetNamespace> ns_;
  std::unique_ptr<pt::NetNamespace> gone_;
  std::unique_ptr<PodCgroup> cgroup_;
  std::unique_ptr<pt::Sockmaker> maker_;
  std::unique_ptr<pt::Subprocess> agent_;
  std::uint16_t agent_port_ = 0;
};

class OpenApiPrism : public LivePodAgent {
 protected:
  void SetUp() override {
    LivePodAgent::SetUp();
    if (IsSkipped() || HasFatalFailure()) {
      return;
    }
    PODNETSTAT_REQUIRE_TOOL(prism, "prism");
    PODNETSTAT_REQUIRE_TOOL(node, "node");
    prism_ = prism;
    node_ = node;
    spec_ = json::parse(readFile(specPath()));
    startPrism();
  }

  void TearDown() override {
    if (HasFailure() && !prism_log_.empty()) {
      const std::string log = readFile(prism_log_);
      std::cerr << "--- prism's log (last 4000 bytes):\n"
                << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << "\n";
    }
    prism_process_.reset();
    LivePodAgent::TearDown();
  }

  void startPrism() {
    prism_port_ = freeLoopbackPort();
    prism_log_ = dir_.path() / "prism.log";
    prism_process_ = std::make_unique<pt::Subprocess>(loggedTo(
        prism_log_,
        {prism_.string(), "proxy", "--errors", "-h", "127.0.0.1", "-p", std::to_string(prism_port_),
         specPath().string(), "http://127.0.0.1:" + std::to_string(agent_port_)}));
    ASSERT_TRUE(waitForAnswer(prism_port_, "/healthz", false, 120s, [&] {
      return prism_process_->running();
    })) << readFile(prism_log_);
  }

  /// The document's path template for a concrete path, or "".
  std::string templateOf(const std::string& target) const {
    const std::string path = target.substr(0, target.find('?'));
    for (const auto& [tpl, item] : spec_["paths"].items()) {
      const std::regex pattern("^" + std::regex_replace(tpl, std::regex(R"(\{[^}]+\})"), "[^/]+") +
                               "$");
      if (std::regex_match(path, pattern)) {
        return tpl;
      }
    }
    return "";
  }

  static std::vector<std::pair<std::string, std::string>> withToken(const Ask& ask) {
    auto fields = ask.fields;
    if (!ask.token.empty()) {
      fields.emplace_back("Authorization", "Bearer " + ask.token);
    }
    return fields;
  }

  /// Asks through Prism; the answer must have the status and no violation.
  HttpClientResponse throughPrism(const Ask& ask) {
    HttpClient client("127.0.0.1", prism_port_, 60s);
    auto r = client.request(ask.method, ask.target, withToken(ask));
    if (!r.ok()) {
      ADD_FAILURE() << ask.target << ": " << r.error().message;
      return {};
    }
    const std::string shown = ask.target.substr(0, 200);
    EXPECT_EQ(r->status, ask.status) << shown << ": " << r->body.substr(0, 1000);
    EXPECT_EQ(r->header("sl-violations"), "") << shown << ": Prism found violations";
    EXPECT_THAT(r->header("content-type"), ::testing::Not(::testing::HasSubstr("problem+json")))
        << shown << ": Prism answered itself: " << r->body.substr(0, 1000);
    covered_[templateOf(ask.target)].insert(r->status);
    return *r;
  }

  /// Sends raw bytes to the agent; keeps the answer for prism_validate.mjs.
  void direct(const std::string& path, const std::string& request, unsigned status) {
    const auto answer = pt::exchange(agent_port_, request);
    ASSERT_TRUE(answer.has_value()) << request.substr(0, 100) << ": no answer";
    EXPECT_EQ(answer->status, status) << request.substr(0, 100) << ": " << answer->body;
    direct_answers_.push_back({{"path", path},
                               {"status", answer->status},
                               {"headers", answer->headers},
                               {"body", answer->body}});
    covered_[templateOf(path)].insert(answer->status);
  }

  /// Runs Prism's response validator over the direct answers; its report on failure.
  void validateDirectAnswers() {
    const fs::path file = dir_.path() / "answers.json";
    std::ofstream(file) << direct_answers_.dump();
    const auto result = pt::runCommand(
        {"/bin/sh", "-c", "exec \"$0\" \"$@\" <'" + file.string() + "'", node_.string(),
         (sourceRoot() / "tests" / "agent" / "prism_validate.mjs").string(), prism_.string(),
         specPath().string()},
        120s);
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    EXPECT_THAT(result.out, ::testing::HasSubstr(std::to_string(direct_answers_.size()) +
                                                 " answers checked, 0 violations"));
  }

  json spec_;
  fs::path prism_;
  fs::path node_;
  std::unique_ptr<pt::Subprocess> prism_process_;
  fs::path prism_log_;
  std::uint16_t prism_port_ = 0;
  std::map<std::string, std::set<unsigned>> covered_;
  json direct_answers_ = json::array();
};

TEST_F(OpenApiPrism, EveryRouteAndEveryDeclaredStatusPassesPrismsValidation) {
  const std::string ns = ns_->name();
  const std::string inode = std::to_string(ns_->inode());
  const std::string pid = std::to_string(maker_->pid());
  const std::string pod = "/api/v1/namespaces/default/pods/web-0";
  const std::vector<std::string> views = {"interfaces", "routes", "stats", "groups"};

  // The normal answers, JSON and table, with the filters as clients send them.
  std::vector<Ask> asks = {
      {"/healthz"},
      {"/readyz"},
      {"/metrics"},
      {"/metrics", 200, kScraper},
      {"/api/v1/node"},
      {"/api/v1/node?format=json"},
      {"/api/v1/sockets"},
      {"/api/v1/sockets?format=table"},
      {"/api/v1/sockets?transport=tcp&transport=udp6"},
      {"/api/v1/sockets?transport=tcp,tcp6,unix&state=LISTEN&state=established,CONNECTED"},
      {"/api/v1/sockets?listening=true&format=table"},
      {"/api/v1/sockets?connected=false&port=53"},
      {"/api/v1/sockets?pid=" + pid + "&netns=" + ns},
      {"/api/v1/sockets?netns=" + inode + "&format=table"},
      {"/api/v1/sockets?namespace=default&pod=web-0"},
      {"/api/v1/netns"},
      {"/api/v1/netns?format=json"},
      {"/api/v1/pods"},
      {"/api/v1/namespaces/default/pods"},
      {pod + "/sockets"},
      {pod + "/sockets?format=table&transport=tcp&transport=unix"},
      {std::string("/api/v1/pods/") + kPodUid + "/sockets"},
      {std::string("/api/v1/pods/") + kPodUid + "/sockets?listening=true&format=table"},
      {"/api/v1/listeners"},
      {"/api/v1/listeners?format=table"},
      {"/api/v1/sockets?tcpInfo=true"},
      {"/api/v1/sockets?tcpInfo=false&transport=tcp&format=table"},
      {"/api/v1/sockets?tcpInfo=true&format=table"},
      {pod + "/sockets?tcpInfo=true&listening=true"},
      {std::string("/api/v1/pods/") + kPodUid + "/sockets?tcpInfo=true&format=table"},
      {"/api/v1/listeners?tcpInfo=true"},
      {"/api/v1/listeners?tcpInfo=true&format=table"},
      {"/api/v1/listeners?exposure=pod&exposure=loopback,node&transport=tcp,udp"},
      {"/api/v1/listeners?declared=false&listening=true"},
      // Watches: the 410 ERROR of a resourceVersion never given, and streams that end by their
      // timeout (with bookmarks, or nothing matching).
      {"/api/v1/sockets?watch=true&resourceVersion=99999999"},
      {"/api/v1/sockets?watch=true&timeoutSeconds=1&allowWatchBookmarks=true&port=1"},
      {"/api/v1/listeners?watch=true&timeoutSeconds=1&exposure=pod"},
      {pod + "/sockets?watch=true&timeoutSeconds=1&listening=true"},
      {std::string("/api/v1/pods/") + kPodUid + "/sockets?watch=true&timeoutSeconds=1"},
      {"/api/v1/pods?watch=true&resourceVersion=99999999"},
      {"/api/v1/pods?watch=true&timeoutSeconds=1&allowWatchBookmarks=true"},
      {"/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1"},
      {"/api/v1/netns/" + ns + "/interfaces?all=true&format=table"},
      {"/api/v1/netns/" + ns + "/interfaces?all=false"},
      {"/api/v1/netns/" + inode + "/routes?family=inet6"},
      {"/api/v1/netns/" + ns + "/groups?family=inet&format=table"},
  };
  for (const std::string& view : views) {
    for (const std::string& base : {"/api/v1/netns/" + ns + "/" + view, pod + "/" + view}) {
      asks.push_back({base});
      asks.push_back({base + "?format=table"});
    }
  }
  // The errors the agent gives, through Prism.
  std::set<std::string> paths;
  for (const auto& [tpl, item] : spec_["paths"].items()) {
    std::string path = std::regex_replace(tpl, std::regex(R"(\{netns\})"), ns);
    path = std::regex_replace(path, std::regex(R"(\{namespace\})"), "default");
    path = std::regex_replace(path, std::regex(R"(\{pod\})"), "web-0");
    path = std::regex_replace(path, std::regex(R"(\{uid\})"), kPodUid);
    paths.insert(path);
    const json& responses = item["get"]["responses"];
    if (responses.contains("400")) {
      asks.push_back({path + "?undocumented=1", 400});
    }
    if (responses.contains("404")) {
      std::string missing = std::regex_replace(path, std::regex("/netns/" + ns + "/"), "/netns/1/");
      missing = std::regex_replace(missing, std::regex("/web-0/"), "/nobody-0/");
      missing = std::regex_replace(missing, std::regex(kPodUid), kGonePodUid + std::string("0"));
      asks.push_back({missing, 404});
    }
    asks.push_back({path, 401, ""});
    asks.push_back({path, 401, "no-such-token"});
    asks.push_back({path, 403, path == "/metrics" ? kApiOnly : kScraper});
    asks.push_back({path + "?netns=" + std::string(9000, 'n'), 414});
    asks.push_back({path, 431, kReader, {{"X-Padding", std::string(9000, 'p')}}});
  }
  // A namespace that went away since the scan: its views cannot be read any more.
  const std::string gone = gone_->name();
  gone_.reset();
  for (const std::string& view : views) {
    asks.push_back({"/api/v1/netns/" + gone + "/" + view, 503});
  }

  for (const Ask& ask : asks) {
    throughPrism(ask);
  }

  // The pod list has the pod, with its namespace.
  const json pods = json::parse(throughPrism({"/api/v1/pods"}).body, nullptr, false);
  ASSERT_EQ(pods.value("items", json::array()).size(), 1U) << pods.dump();
  EXPECT_EQ(pods["items"][0]["uid"], kPodUid);
  EXPECT_EQ(pods["items"][0]["netns"]["inode"], ns_->inode());
  EXPECT_EQ(pods["items"][0]["containers"][0]["id"], kContainerId);
  // A pod watch's events carry the list's items: their objects, as a pod list, go to Prism's
  // validator with the answers below.
  const auto watched = throughPrism({"/api/v1/pods?watch=true&timeoutSeconds=1"});
  json watched_pods = pods;
  watched_pods["items"] = json::array();
  std::istringstream events(watched.body);
  for (std::string line; std::getline(events, line);) {
    if (!line.empty()) {
      const json e = json::parse(line);
      EXPECT_EQ(e["type"], "ADDED") << line;
      watched_pods["items"].push_back(e["object"]);
    }
  }
  ASSERT_EQ(watched_pods["items"].size(), 1U) << watched.body;
  EXPECT_EQ(watched_pods["items"][0]["uid"], kPodUid);
  direct_answers_.push_back({{"path", "/api/v1/pods"},
                             {"status", 200},
                             {"headers", {{"content-type", "application/json"}}},
                             {"body", watched_pods.dump()}});
  // A pod whose namespace is unknown (hostNetwork, or not found) has "netns": null, which a live
  // node without a runtime cannot show: its object as the agent renders it, in a pod list,
  // goes to Prism's validator with the answers below.
  k8s::Pod unplaced;
  unplaced.uid = kGonePodUid;
  unplaced.namespace_name = "default";
  unplaced.name = "host-0";
  unplaced.host_network = true;
  unplaced.sources = k8s::kSourceCgroup;
  std::string pod_json;
  appendPodJson(pod_json, unplaced, nullptr, PodSocketCounts{});
  ASSERT_TRUE(json::parse(pod_json)["netns"].is_null()) << pod_json;
  json list = pods;
  list["items"] = json::array({json::parse(pod_json)});
  direct_answers_.push_back({{"path", "/api/v1/pods"},
                             {"status", 200},
                             {"headers", {{"content-type", "application/json"}}},
                             {"body", list.dump()}});

  // What Prism's front end refuses before forwarding: asked directly, checked by its validator.
  const std::string auth = std::string("Authorization: Bearer ") + kReader + "\r\n";
  for (const std::string& path : paths) {
    direct(path, "DELETE " + path + " HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 405);
    direct(path, "GET " + path + " HTTP/1.1\r\nHost: x\r\n" + auth + "Content-Length: 3\r\n\r\nabc",
           413);
    direct(path, "BREW " + path + " HTTP/1.1\r\nHost: x\r\n" + auth + "\r\n", 501);
    direct(path, "GET " + path + " HTTP/2.0\r\nHost: x\r\n" + auth + "\r\n", 505);
  }
  validateDirectAnswers();

  // Credentials that cannot be checked (a broken token file): 503 on every path.
  std::ofstream(dir_.path() / "tokens", std::ios::trunc) << "broken\n";
  for (const std::string& path : paths) {
    throughPrism({path, 503});
  }

  // Every status every path declares was asked for.
  for (const auto& [tpl, item] : spec_["paths"].items()) {
    for (const auto& [status, response] : item["get"]["responses"].items()) {
      EXPECT_TRUE(covered_[tpl].contains(static_cast<unsigned>(std::stoul(status))))
          << tpl << " declares " << status << " but was not asked for it";
    }
  }
}

TEST_F(LivePodAgent, PromtoolAcceptsTheMetrics) {
  PODNETSTAT_REQUIRE_TOOL(promtool, "promtool");
  const std::string metrics = get("/metrics").body;
  // What promtool is shown has the node's namespaces, the pod and its listeners.
  EXPECT_THAT(metrics, ::testing::HasSubstr("netns=\"" + ns_->name() + "\""));
  EXPECT_THAT(metrics,
              ::testing::HasSubstr("podnetstat_sockets{namespace=\"default\",pod=\"web-0\""));
  EXPECT_THAT(metrics,
              ::testing::HasSubstr("podnetstat_listeners{namespace=\"default\",pod=\"web-0\""));
  EXPECT_THAT(metrics, ::testing::HasSubstr("podnetstat_tcp_listen_drops_total{"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("podnetstat_listen_queue_length{"));
  EXPECT_THAT(metrics, ::testing::HasSubstr("# TYPE podnetstat_listen_queue_max gauge"));
  const fs::path file = dir_.path() / "metrics.txt";
  std::ofstream(file) << metrics;
  const auto result = pt::runCommand(
      {"/bin/sh", "-c", "exec \"$0\" check metrics <'" + file.string() + "'", promtool.string()},
      60s);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out + result.err, "") << "promtool has nothing to say";
}

}  // namespace
}  // namespace podnetstat::agent
