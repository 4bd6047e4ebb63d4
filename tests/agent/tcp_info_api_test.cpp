// ?tcpInfo=true over real HTTP with the netlink backend, for sockets of a test namespace whose
// history is known: the table's detail line read back word by word against `ss -tin` in the
// same namespace, the JSON's tcpInfo and acceptQueue, the listen queue series of /metrics, and
// /api/v1/node. Needs root and CAP_SYS_ADMIN (skipped otherwise); everything made here is
// removed by destructors.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_server.h"

#include "http_client.h"
#include "netns.h"
#include "ready_api_server.h"
#include "run_podnetstat.h"
#include "serve_process.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::size_t kTransferBytes = 200'000;

using Fd = podnetstat::testing::OwnedFd;

std::uint16_t portOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

/// The sockets of the test: a listener with backlog 4 and five connections never accepted, and
/// a second listener with one accepted connection that moved kTransferBytes. Made inside the
/// namespace (this thread enters it and comes back), held by the test process.
struct Sockets {
  Fd full;  // backlog 4, five waiting
  std::vector<Fd> waiting;
  Fd listener;
  Fd client;
  Fd server;

  explicit Sockets(const std::filesystem::path& ns) {
    const Fd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    const Fd target(::open(ns.c_str(), O_RDONLY | O_CLOEXEC));
    if (home.get() < 0 || target.get() < 0 || ::setns(target.get(), CLONE_NEWNET) != 0) {
      throw std::runtime_error("cannot enter " + ns.string());
    }
    try {
      make();
    } catch (...) {
      (void)::setns(home.get(), CLONE_NEWNET);
      throw;
    }
    if (::setns(home.get(), CLONE_NEWNET) != 0) {
      std::abort();  // the rest of the binary would run in the wrong namespace
    }
  }

 private:
  static Fd listenOn(int backlog) {
    Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(l.get(), backlog) != 0) {
      throw std::runtime_error("listen");
    }
    return l;
  }

  static Fd connectTo(std::uint16_t port) {
    Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      throw std::runtime_error("connect");
    }
    return c;
  }

  static std::uint32_t unacked(int fd) {
    tcp_info info{};
    socklen_t len = sizeof info;
    ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len);
    return info.tcpi_unacked;
  }

  void make() {
    full = listenOn(4);
    for (int i = 0; i < 5; ++i) {
      waiting.push_back(connectTo(portOf(full.get())));
    }
    listener = listenOn(8);
    client = connectTo(portOf(listener.get()));
    server = Fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    const std::string data(kTransferBytes, 'x');
    std::vector<char> buf(65536);
    std::size_t sent = 0;
    std::size_t received = 0;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((received < kTransferBytes || unacked(client.get()) != 0) &&
           std::chrono::steady_clock::now() < deadline) {
      if (sent < kTransferBytes) {
        const ssize_t n =
            ::send(client.get(), data.data() + sent, kTransferBytes - sent, MSG_DONTWAIT);
        sent += n > 0 ? static_cast<std::size_t>(n) : 0;
      }
      const ssize_t n = ::recv(server.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      received += n > 0 ? static_cast<std::size_t>(n) : 0;
      if (n <= 0) {
        std::this_thread::sleep_for(1ms);
      }
    }
    if (received != kTransferBytes) {
      throw std::runtime_error("the transfer did not complete");
    }
  }
};

/// The words of a detail line, by name ("rtt" -> "0.05/0.025", "cubic" -> ""); ss's
/// congestion module details (bbr:(...)) are left out: podnetstat does not ask for them.
std::map<std::string, std::string> words(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  std::string w;
  std::string pending;  // "send", "pacing_rate", "delivery_rate": the value is the next word
  while (in >> w) {
    if (!pending.empty()) {
      out[pending] = w;
      pending.clear();
    } else if (w == "send" || w == "pacing_rate" || w == "delivery_rate") {
      pending = w;
    } else if (w.rfind("bbr:", 0) == 0 || w.rfind("dctcp:", 0) == 0) {
      continue;
    } else if (auto colon = w.find(':'); colon != std::string::npos) {
      out[w.substr(0, colon)] = w.substr(colon + 1);
    } else {
      out[w] = "";
    }
  }
  return out;
}

/// Rows of a table (netstat's or ss's) and the detail line under each, by "local peer".
using DetailLines = std::map<std::string, std::string>;

class TcpInfoApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!podnetstat::testing::liveTestSkipReason().empty()) {
      return;
    }
    try {
      ns_ = std::make_unique<podnetstat::testing::NetNamespace>("ptia");
      sockets_ = std::make_unique<Sockets>(ns_->path());
      ApiServerOptions options;
      options.listen = {"127.0.0.1", 0};
      options.refresh = std::chrono::hours(1);  // one snapshot, taken after the sockets were made
      options.node_name = "test-node";
      options.backend = scanner::Backend::Netlink;
      options.roots.netns_dir = podnetstat::testing::netnsDir();
      server_ = podnetstat::testing::startReadyApiServer(options);
    } catch (const std::exception& e) {
      setup_error_ = e.what();
      TearDownTestSuite();
    }
  }

  static void TearDownTestSuite() {
    if (server_) {
      server_->stop(1s);
    }
    server_.reset();
    sockets_.reset();
    ns_.reset();
  }

  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    ASSERT_TRUE(setup_error_.empty()) << setup_error_;
    const json node = getJson("/api/v1/node");
    if (node["backend"] != "netlink") {
      GTEST_SKIP() << "the netlink backend is not available here";
    }
  }

  static HttpClientResponse get(const std::string& target) {
    HttpClient client("127.0.0.1", server_->port());
    auto r = client.request("GET", target);
    if (!r.ok()) {
      ADD_FAILURE() << target << ": " << r.error().message;
      return {};
    }
    return *r;
  }

  static json getJson(const std::string& target) {
    auto r = get(target);
    EXPECT_EQ(r.status, 200u) << target << ": " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << target << ": " << r.body;
    return j;
  }

  static std::string ours(const std::string& extra) {
    return "/api/v1/sockets?netns=" + ns_->name() + "&transport=tcp" + extra;
  }

  /// The agent's table with tcpInfo: each TCP row's "local peer" and the tab-indented line
  /// under it.
  static DetailLines agentLines() {
    const auto r = get(ours("&tcpInfo=true&format=table"));
    EXPECT_EQ(r.status, 200u) << r.body;
    DetailLines out;
    std::istringstream in(r.body);
    std::string line;
    std::string key;
    while (std::getline(in, line)) {
      if (line.starts_with("\t")) {
        EXPECT_FALSE(key.empty()) << "a detail line under no TCP row: " << line;
        out[key] = line;
        key.clear();
        continue;
      }
      std::istringstream row(line);
      std::string netns, pod, proto, recvq, sendq, local, peer;
      row >> netns >> pod >> proto >> recvq >> sendq >> local >> peer;
      key = proto == "tcp" ? local + " " + peer : "";
    }
    return out;
  }

  /// `ss -tinH state all` in the namespace, likewise (ss's peer of a listener is "0.0.0.0:*").
  static DetailLines ssLines() {
    const auto r = ns_->run({"ss", "-tinH", "state", "all"});
    EXPECT_TRUE(r.ok()) << r.err;
    DetailLines out;
    std::istringstream in(r.out);
    std::string line;
    std::string key;
    while (std::getline(in, line)) {
      if (line.starts_with("\t")) {
        out[key] = line;
        continue;
      }
      std::istringstream row(line);
      std::string state, recvq, sendq, local, peer;
      row >> state >> recvq >> sendq >> local >> peer;
      key = local + " " + (peer == "0.0.0.0:*" ? "0.0.0.0:*" : peer);
    }
    return out;
  }

  inline static std::unique_ptr<podnetstat::testing::NetNamespace> ns_;
  inline static std::unique_ptr<Sockets> sockets_;
  inline static std::unique_ptr<ApiServer> server_;
  inline static std::string setup_error_;
};

TEST_F(TcpInfoApi, TheTableLineReadsAsSsTinWordByWord) {
  const DetailLines agent = agentLines();
  const DetailLines ss = ssLines();
  // Times since the last send/receive/ack grow between the two reads: present in both, values
  // not compared.
  const std::set<std::string> moving = {"lastsnd", "lastrcv", "lastack", "busy"};
  int compared = 0;
  for (const auto& [key, line] : agent) {
    if (!ss.contains(key)) {
      continue;  // a socket that changed between the reads (none should, idle as they are)
    }
    SCOPED_TRACE(key + "\nagent:" + line + "\nss:   " + ss.at(key));
    const auto a = words(line);
    const auto s = words(ss.at(key));
    for (const auto& [name, value] : s) {
      ASSERT_TRUE(a.contains(name)) << "missing " << name;
      if (!moving.contains(name)) {
        EXPECT_EQ(a.at(name), value) << name;
      }
    }
    for (const auto& [name, value] : a) {
      EXPECT_TRUE(s.contains(name)) << "extra " << name;
    }
    ++compared;
  }
  // Two listeners, five waiting connections and the transfer's two ends.
  EXPECT_GE(compared, 7);
}

TEST_F(TcpInfoApi, TheTransferIsAckedAndReceivedInFull) {
  const std::uint16_t port = portOf(sockets_->listener.get());
  const json items = getJson(ours("&tcpInfo=true"))["items"];
  const json* client = nullptr;
  const json* server = nullptr;
  for (const auto& s : items) {
    if (s["state"] != "ESTABLISHED") {
      continue;
    }
    if (s["remote"]["port"] == port) {
      client = &s;
    } else if (s["local"]["port"] == port) {
      server = &s;
    }
  }
  ASSERT_NE(client, nullptr);
  ASSERT_NE(server, nullptr);
  const json& c = (*client)["tcpInfo"];
  const json& sv = (*server)["tcpInfo"];
  ASSERT_TRUE(c.is_object()) << client->dump();
  // bytes_acked also counts the SYN's sequence number.
  EXPECT_GE(c["bytesAcked"].get<std::uint64_t>(), kTransferBytes);
  EXPECT_LE(c["bytesAcked"].get<std::uint64_t>(), kTransferBytes + 1);
  EXPECT_EQ(sv["bytesReceived"], kTransferBytes);
  EXPECT_EQ(c["unacked"], 0);
  EXPECT_TRUE(c["congestion"].is_string());
  EXPECT_TRUE(c["memory"]["sndbuf"].is_number());
  EXPECT_GT(c["rttMs"].get<double>(), 0.0);
}

TEST_F(TcpInfoApi, WithoutTheParameterThereIsNoTcpInfo) {
  const json items = getJson(ours(""))["items"];
  ASSERT_FALSE(items.empty());
  for (const auto& s : items) {
    EXPECT_FALSE(s.contains("tcpInfo")) << s.dump();
  }
  const auto table = get(ours("&format=table"));
  EXPECT_EQ(table.body.find('\t'), std::string::npos);
}

TEST_F(TcpInfoApi, AFullAcceptQueueShowsAsSsReportsIt) {
  const std::uint16_t port = portOf(sockets_->full.get());
  const json items = getJson(ours("&listening=true&port=" + std::to_string(port)))["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0]["acceptQueue"], json({{"length", 5}, {"max", 4}}));

  const auto ss = ns_->run({"ss", "-tlnH", "sport", "=", ":" + std::to_string(port)});
  ASSERT_TRUE(ss.ok()) << ss.err;
  std::istringstream row(ss.out);
  std::string state, recvq, sendq;
  row >> state >> recvq >> sendq;
  EXPECT_EQ(items[0]["acceptQueue"]["length"].dump(), recvq);
  EXPECT_EQ(items[0]["acceptQueue"]["max"].dump(), sendq);
}

TEST_F(TcpInfoApi, MetricsCarryTheListenQueuePerListener) {
  const auto r = get("/metrics");
  ASSERT_EQ(r.status, 200u);
  const std::string labels = "namespace=\"\",pod=\"\",netns=\"" + ns_->name() +
                             "\",transport=\"tcp\",address=\"127.0.0.1\",port=\"" +
                             std::to_string(portOf(sockets_->full.get())) + "\"}";
  EXPECT_NE(r.body.find("podnetstat_listen_queue_length{" + labels + " 5\n"), std::string::npos)
      << r.body.substr(0, 4000);
  EXPECT_NE(r.body.find("podnetstat_listen_queue_max{" + labels + " 4\n"), std::string::npos);
  // Nothing per connection.
  const std::string client_port = std::to_string(portOf(sockets_->client.get()));
  EXPECT_EQ(r.body.find("port=\"" + client_port + "\""), std::string::npos);
}

TEST_F(TcpInfoApi, TheNodeSaysTcpInfoIsAvailable) {
  const json node = getJson("/api/v1/node");
  EXPECT_EQ(node["tcpInfo"], json({{"available", true}, {"reason", nullptr}}));
}

TEST_F(TcpInfoApi, ABadTcpInfoValueIs400) {
  const auto r = get(ours("&tcpInfo=yes"));
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(r.body.find("tcpInfo"), std::string::npos) << r.body;
}

TEST_F(TcpInfoApi, ListTcpInfoPutsADetailLineUnderEveryTcpRow) {
  const auto r = podnetstat::testing::runPodnetstat(
      {"list", "-tan", "--netns", ns_->name(), "--backend", "netlink", "--tcp-info"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Every TCP row is followed by its detail line (the same renderer as the agent's table, whose
  // words the test above compares with ss).
  std::istringstream in(r.out);
  std::string line;
  int rows = 0;
  int details = 0;
  std::string previous;
  while (std::getline(in, line)) {
    if (line.starts_with("tcp ")) {
      ++rows;
    } else if (line.starts_with("\t")) {
      ++details;
      EXPECT_TRUE(previous.starts_with("tcp ")) << line;
    }
    previous = line;
  }
  EXPECT_EQ(rows, details);
  EXPECT_GE(rows, 9);  // two listeners, five waiting, the transfer's two ends
}

TEST_F(TcpInfoApi, ListRefusesTcpInfoWithProcfs) {
  const auto r = podnetstat::testing::runPodnetstat(
      {"list", "-tan", "--netns", ns_->name(), "--backend", "procfs", "--tcp-info"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("--tcp-info needs --backend netlink or auto"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace podnetstat::agent
