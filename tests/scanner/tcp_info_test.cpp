// struct tcp_info read by the attribute's length (shorter from older kernels, longer from newer
// ones), the congestion and memory attributes; and, live, what the netlink backend reads for
// sockets of a test namespace compared with what was done to them and with `ss -tin`.

#include "podnetstat/scanner/tcp_info.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/scanner/scan.h"

#include "netns.h"

namespace podnetstat::scanner {
namespace {

/// One netlink attribute: {len, type, payload}, padded to 4 bytes.
std::string attribute(std::uint16_t type, const std::string& payload) {
  std::string out(4, '\0');
  const auto len = static_cast<std::uint16_t>(4 + payload.size());
  std::memcpy(out.data(), &len, 2);
  std::memcpy(out.data() + 2, &type, 2);
  out += payload;
  out.resize((out.size() + 3) & ~std::size_t{3}, '\0');
  return out;
}

/// A tcp_info of `length` bytes whose every field holds a value derived from its offset, so that
/// a field read from the wrong place shows.
std::string tcpInfoBytes(std::size_t length) {
  std::string out(length, '\0');
  for (std::size_t i = 0; i < kTcpInfoFieldCount; ++i) {
    const TcpInfoLayout at = tcpInfoLayout(static_cast<TcpInfoField>(i));
    if (at.size == 4 && at.offset + 4u <= length) {
      const std::uint32_t v = 1000u + at.offset;
      std::memcpy(out.data() + at.offset, &v, 4);
    } else if (at.size == 8 && at.offset + 8u <= length) {
      const std::uint64_t v = 1'000'000'000'000ULL + at.offset;
      std::memcpy(out.data() + at.offset, &v, 8);
    }
  }
  if (length > 6) {
    out[6] = static_cast<char>(0x97);  // snd_wscale 7, rcv_wscale 9
  }
  return out;
}

TEST(TcpInfoParser, ReadsEveryFieldOfTheLengthThisBuildKnows) {
  TcpDetails d;
  ASSERT_TRUE(
      parseTcpDiagAttributes(attribute(INET_DIAG_INFO, tcpInfoBytes(kTcpInfoKnownLength)), d));
  EXPECT_EQ(d.info_length, kTcpInfoKnownLength);
  EXPECT_EQ(d.field(TcpInfoField::Rto), 1008u);
  EXPECT_EQ(d.field(TcpInfoField::Rtt), 1068u);
  EXPECT_EQ(d.field(TcpInfoField::BytesAcked), 1'000'000'000'120ULL);
  EXPECT_EQ(d.field(TcpInfoField::SndWnd), 1228u);
  EXPECT_EQ(d.field(TcpInfoField::SndWscale), 7u);
  EXPECT_EQ(d.field(TcpInfoField::RcvWscale), 9u);
}

TEST(TcpInfoParser, AShorterAttributeLeavesTheLaterFieldsAbsent) {
  // Linux 3.x: tcp_info ended after total_retrans (104 bytes).
  TcpDetails d;
  ASSERT_TRUE(parseTcpDiagAttributes(attribute(INET_DIAG_INFO, tcpInfoBytes(104)), d));
  EXPECT_EQ(d.info_length, 104u);
  EXPECT_EQ(d.field(TcpInfoField::TotalRetrans), 1100u);
  EXPECT_EQ(d.field(TcpInfoField::SndCwnd), 1080u);
  EXPECT_FALSE(d.field(TcpInfoField::PacingRate).has_value());
  EXPECT_FALSE(d.field(TcpInfoField::BytesAcked).has_value());
  EXPECT_FALSE(d.field(TcpInfoField::MinRtt).has_value());
  EXPECT_FALSE(d.field(TcpInfoField::SndWnd).has_value());
}

TEST(TcpInfoParser, AFieldCutInTheMiddleIsAbsent) {
  TcpDetails d;
  ASSERT_TRUE(parseTcpDiagAttributes(attribute(INET_DIAG_INFO, tcpInfoBytes(124)), d));
  EXPECT_EQ(d.field(TcpInfoField::MaxPacingRate), 1'000'000'000'112ULL);
  EXPECT_FALSE(d.field(TcpInfoField::BytesAcked).has_value());  // 120..128: half sent
}

TEST(TcpInfoParser, ALongerAttributeIsReadUpToWhatThisBuildKnows) {
  // A newer kernel appends fields (rcv_wnd, rehash, total_rto, ...): they are ignored.
  std::string bytes = tcpInfoBytes(kTcpInfoKnownLength);
  bytes += std::string(24, '\x5a');
  TcpDetails d;
  ASSERT_TRUE(parseTcpDiagAttributes(attribute(INET_DIAG_INFO, bytes), d));
  EXPECT_EQ(d.info_length, kTcpInfoKnownLength);
  EXPECT_EQ(d.field(TcpInfoField::SndWnd), 1228u);
  EXPECT_EQ(d.field(TcpInfoField::DeliveryRate), 1'000'000'000'160ULL);
}

TEST(TcpInfoParser, ReadsTheCongestionNameAndTheMemoryCounters) {
  std::string mem;
  for (std::uint32_t v = 1; v <= 9; ++v) {
    mem.append(reinterpret_cast<const char*>(&v), 4);
  }
  TcpDetails d;
  ASSERT_TRUE(parseTcpDiagAttributes(attribute(INET_DIAG_SHUTDOWN, std::string(1, '\x03')) +
                                         attribute(INET_DIAG_CONG, std::string("bbr\0", 4)) +
                                         attribute(INET_DIAG_SKMEMINFO, mem),
                                     d));
  EXPECT_EQ(d.congestion, "bbr");
  EXPECT_EQ(d.memory(SkMemField::RmemAlloc), 1u);
  EXPECT_EQ(d.memory(SkMemField::Drops), 9u);
  EXPECT_FALSE(d.hasInfo());
  EXPECT_FALSE(d.field(TcpInfoField::State).has_value());
}

TEST(TcpInfoParser, AnOlderMemoryAttributeHasFewerCounters) {
  // Before Linux 4.0 there was no SK_MEMINFO_DROPS.
  std::string mem(8 * 4, '\x01');
  TcpDetails d;
  ASSERT_TRUE(parseTcpDiagAttributes(attribute(INET_DIAG_SKMEMINFO, mem), d));
  EXPECT_TRUE(d.memory(SkMemField::Backlog).has_value());
  EXPECT_FALSE(d.memory(SkMemField::Drops).has_value());
}

TEST(TcpInfoParser, MalformedAttributesAreRefusedKeepingWhatCameFirst) {
  const std::string good = attribute(INET_DIAG_CONG, std::string("cubic\0", 6));
  TcpDetails d;
  std::string runs_past = attribute(INET_DIAG_INFO, tcpInfoBytes(104));
  runs_past.resize(60);
  EXPECT_FALSE(parseTcpDiagAttributes(good + runs_past, d));
  EXPECT_EQ(d.congestion, "cubic");
  EXPECT_FALSE(d.hasInfo());

  TcpDetails e;
  EXPECT_FALSE(parseTcpDiagAttributes(std::string("\x02\x00\x02\x00", 4), e));  // len < 4
  TcpDetails f;
  EXPECT_FALSE(parseTcpDiagAttributes(std::string("\x08\x00", 2), f));  // half a header
  TcpDetails g;
  EXPECT_TRUE(parseTcpDiagAttributes("", g));
}

// ---------------------------------------------------------------------------------------------
// Live.

/// Enters a namespace on this thread and comes back in the destructor; sockets made meanwhile
/// belong to it.
class InNamespace {
 public:
  explicit InNamespace(const std::filesystem::path& ns) {
    home_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    const int fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (home_ < 0 || fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      throw std::runtime_error("cannot enter " + ns.string());
    }
    ::close(fd);
  }

  ~InNamespace() {
    if (::setns(home_, CLONE_NEWNET) != 0) {
      std::abort();  // the rest of the test binary would run in the wrong namespace
    }
    ::close(home_);
  }

  InNamespace(const InNamespace&) = delete;
  InNamespace& operator=(const InNamespace&) = delete;

 private:
  int home_ = -1;
};

/// An fd closed by the destructor.
struct Fd {
  int fd = -1;

  explicit Fd(int f) : fd(f) {}

  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }

  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }

  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

sockaddr_in loopback(std::uint16_t port) {
  return podnetstat::testing::loopbackV4(port);
}

Fd listenOn(int backlog) {
  Fd l(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(0);
  if (::bind(l.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(l.fd, backlog)) {
    throw std::runtime_error("listen");
  }
  return l;
}

std::uint16_t portOf(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

Fd connectTo(std::uint16_t port) {
  Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = loopback(port);
  if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    throw std::runtime_error("connect");
  }
  return c;
}

std::uint32_t unackedOf(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  ::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len);
  return info.tcpi_unacked;
}

class TcpInfoLive : public ::testing::Test {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    ns_ = std::make_unique<testing::NetNamespace>("pti");
  }

  ScanResult scan(bool tcp_info) const {
    ScanOptions o;
    o.backend = Backend::Netlink;
    o.tcp_info = tcp_info;
    o.pid = false;
    o.netns_names = {ns_->name()};
    o.transports = TransportSet{}.add(Transport::Tcp);
    Scanner s(Roots{});
    auto r = s.scan(o);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    if (r && r->backend != Backend::Netlink) {
      ADD_FAILURE() << "not the netlink backend";
    }
    return r ? std::move(r).value() : ScanResult{};
  }

  static const Socket* find(const ScanResult& r, std::uint16_t local, std::uint16_t remote) {
    for (const Socket& s : r.sockets) {
      if (s.local.port == local && s.remote.port == remote) {
        return &s;
      }
    }
    return nullptr;
  }

  /// `ss -tin` inside the namespace: for each "local peer" pair, the detail line's words.
  std::map<std::string, std::string> ssDetails() const {
    const auto r = ns_->run({"ss", "-tinH", "state", "all"});
    EXPECT_TRUE(r.ok()) << r.err;
    std::map<std::string, std::string> out;
    std::istringstream in(r.out);
    std::string line;
    std::string key;
    while (std::getline(in, line)) {
      if (line.empty()) {
        continue;
      }
      if (line[0] != ' ' && line[0] != '\t') {
        std::istringstream row(line);
        std::string state, recvq, sendq, local, peer;
        row >> state >> recvq >> sendq >> local >> peer;
        key = local + " " + peer;
      } else {
        out[key] = line;
      }
    }
    return out;
  }

  std::unique_ptr<testing::NetNamespace> ns_;
};

/// The value after `name:` in an ss detail line, or "" when it is not there.
std::string ssWord(const std::string& line, const std::string& name) {
  std::istringstream in(line);
  std::string word;
  while (in >> word) {
    if (word.rfind(name + ":", 0) == 0) {
      return word.substr(name.size() + 1);
    }
  }
  return "";
}

TEST_F(TcpInfoLive, AKnownTransferIsAckedAndReceivedInFull) {
  constexpr std::size_t kBytes = 100'000;
  InNamespace in(ns_->path());
  Fd listener = listenOn(8);
  const std::uint16_t port = portOf(listener.fd);
  Fd client = connectTo(port);
  Fd server(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(server.fd, 0);
  const std::string data(kBytes, 'x');
  std::size_t sent = 0;
  std::size_t received = 0;
  std::vector<char> buf(65536);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((received < kBytes || unackedOf(client.fd) != 0) &&
         std::chrono::steady_clock::now() < deadline) {
    if (sent < kBytes) {
      const ssize_t n = ::send(client.fd, data.data() + sent, kBytes - sent, MSG_DONTWAIT);
      sent += n > 0 ? static_cast<std::size_t>(n) : 0;
    }
    const ssize_t n = ::recv(server.fd, buf.data(), buf.size(), MSG_DONTWAIT);
    received += n > 0 ? static_cast<std::size_t>(n) : 0;
    if (n <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  ASSERT_EQ(received, kBytes);

  const ScanResult r = scan(true);
  const Socket* c = find(r, portOf(client.fd), port);
  const Socket* s = find(r, port, portOf(client.fd));
  ASSERT_NE(c, nullptr);
  ASSERT_NE(s, nullptr);
  ASSERT_TRUE(c->tcp && c->tcp->hasInfo());
  ASSERT_TRUE(s->tcp && s->tcp->hasInfo());
  // bytes_acked also counts the SYN's sequence number on the side that sent it.
  const auto acked = c->tcp->field(TcpInfoField::BytesAcked);
  ASSERT_TRUE(acked.has_value());
  EXPECT_GE(*acked, kBytes);
  EXPECT_LE(*acked, kBytes + 1);
  EXPECT_EQ(s->tcp->field(TcpInfoField::BytesReceived), kBytes);
  const auto bytes_sent = c->tcp->field(TcpInfoField::BytesSent);
  if (bytes_sent) {  // Linux >= 4.19
    EXPECT_GE(*bytes_sent, kBytes);
  }
  EXPECT_GT(c->tcp->field(TcpInfoField::SegsOut).value_or(0), 1u);
  EXPECT_EQ(c->tcp->field(TcpInfoField::Unacked), 0u);
}

TEST_F(TcpInfoLive, WithoutTheOptionNoDetailsAreAsked) {
  InNamespace in(ns_->path());
  Fd listener = listenOn(8);
  Fd client = connectTo(portOf(listener.fd));
  const ScanResult r = scan(false);
  ASSERT_FALSE(r.sockets.empty());
  for (const Socket& s : r.sockets) {
    EXPECT_EQ(s.tcp, nullptr);
  }
}

TEST_F(TcpInfoLive, AFullAcceptQueueShowsItsLengthAndMaximumAsSsDoes) {
  InNamespace in(ns_->path());
  Fd listener = listenOn(4);
  const std::uint16_t port = portOf(listener.fd);
  std::vector<Fd> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(connectTo(port));  // never accepted
  }
  // The handshake completes on loopback before connect() returns; the child lands in the
  // queue in the same softirq.
  const ScanResult r = scan(true);
  const Socket* l = find(r, port, 0);
  ASSERT_NE(l, nullptr);
  EXPECT_EQ(l->state, static_cast<std::uint8_t>(TcpState::Listen));
  ASSERT_TRUE(l->accept_queue_max.has_value());

  const auto ss = ns_->run({"ss", "-tlnH"});
  ASSERT_TRUE(ss.ok()) << ss.err;
  std::istringstream row(ss.out);
  std::string state, recvq, sendq, local;
  row >> state >> recvq >> sendq >> local;
  EXPECT_EQ(local, "127.0.0.1:" + std::to_string(port));
  EXPECT_EQ(std::to_string(l->rx_queue), recvq);
  EXPECT_EQ(std::to_string(*l->accept_queue_max), sendq);
  EXPECT_EQ(l->rx_queue, 5u);
  EXPECT_EQ(*l->accept_queue_max, 4u);
  ASSERT_TRUE(l->tcp && l->tcp->hasInfo());
  EXPECT_EQ(l->tcp->field(TcpInfoField::Unacked), 5u);  // tcp_info says the same for a listener
  EXPECT_EQ(l->tcp->field(TcpInfoField::Sacked), 4u);
}

TEST_F(TcpInfoLive, CongestionAndMssAreWhatSsSays) {
  InNamespace in(ns_->path());
  Fd listener = listenOn(8);
  const std::uint16_t port = portOf(listener.fd);
  Fd client = connectTo(port);
  Fd server(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_GE(server.fd, 0);
  const ScanResult r = scan(true);
  const auto ss = ssDetails();
  int compared = 0;
  for (const Socket& s : r.sockets) {
    if (s.state != static_cast<std::uint8_t>(TcpState::Established)) {
      continue;
    }
    const std::string key =
        "127.0.0.1:" + std::to_string(s.local.port) + " 127.0.0.1:" + std::to_string(s.remote.port);
    ASSERT_TRUE(ss.contains(key)) << key;
    const std::string& line = ss.at(key);
    ASSERT_TRUE(s.tcp);
    EXPECT_NE(line.find(" " + s.tcp->congestion + " "), std::string::npos) << line;
    EXPECT_EQ(ssWord(line, "mss"), std::to_string(*s.tcp->field(TcpInfoField::SndMss))) << line;
    EXPECT_EQ(ssWord(line, "cwnd"), std::to_string(*s.tcp->field(TcpInfoField::SndCwnd))) << line;
    EXPECT_EQ(ssWord(line, "rcvmss"), std::to_string(*s.tcp->field(TcpInfoField::RcvMss))) << line;
    ++compared;
  }
  EXPECT_EQ(compared, 2);
}

}  // namespace
}  // namespace podnetstat::scanner
