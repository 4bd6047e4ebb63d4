// GET /pods on the kubelet, Boost.Beast over OpenSSL. One request = one coroutine on a private
// io_context: resolve (IP literals skip DNS), connect, TLS handshake (verifying the chain and the
// host name or IP unless told not to), write, read with a body cap. The stream's expiry and
// io_context::run_for() both bound the whole request by `timeout`, so a kubelet that accepts and
// never answers costs one timeout, never a hung refresh.

#include "kubelet_client.h"

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

/// What a kubelet's 401/403 means for the operator.
constexpr const char* kUnauthorizedHint =
    "the bearer token was not accepted (is the token file current, and does the kubelet run "
    "with --authentication-token-webhook?)";
constexpr const char* kForbiddenHint =
    "the service account needs get on nodes/pods (nodes/proxy before Kubernetes 1.33)";

bool isIpLiteral(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

/// The body as one short line, for error messages.
std::string snippet(std::string_view body) {
  std::string out(body.substr(0, kErrorBodySnippet));
  std::ranges::replace_if(
      out, [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return body.size() > kErrorBodySnippet ? out + "..." : out;
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

std::optional<KubeletUrl> parseKubeletUrl(const std::string& url) {
  KubeletUrl out;
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
    out.port = out.tls ? "10250" : "10255";
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

std::string defaultKubeletUrl(const std::string& host_ip) {
  if (host_ip.empty()) {
    return {};
  }
  const bool v6 = host_ip.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + host_ip + "]" : host_ip) + ":10250";
}

Result<std::unique_ptr<KubeletApi>> makeKubeletClient(KubeletClientOptions options) {
  auto url = parseKubeletUrl(options.url);
  if (!url) {
    return Error{"kubelet URL \"" + options.url + "\": expected https://host[:port] or http://..."};
  }
  auto tls = std::make_unique<ssl::context>(ssl::context::tls_client);
  boost::system::error_code ec;
  if (options.insecure_skip_verify) {
    tls->set_verify_mode(ssl::verify_none);
  } else {
    tls->set_verify_mode(ssl::verify_peer);
    if (!options.ca_file.empty()) {
      tls->load_verify_file(options.ca_file.string(), ec);
      if (ec) {
        return Error{"kubelet CA file " + options.ca_file.string() + ": " + ec.message()};
      }
    } else {
      tls->set_default_verify_paths(ec);
    }
  }
  return std::unique_ptr<KubeletApi>(
      std::make_unique<BeastKubeletClient>(std::move(options), std::move(*url), std::move(tls)));
}

BeastKubeletClient::BeastKubeletClient(KubeletClientOptions options,
                                       KubeletUrl url,
                                       std::unique_ptr<ssl::context> tls)
    : options_(std::move(options)),
      url_(std::move(url)),
      tls_(std::move(tls)),
      clock_(options_.clock != nullptr ? options_.clock : &systemClock()) {}

BeastKubeletClient::~BeastKubeletClient() = default;

Result<std::string> BeastKubeletClient::token(bool force) {
  if (options_.token_file.empty()) {
    return std::string{};
  }
  const auto now = clock_->steadyNow();
  if (!force && token_read_at_ && now - *token_read_at_ < options_.token_max_age) {
    return token_;
  }
  std::ifstream in(options_.token_file, std::ios::binary);
  std::ostringstream text;
  if (!in || !(text << in.rdbuf())) {
    return Error{"cannot read the kubelet token file " + options_.token_file.string()};
  }
  token_ = trim(text.str());
  token_read_at_ = now;
  return token_;
}

Result<std::string> BeastKubeletClient::getPods() {
  const std::string target = url_.path_prefix + "/pods";
  auto bearer = token(false);
  if (!bearer) {
    return bearer.error();
  }
  auto answer = get(target, *bearer);
  if (answer && answer->status == 401 && !options_.token_file.empty()) {
    // The token may have rotated since it was read: read it again and retry once if it changed.
    const std::string old = *bearer;
    bearer = token(true);
    if (!bearer) {
      return bearer.error();
    }
    if (*bearer != old) {
      answer = get(target, *bearer);
    }
  }
  if (!answer) {
    return answer.error();
  }
  const std::string what = "kubelet " + options_.url + target + " answered " +
                           std::to_string(answer->status) +
                           (answer->reason.empty() ? "" : " " + answer->reason);
  switch (answer->status) {
    case 200:
      return std::move(answer->body);
    case 401:
      return Error{what + ": " + kUnauthorizedHint};
    case 403:
      return Error{what + ": " + kForbiddenHint +
                   (answer->body.empty() ? "" : " [" + snippet(answer->body) + "]")};
    default:
      return Error{what + (answer->body.empty() ? "" : ": " + snippet(answer->body))};
  }
}

Result<BeastKubeletClient::Answer> BeastKubeletClient::get(const std::string& target,
                                                           const std::string& bearer) {
  std::optional<Result<Answer>> out;
  std::function<void()> cancel;  // aborts the operation in flight
  asio::io_context ioc;
  const auto timeout = options_.timeout;
  const std::string where = "kubelet " + options_.url;

  auto describe = [&](const char* step, const boost::system::error_code& ec) {
    std::string message = where + ": " + step + ": ";
    if (ec == beast::error::timeout || ec == asio::error::operation_aborted) {
      return Error{message + "timed out after " + std::to_string(timeout.count()) + " ms"};
    }
    message += ec.message();
    if (ec.category() == asio::error::get_ssl_category() &&
        ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
      message += options_.ca_file.empty()
                     ? " (give the kubelet's CA with --kubelet-ca, or "
                       "--kubelet-insecure-skip-verify)"
                     : " (the kubelet's certificate does not chain to " +
                           options_.ca_file.string() + ", or names another host)";
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
    if (isIpLiteral(url_.host)) {
      endpoints = tcp::resolver::results_type::create(
          tcp::endpoint(asio::ip::make_address(url_.host),
                        static_cast<unsigned short>(std::stoi(url_.port))),
          url_.host, url_.port);
    } else {
      endpoints = co_await resolver.async_resolve(url_.host, url_.port, reply());
      if (ec) {
        out = describe("resolve", ec);
        co_return;
      }
    }

    http::request<http::empty_body> request{http::verb::get, target, 11};
    request.set(http::field::host, url_.host.find(':') != std::string::npos
                                       ? "[" + url_.host + "]:" + url_.port
                                       : url_.host + ":" + url_.port);
    request.set(http::field::user_agent, kUserAgent);
    request.set(http::field::accept, "application/json");
    if (!bearer.empty()) {
      request.set(http::field::authorization, "Bearer " + bearer);
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_body_bytes);

    auto exchange = [&](auto& stream) -> asio::awaitable<bool> {
      co_await http::async_write(stream, request, reply());
      if (ec) {
        out = describe("send", ec);
        co_return false;
      }
      co_await http::async_read(stream, buffer, parser, reply());
      if (ec == http::error::body_limit) {
        out = Error{where + ": answer body larger than " + std::to_string(options_.max_body_bytes) +
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
    if (url_.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(ioc, *tls_);
      cancel = [&stream] {
        beast::get_lowest_layer(stream).cancel();
      };
      beast::get_lowest_layer(stream).expires_after(timeout);
      if (!isIpLiteral(url_.host)) {
        // SSL_set_tlsext_host_name() is a macro with a C cast.
        SSL_ctrl(stream.native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(url_.host.c_str()));
      }
      if (!options_.insecure_skip_verify) {
        stream.set_verify_callback(ssl::host_name_verification(url_.host));
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
      out =
          Answer{response.result_int(), std::string(response.reason()), std::move(response.body())};
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
