#pragma once

// A watch on a raw, non-blocking connection for the tests that run many at once: its chunked
// body decoded, its NDJSON events applied to a replay of the list (socket inode -> state), the
// resourceVersion of its last bookmark kept. Events are read with a few string searches rather
// than a JSON parser, so that hundreds of watchers cost the test little. WatchGroup reads many
// together and checks their replays against the agent's final list.

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "netns.h"

namespace podnetstat::testing {

class ReplayingWatch {
 public:
  /// Connects to 127.0.0.1:`port` and asks for `target`; with `receive_buffer` > 0, the socket's
  /// SO_RCVBUF is set to it first (a client that takes little at a time).
  ReplayingWatch(std::uint16_t port, const std::string& target, int receive_buffer = 0)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ >= 0 && receive_buffer > 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    const sockaddr_in a = loopbackV4(port);
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

  /// Reads what is there without waiting; false once the connection has ended (end of stream
  /// or reset).
  bool readSome() {
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
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

  /// ADDED, MODIFIED and DELETED events applied.
  std::uint64_t events() const { return events_; }

  /// The last chunk of the body came.
  bool ended() const { return ended_; }

 private:
  /// The text of `"key":"value"` or `"key":value` (the first `key` in `line`), without quotes.
  static std::string_view field(std::string_view line, std::string_view key) {
    std::string probe = "\"";
    probe += key;
    probe += "\":";
    const auto at = line.find(probe);
    if (at == std::string_view::npos) {
      return {};
    }
    std::string_view rest = line.substr(at + probe.size());
    if (rest.starts_with('"')) {
      rest.remove_prefix(1);
      return rest.substr(0, rest.find('"'));
    }
    return rest.substr(0, rest.find_first_of(",}"));
  }

  static std::uint64_t number(std::string_view text) {
    std::uint64_t value = 0;
    std::from_chars(text.data(), text.data() + text.size(), value);
    return value;
  }

  void decode() {
    if (body_pos_ == std::string::npos) {
      const auto end = raw_.find("\r\n\r\n");
      if (end == std::string::npos) {
        return;
      }
      body_pos_ = end + 4;
    }
    while (!ended_) {
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
      ended_ = size == 0;
    }
    raw_.erase(0, body_pos_);
    body_pos_ = 0;
    std::size_t start = 0;
    for (auto nl = body_.find('\n'); nl != std::string::npos; nl = body_.find('\n', start)) {
      if (nl > start) {
        apply(std::string_view(body_).substr(start, nl - start));
      }
      start = nl + 1;
    }
    body_.erase(0, start);
  }

  void apply(std::string_view line) {
    const std::string_view type = field(line, "type");
    if (type == "BOOKMARK") {
      bookmark_ = number(field(line, "resourceVersion"));
      return;
    }
    if (type == "ERROR") {
      ++errors_;
      return;
    }
    ++events_;
    // The socket's own inode comes before its namespace's in the object.
    const std::uint64_t inode = number(field(line, "inode"));
    if (type == "ADDED") {
      duplicates_ += replay_.contains(inode) ? 1 : 0;
      replay_[inode] = field(line, "state");
    } else if (type == "MODIFIED") {
      replay_[inode] = field(line, "state");
    } else {
      duplicates_ += replay_.erase(inode) == 0 ? 1 : 0;
    }
  }

  int fd_;
  bool connected_ = false;
  std::string raw_;
  std::size_t body_pos_ = std::string::npos;
  std::string body_;
  bool ended_ = false;
  std::map<std::uint64_t, std::string> replay_;
  std::uint64_t bookmark_ = 0;
  std::uint64_t events_ = 0;
  int errors_ = 0;
  int duplicates_ = 0;
};

/// Many ReplayingWatches read together with poll(2), and the check that ends the tests that run
/// them: after quiet, every watch's replay equals the agent's final list.
class WatchGroup {
 public:
  using Clock = std::chrono::steady_clock;

  /// Opens a watch of `target` on the agent at `port`; false when it could not connect.
  bool add(std::uint16_t port, const std::string& target) {
    watches_.push_back(std::make_unique<ReplayingWatch>(port, target));
    fds_.push_back({watches_.back()->fd(), POLLIN, 0});
    return watches_.back()->connected();
  }

  std::size_t size() const { return watches_.size(); }

  ReplayingWatch& operator[](std::size_t i) { return *watches_[i]; }

  /// Reads what arrives for `time`; a watch whose answer ends fails the test.
  void pump(std::chrono::milliseconds time) {
    const auto end = Clock::now() + time;
    do {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now());
      if (::poll(fds_.data(), fds_.size(), static_cast<int>(std::max(left.count(), 0L))) <= 0) {
        continue;
      }
      for (std::size_t i = 0; i < watches_.size(); ++i) {
        if (fds_[i].revents != 0) {
          ASSERT_TRUE(watches_[i]->readSome()) << "watch " << i << " ended early";
        }
      }
    } while (Clock::now() < end);
  }

  /// After 500 ms of quiet, the TCP list of namespace `netns` from the agent at `port`: every
  /// watch reaches a bookmark at or past its resourceVersion within `wait`, with no error, no
  /// duplicate and its replay equal to the list, which has `open` sockets.
  void expectReplaysEqualTheList(std::uint16_t port,
                                 const std::string& netns,
                                 std::size_t open,
                                 std::chrono::milliseconds wait) {
    pump(std::chrono::milliseconds(500));
    podnetstat::agent::HttpClient client("127.0.0.1", port, std::chrono::seconds(5));
    auto r = client.get("/api/v1/sockets?transport=tcp&netns=" + netns);
    ASSERT_TRUE(r.ok());
    const nlohmann::json list = nlohmann::json::parse(r->body);
    const std::uint64_t rv = std::stoull(list["resourceVersion"].get<std::string>());
    std::map<std::uint64_t, std::string> expected;
    for (const auto& item : list["items"]) {
      expected[item["inode"].get<std::uint64_t>()] = item["state"];
    }
    EXPECT_EQ(expected.size(), open);
    const auto deadline = Clock::now() + wait;
    for (const auto& w : watches_) {
      while (w->bookmark() < rv && Clock::now() < deadline) {
        pump(std::chrono::milliseconds(50));
      }
    }
    for (std::size_t i = 0; i < watches_.size(); ++i) {
      EXPECT_GE(watches_[i]->bookmark(), rv) << "watch " << i;
      EXPECT_EQ(watches_[i]->errors(), 0) << "watch " << i;
      EXPECT_EQ(watches_[i]->duplicates(), 0) << "watch " << i;
      EXPECT_GT(watches_[i]->events(), 0U) << "watch " << i;
      EXPECT_EQ(watches_[i]->replay(), expected) << "watch " << i;
    }
  }

 private:
  std::vector<std::unique_ptr<ReplayingWatch>> watches_;
  std::vector<pollfd> fds_;
};

}  // namespace podnetstat::testing
