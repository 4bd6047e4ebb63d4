#pragma once

// A watch over a raw loopback connection for the API tests: the request sent, the chunked answer
// decoded into NDJSON events as they arrive (blank keep-alive lines skipped).

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netns.h"

namespace podnetstat::testing {

/// A watch: the request sent on a raw connection, its chunked body decoded into events as they
/// arrive (blank keep-alive lines skipped).
class Watch {
 public:
  using Clock = std::chrono::steady_clock;

  Watch(std::uint16_t port, const std::string& target) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    const sockaddr_in a = loopbackV4(port);
    if (::connect(fd_.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("cannot connect to the agent");
    }
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n";
    if (::send(fd_.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      throw std::runtime_error("cannot send the request");
    }
  }

  /// The status of the answer (reads its header); 0 when it does not come within `timeout`.
  unsigned status(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = Clock::now() + timeout;
    while (header_end_ == std::string::npos) {
      header_end_ = raw_.find("\r\n\r\n");
      if (header_end_ == std::string::npos && !fill(deadline)) {
        return 0;
      }
    }
    body_pos_ = header_end_ + 4;
    return static_cast<unsigned>(std::stoi(raw_.substr(9, 3)));
  }

  const std::string& header() const { return raw_; }

  /// The next line of the body (without its newline; a keep-alive is an empty one); nullopt
  /// when none comes within `timeout` or the answer ended.
  std::optional<std::string> nextLine(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = Clock::now() + timeout;
    if (header_end_ == std::string::npos && status(timeout) == 0) {
      return std::nullopt;
    }
    for (;;) {
      decodeChunks();
      const auto nl = body_.find('\n');
      if (nl != std::string::npos) {
        std::string line = body_.substr(0, nl);
        body_.erase(0, nl + 1);
        return line;
      }
      if (ended_ || !fill(deadline)) {
        return std::nullopt;
      }
    }
  }

  /// The next event; nullopt when none comes within `timeout` or the answer ended.
  std::optional<nlohmann::json> next(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      auto line = nextLine(std::max(left, std::chrono::milliseconds(0)));
      if (!line) {
        return std::nullopt;
      }
      if (!line->empty()) {  // not a keep-alive
        return nlohmann::json::parse(*line);
      }
    }
  }

  /// Lines until `done(line)` holds for one (included), or 5 s passed.
  std::vector<std::string> linesUntil(const std::function<bool(const std::string&)>& done) {
    std::vector<std::string> out;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      auto line = nextLine(std::chrono::duration_cast<std::chrono::milliseconds>(
          std::max(deadline - Clock::now(), Clock::duration(std::chrono::milliseconds(1)))));
      if (!line) {
        break;
      }
      out.push_back(*line);
      if (done(out.back())) {
        break;
      }
    }
    return out;
  }

  /// Events until none comes for `quiet`.
  std::vector<nlohmann::json> drain(std::chrono::milliseconds quiet) {
    std::vector<nlohmann::json> out;
    while (auto e = next(quiet)) {
      out.push_back(std::move(*e));
    }
    return out;
  }

  /// Events until `done(events so far)` holds, or 5 s passed.
  template <class Done>
  std::vector<nlohmann::json> until(Done done) {
    std::vector<nlohmann::json> out;
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!done(out) && Clock::now() < deadline) {
      if (auto e = next(std::chrono::duration_cast<std::chrono::milliseconds>(
              std::max(deadline - Clock::now(), Clock::duration(std::chrono::milliseconds(1)))))) {
        out.push_back(std::move(*e));
      }
    }
    return out;
  }

  /// Whether the chunked body ended (its last chunk came).
  bool ended() {
    decodeChunks();
    return ended_;
  }

 private:
  bool fill(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd p{fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char buf[65536];
    const ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (n <= 0) {
      return false;
    }
    raw_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  void decodeChunks() {
    while (!ended_ && body_pos_ != std::string::npos) {
      const auto eol = raw_.find("\r\n", body_pos_);
      if (eol == std::string::npos) {
        return;
      }
      const std::size_t size = std::stoul(raw_.substr(body_pos_, eol - body_pos_), nullptr, 16);
      if (raw_.size() < eol + 2 + size + 2) {
        return;
      }
      body_.append(raw_, eol + 2, size);
      body_pos_ = eol + 2 + size + 2;
      ended_ = size == 0;
    }
  }

  OwnedFd fd_;
  std::string raw_;
  std::size_t header_end_ = std::string::npos;
  std::size_t body_pos_ = std::string::npos;
  std::string body_;
  bool ended_ = false;
};

}  // namespace podnetstat::testing
