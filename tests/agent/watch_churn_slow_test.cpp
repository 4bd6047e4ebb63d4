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

#include "netns.h"
#include "serve_process.h"
#include "watch_replay.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::ServeProcess;
using podnetstat::testing::WatchGroup;
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
  WatchGroup watches;
  for (int i = 0; i < kWatchers; ++i) {
    ASSERT_TRUE(watches.add(agent.port(), target));
  }
  const auto pump = [&](std::chrono::milliseconds time) {
    watches.pump(time);
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
  watches.expectReplaysEqualTheList(agent.port(), ns.name(), open.size(), 10s);
  EXPECT_EQ(agent.metric("podnetstat_watchers").value_or(-1), kWatchers);
  EXPECT_EQ(agent.metric("podnetstat_watchers_dropped_total").value_or(-1), 0);
  EXPECT_LT(peak_rss - warm_rss, kMaxAgentGrowthKib)
      << "the agent grew from " << warm_rss << " KiB to " << peak_rss << " KiB";
  std::uint64_t events = 0;
  for (std::size_t i = 0; i < watches.size(); ++i) {
    events += watches[i].events();
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
