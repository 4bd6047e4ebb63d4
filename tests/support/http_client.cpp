#include "http_client.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace podnetstat::agent {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::uint64_t kBodyLimit = 512ULL << 20;

}  // namespace

struct HttpClient::Impl {
  std::string host;
  std::uint16_t port;
  std::chrono::milliseconds timeout;
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  /// Runs the queued operation to completion or until the time limit; false on timeout.
  bool run() {
    ioc.restart();
    ioc.run_for(timeout);
    if (!ioc.stopped()) {
      // Timed out: cancel and let the handlers see the error.
      if (stream) {
        stream->close();
      }
      ioc.restart();
      ioc.run();
      return false;
    }
    return true;
  }

  Result<Ok> connect() {
    beast::error_code ec;
    const auto ip = net::ip::make_address(host, ec);
    if (ec) {
      return Error{"bad address " + host + ": " + ec.message()};
    }
    stream.emplace(ioc);
    buffer.clear();
    beast::error_code result = net::error::would_block;
    stream->async_connect(tcp::endpoint(ip, port), [&](beast::error_code e) { result = e; });
    if (!run() || result) {
      stream.reset();
      return Error{"connect to " + host + ":" + std::to_string(port) + ": " +
                   (result ? result.message() : std::string("timed out"))};
    }
    beast::error_code ignored;
    stream->socket().set_option(tcp::no_delay(true), ignored);
    return Ok{};
  }
};

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>()) {
  impl_->host = std::move(host);
  impl_->port = port;
  impl_->timeout = timeout;
}

HttpClient::~HttpClient() {
  close();
}

Result<Ok> HttpClient::connect() {
  return impl_->connect();
}

bool HttpClient::connected() const {
  return impl_->stream.has_value();
}

void HttpClient::close() {
  if (impl_->stream) {
    beast::error_code ignored;
    impl_->stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    impl_->stream->close();
    impl_->stream.reset();
  }
}

Result<HttpClientResponse> HttpClient::request(
    std::string_view method,
    std::string_view target,
    const std::vector<std::pair<std::string, std::string>>& fields) {
  auto& d = *impl_;
  if (!d.stream) {
    if (auto c = d.connect(); !c) {
      return c.error();
    }
  }
  http::request<http::empty_body> req{http::string_to_verb(method), target, 11};
  if (req.method() == http::verb::unknown) {
    req.method_string(method);
  }
  req.set(http::field::host, d.host + ":" + std::to_string(d.port));
  req.set(http::field::user_agent, "podnetstat-client");
  for (const auto& [name, value] : fields) {
    req.set(name, value);
  }

  beast::error_code result = net::error::would_block;
  http::async_write(*d.stream, req, [&](beast::error_code e, std::size_t) { result = e; });
  if (!d.run() || result) {
    close();
    return Error{"sending the request: " + (result ? result.message() : std::string("timed out"))};
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(kBodyLimit);
  if (req.method() == http::verb::head) {
    parser.skip(true);
  }
  result = net::error::would_block;
  http::async_read(*d.stream, d.buffer, parser,
                   [&](beast::error_code e, std::size_t) { result = e; });
  if (!d.run() || result) {
    close();
    return Error{"reading the answer: " + (result ? result.message() : std::string("timed out"))};
  }
  auto msg = parser.release();
  HttpClientResponse out;
  out.status = msg.result_int();
  out.version = msg.version();
  out.keep_alive = msg.keep_alive();
  for (const auto& field : msg) {
    std::string name(field.name_string());
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(msg.body());
  if (!out.keep_alive) {
    close();
  }
  return out;
}

}  // namespace podnetstat::agent
