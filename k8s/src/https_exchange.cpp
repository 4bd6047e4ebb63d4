// One request = one coroutine on a private io_context: resolve (IP literals skip DNS), connect,
// TLS handshake (verifying the chain and the host name or IP unless told not to), write, read
// with a body cap. The stream's expiry and io_context::run_for() both bound the whole request by
// the timeout, so a server that accepts and never answers costs one timeout, never a hung caller.

#include "podnetstat/k8s/https_exchange.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

namespace podnetstat::k8s {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;

constexpr const char* kUserAgent = "podnetstat";
constexpr std::size_t kErrorBodySnippet = 200;

bool isIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string trim(std::string s) {
  const auto space = [](unsigned char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
  };
  while (!s.empty() && space(static_cast<unsigned char>(s.back()))) {
    s.pop_back();
  }
  std::size_t start = 0;
  while (start < s.size() && space(static_cast<unsigned char>(s[start]))) {
    ++start;
  }
  return s.substr(start);
}

/// One request on a fresh connection: a coroutine on a private io_context (the steps at the
/// top of this file).
class Exchange {
 public:
  Exchange(const HttpsUrl& url,
           ssl::context* tls_context,
           const HttpsRequest& spec,
           const HttpsExchangeOptions& options)
      : url_(url), tls_context_(tls_context), spec_(spec), options_(options) {}

  /// Runs the request, within the timeout whatever the server does.
  Result<HttpsAnswer> run() {
    asio::co_spawn(ioc_, exchange(), [this](const std::exception_ptr& e) { finished(e); });
    // The stream's expiry bounds connect..read; this bounds the resolver too.
    ioc_.run_for(options_.timeout + std::chrono::milliseconds(100));
    if (!out_ && cancel_) {
      // Still resolving (the stream's expiry covers the rest): abort and let the coroutine end.
      cancel_();
      ioc_.restart();
      ioc_.run_for(std::chrono::seconds(1));
    }
    if (!out_) {
      return Error{
          options_.where + ": timed out after " + std::to_string(options_.timeout.count()) + " ms",
          ErrorKind::Unavailable};
    }
    return std::move(*out_);
  }

 private:
  auto reply() { return asio::redirect_error(asio::use_awaitable, ec_); }

  /// The coroutine's end: its objects are gone; an exception it threw is the answer.
  void finished(const std::exception_ptr& e) {
    cancel_ = nullptr;
    if (e && !out_) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        out_ = Error{options_.where + ": " + ex.what(), ErrorKind::Failed};
      }
    }
  }

  /// The failure of `step` (ec_), with the operator's hint for a certificate that did not
  /// verify.
  Error failed(const char* step) const {
    std::string message = options_.where + ": " + step + ": ";
    if (ec_ == beast::error::timeout || ec_ == asio::error::operation_aborted) {
      return Error{message + "timed out after " + std::to_string(options_.timeout.count()) + " ms",
                   ErrorKind::Unavailable};
    }
    message += ec_.message();
    if (ec_.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec_.value())) ==
            SSL_R_CERTIFICATE_VERIFY_FAILED &&
        !options_.verify_hint.empty()) {
      message += " (" + options_.verify_hint + ")";
    }
    return Error{message, ErrorKind::Unavailable};
  }

  asio::awaitable<void> exchange() {
    auto endpoints = co_await resolve();
    if (!endpoints) {
      co_return;
    }
    prepareRequest();
    const bool done = url_.tls ? co_await overTls(*endpoints) : co_await overTcp(*endpoints);
    if (done) {
      auto response = parser_.release();
      out_ = HttpsAnswer{response.result_int(), std::string(response.reason()),
                         std::move(response.body())};
    }
  }

  /// The server's addresses; IP literals skip DNS.
  asio::awaitable<std::optional<tcp::resolver::results_type>> resolve() {
    if (isIpLiteral(url_.host)) {
      co_return tcp::resolver::results_type::create(
          tcp::endpoint(asio::ip::make_address(url_.host),
                        static_cast<unsigned short>(std::stoi(url_.port))),
          url_.host, url_.port);
    }
    cancel_ = [this] {
      resolver_.cancel();
    };
    auto endpoints = co_await resolver_.async_resolve(url_.host, url_.port, reply());
    if (ec_) {
      out_ = failed("resolve");
      co_return std::nullopt;
    }
    co_return endpoints;
  }

  void prepareRequest() {
    request_ = {spec_.method == "POST" ? http::verb::post : http::verb::get, spec_.target, 11};
    request_.set(http::field::host, url_.host.find(':') != std::string::npos
                                        ? "[" + url_.host + "]:" + url_.port
                                        : url_.host + ":" + url_.port);
    request_.set(http::field::user_agent, kUserAgent);
    request_.set(http::field::accept, "application/json");
    if (!spec_.bearer.empty()) {
      request_.set(http::field::authorization, "Bearer " + spec_.bearer);
    }
    if (!spec_.body.empty()) {
      request_.set(http::field::content_type, spec_.content_type);
      request_.body() = spec_.body;
    }
    request_.prepare_payload();
    parser_.body_limit(options_.max_body_bytes);
  }

  asio::awaitable<bool> overTls(const tcp::resolver::results_type& endpoints) {
    beast::ssl_stream<beast::tcp_stream> stream(ioc_, *tls_context_);
    const Cancel cancel(cancel_, [&stream] { beast::get_lowest_layer(stream).cancel(); });
    beast::get_lowest_layer(stream).expires_after(options_.timeout);
    const std::string& name = options_.server_name.empty() ? url_.host : options_.server_name;
    if (!isIpLiteral(name)) {
      // SSL_set_tlsext_host_name() is a macro with a C cast.
      SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
               const_cast<char*>(name.c_str()));
    }
    if (options_.verify_host) {
      stream.set_verify_callback(ssl::host_name_verification(name));
    }
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, reply());
    if (ec_) {
      out_ = failed("connect");
      co_return false;
    }
    co_await stream.async_handshake(ssl::stream_base::client, reply());
    if (ec_) {
      out_ = failed("TLS handshake");
      co_return false;
    }
    co_return co_await sendAndRead(stream);
  }

  asio::awaitable<bool> overTcp(const tcp::resolver::results_type& endpoints) {
    beast::tcp_stream stream(ioc_);
    const Cancel cancel(cancel_, [&stream] { stream.cancel(); });
    stream.expires_after(options_.timeout);
    co_await stream.async_connect(endpoints, reply());
    if (ec_) {
      out_ = failed("connect");
      co_return false;
    }
    co_return co_await sendAndRead(stream);
  }

  template <class Stream>
  asio::awaitable<bool> sendAndRead(Stream& stream) {
    co_await http::async_write(stream, request_, reply());
    if (ec_) {
      out_ = failed("send");
      co_return false;
    }
    co_await http::async_read(stream, buffer_, parser_, reply());
    if (ec_ == http::error::body_limit) {
      out_ = Error{options_.where + ": answer body larger than " +
                   std::to_string(options_.max_body_bytes) + " bytes"};
      co_return false;
    }
    if (ec_) {
      out_ = failed("read");
      co_return false;
    }
    co_return true;
  }

  /// While a stream lives, how to abort what it is doing; nothing once it is gone.
  class Cancel {
   public:
    Cancel(std::function<void()>& slot, std::function<void()> cancel) : slot_(slot) {
      slot_ = std::move(cancel);
    }

    ~Cancel() { slot_ = nullptr; }

    Cancel(const Cancel&) = delete;
    Cancel& operator=(const Cancel&) = delete;

   private:
    std::function<void()>& slot_;
  };

  const HttpsUrl& url_;
  ssl::context* tls_context_;
  const HttpsRequest& spec_;
  const HttpsExchangeOptions& options_;
  asio::io_context ioc_;
  tcp::resolver resolver_{ioc_};
  boost::system::error_code ec_;
  std::optional<Result<HttpsAnswer>> out_;
  std::function<void()> cancel_;  // aborts the operation in flight
  http::request<http::string_body> request_;
  beast::flat_buffer buffer_;
  http::response_parser<http::string_body> parser_;
};

}  // namespace

std::string bodySnippet(std::string_view body) {
  std::string out(body.substr(0, kErrorBodySnippet));
  std::ranges::replace_if(
      out, [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return body.size() > kErrorBodySnippet ? out + "..." : out;
}

Result<std::string> readTokenFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) {
    return Error{"cannot read the " + what + " token file " + path};
  }
  return trim(text.str());
}

TokenFile::TokenFile(std::filesystem::path path,
                     std::chrono::steady_clock::duration max_age,
                     const Clock& clock,
                     std::string what)
    : path_(std::move(path)), max_age_(max_age), clock_(clock), what_(std::move(what)) {}

Result<std::string> TokenFile::get() {
  return read(false);
}

Result<std::string> TokenFile::read(bool force) {
  if (path_.empty()) {
    return std::string{};
  }
  const std::lock_guard lock(mu_);
  const auto now = clock_.steadyNow();
  if (!force && read_at_ && now - *read_at_ < max_age_) {
    return token_;
  }
  auto text = readTokenFile(path_.string(), what_);
  if (!text) {
    return text.error();
  }
  token_ = std::move(*text);
  read_at_ = now;
  return token_;
}

Result<std::optional<std::string>> TokenFile::rotatedSince(const std::string& refused) {
  if (path_.empty()) {
    return std::optional<std::string>{};
  }
  auto token = read(true);
  if (!token) {
    return token.error();
  }
  if (*token == refused) {
    return std::optional<std::string>{};
  }
  return std::optional<std::string>(std::move(*token));
}

HttpsExchangeOptions serverExchangeOptions(const std::string& what,
                                           const std::string& url,
                                           const std::filesystem::path& ca_file,
                                           const std::string& no_ca_hint,
                                           std::chrono::milliseconds timeout,
                                           std::size_t max_body_bytes) {
  HttpsExchangeOptions exchange;
  exchange.timeout = timeout;
  exchange.max_body_bytes = max_body_bytes;
  exchange.where = what + " " + url;
  exchange.verify_hint = ca_file.empty() ? no_ca_hint
                                         : "the " + what + "'s certificate does not chain to " +
                                               ca_file.string() + ", or names another host";
  return exchange;
}

BearerHttpsClient::BearerHttpsClient(HttpsUrl url,
                                     std::unique_ptr<ssl::context> tls,
                                     HttpsExchangeOptions exchange,
                                     const std::filesystem::path& token_file,
                                     std::chrono::steady_clock::duration token_max_age,
                                     const Clock* clock,
                                     std::string what)
    : url_(std::move(url)),
      tls_(std::move(tls)),
      exchange_(std::move(exchange)),
      token_(
          token_file, token_max_age, clock != nullptr ? *clock : systemClock(), std::move(what)) {}

Result<HttpsAnswer> BearerHttpsClient::send(HttpsRequest request) {
  auto bearer = token_.get();
  if (!bearer) {
    return bearer.error();
  }
  request.bearer = std::move(*bearer);
  auto answer = httpsExchange(url_, tls_.get(), request, exchange_);
  if (answer && answer->status == 401) {
    // The token may have rotated since it was read: read it again, retry once if it changed.
    auto rotated = token_.rotatedSince(request.bearer);
    if (!rotated) {
      return rotated.error();
    }
    if (*rotated) {
      request.bearer = std::move(**rotated);
      answer = httpsExchange(url_, tls_.get(), request, exchange_);
    }
  }
  return answer;
}

std::optional<HttpsUrl> parseHttpsUrl(const std::string& url,
                                      const char* tls_port,
                                      const char* plain_port) {
  HttpsUrl out;
  std::string_view rest(url);
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    out.tls = false;
    rest.remove_prefix(7);
  } else {
    return std::nullopt;
  }
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  while (path.ends_with('/')) {
    path.remove_suffix(1);
  }
  out.path_prefix = std::string(path);
  std::string_view port;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      return std::nullopt;
    }
    out.host = std::string(authority.substr(1, close - 1));
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) {
        return std::nullopt;
      }
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
    }
  }
  if (out.host.empty() || out.host.find_first_of(" @?#") != std::string::npos) {
    return std::nullopt;
  }
  if (port.empty()) {
    out.port = out.tls ? tls_port : plain_port;
  } else {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      return std::nullopt;
    }
    out.port = std::string(port);
  }
  return out;
}

Result<std::unique_ptr<ssl::context>> makeClientTlsContext(const std::string& ca_file,
                                                           bool insecure_skip_verify,
                                                           const std::string& what) {
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(tls->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (insecure_skip_verify) {
    tls->set_verify_mode(ssl::verify_none);
  } else {
    tls->set_verify_mode(ssl::verify_peer);
    if (!ca_file.empty()) {
      tls->load_verify_file(ca_file, ec);
      if (ec) {
        return Error{what + " CA file " + ca_file + ": " + ec.message()};
      }
    } else {
      tls->set_default_verify_paths(ec);
    }
  }
  return tls;
}

Result<HttpsAnswer> httpsExchange(const HttpsUrl& url,
                                  ssl::context* tls_context,
                                  const HttpsRequest& spec,
                                  const HttpsExchangeOptions& options) {
  return Exchange(url, tls_context, spec, options).run();
}

}  // namespace podnetstat::k8s
