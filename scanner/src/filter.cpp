#include "podnetstat/scanner/filter.h"

#include <algorithm>

namespace podnetstat::scanner {
namespace {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  auto lower = [](char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
  };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [&](char x, char y) { return lower(x) == lower(y); });
}

}  // namespace

bool isListening(const Socket& s) {
  if (s.transport == Transport::Unix) {
    return s.state == static_cast<std::uint8_t>(UnixState::Unconnected) &&
           (s.unix_flags & kUnixFlagAcceptCon) != 0;
  }
  if (isTcp(s.transport)) {
    return s.state == static_cast<std::uint8_t>(TcpState::Listen);
  }
  // UDP, UDP-Lite, raw: unconnected. Raw "ports" are protocol numbers and the remote one is
  // always 0, so the remote address decides.
  return s.remote.ip.isUnspecified() && s.remote.port == 0;
}

bool isConnected(const Socket& s) {
  if (s.transport == Transport::Unix) {
    return s.state == static_cast<std::uint8_t>(UnixState::Connected);
  }
  return !s.remote.ip.isUnspecified() || s.remote.port != 0;
}

Filter Filter::listening() {
  return Filter([](const Socket& s, const ScanResult&) { return isListening(s); });
}

Filter Filter::connected() {
  return Filter([](const Socket& s, const ScanResult&) { return isConnected(s); });
}

Filter Filter::transports(TransportSet set) {
  return Filter([set](const Socket& s, const ScanResult&) { return set.contains(s.transport); });
}

Filter Filter::states(std::vector<std::string> names) {
  return Filter([names = std::move(names)](const Socket& s, const ScanResult&) {
    const std::string name = socketStateName(s);
    return std::any_of(names.begin(), names.end(),
                       [&](const std::string& n) { return equalsIgnoreCase(n, name); });
  });
}

Filter Filter::port(std::uint16_t port) {
  return Filter([port](const Socket& s, const ScanResult&) {
    return s.transport != Transport::Unix && (s.local.port == port || s.remote.port == port);
  });
}

Filter Filter::address(IpAddress ip) {
  return Filter([ip](const Socket& s, const ScanResult&) {
    return s.transport != Transport::Unix && (s.local.ip == ip || s.remote.ip == ip);
  });
}

Filter Filter::pid(std::int32_t pid) {
  return Filter([pid](const Socket& s, const ScanResult& scan) {
    const auto owners = scan.owners(s);
    return std::any_of(owners.begin(), owners.end(),
                       [&](std::uint32_t i) { return scan.processes[i].pid == pid; });
  });
}

Filter Filter::operator&&(const Filter& other) const {
  if (isNoop()) {
    return other;
  }
  if (other.isNoop()) {
    return *this;
  }
  return Filter([a = *this, b = other](const Socket& s, const ScanResult& scan) {
    return a(s, scan) && b(s, scan);
  });
}

Filter Filter::operator||(const Filter& other) const {
  if (isNoop() || other.isNoop()) {
    return Filter();
  }
  return Filter([a = *this, b = other](const Socket& s, const ScanResult& scan) {
    return a(s, scan) || b(s, scan);
  });
}

Filter Filter::operator!() const {
  return Filter([a = *this](const Socket& s, const ScanResult& scan) { return !a(s, scan); });
}

}  // namespace podnetstat::scanner
