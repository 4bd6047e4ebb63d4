#include "podnetstat/agent/http/listen_address.h"

#include <charconv>

#include <boost/asio/ip/address.hpp>

namespace podnetstat::agent {

namespace net = boost::asio;

std::string ListenAddress::toString() const {
  if (host.find(':') != std::string::npos) {
    return "[" + host + "]:" + std::to_string(port);
  }
  return host + ":" + std::to_string(port);
}

bool isLoopbackHost(std::string_view host) {
  boost::system::error_code ec;
  const auto ip = net::ip::make_address(std::string(host), ec);
  if (ec) {
    return false;
  }
  if (ip.is_v6() && ip.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, ip.to_v6()).is_loopback();
  }
  return ip.is_loopback();
}

Result<ListenAddress> parseListenAddress(std::string_view text) {
  const auto bad = [&](std::string_view why) -> Error {
    return Error{"invalid address '" + std::string(text) + "': " + std::string(why) +
                 " (expected HOST:PORT, [IPV6]:PORT or :PORT)"};
  };
  std::string_view host;
  std::string_view port_text;
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("unterminated [IPv6] or missing port");
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return bad("missing port");
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return bad("IPv6 addresses must be written in brackets");
    }
  }
  unsigned port = 0;
  const auto* end = port_text.data() + port_text.size();
  auto [ptr, ec] = std::from_chars(port_text.data(), end, port);
  if (port_text.empty() || ec != std::errc() || ptr != end || port > 65535) {
    return bad("port must be a number from 0 to 65535");
  }
  ListenAddress out;
  out.port = static_cast<std::uint16_t>(port);
  if (host.empty()) {
    out.host = "0.0.0.0";
  } else if (host == "localhost") {
    out.host = "127.0.0.1";
  } else {
    boost::system::error_code addr_ec;
    net::ip::make_address(std::string(host), addr_ec);
    if (addr_ec) {
      return bad("host must be an IP address");
    }
    out.host = std::string(host);
  }
  return out;
}

}  // namespace podnetstat::agent
