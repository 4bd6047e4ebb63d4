#pragma once

// Byte-exact HTTP/1.1 over a loopback TCP connection, for the tests that send what a normal
// client never sends (malformed or oversized requests, bodies, other HTTP versions) and read the
// answers as they come.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace podnetstat::testing {

/// A blocking loopback TCP connection for byte-exact requests.
class Raw {
 public:
  explicit Raw(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  ~Raw() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  bool ok() const { return fd_ >= 0; }

  int fd() const { return fd_; }

  /// Sends everything; false when the peer closed or reset the connection meanwhile.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return false;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Everything the server sends until it closes the connection; nullopt when it is still open
  /// after `timeout`.
  std::optional<std::string> readToClose(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    char buf[65536];
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return std::nullopt;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        return out;  // EOF, or a reset after the answer
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

  /// Whether the server closed (or reset) the connection: a read that returns 0 or fails,
  /// without waiting. Data that arrives is appended to `got`.
  bool closedByPeer(std::string& got) {
    char buf[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        got.append(buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n == 0) {
        return true;
      }
      return errno != EAGAIN && errno != EWOULDBLOCK;
    }
  }

 private:
  int fd_ = -1;
};

/// One HTTP/1.1 answer cut out of a byte stream.
struct Answer {
  std::string version;
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

inline std::string lowerAscii(std::string s) {
  std::ranges::transform(s, s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

/// Parses the answers in `stream`, in order; `head[i]` says the i-th request was a HEAD (header
/// only). Stops at the first answer that is incomplete or malformed.
inline std::vector<Answer> parseAnswers(std::string_view stream,
                                        const std::vector<bool>& head = {}) {
  std::vector<Answer> out;
  while (!stream.empty()) {
    const auto end = stream.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      break;
    }
    std::string_view header = stream.substr(0, end);
    stream.remove_prefix(end + 4);
    Answer a;
    const auto line_end = header.find("\r\n");
    const std::string_view status_line = header.substr(0, line_end);
    if (!status_line.starts_with("HTTP/") || status_line.size() < 12) {
      break;
    }
    a.version = std::string(status_line.substr(0, 8));
    a.status = static_cast<unsigned>(std::stoul(std::string(status_line.substr(9, 3))));
    header.remove_prefix(line_end == std::string_view::npos ? header.size() : line_end + 2);
    while (!header.empty()) {
      auto eol = header.find("\r\n");
      const std::string_view field = header.substr(0, eol);
      header.remove_prefix(eol == std::string_view::npos ? header.size() : eol + 2);
      const auto colon = field.find(':');
      if (colon == std::string_view::npos) {
        continue;
      }
      std::string value(field.substr(colon + 1));
      value.erase(0, value.find_first_not_of(' '));
      a.headers[lowerAscii(std::string(field.substr(0, colon)))] = value;
    }
    const bool is_head = out.size() < head.size() && head[out.size()];
    if (is_head) {
      // no body
    } else if (lowerAscii(a.headers["transfer-encoding"]) == "chunked") {
      bool done = false;
      while (!done) {
        const auto eol = stream.find("\r\n");
        if (eol == std::string_view::npos) {
          return out;
        }
        const std::size_t size = std::stoul(std::string(stream.substr(0, eol)), nullptr, 16);
        stream.remove_prefix(eol + 2);
        if (size == 0) {
          const auto trailer_end = stream.find("\r\n");
          if (trailer_end == std::string_view::npos) {
            return out;
          }
          stream.remove_prefix(trailer_end + 2);
          done = true;
        } else {
          if (stream.size() < size + 2) {
            return out;
          }
          a.body.append(stream.substr(0, size));
          stream.remove_prefix(size + 2);
        }
      }
    } else if (a.headers.contains("content-length")) {
      const std::size_t size = std::stoul(a.headers["content-length"]);
      if (stream.size() < size) {
        return out;
      }
      a.body = std::string(stream.substr(0, size));
      stream.remove_prefix(size);
    } else {
      a.body = std::string(stream);
      stream = {};
    }
    out.push_back(std::move(a));
  }
  return out;
}

/// Sends `request` on a new connection and returns the first answer (the agent closes the
/// connection after an error; `Connection: close` is added by the callers that want a close
/// after a good answer).
inline std::optional<Answer> exchange(
    std::uint16_t port,
    std::string_view request,
    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Raw raw(port);
  if (!raw.ok()) {
    return std::nullopt;
  }
  raw.send(request);
  ::shutdown(raw.fd(), SHUT_WR);  // nothing more is coming: the server may not wait for more
  const auto bytes = raw.readToClose(timeout);
  if (!bytes) {
    return std::nullopt;
  }
  auto answers = parseAnswers(*bytes);
  if (answers.empty()) {
    return std::nullopt;
  }
  return answers.front();
}

}  // namespace podnetstat::testing
