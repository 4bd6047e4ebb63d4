#pragma once

// One HTTP(S) request on a fresh connection, Boost.Beast over OpenSSL: the transport shared by
// the kubelet client, the Kubernetes API client and the kubectl plugin's client of the agent. It
// only moves bytes; what an answer means is the caller's business.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "podnetstat/k8s/clock.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s {

/// A parsed "https://host[:port][/prefix]" (or http) URL.
struct HttpsUrl {
  bool tls = true;
  std::string host;  // without brackets
  std::string port;
  std::string path_prefix;  // "" or "/..." without a trailing '/'
};

/// Parses a URL; the port defaults to `tls_port` (https) or `plain_port` (http). nullopt when it
/// is not such a URL.
std::optional<HttpsUrl> parseHttpsUrl(const std::string& url,
                                      const char* tls_port,
                                      const char* plain_port);

/// A TLS client context verifying against `ca_file` (empty: the system's CAs), or verifying
/// nothing when `insecure_skip_verify`. `what` names the file's flag in errors.
Result<std::unique_ptr<boost::asio::ssl::context>> makeClientTlsContext(const std::string& ca_file,
                                                                        bool insecure_skip_verify,
                                                                        const std::string& what);

struct HttpsRequest {
  std::string method = "GET";  // GET or POST
  std::string target{};        // path and query
  std::string bearer{};        // "" = no Authorization field
  std::string body{};          // sent with content_type when not empty
  std::string content_type = "application/json";
};

struct HttpsAnswer {
  unsigned status = 0;
  std::string reason;
  std::string body;
};

struct HttpsExchangeOptions {
  /// Deadline of the whole request: resolve, connect, TLS handshake, send, receive.
  std::chrono::milliseconds timeout{5000};
  /// Answers with a larger body are refused.
  std::size_t max_body_bytes = std::size_t{64} * 1024 * 1024;
  /// Verify that the certificate names the host (off with insecure_skip_verify).
  bool verify_host = true;
  /// The name to send as SNI and to verify instead of the URL's host ("" = the host): for a
  /// server reached at another address than the name its certificate carries (curl
  /// --connect-to), such as an agent behind a local port-forward.
  std::string server_name;
  /// Errors start with this ("kubelet https://...").
  std::string where;
  /// Added to a certificate verification failure: what the operator can do about it.
  std::string verify_hint;
};

/// The options of requests to a server called `what` ("kubelet", "API server") at `url`: errors
/// start with "<what> <url>", and a certificate that does not verify is explained by `ca_file`
/// (empty: `no_ca_hint` says how to give one).
HttpsExchangeOptions serverExchangeOptions(const std::string& what,
                                           const std::string& url,
                                           const std::filesystem::path& ca_file,
                                           const std::string& no_ca_hint,
                                           std::chrono::milliseconds timeout,
                                           std::size_t max_body_bytes);

/// Sends `request` to `url` (tls: over `tls_context`) and reads the answer. Errors say which step
/// failed (resolve, connect, TLS handshake, send, read, timeout, body too large).
Result<HttpsAnswer> httpsExchange(const HttpsUrl& url,
                                  boost::asio::ssl::context* tls_context,
                                  const HttpsRequest& request,
                                  const HttpsExchangeOptions& options);

/// The body as one short line, for error messages.
std::string bodySnippet(std::string_view body);

/// Reads a token file and trims white space around the token.
Result<std::string> readTokenFile(const std::string& path, const std::string& what);

/// A bearer token kept in a file (a projected service-account token, which the kubelet rotates):
/// read again once older than `max_age`, and when forced (after a 401). Thread-safe.
class TokenFile {
 public:
  /// `what` names the token's server in errors ("kubelet", "API server"). An empty `path`: no
  /// token.
  TokenFile(std::filesystem::path path,
            std::chrono::steady_clock::duration max_age,
            const Clock& clock,
            std::string what);

  /// The token, read again once older than `max_age`; "" when no file is configured.
  Result<std::string> get();

  /// After the server answered 401 to `refused`: the file read again, and the token in it when
  /// it has rotated since (worth one retry); nullopt when it has not, or without a file.
  Result<std::optional<std::string>> rotatedSince(const std::string& refused);

 private:
  Result<std::string> read(bool force);

  std::filesystem::path path_;
  std::chrono::steady_clock::duration max_age_;
  const Clock& clock_;
  std::string what_;
  std::mutex mu_;
  std::string token_;
  std::optional<std::chrono::steady_clock::time_point> read_at_;
};

/// A client of one HTTPS server that authenticates with a bearer token kept in a file: the
/// kubelet's and the API server's. Each request carries the token; when the server answers 401
/// and the file has rotated since it was read, the request goes once more with the new token.
/// Thread-safe (the TLS context may be shared once set up; the token file has its own lock).
class BearerHttpsClient {
 public:
  /// `what` names the server in the token file's errors ("kubelet", "API server"); `clock` may
  /// be null (the system clock).
  BearerHttpsClient(HttpsUrl url,
                    std::unique_ptr<boost::asio::ssl::context> tls,
                    HttpsExchangeOptions exchange,
                    const std::filesystem::path& token_file,
                    std::chrono::steady_clock::duration token_max_age,
                    const Clock* clock,
                    std::string what);

  /// Sends `request` (its bearer is the token's) and reads the answer.
  Result<HttpsAnswer> send(HttpsRequest request);

  const HttpsUrl& url() const { return url_; }

 private:
  HttpsUrl url_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  HttpsExchangeOptions exchange_;
  TokenFile token_;
};

}  // namespace podnetstat::k8s
