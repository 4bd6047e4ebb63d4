// The API handler as a pure function over a hand-made snapshot: routes, status codes, JSON
// shapes, filters, tables and metrics, without sockets or threads.

#include "podnetstat/agent/api/api_handler.h"

#include <algorithm>
#include <regex>
#include <set>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/render/metrics.h"

namespace podnetstat::agent {
namespace {

using nlohmann::json;
using scanner::IpAddress;
using scanner::Transport;

constexpr std::uint64_t kHostInode = 4026531840;
constexpr std::uint64_t kPodInode = 4026532001;

scanner::Socket inet(Transport t,
                     std::string_view local,
                     std::uint16_t lport,
                     std::string_view remote,
                     std::uint16_t rport,
                     std::uint8_t state,
                     std::uint64_t inode,
                     std::uint32_t ns) {
  scanner::Socket s;
  s.transport = t;
  s.local = {*IpAddress::parse(local), lport};
  s.remote = {*IpAddress::parse(remote), rport};
  s.state = state;
  s.inode = inode;
  s.netns_index = ns;
  s.ref_count = 1;
  return s;
}

/// Two namespaces: the host's (unnamed) and "cni-a".
scanner::ScanResult sampleScan() {
  scanner::ScanResult r;
  scanner::NetNamespace host;
  host.inode = kHostInode;
  host.is_host = true;
  host.pids = {1, 100};
  scanner::NetNamespace pod;
  pod.inode = kPodInode;
  pod.names = {"cni-a"};
  pod.pids = {200};
  r.namespaces = {host, pod};
  r.processes = {{100, 0, kHostInode, "sshd", "sshd"}, {200, 101, kPodInode, "nginx", "nginx"}};
  r.owner_table = {0, 1};

  auto add = [&](scanner::Socket s, int owner) {
    if (owner >= 0) {
      s.owners_begin = static_cast<std::uint32_t>(owner);
      s.owners_count = 1;
    }
    r.sockets.push_back(std::move(s));
  };
  add(inet(Transport::Tcp, "0.0.0.0", 22, "0.0.0.0", 0, 10, 1001, 0), 0);
  add(inet(Transport::Tcp, "10.0.0.1", 22, "10.0.0.2", 50000, 1, 1002, 0), 0);
  add(inet(Transport::Udp, "0.0.0.0", 53, "0.0.0.0", 0, 7, 1003, 0), -1);
  scanner::Socket ux;
  ux.transport = Transport::Unix;
  ux.state = 1;
  ux.unix_type = 1;
  ux.unix_flags = scanner::kUnixFlagAcceptCon;
  ux.unix_path = "/run/x.sock";
  ux.unix_has_path = true;
  ux.inode = 1004;
  ux.ref_count = 2;
  add(ux, 0);
  add(inet(Transport::Tcp, "10.244.0.5", 8080, "10.244.0.9", 40000, 6, 0, 1), -1);
  add(inet(Transport::Tcp6, "::", 8080, "::", 0, 10, 2001, 1), 1);
  add(inet(Transport::Udp, "127.0.0.1", 5353, "127.0.0.1", 53, 1, 2002, 1), 1);
  r.started_unix_ms = 1'700'000'000'123;
  r.duration_ms = 12.3456;
  return r;
}

std::string drain(HttpResponse& r) {
  if (!r.stream) {
    return r.body;
  }
  std::string out;
  while (r.stream->next(out)) {
  }
  return out;
}

class ApiHandlerTest : public ::testing::Test {
 protected:
  ApiHandlerTest()
      : handler_(
            store_, metrics_, NodeInfo{"node-1", "6.1.0", scanner::Backend::Procfs}, {}, false) {}

  void publish(scanner::ScanResult scan = sampleScan()) {
    store_.publish(std::make_shared<const Snapshot>(std::move(scan), "node-1", 1'700'000'000'500));
  }

  HttpResponse call(const std::string& target, const std::string& method = "GET") {
    return handler_({method, target});
  }

  json getJson(const std::string& target, unsigned status = 200) {
    auto r = call(target);
    EXPECT_EQ(r.status, status) << target;
    EXPECT_EQ(r.content_type, "application/json") << target;
    const std::string body = drain(r);
    auto parsed = json::parse(body, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << target << ": " << body;
    return parsed;
  }

  /// Inodes of the sockets a socket list answers.
  std::multiset<std::uint64_t> inodes(const std::string& target) {
    json j = getJson(target);
    std::multiset<std::uint64_t> out;
    for (const auto& item : j["items"]) {
      out.insert(item["inode"].get<std::uint64_t>());
    }
    return out;
  }

  void expectError(const std::string& target,
                   unsigned status,
                   std::string_view mention,
                   const std::string& method = "GET") {
    auto r = call(target, method);
    EXPECT_EQ(r.status, status) << target;
    EXPECT_EQ(r.content_type, "application/json");
    json j = json::parse(drain(r), nullptr, false);
    ASSERT_TRUE(j.is_object()) << target;
    EXPECT_EQ(j["error"]["code"], status);
    EXPECT_THAT(j["error"]["message"].get<std::string>(), ::testing::HasSubstr(mention)) << target;
  }

  SnapshotStore store_;
  ScanMetrics metrics_;
  ApiHandler handler_;
};

TEST_F(ApiHandlerTest, HealthzIsAlwaysOk) {
  EXPECT_EQ(getJson("/healthz"), json({{"status", "ok"}}));
}

TEST_F(ApiHandlerTest, NotReadyUntilTheFirstSnapshot) {
  expectError("/readyz", 503, "no snapshot");
  expectError("/api/v1/sockets", 503, "no snapshot");
  expectError("/api/v1/netns", 503, "no snapshot");
  auto r = call("/readyz");
  EXPECT_THAT(r.headers,
              ::testing::Contains(std::pair<std::string, std::string>("Retry-After", "1")));
  EXPECT_TRUE(getJson("/api/v1/node")["lastScan"].is_null());
  publish();
  EXPECT_EQ(getJson("/readyz")["status"], "ready");
}

TEST_F(ApiHandlerTest, SocketListHasTheListEnvelope) {
  publish();
  json j = getJson("/api/v1/sockets");
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["scannedAt"], "2023-11-14T22:13:20.123Z");
  EXPECT_DOUBLE_EQ(j["scanDurationMs"].get<double>(), 12.346);
  ASSERT_EQ(j["items"].size(), 7U);
}

TEST_F(ApiHandlerTest, SocketObjectsCarryTheirNamespaceAndOwners) {
  publish();
  json j = getJson("/api/v1/sockets?netns=cni-a&transport=tcp6");
  ASSERT_EQ(j["items"].size(), 1U);
  const json& s = j["items"][0];
  EXPECT_EQ(s["transport"], "tcp6");
  EXPECT_EQ(s["local"], json({{"ip", "::"}, {"port", 8080}}));
  EXPECT_EQ(s["state"], "LISTEN");
  EXPECT_EQ(s["processes"], json::parse(R"([{"pid":200,"name":"nginx","program":"nginx"}])"));
  EXPECT_EQ(s["netns"]["inode"], kPodInode);
  EXPECT_EQ(s["netns"]["name"], "cni-a");
  EXPECT_TRUE(s["pod"].is_null());
}

TEST_F(ApiHandlerTest, FiltersSelectExactly) {
  publish();
  using S = std::multiset<std::uint64_t>;
  EXPECT_EQ(inodes("/api/v1/sockets?transport=tcp"), (S{1001, 1002, 0}));
  EXPECT_EQ(inodes("/api/v1/sockets?transport=tcp6,unix"), (S{2001, 1004}));
  EXPECT_EQ(inodes("/api/v1/sockets?state=LISTEN"), (S{1001, 2001}));
  EXPECT_EQ(inodes("/api/v1/sockets?state=listen,time_wait"), (S{1001, 2001, 0}));
  EXPECT_EQ(inodes("/api/v1/sockets?state=LISTENING"), (S{1004}));
  EXPECT_EQ(inodes("/api/v1/sockets?listening=true"), (S{1001, 1003, 1004, 2001}));
  EXPECT_EQ(inodes("/api/v1/sockets?listening=false"), (S{1002, 0, 2002}));
  EXPECT_EQ(inodes("/api/v1/sockets?connected=true"), (S{1002, 0, 2002}));
  EXPECT_EQ(inodes("/api/v1/sockets?port=22"), (S{1001, 1002}));
  EXPECT_EQ(inodes("/api/v1/sockets?port=53"), (S{1003, 2002}));
  EXPECT_EQ(inodes("/api/v1/sockets?pid=200"), (S{2001, 2002}));
  EXPECT_EQ(inodes("/api/v1/sockets?pid=100&transport=unix"), (S{1004}));
  EXPECT_EQ(inodes("/api/v1/sockets?netns=cni-a"), (S{0, 2001, 2002}));
  EXPECT_EQ(inodes("/api/v1/sockets?netns=" + std::to_string(kHostInode)),
            (S{1001, 1002, 1003, 1004}));
  EXPECT_EQ(inodes("/api/v1/sockets?netns=cni%2Da"), (S{0, 2001, 2002}));
  EXPECT_EQ(inodes("/api/v1/sockets?netns=nope"), S{});
  EXPECT_EQ(inodes("/api/v1/sockets?namespace=default"), S{});
  EXPECT_EQ(inodes("/api/v1/sockets?pod=web-0"), S{});
}

TEST_F(ApiHandlerTest, BadParametersAre400NamingThem) {
  publish();
  expectError("/api/v1/sockets?transport=sctp", 400, "'transport'");
  expectError("/api/v1/sockets?port=99999", 400, "'port'");
  expectError("/api/v1/sockets?listening=maybe", 400, "'listening'");
  expectError("/api/v1/sockets?color=red", 400, "'color'");
  expectError("/api/v1/sockets?pid=%zz", 400, "'pid'");
  expectError("/api/v1/netns?port=1", 400, "'port'");
  expectError("/api/v1/node?format=table", 400, "'format'");
  expectError("/api/v1/namespaces/default/pods/web-0/sockets?state=nope", 400, "'state'");
}

TEST_F(ApiHandlerTest, UnknownPathsAre404AndOtherMethods405) {
  publish();
  expectError("/api/v1/socket", 404, "/api/v1/socket");
  expectError("/", 404, "no such path");
  expectError("/api/v1/sockets/", 404, "no such path");
  expectError("/api/v1/namespaces//pods", 404, "no such path");
  expectError("/api/v1/sockets", 405, "POST", "POST");
  auto r = call("/api/v1/sockets", "DELETE");
  EXPECT_EQ(r.status, 405);
  EXPECT_THAT(r.headers,
              ::testing::Contains(std::pair<std::string, std::string>("Allow", "GET, HEAD")));
  EXPECT_EQ(call("/healthz", "HEAD").status, 200);
  expectError("http://x/healthz", 400, "path");
}

TEST_F(ApiHandlerTest, MethodsNobodyKnowsAre501OnEveryPath) {
  publish();
  expectError("/api/v1/sockets", 501, "BREW", "BREW");
  expectError("/nowhere", 501, "not implemented", "FOO");
  // Methods are case-sensitive (RFC 9110 9.1): "get" is not GET.
  expectError("/healthz", 501, "get", "get");
}

TEST_F(ApiHandlerTest, PodRoutesAnswerFromTheEmptyPodIndex) {
  publish();
  json pods = getJson("/api/v1/pods");
  EXPECT_EQ(pods["node"], "node-1");
  EXPECT_EQ(pods["items"], json::array());
  EXPECT_EQ(getJson("/api/v1/namespaces/default/pods")["items"], json::array());
  expectError("/api/v1/namespaces/default/pods/web-0/sockets", 404, "default/web-0");
  expectError("/api/v1/namespaces/kube%2Dsystem/pods/dns/sockets", 404, "kube-system/dns");
  expectError("/api/v1/pods/5f0c-1/sockets", 404, "5f0c-1");
}

TEST_F(ApiHandlerTest, NetnsListDescribesEachNamespace) {
  publish();
  json j = getJson("/api/v1/netns");
  ASSERT_EQ(j["items"].size(), 2U);
  const json& host = j["items"][0];
  EXPECT_EQ(host["inode"], kHostInode);
  EXPECT_TRUE(host["name"].is_null());
  EXPECT_EQ(host["names"], json::array());
  EXPECT_EQ(host["pids"], json::parse("[1,100]"));
  EXPECT_EQ(host["sockets"], 4);
  EXPECT_EQ(host["readable"], true);
  EXPECT_TRUE(host["error"].is_null());
  EXPECT_TRUE(host["pod"].is_null());
  EXPECT_EQ(j["items"][1]["name"], "cni-a");
  EXPECT_EQ(j["items"][1]["sockets"], 3);
}

TEST_F(ApiHandlerTest, NodeDescribesTheLastScan) {
  publish();
  json j = getJson("/api/v1/node");
  EXPECT_EQ(j["node"], "node-1");
  EXPECT_EQ(j["kernel"], "6.1.0");
  EXPECT_EQ(j["backend"], "procfs");
  EXPECT_EQ(j["lastScan"]["sockets"], 7);
  EXPECT_EQ(j["lastScan"]["namespaces"], 2);
  EXPECT_EQ(j["lastScan"]["at"], "2023-11-14T22:13:20.123Z");
  EXPECT_TRUE(j["sources"]["cri"]["ok"].is_boolean());
}

TEST_F(ApiHandlerTest, TableIsNetstatTextWithNamespaceAndPodColumns) {
  publish();
  auto r = call("/api/v1/sockets?format=table");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
  const std::string text = drain(r);
  EXPECT_THAT(text,
              ::testing::StartsWith(
                  "Active Internet connections (servers and established)\n"
                  "Netns      Pod Proto Recv-Q Send-Q Local Address           Foreign Address"));
  EXPECT_THAT(text, ::testing::HasSubstr("\nActive UNIX domain sockets (servers and established)\n"
                                         "Netns      Pod Proto RefCnt Flags"));
  EXPECT_THAT(text, ::testing::HasSubstr("\ncni-a      -   tcp6       0      0 :::8080"));
  EXPECT_THAT(text, ::testing::HasSubstr("200/nginx"));
  EXPECT_THAT(text, ::testing::HasSubstr("\n4026531840 -   tcp        0      0 0.0.0.0:22"));
  // Only the blocks the transports need.
  r = call("/api/v1/sockets?format=table&transport=unix");
  const std::string unix_only = drain(r);
  EXPECT_THAT(unix_only, ::testing::StartsWith("Active UNIX domain sockets"));
  EXPECT_THAT(unix_only, ::testing::HasSubstr("/run/x.sock"));
  r = call("/api/v1/sockets?format=table&transport=tcp");
  EXPECT_THAT(drain(r), ::testing::Not(::testing::HasSubstr("UNIX")));
}

TEST_F(ApiHandlerTest, MetricsAreThePrometheusTextFormat) {
  publish();
  metrics_.recordScan(store_.current()->snapshot().scan(), 0.02, 1'700'000'000'500);
  auto r = call("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  const std::string text = drain(r);
  EXPECT_THAT(text, ::testing::HasSubstr("# TYPE podnetstat_sockets gauge\n"));
  EXPECT_THAT(text,
              ::testing::HasSubstr("podnetstat_sockets{namespace=\"\",pod=\"\",netns=\"cni-a\","
                                   "transport=\"tcp6\",state=\"LISTEN\"} 1\n"));
  EXPECT_THAT(
      text, ::testing::HasSubstr("podnetstat_sockets{namespace=\"\",pod=\"\",netns=\"4026531840\","
                                 "transport=\"tcp\",state=\"LISTEN\"} 1\n"));
  EXPECT_THAT(text,
              ::testing::HasSubstr("podnetstat_scan_duration_seconds_bucket{le=\"0.025\"} 1\n"));
  EXPECT_THAT(text,
              ::testing::HasSubstr("podnetstat_scan_duration_seconds_bucket{le=\"0.01\"} 0\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("podnetstat_scan_duration_seconds_count 1\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("podnetstat_scan_errors_total{kind=\"scan_failed\"} 0\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("podnetstat_skipped_lines_total{file=\"tcp6\"} 0\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("podnetstat_last_scan_timestamp_seconds 1700000000.5\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("podnetstat_source_up{source=\"procfs\"} 1\n"));
  EXPECT_THAT(
      text, ::testing::HasSubstr("podnetstat_build_info{version=\"" PODNETSTAT_VERSION "\"} 1\n"));
  // Every sample line is `name{labels} value` or `name value`.
  const std::regex sample(R"re(^[a-z_]+(\{([a-z]+="([^"\\]|\\.)*",?)*\})? [-+0-9.eInf]+$)re");
  std::size_t start = 0;
  while (start < text.size()) {
    const auto end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "the text ends with a newline";
    const std::string line = text.substr(start, end - start);
    if (!line.starts_with("# ")) {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
    }
    start = end + 1;
  }
}

TEST_F(ApiHandlerTest, MetricLabelValuesAreEscaped) {
  EXPECT_EQ(escapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  auto scan = sampleScan();
  scan.namespaces[1].names = {"we\"ird\\name\n"};
  publish(std::move(scan));
  auto r = call("/metrics");
  EXPECT_THAT(drain(r), ::testing::HasSubstr("netns=\"we\\\"ird\\\\name\\n\""));
}

TEST_F(ApiHandlerTest, ScanFailuresAreCounted) {
  metrics_.recordFailure(0.5, "proc root missing");
  auto r = call("/metrics");
  const std::string text = drain(r);
  EXPECT_THAT(text, ::testing::HasSubstr("podnetstat_scan_errors_total{kind=\"scan_failed\"} 1\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("podnetstat_source_up{source=\"procfs\"} 0\n"));
  EXPECT_EQ(getJson("/api/v1/node")["lastFailure"]["message"], "proc root missing");
}

TEST_F(ApiHandlerTest, HealthListenerServesOnlyHealth) {
  ApiHandler health(store_, metrics_, NodeInfo{"node-1", "6.1.0", scanner::Backend::Procfs}, {},
                    true);
  publish();
  EXPECT_EQ(health({"GET", "/healthz"}).status, 200);
  EXPECT_EQ(health({"GET", "/readyz"}).status, 200);
  EXPECT_EQ(health({"GET", "/metrics"}).status, 404);
  EXPECT_EQ(health({"GET", "/api/v1/sockets"}).status, 404);
}

TEST_F(ApiHandlerTest, LargeListsAreStreamedInBoundedPieces) {
  auto scan = sampleScan();
  const auto base = scan.sockets[0];
  for (std::uint64_t i = 0; i < 20'000; ++i) {
    auto s = base;
    s.inode = 100'000 + i;
    s.local.port = static_cast<std::uint16_t>(1024 + i % 60'000);
    scan.sockets.insert(scan.sockets.begin() + 1, s);
  }
  publish(std::move(scan));
  auto r = call("/api/v1/sockets");
  ASSERT_TRUE(r.stream);
  std::string body;
  std::size_t pieces = 0;
  std::size_t largest = 0;
  for (bool more = true; more;) {
    std::string piece;
    more = r.stream->next(piece);
    largest = std::max(largest, piece.size());
    body += piece;
    ++pieces;
  }
  EXPECT_GT(pieces, 20U);
  EXPECT_LT(largest, 512U * 1024U);
  json j = json::parse(body);
  EXPECT_EQ(j["items"].size(), 20'007U);
  // Filtered down to two sockets among 20,007.
  r = call("/api/v1/sockets?port=22");
  EXPECT_EQ(json::parse(drain(r))["items"].size(), 2U);
}

}  // namespace
}  // namespace podnetstat::agent
