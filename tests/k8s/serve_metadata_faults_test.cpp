// `podnetstat serve` (the real binary) with metadata sources that fail: a kubelet stand-in
// (HTTPS with a CA the test makes, real captured PodList JSON) that is down, slow past the
// client's deadline, restarting, or answering garbage (invalid JSON, something other than a
// PodList, 500); and CRI endpoints that are absent, accept but never answer, or speak something
// other than gRPC. Throughout: the socket and pod lists are still served (200), /api/v1/node
// shows the failing source with its reason, /metrics says it is down; and when the kubelet comes
// back healthy the agent uses it again without a restart. (The CRI's recovery, with a real
// containerd restarted on the same socket, is in serve_containerd_e2e_test.cpp.)

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <set>
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
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "netns.h"
#include "serve_process.h"
#include "test_paths.h"

namespace podnetstat::k8s {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::ScratchDir;
using podnetstat::testing::ServeProcess;
using Clock = std::chrono::steady_clock;

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

constexpr const char* kToken = "podnetstat-test-token";

/// A CA and a serving certificate it signs for 127.0.0.1 (openssl CLI), and a bearer token file.
struct Certificates {
  ScratchDir dir{"pns-faults-tls-"};

  std::filesystem::path file(const char* name) const { return dir.path() / name; }

  Certificates() {
    const std::vector<std::string> ec_key = {"-newkey", "ec", "-pkeyopt",
                                             "ec_paramgen_curve:prime256v1", "-nodes"};
    std::vector<std::string> ca = {"openssl",
                                   "req",
                                   "-x509",
                                   "-days",
                                   "2",
                                   "-subj",
                                   "/CN=podnetstat-test-ca",
                                   "-out",
                                   file("ca.crt").string(),
                                   "-keyout",
                                   file("ca.key").string()};
    ca.insert(ca.end(), ec_key.begin(), ec_key.end());
    testing::runOrThrow(ca);
    std::vector<std::string> csr = {"openssl", "req",
                                    "-subj",   "/CN=kubelet",
                                    "-out",    file("server.csr").string(),
                                    "-keyout", file("server.key").string()};
    csr.insert(csr.end(), ec_key.begin(), ec_key.end());
    testing::runOrThrow(csr);
    std::ofstream(file("ext.cnf")) << "subjectAltName=IP:127.0.0.1\n";
    std::ofstream(file("token")) << kToken << "\n";
    testing::runOrThrow({"openssl", "x509", "-req", "-days", "2", "-in",
                         file("server.csr").string(), "-CA", file("ca.crt").string(), "-CAkey",
                         file("ca.key").string(), "-CAcreateserial", "-extfile",
                         file("ext.cnf").string(), "-out", file("server.crt").string()});
  }
};

/// How the kubelet stand-in answers GET /pods.
enum class Mode {
  Serve,        // 200 with the PodList set by serve()
  Slow,         // reads the request, then says nothing until the mode changes (or 30 s)
  InvalidJson,  // 200, application/json, a PodList cut in the middle
  NotAPodList,  // 200, application/json, a Status object
  Html,         // 200, text/html
  Error500,     // 500 with a short text
};

/// A kubelet stand-in on 127.0.0.1: TLS, one thread per connection, listening or not at the
/// test's command, on the same port across restarts.
class FakeKubelet {
 public:
  explicit FakeKubelet(const Certificates& certs) : tls_(ssl::context::tls_server) {
    tls_.use_certificate_chain_file(certs.file("server.crt").string());
    tls_.use_private_key_file(certs.file("server.key").string(), ssl::context::pem);
    // Pick a free port once; every start() binds that one again.
    tcp::acceptor probe(ioc_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port_ = probe.local_endpoint().port();
  }

  ~FakeKubelet() { stop(); }

  FakeKubelet(const FakeKubelet&) = delete;
  FakeKubelet& operator=(const FakeKubelet&) = delete;

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

  /// Listens (again) on the port.
  void start() {
    stop();
    acceptor_ = std::make_unique<tcp::acceptor>(ioc_);
    acceptor_->open(tcp::v4());
    // Not inherited by the agent the test starts later: a child holding the listening socket
    // would keep the port bound (and accept connections) while the test says it is down.
    ::fcntl(acceptor_->native_handle(), F_SETFD, FD_CLOEXEC);
    acceptor_->set_option(asio::socket_base::reuse_address(true));
    acceptor_->bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    acceptor_->listen();
    acceptor_->non_blocking(true);
    running_ = true;
    accept_thread_ = std::thread([this] { acceptLoop(); });
  }

  /// Stops listening and closes every connection (a kubelet that went away).
  void stop() {
    if (!running_) {
      return;
    }
    running_ = false;
    wake_.notify_all();
    accept_thread_.join();
    for (auto& t : connections_) {
      t.join();
    }
    connections_.clear();
    acceptor_.reset();
  }

  void set(Mode mode) {
    {
      const std::lock_guard lock(mutex_);
      mode_ = mode;
    }
    wake_.notify_all();
  }

  void serve(const std::string& fixture) {
    {
      const std::lock_guard lock(mutex_);
      body_ = readFile(testing::fixturesDir() / "kubelet" / fixture);
    }
    set(Mode::Serve);
  }

  int requests() const { return requests_; }

 private:
  void acceptLoop() {
    while (running_) {
      boost::system::error_code ec;
      tcp::socket socket(ioc_);
      acceptor_->accept(socket, ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) {
        std::this_thread::sleep_for(10ms);
        continue;
      }
      if (ec) {
        continue;
      }
      socket.non_blocking(false);
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      connections_.emplace_back(
          [this, s = std::make_shared<tcp::socket>(std::move(socket))] { handle(*s); });
    }
  }

  void handle(tcp::socket& socket) {
    boost::system::error_code ec;
    // Bounded: a client that never finishes its handshake or request is dropped after 10 s.
    timeval tv{10, 0};
    ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    beast::ssl_stream<tcp::socket&> stream(socket, tls_);
    stream.handshake(ssl::stream_base::server, ec);
    if (ec) {
      return;
    }
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) {
      return;
    }
    ++requests_;
    Mode mode;
    std::string body;
    {
      const std::lock_guard lock(mutex_);
      mode = mode_;
      body = body_;
    }
    http::response<http::string_body> response{http::status::ok, request.version()};
    response.set(http::field::content_type, "application/json");
    switch (mode) {
      case Mode::Serve:
        if (request[http::field::authorization] != std::string("Bearer ") + kToken) {
          response.result(http::status::unauthorized);
          response.body() = "Unauthorized";
        } else {
          response.body() = body;
        }
        break;
      case Mode::Slow: {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, 30s, [this] { return !running_ || mode_ != Mode::Slow; });
        return;  // closes without an answer
      }
      case Mode::InvalidJson:
        response.body() = body.substr(0, body.size() / 2);
        break;
      case Mode::NotAPodList:
        response.body() =
            R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",)"
            R"("message":"the server is shutting down","reason":"ServiceUnavailable","code":503})";
        break;
      case Mode::Html:
        response.set(http::field::content_type, "text/html");
        response.body() = "<html><body><h1>It works!</h1></body></html>";
        break;
      case Mode::Error500:
        response.result(http::status::internal_server_error);
        response.set(http::field::content_type, "text/plain");
        response.body() = "Internal Server Error: etcd is unhappy";
        break;
    }
    response.prepare_payload();
    http::write(stream, response, ec);
    stream.shutdown(ec);
  }

  asio::io_context ioc_;
  ssl::context tls_;
  unsigned short port_ = 0;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::atomic<bool> running_{false};
  std::thread accept_thread_;
  std::list<std::thread> connections_;  // joined by stop()
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  Mode mode_ = Mode::Serve;
  std::string body_;
  std::atomic<int> requests_{0};
};

/// GET `target` from the agent: status and body.
std::pair<unsigned, std::string> get(const ServeProcess& agent, const std::string& target) {
  agent::HttpClient client("127.0.0.1", agent.port(), 10s);
  auto r = client.get(target);
  if (!r.ok()) {
    return {0, r.error().message};
  }
  return {r->status, r->body};
}

json source(const ServeProcess& agent, const std::string& name) {
  auto [status, body] = get(agent, "/api/v1/node");
  if (status != 200) {
    return json();
  }
  return json::parse(body).at("sources").at(name);
}

/// Names ("namespace/name") of the pods the agent lists.
std::set<std::string> podNames(const ServeProcess& agent) {
  auto [status, body] = get(agent, "/api/v1/pods");
  std::set<std::string> out;
  if (status != 200) {
    return out;
  }
  const json list = json::parse(body);
  for (const json& p : list.at("items")) {
    if (!p.at("name").is_null()) {
      out.insert(p.at("namespace").get<std::string>() + "/" + p.at("name").get<std::string>());
    }
  }
  return out;
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (condition()) {
      return true;
    }
    std::this_thread::sleep_for(100ms);
  }
  return condition();
}

/// The data endpoints all answer 200 with JSON; /readyz is ready.
void expectServed(const ServeProcess& agent, const std::string& when) {
  for (const char* target :
       {"/api/v1/sockets", "/api/v1/pods", "/api/v1/netns", "/readyz", "/api/v1/node"}) {
    auto [status, body] = get(agent, target);
    EXPECT_EQ(status, 200U) << when << ": " << target << ": " << body.substr(0, 300);
    EXPECT_FALSE(json::parse(body, nullptr, false).is_discarded()) << when << ": " << target;
  }
}

/// Waits until /api/v1/node says `name` is failing with an error containing `reason`; checks
/// that everything is still served and that /metrics agrees.
void expectDegraded(const ServeProcess& agent,
                    const std::string& name,
                    const std::string& reason,
                    const std::string& when) {
  json last;
  const bool degraded = waitFor(
      [&] {
        last = source(agent, name);
        return last.is_object() && last.at("ok") == false && last.at("error").is_string() &&
               last.at("error").get<std::string>().find(reason) != std::string::npos;
      },
      20s);
  EXPECT_TRUE(degraded) << when << ": " << name << " is " << last.dump() << ", expected an error"
                        << " with '" << reason << "'";
  std::printf("%s: %s\n", when.c_str(), last.dump().c_str());
  expectServed(agent, when);
  // /metrics speaks of the current snapshot, which takes up the metadata at its scan: the next
  // scan (200 ms) at the latest.
  const std::string series = "podnetstat_source_up{source=\"" + name + "\"}";
  EXPECT_TRUE(waitFor([&] { return agent.metric(series) == 0.0; }, 5s))
      << when << ": " << series << " is " << agent.metric(series).value_or(-1);
}

const std::set<std::string> kPodsA = {"kube-system/coredns-747dbcf5df-qmtnl", "default/myapp-pod"};
const std::set<std::string> kPodsB = {"default/redis-75586d7d7c-jrm7j",
                                      "default/nginx-99d8b564-4r4vq"};

bool listsAll(const std::set<std::string>& have, const std::set<std::string>& wanted) {
  return std::ranges::includes(have, wanted);
}

class KubeletFaults : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = std::make_unique<Certificates>(); }

  static void TearDownTestSuite() { certs_.reset(); }

  void startAgent() {
    agent_ = std::make_unique<ServeProcess>(std::vector<std::string>{
        "--refresh", "200ms", "--kubelet-url", kubelet_.url(), "--kubelet-ca",
        certs_->file("ca.crt").string(), "--kubelet-token-file", certs_->file("token").string()});
  }

  /// The kubelet serves `fixture`: healthy, and its pods listed by name.
  void expectHealthyWith(const std::set<std::string>& pods, const std::string& when) {
    json last;
    const bool ok = waitFor(
        [&] {
          last = source(*agent_, "kubelet");
          return last.is_object() && last.at("ok") == true && listsAll(podNames(*agent_), pods);
        },
        20s);
    EXPECT_TRUE(ok) << when << ": kubelet " << last.dump() << ", pods "
                    << get(*agent_, "/api/v1/pods").second.substr(0, 2000);
    EXPECT_TRUE(last.at("error").is_null()) << when;
    EXPECT_TRUE(waitFor(
        [&] { return agent_->metric("podnetstat_source_up{source=\"kubelet\"}") == 1.0; }, 5s))
        << when;
  }

  /// Healthy with list A, then `fault` until the agent reports it (the last good list is kept
  /// meanwhile: a blip does not drop every name), then healthy with list B, without a restart.
  void faultAndRecover(Mode fault, const std::string& reason) {
    kubelet_.serve("podlist_init_container_running.json");
    kubelet_.start();
    startAgent();
    expectHealthyWith(kPodsA, "before the fault");
    const pid_t pid = agent_->pid();
    kubelet_.set(fault);
    expectDegraded(*agent_, "kubelet", reason, "during the fault");
    EXPECT_TRUE(listsAll(podNames(*agent_), kPodsA)) << "the last good PodList is kept a while";
    kubelet_.serve("podlist_1.8-2.json");
    expectHealthyWith(kPodsB, "after the fault");
    EXPECT_FALSE(listsAll(podNames(*agent_), kPodsA)) << "the new PodList replaced the old";
    EXPECT_EQ(agent_->pid(), pid);
    EXPECT_TRUE(agent_->running());
  }

  static std::unique_ptr<Certificates> certs_;
  FakeKubelet kubelet_{*certs_};
  std::unique_ptr<ServeProcess> agent_;
};

std::unique_ptr<Certificates> KubeletFaults::certs_;

TEST_F(KubeletFaults, DownFromTheStartThenUp) {
  startAgent();  // nothing listens on the kubelet's port
  expectDegraded(*agent_, "kubelet", "127.0.0.1", "kubelet down");
  EXPECT_TRUE(podNames(*agent_).empty());
  kubelet_.serve("podlist_init_container_running.json");
  kubelet_.start();
  expectHealthyWith(kPodsA, "kubelet up");
}

TEST_F(KubeletFaults, SlowPastTheDeadline) {
  faultAndRecover(Mode::Slow, "timed out");
}

TEST_F(KubeletFaults, InvalidJson) {
  faultAndRecover(Mode::InvalidJson, "/pods");
}

TEST_F(KubeletFaults, SomethingOtherThanAPodList) {
  faultAndRecover(Mode::NotAPodList, "PodList");
}

TEST_F(KubeletFaults, Html) {
  faultAndRecover(Mode::Html, "/pods");
}

TEST_F(KubeletFaults, InternalServerError) {
  faultAndRecover(Mode::Error500, "500");
}

TEST_F(KubeletFaults, RestartingOnTheSamePort) {
  kubelet_.serve("podlist_init_container_running.json");
  kubelet_.start();
  startAgent();
  expectHealthyWith(kPodsA, "before the restart");
  for (int i = 0; i < 3; ++i) {
    kubelet_.stop();
    expectDegraded(*agent_, "kubelet", "127.0.0.1", "kubelet stopped, round " + std::to_string(i));
    kubelet_.serve(i % 2 == 0 ? "podlist_1.8-2.json" : "podlist_init_container_running.json");
    kubelet_.start();
    expectHealthyWith(i % 2 == 0 ? kPodsB : kPodsA, "kubelet back, round " + std::to_string(i));
  }
}

/// A unix socket at `path` that accepts connections and then, per `garbage`, says nothing or
/// sends bytes that are not HTTP/2; the connections stay open until the object goes.
class FakeCriSocket {
 public:
  FakeCriSocket(std::filesystem::path path, bool garbage)
      : path_(std::move(path)), garbage_(garbage) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const std::string p = path_.string();
    if (fd_ < 0 || p.size() >= sizeof addr.sun_path) {
      throw std::runtime_error("unix socket");
    }
    std::copy(p.begin(), p.end(), addr.sun_path);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd_, 16) != 0) {
      throw std::runtime_error("cannot listen on " + p);
    }
    thread_ = std::thread([this] { loop(); });
  }

  ~FakeCriSocket() {
    stop_ = true;
    thread_.join();
    for (int c : clients_) {
      ::close(c);
    }
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }

  FakeCriSocket(const FakeCriSocket&) = delete;
  FakeCriSocket& operator=(const FakeCriSocket&) = delete;

  int accepted() const { return accepted_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) {
        continue;
      }
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) {
        continue;
      }
      ++accepted_;
      if (garbage_) {
        const std::string junk = "SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n";
        [[maybe_unused]] const auto n = ::send(c, junk.data(), junk.size(), MSG_NOSIGNAL);
        ::shutdown(c, SHUT_WR);
      }
      clients_.push_back(c);  // never read from, never answered
    }
  }

  std::filesystem::path path_;
  bool garbage_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::vector<int> clients_;
  std::thread thread_;
};

TEST(CriFaults, AbsentSilentAndGarbageEndpointsDegradeOnlyTheCriSource) {
  ScratchDir dir("pns-cri-faults-");
  const auto socket = dir.path() / "cri.sock";
  ServeProcess agent({"--refresh", "200ms", "--cri-endpoint", "unix://" + socket.string()});
  // Absent: nothing at the path.
  expectDegraded(agent, "cri", "No such file", "CRI socket absent");
  EXPECT_EQ(source(agent, "cri").at("endpoint"), "unix://" + socket.string());
  {
    // Accepts, never answers: each call ends at its deadline.
    FakeCriSocket silent(socket, false);
    expectDegraded(agent, "cri", "DEADLINE_EXCEEDED", "CRI socket silent");
    EXPECT_GT(silent.accepted(), 0);
  }
  {
    // Accepts and sends something that is not HTTP/2.
    FakeCriSocket garbage(socket, true);
    waitFor([&] { return garbage.accepted() > 0; }, 20s);
    EXPECT_GT(garbage.accepted(), 0);
    expectDegraded(agent, "cri", "HTTP/2", "CRI socket speaking garbage");
  }
  expectDegraded(agent, "cri", "No such file", "CRI socket gone again");
  EXPECT_TRUE(agent.running());
  // The other sources are what they were: the cgroups read, the kubelet disabled.
  EXPECT_EQ(source(agent, "cgroup").at("ok"), true);
  EXPECT_EQ(source(agent, "kubelet").at("error"), "disabled");
}

}  // namespace
}  // namespace podnetstat::k8s
