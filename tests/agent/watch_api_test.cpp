// ?watch=true over real HTTP on loopback: the agent in-process, scanning one network namespace of
// this test every 100 ms; sockets opened and closed in that namespace by the test itself (a
// thread enters it to create them); events read from the chunked answer as they come.
//
// Needs root and `ip` (skipped otherwise). Everything made here is removed by destructors.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/agent/state/watch_history.h"

#include "http_client.h"
#include "namespace_agent_test.h"
#include "netns.h"
#include "serve_process.h"
#include "watch_client.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::waitReady;
using Clock = std::chrono::steady_clock;

using Fd = podnetstat::testing::OwnedFd;
using podnetstat::testing::listenIn;
using podnetstat::testing::Watch;

/// A socket created inside `ns`: it stays in that namespace, owned by this process.
Fd socketIn(const NetNamespace& ns, int type) {
  Fd fd(podnetstat::testing::socketIn(ns, AF_INET, type));
  if (fd.get() < 0) {
    throw std::runtime_error("cannot make a socket in the test namespace");
  }
  return fd;
}

/// The events of `events` for sockets on local port `port`.
std::vector<json> onPort(const std::vector<json>& events, int port) {
  std::vector<json> out;
  for (const auto& e : events) {
    if (e["type"] != "BOOKMARK" && e["object"]["local"]["port"] == port) {
      out.push_back(e);
    }
  }
  return out;
}

class WatchApiTest : public podnetstat::testing::NamespaceAgentTest {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    startAgent("pnwatch");
  }
};

TEST_F(WatchApiTest, ListsCarryTheScanGenerationAsResourceVersion) {
  const json a = list("/api/v1/sockets");
  ASSERT_TRUE(a["resourceVersion"].is_string());
  waitScans(2);
  const json b = list("/api/v1/sockets");
  EXPECT_GE(std::stoull(b["resourceVersion"].get<std::string>()),
            std::stoull(a["resourceVersion"].get<std::string>()) + 2);
}

TEST_F(WatchApiTest, AddedModifiedDeletedFollowSocketsAcrossScans) {
  Watch watch(server_->port(), "/api/v1/sockets?watch=true&transport=tcp");
  ASSERT_EQ(watch.status(), 200u);
  EXPECT_NE(watch.header().find("Transfer-Encoding: chunked"), std::string::npos);
  Fd listener = listenIn(*ns_, 7701);
  auto events = onPort(
      watch.until([](const std::vector<json>& all) { return !onPort(all, 7701).empty(); }), 7701);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["state"], "LISTEN");
  EXPECT_EQ(events[0]["object"]["processes"][0]["pid"], ::getpid());

  // Shut down, a listener leaves the table (an unhashed TCP socket is in no table): DELETED,
  // with the last state seen.
  ASSERT_EQ(::shutdown(listener.get(), SHUT_RDWR), 0);
  events = onPort(
      watch.until([](const std::vector<json>& all) { return !onPort(all, 7701).empty(); }), 7701);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "DELETED");
  EXPECT_EQ(events[0]["object"]["state"], "LISTEN");

  // A connection: client and server ends are ADDED, ESTABLISHED.
  Fd server = listenIn(*ns_, 7702);
  Fd client = socketIn(*ns_, SOCK_STREAM);
  const sockaddr_in a = podnetstat::testing::loopbackV4(7702);
  ASSERT_EQ(::connect(client.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
  Fd accepted(::accept(server.get(), nullptr, nullptr));
  const auto established = [](const std::vector<json>& all) {
    int n = 0;
    for (const auto& e : all) {
      n += e["type"] == "ADDED" && e["object"]["state"] == "ESTABLISHED" ? 1 : 0;
    }
    return n;
  };
  EXPECT_EQ(established(watch.until([&](const auto& all) { return established(all) >= 2; })), 2);
  // The client end closes first: ESTABLISHED -> FIN_WAIT2 is a MODIFIED of the same inode.
  const auto client_port = [&] {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    ::getsockname(client.get(), reinterpret_cast<sockaddr*>(&local), &len);
    return ntohs(local.sin_port);
  }();
  ::shutdown(client.get(), SHUT_WR);
  events = onPort(watch.until([&](const std::vector<json>& all) {
    const auto mine = onPort(all, client_port);
    return !mine.empty() && mine.back()["object"]["state"] == "FIN_WAIT2";
  }),
                  client_port);
  ASSERT_FALSE(events.empty());
  for (const auto& e : events) {
    EXPECT_EQ(e["type"], "MODIFIED");
  }
  EXPECT_EQ(events.back()["object"]["state"], "FIN_WAIT2");
}

TEST_F(WatchApiTest, WithoutResourceVersionCurrentItemsComeFirstAsAdded) {
  Fd listener = listenIn(*ns_, 7711);
  waitScans(2);
  Watch watch(server_->port(), "/api/v1/listeners?watch=true");
  const auto events = onPort(watch.drain(300ms), 7711);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["exposure"], "loopback");  // the listener's shape
}

TEST_F(WatchApiTest, ResumingFromAResourceVersionGivesExactlyTheMissedChanges) {
  Fd kept = listenIn(*ns_, 7721);
  Fd gone = listenIn(*ns_, 7722);
  waitScans(2);
  const json before = list("/api/v1/listeners");
  const std::string rv = before["resourceVersion"];
  // While nobody watches: one listener goes, one comes.
  gone.reset();
  Fd added = listenIn(*ns_, 7723);
  waitScans(2);
  Watch watch(server_->port(), "/api/v1/listeners?watch=true&resourceVersion=" + rv);
  const auto events = watch.drain(400ms);
  std::vector<std::string> seen;
  for (const auto& e : events) {
    seen.push_back(e["type"].get<std::string>() + " " +
                   std::to_string(e["object"]["local"]["port"].get<int>()));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED 7723", "DELETED 7722"}));
  // Replaying the list plus the events gives the list of now.
  std::set<int> ports;
  for (const auto& item : before["items"]) {
    ports.insert(item["local"]["port"].get<int>());
  }
  for (const auto& e : events) {
    const int port = e["object"]["local"]["port"];
    if (e["type"] == "DELETED") {
      ports.erase(port);
    } else {
      ports.insert(port);
    }
  }
  std::set<int> now;
  const json after = list("/api/v1/listeners");
  for (const auto& item : after["items"]) {
    now.insert(item["local"]["port"].get<int>());
  }
  EXPECT_EQ(ports, now);
}

TEST_F(WatchApiTest, ResumingFromFurtherBackThanTheLagBoundIsNotFallingBehind) {
  Fd kept = listenIn(*ns_, 7724);
  waitScans(2);
  const std::string rv = list("/api/v1/listeners")["resourceVersion"];
  Fd added = listenIn(*ns_, 7725);
  waitScans(12);  // more than the 8 scans a watcher may fall behind, well within the history
  Watch watch(server_->port(), "/api/v1/listeners?watch=true&resourceVersion=" + rv);
  const auto events = watch.drain(400ms);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["local"]["port"], 7725);
}

TEST_F(WatchApiTest, ATooOldResourceVersionEndsWithExpired) {
  Watch watch(server_->port(), "/api/v1/sockets?watch=true&resourceVersion=99999999");
  ASSERT_EQ(watch.status(), 200u);
  const auto e = watch.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["type"], "ERROR");
  EXPECT_EQ((*e)["object"]["code"], 410);
  EXPECT_EQ((*e)["object"]["reason"], "Expired");
  EXPECT_FALSE(watch.next(500ms));
  EXPECT_TRUE(watch.ended());
}

TEST_F(WatchApiTest, FiltersHoldOnTheStream) {
  Watch watch(server_->port(), "/api/v1/sockets?watch=true&port=7731");
  Fd other = listenIn(*ns_, 7732);
  Fd wanted = listenIn(*ns_, 7731);
  const auto events = watch.drain(600ms);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["object"]["local"]["port"], 7731);
}

TEST_F(WatchApiTest, BookmarksComeAfterEveryScan) {
  Watch watch(server_->port(), "/api/v1/sockets?watch=true&allowWatchBookmarks=true&port=1");
  std::vector<json> events;
  while (events.size() < 3) {
    auto e = watch.next();
    ASSERT_TRUE(e);
    events.push_back(std::move(*e));
  }
  std::uint64_t last = 0;
  for (const auto& e : events) {
    ASSERT_EQ(e["type"], "BOOKMARK");
    const auto rv = std::stoull(e["object"]["resourceVersion"].get<std::string>());
    EXPECT_EQ(last == 0 ? rv : last + 1, rv);
    last = rv;
  }
}

TEST_F(WatchApiTest, TimeoutSecondsEndsTheWatch) {
  Watch watch(server_->port(), "/api/v1/sockets?watch=true&timeoutSeconds=1&port=1");
  ASSERT_EQ(watch.status(), 200u);
  const auto start = Clock::now();
  while (!watch.ended() && Clock::now() - start < 5s) {
    watch.next(200ms);
  }
  EXPECT_TRUE(watch.ended());
}

TEST_F(WatchApiTest, BadWatchParametersAre400) {
  HttpClient client("127.0.0.1", server_->port(), 5s);
  for (const char* target :
       {"/api/v1/sockets?watch=yes", "/api/v1/sockets?resourceVersion=-3",
        "/api/v1/sockets?watch=true&timeoutSeconds=0", "/api/v1/sockets?watch=true&format=xml",
        "/api/v1/sockets?watch=true&tcpInfo=true", "/api/v1/listeners?watch=true&tcpInfo=true",
        "/api/v1/listeners?watch=true&resourceVersion=x", "/api/v1/netns?watch=true"}) {
    auto r = client.get(target);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400u) << target;
    EXPECT_TRUE(json::parse(r->body).contains("error")) << target;
  }
}

TEST_F(WatchApiTest, MetricsCountWatchersAndEvents) {
  {
    Watch watch(server_->port(), "/api/v1/sockets?watch=true&allowWatchBookmarks=true");
    ASSERT_TRUE(watch.next());
    HttpClient client("127.0.0.1", server_->port(), 5s);
    auto r = client.get("/metrics");
    ASSERT_TRUE(r.ok());
    EXPECT_NE(r->body.find("\npodnetstat_watchers 1\n"), std::string::npos);
    EXPECT_EQ(r->body.find("\npodnetstat_watch_events_total 0\n"), std::string::npos);
  }
}

bool startsWith(const std::string& line, std::string_view prefix) {
  return line.starts_with(prefix);
}

TEST_F(WatchApiTest, TableWatchIsAHeaderThenOneRowPerEventWithItsType) {
  Watch watch(server_->port(), "/api/v1/sockets?watch=true&format=table&transport=tcp&port=7741");
  ASSERT_EQ(watch.status(), 200u);
  EXPECT_NE(watch.header().find("Content-Type: text/plain"), std::string::npos);
  // netstat's inet title, then its column line opened by Event, Netns and Pod; no unix block.
  auto title = watch.nextLine();
  ASSERT_TRUE(title);
  EXPECT_TRUE(startsWith(*title, "Active Internet connections")) << *title;
  auto columns = watch.nextLine();
  ASSERT_TRUE(columns);
  EXPECT_TRUE(startsWith(*columns, "Event    Netns")) << *columns;
  EXPECT_NE(columns->find("Pod"), std::string::npos);
  EXPECT_NE(columns->find("Proto Recv-Q Send-Q Local Address"), std::string::npos);

  Fd listener = listenIn(*ns_, 7741);
  auto lines = watch.linesUntil([](const std::string& l) { return !l.empty(); });
  ASSERT_FALSE(lines.empty());
  const std::string added = lines.back();
  EXPECT_TRUE(startsWith(added, "ADDED    " + ns_->name())) << added;
  EXPECT_NE(added.find("127.0.0.1:7741"), std::string::npos) << added;
  EXPECT_NE(added.find("LISTEN"), std::string::npos) << added;
  EXPECT_NE(added.find(std::to_string(::getpid()) + "/"), std::string::npos) << added;

  ASSERT_EQ(::shutdown(listener.get(), SHUT_RDWR), 0);
  lines = watch.linesUntil([](const std::string& l) { return !l.empty(); });
  ASSERT_FALSE(lines.empty());
  EXPECT_TRUE(startsWith(lines.back(), "DELETED  " + ns_->name())) << lines.back();
  EXPECT_NE(lines.back().find("127.0.0.1:7741"), std::string::npos) << lines.back();
}

TEST_F(WatchApiTest, TableRowsAreTheRowsOfTheTableList) {
  Fd listener = listenIn(*ns_, 7742);
  waitScans(2);
  HttpClient client("127.0.0.1", server_->port(), 5s);
  auto table = client.get("/api/v1/sockets?format=table&transport=tcp&port=7742");
  ASSERT_TRUE(table.ok());
  ASSERT_EQ(table->status, 200u);
  const std::string& body = table->body;
  const auto row_start = body.find('\n', body.find('\n') + 1) + 1;  // after the header
  const std::string row = body.substr(row_start, body.find('\n', row_start) - row_start);

  Watch watch(server_->port(), "/api/v1/sockets?watch=true&format=table&transport=tcp&port=7742");
  const auto lines = watch.linesUntil([](const std::string& l) { return l.starts_with("ADDED"); });
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], "ADDED    " + row);
}

TEST_F(WatchApiTest, TableWatchOfListenersShowsBookmarksAsComments) {
  Fd listener = listenIn(*ns_, 7743);
  waitScans(2);
  Watch watch(server_->port(),
              "/api/v1/listeners?watch=true&format=table&allowWatchBookmarks=true");
  auto header = watch.nextLine();
  ASSERT_TRUE(header);
  EXPECT_TRUE(startsWith(*header, "Event    Netns")) << *header;
  EXPECT_NE(header->find("Exposure"), std::string::npos) << *header;
  const auto lines = watch.linesUntil([](const std::string& l) { return l.starts_with("#"); });
  ASSERT_GE(lines.size(), 2u);
  EXPECT_TRUE(startsWith(lines.front(), "ADDED    ")) << lines.front();
  EXPECT_NE(lines.front().find("127.0.0.1:7743"), std::string::npos) << lines.front();
  EXPECT_NE(lines.front().find("loopback"), std::string::npos) << lines.front();
  EXPECT_TRUE(startsWith(lines.back(), "# resourceVersion ")) << lines.back();

  // A listener of a later scan comes from the diff, in the same columns.
  Fd later = listenIn(*ns_, 7744);
  const auto more =
      watch.linesUntil([](const std::string& l) { return l.find(":7744") != std::string::npos; });
  ASSERT_FALSE(more.empty());
  EXPECT_TRUE(startsWith(more.back(), "ADDED    ")) << more.back();
  EXPECT_EQ(more.back().find("Exposure"), std::string::npos);
  EXPECT_EQ(more.back().find("127.0.0.1:7744"), lines.front().find("127.0.0.1:7743"))
      << "the columns line up:\n"
      << lines.front() << "\n"
      << more.back();
}

TEST_F(WatchApiTest, TableWatchEndsWithAnExpiredLine) {
  Watch watch(server_->port(),
              "/api/v1/listeners?watch=true&format=table&resourceVersion=99999999");
  ASSERT_EQ(watch.status(), 200u);
  auto header = watch.nextLine();
  ASSERT_TRUE(header);
  EXPECT_TRUE(startsWith(*header, "Event")) << *header;
  auto error = watch.nextLine();
  ASSERT_TRUE(error);
  EXPECT_TRUE(startsWith(*error, "ERROR    410 Expired: resourceVersion 99999999")) << *error;
  EXPECT_FALSE(watch.nextLine(500ms));
  EXPECT_TRUE(watch.ended());
}

TEST_F(WatchApiTest, TableWatchSendsKeepAlives) {
  Watch watch(server_->port(), "/api/v1/sockets?watch=true&format=table&port=1&transport=unix");
  auto title = watch.nextLine();
  ASSERT_TRUE(title);
  EXPECT_TRUE(startsWith(*title, "Active UNIX domain sockets")) << *title;
  ASSERT_TRUE(watch.nextLine());         // the column line
  auto keep_alive = watch.nextLine(2s);  // keep_alive is 300 ms here
  ASSERT_TRUE(keep_alive);
  EXPECT_EQ(*keep_alive, "");
}

TEST(WatchLimitsTest, ServeFlagsParseIntoLimits) {
  auto limits = parseWatchLimits("3", "500ms", "2m");
  ASSERT_TRUE(limits.ok()) << limits.error().message;
  EXPECT_EQ(limits->max_lag_scans, 3u);
  EXPECT_EQ(limits->keep_alive, 500ms);
  EXPECT_EQ(limits->max_timeout, 120s);
  auto defaults = parseWatchLimits("8", "15s", "1h");
  ASSERT_TRUE(defaults.ok());
  const WatchLimits built_in;
  EXPECT_EQ(defaults->max_lag_scans, built_in.max_lag_scans);
  EXPECT_EQ(defaults->keep_alive, built_in.keep_alive);
  EXPECT_EQ(defaults->max_timeout, built_in.max_timeout);
  auto edges = parseWatchLimits("100", "100ms", "24h");
  EXPECT_TRUE(edges.ok());
}

TEST(WatchLimitsTest, BadValuesNameTheirFlag) {
  struct Case {
    const char* lag;
    const char* keep_alive;
    const char* timeout;
    const char* flag;
  };

  for (const Case& c :
       {Case{"0", "15s", "1h", "--watch-max-lag-scans"},
        Case{"101", "15s", "1h", "--watch-max-lag-scans"},
        Case{"8x", "15s", "1h", "--watch-max-lag-scans"},
        Case{"-1", "15s", "1h", "--watch-max-lag-scans"},
        Case{"", "15s", "1h", "--watch-max-lag-scans"}, Case{"8", "0s", "1h", "--watch-keep-alive"},
        Case{"8", "50ms", "1h", "--watch-keep-alive"}, Case{"8", "2h", "1h", "--watch-keep-alive"},
        Case{"8", "15", "1h", "--watch-keep-alive"}, Case{"8", "15s", "0s", "--watch-max-timeout"},
        Case{"8", "15s", "1500ms", "--watch-max-timeout"},
        Case{"8", "15s", "25h", "--watch-max-timeout"},
        Case{"8", "15s", "soon", "--watch-max-timeout"}}) {
    auto limits = parseWatchLimits(c.lag, c.keep_alive, c.timeout);
    ASSERT_FALSE(limits.ok()) << c.lag << " " << c.keep_alive << " " << c.timeout;
    EXPECT_TRUE(limits.error().message.starts_with(c.flag)) << limits.error().message;
    EXPECT_EQ(limits.error().kind, ErrorKind::Invalid);
  }
}

}  // namespace

/// The diff itself, on a snapshot of no scan at all and one with a listener: one ADDED.
TEST(WatchHistoryTest, TheFirstPagesHaveNoDiffAndLaterOnesDo) {
  WatchHistory history(2, 100);
  auto empty = std::make_shared<const Snapshot>(scanner::ScanResult{}, "n", 0);
  EXPECT_EQ(history.record(std::make_shared<const SnapshotPages>(empty, 1)), nullptr);
  scanner::ScanResult scan;
  scan.namespaces.push_back({});
  scan.namespaces[0].inode = 42;
  scanner::Socket s;
  s.state = 10;
  s.inode = 7;
  scan.sockets.push_back(s);
  auto one = std::make_shared<const Snapshot>(scan, "n", 0);
  const auto diff = history.record(std::make_shared<const SnapshotPages>(one, 2));
  ASSERT_NE(diff, nullptr);
  ASSERT_EQ(diff->events.size(), 1u);
  EXPECT_EQ(diff->events[0].type, WatchEventType::Added);
  EXPECT_TRUE(history.since(1).has_value());
  EXPECT_FALSE(history.since(0).has_value());
  // Queues and timers changing is no change.
  scan.sockets[0].rx_queue = 5;
  scan.sockets[0].timer.when_ticks = 9;
  auto same = std::make_shared<const Snapshot>(scan, "n", 0);
  EXPECT_TRUE(history.record(std::make_shared<const SnapshotPages>(same, 3))->events.empty());
  // The state does count; with 2 scans kept, generation 1 can no longer be resumed from.
  scan.sockets[0].state = 7;
  auto closed = std::make_shared<const Snapshot>(scan, "n", 0);
  const auto modified = history.record(std::make_shared<const SnapshotPages>(closed, 4));
  ASSERT_EQ(modified->events.size(), 1u);
  EXPECT_EQ(modified->events[0].type, WatchEventType::Modified);
  EXPECT_FALSE(history.since(1).has_value());
  EXPECT_TRUE(history.since(2).has_value());
  EXPECT_EQ(history.since(2)->size(), 2u);
}

}  // namespace podnetstat::agent
