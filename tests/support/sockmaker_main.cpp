// sockmaker: a socket zoo for the live tests. Run it inside a network namespace; it opens
// sockets of every transport in as many states as can be made to hold still, prints one line
// per socket and then `READY`, and sleeps until it is killed or its lifetime ends.
//
// Output (stdout, one line each, written atomically):
//   <label> <inode> <pids>   a socket; inode from fstat() of the fd (0 when the socket has no
//                            fd: TIME_WAIT, accept-queue and request socks); pids = the owners,
//                            comma-separated ascending, `-` when none
//   SKIP <label> <reason>    an optional socket that could not be made here (e.g. no UDP-Lite)
//   READY                    everything above is in place
//   <label> <inode> <pid>    after READY: connections accepted from peers in other namespaces
// Churn mode (--churn SECONDS) instead forks short-lived socket holders in a bounded loop (at most
// --churn-max of them, default 20000), prints `DONE <children>` at the end and then sleeps like the
// zoo does (the children are all gone).
//
// Everything is bounded: retry loops by count and time, the process by --lifetime (its forked
// children die with it: PR_SET_PDEATHSIG, and they share its process group).

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kIcmpFilter = 1;  // ICMP_FILTER of <linux/icmp.h> (SOL_RAW level)
constexpr uid_t kNobody = 65534;
constexpr int kMaxAccepted = 32;

struct Options {
  int lifetime_s = 120;
  int port_base = 7000;
  std::string unix_dir;
  std::string listen_v4;
  std::string listen_v6;
  std::string peer_v4;
  std::string peer_v6;
  std::string blackhole_v4;
  std::string blackhole_v6;
  std::string spoof_from_v4;
  std::string long_v6;
  bool children = true;
  int churn_s = 0;
  int churn_max = 20000;
};

// Port layout, relative to --port-base (every namespace has its own port space).
enum PortOffset : int {
  kTcpAny = 0,
  kTcpLoKeepalive = 1,
  kTcpBacklog = 2,
  kTcpHalfClose = 3,
  kTcpTimeWait = 4,
  kTcpWindowFull = 5,
  kTcpFinWait1 = 6,
  kTcpLastAck = 7,
  kTcpDualStack = 8,
  kTcp6Only = 9,
  kTcp6Loopback = 10,
  kTcpShared = 11,
  kTcpNobody = 12,
  kTcpLongV6 = 13,
  kTcpBoundOnly = 15,
  kCrossNamespace = 20,
  kSynRecv = 21,
  kSynSent = 22,
  kUdpAny = 0,
  kUdpQueued = 1,
  kUdpConnectedSrc = 2,
  kUdp6Only = 3,
  kUdpMapped = 4,
  kUdpLite = 5,
  kUdpLite6 = 6,
  kUdpNobody = 12,
  kUdpShared = 11,
};

// Children of the zoo, for die() and the signal handler (written before it is installed).
pid_t g_main_pid = 0;
pid_t g_children[4] = {};
int g_child_count = 0;

// Kills and reaps the main process's children, so that none is left behind as a zombie for init
// to collect. Async-signal-safe.
void reapChildren() {
  if (getpid() != g_main_pid) {
    return;  // a forked child: its copy of g_children names its siblings
  }
  for (int i = 0; i < g_child_count; ++i) {
    kill(g_children[i], SIGKILL);
  }
  for (;;) {
    const pid_t reaped = waitpid(-1, nullptr, 0);  // churn children end within 20 ms
    if (reaped < 0 && errno != EINTR) {
      break;
    }
  }
}

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "sockmaker[%d]: %s: %s\n", getpid(), what.c_str(), std::strerror(errno));
  reapChildren();
  std::exit(1);
}

void writeLine(const std::string& line) {
  std::string text = line + "\n";
  // One write per line: lines of the parent and its children never interleave (< PIPE_BUF).
  if (write(STDOUT_FILENO, text.data(), text.size()) < 0) {
    std::exit(1);
  }
}

std::uint64_t inodeOf(int fd) {
  struct stat st {};

  if (fstat(fd, &st) != 0) {
    die("fstat");
  }
  return st.st_ino;
}

std::string pidList(const std::vector<pid_t>& pids) {
  if (pids.empty()) {
    return "-";
  }
  std::vector<pid_t> sorted = pids;
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (pid_t p : sorted) {
    if (!out.empty()) {
      out += ',';
    }
    out += std::to_string(p);
  }
  return out;
}

void emit(std::string_view label, int fd, const std::vector<pid_t>& owners = {}) {
  std::vector<pid_t> pids = owners.empty() ? std::vector<pid_t>{getpid()} : owners;
  writeLine(std::string(label) + " " + std::to_string(inodeOf(fd)) + " " + pidList(pids));
}

void emitNoFd(std::string_view label) {
  writeLine(std::string(label) + " 0 -");
}

void skip(std::string_view label, std::string_view reason) {
  writeLine("SKIP " + std::string(label) + " " + std::string(reason));
}

// An address of either family, with the length bind()/connect() want.
struct SockAddr {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_UNSPEC;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

std::optional<SockAddr> parseAddress(const std::string& ip, int port) {
  SockAddr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<std::uint16_t>(port));
    a.length = sizeof(sockaddr_in);
    a.family = AF_INET;
    return a;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<std::uint16_t>(port));
    a.length = sizeof(sockaddr_in6);
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

SockAddr mustParse(const std::string& ip, int port) {
  auto a = parseAddress(ip, port);
  if (!a) {
    errno = EINVAL;
    die("bad address " + ip);
  }
  return *a;
}

void setInt(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0) {
    die(what);
  }
}

int makeSocket(int family, int type, int protocol = 0) {
  int fd = socket(family, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) {
    die("socket");
  }
  return fd;
}

void bindTo(int fd, const SockAddr& a, const std::string& what) {
  if (bind(fd, a.get(), a.length) != 0) {
    die("bind " + what);
  }
}

struct ListenOptions {
  int backlog = 16;
  std::optional<bool> v6only = std::nullopt;
  int rcvbuf = 0;  // set before listen(), inherited by accepted sockets
};

int tcpListen(const std::string& ip, int port, const ListenOptions& opts = {}) {
  SockAddr a = mustParse(ip, port);
  int fd = makeSocket(a.family, SOCK_STREAM);
  setInt(fd, SOL_SOCKET, SO_REUSEADDR, 1, "SO_REUSEADDR");
  if (opts.v6only) {
    setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, *opts.v6only ? 1 : 0, "IPV6_V6ONLY");
  }
  if (opts.rcvbuf > 0) {
    setInt(fd, SOL_SOCKET, SO_RCVBUF, opts.rcvbuf, "SO_RCVBUF");
  }
  bindTo(fd, a, ip + ":" + std::to_string(port));
  if (listen(fd, opts.backlog) != 0) {
    die("listen");
  }
  return fd;
}

int tcpState(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) {
    die("TCP_INFO");
  }
  return info.tcpi_state;
}

// Waits (bounded) until the socket reaches `state`; the kernel moves loopback connections along
// in softirq context, which is quick but not synchronous with our calls.
void waitTcpState(int fd, int state, const char* what) {
  auto deadline = Clock::now() + milliseconds(2000);
  while (tcpState(fd) != state) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "sockmaker: %s: state %d, wanted %d\n", what, tcpState(fd), state);
      std::exit(1);
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

int tcpConnect(const SockAddr& to, int rcvbuf = 0) {
  int fd = makeSocket(to.family, SOCK_STREAM);
  if (rcvbuf > 0) {
    setInt(fd, SOL_SOCKET, SO_RCVBUF, rcvbuf, "SO_RCVBUF");
  }
  if (connect(fd, to.get(), to.length) != 0) {
    die("connect");
  }
  return fd;
}

int acceptOne(int listener) {
  // Bounded: the peer connected before we call accept, so it is queued already.
  pollfd p{listener, POLLIN, 0};
  if (poll(&p, 1, 2000) != 1) {
    errno = ETIMEDOUT;
    die("accept (nothing queued)");
  }
  int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) {
    die("accept");
  }
  return fd;
}

struct Pair {
  int client = -1;
  int server = -1;
};

Pair tcpPair(int listener, const std::string& ip, int port, int client_rcvbuf = 0) {
  Pair p;
  p.client = tcpConnect(mustParse(ip, port), client_rcvbuf);
  p.server = acceptOne(listener);
  return p;
}

// Sends until the peer's receive window and our send buffer are full (bounded by count), so
// the queues stop moving: Send-Q stays > 0 and the zero-window probe timer runs.
void fillWindow(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    die("O_NONBLOCK");
  }
  std::vector<char> chunk(16384, 'x');
  for (int round = 0; round < 10; ++round) {
    bool sent_any = false;
    for (int i = 0; i < 256; ++i) {
      ssize_t n = send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          break;
        }
        die("send");
      }
      sent_any = true;
    }
    if (!sent_any && round > 0) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

void sendAll(int fd, std::string_view data) {
  if (send(fd, data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size())) {
    die("send");
  }
}

// ---------------------------------------------------------------------------------- TCP

void makeTcp(const Options& o) {
  const int b = o.port_base;
  emit("tcp4-listen-any", tcpListen("0.0.0.0", b + kTcpAny));

  int lo = tcpListen("127.0.0.1", b + kTcpLoKeepalive);
  emit("tcp4-listen-lo", lo);
  Pair ka = tcpPair(lo, "127.0.0.1", b + kTcpLoKeepalive);
  setInt(ka.client, SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
  setInt(ka.client, IPPROTO_TCP, TCP_KEEPIDLE, 7200, "TCP_KEEPIDLE");
  sendAll(ka.client, std::string(100, 'k'));  // the server never reads: Recv-Q 100
  emit("tcp4-est-keepalive-client", ka.client);
  emit("tcp4-est-keepalive-server", ka.server);

  // Two connections nobody accepts: the listener's Recv-Q is the accept-queue length (2), the
  // server sides are ESTABLISHED rows with inode 0.
  int backlog =
      tcpListen("127.0.0.1", b + kTcpBacklog, {.backlog = 4, .v6only = std::nullopt, .rcvbuf = 0});
  emit("tcp4-listen-backlog2", backlog);
  int p1 = tcpConnect(mustParse("127.0.0.1", b + kTcpBacklog));
  int p2 = tcpConnect(mustParse("127.0.0.1", b + kTcpBacklog));
  emit("tcp4-est-unaccepted-client1", p1);
  emit("tcp4-est-unaccepted-client2", p2);
  emitNoFd("tcp4-est-unaccepted-server1");
  emitNoFd("tcp4-est-unaccepted-server2");

  // shutdown(SHUT_WR) by the client: FIN_WAIT2 / CLOSE_WAIT (Recv-Q 1, the FIN).
  int hc = tcpListen("127.0.0.1", b + kTcpHalfClose);
  emit("tcp4-listen-halfclose", hc);
  Pair half = tcpPair(hc, "127.0.0.1", b + kTcpHalfClose);
  shutdown(half.client, SHUT_WR);
  waitTcpState(half.client, TCP_FIN_WAIT2, "FIN_WAIT2");
  waitTcpState(half.server, TCP_CLOSE_WAIT, "CLOSE_WAIT");
  emit("tcp4-finwait2", half.client);
  emit("tcp4-closewait", half.server);

  // Active close by the client: TIME_WAIT for 60 s, no fd.
  int tw = tcpListen("127.0.0.1", b + kTcpTimeWait);
  emit("tcp4-listen-timewait", tw);
  Pair twp = tcpPair(tw, "127.0.0.1", b + kTcpTimeWait);
  close(twp.client);
  waitTcpState(twp.server, TCP_CLOSE_WAIT, "CLOSE_WAIT before TIME_WAIT");
  close(twp.server);
  std::this_thread::sleep_for(milliseconds(20));
  emitNoFd("tcp4-timewait");

  // A receiver with a tiny buffer that never reads: the sender's Send-Q stays > 0.
  int wf = tcpListen("127.0.0.1", b + kTcpWindowFull,
                     {.backlog = 16, .v6only = std::nullopt, .rcvbuf = 4096});
  emit("tcp4-listen-windowfull", wf);
  Pair full = tcpPair(wf, "127.0.0.1", b + kTcpWindowFull);
  fillWindow(full.client);
  emit("tcp4-est-sendq-client", full.client);
  emit("tcp4-est-recvq-server", full.server);

  // The same, then shutdown(SHUT_WR): the FIN waits behind the data -> FIN_WAIT1 holds.
  int fw1 = tcpListen("127.0.0.1", b + kTcpFinWait1,
                      {.backlog = 16, .v6only = std::nullopt, .rcvbuf = 4096});
  emit("tcp4-listen-finwait1", fw1);
  Pair f1 = tcpPair(fw1, "127.0.0.1", b + kTcpFinWait1);
  fillWindow(f1.client);
  shutdown(f1.client, SHUT_WR);
  waitTcpState(f1.client, TCP_FIN_WAIT1, "FIN_WAIT1");
  emit("tcp4-finwait1", f1.client);
  emit("tcp4-est-finwait1-peer", f1.server);

  // Client half-closes; the server (CLOSE_WAIT) fills the client's window and half-closes too:
  // its FIN waits behind the data -> LAST_ACK holds; the client stays FIN_WAIT2.
  int la = tcpListen("127.0.0.1", b + kTcpLastAck);
  emit("tcp4-listen-lastack", la);
  Pair last = tcpPair(la, "127.0.0.1", b + kTcpLastAck, 4096);
  shutdown(last.client, SHUT_WR);
  waitTcpState(last.server, TCP_CLOSE_WAIT, "CLOSE_WAIT before LAST_ACK");
  fillWindow(last.server);
  shutdown(last.server, SHUT_WR);
  waitTcpState(last.server, TCP_LAST_ACK, "LAST_ACK");
  emit("tcp4-lastack", last.server);
  emit("tcp4-finwait2-lastack-peer", last.client);

  // Dual-stack listener; an IPv4 client's accepted socket is tcp6 ::ffff:127.0.0.1.
  int ds = tcpListen("::", b + kTcpDualStack, {.backlog = 16, .v6only = false, .rcvbuf = 0});
  emit("tcp6-listen-dualstack", ds);
  Pair mapped = tcpPair(ds, "127.0.0.1", b + kTcpDualStack);
  emit("tcp4-est-to-dualstack", mapped.client);
  emit("tcp6-est-v4mapped", mapped.server);

  emit("tcp6-listen-any-v6only",
       tcpListen("::", b + kTcp6Only, {.backlog = 16, .v6only = true, .rcvbuf = 0}));
  int l6 = tcpListen("::1", b + kTcp6Loopback);
  emit("tcp6-listen-lo", l6);
  Pair p6 = tcpPair(l6, "::1", b + kTcp6Loopback);
  emit("tcp6-est-lo-client", p6.client);
  emit("tcp6-est-lo-server", p6.server);

  if (!o.long_v6.empty()) {
    int ll = tcpListen(o.long_v6, b + kTcpLongV6);
    emit("tcp6-listen-long", ll);
    Pair lp = tcpPair(ll, o.long_v6, b + kTcpLongV6);
    emit("tcp6-est-long-client", lp.client);
    emit("tcp6-est-long-server", lp.server);
  }

  // Bound but neither listening nor connected: absent from /proc/net/tcp.
  int bound = makeSocket(AF_INET, SOCK_STREAM);
  bindTo(bound, mustParse("127.0.0.1", b + kTcpBoundOnly), "bound-only");
  emit("tcp4-bound-only-absent", bound);

  for (const auto& [ip, label] :
       {std::pair{o.blackhole_v4, "tcp4-synsent"}, std::pair{o.blackhole_v6, "tcp6-synsent"}}) {
    if (ip.empty()) {
      continue;
    }
    SockAddr to = mustParse(ip, b + kSynSent);
    int fd = makeSocket(to.family, SOCK_STREAM | SOCK_NONBLOCK);
    if (connect(fd, to.get(), to.length) == 0 || errno != EINPROGRESS) {
      die("connect to black hole");
    }
    waitTcpState(fd, TCP_SYN_SENT, "SYN_SENT");
    emit(label, fd);
  }
}

std::uint16_t checksum(const std::uint8_t* data, std::size_t len, std::uint32_t sum = 0) {
  for (std::size_t i = 0; i + 1 < len; i += 2) {
    sum += static_cast<std::uint32_t>(data[i] << 8 | data[i + 1]);
  }
  if (len % 2) {
    sum += static_cast<std::uint32_t>(data[len - 1] << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

// A bare SYN from a black-holed neighbour to our listener: the SYN-ACK goes nowhere, so the
// request sock stays SYN_RECV (inode 0) for about a minute of retransmissions.
void spoofSyn(const Options& o) {
  const int port = o.port_base + kSynRecv;
  int listener = tcpListen(o.listen_v4, port);
  emit("tcp4-listen-synrecv", listener);
  in_addr src{};
  in_addr dst{};
  if (inet_pton(AF_INET, o.spoof_from_v4.c_str(), &src) != 1 ||
      inet_pton(AF_INET, o.listen_v4.c_str(), &dst) != 1) {
    skip("tcp4-synrecv", "bad-address");
    return;
  }
  std::uint8_t pkt[40] = {};
  pkt[0] = 0x45;
  pkt[3] = sizeof pkt;
  pkt[6] = 0x40;  // DF
  pkt[8] = 64;    // TTL
  pkt[9] = IPPROTO_TCP;
  std::memcpy(pkt + 12, &src, 4);
  std::memcpy(pkt + 16, &dst, 4);
  std::uint8_t* tcp = pkt + 20;
  const int sport = 40404;
  tcp[0] = sport >> 8;
  tcp[1] = sport & 0xff;
  tcp[2] = static_cast<std::uint8_t>(port >> 8);
  tcp[3] = static_cast<std::uint8_t>(port & 0xff);
  tcp[4] = 0x12;  // sequence number
  tcp[5] = 0x34;
  tcp[12] = 5 << 4;  // data offset
  tcp[13] = 0x02;    // SYN
  tcp[14] = 0xfa;    // window 64240
  tcp[15] = 0xf0;
  std::uint8_t pseudo[12 + 20] = {};
  std::memcpy(pseudo, &src, 4);
  std::memcpy(pseudo + 4, &dst, 4);
  pseudo[9] = IPPROTO_TCP;
  pseudo[11] = 20;
  std::memcpy(pseudo + 12, tcp, 20);
  std::uint16_t sum = checksum(pseudo, sizeof pseudo);
  tcp[16] = static_cast<std::uint8_t>(sum >> 8);
  tcp[17] = static_cast<std::uint8_t>(sum & 0xff);
  std::uint16_t ipsum = checksum(pkt, 20);
  pkt[10] = static_cast<std::uint8_t>(ipsum >> 8);
  pkt[11] = static_cast<std::uint8_t>(ipsum & 0xff);

  int raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (raw < 0) {
    skip("tcp4-synrecv", "no-raw-socket");
    return;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = dst;
  if (sendto(raw, pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
    skip("tcp4-synrecv", "sendto-failed");
  } else {
    emitNoFd("tcp4-synrecv");
  }
  close(raw);
}

void makeCrossNamespace(const Options& o, std::vector<int>& listeners) {
  const int port = o.port_base + kCrossNamespace;
  if (!o.listen_v4.empty()) {
    int fd = tcpListen(o.listen_v4, port);
    emit("tcp4-listen-xns", fd);
    listeners.push_back(fd);
  }
  if (!o.listen_v6.empty()) {
    int fd = tcpListen(o.listen_v6, port);
    emit("tcp6-listen-xns", fd);
    listeners.push_back(fd);
  }
  if (!o.peer_v4.empty()) {
    emit("tcp4-est-xns-client", tcpConnect(mustParse(o.peer_v4, port)));
  }
  if (!o.peer_v6.empty()) {
    emit("tcp6-est-xns-client", tcpConnect(mustParse(o.peer_v6, port)));
  }
}

// ---------------------------------------------------------------------------------- UDP

int udpBound(const std::string& ip, int port, int protocol = 0, std::optional<bool> v6only = {}) {
  SockAddr a = mustParse(ip, port);
  int fd = makeSocket(a.family, SOCK_DGRAM, protocol);
  if (v6only) {
    setInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, *v6only ? 1 : 0, "IPV6_V6ONLY");
  }
  bindTo(fd, a, ip + ":" + std::to_string(port));
  return fd;
}

void connectTo(int fd, const SockAddr& to) {
  if (connect(fd, to.get(), to.length) != 0) {
    die("connect");
  }
}

void makeUdp(const Options& o) {
  const int b = o.port_base;
  emit("udp4-bound-any", udpBound("0.0.0.0", b + kUdpAny));
  int queued = udpBound("127.0.0.1", b + kUdpQueued);
  emit("udp4-bound-lo-recvq", queued);
  int client = udpBound("127.0.0.1", b + kUdpConnectedSrc);
  connectTo(client, mustParse("127.0.0.1", b + kUdpQueued));
  for (int i = 0; i < 3; ++i) {
    sendAll(client, "datagram-" + std::to_string(i));
  }
  emit("udp4-connected", client);

  emit("udp6-bound-any-v6only", udpBound("::", b + kUdp6Only, 0, true));
  int c6 = makeSocket(AF_INET6, SOCK_DGRAM);
  connectTo(c6, mustParse("::1", b + kUdp6Only));
  emit("udp6-connected-lo", c6);
  emit("udp6-bound-v4mapped", udpBound("::ffff:127.0.0.1", b + kUdpMapped, 0, false));

  // UDP-Lite (gone from Linux 7.1).
  int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDPLITE);
  if (probe < 0) {
    skip("udplite", std::strerror(errno));
    return;
  }
  close(probe);
  int lite = udpBound("127.0.0.1", b + kUdpLite, IPPROTO_UDPLITE);
  emit("udplite4-bound-lo", lite);
  int lite_client = makeSocket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
  connectTo(lite_client, mustParse("127.0.0.1", b + kUdpLite));
  sendAll(lite_client, "lite");
  emit("udplite4-connected", lite_client);
  emit("udplite6-bound-lo", udpBound("::1", b + kUdpLite6, IPPROTO_UDPLITE));
}

// ---------------------------------------------------------------------------------- raw

// Raw ICMP sockets get a copy of every ICMP packet of the namespace (neighbour discovery, MLD...),
// which would make Recv-Q move between two reads; the filters block every type.
void blockAllIcmp(int fd) {
  std::uint32_t mask = 0xffffffffU;
  if (setsockopt(fd, SOL_RAW, kIcmpFilter, &mask, sizeof mask) != 0) {
    die("ICMP_FILTER");
  }
}

void blockAllIcmp6(int fd) {
  icmp6_filter filter{};
  ICMP6_FILTER_SETBLOCKALL(&filter);
  if (setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter) != 0) {
    die("ICMP6_FILTER");
  }
}

void makeRaw() {
  int icmp = makeSocket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
  blockAllIcmp(icmp);
  emit("raw4-icmp", icmp);
  int ipraw = makeSocket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  bindTo(ipraw, mustParse("127.0.0.1", 0), "raw 127.0.0.1");
  emit("raw4-ipproto-raw-bound-lo", ipraw);
  int connected = makeSocket(AF_INET, SOCK_RAW, 253);
  connectTo(connected, mustParse("127.0.0.1", 0));
  emit("raw4-proto253-connected", connected);
  int icmp6 = makeSocket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
  blockAllIcmp6(icmp6);
  emit("raw6-icmpv6", icmp6);
  int raw6 = makeSocket(AF_INET6, SOCK_RAW, 253);
  bindTo(raw6, mustParse("::1", 0), "raw6 ::1");
  emit("raw6-proto253-bound-lo", raw6);
  int raw6c = makeSocket(AF_INET6, SOCK_RAW, 253);
  connectTo(raw6c, mustParse("::1", 0));
  emit("raw6-proto253-connected", raw6c);

  // A ping socket: only in /proc/net/icmp, which netstat does not read.
  int ping = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (ping < 0) {
    skip("icmp-ping-invisible", std::strerror(errno));
    return;
  }
  SockAddr lo = mustParse("127.0.0.1", 0);
  if (bind(ping, lo.get(), lo.length) != 0) {
    skip("icmp-ping-invisible", std::strerror(errno));
    close(ping);
    return;
  }
  emit("icmp-ping-invisible", ping);
}

// ---------------------------------------------------------------------------------- unix

SockAddr unixAddress(std::string_view name) {
  SockAddr a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
  un->sun_family = AF_UNIX;
  if (name.size() >= sizeof un->sun_path) {
    errno = ENAMETOOLONG;
    die("unix path");
  }
  std::memcpy(un->sun_path, name.data(), name.size());  // may start with '\0' (abstract)
  a.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() +
                                    (!name.empty() && name[0] != '\0' ? 1 : 0));
  a.family = AF_UNIX;
  return a;
}

int unixBound(int type, std::string_view name) {
  int fd = makeSocket(AF_UNIX, type);
  if (!name.empty() && name[0] != '\0') {
    unlink(std::string(name).c_str());
  }
  SockAddr a = unixAddress(name);
  if (bind(fd, a.get(), a.length) != 0) {
    die("bind unix " + std::string(name));
  }
  return fd;
}

int unixListen(int type, std::string_view name) {
  int fd = unixBound(type, name);
  if (listen(fd, 8) != 0) {
    die("listen unix");
  }
  return fd;
}

void makeUnix(const Options& o) {
  const std::string tag = std::to_string(getpid());
  if (!o.unix_dir.empty()) {
    const std::string dir = o.unix_dir + "/";
    int ls = unixListen(SOCK_STREAM, dir + "stream.sock");
    emit("unix-stream-listen-path", ls);
    int client = makeSocket(AF_UNIX, SOCK_STREAM);
    connectTo(client, unixAddress(dir + "stream.sock"));
    int server = acceptOne(ls);
    sendAll(client, std::string(1000, 'u'));
    emit("unix-stream-client-unnamed", client);
    emit("unix-stream-accepted-path", server);

    int dg = unixBound(SOCK_DGRAM, dir + "dgram.sock");
    emit("unix-dgram-bound-path", dg);
    int dgc = makeSocket(AF_UNIX, SOCK_DGRAM);
    connectTo(dgc, unixAddress(dir + "dgram.sock"));
    sendAll(dgc, "dgram");
    emit("unix-dgram-connected", dgc);

    emit("unix-seqpacket-listen-path", unixListen(SOCK_SEQPACKET, dir + "seqpacket.sock"));
    // netstat reads the path with %s: it stops at the blank.
    emit("unix-stream-listen-path-with-space", unixListen(SOCK_STREAM, dir + "with space.sock"));
  } else {
    skip("unix-path-sockets", "no-unix-dir");
  }
  const std::string abstract = std::string(1, '\0') + "podnetstat-sockmaker-" + tag;
  emit("unix-stream-listen-abstract", unixListen(SOCK_STREAM, abstract));
  const std::string nuls = std::string(1, '\0') + "pns" + std::string(1, '\0') + "with" +
                           std::string(1, '\0') + "nuls" + tag;
  emit("unix-dgram-abstract-nuls", unixBound(SOCK_DGRAM, nuls));
  int sp[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
    die("socketpair");
  }
  emit("unix-socketpair-stream-a", sp[0]);
  emit("unix-socketpair-stream-b", sp[1]);
  int dp[2];
  if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, dp) != 0) {
    die("socketpair");
  }
  emit("unix-socketpair-dgram-a", dp[0]);
  emit("unix-socketpair-dgram-b", dp[1]);
  emit("unix-stream-unbound", makeSocket(AF_UNIX, SOCK_STREAM));
}

// ---------------------------------------------------------------------------------- children

// SIGTERM/SIGALRM, and the end of the lifetime: exit with the children reaped.
extern "C" void onTerminate(int /*signal*/) {
  reapChildren();
  _exit(0);
}

void installTerminateHandler() {
  struct sigaction action {};

  action.sa_handler = onTerminate;
  sigfillset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGALRM, &action, nullptr);
}

// In a forked child: the default dispositions again.
void resetSignals() {
  signal(SIGTERM, SIG_DFL);
  signal(SIGALRM, SIG_DFL);
}

void dieWithParent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) {
    _exit(0);
  }
}

[[noreturn]] void sleepUntilKilled(int lifetime_s) {
  alarm(static_cast<unsigned>(lifetime_s));
  for (;;) {
    pause();
  }
}

// Forks a child that runs `work` and then sleeps; returns once it reported through `sync`.
template <typename Work>
pid_t forkChild(const Options& o, Work work) {
  int sync[2];
  if (pipe2(sync, O_CLOEXEC) != 0) {
    die("pipe");
  }
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    die("fork");
  }
  if (pid == 0) {
    resetSignals();
    close(sync[0]);
    work();
    dieWithParent(parent);  // after setuid(): a credential change clears PDEATHSIG
    char one = 1;
    if (write(sync[1], &one, 1) != 1) {
      _exit(1);
    }
    close(sync[1]);
    sleepUntilKilled(o.lifetime_s);
  }
  close(sync[1]);
  if (g_child_count < 4) {
    g_children[g_child_count++] = pid;
  }
  pollfd p{sync[0], POLLIN, 0};
  char byte = 0;
  if (poll(&p, 1, 5000) != 1 || read(sync[0], &byte, 1) != 1) {
    errno = ECHILD;
    die("child did not report");
  }
  close(sync[0]);
  return pid;
}

// A listener and a UDP socket shared by the parent and two children (one of them running as
// nobody, so it is not dumpable), and sockets of the nobody child's own (uid 65534).
void makeShared(const Options& o) {
  const int b = o.port_base;
  int shared = tcpListen("127.0.0.1", b + kTcpShared);
  int shared_udp = udpBound("127.0.0.1", b + kUdpShared);
  std::vector<pid_t> owners{getpid()};
  if (!o.children) {
    emit("tcp4-listen-shared", shared, owners);
    emit("udp4-bound-shared", shared_udp, owners);
    return;
  }
  owners.push_back(forkChild(o, [] {}));
  owners.push_back(forkChild(o, [&] {
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) {
      die("setuid(65534)");
    }
    close(shared_udp);  // the UDP socket stays with the parent and the first child
    emit("tcp4-listen-nobody", tcpListen("127.0.0.1", b + kTcpNobody));
    emit("udp4-bound-nobody", udpBound("0.0.0.0", b + kUdpNobody));
  }));
  emit("tcp4-listen-shared", shared, owners);
  emit("udp4-bound-shared", shared_udp, {owners[0], owners[1]});
}

// ---------------------------------------------------------------------------------- churn

// Short-lived socket holders, forked and reaped in a loop bounded by time and count, so that
// processes appear and vanish while a scan runs.
int churn(const Options& o) {
  const auto deadline = Clock::now() + std::chrono::seconds(o.churn_s);
  const pid_t parent = getpid();
  int started = 0;
  int live = 0;
  for (int i = 0; i < o.churn_max && Clock::now() < deadline; ++i) {
    while (live > 0 && waitpid(-1, nullptr, WNOHANG) > 0) {
      --live;
    }
    if (live >= 16) {
      std::this_thread::sleep_for(milliseconds(1));
      continue;
    }
    pid_t pid = fork();
    if (pid < 0) {
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    if (pid == 0) {
      resetSignals();
      dieWithParent(parent);
      int t = socket(AF_INET, SOCK_STREAM, 0);
      SockAddr any = mustParse("127.0.0.1", 0);
      if (t >= 0 && bind(t, any.get(), any.length) == 0) {
        listen(t, 1);
      }
      socket(AF_INET6, SOCK_DGRAM, 0);
      int sp[2];
      socketpair(AF_UNIX, SOCK_STREAM, 0, sp);
      std::this_thread::sleep_for(milliseconds(1 + (i * 7) % 20));
      _exit(0);
    }
    ++started;
    ++live;
  }
  while (live > 0 && waitpid(-1, nullptr, 0) > 0) {
    --live;
  }
  writeLine("DONE " + std::to_string(started));
  // Stay, so that the namespace keeps a process through which it can be read.
  sleepUntilKilled(o.lifetime_s);
}

// ---------------------------------------------------------------------------------- main

void acceptLoop(const Options& o, const std::vector<int>& listeners) {
  const auto deadline = Clock::now() + std::chrono::seconds(o.lifetime_s);
  std::vector<int> accepted;
  std::vector<pollfd> fds;
  for (int fd : listeners) {
    fds.push_back({fd, POLLIN, 0});
  }
  while (Clock::now() < deadline) {
    if (fds.empty() || static_cast<int>(accepted.size()) >= kMaxAccepted) {
      std::this_thread::sleep_for(milliseconds(200));
      continue;
    }
    if (poll(fds.data(), fds.size(), 200) <= 0) {
      continue;
    }
    for (const pollfd& p : fds) {
      if (!(p.revents & POLLIN)) {
        continue;
      }
      int fd = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        continue;
      }
      sockaddr_storage local{};
      socklen_t len = sizeof local;
      getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
      emit(local.ss_family == AF_INET6 ? "tcp6-est-xns-accepted" : "tcp4-est-xns-accepted", fd);
      accepted.push_back(fd);
    }
  }
}

void usage() {
  std::fputs(
      "usage: sockmaker [--lifetime S] [--port-base N] [--unix-dir DIR]\n"
      "                 [--listen-v4 A] [--listen-v6 A] [--peer-v4 A] [--peer-v6 A]\n"
      "                 [--blackhole-v4 A] [--blackhole-v6 A] [--spoof-syn-from A]\n"
      "                 [--long-v6 A] [--no-children] [--churn S] [--churn-max N]\n",
      stderr);
  std::exit(2);
}

Options parseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
      }
      return argv[++i];
    };
    auto number = [&](int lo, int hi) {
      const std::string text = value();
      int n = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec != std::errc() || end != text.data() + text.size() || n < lo || n > hi) {
        usage();
      }
      return n;
    };
    if (arg == "--lifetime") {
      o.lifetime_s = number(1, 3600);
    } else if (arg == "--port-base") {
      o.port_base = number(1, 65000);
    } else if (arg == "--unix-dir") {
      o.unix_dir = value();
    } else if (arg == "--listen-v4") {
      o.listen_v4 = value();
    } else if (arg == "--listen-v6") {
      o.listen_v6 = value();
    } else if (arg == "--peer-v4") {
      o.peer_v4 = value();
    } else if (arg == "--peer-v6") {
      o.peer_v6 = value();
    } else if (arg == "--blackhole-v4") {
      o.blackhole_v4 = value();
    } else if (arg == "--blackhole-v6") {
      o.blackhole_v6 = value();
    } else if (arg == "--spoof-syn-from") {
      o.spoof_from_v4 = value();
    } else if (arg == "--long-v6") {
      o.long_v6 = value();
    } else if (arg == "--no-children") {
      o.children = false;
    } else if (arg == "--churn") {
      o.churn_s = number(1, 60);
    } else if (arg == "--churn-max") {
      o.churn_max = number(1, 20000);
    } else {
      usage();
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parseOptions(argc, argv);
  g_main_pid = getpid();
  // Never outlive the test that started us, nor the lifetime.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  alarm(static_cast<unsigned>(o.lifetime_s + 5));
  signal(SIGPIPE, SIG_IGN);
  installTerminateHandler();
  if (o.churn_s > 0) {
    return churn(o);
  }
  std::vector<int> listeners;
  makeShared(o);  // first, so that the children inherit nothing else
  makeTcp(o);
  if (!o.spoof_from_v4.empty() && !o.listen_v4.empty()) {
    spoofSyn(o);
  }
  makeCrossNamespace(o, listeners);
  makeUdp(o);
  makeRaw();
  makeUnix(o);
  writeLine("READY");
  acceptLoop(o, listeners);
  onTerminate(0);  // lifetime over: take the children along
}
