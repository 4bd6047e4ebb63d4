#include "podnetstat/scanner/model.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace podnetstat::scanner {
namespace {

struct TransportInfo {
  Transport transport;
  std::string_view name;
  bool ipv6;
};

// Variation as data: transport <-> file name <-> family.
constexpr std::array<TransportInfo, kTransportCount> kTransportInfo = {{
    {Transport::Tcp, "tcp", false},
    {Transport::Tcp6, "tcp6", true},
    {Transport::Udp, "udp", false},
    {Transport::Udp6, "udp6", true},
    {Transport::UdpLite, "udplite", false},
    {Transport::UdpLite6, "udplite6", true},
    {Transport::Raw, "raw", false},
    {Transport::Raw6, "raw6", true},
    {Transport::Unix, "unix", false},
}};

constexpr std::array<std::string_view, 13> kTcpStateNames = {
    "",      "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2",   "TIME_WAIT",
    "CLOSE", "CLOSE_WAIT",  "LAST_ACK", "LISTEN",   "CLOSING",   "NEW_SYN_RECV"};

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) {
             return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
           };
           return lower(x) == lower(y);
         });
}

}  // namespace

std::string_view transportName(Transport t) {
  return kTransportInfo.at(static_cast<std::size_t>(t)).name;
}

std::optional<Transport> transportFromName(std::string_view name) {
  for (const auto& info : kTransportInfo) {
    if (info.name == name) {
      return info.transport;
    }
  }
  return std::nullopt;
}

std::string_view backendName(Backend b) {
  switch (b) {
    case Backend::Auto:
      return "auto";
    case Backend::Procfs:
      return "procfs";
    case Backend::Netlink:
      return "netlink";
  }
  return "unknown";
}

std::optional<Backend> backendFromName(std::string_view name) {
  for (const Backend b : {Backend::Auto, Backend::Procfs, Backend::Netlink}) {
    if (backendName(b) == name) {
      return b;
    }
  }
  return std::nullopt;
}

bool isIpv6(Transport t) {
  return kTransportInfo.at(static_cast<std::size_t>(t)).ipv6;
}

bool isTcp(Transport t) {
  return t == Transport::Tcp || t == Transport::Tcp6;
}

bool isUdp(Transport t) {
  return t == Transport::Udp || t == Transport::Udp6 || t == Transport::UdpLite ||
         t == Transport::UdpLite6;
}

bool isRaw(Transport t) {
  return t == Transport::Raw || t == Transport::Raw6;
}

bool IpAddress::isUnspecified() const {
  const std::size_t n = v6 ? 16 : 4;
  return std::all_of(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n),
                     [](std::uint8_t b) { return b == 0; });
}

bool IpAddress::isV4Mapped() const {
  if (!v6) {
    return false;
  }
  for (std::size_t i = 0; i < 10; ++i) {
    if (bytes[i] != 0) {
      return false;
    }
  }
  return bytes[10] == 0xff && bytes[11] == 0xff;
}

bool IpAddress::isLoopback() const {
  if (!v6) {
    return bytes[0] == 127;
  }
  if (isV4Mapped()) {
    return bytes[12] == 127;
  }
  for (std::size_t i = 0; i < 15; ++i) {
    if (bytes[i] != 0) {
      return false;
    }
  }
  return bytes[15] == 1;
}

std::string IpAddress::toString() const {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf.data(), buf.size()) == nullptr) {
    return {};
  }
  return buf.data();
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  std::array<char, INET6_ADDRSTRLEN> buf{};
  std::memcpy(buf.data(), text.data(), text.size());
  IpAddress ip;
  if (inet_pton(AF_INET, buf.data(), ip.bytes.data()) == 1) {
    return ip;
  }
  if (inet_pton(AF_INET6, buf.data(), ip.bytes.data()) == 1) {
    ip.v6 = true;
    return ip;
  }
  return std::nullopt;
}

std::string tcpStateName(std::uint8_t state) {
  if (state >= 1 && state < kTcpStateNames.size()) {
    return std::string(kTcpStateNames.at(state));
  }
  return "UNKNOWN(" + std::to_string(state) + ")";
}

std::optional<std::uint8_t> tcpStateFromName(std::string_view name) {
  for (std::size_t i = 1; i < kTcpStateNames.size(); ++i) {
    if (equalsIgnoreCase(kTcpStateNames.at(i), name)) {
      return static_cast<std::uint8_t>(i);
    }
  }
  return std::nullopt;
}

std::string socketStateName(const Socket& s) {
  if (isTcp(s.transport)) {
    return tcpStateName(s.state);
  }
  if (s.transport != Transport::Unix) {
    // UDP, UDP-Lite and raw only use connected (1) and unconnected (7).
    return s.state == 1 || s.state == 7 ? tcpStateName(s.state)
                                        : "UNKNOWN(" + std::to_string(s.state) + ")";
  }
  switch (static_cast<UnixState>(s.state)) {
    case UnixState::Free:
      return "FREE";
    case UnixState::Unconnected:
      return (s.unix_flags & kUnixFlagAcceptCon) != 0 ? "LISTENING" : "UNCONNECTED";
    case UnixState::Connecting:
      return "CONNECTING";
    case UnixState::Connected:
      return "CONNECTED";
    case UnixState::Disconnecting:
      return "DISCONNECTING";
  }
  return "UNKNOWN(" + std::to_string(s.state) + ")";
}

}  // namespace podnetstat::scanner
