#pragma once

// The values a scan produces: sockets, processes and network namespaces. Plain data, no I/O.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "podnetstat/scanner/tcp_info.h"

namespace podnetstat::scanner {

/// Every socket table the scanner reads, in the order net-tools netstat prints them.
enum class Transport : std::uint8_t { Tcp, Tcp6, Udp, Udp6, UdpLite, UdpLite6, Raw, Raw6, Unix };

inline constexpr std::size_t kTransportCount = 9;

inline constexpr std::array<Transport, kTransportCount> kAllTransports = {
    Transport::Tcp,      Transport::Tcp6, Transport::Udp,  Transport::Udp6, Transport::UdpLite,
    Transport::UdpLite6, Transport::Raw,  Transport::Raw6, Transport::Unix};

/// The /proc/<pid>/net file name of a transport ("tcp", "udplite6", "unix", ...). It is also the
/// transport's name in the API.
std::string_view transportName(Transport t);

/// Inverse of transportName(); nullopt for an unknown name.
std::optional<Transport> transportFromName(std::string_view name);

bool isIpv6(Transport t);
bool isTcp(Transport t);
bool isUdp(Transport t);  // udp, udp6, udplite, udplite6
bool isRaw(Transport t);

/// A set of transports, as a bit mask.
class TransportSet {
 public:
  constexpr TransportSet() = default;

  static constexpr TransportSet all() {
    TransportSet s;
    s.bits_ = (1U << kTransportCount) - 1;
    return s;
  }

  constexpr TransportSet& add(Transport t) {
    bits_ |= 1U << static_cast<unsigned>(t);
    return *this;
  }

  constexpr TransportSet& remove(Transport t) {
    bits_ &= ~(1U << static_cast<unsigned>(t));
    return *this;
  }

  constexpr bool contains(Transport t) const { return (bits_ >> static_cast<unsigned>(t)) & 1U; }

  constexpr bool empty() const { return bits_ == 0; }

  constexpr bool operator==(const TransportSet&) const = default;

 private:
  std::uint32_t bits_ = 0;
};

/// How tables are read. Procfs reads /proc/<pid>/net/* (no privileges beyond reading /proc, and
/// rows in the kernel's file order, which is what netstat prints). Netlink enters each namespace
/// and asks sock_diag (cheaper per namespace, reads namespaces no process lives in; needs
/// CAP_SYS_ADMIN). Auto picks netlink when the process has CAP_SYS_ADMIN (scan.h:
/// resolveBackend).
enum class Backend : std::uint8_t { Auto, Procfs, Netlink };

/// "auto", "procfs", "netlink".
std::string_view backendName(Backend b);
std::optional<Backend> backendFromName(std::string_view name);

/// An IPv4 or IPv6 address in network byte order. IPv4 uses the first 4 bytes. IPv4-mapped IPv6
/// addresses stay IPv6 (::ffff:a.b.c.d); isV4Mapped() tells them apart.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = false;

  bool isUnspecified() const;
  bool isLoopback() const;
  bool isV4Mapped() const;
  /// Canonical text: dotted quad for IPv4, RFC 5952 for IPv6 (::ffff:127.0.0.1 stays mapped).
  std::string toString() const;
  /// Parses dotted quad or IPv6 text; nullopt when neither.
  static std::optional<IpAddress> parse(std::string_view text);

  bool operator==(const IpAddress&) const = default;
};

struct Endpoint {
  IpAddress ip;
  std::uint16_t port = 0;  // for raw sockets: the IP protocol number

  bool operator==(const Endpoint&) const = default;
};

/// Kernel TCP states (include/net/tcp_states.h). UDP and raw use 1 (connected) and 7 (not).
enum class TcpState : std::uint8_t {
  Established = 1,
  SynSent = 2,
  SynRecv = 3,
  FinWait1 = 4,
  FinWait2 = 5,
  TimeWait = 6,
  Close = 7,
  CloseWait = 8,
  LastAck = 9,
  Listen = 10,
  Closing = 11,
  NewSynRecv = 12,
};

/// The kernel's name of a TCP state number: "ESTABLISHED" ... "NEW_SYN_RECV", or "UNKNOWN(n)".
std::string tcpStateName(std::uint8_t state);

/// Parses a state name as tcpStateName() prints it (case-insensitive); nullopt if unknown.
std::optional<std::uint8_t> tcpStateFromName(std::string_view name);

/// The API's state name of any socket: tcpStateName() for inet sockets (UDP and raw: ESTABLISHED
/// when connected, CLOSE when not); for unix: LISTENING (unconnected with ACC), UNCONNECTED,
/// CONNECTING, CONNECTED, DISCONNECTING, FREE or UNKNOWN(n).
std::string socketStateName(const struct Socket& s);

/// The `tr` column: which kernel timer is pending.
enum class TimerKind : std::uint8_t { Off = 0, On = 1, KeepAlive = 2, TimeWait = 3, Probe = 4 };

struct Timer {
  std::uint8_t active = 0;        // raw `tr` value; see TimerKind (other values are possible)
  std::uint64_t when_ticks = 0;   // tm->when, in USER_HZ (1/100 s) clock ticks
  std::uint32_t retransmits = 0;  // retrnsmt

  bool operator==(const Timer&) const = default;
};

/// /proc/net/unix socket types and flags.
inline constexpr std::uint32_t kUnixFlagAcceptCon = 0x10000;  // __SO_ACCEPTCON ("ACC")
inline constexpr std::uint32_t kUnixFlagWaitData = 0x20000;   // "W"
inline constexpr std::uint32_t kUnixFlagNoSpace = 0x40000;    // "N"

/// SS_* socket states of /proc/net/unix's St column.
enum class UnixState : std::uint8_t {
  Free = 0,
  Unconnected = 1,
  Connecting = 2,
  Connected = 3,
  Disconnecting = 4,
};

/// One row of a socket table. Inet fields are zero for unix sockets and vice versa.
struct Socket {
  Transport transport = Transport::Tcp;

  // Inet (tcp, udp, udplite, raw; v4 and v6).
  Endpoint local;
  Endpoint remote;
  std::uint8_t state = 0;  // kernel sk_state number; see TcpState
  std::uint64_t tx_queue = 0;
  std::uint64_t rx_queue = 0;
  Timer timer;
  std::uint32_t uid = 0;
  std::int64_t timeout = 0;  // icsk_probes_out for TCP
  std::uint64_t inode = 0;   // 0 for request and time-wait sockets: they have no owner
  std::uint32_t ref_count = 0;
  /// A TCP listener's accept-queue maximum (its backlog; the length is rx_queue). Only sock_diag
  /// tells it: /proc/net/tcp prints 0 there.
  std::optional<std::uint32_t> accept_queue_max;
  /// TCP only, with ScanOptions::tcp_info and the netlink backend: what sock_diag tells beyond
  /// the row (tcp_info, congestion control, memory). Null otherwise.
  std::shared_ptr<const TcpDetails> tcp;

  // Unix.
  std::uint32_t unix_flags = 0;
  std::uint16_t unix_type = 0;  // 1 stream, 2 dgram, 3 raw, 4 rdm, 5 seqpacket
  std::string unix_path;        // raw path; abstract names start with '@'; empty when unbound
  bool unix_has_path = false;

  // Attribution, filled by the scan.
  std::uint32_t netns_index = 0;   // index into ScanResult::namespaces
  std::uint32_t owners_begin = 0;  // range in ScanResult::owner_table
  std::uint32_t owners_count = 0;
};

/// One process, as far as the scan saw it.
struct Process {
  std::int32_t pid = 0;
  std::uint32_t uid = 0;
  std::uint64_t netns_inode = 0;  // 0 when unreadable
  std::string comm;               // /proc/<pid>/comm
  std::string program;  // netstat's program name: argv[0], its basename when it starts with '/'
};

/// A network namespace, read once however many names and PIDs point at it.
struct NetNamespace {
  std::uint64_t inode = 0;
  bool is_host = false;            // PID 1's namespace
  std::vector<std::string> names;  // names under the netns dir, sorted
  std::vector<std::int32_t> pids;  // every PID that lives in it, ascending
  bool readable = true;
  std::string error;               // why it could not be read (empty when readable)
  std::uint32_t socket_count = 0;  // sockets kept after filtering
};

/// Counters of what a scan skipped; races and malformed input are normal and counted here.
struct ScanStats {
  std::uint64_t skipped_lines = 0;  // malformed lines, all files
  std::array<std::uint64_t, kTransportCount> skipped_lines_by_transport{};
  std::uint64_t vanished_processes = 0;    // PIDs that exited during the scan
  std::uint64_t unreadable_processes = 0;  // PIDs whose fd or ns/net could not be read (EACCES)
  std::uint64_t denied_fd_dirs = 0;  // PIDs whose fd dir could not be opened (EACCES): netstat -p
                                     // warns about these
  std::uint64_t unreadable_namespaces = 0;
  std::uint64_t stale_netns_entries = 0;  // names in the netns dir that are not a namespace
  /// The stale entries themselves: path in the netns dir, and why it is not a namespace.
  std::vector<std::pair<std::string, std::string>> stale_netns;
  std::uint64_t table_errors = 0;   // table files that failed for another reason
  std::vector<std::string> errors;  // human-readable, one per problem worth reporting
};

/// The text of a process's /proc/<pid>/cgroup file, as a scan read it (ScanOptions::cgroups).
struct ProcessCgroup {
  std::int32_t pid = 0;
  std::string text;
};

/// The result of one scan. Immutable once returned.
struct ScanResult {
  std::vector<NetNamespace> namespaces;    // host first, then by inode
  std::vector<Process> processes;          // ascending PID; only processes that own a socket
  std::vector<Socket> sockets;             // per namespace, in transport order, then file order
  std::vector<std::uint32_t> owner_table;  // indexes into processes; see Socket::owners_*
  ScanStats stats;
  Backend backend = Backend::Procfs;  // the TableReader that read the tables (never Auto)
  /// With ScanOptions::cgroups: the cgroup file of every process the scan could read it for,
  /// ascending PID (the raw text; k8s/ parses it). Empty otherwise.
  std::vector<ProcessCgroup> cgroups;
  std::int64_t started_unix_ms = 0;  // wall clock when the scan began
  double duration_ms = 0;

  /// The processes that hold a socket open, ascending PID.
  std::span<const std::uint32_t> owners(const Socket& s) const {
    return {owner_table.data() + s.owners_begin, s.owners_count};
  }
};

}  // namespace podnetstat::scanner
