// The Beast session code around the handler.
//
// One connection = one Session on its own strand. Its life:
//   1. wait for the first bytes of a request (read timeout for a new connection, idle timeout
//      between keep-alive requests); while waiting the connection is "idle" and may be evicted,
//      oldest first, when the server is full: a crowd of silent connections cannot lock out
//      newcomers for a whole read timeout;
//   2. read the header (read timeout, header limit -> 431, or 414 when the request line alone
//      is over it; a body -> 413; an HTTP version other than 1.0/1.1 -> 505; garbage -> 400);
//   3. call the handler, write the answer (write timeout; streamed bodies go out chunked; an
//      event stream's pieces go out as chunks when it has them, the connection waiting between
//      them without a timeout of its own: the stream wakes it or bounds the wait);
//   4. keep-alive -> 1, else half-close, drain what the client still sends, close.
// Shutdown: stop accepting, close sessions waiting in 1, let the others finish 2-4 with
// "Connection: close", and close whatever is left when the grace period ends.
// On a TLS listener step 0 is the TLS handshake (under the read timeout, with the certificate
// current at accept time), and closing sends close_notify before the TCP half-close.

#include "podnetstat/agent/http/http_server.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "podnetstat/agent/http/tls_certificates.h"

namespace podnetstat::agent {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;

/// The two kinds of connection: plain HTTP, and HTTPS (TLS over the same TCP stream). Sessions
/// and rejecters are templates over these; everything TLS-specific is behind `kIsTls`.
using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

template <class Stream>
constexpr bool kIsTls = std::is_same_v<Stream, TlsStream>;

constexpr std::size_t kFirstReadSize = 4096;
constexpr std::size_t kChunkReserve = 24 * 1024;  // a BodyStream piece (~16 KiB) and then some
constexpr std::size_t kMaxRejecting = 256;        // 503 answers in flight; beyond: RST
constexpr std::size_t kFdReserve = 256 + kMaxRejecting;  // files, scanner, rejected sockets
constexpr auto kLingerTime = std::chrono::milliseconds(1000);
constexpr std::size_t kLingerBytes = 1 << 20;
constexpr auto kRejectTime = std::chrono::milliseconds(1000);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);
constexpr const char* kServerName = "podnetstat/" PODNETSTAT_VERSION;

/// A Beast body whose writer pulls pieces from a BodyStream while the message is being sent.
struct StreamBody {
  using value_type = std::shared_ptr<BodyStream>;

  class writer {  // NOLINT(readability-identifier-naming): Beast's concept name
   public:
    using const_buffers_type = net::const_buffer;

    template <bool IsRequest, class Fields>
    writer(const http::header<IsRequest, Fields>& /*header*/, const value_type& body)
        : stream_(body) {}

    void init(beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      if (done_ || !stream_) {
        return boost::none;
      }
      if (chunk_.capacity() < kChunkReserve) {
        chunk_.reserve(kChunkReserve);  // one allocation for the life of the answer
      }
      chunk_.clear();
      try {
        bool more = true;
        while (chunk_.empty() && more) {
          more = stream_->next(chunk_);
        }
        done_ = !more;
      } catch (const std::exception& e) {
        spdlog::error("http: producing a response body failed: {}", e.what());
        ec = boost::system::errc::make_error_code(boost::system::errc::io_error);
        return boost::none;
      }
      if (chunk_.empty()) {
        return boost::none;
      }
      return {{const_buffers_type(chunk_.data(), chunk_.size()), !done_}};
    }

   private:
    value_type stream_;
    std::string chunk_;
    bool done_ = false;
  };
};

/// What the server needs of a session, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  /// From any thread: close if waiting for a request (shutdown) or unconditionally (eviction,
  /// end of the grace period).
  virtual void post(bool only_if_waiting) = 0;
};

/// Shared by the server, its listeners and its sessions (which may outlive the server object by
/// a little while the io_context is torn down).
struct ServerState {
  HttpServerOptions options;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> requests{0};

  std::mutex mu;
  std::condition_variable drained;
  std::size_t open = 0;       // sessions alive
  std::size_t rejecting = 0;  // 503 answers in flight
  std::uint64_t next_id = 1;
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t evicted_count = 0;
  std::unordered_map<std::uint64_t, std::weak_ptr<SessionBase>> sessions;
  std::list<std::uint64_t> idle;  // oldest first
  std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> idle_pos;
  std::unordered_set<std::uint64_t> evicted;  // chosen for eviction, not yet closed

  void removeIdleLocked(std::uint64_t id) {
    auto it = idle_pos.find(id);
    if (it != idle_pos.end()) {
      idle.erase(it->second);
      idle_pos.erase(it);
    }
  }

  void markIdle(std::uint64_t id) {
    std::lock_guard lock(mu);
    if (evicted.contains(id) || idle_pos.contains(id)) {
      return;
    }
    idle.push_back(id);
    idle_pos.emplace(id, std::prev(idle.end()));
  }

  /// The connection got bytes: it is no longer idle. False when it was chosen for eviction.
  bool markBusy(std::uint64_t id) {
    std::lock_guard lock(mu);
    if (evicted.erase(id) > 0) {
      return false;
    }
    removeIdleLocked(id);
    return true;
  }

  void onClosed(std::uint64_t id) {
    std::lock_guard lock(mu);
    sessions.erase(id);
    removeIdleLocked(id);
    evicted.erase(id);
    --open;
    if (open == 0 && rejecting == 0) {
      drained.notify_all();
    }
  }

  void onRejectDone() {
    std::lock_guard lock(mu);
    --rejecting;
    if (open == 0 && rejecting == 0) {
      drained.notify_all();
    }
  }
};

bool isHttpParseError(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

/// Builds the message for `response`; for HEAD only the header fields are sent.
http::message_generator makeMessage(HttpResponse&& response,
                                    bool head,
                                    unsigned version,
                                    bool keep_alive) {
  const auto status = static_cast<http::status>(response.status);
  auto fill = [&](auto& msg) {
    msg.set(http::field::server, kServerName);
    msg.set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) {
      msg.set(name, value);
    }
  };
  if (head) {
    http::response<http::empty_body> msg{status, version};
    fill(msg);
    if (!response.stream && !response.events) {
      // The length the GET answer would have. A streamed answer's length is only known while
      // it is produced, so its HEAD carries no framing field (RFC 9110 9.3.2 allows that).
      msg.content_length(response.body.size());
    }
    msg.keep_alive(keep_alive);
    return msg;
  }
  if (response.stream) {
    http::response<StreamBody> msg{status, version};
    fill(msg);
    msg.body() = std::move(response.stream);
    if (version >= 11) {
      msg.chunked(true);
      msg.keep_alive(keep_alive);
    } else {
      msg.keep_alive(false);  // HTTP/1.0 has no chunks: the end of the body is the end of the
                              // connection
    }
    return msg;
  }
  http::response<http::string_body> msg{status, version};
  fill(msg);
  msg.body() = std::move(response.body);
  msg.prepare_payload();
  msg.keep_alive(keep_alive);
  return msg;
}

/// Whether the request line at the start of `received` is well formed but for an HTTP version
/// other than 1.0 and 1.1 ("GET / HTTP/2.0", the HTTP/2 preface "PRI * HTTP/2.0"): the parser
/// refuses those as a bad version, and they deserve 505 rather than 400 (RFC 9110 15.6.6).
bool isOtherHttpVersion(std::string_view received) {
  const std::string_view line = received.substr(0, received.find_first_of("\r\n"));
  const auto first_space = line.find(' ');
  const auto last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == 0 || last_space <= first_space + 1 ||
      line.find(' ', first_space + 1) != last_space) {
    return false;  // not exactly "method SP target SP version"
  }
  const std::string_view version = line.substr(last_space + 1);
  const auto digit = [](char c) {
    return c >= '0' && c <= '9';
  };
  return version.size() == 8 && version.starts_with("HTTP/") && digit(version[5]) &&
         version[6] == '.' && digit(version[7]) && version != "HTTP/1.0" && version != "HTTP/1.1";
}

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
 public:
  /// `tls` (TLS sessions only) keeps the context the stream was made with alive.
  Session(Stream&& stream,
          std::shared_ptr<ssl::context> tls,
          std::shared_ptr<ServerState> state,
          std::shared_ptr<const HttpHandler> handler,
          std::uint64_t id)
      : stream_(std::move(stream)),
        tls_(std::move(tls)),
        state_(std::move(state)),
        handler_(std::move(handler)),
        id_(id) {}

  ~Session() override { state_->onClosed(id_); }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      if constexpr (kIsTls<Stream>) {
        self->handshake();
      } else {
        self->waitForRequest();
      }
    });
  }

  void post(bool only_if_waiting) override {
    net::post(stream_.get_executor(), [self = this->shared_from_this(), only_if_waiting] {
      if (only_if_waiting && self->events_waiting_) {
        self->events_timer_->cancel();  // its next poll sees the server stopping and ends it
        return;
      }
      if (!only_if_waiting || self->waiting_) {
        self->closeNow();
      }
    });
  }

 private:
  const HttpServerOptions& options() const { return state_->options; }

  beast::tcp_stream& tcpStream() { return beast::get_lowest_layer(stream_); }

  std::shared_ptr<Session> self() { return this->shared_from_this(); }

  /// TLS only: the handshake counts as "waiting for a request" (shutdown may close it).
  void handshake() {
    waiting_ = true;
    tcpStream().expires_after(options().read_timeout);
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Session::onHandshake, self()));
  }

  void onHandshake(beast::error_code ec) {
    waiting_ = false;
    if (ec) {
      if (spdlog::should_log(spdlog::level::debug)) {
        spdlog::debug("http: TLS handshake failed: {}", ec.message());
      }
      closeNow();
      return;
    }
    waitForRequest();
  }

  void waitForRequest() {
    if (state_->stopping) {
      closeNow();
      return;
    }
    if (buffer_.size() > 0) {  // a pipelined request is already here
      readRequest();
      return;
    }
    waiting_ = true;
    state_->markIdle(id_);
    tcpStream().expires_after(served_ ? options().idle_timeout : options().read_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadSize),
                            beast::bind_front_handler(&Session::onFirstBytes, self()));
  }

  void onFirstBytes(beast::error_code ec, std::size_t n) {
    waiting_ = false;
    if (!state_->markBusy(id_) || ec) {
      closeNow();
      return;
    }
    buffer_.commit(n);
    readRequest();
  }

  void readRequest() {
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(options().header_limit));
    tcpStream().expires_after(options().read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::onHeader, self()));
  }

  void onHeader(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == http::error::header_limit) {
      // The parser consumes the request line once it is complete and records its method: with no
      // method yet, the request line alone is over the limit (RFC 9112 3: 414 for a
      // request-target longer than the server will parse).
      if (parser_->get().method_string().empty()) {
        sendError(414,
                  "request line longer than " + std::to_string(options().header_limit) + " bytes");
      } else {
        sendError(
            431, "request header larger than " + std::to_string(options().header_limit) + " bytes");
      }
      return;
    }
    if (ec) {
      const std::string_view received(static_cast<const char*>(buffer_.data().data()),
                                      buffer_.size());
      if (ec == http::error::bad_version && isOtherHttpVersion(received)) {
        sendError(505, "HTTP version not supported; use HTTP/1.1");
      } else if (isHttpParseError(ec)) {
        sendError(400, "malformed request: " + ec.message());
      } else {
        closeNow();
      }
      return;
    }
    const auto& req = parser_->get();
    const auto length = parser_->content_length();
    if (parser_->chunked() || (length && *length > 0)) {
      sendError(413, "request bodies are not accepted");
      return;
    }

    HttpRequest request{std::string(req.method_string()), std::string(req.target()),
                        std::string(req[http::field::authorization])};
    HttpResponse response;
    try {
      response = (*handler_)(request);
    } catch (const std::exception& e) {
      spdlog::error("http: {} {}: {}", request.method, request.target, e.what());
      response = errorResponse(500, "internal error");
    }
    state_->requests.fetch_add(1, std::memory_order_relaxed);
    if (spdlog::should_log(spdlog::level::debug)) {
      spdlog::debug("http: {} {} -> {}", request.method, request.target, response.status);
    }
    const bool keep_alive = req.keep_alive() && !state_->stopping;
    const bool head = req.method() == http::verb::head;
    if (response.events && !response.stream && !head) {
      startEvents(std::move(response), req.version(), keep_alive);
      return;
    }
    write(makeMessage(std::move(response), head, req.version(), keep_alive));
  }

  /// Sends the header of an event stream's answer, then its pieces as they come.
  void startEvents(HttpResponse&& response, unsigned version, bool keep_alive) {
    events_ = std::move(response.events);
    events_header_.emplace(static_cast<http::status>(response.status), version);
    auto& msg = *events_header_;
    msg.set(http::field::server, kServerName);
    msg.set(http::field::content_type, response.content_type);
    for (auto& [name, value] : response.headers) {
      msg.set(name, value);
    }
    events_chunked_ = version >= 11;
    if (events_chunked_) {
      msg.chunked(true);
      msg.keep_alive(keep_alive);
    } else {
      msg.keep_alive(false);  // HTTP/1.0: the end of the body is the end of the connection
    }
    events_keep_alive_ = msg.keep_alive();
    events_serializer_.emplace(msg);
    events_timer_.emplace(stream_.get_executor());
    std::weak_ptr<Session> weak = self();
    events_->start([weak] {
      if (auto s = weak.lock()) {
        auto executor = s->stream_.get_executor();
        net::post(executor, [s = std::move(s)] { s->onEventsWake(); });
      }
    });
    events_writing_ = true;
    tcpStream().expires_after(options().write_timeout);
    http::async_write_header(stream_, *events_serializer_,
                             [self = self()](beast::error_code ec, std::size_t /*bytes*/) {
                               self->onEventsWritten(ec);
                             });
  }

  void onEventsWake() {
    if (events_waiting_) {
      events_timer_->cancel();
    } else if (events_writing_ && events_ && events_->tooSlow()) {
      closeNow();
    }
  }

  void onEventsWritten(beast::error_code ec) {
    events_writing_ = false;
    if (ec || closed_) {
      closeNow();
      return;
    }
    if (events_done_) {
      const bool keep_alive = events_keep_alive_;
      endEvents();
      onWrite(keep_alive, ec, 0);
      return;
    }
    pollEvents();
  }

  void pollEvents() {
    if (closed_) {
      return;
    }
    events_chunk_.clear();
    EventStream::Poll poll = EventStream::Poll::End;
    if (!state_->stopping) {
      try {
        poll = events_->poll(events_chunk_);
      } catch (const std::exception& e) {
        spdlog::error("http: producing an event stream failed: {}", e.what());
        closeNow();
        return;
      }
    }
    if (poll == EventStream::Poll::Wait) {
      events_waiting_ = true;
      tcpStream().expires_never();
      events_timer_->expires_after(events_->wakeAfter());
      events_timer_->async_wait([self = self()](beast::error_code /*ec*/) {
        self->events_waiting_ = false;
        self->pollEvents();
      });
      return;
    }
    events_done_ = poll == EventStream::Poll::End;
    if (events_chunk_.empty() && !events_done_) {
      net::post(stream_.get_executor(), [self = self()] { self->pollEvents(); });
      return;
    }
    events_writing_ = true;
    tcpStream().expires_after(options().write_timeout);
    const auto done = [self = self()](beast::error_code ec, std::size_t /*bytes*/) {
      self->onEventsWritten(ec);
    };
    const net::const_buffer piece(events_chunk_.data(), events_chunk_.size());
    if (!events_chunked_) {
      net::async_write(stream_, piece, done);
    } else if (!events_done_) {
      net::async_write(stream_, http::make_chunk(piece), done);
    } else if (events_chunk_.empty()) {
      net::async_write(stream_, http::make_chunk_last(), done);
    } else {
      net::async_write(stream_,
                       beast::buffers_cat(http::make_chunk(piece), http::make_chunk_last()), done);
    }
  }

  void endEvents() {
    events_.reset();
    events_serializer_.reset();
    events_header_.reset();
    events_timer_.reset();
    events_done_ = false;
  }

  void write(http::message_generator&& message) {
    const bool keep_alive = message.keep_alive();
    tcpStream().expires_after(options().write_timeout);
    beast::async_write(stream_, std::move(message),
                       beast::bind_front_handler(&Session::onWrite, self(), keep_alive));
  }

  void onWrite(bool keep_alive, beast::error_code ec, std::size_t /*bytes*/) {
    if (ec) {
      closeNow();
      return;
    }
    if (!keep_alive || state_->stopping) {
      lingerClose();
      return;
    }
    served_ = true;
    parser_.reset();
    waitForRequest();
  }

  /// Answers an unusable request and closes the connection.
  void sendError(unsigned status, const std::string& message) {
    HttpResponse response = errorResponse(status, message);
    const unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    write(makeMessage(std::move(response), false, version, false));
  }

  /// Half-closes and reads what the client still sends (a body we refused, a pipelined request)
  /// for a short while, so that closing does not reset the connection before it read our answer.
  /// TLS: sends close_notify first (waiting for the client's for at most the linger time), then
  /// the same half-close.
  void lingerClose() {
    if constexpr (kIsTls<Stream>) {
      if (!tls_closed_) {
        tls_closed_ = true;
        tcpStream().expires_after(kLingerTime);
        stream_.async_shutdown([self = self()](beast::error_code ec) {
          if (ec == beast::error::timeout) {
            self->closeNow();
            return;
          }
          self->lingerClose();
        });
        return;
      }
    }
    beast::error_code ec;
    tcpStream().socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      closeNow();
      return;
    }
    buffer_.clear();
    tcpStream().expires_after(kLingerTime);
    lingerRead();
  }

  void lingerRead() {
    // Plain bytes: after close_notify (or on a plain connection) nothing more is decrypted.
    tcpStream().async_read_some(buffer_.prepare(kFirstReadSize),
                                [self = self()](beast::error_code ec, std::size_t n) {
                                  self->lingered_ += n;
                                  if (ec || self->lingered_ > kLingerBytes) {
                                    self->closeNow();
                                    return;
                                  }
                                  self->lingerRead();
                                });
  }

  void closeNow() {
    waiting_ = false;
    closed_ = true;
    if (events_timer_) {
      events_timer_->cancel();
    }
    beast::error_code ec;
    tcpStream().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcpStream().close();
  }

  Stream stream_;
  std::shared_ptr<ssl::context> tls_;
  bool tls_closed_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::shared_ptr<ServerState> state_;
  std::shared_ptr<const HttpHandler> handler_;
  std::uint64_t id_;
  bool waiting_ = false;  // in step 1, waiting for the first bytes of a request
  bool served_ = false;   // answered at least one request
  bool closed_ = false;
  std::size_t lingered_ = 0;
  // An event stream being answered (step 3).
  std::shared_ptr<EventStream> events_;
  std::optional<http::response<http::empty_body>> events_header_;
  std::optional<http::response_serializer<http::empty_body>> events_serializer_;
  std::optional<net::steady_timer> events_timer_;
  std::string events_chunk_;
  bool events_chunked_ = true;
  bool events_keep_alive_ = false;
  bool events_writing_ = false;
  bool events_waiting_ = false;
  bool events_done_ = false;
};

/// Answers 503 to a connection the server has no room for: reads its request header briefly
/// (so that closing does not reset the connection under the client's feet), answers, closes.
/// On a TLS listener the handshake comes first, within the same short time.
template <class Stream>
class Rejecter : public std::enable_shared_from_this<Rejecter<Stream>> {
 public:
  Rejecter(Stream&& stream, std::shared_ptr<ssl::context> tls, std::shared_ptr<ServerState> state)
      : stream_(std::move(stream)), tls_(std::move(tls)), state_(std::move(state)) {}

  ~Rejecter() { state_->onRejectDone(); }

  Rejecter(const Rejecter&) = delete;
  Rejecter& operator=(const Rejecter&) = delete;

  void start() {
    net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
      self->parser_.header_limit(static_cast<std::uint32_t>(self->state_->options.header_limit));
      beast::get_lowest_layer(self->stream_).expires_after(kRejectTime);
      if constexpr (kIsTls<Stream>) {
        self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) {
            beast::get_lowest_layer(self->stream_).close();
            return;
          }
          self->readHeader();
        });
      } else {
        self->readHeader();
      }
    });
  }

 private:
  void readHeader() {
    http::async_read_header(
        stream_, buffer_, parser_,
        beast::bind_front_handler(&Rejecter::onHeader, this->shared_from_this()));
  }

  void onHeader(beast::error_code ec, std::size_t /*bytes*/) {
    if (ec == beast::error::timeout) {
      beast::get_lowest_layer(stream_).close();
      return;
    }
    HttpResponse response = errorResponse(503, "too many connections");
    response.headers.emplace_back("Retry-After", "1");
    beast::get_lowest_layer(stream_).expires_after(kRejectTime);
    beast::async_write(stream_, makeMessage(std::move(response), false, 11, false),
                       [self = this->shared_from_this()](beast::error_code, std::size_t) {
                         auto& tcp_stream = beast::get_lowest_layer(self->stream_);
                         beast::error_code ignored;
                         tcp_stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
                         tcp_stream.close();
                       });
  }

  Stream stream_;
  std::shared_ptr<ssl::context> tls_;
  beast::flat_buffer buffer_;
  http::request_parser<http::empty_body> parser_;
  std::shared_ptr<ServerState> state_;
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  /// `tls` null: plain HTTP.
  Listener(net::io_context& ioc,
           tcp::acceptor&& acceptor,
           std::shared_ptr<const HttpHandler> handler,
           std::shared_ptr<TlsCertificates> tls,
           std::shared_ptr<ServerState> state)
      : ioc_(ioc),
        acceptor_(std::move(acceptor)),
        retry_timer_(acceptor_.get_executor()),
        handler_(std::move(handler)),
        tls_(std::move(tls)),
        state_(std::move(state)) {}

  void start() {
    net::dispatch(acceptor_.get_executor(), [self = shared_from_this()] { self->doAccept(); });
  }

  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->retry_timer_.cancel();
    });
  }

 private:
  void doAccept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::onAccept, shared_from_this()));
  }

  void onAccept(beast::error_code ec, tcp::socket socket) {
    if (!acceptor_.is_open() || ec == net::error::operation_aborted) {
      return;
    }
    if (ec) {
      // EMFILE/ENFILE and friends: back off instead of spinning.
      spdlog::warn("http: accept failed: {}", ec.message());
      retry_timer_.expires_after(kAcceptRetryDelay);
      retry_timer_.async_wait([self = shared_from_this()](beast::error_code wait_ec) {
        if (!wait_ec && self->acceptor_.is_open()) {
          self->doAccept();
        }
      });
      return;
    }
    if (state_->stopping) {
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    admit(std::move(socket));
    doAccept();
  }

  void admit(tcp::socket&& socket) {
    if (tls_) {
      // The certificate in force now (reloaded here when its files changed).
      auto context = tls_->current();
      admitAs<TlsStream>(std::move(socket), context);
    } else {
      admitAs<PlainStream>(std::move(socket), nullptr);
    }
  }

  template <class Stream>
  static Stream makeStream(tcp::socket&& socket, const std::shared_ptr<ssl::context>& context) {
    if constexpr (kIsTls<Stream>) {
      return Stream(std::move(socket), *context);
    } else {
      return Stream(std::move(socket));
    }
  }

  template <class Stream>
  void admitAs(tcp::socket&& socket, const std::shared_ptr<ssl::context>& context) {
    std::shared_ptr<SessionBase> victim;
    std::uint64_t id = 0;
    bool reject = false;
    bool drop = false;
    {
      std::lock_guard lock(state_->mu);
      if (state_->open < state_->options.max_connections) {
        id = state_->next_id++;
      } else if (!state_->idle.empty()) {
        const std::uint64_t victim_id = state_->idle.front();
        state_->removeIdleLocked(victim_id);
        state_->evicted.insert(victim_id);
        ++state_->evicted_count;
        if (auto it = state_->sessions.find(victim_id); it != state_->sessions.end()) {
          victim = it->second.lock();
        }
        id = state_->next_id++;
      } else if (state_->rejecting < kMaxRejecting) {
        reject = true;
        ++state_->rejecting;
        ++state_->rejected;
      } else {
        drop = true;
        ++state_->rejected;
      }
      if (id != 0) {
        ++state_->open;
        ++state_->accepted;
      }
    }
    if (drop) {
      beast::error_code ignored;
      socket.close(ignored);
      return;
    }
    if (reject) {
      std::make_shared<Rejecter<Stream>>(makeStream<Stream>(std::move(socket), context), context,
                                         state_)
          ->start();
      return;
    }
    if (victim) {
      victim->post(false);
    }
    auto session = std::make_shared<Session<Stream>>(makeStream<Stream>(std::move(socket), context),
                                                     context, state_, handler_, id);
    {
      std::lock_guard lock(state_->mu);
      state_->sessions.emplace(id, session);
    }
    session->start();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::shared_ptr<const HttpHandler> handler_;
  std::shared_ptr<TlsCertificates> tls_;
  std::shared_ptr<ServerState> state_;
};

}  // namespace

struct HttpServer::Impl {
  std::shared_ptr<ServerState> state = std::make_shared<ServerState>();
  net::io_context ioc;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::vector<std::thread> threads;
  bool started = false;
  bool stopped = false;

  explicit Impl(unsigned concurrency) : ioc(static_cast<int>(concurrency)) {}
};

namespace {

unsigned threadCount(unsigned wanted) {
  if (wanted > 0) {
    return wanted;
  }
  return std::clamp(std::thread::hardware_concurrency(), 1U, 4U);
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options)
    : impl_(std::make_unique<Impl>(threadCount(options.threads))) {
  options.threads = threadCount(options.threads);
  impl_->state->options = options;
}

HttpServer::~HttpServer() {
  shutdown(std::chrono::milliseconds(0));
}

Result<std::uint16_t> HttpServer::listen(const ListenAddress& address,
                                         HttpHandler handler,
                                         std::shared_ptr<TlsCertificates> tls) {
  beast::error_code ec;
  const auto ip = net::ip::make_address(address.host, ec);
  if (ec) {
    return Error{"invalid listen address '" + address.host + "': " + ec.message()};
  }
  const tcp::endpoint endpoint(ip, address.port);
  tcp::acceptor acceptor(net::make_strand(impl_->ioc));
  const std::string where = address.toString();
  if (acceptor.open(endpoint.protocol(), ec); ec) {
    return Error{"cannot listen on " + where + ": " + ec.message()};
  }
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) {
    return Error{"cannot listen on " + where + ": " + ec.message()};
  }
  if (acceptor.bind(endpoint, ec); ec) {
    return Error{"cannot listen on " + where + ": " + ec.message()};
  }
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) {
    return Error{"cannot listen on " + where + ": " + ec.message()};
  }
  const std::uint16_t port = acceptor.local_endpoint(ec).port();
  impl_->listeners.push_back(std::make_shared<Listener>(
      impl_->ioc, std::move(acceptor), std::make_shared<const HttpHandler>(std::move(handler)),
      std::move(tls), impl_->state));
  return port;
}

void HttpServer::start() {
  if (impl_->started) {
    return;
  }
  impl_->started = true;
  auto& options = impl_->state->options;
  const std::size_t limit = raiseFdLimit(options.max_connections + kFdReserve);
  if (limit < options.max_connections + kFdReserve) {
    const std::size_t capped = limit > 2 * kFdReserve ? limit - kFdReserve : limit / 2;
    spdlog::warn("http: open-file limit {} is too low for {} connections; serving at most {}",
                 limit, options.max_connections, capped);
    std::lock_guard lock(impl_->state->mu);
    options.max_connections = std::max<std::size_t>(capped, 1);
  }
  for (auto& listener : impl_->listeners) {
    listener->start();
  }
  // spdlog makes its default logger on first use; made here, before the threads, its creation is
  // ordered before every use by thread creation (Debian's libspdlog is not built for TSan, which
  // otherwise cannot see the order).
  spdlog::default_logger_raw();
  for (unsigned i = 0; i < options.threads; ++i) {
    impl_->threads.emplace_back([this] {
      for (;;) {
        try {
          impl_->ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: unexpected exception in the event loop: {}", e.what());
        }
      }
    });
  }
}

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  if (impl_->stopped) {
    return;
  }
  impl_->stopped = true;
  auto& state = *impl_->state;
  state.stopping = true;
  for (auto& listener : impl_->listeners) {
    listener->stop();
  }
  if (impl_->started) {
    auto sessions = [&] {
      std::vector<std::shared_ptr<SessionBase>> out;
      std::lock_guard lock(state.mu);
      for (auto& [id, weak] : state.sessions) {
        if (auto s = weak.lock()) {
          out.push_back(std::move(s));
        }
      }
      return out;
    };
    for (auto& s : sessions()) {
      s->post(true);  // only those waiting for a request; the others finish their answer first
    }
    const auto deadline = std::chrono::steady_clock::now() + grace;
    std::unique_lock lock(state.mu);
    if (!state.drained.wait_until(lock, deadline,
                                  [&] { return state.open == 0 && state.rejecting == 0; })) {
      const std::size_t left = state.open;
      lock.unlock();
      spdlog::warn("http: closing {} connection(s) still open after the grace period", left);
      for (auto& s : sessions()) {
        s->post(false);
      }
      lock.lock();
      state.drained.wait_for(lock, std::chrono::milliseconds(200),
                             [&] { return state.open == 0 && state.rejecting == 0; });
    }
  }
  impl_->ioc.stop();
  for (auto& t : impl_->threads) {
    t.join();
  }
  impl_->threads.clear();
}

HttpServerStats HttpServer::stats() const {
  auto& state = *impl_->state;
  std::lock_guard lock(state.mu);
  HttpServerStats out;
  out.accepted = state.accepted;
  out.rejected = state.rejected;
  out.evicted = state.evicted_count;
  out.requests = state.requests.load(std::memory_order_relaxed);
  out.open = state.open;
  return out;
}

std::size_t HttpServer::maxConnections() const {
  std::lock_guard lock(impl_->state->mu);
  return impl_->state->options.max_connections;
}

}  // namespace podnetstat::agent
