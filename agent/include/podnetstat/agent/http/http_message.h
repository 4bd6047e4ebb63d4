#pragma once

// What the HTTP handler sees and returns. The handler is a plain function Request -> Response;
// the Beast session code around it (http_server.h) owns sockets, timeouts, limits, keep-alive
// and shutdown, and strips the body of answers to HEAD.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace podnetstat::agent {

/// Content types of the answers.
inline constexpr const char* kJsonType = "application/json";
inline constexpr const char* kTextType = "text/plain; charset=utf-8";
inline constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
/// Newline-delimited JSON: a watch's events, one per line.
inline constexpr const char* kJsonLinesType = "application/x-ndjson";

/// A request as the handler sees it. Requests with a body never reach the handler (413).
struct HttpRequest {
  std::string method;           // "GET", "HEAD", ... as sent
  std::string target;           // origin-form: path and optional "?query", still percent-encoded
  std::string authorization{};  // the Authorization header field, "" when absent
};

/// A body produced piece by piece while it is being sent, so that a large answer never exists
/// in memory whole. Called from one thread at a time (the connection's strand).
class BodyStream {
 public:
  virtual ~BodyStream() = default;

  /// Appends the next piece of the body (about 16 KiB, to keep memory per client small) to `out`.
  /// Returns false once the body is complete (the last call may still append). May throw: the
  /// connection is then closed.
  virtual bool next(std::string& out) = 0;
};

/// A body that follows events: pieces are produced as they become ready, with waits between them,
/// until the stream ends it (a watch). Its calls come from the connection's strand.
class EventStream {
 public:
  enum class Poll : std::uint8_t {
    Ready,  // `out` has the next piece (may be empty: poll again)
    Wait,   // nothing now: wait for the wake function or wakeAfter(), then poll again
    End,    // `out` has the last piece (may be empty)
  };

  virtual ~EventStream() = default;

  /// Called once, before the first poll: `wake` may be called from any thread (until the stream
  /// is destroyed) whenever poll may have something new.
  virtual void start(std::function<void()> wake) = 0;

  /// Appends what is ready to `out`. May throw: the connection is then closed.
  virtual Poll poll(std::string& out) = 0;

  /// How long to wait without a wake before polling anyway (keep-alives, the stream's timeout).
  virtual std::chrono::milliseconds wakeAfter() const = 0;

  /// Asked on a wake while a piece is still being written: true when the client is too far
  /// behind to keep following (counted by the stream); the connection is then closed at once.
  virtual bool tooSlow() = 0;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = kJsonType;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields (Allow, Retry-After)
  /// The whole body, unless `stream` is set.
  std::string body;
  /// When set, the body is this stream (sent with chunked transfer encoding) and `body` is unused.
  std::shared_ptr<BodyStream> stream;
  /// When set (and `stream` is not), the body follows these events, chunked.
  std::shared_ptr<EventStream> events;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

/// An answer whose body is the error object `{"error":{"code":N,"message":"..."}}`.
HttpResponse errorResponse(unsigned status, std::string_view message);

}  // namespace podnetstat::agent
