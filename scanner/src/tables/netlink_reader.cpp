// The netlink sock_diag TableReader. A netlink socket answers for the namespace it was created
// in, so the worker thread enters the namespace (setns through an fd of the named netns file or
// of /proc/<pid>/ns/net), opens a NETLINK_SOCK_DIAG socket, and goes straight back; the dump
// then runs from home. This also reads namespaces no process lives in. It needs CAP_SYS_ADMIN.
//
// Rows are normalized to what procfs prints, so both backends give the same fields: a LISTEN
// socket's Send-Q is 0 (sock_diag reports the backlog there), timers are in 1/100 s ticks, unix
// flags and St are derived from the state. sock_diag has no reference counts (left 0).

#include "netlink_reader.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <string_view>

#include "podnetstat/scanner/tcp_info.h"

#include "sys/netlink.h"
#include "sys/netns_enter.h"
#include "sys/procfs.h"

namespace podnetstat::scanner {
namespace {

using procfs::UniqueFd;

constexpr std::uint32_t kAllStates = 0xffffffffU;

using netlink::align4;
using netlink::Attribute;
using netlink::kHeaderLen;
using netlink::payload;

/// The socket family and protocol of a transport's sock_diag dump.
struct DiagTarget {
  std::uint8_t family;
  std::uint8_t protocol;
};

DiagTarget diagTarget(Transport t) {
  switch (t) {
    case Transport::Tcp:
      return {AF_INET, IPPROTO_TCP};
    case Transport::Tcp6:
      return {AF_INET6, IPPROTO_TCP};
    case Transport::Udp:
      return {AF_INET, IPPROTO_UDP};
    case Transport::Udp6:
      return {AF_INET6, IPPROTO_UDP};
    case Transport::UdpLite:
      return {AF_INET, IPPROTO_UDPLITE};
    case Transport::UdpLite6:
      return {AF_INET6, IPPROTO_UDPLITE};
    case Transport::Raw:
      return {AF_INET, IPPROTO_RAW};
    case Transport::Raw6:
      return {AF_INET6, IPPROTO_RAW};
    case Transport::Unix:
      return {AF_UNIX, 0};
  }
  return {AF_UNSPEC, 0};
}

void fillInet(const inet_diag_msg& m, Transport t, Socket& s) {
  const bool v6 = m.idiag_family == AF_INET6;
  s.transport = t;
  s.local.ip.v6 = v6;
  s.remote.ip.v6 = v6;
  std::memcpy(s.local.ip.bytes.data(), m.id.idiag_src, v6 ? 16 : 4);
  std::memcpy(s.remote.ip.bytes.data(), m.id.idiag_dst, v6 ? 16 : 4);
  s.local.port = ntohs(m.id.idiag_sport);
  s.remote.port = ntohs(m.id.idiag_dport);
  s.state = m.idiag_state;
  s.rx_queue = m.idiag_rqueue;
  const bool listening = m.idiag_state == static_cast<std::uint8_t>(TcpState::Listen);
  s.tx_queue = listening ? 0 : m.idiag_wqueue;
  if (listening && (t == Transport::Tcp || t == Transport::Tcp6)) {
    s.accept_queue_max = m.idiag_wqueue;  // sk_max_ack_backlog
  }
  s.timer.active = m.idiag_timer;
  s.timer.when_ticks = m.idiag_timer == 0 ? 0 : (m.idiag_expires + 9) / 10;
  if (m.idiag_timer == 1) {
    s.timer.retransmits = m.idiag_retrans;  // retransmit timer: icsk_retransmits
  } else if (m.idiag_timer == 2 || m.idiag_timer == 4) {
    s.timeout = m.idiag_retrans;  // keepalive and zero-window probes: icsk_probes_out
  }
  s.uid = m.idiag_uid;
  s.inode = m.idiag_inode;
}

void fillUnix(const unix_diag_msg& m, std::uint32_t payload_len, Socket& s) {
  s.transport = Transport::Unix;
  s.unix_type = m.udiag_type;
  s.inode = m.udiag_ino;
  const bool listening = m.udiag_state == static_cast<std::uint8_t>(TcpState::Listen);
  s.unix_flags = listening ? kUnixFlagAcceptCon : 0;
  s.state =
      static_cast<std::uint8_t>(m.udiag_state == 1 ? UnixState::Connected : UnixState::Unconnected);
  const char* attrs = reinterpret_cast<const char*>(&m) + align4(sizeof m);
  const std::size_t attrs_len = payload_len > align4(sizeof m) ? payload_len - align4(sizeof m) : 0;
  for (std::size_t off = 0; off + sizeof(Attribute) <= attrs_len;) {
    Attribute a{};
    std::memcpy(&a, attrs + off, sizeof a);
    if (a.len < sizeof a || off + a.len > attrs_len) {
      break;
    }
    const char* name = attrs + off + align4(sizeof a);
    const std::size_t name_len = a.len - align4(sizeof a);
    off += align4(a.len);
    if (a.type != UNIX_DIAG_NAME) {
      continue;
    }
    s.unix_path.assign(name, name_len);
    if (!s.unix_path.empty() && s.unix_path.front() == '\0') {
      // Abstract: procfs prints '@' for the leading NUL and for every NUL inside.
      for (char& c : s.unix_path) {
        if (c == '\0') {
          c = '@';
        }
      }
    } else if (auto nul = s.unix_path.find('\0'); nul != std::string::npos) {
      s.unix_path.resize(nul);
    }
    s.unix_has_path = !s.unix_path.empty();
  }
}

/// The attributes after an inet_diag_msg, as TcpDetails; null when none of them came (request
/// and time-wait sockets) or they are malformed (counted by the caller as a skip).
std::shared_ptr<const TcpDetails> tcpDetails(const inet_diag_msg& m,
                                             std::uint32_t payload_len,
                                             bool& malformed) {
  const std::size_t head = align4(sizeof m);
  if (payload_len <= head) {
    return nullptr;
  }
  auto details = std::make_shared<TcpDetails>();
  const std::string_view attrs(reinterpret_cast<const char*>(&m) + head, payload_len - head);
  malformed = !parseTcpDiagAttributes(attrs, *details);
  if (!details->hasInfo() && details->congestion.empty() && details->skmem_count == 0) {
    return nullptr;
  }
  return details;
}

/// The extensions asked of sock_diag for TCP with tcp_info on (inet_diag_req_v2::idiag_ext:
/// bit n-1 asks for attribute n).
constexpr std::uint8_t kTcpExtensions =
    (1U << (INET_DIAG_INFO - 1)) | (1U << (INET_DIAG_CONG - 1)) | (1U << (INET_DIAG_SKMEMINFO - 1));

}  // namespace

NetlinkTableReader::NetlinkTableReader(int proc_fd,
                                       std::filesystem::path netns_dir,
                                       TableReader& fallback,
                                       bool tcp_info)
    : proc_fd_(proc_fd),
      netns_dir_(std::move(netns_dir)),
      fallback_(fallback),
      tcp_info_(tcp_info) {}

procfs::UniqueFd NetlinkTableReader::takeIdleSocket(std::uint64_t netns) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(netns);
  if (it == idle_.end() || it->second.empty()) {
    return {};
  }
  UniqueFd fd = std::move(it->second.back());
  it->second.pop_back();
  return fd;
}

void NetlinkTableReader::returnIdleSocket(std::uint64_t netns, procfs::UniqueFd fd) {
  std::lock_guard lock(mutex_);
  idle_[netns].push_back(std::move(fd));
}

Result<int> NetlinkTableReader::openDiagSocket(const NetNamespace& ns) const {
  return openInside(
      ns, [] { return ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG); });
}

Result<int> NetlinkTableReader::openInside(const NetNamespace& ns,
                                           const std::function<int()>& open_fd) const {
  return openInNamespace(proc_fd_, netns_dir_, ns, open_fd);
}

Result<ParseCounts> NetlinkTableReader::fallback(const NetNamespace& ns,
                                                 Transport transport,
                                                 std::vector<Socket>& out) {
  if (!ns.pids.empty()) {
    return fallback_.read(ns, transport, out);
  }
  // No process to read /proc/<pid>/net through: open the table from inside the namespace (a
  // proc net file answers for the namespace it was opened in).
  const std::string path = "/proc/thread-self/net/" + std::string(transportName(transport));
  int open_errno = 0;
  auto fd = openInside(ns, [&] {
    const int opened = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    open_errno = opened < 0 ? errno : 0;
    return opened;
  });
  if (!fd) {
    if (open_errno == ENOENT) {
      return ParseCounts{};  // no such table in this kernel
    }
    return Error{"cannot open " + std::string(transportName(transport)) + ": " + fd.error().message,
                 fd.error().kind};
  }
  const UniqueFd file(*fd);
  thread_local std::string buf;
  const std::string self = "/proc/self/fd/" + std::to_string(file.get());
  if (const int err = procfs::readFileAt(AT_FDCWD, self.c_str(), buf); err != 0) {
    return Error{"cannot read " + std::string(transportName(transport)) + ": " + std::strerror(err),
                 errorKindOfErrno(err)};
  }
  return parseTable(buf, transport, out);
}

Result<ParseCounts> NetlinkTableReader::read(const NetNamespace& ns,
                                             Transport transport,
                                             std::vector<Socket>& out) {
  UniqueFd nl = takeIdleSocket(ns.inode);
  if (!nl.valid()) {
    auto socket = openDiagSocket(ns);
    if (!socket) {
      if (!ns.pids.empty()) {
        return fallback_.read(ns, transport, out);  // cannot enter it; procfs still can
      }
      return Error{"netlink socket in the namespace: " + socket.error().message,
                   socket.error().kind};
    }
    nl.reset(*socket);
  }
  const DiagTarget target = diagTarget(transport);
  ParseCounts counts;
  int err = 0;
  if (transport == Transport::Unix) {
    unix_diag_req req{};
    req.sdiag_family = AF_UNIX;
    req.udiag_states = kAllStates;
    req.udiag_show = UDIAG_SHOW_NAME;
    err = netlink::dump(nl.get(), SOCK_DIAG_BY_FAMILY, req, [&](const nlmsghdr* h) {
      if (h->nlmsg_len < kHeaderLen + sizeof(unix_diag_msg)) {
        ++counts.skipped;
        return;
      }
      fillUnix(*payload<unix_diag_msg>(h), h->nlmsg_len - kHeaderLen, out.emplace_back());
      ++counts.rows;
    });
  } else {
    inet_diag_req_v2 req{};
    req.sdiag_family = target.family;
    req.sdiag_protocol = target.protocol;
    // TCP sockets that are only bound (CLOSE, and 6.8's BOUND_INACTIVE) are in sock_diag but
    // never in /proc/net/tcp: leave them out so both backends list the same sockets.
    req.idiag_states = isTcp(transport) ? kAllStates & ~((1U << 7) | (1U << 13)) : kAllStates;
    const bool with_details = tcp_info_ && isTcp(transport);
    if (with_details) {
      req.idiag_ext = kTcpExtensions;
    }
    if (isRaw(transport)) {
      req.pad = IPPROTO_RAW;  // inet_diag_req_raw's sdiag_raw_protocol: every raw protocol
    }
    err = netlink::dump(nl.get(), SOCK_DIAG_BY_FAMILY, req, [&](const nlmsghdr* h) {
      if (h->nlmsg_len < kHeaderLen + sizeof(inet_diag_msg)) {
        ++counts.skipped;
        return;
      }
      const auto* m = payload<inet_diag_msg>(h);
      if (m->idiag_family != target.family) {
        return;  // e.g. v4 sockets of a dual-stack dump
      }
      Socket& s = out.emplace_back();
      fillInet(*m, transport, s);
      if (with_details) {
        bool malformed = false;
        s.tcp = tcpDetails(*m, h->nlmsg_len - kHeaderLen, malformed);
        if (malformed) {
          ++counts.skipped;  // the row is kept; what of its attributes was well-formed too
        }
      }
      ++counts.rows;
    });
  }
  if (err == 0 || err == ENOENT || err == EOPNOTSUPP || err == EINVAL) {
    // The dump ran to its end (DONE or an error message): the socket is clean for the next
    // transport of this namespace, which saves entering the namespace again.
    returnIdleSocket(ns.inode, std::move(nl));
  }
  if (err == ENOENT || err == EOPNOTSUPP || err == EINVAL) {
    // The kernel has no sock_diag handler for this family/protocol (raw_diag is often not
    // built, UDP-Lite is gone from Linux 7.1): procfs answers instead.
    out.resize(out.size() - counts.rows);
    return fallback(ns, transport, out);
  }
  if (err != 0) {
    out.resize(out.size() - counts.rows);
    return Error{
        "sock_diag dump of " + std::string(transportName(transport)) + ": " + std::strerror(err),
        errorKindOfErrno(err)};
  }
  return counts;
}

}  // namespace podnetstat::scanner
