// A watcher whose client never reads is dropped, and the others are not slowed by it: the real
// `podnetstat serve` at --refresh 100ms with --watch-max-lag-scans 4, one watch of every socket
// of the machine on a connection with a small receive buffer that is never read, and a few
// watches of one network namespace's TCP sockets that are read, while listeners there are opened
// and closed. The never-read watch is closed and counted in podnetstat_watchers_dropped_total;
// the others keep up (at every check, no more than kPromptScans behind the newest scan) and
// their replays equal the final list.
//
// Needs root and `ip` (skipped otherwise). Everything made here is removed by destructors.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <system_error>
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
using podnetstat::testing::WatchGroup;
using Clock = std::chrono::steady_clock;

constexpr int kReaders = 4;
constexpr int kMaxLagScans = 4;
// How far behind the newest scan a watcher that reads may be seen at a check: the scan
// published while the check's own request was answered, and one more for a loaded machine.
constexpr std::uint64_t kPromptScans = 2;
constexpr auto kChurnTime = 8s;
// Every 50 steps, this many listeners more are opened at once, or closed: megabytes of events
// for the never-read watch, more than the agent's send buffer (net.ipv4.tcp_wmem allows 4 MiB)
// takes, so that its writes to it stall.
constexpr int kBulk = 1500;

/// A TCP listener on 127.0.0.1:`port` inside `ns`; -1 when the kernel refuses.
int listenerFd(const NetNamespace& ns, std::uint16_t port) {
  try {
    return podnetstat::testing::listenIn(ns, port, 4).release();
  } catch (const std::system_error&) {
    return -1;
  }
}

/// The resourceVersion of the agent's current list.
std::uint64_t currentVersion(HttpClient& client, const std::string& netns) {
  auto r = client.get("/api/v1/sockets?transport=tcp&port=1&netns=" + netns);
  if (!r.ok() || r->status != 200) {
    return 0;
  }
  return std::stoull(json::parse(r->body)["resourceVersion"].get<std::string>());
}

TEST(WatchSlowClient, TheClientThatNeverReadsIsDroppedAndTheOthersKeepUp) {
  PODNETSTAT_SKIP_UNLESS_ROOT();
  NetNamespace ns("pnwslow");
  ServeProcess agent({"--refresh", "100ms", "--backend", "netlink", "--watch-max-lag-scans",
                      std::to_string(kMaxLagScans)});
  // Every socket of the machine, with a bookmark after every scan.
  ReplayingWatch never_read(agent.port(), "/api/v1/sockets?watch=true&allowWatchBookmarks=true",
                            4096);
  ASSERT_TRUE(never_read.connected());
  const std::string target =
      "/api/v1/sockets?watch=true&allowWatchBookmarks=true&transport=tcp&netns=" + ns.name();
  WatchGroup readers;
  for (int i = 0; i < kReaders; ++i) {
    ASSERT_TRUE(readers.add(agent.port(), target));
  }
  const auto pump = [&](std::chrono::milliseconds time) {
    readers.pump(time);
  };

  HttpClient client("127.0.0.1", agent.port(), 5s);
  pump(300ms);
  // Churn: a window of listeners on ports 21000-21031, one opened or closed every 10 ms, and the
  // bulk on ports 30000 and up; every 20 steps, each reader must have caught up with the scan
  // that was newest 100 ms before.
  std::map<std::uint16_t, int> open;
  std::vector<int> bulk;
  const auto churn_end = Clock::now() + kChurnTime;
  unsigned step = 0;
  std::uint64_t worst_lag = 0;
  while (Clock::now() < churn_end) {
    const auto port = static_cast<std::uint16_t>(21000 + (step * 7) % 32);
    if (auto it = open.find(port); it != open.end()) {
      ::close(it->second);
      open.erase(it);
    } else if (const int fd = listenerFd(ns, port); fd >= 0) {
      open.emplace(port, fd);
    }
    if (step % 50 == 0) {
      if (bulk.empty()) {
        for (int i = 0; i < kBulk; ++i) {
          if (const int fd = listenerFd(ns, static_cast<std::uint16_t>(30000 + i)); fd >= 0) {
            bulk.push_back(fd);
          }
        }
      } else {
        for (const int fd : bulk) {
          ::close(fd);
        }
        bulk.clear();
      }
    }
    ++step;
    pump(10ms);
    if (step % 20 == 0) {
      const std::uint64_t newest = currentVersion(client, ns.name());
      ASSERT_GT(newest, 0u);
      pump(100ms);
      for (std::size_t i = 0; i < readers.size(); ++i) {
        const std::uint64_t seen = readers[i].bookmark();
        const std::uint64_t lag = seen >= newest ? 0 : newest - seen;
        worst_lag = std::max(worst_lag, lag);
        EXPECT_LE(lag, kPromptScans) << "watch " << i << " at scan " << seen << " of " << newest;
      }
    }
  }
  for (const int fd : bulk) {
    ::close(fd);
  }
  bulk.clear();
  // The never-read watch was dropped: counted, and its connection ends once drained.
  EXPECT_EQ(agent.metric("podnetstat_watchers_dropped_total").value_or(-1), 1);
  EXPECT_EQ(agent.metric("podnetstat_watchers").value_or(-1), kReaders);
  bool ended = false;
  const auto drain_deadline = Clock::now() + 10s;
  while (!ended && Clock::now() < drain_deadline) {
    pollfd p{never_read.fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    ended = !never_read.readSome();
  }
  EXPECT_TRUE(ended) << "the never-read watch's connection is closed";

  // Quiet: the readers' replays equal the final list.
  readers.expectReplaysEqualTheList(agent.port(), ns.name(), open.size(), 5s);
  std::printf("%u churn steps; the readers were at most %llu scans behind\n", step,
              static_cast<unsigned long long>(worst_lag));
  for (const auto& [p, fd] : open) {
    ::close(fd);
  }
}

}  // namespace
}  // namespace podnetstat::agent
