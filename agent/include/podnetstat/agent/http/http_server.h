#pragma once

// An asynchronous HTTP/1.1 server (Boost.Beast) on a fixed pool of threads. It owns everything
// around the handler: accepting, the connection cap, header and body limits, read/idle/write
// timeouts, keep-alive, HEAD, streaming bodies and graceful shutdown. The handler itself is a
// plain function HttpRequest -> HttpResponse (http_message.h).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "podnetstat/agent/http/fd_limit.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/http/listen_address.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

class TlsCertificates;

struct HttpServerOptions {
  /// Connections served at once. When full, the oldest idle connection (a keep-alive one between
  /// requests, or a new one that has sent nothing yet) is closed to make room; with none idle the
  /// newcomer gets 503 and is closed.
  std::size_t max_connections = 4096;
  /// Request line plus header fields; larger requests get 431 (414 when the request line alone
  /// is larger).
  std::size_t header_limit = 8192;
  /// From the first byte of a request to the end of its header (also: how long a new connection
  /// may stay silent).
  std::chrono::milliseconds read_timeout{10000};
  /// How long a keep-alive connection may wait for its next request.
  std::chrono::milliseconds idle_timeout{60000};
  /// Sending one whole answer.
  std::chrono::milliseconds write_timeout{60000};
  /// Threads running the io_context; 0 = one per CPU (at most 4).
  unsigned threads = 0;
};

/// Counters since start, for /metrics and tests.
struct HttpServerStats {
  std::uint64_t accepted = 0;  // connections admitted
  std::uint64_t rejected = 0;  // connections answered 503 because the server was full
  std::uint64_t evicted = 0;   // idle connections closed to make room
  std::uint64_t requests = 0;  // requests answered
  std::size_t open = 0;        // connections open now
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  /// Shuts down (without grace) if still running.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds `address` and listens; its requests go to `handler`, which may be called from any
  /// pool thread concurrently. With `tls` the listener speaks HTTPS only (TLS 1.2+, with the
  /// certificate `tls` holds at each accept). Call before start(). Returns the bound port
  /// (useful with port 0).
  [[nodiscard]] Result<std::uint16_t> listen(const ListenAddress& address,
                                             HttpHandler handler,
                                             std::shared_ptr<TlsCertificates> tls = nullptr);

  /// Starts the threads. Raises the soft RLIMIT_NOFILE for max_connections if it must (lowering
  /// max_connections, with a warning, when the hard limit is too low).
  void start();

  /// Stops accepting, closes idle connections, lets requests in progress finish (their answers
  /// carry "Connection: close"), closes whatever is still open after `grace`, then joins the
  /// threads. Idempotent; returns once every thread has stopped.
  void shutdown(std::chrono::milliseconds grace);

  HttpServerStats stats() const;

  /// max_connections in force (after start() may have lowered it).
  std::size_t maxConnections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnetstat::agent
