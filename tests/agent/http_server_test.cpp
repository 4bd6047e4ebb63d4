// The Beast session code over real loopback connections: keep-alive, HEAD, streaming, limits,
// timeouts, the connection cap and graceful shutdown. The handler here is a toy; the API handler
// has its own tests.

#include "podnetstat/agent/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http_client.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

/// A body of `pieces` pieces of 1000 'x'.
class XStream : public BodyStream {
 public:
  explicit XStream(int pieces) : left_(pieces) {}

  bool next(std::string& out) override {
    if (left_ > 0) {
      out.append(1000, 'x');
      --left_;
    }
    return left_ > 0;
  }

 private:
  int left_;
};

HttpResponse toyHandler(const HttpRequest& req) {
  HttpResponse r;
  r.content_type = "text/plain";
  const std::string& t = req.target;
  if (t == "/small") {
    r.body = "hello";
  } else if (t.starts_with("/stream?n=")) {
    r.stream = std::make_shared<XStream>(std::stoi(t.substr(10)));
  } else if (t == "/slow") {
    std::this_thread::sleep_for(500ms);
    r.body = "slow";
  } else if (t.starts_with("/echo")) {
    r.body = req.method + " " + t;
  } else {
    r.status = 404;
    r.body = "no";
  }
  return r;
}

/// A blocking POSIX connection, for byte-exact requests.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  ~RawConnection() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool ok() const { return fd_ >= 0; }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        return;
      }
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Reads until the peer closes (returns true) or `timeout` passes (returns false).
  bool readUntilClosed(std::string& out, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char buf[16384];
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) {
        return false;
      }
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        return true;  // EOF or reset
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

  /// Reads until `out` contains `marker` or `timeout` passes.
  bool readUntil(std::string& out, std::string_view marker, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char buf[16384];
    while (out.find(marker) == std::string::npos) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        return false;
      }
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        return false;
      }
      out.append(buf, static_cast<std::size_t>(n));
    }
    return true;
  }

 private:
  int fd_ = -1;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void startServer(HttpServerOptions options = {}) {
    options.threads = options.threads == 0 ? 2 : options.threads;
    server_ = std::make_unique<HttpServer>(options);
    auto port = server_->listen({"127.0.0.1", 0}, toyHandler);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    server_->start();
  }

  void TearDown() override {
    if (server_) {
      server_->shutdown(1s);
    }
  }

  std::string exchange(std::string_view request) {
    RawConnection c(port_);
    EXPECT_TRUE(c.ok());
    c.send(request);
    std::string out;
    EXPECT_TRUE(c.readUntilClosed(out, 5s)) << "the server did not close: " << out;
    return out;
  }

  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
};

TEST_F(HttpServerTest, AnswersAndKeepsTheConnectionAlive) {
  startServer();
  HttpClient client("127.0.0.1", port_);
  for (int i = 0; i < 3; ++i) {
    auto r = client.get("/small");
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello");
    EXPECT_EQ(r->header("content-type"), "text/plain");
    EXPECT_EQ(r->header("content-length"), "5");
    EXPECT_TRUE(r->keep_alive);
  }
  EXPECT_EQ(server_->stats().accepted, 1U);
  EXPECT_EQ(server_->stats().requests, 3U);
}

TEST_F(HttpServerTest, HeadSendsTheHeadersWithoutTheBody) {
  startServer();
  HttpClient client("127.0.0.1", port_);
  auto r = client.request("HEAD", "/small");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-length"), "5");
  EXPECT_EQ(r->body, "");
  r = client.request("HEAD", "/stream?n=100");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "");
  // The connection is still in step: the next answer is the next request's.
  r = client.get("/echo?x");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "GET /echo?x");
  EXPECT_EQ(server_->stats().accepted, 1U);
}

TEST_F(HttpServerTest, StreamedBodiesAreChunked) {
  startServer();
  HttpClient client("127.0.0.1", port_);
  auto r = client.get("/stream?n=3000");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->header("transfer-encoding"), "chunked");
  EXPECT_EQ(r->body.size(), 3'000'000U);
  EXPECT_EQ(r->body.find_first_not_of('x'), std::string::npos);
  // Empty stream.
  r = client.get("/stream?n=0");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->body, "");
}

TEST_F(HttpServerTest, Http10GetsAnUnframedBodyEndedByClose) {
  startServer();
  const std::string out = exchange("GET /stream?n=10 HTTP/1.0\r\n\r\n");
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(out, ::testing::Not(::testing::HasSubstr("chunked")));
  const auto body = out.substr(out.find("\r\n\r\n") + 4);
  EXPECT_EQ(body, std::string(10'000, 'x'));
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  startServer();
  RawConnection c(port_);
  c.send(
      "GET /echo?1 HTTP/1.1\r\nHost: a\r\n\r\nGET /echo?2 HTTP/1.1\r\nHost: a\r\n"
      "Connection: close\r\n\r\n");
  std::string out;
  ASSERT_TRUE(c.readUntilClosed(out, 5s));
  const auto first = out.find("GET /echo?1");
  const auto second = out.find("GET /echo?2");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second);
}

TEST_F(HttpServerTest, HeaderOver8KiBIs431) {
  startServer();
  const std::string big(9000, 'a');
  const std::string out = exchange("GET /small HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n");
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 431 "));
  EXPECT_THAT(out, ::testing::HasSubstr("\"code\":431"));
  // Just under the limit is fine.
  HttpClient client("127.0.0.1", port_);
  auto r = client.request("GET", "/small", {{"X-Big", std::string(7000, 'a')}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpServerTest, RequestBodiesAre413) {
  startServer();
  std::string out = exchange("GET /small HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello");
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 413 "));
  out = exchange(
      "POST /small HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n");
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 413 "));
  // A big body the server does not read still lets the client see the answer.
  out = exchange("PUT /small HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n" +
                 std::string(300'000, 'b'));
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 413 "));
  EXPECT_THAT(out, ::testing::HasSubstr("Connection: close"));
}

TEST_F(HttpServerTest, GarbageIs400) {
  startServer();
  EXPECT_THAT(exchange("BLAH\r\n\r\n"), ::testing::StartsWith("HTTP/1.1 400 "));
  EXPECT_THAT(exchange("GET /small HTTP/1.1\r\nBad Header\r\n\r\n"),
              ::testing::StartsWith("HTTP/1.1 400 "));
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionsTimeOut) {
  HttpServerOptions options;
  options.idle_timeout = 300ms;
  startServer(options);
  RawConnection c(port_);
  c.send("GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string out;
  ASSERT_TRUE(c.readUntil(out, "hello", 5s));
  const auto begin = Clock::now();
  EXPECT_TRUE(c.readUntilClosed(out, 3s));
  EXPECT_GE(Clock::now() - begin, 250ms);
}

TEST_F(HttpServerTest, SlowRequestHeadersTimeOut) {
  HttpServerOptions options;
  options.read_timeout = 300ms;
  startServer(options);
  RawConnection c(port_);
  c.send("GET /small HTTP/1.1\r\n");
  std::string out;
  EXPECT_TRUE(c.readUntilClosed(out, 3s));
  EXPECT_EQ(out, "");
  // A connection that says nothing at all is closed as well.
  RawConnection silent(port_);
  EXPECT_TRUE(silent.readUntilClosed(out, 3s));
}

TEST_F(HttpServerTest, WhenFullTheOldestIdleConnectionMakesRoom) {
  HttpServerOptions options;
  options.max_connections = 2;
  startServer(options);
  RawConnection a(port_);
  RawConnection b(port_);
  std::string out_a;
  std::string out_b;
  a.send("GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(a.readUntil(out_a, "hello", 5s));
  std::this_thread::sleep_for(50ms);
  b.send("GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_TRUE(b.readUntil(out_b, "hello", 5s));

  HttpClient c("127.0.0.1", port_);
  auto r = c.get("/small");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_TRUE(a.readUntilClosed(out_a, 3s)) << "the oldest idle connection is evicted";
  EXPECT_EQ(server_->stats().evicted, 1U);
}

TEST_F(HttpServerTest, WhenFullWithNothingIdleNewcomersGet503) {
  HttpServerOptions options;
  options.max_connections = 2;
  startServer(options);
  RawConnection a(port_);  // in the middle of a request: busy, not evictable
  RawConnection b(port_);
  a.send("GET /sma");
  b.send("GET /sma");
  std::this_thread::sleep_for(100ms);
  const std::string out = exchange("GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 503 "));
  EXPECT_THAT(out, ::testing::HasSubstr("Connection: close"));
  EXPECT_THAT(out, ::testing::HasSubstr("too many connections"));
  EXPECT_EQ(server_->stats().rejected, 1U);
  // The two admitted connections still work.
  a.send("ll HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string out_a;
  EXPECT_TRUE(a.readUntil(out_a, "hello", 5s));
}

TEST_F(HttpServerTest, WhenFullTheOldestSilentConnectionMakesRoom) {
  HttpServerOptions options;
  options.max_connections = 2;
  startServer(options);
  // Connected, nothing sent: as idle as a keep-alive connection between requests. Were they not
  // evictable, a crowd of them would lock newcomers out for a whole read timeout.
  RawConnection a(port_);
  std::this_thread::sleep_for(50ms);
  RawConnection b(port_);
  std::this_thread::sleep_for(100ms);
  const std::string out = exchange("GET /small HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
  EXPECT_THAT(out, ::testing::StartsWith("HTTP/1.1 200 "));
  std::string out_a;
  EXPECT_TRUE(a.readUntilClosed(out_a, 3s)) << "the oldest silent connection is evicted";
  EXPECT_TRUE(out_a.empty());
  EXPECT_EQ(server_->stats().evicted, 1U);
  EXPECT_EQ(server_->stats().rejected, 0U);
  // The younger one is still there and served.
  b.send("GET /small HTTP/1.1\r\nHost: a\r\n\r\n");
  std::string out_b;
  EXPECT_TRUE(b.readUntil(out_b, "hello", 5s));
}

TEST_F(HttpServerTest, HundredConcurrentClientsGetTheirOwnAnswers) {
  startServer();
  constexpr int kClients = 100;
  constexpr int kRequests = 20;
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  threads.reserve(kClients);
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient client("127.0.0.1", port_);
      for (int i = 0; i < kRequests; ++i) {
        const std::string target = "/echo?c=" + std::to_string(c) + "&i=" + std::to_string(i);
        auto r = i % 5 == 4 ? client.get("/stream?n=50") : client.get(target);
        if (!r.ok() || r->status != 200) {
          continue;
        }
        if (i % 5 == 4 ? r->body.size() == 50'000 : r->body == "GET " + target) {
          ++good;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(good.load(), kClients * kRequests);
}

TEST_F(HttpServerTest, ShutdownLetsRequestsInProgressFinish) {
  startServer();
  auto slow = std::async(std::launch::async, [&] {
    HttpClient client("127.0.0.1", port_);
    return client.get("/slow");
  });
  HttpClient idle("127.0.0.1", port_);
  ASSERT_TRUE(idle.get("/small").ok());
  std::this_thread::sleep_for(150ms);  // /slow is in the handler now
  const auto begin = Clock::now();
  server_->shutdown(2s);
  const auto took = Clock::now() - begin;
  auto r = slow.get();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "slow");
  EXPECT_FALSE(r->keep_alive) << "answers during shutdown close their connection";
  EXPECT_LT(took, 1500ms);
  // Nobody listens any more.
  RawConnection late(port_);
  EXPECT_FALSE(late.ok());
  server_.reset();
}

TEST_F(HttpServerTest, ShutdownGivesUpOnConnectionsAfterTheGrace) {
  startServer();
  RawConnection stuck(port_);
  stuck.send("GET /small HTTP/1.1\r\n");  // a header that never ends
  std::this_thread::sleep_for(100ms);
  const auto begin = Clock::now();
  server_->shutdown(300ms);
  EXPECT_LT(Clock::now() - begin, 1s);
  server_.reset();
}

TEST(HttpServer, ListenFailsOnAPortInUse) {
  HttpServer a({});
  auto port = a.listen({"127.0.0.1", 0}, toyHandler);
  ASSERT_TRUE(port.ok());
  HttpServer b({});
  auto again = b.listen({"127.0.0.1", *port}, toyHandler);
  EXPECT_FALSE(again.ok());
}

TEST(RaiseFdLimit, ReachesTheWantedSoftLimit) {
  EXPECT_GE(raiseFdLimit(1024), 1024U);
}

}  // namespace
}  // namespace podnetstat::agent
