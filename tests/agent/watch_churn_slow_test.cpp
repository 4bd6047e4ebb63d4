// Many watches at once under churn, at the scale of the watch issue: the real `podnetstat serve`
// at --refresh 100ms, 200 watches of one network namespace's TCP sockets, while listeners there
// are opened and closed for 60 s (about 6,000 changes, 600 scans). Every watch's replay (its
// ADDED, MODIFIED and DELETED events, applied in order) must equal the final list: no event
// lost, none repeated. The agent's memory stays bounded meanwhile. One client thread follows
// every watch through poll(); events are read with string searches (watch_replay.h), so that
// the test itself stays light under ASan.
//
// Needs root and `ip` (skipped otherwise). Everything made here is removed by destructors.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "netns.h"
#include "serve_process.h"
#include "watch_replay.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::ReplayingWatch;
using podnetstat::testing::ServeProcess;
using Clock = std::chrono::steady_clock;

constexpr int kWatchers = 200;
constexpr auto kChurnTime = 60s;
// What the agent's memory may grow by while the watchers follow the churn: the history's own
// bound (at most 20,000 events of about 1 KiB with their small scans: about 20 MiB), and per
// watcher its session and the piece on its way (a 16 KiB chunk, about twice that while it is
// copied: under 64 KiB each, 12.5 MiB for 200); the rest is the allocator's slack. Measured from
// the warmed-up agent, so that builds with ASan (whose shadow memory and allocator start the
// agent ten times larger) hold it as well.
constexpr long kMaxAgentGrowthKib = 48 * 1024;

/// A TCP listener on 127.0.0.1:`port` inside `ns`; -1 when the kernel refuses.
int listenerFd(const NetNamespace& ns, std::uint16_t port) {
  try {
    return podnetstat::testing::listenIn(ns, port, 4).release();
  } catch (const std::system_error&) {
    return -1;
  }
}

TEST(WatchChurn, EveryWatchersReplayEqualsTheFinalList) {
  PODNETSTAT_SKIP_UNLESS_ROOT();
  NetNamespace ns("pnwchurn");
  const podnetstat::testing::NoAsanQuarantine measurable_memory;
  const auto test_start = Clock::now();
  ServeProcess agent({"--refresh", "100ms", "--backend", "netlink", "--max-connections", "256"});
  const std::string target =
      "/api/v1/sockets?watch=true&allowWatchBookmarks=true&transport=tcp&netns=" + ns.name();
  std::vector<std::unique_ptr<ReplayingWatch>> watches;
  for (int i = 0; i < kWatchers; ++i) {
    watches.push_back(std::make_unique<ReplayingWatch>(agent.port(), target));
    ASSERT_TRUE(watches.back()->connected());
  }
  std::vector<pollfd> fds;
  for (const auto& w : watches) {
    fds.push_back({w->fd(), POLLIN, 0});
  }
  const auto pump = [&](std::chrono::milliseconds time) {
    const auto end = Clock::now() + time;
    do {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      if (::poll(fds.data(), fds.size(), static_cast<int>(std::max(left.count(), 0L))) <= 0) {
        continue;
      }
      for (std::size_t i = 0; i < watches.size(); ++i) {
        if (fds[i].revents != 0) {
          ASSERT_TRUE(watches[i]->readSome()) << "watch " << i << " ended early";
        }
      }
    } while (Clock::now() < end);
  };

  pump(300ms);
  const long warm_rss = agent.rss();
  // Churn: a window of listeners on ports 20000-20063, one opened and one closed every 10 ms.
  std::map<std::uint16_t, int> open;
  long peak_rss = warm_rss;
  const auto churn_end = Clock::now() + kChurnTime;
  unsigned step = 0;
  while (Clock::now() < churn_end) {
    const auto port = static_cast<std::uint16_t>(20000 + (step * 7) % 64);
    if (auto it = open.find(port); it != open.end()) {
      ::close(it->second);
      open.erase(it);
    } else if (const int fd = listenerFd(ns, port); fd >= 0) {
      open.emplace(port, fd);
    }
    ++step;
    pump(10ms);
    peak_rss = std::max(peak_rss, agent.rss());
  }
  // Quiet: every watch reaches a bookmark at or past the final list's resourceVersion.
  pump(500ms);
  HttpClient client("127.0.0.1", agent.port(), 5s);
  auto r = client.get("/api/v1/sockets?transport=tcp&netns=" + ns.name());
  ASSERT_TRUE(r.ok());
  const json list = json::parse(r->body);
  const std::uint64_t rv = std::stoull(list["resourceVersion"].get<std::string>());
  std::map<std::uint64_t, std::string> expected;
  for (const auto& item : list["items"]) {
    expected[item["inode"].get<std::uint64_t>()] = item["state"];
  }
  EXPECT_EQ(expected.size(), open.size());
  const auto deadline = Clock::now() + 10s;
  for (const auto& w : watches) {
    while (w->bookmark() < rv && Clock::now() < deadline) {
      pump(50ms);
    }
  }
  for (std::size_t i = 0; i < watches.size(); ++i) {
    EXPECT_GE(watches[i]->bookmark(), rv) << "watch " << i;
    EXPECT_EQ(watches[i]->errors(), 0) << "watch " << i;
    EXPECT_EQ(watches[i]->duplicates(), 0) << "watch " << i;
    EXPECT_EQ(watches[i]->replay(), expected) << "watch " << i;
  }
  EXPECT_EQ(agent.metric("podnetstat_watchers").value_or(-1), kWatchers);
  EXPECT_EQ(agent.metric("podnetstat_watchers_dropped_total").value_or(-1), 0);
  EXPECT_LT(peak_rss - warm_rss, kMaxAgentGrowthKib)
      << "the agent grew from " << warm_rss << " KiB to " << peak_rss << " KiB";
  std::uint64_t events = 0;
  for (const auto& w : watches) {
    events += w->events();
  }
  std::printf(
      "%d watchers, %u churn steps, %llu events followed in %.1f s; agent %ld KiB warm, "
      "%ld KiB at most\n",
      kWatchers, step, static_cast<unsigned long long>(events),
      std::chrono::duration<double>(Clock::now() - test_start).count(), warm_rss, peak_rss);
  for (const auto& [port, fd] : open) {
    ::close(fd);
  }
}

}  // namespace
}  // namespace podnetstat::agent
