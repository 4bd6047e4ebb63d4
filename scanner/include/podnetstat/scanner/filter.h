#pragma once

// Socket predicates. The API's notion of listening/connected lives here; net-tools' own -l/-a
// rules belong to the netstat renderer.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "podnetstat/scanner/model.h"

namespace podnetstat::scanner {

/// A predicate over a socket of a scan (owners are looked up in the scan result).
class Filter {
 public:
  using Predicate = std::function<bool(const Socket&, const ScanResult&)>;

  /// Accepts everything.
  Filter() = default;

  explicit Filter(Predicate p) : predicate_(std::move(p)) {}

  bool operator()(const Socket& s, const ScanResult& scan) const {
    return !predicate_ || predicate_(s, scan);
  }

  bool isNoop() const { return !predicate_; }

  /// TCP in LISTEN; UDP, UDP-Lite and raw with no remote address and port; unix with ACC.
  static Filter listening();
  /// Has a peer: a remote address or port (inet), or unix state CONNECTED.
  static Filter connected();
  static Filter transports(TransportSet set);
  /// State names as socketStateName() gives them ("LISTEN", "ESTABLISHED", "LISTENING", ...),
  /// compared case-insensitively.
  static Filter states(std::vector<std::string> names);
  /// Local or remote port equals `port` (inet only).
  static Filter port(std::uint16_t port);
  /// Local or remote address equals `ip` (inet only).
  static Filter address(IpAddress ip);
  /// One of the owners has this PID.
  static Filter pid(std::int32_t pid);

  /// Both must accept.
  Filter operator&&(const Filter& other) const;
  /// Either accepts.
  Filter operator||(const Filter& other) const;
  Filter operator!() const;

 private:
  Predicate predicate_;
};

/// Whether a socket is listening in the API's sense (see Filter::listening()).
bool isListening(const Socket& s);
/// Whether a socket has a peer in the API's sense (see Filter::connected()).
bool isConnected(const Socket& s);

}  // namespace podnetstat::scanner
