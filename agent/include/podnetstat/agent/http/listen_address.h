#pragma once

// Where a listener binds: an IP literal and a port, as the --listen flags write them.

#include <cstdint>
#include <string>
#include <string_view>

#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

/// An address to listen on: an IP literal and a port (0 = any free port).
struct ListenAddress {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;

  /// "127.0.0.1:9180", "[::1]:9180".
  std::string toString() const;
};

/// Whether `host` (an IP literal) is a loopback address: 127.0.0.0/8, ::1, or ::ffff:127.x.
bool isLoopbackHost(std::string_view host);

/// Parses "HOST:PORT", "[IPV6]:PORT" or ":PORT" (every IPv4 interface). HOST must be an IP
/// literal ("localhost" is accepted as 127.0.0.1).
Result<ListenAddress> parseListenAddress(std::string_view text);

}  // namespace podnetstat::agent
