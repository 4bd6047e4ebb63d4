// Many watches at once under churn: the real `podnetstat serve` at --refresh 100ms, 40 watches
// of one network namespace's TCP sockets, while listeners there are opened and closed for 10 s.
// Every watch's replay (its ADDED, MODIFIED and DELETED events, applied in order) must equal the
// final list: no event lost, none repeated. The agent's memory stays bounded meanwhile.
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

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::ServeProcess;
using Clock = std::chrono::steady_clock;

constexpr int kWatchers = 40;
constexpr auto kChurnTime = 10s;
// What the agent's memory may grow by while the watchers follow the churn: the history's own
// bound (at most 20,000 events, about 20 MiB) and the watchers' pending chunks. Measured from the
// warmed-up agent, so that builds with ASan (whose shadow memory and allocator start the agent
// ten times larger) hold it as well.
constexpr long kMaxAgentGrowthKib = 32 * 1024;

sockaddr_in loopback(std::uint16_t port) {
  return podnetstat::testing::loopbackV4(port);
}

/// A TCP listener on 127.0.0.1:`port` inside `ns`; -1 when the kernel refuses.
int listenerFd(const NetNamespace& ns, std::uint16_t port) {
  try {
    return podnetstat::testing::listenIn(ns, port, 4).release();
  } catch (const std::system_error&) {
    return -1;
  }
}

/// One watch on a raw connection: its chunked body decoded, its events applied to a replay of
/// the list (inode -> state), the resourceVersion of its last bookmark kept.
class ReplayingWatch {
 public:
  ReplayingWatch(std::uint16_t port, const std::string& target)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    const sockaddr_in a = loopback(port);
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
    connected_ = fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 &&
                 ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
                     static_cast<ssize_t>(request.size());
  }

  ~ReplayingWatch() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  ReplayingWatch(const ReplayingWatch&) = delete;
  ReplayingWatch& operator=(const ReplayingWatch&) = delete;

  bool connected() const { return connected_; }

  int fd() const { return fd_; }

  /// Reads what is there; false when the connection ended.
  bool readSome() {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) {
      return false;
    }
    if (n > 0) {
      raw_.append(buf, static_cast<std::size_t>(n));
      decode();
    }
    return true;
  }

  const std::map<std::uint64_t, std::string>& replay() const { return replay_; }

  std::uint64_t bookmark() const { return bookmark_; }

  int errors() const { return errors_; }

  int duplicates() const { return duplicates_; }

 private:
  void decode() {
    if (body_pos_ == std::string::npos) {
      const auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) {
        return;
      }
      body_pos_ = end + 4;
    }
    for (;;) {
      const auto eol = raw_.find("\r\n", body_pos_);
      if (eol == std::string::npos) {
        break;
      }
      const std::size_t size = std::stoul(raw_.substr(body_pos_, eol - body_pos_), nullptr, 16);
      if (raw_.size() < eol + 2 + size + 2) {
        break;
      }
      body_.append(raw_, eol + 2, size);
      body_pos_ = eol + 2 + size + 2;
    }
    raw_.erase(0, body_pos_);
    body_pos_ = 0;
    for (auto nl = body_.find('\n'); nl != std::string::npos; nl = body_.find('\n')) {
      const std::string line = body_.substr(0, nl);
      body_.erase(0, nl + 1);
      if (!line.empty()) {
        apply(json::parse(line));
      }
    }
  }

  void apply(const json& e) {
    const std::string type = e["type"];
    if (type == "BOOKMARK") {
      bookmark_ = std::stoull(e["object"]["resourceVersion"].get<std::string>());
      return;
    }
    if (type == "ERROR") {
      ++errors_;
      return;
    }
    const std::uint64_t inode = e["object"]["inode"];
    if (type == "ADDED") {
      duplicates_ += replay_.contains(inode) ? 1 : 0;
      replay_[inode] = e["object"]["state"];
    } else if (type == "MODIFIED") {
      replay_[inode] = e["object"]["state"];
    } else {
      duplicates_ += replay_.erase(inode) == 0 ? 1 : 0;
    }
  }

  int fd_;
  bool connected_ = false;
  std::string raw_;
  std::size_t body_pos_ = std::string::npos;
  std::string body_;
  std::map<std::uint64_t, std::string> replay_;
  std::uint64_t bookmark_ = 0;
  int errors_ = 0;
  int duplicates_ = 0;
};

TEST(WatchChurn, EveryWatchersReplayEqualsTheFinalList) {
  PODNETSTAT_SKIP_UNLESS_ROOT();
  NetNamespace ns("pnwchurn");
  const podnetstat::testing::NoAsanQuarantine measurable_memory;
  ServeProcess agent({"--refresh", "100ms", "--backend", "netlink", "--max-connections", "256"});
  const std::string target =
      "/api/v1/sockets?watch=true&allowWatchBookmarks=true&transport=tcp&netns=" + ns.name();
  std::vector<std::unique_ptr<ReplayingWatch>> watches;
  for (int i = 0; i < kWatchers; ++i) {
    watches.push_back(std::make_unique<ReplayingWatch>(agent.port(), target));
    ASSERT_TRUE(watches.back()->connected());
  }
  const auto pump = [&](std::chrono::milliseconds time) {
    const auto end = Clock::now() + time;
    std::vector<pollfd> fds;
    for (const auto& w : watches) {
      fds.push_back({w->fd(), POLLIN, 0});
    }
    while (Clock::now() < end) {
      ::poll(fds.data(), fds.size(), 20);
      for (std::size_t i = 0; i < watches.size(); ++i) {
        ASSERT_TRUE(watches[i]->readSome()) << "watch " << i << " ended early";
      }
    }
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
  for (const auto& [port, fd] : open) {
    ::close(fd);
  }
}

}  // namespace
}  // namespace podnetstat::agent
