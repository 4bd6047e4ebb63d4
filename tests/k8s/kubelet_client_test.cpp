// The kubelet client against a real HTTPS server (Beast + OpenSSL, certificates made by the
// test with the openssl CLI) serving a captured PodList: CA verification, bearer tokens and
// their rotation, and the answers a kubelet gives when something is wrong.

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "podnetstat/k8s/kubelet.h"
#include "podnetstat/k8s/pod_list.h"

#include "netns.h"
#include "test_paths.h"

namespace podnetstat::k8s {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

/// A CA, a serving certificate it signs (for 127.0.0.1 and localhost), and an unrelated CA.
struct Certificates {
  testing::ScratchDir dir{"pns-kubelet-tls-"};

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
    testing::runOrThrow(ca);
    auto other = std::vector<std::string>{"openssl",        "req",  "-x509",
                                          "-days",          "2",    "-subj",
                                          "/CN=another-ca", "-out", file("other.crt").string()};
    const auto other_key = key(file("other.key"));
    other.insert(other.end(), other_key.begin(), other_key.end());
    testing::runOrThrow(other);
    auto csr = std::vector<std::string>{"openssl",     "req",  "-subj",
                                        "/CN=kubelet", "-out", file("server.csr").string()};
    const auto server_key = key(file("server.key"));
    csr.insert(csr.end(), server_key.begin(), server_key.end());
    testing::runOrThrow(csr);
    writeFile(file("ext.cnf"), "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    testing::runOrThrow({"openssl", "x509", "-req", "-days", "2", "-in",
                         file("server.csr").string(), "-CA", file("ca.crt").string(), "-CAkey",
                         file("ca.key").string(), "-CAcreateserial", "-extfile",
                         file("ext.cnf").string(), "-out", file("server.crt").string()});
  }
};

/// What the test server does with a request.
enum class Behaviour { Serve, Forbidden, Slow, Garbage, Huge };

/// A kubelet stand-in: TLS on 127.0.0.1:<ephemeral>, one connection at a time.
class TestKubelet {
 public:
  explicit TestKubelet(const Certificates& certs) : tls_(ssl::context::tls_server) {
    tls_.use_certificate_chain_file(certs.file("server.crt").string());
    tls_.use_private_key_file(certs.file("server.key").string(), ssl::context::pem);
    acceptor_.open(tcp::v4());
    acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    body_ = readFile(testing::fixturesDir() / "kubelet" / "podlist_init_container_running.json");
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
    {
      const std::lock_guard lock(mutex_);
      authorizations_.emplace_back(request[http::field::authorization]);
      targets_.emplace_back(request.target());
      behaviour = behaviour_;
      token = token_;
    }
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    switch (behaviour) {
      case Behaviour::Serve:
        if (!token.empty() && request[http::field::authorization] != "Bearer " + token) {
          response.result(http::status::unauthorized);
          response.body() = "Unauthorized";
        } else {
          response.body() = body_;
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
        response.body() = std::string(64 * 1024, ' ') + body_;
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

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point steadyNow() const override { return steady; }

  std::chrono::system_clock::time_point systemNow() const override {
    return std::chrono::system_clock::now();
  }

  std::chrono::steady_clock::time_point steady{std::chrono::hours(1)};
};

class KubeletClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new Certificates(); }

  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  std::unique_ptr<KubeletApi> client(KubeletClientOptions options) {
    if (options.url.empty()) {
      options.url = server_.url();
    }
    options.clock = &clock_;
    auto made = makeKubeletClient(std::move(options));
    EXPECT_TRUE(made.ok()) << made.error().message;
    return made.ok() ? std::move(*made) : nullptr;
  }

  KubeletClientOptions verified() const {
    KubeletClientOptions o;
    o.ca_file = certs_->file("ca.crt");
    o.timeout = 2s;
    return o;
  }

  static Certificates* certs_;
  TestKubelet server_{*certs_};
  FakeClock clock_;
  testing::ScratchDir files_{"pns-kubelet-token-"};
};

Certificates* KubeletClientTest::certs_ = nullptr;

TEST_F(KubeletClientTest, FetchesThePodListWithTheKubeletsCa) {
  const auto kubelet = client(verified());
  const auto body = kubelet->getPods();
  ASSERT_TRUE(body.ok()) << body.error().message;
  const auto list = parsePodList(*body);
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->pods.size(), 4U);
  EXPECT_THAT(server_.targets(), ::testing::ElementsAre("/pods"));
  EXPECT_EQ(kubelet->endpoint(), server_.url());
}

TEST_F(KubeletClientTest, VerifiesTheHostNameToo) {
  auto options = verified();
  options.url = server_.url("localhost");
  EXPECT_TRUE(client(options)->getPods().ok());
}

TEST_F(KubeletClientTest, AWrongCaIsRefused) {
  auto options = verified();
  options.ca_file = certs_->file("other.crt");
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("certificate verify failed"));
  EXPECT_THAT(body.error().message, HasSubstr("other.crt"));
}

TEST_F(KubeletClientTest, WithoutACaTheSystemCasRefuseASelfSignedKubelet) {
  KubeletClientOptions options;
  options.timeout = 2s;
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("--kubelet-ca"));
  EXPECT_THAT(body.error().message, HasSubstr("--kubelet-insecure-skip-verify"));
}

TEST_F(KubeletClientTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  KubeletClientOptions options;
  options.insecure_skip_verify = true;
  options.ca_file = certs_->file("other.crt");  // ignored
  EXPECT_TRUE(client(options)->getPods().ok());
}

TEST_F(KubeletClientTest, SendsTheBearerTokenOfTheTokenFile) {
  writeFile(files_.path() / "token", "tok-A\n");
  server_.requireToken("tok-A");
  auto options = verified();
  options.token_file = files_.path() / "token";
  EXPECT_TRUE(client(options)->getPods().ok());
  EXPECT_THAT(server_.authorizations(), ::testing::ElementsAre("Bearer tok-A"));
}

TEST_F(KubeletClientTest, ARotatedTokenIsPickedUpAfterA401) {
  writeFile(files_.path() / "token", "tok-A");
  server_.requireToken("tok-A");
  auto options = verified();
  options.token_file = files_.path() / "token";
  const auto kubelet = client(options);
  ASSERT_TRUE(kubelet->getPods().ok());
  writeFile(files_.path() / "token", "tok-B");
  server_.requireToken("tok-B");
  const auto body = kubelet->getPods();
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_THAT(server_.authorizations(),
              ::testing::ElementsAre("Bearer tok-A", "Bearer tok-A", "Bearer tok-B"));
}

TEST_F(KubeletClientTest, TheTokenIsReReadEveryFiveMinutes) {
  writeFile(files_.path() / "token", "tok-A");
  auto options = verified();
  options.token_file = files_.path() / "token";
  const auto kubelet = client(options);
  ASSERT_TRUE(kubelet->getPods().ok());
  writeFile(files_.path() / "token", "tok-B");
  clock_.steady += 4min;
  ASSERT_TRUE(kubelet->getPods().ok());
  clock_.steady += 1min;
  ASSERT_TRUE(kubelet->getPods().ok());
  EXPECT_THAT(server_.authorizations(),
              ::testing::ElementsAre("Bearer tok-A", "Bearer tok-A", "Bearer tok-B"));
}

TEST_F(KubeletClientTest, A401SaysTheTokenWasNotAccepted) {
  writeFile(files_.path() / "token", "tok-A");
  server_.requireToken("tok-other");
  auto options = verified();
  options.token_file = files_.path() / "token";
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("answered 401"));
  EXPECT_THAT(body.error().message, HasSubstr("token"));
}

TEST_F(KubeletClientTest, AMissingTokenFileIsAnError) {
  auto options = verified();
  options.token_file = files_.path() / "absent";
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("token file"));
}

TEST_F(KubeletClientTest, A403NamesTheMissingRbac) {
  server_.set(Behaviour::Forbidden);
  const auto body = client(verified())->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("answered 403"));
  EXPECT_THAT(body.error().message,
              HasSubstr("the service account needs get on nodes/pods (nodes/proxy before "
                        "Kubernetes 1.33)"));
  EXPECT_THAT(body.error().message, HasSubstr("subresource(s)=[pods]"));
}

TEST_F(KubeletClientTest, ASlowKubeletCostsOneDeadline) {
  server_.set(Behaviour::Slow);
  auto options = verified();
  options.timeout = 300ms;
  const auto kubelet = client(options);
  const auto started = std::chrono::steady_clock::now();
  const auto body = kubelet->getPods();
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("timed out after 300 ms"));
  EXPECT_LT(took, 1500ms);
}

TEST_F(KubeletClientTest, GarbageIsAnError) {
  server_.set(Behaviour::Garbage);
  const auto body = client(verified())->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("read"));
}

TEST_F(KubeletClientTest, ABodyOverTheCapIsRefused) {
  server_.set(Behaviour::Huge);
  auto options = verified();
  options.max_body_bytes = 32 * 1024;
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("larger than 32768 bytes"));
}

TEST_F(KubeletClientTest, NobodyListeningIsAnError) {
  auto options = verified();
  options.url = "https://127.0.0.1:1";
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("connect"));
}

TEST_F(KubeletClientTest, APathPrefixIsKept) {
  auto options = verified();
  options.url = server_.url() + "/api/v1/nodes/node-1/proxy/";
  ASSERT_TRUE(client(options)->getPods().ok());
  EXPECT_THAT(server_.targets(), ::testing::ElementsAre("/api/v1/nodes/node-1/proxy/pods"));
}

TEST(KubeletClientOptions, BadUrlsAndCaFilesAreRefusedUpFront) {
  for (const char* url : {"", "10.0.0.1:10250", "ftp://x", "https://", "https://[::1",
                          "https://host:99999", "https://host:port"}) {
    KubeletClientOptions options;
    options.url = url;
    EXPECT_FALSE(makeKubeletClient(options).ok()) << url;
  }
  KubeletClientOptions options;
  options.url = "https://10.0.0.1";
  options.ca_file = "/nonexistent/ca.crt";
  const auto made = makeKubeletClient(options);
  ASSERT_FALSE(made.ok());
  EXPECT_THAT(made.error().message, HasSubstr("/nonexistent/ca.crt"));
  options.ca_file.clear();
  options.url = "https://[fd00::1]:10250/";
  EXPECT_TRUE(makeKubeletClient(options).ok());
}

TEST(KubeletClientOptions, DefaultUrlFromTheHostIp) {
  EXPECT_EQ(defaultKubeletUrl("10.0.0.7"), "https://10.0.0.7:10250");
  EXPECT_EQ(defaultKubeletUrl("fd00::7"), "https://[fd00::7]:10250");
  EXPECT_EQ(defaultKubeletUrl(""), "");
}

}  // namespace
}  // namespace podnetstat::k8s
