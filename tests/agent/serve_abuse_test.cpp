// Abuse of the API of the real `podnetstat serve` binary over loopback: oversized request lines
// and headers, slowloris clients, a thousand idle connections (under and over the connection
// cap), malformed request lines, percent-encoding tricks and path traversal, huge query strings
// and pipelined requests. Each test checks the status codes, that the agent's open files and
// memory stay bounded (from /proc/<pid>), and that a normal client is served meanwhile.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "raw_http.h"
#include "serve_process.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using namespace std::string_literals;
using nlohmann::json;
using podnetstat::testing::Answer;
using podnetstat::testing::exchange;
using podnetstat::testing::NoAsanQuarantine;
using podnetstat::testing::parseAnswers;
using podnetstat::testing::Raw;
using podnetstat::testing::ServeProcess;
using Clock = std::chrono::steady_clock;

/// A normal client, on a fresh connection: the node object and the socket list, 200 and JSON.
void expectServesOthers(const ServeProcess& agent, const std::string& when) {
  HttpClient client("127.0.0.1", agent.port(), 10s);
  for (const char* target : {"/api/v1/node", "/api/v1/sockets?transport=tcp"}) {
    auto r = client.get(target);
    ASSERT_TRUE(r.ok()) << when << ": " << target << ": " << r.error().message;
    EXPECT_EQ(r->status, 200U) << when << ": " << target << ": " << r->body.substr(0, 300);
    EXPECT_FALSE(json::parse(r->body, nullptr, false).is_discarded()) << when << ": " << target;
  }
}

/// An error answer: the status, the JSON error body with the same code, and the connection
/// closed afterwards (the server does not read on after a request it could not use).
void expectError(const std::optional<Answer>& a, unsigned status, const std::string& what) {
  ASSERT_TRUE(a.has_value()) << what << ": no answer";
  EXPECT_EQ(a->status, status) << what << ": " << a->body;
  const json body = json::parse(a->body, nullptr, false);
  ASSERT_FALSE(body.is_discarded()) << what << ": " << a->body;
  EXPECT_EQ(body["error"]["code"], status) << what;
}

/// Raises our own soft open-file limit to `wanted` (bounded by the hard limit); the limit in
/// force afterwards.
rlim_t raiseOwnFdLimit(rlim_t wanted) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_cur < wanted) {
    lim.rlim_cur = std::min(wanted, lim.rlim_max);
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

/// The agent's open files when nothing happens: the least of a few samples (the connection of
/// the readiness probe, for one, is closed by the agent a moment after the probe left).
long settledFds(const ServeProcess& agent) {
  long n = agent.fds();
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(25ms);
    n = std::min(n, agent.fds());
  }
  return n;
}

/// Polls until the agent has `expected` open files (at most 10 s); the last count seen.
long waitForFds(const ServeProcess& agent, long expected) {
  long n = agent.fds();
  for (int i = 0; i < 200 && n != expected; ++i) {
    std::this_thread::sleep_for(50ms);
    n = agent.fds();
  }
  return n;
}

// One scan at start and no more: the agent's open files then only change with connections.
const std::vector<std::string> kQuiet = {"--refresh", "1h"};

std::vector<std::string> with(std::vector<std::string> args) {
  args.insert(args.end(), kQuiet.begin(), kQuiet.end());
  return args;
}

TEST(ServeAbuse, AnOversizedRequestLineIs414) {
  ServeProcess agent(kQuiet);
  // 16 KiB of target: twice the header limit, and the request line is not even complete when
  // the limit is reached, so the answer is "URI too long" rather than "header too large".
  const std::string target = "/api/v1/sockets?pod=" + std::string(16 * 1024, 'a');
  const auto a = exchange(agent.port(), "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
  expectError(a, 414, "16 KiB request line");
  // A long target that fits: 7 KiB, a valid (if pointless) filter.
  const auto fits = exchange(agent.port(), "GET /api/v1/sockets?pod=" + std::string(7 * 1024, 'a') +
                                               " HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(fits.has_value());
  EXPECT_EQ(fits->status, 200U);
  EXPECT_TRUE(json::parse(fits->body)["items"].empty());
  expectServesOthers(agent, "after the long request lines");
}

TEST(ServeAbuse, OversizedHeadersAre431) {
  ServeProcess agent(kQuiet);
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 200; ++i) {
    request += "X-Pad-" + std::to_string(i) + ": " + std::string(100, 'p') + "\r\n";
  }
  request += "\r\n";
  expectError(exchange(agent.port(), request), 431, "20 KiB of header fields");
  // One huge field too.
  expectError(exchange(agent.port(), "GET /healthz HTTP/1.1\r\nCookie: " +
                                         std::string(64 * 1024, 'c') + "\r\n\r\n"),
              431, "one 64 KiB field");
  // Just under the limit is fine.
  std::string fits = "GET /healthz HTTP/1.1\r\nConnection: close\r\n";
  for (int i = 0; i < 60; ++i) {
    fits += "X-Pad-" + std::to_string(i) + ": " + std::string(100, 'p') + "\r\n";
  }
  fits += "\r\n";
  const auto ok = exchange(agent.port(), fits);
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(ok->status, 200U);
  expectServesOthers(agent, "after the large headers");
}

TEST(ServeAbuse, SlowlorisClientsAreCutOffByTheReadTimeoutWhileOthersAreServed) {
  ServeProcess agent(with({"--read-timeout", "1s"}));
  const long fds_before = settledFds(agent);
  // 50 clients trickle a 400-byte header one byte per 100 ms each: 40 s per header, if the
  // server let them.
  const std::string header =
      "GET /api/v1/sockets HTTP/1.1\r\nHost: x\r\nX-Slow: " + std::string(350, 's') + "\r\n\r\n";
  constexpr int kClients = 50;
  std::vector<std::unique_ptr<Raw>> slow;
  for (int i = 0; i < kClients; ++i) {
    slow.push_back(std::make_unique<Raw>(agent.port()));
    ASSERT_TRUE(slow.back()->ok());
  }
  std::vector<std::size_t> sent(kClients, 0);
  std::vector<bool> closed(kClients, false);
  std::vector<std::string> got(kClients);
  int open = kClients;
  int served_meanwhile = 0;
  // Bounded by count: at most the whole header; every round also asks as a normal client.
  for (std::size_t round = 0; round < header.size() && open > 0; ++round) {
    for (int i = 0; i < kClients; ++i) {
      if (closed[i]) {
        continue;
      }
      if (slow[i]->closedByPeer(got[i]) || !slow[i]->send(header.substr(sent[i], 1))) {
        closed[i] = true;
        --open;
        continue;
      }
      ++sent[i];
    }
    if (round % 5 == 0) {
      HttpClient client("127.0.0.1", agent.port(), 5s);
      auto r = client.get("/healthz");
      if (r.ok() && r->status == 200) {
        ++served_meanwhile;
      }
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(open, 0) << "slow clients still connected after trickling their whole header";
  for (int i = 0; i < kClients; ++i) {
    EXPECT_LT(sent[i], header.size()) << "client " << i << " got to finish its header";
    EXPECT_EQ(got[i].find("200 OK"), std::string::npos) << "client " << i << " was answered";
  }
  EXPECT_GT(served_meanwhile, 0);
  expectServesOthers(agent, "after the slowloris clients");
  slow.clear();
  EXPECT_EQ(waitForFds(agent, fds_before), fds_before);
}

TEST(ServeAbuse, AThousandIdleConnectionsDoNotStopTheServer) {
  ASSERT_GE(raiseOwnFdLimit(4096), 1200U) << "cannot open 1000 connections here";
  // A read timeout longer than the test: the idle connections stay until we close them.
  const NoAsanQuarantine measurable_memory;
  ServeProcess agent(with({"--read-timeout", "60s", "--max-connections", "4096"}));
  const long fds_before = settledFds(agent);
  const long rss_before = agent.rss();
  std::vector<std::unique_ptr<Raw>> idle;
  for (int i = 0; i < 1000; ++i) {
    idle.push_back(std::make_unique<Raw>(agent.port()));
    ASSERT_TRUE(idle.back()->ok()) << "connection " << i;
  }
  // All accepted: one socket each in the agent, and nothing else.
  EXPECT_EQ(waitForFds(agent, fds_before + 1000), fds_before + 1000);
  expectServesOthers(agent, "with 1000 idle connections");
  // Bounded memory: well under 64 KiB per idle connection.
  const long rss_idle = agent.rss();
  EXPECT_LT(rss_idle - rss_before, 64 * 1024) << "KiB for 1000 idle connections";
  idle.clear();
  EXPECT_EQ(waitForFds(agent, fds_before), fds_before)
      << "sockets left open after the clients left";
  expectServesOthers(agent, "after the idle connections left");
}

TEST(ServeAbuse, OverTheConnectionCapTheOldestIdleConnectionsAreEvicted) {
  ASSERT_GE(raiseOwnFdLimit(4096), 1200U) << "cannot open 1000 connections here";
  ServeProcess agent(with({"--read-timeout", "60s", "--max-connections", "100"}));
  const long fds_before = settledFds(agent);
  // 500 connections that never send a byte, then 500 keep-alive ones left idle after a request.
  std::vector<std::unique_ptr<Raw>> silent;
  for (int i = 0; i < 500; ++i) {
    silent.push_back(std::make_unique<Raw>(agent.port()));
    ASSERT_TRUE(silent.back()->ok()) << "connection " << i;
  }
  std::vector<std::unique_ptr<HttpClient>> kept;
  int answered = 0;
  for (int i = 0; i < 500; ++i) {
    kept.push_back(std::make_unique<HttpClient>("127.0.0.1", agent.port(), 5s));
    auto r = kept.back()->get("/healthz");
    answered += r.ok() && r->status == 200 ? 1 : 0;
  }
  EXPECT_EQ(answered, 500) << "newcomers were refused instead of idle connections evicted";
  // The agent holds at most the cap (an evicted connection is closed on its own strand: poll).
  long fds_full = agent.fds();
  for (int i = 0; i < 100 && fds_full > fds_before + 100; ++i) {
    std::this_thread::sleep_for(50ms);
    fds_full = agent.fds();
  }
  EXPECT_LE(fds_full, fds_before + 100);
  expectServesOthers(agent, "with 1000 idle connections over a cap of 100");
  // Every silent one was evicted (closed by the server), oldest first.
  int silent_closed = 0;
  for (auto& s : silent) {
    std::string got;
    silent_closed += s->closedByPeer(got) ? 1 : 0;
  }
  EXPECT_EQ(silent_closed, 500);
  const auto evicted = agent.metric("podnetstat_http_evicted_connections_total");
  ASSERT_TRUE(evicted.has_value());
  EXPECT_GE(*evicted, 900);
  silent.clear();
  kept.clear();
  EXPECT_EQ(waitForFds(agent, fds_before), fds_before);
}

TEST(ServeAbuse, MalformedRequestLinesGetTheirStatus) {
  ServeProcess agent(with({"--read-timeout", "1s"}));

  struct Case {
    std::string request;
    unsigned status;
    std::string why;
  };

  const std::vector<Case> cases = {
      {"GARBAGE\r\n\r\n", 400, "no method, target or version"},
      {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"s, 400, "a TLS hello"},
      {"GET /healthz\r\nHost: x\r\n\r\n", 400, "no version"},
      {"GET /healthz\r\n", 400, "HTTP/0.9 (no version, one line end)"},
      {"GET /healthz HTTP/1.1 extra\r\n\r\n", 400, "a fourth word"},
      {"GET  /healthz HTTP/1.1\r\n\r\n", 400, "two spaces"},
      {"GET /heal\x01thz HTTP/1.1\r\n\r\n", 400, "a control character in the target"},
      {"GET /healthz HTTP/x.y\r\n\r\n", 400, "a version that is no number"},
      {"G@T /healthz HTTP/1.1\r\n\r\n", 400, "a method that is no token"},
      {"GET /healthz HTTP/2.0\r\n\r\n", 505, "HTTP/2 in an HTTP/1 request line"},
      {"GET /healthz HTTP/3.1\r\n\r\n", 505, "HTTP/3"},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505, "the HTTP/2 connection preface"},
      {"GET /healthz HTTP/1.7\r\n\r\n", 505, "a 1.x version the parser does not take"},
      {"GET /healthz HTTP/1.1\nHost: x\n\n", 400, "bare line feeds"},
      {"FOO /healthz HTTP/1.1\r\n\r\n", 501, "a method nobody knows"},
      {"get /healthz HTTP/1.1\r\n\r\n", 501, "methods are case-sensitive"},
      {"POST /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, "a known method not allowed"},
      {"DELETE /api/v1/sockets HTTP/1.1\r\n\r\n", 405, "DELETE"},
      {"OPTIONS /api/v1/node HTTP/1.1\r\n\r\n", 405, "OPTIONS"},
  };
  for (const Case& c : cases) {
    const auto a = exchange(agent.port(), c.request);
    expectError(a, c.status, c.why);
    if (c.status == 405) {
      EXPECT_EQ(a->headers.contains("allow") ? a->headers.at("allow") : "", "GET, HEAD") << c.why;
    }
    if (a) {
      EXPECT_EQ(a->version, "HTTP/1.1") << c.why;
    }
  }
  // HTTP/1.0 is answered in HTTP/1.0.
  const auto old = exchange(agent.port(), "GET /healthz HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->status, 200U);
  EXPECT_EQ(old->version, "HTTP/1.0");
  expectServesOthers(agent, "after the malformed requests");
}

TEST(ServeAbuse, PercentEncodingAndTraversalNeverReachAFileNorFail) {
  ServeProcess agent(kQuiet);
  // Each must be 400 or 404 with a JSON error: none names a route (a decoded '/' is part of a
  // segment, "." and ".." are plain segments), and no path is ever looked up in a file system.
  const std::vector<std::string> targets = {
      "/api/v1/../metrics",
      "/api/v1/%2e%2e/metrics",
      "/api/v1/%2E%2E/%2E%2E/etc/passwd",
      "/../../../../etc/passwd",
      "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
      "/api%2Fv1%2Fnode",
      "/api/v1%2fsockets",
      "/api/v1/%252e%252e/metrics",
      "/%25%32%65%25%32%65/etc/passwd",
      "/api/v1/sockets%00",
      "/api/v1/sockets%00.json",
      "/healthz%00/../etc/passwd",
      "/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
      "/%c0%af%c0%afetc%c0%afpasswd",
      "/api/v1/pods/%00%ff%fe/sockets",
      "/api/v1/pods/..%2f..%2fetc%2fpasswd/sockets",
      "/api/v1/namespaces/%2e%2e%2f%2e%2e/pods/x/sockets",
      "/api/v1/sockets/",
      "//api/v1/node",
      "/api/v1/./node",
      "/api/v1/node%",
      "/api/v1/node%zz",
      "/api/v1/node%2",
      "/\xc0\xae\xc0\xae/etc/passwd",
      "/\xff\xfe\xfd",
      "/etc/passwd",
      "/proc/self/environ",
  };
  for (const auto& target : targets) {
    const auto a = exchange(agent.port(), "GET " + target + " HTTP/1.1\r\n\r\n");
    ASSERT_TRUE(a.has_value()) << target;
    EXPECT_TRUE(a->status == 400 || a->status == 404) << target << " -> " << a->status;
    const json body = json::parse(a->body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << target << ": " << a->body;
    EXPECT_EQ(body["error"]["code"], a->status) << target;
    EXPECT_EQ(a->body.find("root:"), std::string::npos) << target;
    EXPECT_EQ(a->body.find("PATH="), std::string::npos) << target;
  }
  // The decoded segment is compared as is: an encoded letter is that letter.
  const auto encoded =
      exchange(agent.port(), "GET /api/v1/%6eode HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(encoded.has_value());
  EXPECT_EQ(encoded->status, 200U);
  // A query's percent-escapes: a bad one is 400, an encoded NUL is just an unknown value.
  expectError(exchange(agent.port(), "GET /api/v1/sockets?state=%zz HTTP/1.1\r\n\r\n"), 400,
              "bad escape in a query");
  expectError(exchange(agent.port(), "GET /api/v1/sockets?state=LISTEN%00 HTTP/1.1\r\n\r\n"), 400,
              "NUL in a query value");
  const auto pod = exchange(agent.port(),
                            "GET /api/v1/sockets?pod=..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\n"
                            "Connection: close\r\n\r\n");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ(pod->status, 200U);
  EXPECT_TRUE(json::parse(pod->body)["items"].empty());
  expectServesOthers(agent, "after the traversal attempts");
}

TEST(ServeAbuse, HugeQueryStringsAreRefusedOrServedWithBoundedMemory) {
  const NoAsanQuarantine measurable_memory;
  ServeProcess agent(kQuiet);
  // Many parameters, repeatable ones: a valid filter (7.8 KiB of it).
  std::string many = "/api/v1/sockets?";
  for (int i = 0; i < 600; ++i) {
    many += "state=LISTEN&";
  }
  // Many distinct parameters: unknown ones, refused.
  std::string distinct = "/api/v1/sockets?";
  for (int i = 0; i < 900; ++i) {
    distinct += "p" + std::to_string(i) + "=1&";
  }
  // One long value.
  const std::string long_value = "/api/v1/sockets?netns=" + std::string(7500, 'n');
  // Over the limit.
  std::string over = "/api/v1/sockets?";
  for (int i = 0; i < 5000; ++i) {
    over += "state=LISTEN&";
  }

  const auto many_answer =
      exchange(agent.port(), "GET " + many + " HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(many_answer.has_value());
  EXPECT_EQ(many_answer->status, 200U) << many_answer->body.substr(0, 300);
  EXPECT_FALSE(json::parse(many_answer->body, nullptr, false).is_discarded());
  expectError(exchange(agent.port(), "GET " + distinct + " HTTP/1.1\r\n\r\n"), 400,
              "900 unknown parameters");
  const auto long_answer =
      exchange(agent.port(), "GET " + long_value + " HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(long_answer.has_value());
  EXPECT_TRUE(long_answer->status == 200 || long_answer->status == 400) << long_answer->status;
  expectError(exchange(agent.port(), "GET " + over + " HTTP/1.1\r\n\r\n"), 414, "65 KiB query");

  // Memory: a warm-up round, then 300 more rounds of the same; the agent must not keep any.
  const auto round = [&] {
    HttpClient client("127.0.0.1", agent.port(), 10s);
    for (const std::string* target :
         std::array<const std::string*, 3>{&many, &distinct, &long_value}) {
      auto r = client.get(*target);
      ASSERT_TRUE(r.ok()) << r.error().message;
      ASSERT_LT(r->status, 500U);
    }
    exchange(agent.port(), "GET " + over + " HTTP/1.1\r\n\r\n");
  };
  for (int i = 0; i < 20; ++i) {
    round();
  }
  const long rss_before = agent.rss();
  for (int i = 0; i < 300; ++i) {
    round();
  }
  const long rss_after = agent.rss();
  EXPECT_LT(rss_after - rss_before, 8 * 1024) << "KiB kept after 300 rounds of huge queries";
  expectServesOthers(agent, "after the huge queries");
}

TEST(ServeAbuse, PipelinedRequestsAreAllAnsweredInOrder) {
  ServeProcess agent(kQuiet);
  HttpClient client("127.0.0.1", agent.port());
  const auto node = client.get("/api/v1/node");
  const auto sockets = client.get("/api/v1/sockets");
  ASSERT_TRUE(node.ok() && sockets.ok());

  Raw raw(agent.port());
  ASSERT_TRUE(raw.ok());
  // Six requests in one write, the last one closing.
  const std::string requests =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/v1/node HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /api/v1/sockets HTTP/1.1\r\nHost: x\r\n\r\n"
      "HEAD /api/v1/netns HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(raw.send(requests));
  const auto bytes = raw.readToClose(20s);
  ASSERT_TRUE(bytes.has_value());
  const auto answers = parseAnswers(*bytes, {false, false, false, true, false, false});
  ASSERT_EQ(answers.size(), 6U) << bytes->substr(0, 2000);
  EXPECT_EQ(answers[0].status, 200U);
  EXPECT_EQ(answers[0].body, "{\"status\":\"ok\"}\n");
  EXPECT_EQ(answers[1].status, 200U);
  // The node object changes only with scans (one here) and failures (none).
  EXPECT_EQ(json::parse(answers[1].body).at("lastScan"), json::parse(node->body).at("lastScan"));
  EXPECT_EQ(answers[2].status, 200U);
  EXPECT_EQ(answers[2].body, sockets->body) << "the same snapshot gives the same list";
  EXPECT_EQ(answers[3].status, 200U);
  EXPECT_TRUE(answers[3].body.empty());
  EXPECT_EQ(answers[4].status, 404U);
  EXPECT_EQ(answers[5].status, 200U);
  EXPECT_EQ(json::parse(answers[5].body).at("status"), "ready");

  // A hundred in one write, each with its own answer.
  Raw many(agent.port());
  ASSERT_TRUE(many.ok());
  std::string hundred;
  for (int i = 0; i < 99; ++i) {
    hundred += "GET /api/v1/pods/uid-" + std::to_string(i) + "/sockets HTTP/1.1\r\n\r\n";
  }
  hundred += "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n";
  ASSERT_TRUE(many.send(hundred));
  const auto many_bytes = many.readToClose(30s);
  ASSERT_TRUE(many_bytes.has_value());
  const auto many_answers = parseAnswers(*many_bytes);
  ASSERT_EQ(many_answers.size(), 100U);
  for (int i = 0; i < 99; ++i) {
    EXPECT_EQ(many_answers[i].status, 404U) << i;
    EXPECT_THAT(many_answers[i].body,
                ::testing::HasSubstr("pod with UID uid-" + std::to_string(i) + " not found"))
        << i;
  }
  EXPECT_EQ(many_answers[99].status, 200U);
  expectServesOthers(agent, "after the pipelined requests");
}

}  // namespace
}  // namespace podnetstat::agent
