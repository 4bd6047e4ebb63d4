#include "podnetstat/agent/render/netstat_format.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/tcp_info_text.h"

namespace podnetstat::agent {
namespace {

using scanner::Endpoint;
using scanner::IpAddress;
using scanner::ScanResult;
using scanner::Socket;
using scanner::Transport;

// Buffer sizes of net-tools that bound what it prints: the host name and `host:port` buffers
// (128 bytes), get_sname()'s service buffer (64), the PID/program cache entry (20).
constexpr std::size_t kMaxHostChars = 127;
constexpr std::size_t kMaxAddressChars = 127;
constexpr std::size_t kMaxServiceChars = 63;
constexpr std::size_t kMaxProgramChars = 19;
// addr_do_one()'s short_len: without -W, `host:port` is cut to short_len + 1 characters.
constexpr std::size_t kShortLen = 22;

// netstat's tcp_state[] (index = kernel state). Later states (NEW_SYN_RECV) never reach
// /proc/net/tcp: request socks are printed as SYN_RECV.
constexpr std::array<std::string_view, 12> kTcpStates = {
    "",          "ESTABLISHED", "SYN_SENT",   "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",
    "TIME_WAIT", "CLOSE",       "CLOSE_WAIT", "LAST_ACK", "LISTEN",    "CLOSING"};

constexpr std::array<std::string_view, 6> kUnixTypes = {"UNKNOWN", "STREAM", "DGRAM",
                                                        "RAW",     "RDM",    "SEQPACKET"};

// Proto column per transport, in Transport order.
constexpr std::array<std::string_view, scanner::kTransportCount> kProtoNames = {
    "tcp", "tcp6", "udp", "udp6", "udpl", "udpl6", "raw", "raw6", "unix"};

constexpr std::uint8_t kStateEstablished = 1;
constexpr std::uint8_t kStateClose = 7;

void appendLeft(std::string& out, std::string_view text, std::size_t width) {
  out += text;
  if (text.size() < width) {
    out.append(width - text.size(), ' ');
  }
}

void appendRight(std::string& out, std::string_view text, std::size_t width) {
  if (text.size() < width) {
    out.append(width - text.size(), ' ');
  }
  out += text;
}

template <class Int>
std::string_view toChars(std::array<char, 24>& buf, Int value) {
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  (void)ec;  // 24 characters hold any 64-bit integer
  return {buf.data(), static_cast<std::size_t>(end - buf.data())};
}

std::string_view cut(std::string_view text, std::size_t max) {
  return text.substr(0, max);
}

// lib/inet6.c fix_v4_address(): for an IPv4-mapped address, skip to the text after the last ':'
// before the first '.', so "::ffff:127.0.0.1" prints as "127.0.0.1".
std::string fixV4Address(std::string text, const IpAddress& ip) {
  if (!ip.isV4Mapped()) {
    return text;
  }
  const std::size_t dot = text.find('.');
  if (dot == std::string::npos) {
    return text;
  }
  std::size_t i = dot;
  while (i > 0 && text[i] != ':') {
    --i;
  }
  if (text[i] != ':') {
    return text;
  }
  return text.substr(i + 1);
}

NameLookup::ServiceTable serviceTable(Transport t) {
  if (scanner::isTcp(t)) {
    return NameLookup::ServiceTable::Tcp;
  }
  if (scanner::isRaw(t)) {
    return NameLookup::ServiceTable::Raw;
  }
  return NameLookup::ServiceTable::Udp;  // udp_do_one() looks UDP-Lite ports up as "udp" too
}

std::string_view tcpStateText(std::uint8_t state) {
  // Out of netstat's table (never produced by the kernel): netstat would read past its array.
  return state < kTcpStates.size() ? kTcpStates.at(state) : std::string_view("UNKNOWN");
}

std::string_view udpStateText(std::uint8_t state) {
  if (state == kStateEstablished) {
    return "ESTABLISHED";
  }
  return state == kStateClose ? std::string_view() : std::string_view("UNKNOWN");
}

std::string_view unixStateText(const Socket& s) {
  switch (s.state) {
    case 0:
      return "FREE";
    case 1:
      return (s.unix_flags & scanner::kUnixFlagAcceptCon) != 0 ? "LISTENING" : "";
    case 2:
      return "CONNECTING";
    case 3:
      return "CONNECTED";
    case 4:
      return "DISCONNECTING";
    default:
      return "UNKNOWN";
  }
}

std::string_view modeText(ListMode mode) {
  switch (mode) {
    case ListMode::All:
      return "(servers and established)";
    case ListMode::Servers:
      return "(only servers)";
    case ListMode::NonServers:
      break;
  }
  return "(w/o servers)";
}

/// The C library behind NameLookup, with every answer cached.
class SystemNameLookup final : public NameLookup {
 public:
  std::optional<std::string> hostByAddr4(const std::array<std::uint8_t, 4>& addr) override {
    std::uint32_t key = 0;
    std::memcpy(&key, addr.data(), sizeof key);
    auto it = hosts4_.find(key);
    if (it == hosts4_.end()) {
      std::optional<std::string> name;
      if (const hostent* h = gethostbyaddr(addr.data(), addr.size(), AF_INET);
          h != nullptr && h->h_name != nullptr) {
        name = h->h_name;
      }
      it = hosts4_.emplace(key, std::move(name)).first;
    }
    return it->second;
  }

  std::optional<std::string> netByAddr4(std::uint32_t net) override {
    auto it = nets_.find(net);
    if (it == nets_.end()) {
      std::optional<std::string> name;
      if (const netent* n = getnetbyaddr(net, AF_INET); n != nullptr && n->n_name != nullptr) {
        name = n->n_name;
      }
      it = nets_.emplace(net, std::move(name)).first;
    }
    return it->second;
  }

  std::optional<std::string> nameInfo6(const std::array<std::uint8_t, 16>& addr) override {
    const std::string key(addr.begin(), addr.end());
    auto it = hosts6_.find(key);
    if (it == hosts6_.end()) {
      sockaddr_in6 sin6{};
      sin6.sin6_family = AF_INET6;
      std::memcpy(&sin6.sin6_addr, addr.data(), addr.size());
      std::array<char, 128> host{};
      std::optional<std::string> name;
      sockaddr* sa = reinterpret_cast<sockaddr*>(&sin6);
      if (getnameinfo(sa, sizeof sin6, host.data(), host.size(), nullptr, 0, 0) == 0) {
        name = host.data();
      }
      it = hosts6_.emplace(key, std::move(name)).first;
    }
    return it->second;
  }

  std::optional<std::string> service(std::uint16_t port, ServiceTable table) override {
    if (!services_loaded_) {
      loadServices();
    }
    const auto& map = services_.at(static_cast<std::size_t>(table));
    auto it = map.find(port);
    if (it == map.end()) {
      return std::nullopt;
    }
    return it->second;
  }

  std::optional<std::string> userName(std::uint32_t uid) override {
    auto it = users_.find(uid);
    if (it == users_.end()) {
      std::optional<std::string> name;
      if (const passwd* pw = getpwuid(uid); pw != nullptr && pw->pw_name != nullptr) {
        name = pw->pw_name;
      }
      it = users_.emplace(uid, std::move(name)).first;
    }
    return it->second;
  }

 private:
  // net-tools read_services(): every /etc/services entry of tcp, udp and raw, then every
  // /etc/protocols entry into the raw list. Its lists are searched newest first, so the last
  // entry read for a number wins, and protocols win over services for raw.
  void loadServices() {
    services_loaded_ = true;
    setservent(1);
    while (const servent* se = getservent()) {
      if (se->s_name == nullptr || se->s_proto == nullptr) {
        continue;
      }
      const std::string_view proto = se->s_proto;
      const std::uint16_t port = ntohs(static_cast<std::uint16_t>(se->s_port));
      if (proto == "tcp") {
        services_[0][port] = se->s_name;
      } else if (proto == "udp") {
        services_[1][port] = se->s_name;
      } else if (proto == "raw") {
        services_[2][port] = se->s_name;
      }
    }
    endservent();
    setprotoent(1);
    while (const protoent* pe = getprotoent()) {
      if (pe->p_name != nullptr && pe->p_proto >= 0 && pe->p_proto <= 0xffff) {
        services_[2][static_cast<std::uint16_t>(pe->p_proto)] = pe->p_name;
      }
    }
    endprotoent();
  }

  std::unordered_map<std::uint32_t, std::optional<std::string>> hosts4_;
  std::unordered_map<std::uint32_t, std::optional<std::string>> nets_;
  std::unordered_map<std::string, std::optional<std::string>> hosts6_;
  std::unordered_map<std::uint32_t, std::optional<std::string>> users_;
  std::array<std::unordered_map<std::uint16_t, std::string>, 3> services_;
  bool services_loaded_ = false;
};

}  // namespace

bool isNetstatServer(const Socket& s) {
  if (s.transport == Transport::Unix) {
    return s.state == static_cast<std::uint8_t>(scanner::UnixState::Unconnected) &&
           (s.unix_flags & scanner::kUnixFlagAcceptCon) != 0;
  }
  if (scanner::isTcp(s.transport)) {
    return s.remote.port == 0;
  }
  return s.remote.ip.isUnspecified();
}

bool netstatSelects(const Socket& s, ListMode mode) {
  switch (mode) {
    case ListMode::All:
      return true;
    case ListMode::Servers:
      return isNetstatServer(s);
    case ListMode::NonServers:
      break;
  }
  return !isNetstatServer(s);
}

std::unique_ptr<NameLookup> makeSystemNameLookup() {
  return std::make_unique<SystemNameLookup>();
}

std::string netstatHost(const IpAddress& ip, bool numeric, NameLookup* names) {
  if (numeric || names == nullptr) {
    return fixV4Address(ip.toString(), ip);
  }
  if (!ip.v6) {
    // lib/inet.c INET_rresolve() with INET_sprint()'s netmask 0xffffff00: 0.0.0.0 is printed as
    // is; an address counts as a host when it has bits outside that mask. The mask is applied to
    // the address as stored (network order), so on little-endian machines this tests the first
    // octet; a "network" is looked up in the networks database instead of hosts.
    if (ip.isUnspecified()) {
      return "0.0.0.0";
    }
    std::uint32_t stored = 0;
    std::memcpy(&stored, ip.bytes.data(), sizeof stored);
    std::optional<std::string> name;
    if ((stored & ~0xffffff00U) != 0) {
      name = names->hostByAddr4({ip.bytes[0], ip.bytes[1], ip.bytes[2], ip.bytes[3]});
    } else {
      name = names->netByAddr4(ntohl(stored));
    }
    return name ? std::string(cut(*name, kMaxHostChars)) : ip.toString();
  }
  if (ip.isUnspecified()) {
    return "[::]";
  }
  std::optional<std::string> name = names->nameInfo6(ip.bytes);
  std::string text = name ? std::string(cut(*name, kMaxHostChars)) : ip.toString();
  return fixV4Address(std::move(text), ip);
}

std::string netstatPort(std::uint16_t port, Transport transport, bool numeric, NameLookup* names) {
  if (port == 0) {
    return "*";
  }
  if (!numeric && names != nullptr) {
    if (auto name = names->service(port, serviceTable(transport)); name && !name->empty()) {
      return std::string(cut(*name, kMaxServiceChars));
    }
  }
  return std::to_string(port);
}

std::string netstatAddress(const Endpoint& endpoint,
                           Transport transport,
                           const NetstatOptions& options,
                           NameLookup* names) {
  const std::string host = netstatHost(endpoint.ip, options.numeric_hosts, names);
  const std::string port = netstatPort(endpoint.port, transport, options.numeric_ports, names);
  std::string out;
  if (!options.wide && host.size() + port.size() > kShortLen) {
    // addr_do_one(): "Assume port name is short" - keep at most 18 characters of the port and
    // give the rest of the 22 to the host.
    const std::size_t port_len = std::min(port.size(), kShortLen - 4);
    const std::size_t host_len = kShortLen - port_len;
    out.reserve(kShortLen + 1);
    out.append(cut(host, host_len));
    out += ':';
    out.append(cut(port, port_len));
    return out;
  }
  out.reserve(host.size() + 1 + port.size());
  out += host;
  out += ':';
  out += port;
  if (out.size() > kMaxAddressChars) {
    out.resize(kMaxAddressChars);
  }
  return out;
}

std::string netstatTimer(const Socket& s) {
  const unsigned active = s.timer.active;
  // The kernel prints clock_t in USER_HZ (100 per second); netstat divides by CLK_TCK (TCP) or a
  // literal 100 (UDP, raw), which is the same.
  const double seconds = static_cast<double>(s.timer.when_ticks) / 100.0;
  // udp_do_one() forces the retransmit count to 0; raw keeps it.
  const unsigned long retransmits = scanner::isUdp(s.transport) ? 0UL : s.timer.retransmits;
  const long long probes = s.timeout;
  std::array<char, 96> buf{};
  int n = 0;
  if (active == 0) {
    n = std::snprintf(buf.data(), buf.size(), "off (0.00/%lu/%lld)", retransmits, probes);
  } else if (scanner::isTcp(s.transport)) {
    static constexpr std::array<const char*, 5> kLabels = {"off", "on", "keepalive", "timewait",
                                                           "probe"};
    if (active < kLabels.size()) {
      n = std::snprintf(buf.data(), buf.size(), "%s (%2.2f/%lu/%lld)", kLabels.at(active), seconds,
                        retransmits, probes);
    } else {
      n = std::snprintf(buf.data(), buf.size(), "unkn-%u (%2.2f/%lu/%lld)", active, seconds,
                        retransmits, probes);
    }
  } else if (active == 1 || active == 2) {
    n = std::snprintf(buf.data(), buf.size(), "on%u (%2.2f/%lu/%lld)", active, seconds, retransmits,
                      probes);
  } else {
    n = std::snprintf(buf.data(), buf.size(), "unkn-%u (%2.2f/%lu/%lld)", active, seconds,
                      retransmits, probes);
  }
  if (n < 0) {
    return {};
  }
  // netstat's timers buffer holds 63 characters.
  return std::string(buf.data(), std::min<std::size_t>(static_cast<std::size_t>(n), 63));
}

std::string netstatProgram(const Socket& s, const ScanResult& scan) {
  const auto owners = scan.owners(s);
  if (s.inode == 0 || owners.empty()) {
    return "-";
  }
  // netstat walks /proc in ascending PID order and keeps the first process seen per inode.
  const scanner::Process* first = nullptr;
  for (std::uint32_t index : owners) {
    if (index >= scan.processes.size()) {
      continue;
    }
    const scanner::Process& p = scan.processes[index];
    if (first == nullptr || p.pid < first->pid) {
      first = &p;
    }
  }
  if (first == nullptr) {
    return "-";
  }
  std::string out = std::to_string(first->pid);
  out += '/';
  out += first->program;
  if (out.size() > kMaxProgramChars) {
    out.resize(kMaxProgramChars);
  }
  return out;
}

std::string_view netstatUnixPath(const Socket& s) {
  if (!s.unix_has_path) {
    return {};
  }
  // unix_do_one() reads the path with sscanf("%s"): leading blanks skipped, cut at the next.
  auto isBlank = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  std::string_view path = s.unix_path;
  std::size_t begin = 0;
  while (begin < path.size() && isBlank(path[begin])) {
    ++begin;
  }
  std::size_t end = begin;
  while (end < path.size() && !isBlank(path[end])) {
    ++end;
  }
  return path.substr(begin, end - begin);
}

NetstatRenderer::NetstatRenderer(NetstatOptions options, NameLookup* names)
    : options_(options), names_(names) {}

std::string NetstatRenderer::inetHeader() const {
  std::string out = "Active Internet connections ";
  out += modeText(options_.mode);
  out += "\nProto Recv-Q Send-Q Local Address           Foreign Address         State      ";
  if (options_.extend) {
    out += " User       Inode     ";
  }
  if (options_.programs) {
    out += " PID/Program name    ";
  }
  if (options_.timers) {
    out += " Timer";
  }
  out += '\n';
  return out;
}

std::string NetstatRenderer::unixHeader() const {
  std::string out = "Active UNIX domain sockets ";
  out += modeText(options_.mode);
  out += "\nProto RefCnt Flags       Type       State         I-Node  ";
  if (options_.programs) {
    out += " PID/Program name    ";
  }
  out += " Path\n";
  return out;
}

void NetstatRenderer::appendRow(std::string& out, const Socket& s, const ScanResult& scan) {
  if (s.transport == Transport::Unix) {
    appendUnixRow(out, s, scan);
  } else {
    appendInetRow(out, s, scan);
    if (options_.tcp_info) {
      appendSsTcpInfoLine(out, s);
    }
  }
}

void NetstatRenderer::appendUser(std::string& out, std::uint32_t uid) {
  // finish_this_one(): " %-10s " with the user name, or " %-10d " with the uid (an int).
  out += ' ';
  std::optional<std::string> name;
  if (!options_.numeric_users && names_ != nullptr) {
    name = names_->userName(uid);
  }
  if (name) {
    appendLeft(out, *name, 10);
  } else {
    std::array<char, 24> buf{};
    appendLeft(out, toChars(buf, static_cast<std::int32_t>(uid)), 10);
  }
  out += ' ';
}

void NetstatRenderer::appendInetRow(std::string& out, const Socket& s, const ScanResult& scan) {
  std::array<char, 24> buf{};
  const std::string_view proto = kProtoNames.at(static_cast<std::size_t>(s.transport));
  // Proto: "%-4s  " for tcp and raw, "%-5s " for udp/udplite.
  if (scanner::isUdp(s.transport)) {
    appendLeft(out, proto, 5);
    out += ' ';
  } else {
    appendLeft(out, proto, 4);
    out += "  ";
  }
  // Recv-Q is the kernel's rx_queue, Send-Q its tx_queue ("%6ld %6ld").
  appendRight(out, toChars(buf, s.rx_queue), 6);
  out += ' ';
  appendRight(out, toChars(buf, s.tx_queue), 6);
  out += ' ';
  appendLeft(out, netstatAddress(s.local, s.transport, options_, names_), 23);
  out += ' ';
  appendLeft(out, netstatAddress(s.remote, s.transport, options_, names_), 23);
  out += ' ';
  if (scanner::isTcp(s.transport)) {
    appendLeft(out, tcpStateText(s.state), 11);
  } else if (scanner::isUdp(s.transport)) {
    appendLeft(out, udpStateText(s.state), 11);
  } else {
    appendLeft(out, toChars(buf, static_cast<unsigned>(s.state)), 11);  // raw: "%-11d"
  }
  if (options_.extend) {
    appendUser(out, s.uid);
    appendLeft(out, toChars(buf, s.inode), 10);
  }
  if (options_.programs) {
    out += ' ';
    appendLeft(out, netstatProgram(s, scan), 20);
  }
  if (options_.timers) {
    out += ' ';
    out += netstatTimer(s);
  }
  out += '\n';
}

void NetstatRenderer::appendUnixRow(std::string& out, const Socket& s, const ScanResult& scan) {
  std::array<char, 24> buf{};
  // "%-5s %-6ld %-11s %-10s %-13s " then "%-8lu", [" %-20s"], " %s\n". The kernel's Protocol
  // column is always 0, which netstat prints as "unix".
  appendLeft(out, "unix", 5);
  out += ' ';
  appendLeft(out, toChars(buf, s.ref_count), 6);
  out += ' ';
  std::string flags = "[ ";
  if ((s.unix_flags & scanner::kUnixFlagAcceptCon) != 0) {
    flags += "ACC ";
  }
  if ((s.unix_flags & scanner::kUnixFlagWaitData) != 0) {
    flags += "W ";
  }
  if ((s.unix_flags & scanner::kUnixFlagNoSpace) != 0) {
    flags += "N ";
  }
  flags += ']';
  appendLeft(out, flags, 11);
  out += ' ';
  appendLeft(out, s.unix_type < kUnixTypes.size() ? kUnixTypes.at(s.unix_type) : kUnixTypes[0], 10);
  out += ' ';
  appendLeft(out, unixStateText(s), 13);
  out += ' ';
  appendLeft(out, toChars(buf, s.inode), 8);
  if (options_.programs) {
    out += ' ';
    appendLeft(out, netstatProgram(s, scan), 20);
  }
  out += ' ';
  out += netstatUnixPath(s);
  out += '\n';
}

void NetstatRenderer::appendNamespace(std::string& out,
                                      const ScanResult& scan,
                                      std::uint32_t netns_index) {
  std::vector<const Socket*> sockets;
  for (const Socket& s : scan.sockets) {
    if (s.netns_index == netns_index) {
      sockets.push_back(&s);
    }
  }
  appendSockets(out, scan, sockets);
}

void NetstatRenderer::appendSockets(std::string& out,
                                    const ScanResult& scan,
                                    std::span<const Socket* const> sockets) {
  appendSocketsWithColumn(out, scan, sockets, {}, nullptr);
}

void NetstatRenderer::appendSocketsWithColumn(
    std::string& out,
    const ScanResult& scan,
    std::span<const Socket* const> sockets,
    std::string_view title,
    const std::function<std::string(const Socket&)>& label) {
  // One pass buckets the selected sockets by table; each table keeps file order.
  std::array<std::vector<std::pair<const Socket*, std::string>>, scanner::kTransportCount> tables;
  std::size_t longest = 0;
  for (const Socket* s : sockets) {
    if (!options_.transports.contains(s->transport) || !netstatSelects(*s, options_.mode)) {
      continue;
    }
    std::string cell = label ? label(*s) : std::string();
    longest = std::max(longest, cell.size());
    tables.at(static_cast<std::size_t>(s->transport)).emplace_back(s, std::move(cell));
  }
  const Column column{title, columnWidth(title, longest)};
  const auto cell = [&](std::string_view text) {
    if (label) {
      appendCell(out, text, column.width);
    }
  };
  const auto header = [&](const std::string& text) {
    out += label ? withColumns(text, {column}) : text;
  };
  if (options_.inet_block) {
    header(inetHeader());
    for (Transport t : scanner::kAllTransports) {
      if (t == Transport::Unix) {
        continue;
      }
      for (const auto& [s, text] : tables.at(static_cast<std::size_t>(t))) {
        cell(text);
        appendRow(out, *s, scan);
      }
    }
  }
  if (options_.unix_block) {
    header(unixHeader());
    for (const auto& [s, text] : tables.at(static_cast<std::size_t>(Transport::Unix))) {
      cell(text);
      appendUnixRow(out, *s, scan);
    }
  }
}

}  // namespace podnetstat::agent
