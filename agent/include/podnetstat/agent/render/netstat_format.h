#pragma once

// netstat-compatible tables: the exact bytes net-tools netstat 2.10 prints for a socket table
// (netstat.c tcp_do_one/udp_do_one/raw_do_one/unix_do_one/finish_this_one, lib/inet.c,
// lib/inet6.c), computed from a scan instead of /proc/net. Name lookups go through NameLookup so
// the resolved (non -n) forms can be tested without the machine's databases.

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// Which sockets netstat shows: default (non-servers, "w/o servers"), -l, -a.
enum class ListMode : std::uint8_t { NonServers, Servers, All };

/// The rendering switches of netstat's command line.
struct NetstatOptions {
  ListMode mode = ListMode::NonServers;
  bool numeric_hosts = false;  // -n, --numeric-hosts
  bool numeric_ports = false;  // -n, --numeric-ports
  bool numeric_users = false;  // -n, --numeric-users
  bool extend = false;         // -e: User and Inode columns (inet only)
  bool programs = false;       // -p: PID/Program name column
  bool timers = false;         // -o: Timer column (inet only)
  bool wide = false;           // -W: addresses are never cut
  bool tcp_info = false;       // --tcp-info: ss's tcp_info line under each TCP row
  /// Print the "Active Internet connections" block (some inet protocol was selected), and the
  /// rows of these transports in it.
  bool inet_block = true;
  bool unix_block = true;
  scanner::TransportSet transports = scanner::TransportSet::all();
};

/// netstat's "server" rule, which differs per protocol: TCP has remote port 0 (whatever the
/// state); UDP, UDP-Lite and raw have an all-zero remote address; unix is unconnected with ACC.
bool isNetstatServer(const scanner::Socket& s);

/// Whether netstat shows `s` in `mode` (-a: all; -l: servers; default: the others).
bool netstatSelects(const scanner::Socket& s, ListMode mode);

/// The lookups behind netstat's resolved output. Implementations return nullopt when the
/// database has no entry.
class NameLookup {
 public:
  enum class ServiceTable : std::uint8_t { Tcp, Udp, Raw };

  virtual ~NameLookup() = default;

  /// gethostbyaddr(AF_INET): the host's name.
  virtual std::optional<std::string> hostByAddr4(const std::array<std::uint8_t, 4>& addr) = 0;
  /// getnetbyaddr(AF_INET) of a network number in host byte order: the network's name.
  virtual std::optional<std::string> netByAddr4(std::uint32_t net) = 0;
  /// getnameinfo(AF_INET6, flags 0): a name, or the numeric form when there is none.
  virtual std::optional<std::string> nameInfo6(const std::array<std::uint8_t, 16>& addr) = 0;
  /// The name net-tools' get_sname() finds for a port (raw: an IP protocol number).
  virtual std::optional<std::string> service(std::uint16_t port, ServiceTable table) = 0;
  /// getpwuid(): the user's name.
  virtual std::optional<std::string> userName(std::uint32_t uid) = 0;
};

/// The C library's databases (hosts/DNS, networks, /etc/services, /etc/protocols, passwd), every
/// answer cached. Services follow net-tools: the last entry for a port wins, and for raw the
/// /etc/protocols entries win over /etc/services "raw" entries.
std::unique_ptr<NameLookup> makeSystemNameLookup();

/// The host part of an address as netstat prints it: inet_ntoa/inet_ntop when numeric,
/// otherwise the looked-up name ("0.0.0.0" and "[::]" for the unspecified addresses); an
/// IPv4-mapped IPv6 address whose text ends in a dotted quad is shown as that quad.
std::string netstatHost(const scanner::IpAddress& ip, bool numeric, NameLookup* names);

/// The port part: "*" for 0, the number when numeric or unknown, else the service name.
std::string netstatPort(std::uint16_t port,
                        scanner::Transport transport,
                        bool numeric,
                        NameLookup* names);

/// `host:port`, cut to 23 characters as netstat's addr_do_one() does unless `wide`.
std::string netstatAddress(const scanner::Endpoint& endpoint,
                           scanner::Transport transport,
                           const NetstatOptions& options,
                           NameLookup* names);

/// The -o column ("off (0.00/0/0)", "keepalive (7197.29/0/0)", UDP/raw "on1 (...)", ...).
std::string netstatTimer(const scanner::Socket& s);

/// The -p column: `PID/program` of the first (lowest-PID) owner, cut to 19 characters, or "-".
std::string netstatProgram(const scanner::Socket& s, const scanner::ScanResult& scan);

/// The unix Path column: the path up to its first blank, as netstat's sscanf("%s") reads it.
std::string_view netstatUnixPath(const scanner::Socket& s);

/// Renders netstat output. Not thread-safe (the lookup caches).
class NetstatRenderer {
 public:
  /// `names` may be null when every numeric_* option is set; it must outlive the renderer.
  NetstatRenderer(NetstatOptions options, NameLookup* names);

  const NetstatOptions& options() const { return options_; }

  /// "Active Internet connections (...)" and the column header line.
  std::string inetHeader() const;
  /// "Active UNIX domain sockets (...)" and the column header line.
  std::string unixHeader() const;

  /// Appends the row of `s` (newline included), whatever the mode and transports say.
  void appendRow(std::string& out, const scanner::Socket& s, const scanner::ScanResult& scan);

  /// Appends what netstat prints for one namespace of the scan: the inet block (header, then the
  /// selected rows in table order tcp, tcp6, udp, udp6, udplite, udplite6, raw, raw6), then the
  /// unix block.
  void appendNamespace(std::string& out,
                       const scanner::ScanResult& scan,
                       std::uint32_t netns_index);

  /// The same for the sockets of one namespace given by the caller (in scan order), for callers
  /// that split a scan by namespace once.
  void appendSockets(std::string& out,
                     const scanner::ScanResult& scan,
                     std::span<const scanner::Socket* const> sockets);

  /// appendSockets() with a column of the caller's before netstat's: `title` on the column header
  /// line, `label(socket)` on each row, as wide as its widest cell plus one blank (the Pod column
  /// of `list --pods` and of the kubectl plugin's node view).
  void appendSocketsWithColumn(std::string& out,
                               const scanner::ScanResult& scan,
                               std::span<const scanner::Socket* const> sockets,
                               std::string_view title,
                               const std::function<std::string(const scanner::Socket&)>& label);

 private:
  void appendInetRow(std::string& out, const scanner::Socket& s, const scanner::ScanResult& scan);
  void appendUnixRow(std::string& out, const scanner::Socket& s, const scanner::ScanResult& scan);
  void appendUser(std::string& out, std::uint32_t uid);

  NetstatOptions options_;
  NameLookup* names_;
};

}  // namespace podnetstat::agent
