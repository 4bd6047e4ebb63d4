#pragma once

// A kubelet stand-in for tests: a real HTTPS server (Beast + OpenSSL) on 127.0.0.1 serving a
// PodList at /pods, with certificates made by the test with the openssl CLI. Used by the kubelet
// client tests and by the end-to-end tests that run the agent with a kubelet source.

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "netns.h"
#include "test_paths.h"

namespace podnetstat::testing::kubelet {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using namespace std::chrono_literals;

inline std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

/// A CA, a serving certificate it signs (for 127.0.0.1 and localhost), and an unrelated CA.
struct Certificates {
  ScratchDir dir{"pns-kubelet-tls-"};

  std::filesystem::path file(const char* name) const { return dir.path() / name; }

  Certificates() {
    const auto key = [](const std::filesystem::path& out) {
      return std::vector<std::string>{
          "-newkey", "ec",      "-pkeyopt",  "ec_paramgen_curve:prime256v1",
          "-nodes",  "-keyout", out.string()};
    };
    auto ca = std::vector<std::string>{"openssl",
                                       "req",
                                       "-x509",
                                       "-days",
                                       "2",
                                       "-subj",
                                       "/CN=podnetstat-test-ca",
                                       "-out",
                                       file("ca.crt").string()};
    const auto ca_key = key(file("ca.key"));
    ca.insert(ca.end(), ca_key.begin(), ca_key.end());
    runOrThrow(ca);
    auto other = std::vector<std::string>{"openssl",        "req",  "-x509",
                                          "-days",          "2",    "-subj",
                                          "/CN=another-ca", "-out", file("other.crt").string()};
    const auto other_key = key(file("other.key"));
    other.insert(other.end(), other_key.begin(), other_key.end());
    runOrThrow(other);
    auto csr = std::vector<std::string>{"openssl",     "req",  "-subj",
                                        "/CN=kubelet", "-out", file("server.csr").string()};
    const auto server_key = key(file("server.key"));
    csr.insert(csr.end(), server_key.begin(), server_key.end());
    runOrThrow(csr);
    writeFile(file("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    runOrThrow({"openssl", "x509", "-req", "-days", "2", "-in", file("server.csr").string(), "-CA",
                file("ca.crt").string(), "-CAkey", file("ca.key").string(), "-CAcreateserial",
                "-extfile", file("ext.cnf").string(), "-out", file("server.crt").string()});
  }
};

/// What the test server does with a request.
enum class Behaviour { Serve, Forbidden, Slow, Garbage, Huge };

/// A kubelet stand-in: TLS on 127.0.0.1:<ephemeral>, one connection at a time. Serves
/// tests/fixtures/kubelet/podlist_init_container_running.json until setBody() says otherwise.
class TestKubelet {
 public:
  explicit TestKubelet(const Certificates& certs) : tls_(ssl::context::tls_server) {
    tls_.use_certificate_chain_file(certs.file("server.crt").string());
    tls_.use_private_key_file(certs.file("server.key").string(), ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    body_ = readFile(fixturesDir() / "kubelet" / "podlist_init_container_running.json");
    thread_ = std::thread([this] { run(); });
  }

  ~TestKubelet() {
    {
      const std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
  }

  std::string url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(port_);
  }

  /// What `Behaviour::Serve` answers from now on (a PodList made by the test).
  void setBody(std::string body) {
    const std::lock_guard lock(mutex_);
    body_ = std::move(body);
  }

  void set(Behaviour b) {
    const std::lock_guard lock(mutex_);
    behaviour_ = b;
  }

  /// Requests without "Authorization: Bearer <token>" get 401 (empty: anything goes).
  void requireToken(const std::string& token) {
    const std::lock_guard lock(mutex_);
    token_ = token;
  }

  std::vector<std::string> authorizations() const {
    const std::lock_guard lock(mutex_);
    return authorizations_;
  }

  std::vector<std::string> targets() const {
    const std::lock_guard lock(mutex_);
    return targets_;
  }

 private:
  void run() {
    for (;;) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      {
        const std::lock_guard lock(mutex_);
        if (stopping_) {
          return;
        }
      }
      if (!ec) {
        handle(socket);
      }
    }
  }

  void handle(tcp::socket& socket) {
    boost::system::error_code ec;
    beast::ssl_stream<tcp::socket&> stream(socket, tls_);
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) {
      return;  // e.g. the client refused our certificate
    }
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) {
      return;
    }
    Behaviour behaviour;
    std::string token;
    std::string body;
    {
      const std::lock_guard lock(mutex_);
      authorizations_.emplace_back(request[http::field::authorization]);
      targets_.emplace_back(request.target());
      behaviour = behaviour_;
      token = token_;
      body = body_;
    }
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    switch (behaviour) {
      case Behaviour::Serve:
        if (!token.empty() && request[http::field::authorization] != "Bearer " + token) {
          response.result(http::status::unauthorized);
          response.body() = "Unauthorized";
        } else {
          response.body() = body;
        }
        break;
      case Behaviour::Forbidden:
        response.result(http::status::forbidden);
        response.body() =
            "Forbidden (user=system:serviceaccount:podnetstat:podnetstat, verb=get, "
            "resource=nodes, subresource(s)=[pods])";
        break;
      case Behaviour::Slow: {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, 3s, [this] { return stopping_; });
        return;
      }
      case Behaviour::Garbage:
        asio::write(stream, asio::buffer(std::string("SSH-2.0-OpenSSH_9.2\r\n\r\n")), ec);
        stream.shutdown(ec);
        return;
      case Behaviour::Huge:
        response.body() = std::string(64 * 1024, ' ') + body;
        break;
    }
    response.prepare_payload();
    http::write(stream, response, ec);
    stream.shutdown(ec);
  }

  asio::io_context ioc_;
  ssl::context tls_;
  tcp::acceptor acceptor_{ioc_};
  unsigned short port_ = 0;
  std::string body_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  Behaviour behaviour_ = Behaviour::Serve;
  std::string token_;
  std::vector<std::string> authorizations_;
  std::vector<std::string> targets_;
  std::thread thread_;
};

}  // namespace podnetstat::testing::kubelet
