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
  std::optional<Result<HttpsAnswer>> out;
  std::function<void()> cancel;  // aborts the operation in flight
  asio::io_context ioc;
  const auto timeout = options.timeout;
  const std::string& where = options.where;

  auto describe = [&](const char* step, const boost::system::error_code& ec) {
    std::string message = where + ": " + step + ": ";
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      return Error{message + "timed out after " + std::to_string(timeout.count()) + " ms"};
    }
    message += ec.message();
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED &&
        !options.verify_hint.empty()) {
      message += " (" + options.verify_hint + ")";
    }
    return Error{message};
  };

  auto run = [&]() -> asio::awaitable<void> {
    boost::system::error_code ec;
    const auto reply = [&ec] {
      return asio::redirect_error(asio::use_awaitable, ec);
    };
    tcp::resolver resolver(ioc);
    cancel = [&resolver] {
      resolver.cancel();
    };
    tcp::resolver::results_type endpoints;
    if (isIpLiteral(url.host)) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(asio::ip::make_address(url.host),
                        static_cast<unsigned short>(std::stoi(url.port))),
          url.host, url.port);
    } else {
      endpoints = co_await resolver.async_resolve(url.host, url.port, reply());
      if (ec) {
        out = describe("resolve", ec);
        co_return;
      }
    }

    http::request<http::string_body> request{
        spec.method == "POST" ? http::verb::post : http::verb::get, spec.target, 11};
    request.set(http::field::host, url.host.find(':') != std::string::npos
                                       ? "[" + url.host + "]:" + url.port
                                       : url.host + ":" + url.port);
    request.set(http::field::user_agent, kUserAgent);
    request.set(http::field::accept, "application/json");
    if (!spec.bearer.empty()) {
      request.set(http::field::authorization, "Bearer " + spec.bearer);
    }
    if (!spec.body.empty()) {
      request.set(http::field::content_type, spec.content_type);
      request.body() = spec.body;
    }
    request.prepare_payload();
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_body_bytes);

    auto exchange = [&](auto& stream) -> asio::awaitable<bool> {
      co_await http::async_write(stream, request, reply());
      if (ec) {
        out = describe("send", ec);
        co_return false;
      }
      co_await http::async_read(stream, buffer, parser, reply());
      if (ec == http::error::body_limit) {
        out = Error{where + ": answer body larger than " + std::to_string(options.max_body_bytes) +
                    " bytes"};
        co_return false;
      }
      if (ec) {
        out = describe("read", ec);
        co_return false;
      }
      co_return true;
    };

    bool done = false;
    if (url.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls_context);
      cancel = [&stream] {
        beast::get_lowest_layer(stream).cancel();
      };
      beast::get_lowest_layer(stream).expires_after(timeout);
      const std::string& name = options.server_name.empty() ? url.host : options.server_name;
      if (!isIpLiteral(name)) {
        // SSL_set_tlsext_host_name() is a macro with a C cast.
        SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(name.c_str()));
      }
      if (options.verify_host) {
        stream.set_verify_callback(ssl::host_name_verification(name));
      }
      co_await beast::get_lowest_layer(stream).async_connect(endpoints, reply());
      if (ec) {
        out = describe("connect", ec);
        co_return;
      }
      co_await stream.async_handshake(ssl::stream_base::client, reply());
      if (ec) {
        out = describe("TLS handshake", ec);
        co_return;
      }
      done = co_await exchange(stream);
    } else {
      beast::tcp_stream stream(ioc);
      cancel = [&stream] {
        stream.cancel();
      };
      stream.expires_after(timeout);
      co_await stream.async_connect(endpoints, reply());
      if (ec) {
        out = describe("connect", ec);
        co_return;
      }
      done = co_await exchange(stream);
    }
    if (done) {
      auto response = parser.release();
      out = HttpsAnswer{response.result_int(), std::string(response.reason()),
                        std::move(response.body())};
    }
  };

  asio::co_spawn(ioc, run(), [&](const std::exception_ptr& e) {
    cancel = nullptr;  // the coroutine's objects are gone
    if (e && !out) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        out = Error{where + ": " + ex.what()};
      }
    }
  });
  // The stream's expiry bounds connect..read; this bounds the resolver too.
  ioc.run_for(timeout + std::chrono::milliseconds(100));
  if (!out && cancel) {
    // Still resolving (the stream's expiry covers the rest): abort and let the coroutine end.
    cancel();
    ioc.restart();
    ioc.run_for(std::chrono::seconds(1));
  }
  if (!out) {
    return Error{where + ": timed out after " + std::to_string(timeout.count()) + " ms"};
  }
  return std::move(*out);
}

}  // namespace podnetstat::k8s
