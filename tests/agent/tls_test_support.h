#pragma once

// Real TLS for the access-control tests: certificates made with the openssl CLI in a private
// directory, a small HTTPS client that reports the server certificate's serial, and a stand-in
// for the Kubernetes API server (HTTPS, the real TokenReview and SubjectAccessReview JSON).

#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cctype>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <nlohmann/json.hpp>

#include "podnetstat/scanner/result.h"

#include "netns.h"

namespace podnetstat::testing {

inline void writeTextFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

/// A CA, server certificates it signs (for 127.0.0.1, localhost and the given extra IPs), and an
/// unrelated CA; all in a private scratch directory.
class TestPki {
 public:
  explicit TestPki(std::vector<std::string> extra_ips = {}) : extra_ips_(std::move(extra_ips)) {
    makeCa("ca", "/CN=podnetstat-test-ca");
    makeCa("other-ca", "/CN=another-ca");
  }

  std::filesystem::path file(const std::string& name) const { return dir_.path() / name; }

  std::filesystem::path caFile() const { return file("ca.crt"); }

  std::filesystem::path otherCaFile() const { return file("other-ca.crt"); }

  /// Issues `<name>.crt` and `<name>.key` signed by the CA, with this serial number.
  void issue(const std::string& name, unsigned serial) const {
    runOrThrow({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", file(name + ".key").string(), "-subj", "/CN=" + name, "-out",
                file(name + ".csr").string()});
    std::string san = "subjectAltName=IP:127.0.0.1,DNS:localhost";
    for (const auto& ip : extra_ips_) {
      san += ",IP:" + ip;
    }
    writeTextFile(file(name + ".ext"), san + "\n");
    runOrThrow({"openssl", "x509", "-req", "-days", "2", "-in", file(name + ".csr").string(), "-CA",
                caFile().string(), "-CAkey", file("ca.key").string(), "-set_serial",
                std::to_string(serial), "-extfile", file(name + ".ext").string(), "-out",
                file(name + ".crt").string()});
  }

 private:
  void makeCa(const std::string& name, const std::string& subject) const {
    runOrThrow({"openssl", "req", "-x509", "-days", "2", "-subj", subject, "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                file(name + ".key").string(), "-out", file(name + ".crt").string()});
  }

  ScratchDir dir_{"pns-auth-pki-"};
  std::vector<std::string> extra_ips_;
};

/// What an HTTPS request got.
struct TlsAnswer {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string serial;  // the server certificate's serial number, decimal
};

/// One HTTPS request on a fresh connection to 127.0.0.1:port (or `host`), verifying the server
/// against `ca_file`. Every step is bounded by `timeout`. An error says which step failed.
inline Result<TlsAnswer> tlsRequest(
    std::uint16_t port,
    const std::filesystem::path& ca_file,
    const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& fields = {},
    const std::string& host = "127.0.0.1",
    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  asio::io_context ioc;
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  ctx.set_verify_mode(asio::ssl::verify_peer);
  ctx.load_verify_file(ca_file.string());
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  stream.set_verify_callback(asio::ssl::host_name_verification(host));
  beast::error_code ec = asio::error::would_block;
  const auto run = [&] {
    ioc.restart();
    ioc.run_for(timeout);
    if (!ioc.stopped()) {
      beast::get_lowest_layer(stream).close();
      ioc.restart();
      ioc.run();
      return false;
    }
    return true;
  };
  beast::get_lowest_layer(stream).async_connect(
      asio::ip::tcp::endpoint(asio::ip::make_address(host), port),
      [&](beast::error_code e) { ec = e; });
  if (!run() || ec) {
    return Error{"connect: " + ec.message()};
  }
  ec = asio::error::would_block;
  stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
  if (!run() || ec) {
    return Error{"TLS handshake: " + ec.message()};
  }
  TlsAnswer out;
  if (X509* cert = SSL_get1_peer_certificate(stream.native_handle()); cert != nullptr) {
    BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
    char* dec = BN_bn2dec(bn);
    out.serial = dec;
    OPENSSL_free(dec);
    BN_free(bn);
    X509_free(cert);
  }
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.set(http::field::connection, "close");
  for (const auto& [name, value] : fields) {
    req.set(name, value);
  }
  ec = asio::error::would_block;
  http::async_write(stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
  if (!run() || ec) {
    return Error{"send: " + ec.message()};
  }
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  ec = asio::error::would_block;
  http::async_read(stream, buffer, res, [&](beast::error_code e, std::size_t) { ec = e; });
  if (!run() || ec) {
    return Error{"read: " + ec.message()};
  }
  out.status = res.result_int();
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    out.headers[name] = std::string(field.value());
  }
  out.body = std::move(res.body());
  return out;
}

/// A stand-in for the Kubernetes API server: HTTPS on 127.0.0.1:<ephemeral>, answering
/// POST /apis/authentication.k8s.io/v1/tokenreviews and
/// POST /apis/authorization.k8s.io/v1/subjectaccessreviews with the documents the real one
/// sends (201 Created), after checking the caller's own bearer token and the request's shape
/// (a malformed review gets 400 with a Status object, as the real one answers).
class FakeKubeApi {
 public:
  /// Serves with `<cert_name>.crt/.key` of `pki`; callers must present `caller_token`.
  FakeKubeApi(const TestPki& pki, const std::string& cert_name, std::string caller_token)
      : tls_(boost::asio::ssl::context::tls_server), caller_token_(std::move(caller_token)) {
    tls_.use_certificate_chain_file(pki.file(cert_name + ".crt").string());
    tls_.use_private_key_file(pki.file(cert_name + ".key").string(),
                              boost::asio::ssl::context::pem);
    acceptor_.open(boost::asio::ip::tcp::v4());
    acceptor_.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { run(); });
  }

  ~FakeKubeApi() {
    {
      const std::lock_guard lock(mu_);
      stopping_ = true;
    }
    boost::system::error_code ec;
    boost::asio::ip::tcp::socket poke(ioc_);
    poke.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }

  FakeKubeApi(const FakeKubeApi&) = delete;
  FakeKubeApi& operator=(const FakeKubeApi&) = delete;

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  std::uint16_t port() const { return port_; }

  /// A token the API server knows, and whose it is.
  void addUser(const std::string& token, const std::string& user, std::vector<std::string> groups) {
    const std::lock_guard lock(mu_);
    users_[token] = {user, std::move(groups)};
  }

  /// RBAC: `user` may get podnetstat.io nodes/<subresource>.
  void grant(const std::string& user, const std::string& subresource) {
    const std::lock_guard lock(mu_);
    grants_.insert({user, subresource});
  }

  struct Seen {
    std::string path;
    std::string authorization;
    nlohmann::json body;
    unsigned status = 0;
  };

  std::vector<Seen> requests() const {
    const std::lock_guard lock(mu_);
    return seen_;
  }

  /// While held, each request is read and then waits (at most 10 s) for release() before it is
  /// answered: an API server that is slow to answer.
  void hold() {
    const std::lock_guard lock(mu_);
    held_ = true;
  }

  void release() {
    {
      const std::lock_guard lock(mu_);
      held_ = false;
    }
    cv_.notify_all();
  }

  /// Waits until `n` requests have arrived (answered or held); false after `timeout`.
  bool waitForArrivals(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return arrived_ >= n; });
  }

 private:
  void run() {
    for (;;) {
      boost::asio::ip::tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      {
        const std::lock_guard lock(mu_);
        if (stopping_) {
          return;
        }
      }
      if (!ec) {
        handle(socket);
      }
    }
  }

  static nlohmann::json status(unsigned code, const std::string& reason, const std::string& msg) {
    return {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", nlohmann::json::object()},
            {"status", "Failure"}, {"message", msg},     {"reason", reason},
            {"code", code}};
  }

  void handle(boost::asio::ip::tcp::socket& socket) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    boost::system::error_code ec;
    // A bounded exchange: a silent client cannot hang the server thread.
    timeval tv{5, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    beast::ssl_stream<boost::asio::ip::tcp::socket&> stream(socket, tls_);
    stream.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) {
      return;
    }
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) {
      return;
    }
    Seen seen{std::string(request.target()), std::string(request[http::field::authorization]),
              nlohmann::json::parse(request.body(), nullptr, false), 0};
    {
      std::unique_lock lock(mu_);
      ++arrived_;
      cv_.notify_all();
      cv_.wait_for(lock, std::chrono::seconds(10), [&] { return !held_; });
    }
    auto [code, answer] = respond(request, seen);
    seen.status = code;
    {
      const std::lock_guard lock(mu_);
      seen_.push_back(seen);
    }
    http::response<http::string_body> response{static_cast<http::status>(code), 11};
    response.set(http::field::content_type, "application/json");
    response.body() = answer.dump();
    response.keep_alive(false);
    response.prepare_payload();
    http::write(stream, response, ec);
    stream.shutdown(ec);
  }

  std::pair<unsigned, nlohmann::json> respond(
      const boost::beast::http::request<boost::beast::http::string_body>& request,
      const Seen& seen) {
    const std::lock_guard lock(mu_);
    if (request.method() != boost::beast::http::verb::post) {
      return {405, status(405, "MethodNotAllowed", "method not allowed")};
    }
    if (seen.authorization != "Bearer " + caller_token_) {
      return {401, status(401, "Unauthorized", "Unauthorized")};
    }
    const auto& body = seen.body;
    if (!body.is_object() || !body.contains("spec") || !body["spec"].is_object()) {
      return {400, status(400, "BadRequest", "no spec")};
    }
    const auto& spec = body["spec"];
    if (seen.path == "/apis/authentication.k8s.io/v1/tokenreviews") {
      if (body.value("apiVersion", "") != "authentication.k8s.io/v1" ||
          body.value("kind", "") != "TokenReview" || !spec.contains("token") ||
          !spec["token"].is_string()) {
        return {400, status(400, "BadRequest", "not a TokenReview")};
      }
      nlohmann::json answer = body;
      answer["metadata"] = {{"creationTimestamp", nullptr}};
      const auto user = users_.find(spec["token"].get<std::string>());
      if (user == users_.end()) {
        answer["status"] = {{"user", nlohmann::json::object()},
                            {"error", "[invalid bearer token, token lookup failed]"}};
      } else {
        answer["status"] = {
            {"authenticated", true},
            {"user",
             {{"username", user->second.first},
              {"uid", "uid-" + user->second.first},
              {"groups", user->second.second},
              {"extra", {{"authentication.kubernetes.io/pod-name", {"scraper-0"}}}}}},
            {"audiences", {"https://kubernetes.default.svc.cluster.local"}}};
      }
      return {201, answer};
    }
    if (seen.path == "/apis/authorization.k8s.io/v1/subjectaccessreviews") {
      if (body.value("apiVersion", "") != "authorization.k8s.io/v1" ||
          body.value("kind", "") != "SubjectAccessReview" || !spec.contains("user") ||
          !spec.contains("resourceAttributes")) {
        return {400, status(400, "BadRequest", "not a SubjectAccessReview")};
      }
      const auto& attrs = spec["resourceAttributes"];
      const std::string user = spec["user"].get<std::string>();
      const bool allowed = attrs.value("verb", "") == "get" &&
                           attrs.value("group", "") == "podnetstat.io" &&
                           attrs.value("resource", "") == "nodes" &&
                           grants_.contains({user, attrs.value("subresource", "")});
      nlohmann::json answer = body;
      answer["metadata"] = {{"creationTimestamp", nullptr}};
      answer["status"] = allowed ? nlohmann::json{{"allowed", true},
                                                  {"reason",
                                                   "RBAC: allowed by ClusterRoleBinding "
                                                   "\"podnetstat-readers\""}}
                                 : nlohmann::json{{"allowed", false}};
      return {201, answer};
    }
    return {404, status(404, "NotFound", "the server could not find the requested resource")};
  }

  boost::asio::io_context ioc_;
  boost::asio::ssl::context tls_;
  boost::asio::ip::tcp::acceptor acceptor_{ioc_};
  std::uint16_t port_ = 0;
  std::string caller_token_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  std::size_t arrived_ = 0;
  bool stopping_ = false;
  std::map<std::string, std::pair<std::string, std::vector<std::string>>> users_;
  std::set<std::pair<std::string, std::string>> grants_;
  std::vector<Seen> seen_;
};

}  // namespace podnetstat::testing
