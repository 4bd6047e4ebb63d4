#pragma once

// The rest of netstat, per network namespace: interface counters (/proc/<pid>/net/dev), routes
// (route, ipv6_route), protocol statistics (snmp, netstat, snmp6) and multicast groups (igmp,
// igmp6). Pure parsers over the files' text, plus readNetStats(), which reads them once per
// namespace through one of its processes. Kept apart from the socket scan: read only when asked.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/proc_net_parser.h"
#include "podnetstat/scanner/result.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::scanner {

// --- values ---------------------------------------------------------------------------------

/// One line of /proc/net/dev: an interface's counters since it was created.
struct InterfaceStats {
  std::string name;
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_packets = 0;
  std::uint64_t rx_errs = 0;
  std::uint64_t rx_drop = 0;
  std::uint64_t rx_fifo = 0;
  std::uint64_t rx_frame = 0;
  std::uint64_t rx_compressed = 0;
  std::uint64_t rx_multicast = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_packets = 0;
  std::uint64_t tx_errs = 0;
  std::uint64_t tx_drop = 0;
  std::uint64_t tx_fifo = 0;
  std::uint64_t tx_colls = 0;
  std::uint64_t tx_carrier = 0;
  std::uint64_t tx_compressed = 0;

  bool operator==(const InterfaceStats&) const = default;
};

/// Route flags of /proc/net/route and ipv6_route (include/uapi/linux/route.h, RTF_*).
inline constexpr std::uint32_t kRouteFlagUp = 0x0001;         // U
inline constexpr std::uint32_t kRouteFlagGateway = 0x0002;    // G
inline constexpr std::uint32_t kRouteFlagHost = 0x0004;       // H
inline constexpr std::uint32_t kRouteFlagReinstate = 0x0008;  // R
inline constexpr std::uint32_t kRouteFlagDynamic = 0x0010;    // D
inline constexpr std::uint32_t kRouteFlagModified = 0x0020;   // M
inline constexpr std::uint32_t kRouteFlagReject = 0x0200;     // !

/// One row of /proc/net/route (the IPv4 main table, as netstat -r shows it).
struct Ipv4Route {
  std::string iface;
  IpAddress destination;    // IPv4
  IpAddress gateway;        // IPv4; 0.0.0.0 when directly connected
  std::uint32_t flags = 0;  // kRouteFlag*
  std::int32_t ref_count = 0;
  std::uint32_t use = 0;
  std::int32_t metric = 0;
  IpAddress mask;         // IPv4
  std::uint32_t mtu = 0;  // the kernel's advmss + 40, 0 when unset
  std::uint32_t window = 0;
  std::uint32_t irtt = 0;

  bool operator==(const Ipv4Route&) const = default;
};

/// One row of /proc/net/ipv6_route (every IPv6 table, local routes included).
struct Ipv6Route {
  IpAddress destination;  // IPv6
  std::uint8_t destination_prefix = 0;
  IpAddress source;  // IPv6; :: unless source-specific routing
  std::uint8_t source_prefix = 0;
  IpAddress next_hop;  // IPv6; :: when directly connected
  std::uint32_t metric = 0;
  std::uint32_t ref_count = 0;
  std::uint32_t use = 0;
  std::uint32_t flags = 0;  // kRouteFlag* and RTF_* above 0xffff (RTF_CACHE, RTF_ADDRCONF, ...)
  std::string device;

  bool operator==(const Ipv6Route&) const = default;
};

/// One protocol counter, named as `nstat -a` names it: the line's prefix glued to the field name
/// for snmp and netstat ("IpForwarding", "TcpRetransSegs", "TcpExtListenOverflows",
/// "IcmpMsgInType3"), the name as it stands for snmp6 ("Ip6InReceives").
struct Counter {
  std::string name;
  /// A negative value (only TcpMaxConn's -1) is kept as nstat keeps it (strtoull): 2^64 - 1.
  std::uint64_t value = 0;

  bool operator==(const Counter&) const = default;
};

/// Values that /proc prints but `nstat -a` does not (iproute2's "useless numbers": settings and
/// the TcpCurrEstab gauge, not counters). The parsers keep them; a view that must equal nstat
/// leaves them out.
inline constexpr std::array<std::string_view, 7> kNstatHiddenCounters = {
    "IpForwarding", "IpDefaultTTL", "TcpRtoAlgorithm", "TcpRtoMin",
    "TcpRtoMax",    "TcpMaxConn",   "TcpCurrEstab"};

/// True when `nstat -a` does not print this counter (see kNstatHiddenCounters).
bool isNstatHidden(std::string_view name);

/// The value of the counter called `name`, or nullopt when there is none.
std::optional<std::uint64_t> findCounter(const std::vector<Counter>& counters,
                                         std::string_view name);

/// An IPv4 multicast group joined on a device (/proc/net/igmp), as `netstat -g` lists it.
struct Ipv4Group {
  std::int32_t ifindex = 0;
  std::string device;
  std::uint32_t device_groups = 0;  // the device line's Count: groups joined on the device
  std::string querier;              // the device line's Querier: "V1", "V2" or "V3"
  IpAddress group;                  // IPv4
  std::uint32_t users = 0;          // netstat -g's RefCnt
  bool timer_running = false;
  std::uint64_t timer = 0;  // jiffies until the timer fires (0 when not running)
  bool reporter = false;

  bool operator==(const Ipv4Group&) const = default;
};

/// An IPv6 multicast group joined on a device (/proc/net/igmp6).
struct Ipv6Group {
  std::int32_t ifindex = 0;
  std::string device;
  IpAddress group;          // IPv6
  std::uint32_t users = 0;  // netstat -g's RefCnt
  std::uint32_t flags = 0;  // MAF_* (timer running, last reporter, ...)
  std::int64_t timer = 0;   // jiffies until the timer fires; may be negative or 0

  bool operator==(const Ipv6Group&) const = default;
};

// --- parsers ---------------------------------------------------------------------------------
//
// Every parser takes a whole file's text, appends what it parsed to `out` in file order and never
// touches the filesystem. A malformed line (truncated, non-numeric, too few or too many fields)
// is skipped and counted in ParseCounts::skipped; the rest of the file is still read. Header
// lines are neither rows nor skipped. ParseCounts::rows is what was appended.

/// /proc/net/dev: two header lines, then "<name>: 16 counters" (8 receive, 8 transmit). The name
/// may touch the colon's far side ("veth0123456789ab:123"), so it ends at the last ':' of the line.
ParseCounts parseNetDev(std::string_view text, std::vector<InterfaceStats>& out);

/// /proc/net/route: a header line, then 11 tab-separated fields per route (lines are padded with
/// blanks to 127 characters). Destination, gateway and mask are the kernel's __be32 printed as a
/// host-order hex word, like the socket tables' addresses.
ParseCounts parseIpv4Routes(std::string_view text, std::vector<Ipv4Route>& out);

/// /proc/net/ipv6_route: no header; 10 fields per route. Addresses are 32 hex digits in network
/// byte order (unlike the socket tables); prefix lengths, metric, refcnt, use and flags are hex.
ParseCounts parseIpv6Routes(std::string_view text, std::vector<Ipv6Route>& out);

/// /proc/net/snmp and /proc/net/netstat: pairs of lines "Proto: Name1 Name2 ..." then
/// "Proto: v1 v2 ...", one Counter per column named Proto+Name. A pair whose value line is
/// missing, has another prefix, has a different number of fields or a non-numeric value is
/// skipped whole; each of its lines counts as skipped. rows counts counters.
ParseCounts parseCounterPairs(std::string_view text, std::vector<Counter>& out);

/// /proc/net/snmp6 (and /proc/net/dev_snmp6/<dev>): "Name value" per line.
ParseCounts parseSnmp6(std::string_view text, std::vector<Counter>& out);

/// /proc/net/igmp: a header line, then per device "<idx>\t<name>: <count> <querier>" followed by
/// its groups "\t\t\t\t<group> <users> <running>:<timer>\t\t<reporter>". A group line before any
/// device line, or one that does not parse, is skipped; so is a device line that does not parse,
/// and with it the group lines under it.
ParseCounts parseIgmp(std::string_view text, std::vector<Ipv4Group>& out);

/// /proc/net/igmp6: no header; "<idx> <device> <group, 32 hex> <users> <flags hex> <timer>".
ParseCounts parseIgmp6(std::string_view text, std::vector<Ipv6Group>& out);

// --- reading a namespace ---------------------------------------------------------------------

/// The files readNetStats() can read, each under /proc/<pid>/net/.
enum class NetStatsFile : std::uint8_t { Dev, Route, Ipv6Route, Snmp, Netstat, Snmp6, Igmp, Igmp6 };

inline constexpr std::size_t kNetStatsFileCount = 8;

inline constexpr std::array<NetStatsFile, kNetStatsFileCount> kAllNetStatsFiles = {
    NetStatsFile::Dev,     NetStatsFile::Route, NetStatsFile::Ipv6Route, NetStatsFile::Snmp,
    NetStatsFile::Netstat, NetStatsFile::Snmp6, NetStatsFile::Igmp,      NetStatsFile::Igmp6};

/// The file's name under /proc/<pid>/net/ ("dev", "ipv6_route", ...).
std::string_view netStatsFileName(NetStatsFile f);

/// A set of NetStatsFile, as a bit mask.
class NetStatsFileSet {
 public:
  constexpr NetStatsFileSet() = default;

  static constexpr NetStatsFileSet all() {
    NetStatsFileSet s;
    s.bits_ = (1U << kNetStatsFileCount) - 1;
    return s;
  }

  constexpr NetStatsFileSet& add(NetStatsFile f) {
    bits_ |= 1U << static_cast<unsigned>(f);
    return *this;
  }

  constexpr bool contains(NetStatsFile f) const { return (bits_ >> static_cast<unsigned>(f)) & 1U; }

  constexpr bool empty() const { return bits_ == 0; }

  constexpr bool operator==(const NetStatsFileSet&) const = default;

 private:
  std::uint32_t bits_ = 0;
};

/// What readNetStats() read from one namespace. Vectors of files not asked for stay empty.
struct NetStats {
  std::vector<InterfaceStats> interfaces;  // dev
  std::vector<Ipv4Route> routes;           // route
  std::vector<Ipv6Route> routes6;          // ipv6_route
  std::vector<Counter> snmp;               // snmp, file order
  std::vector<Counter> netstat;            // netstat, file order
  std::vector<Counter> snmp6;              // snmp6, file order
  std::vector<Ipv4Group> groups;           // igmp
  std::vector<Ipv6Group> groups6;          // igmp6

  NetStatsFileSet read;     // files that were read
  NetStatsFileSet missing;  // asked for but absent in this kernel or namespace (e.g. IPv6 off)
  std::array<std::uint64_t, kNetStatsFileCount> skipped_lines{};  // per NetStatsFile
  std::uint64_t vanished_processes = 0;  // processes of the namespace that went away meanwhile
  std::int32_t pid = 0;  // the process the last file was read through; 0: read from inside
};

/// Reads the files in `what` of namespace `ns` through /proc/<pid>/net/<file> under roots.proc,
/// each file once, trying ns.pids in order: when a process vanishes (or cannot be read) the next
/// one is used for that file and the ones after it. With ns.inode set, a process is used only
/// after its ns/net is seen to be that namespace (a PID of an older scan may have been reused). A
/// file the kernel does not have (its process's net dir exists but the file does not) is recorded
/// in NetStats::missing, not an error. Malformed lines are skipped and counted per file. A
/// namespace no process lives in (or whose processes all went away) but that has a name under
/// roots.netns_dir is read from inside instead: /proc/thread-self/net/<file> opened after entering
/// it (needs CAP_SYS_ADMIN). Fails when neither way works for some file: the namespace is gone, or
/// may not be entered. Enters a namespace only in that case; thread-safe.
[[nodiscard]] Result<NetStats> readNetStats(const Roots& roots,
                                            const NetNamespace& ns,
                                            NetStatsFileSet what = NetStatsFileSet::all());

// --- links (MTU and flags) -------------------------------------------------------------------

/// What /proc/net/dev does not say about an interface, as netlink's RTM_NEWLINK tells it (what
/// netstat -i gets from SIOCGIFMTU and SIOCGIFFLAGS).
struct LinkAttributes {
  std::string name;         // IFLA_IFNAME
  std::int32_t index = 0;   // ifi_index
  std::uint32_t mtu = 0;    // IFLA_MTU
  std::uint32_t flags = 0;  // ifi_flags: IFF_* of <net/if.h>, IFF_LOWER_UP and above included
  bool has_mtu = false;     // IFLA_MTU was present

  bool operator==(const LinkAttributes&) const = default;
};

/// The RTM_NEWLINK messages of a netlink dump answer (a buffer of whole nlmsghdr-framed
/// messages, as recv() returns them), appended to `out`. Other message types are ignored; a
/// message too short for its header, or a link without IFLA_IFNAME, is skipped and counted; a
/// frame whose length runs past the buffer ends the parse (counted once).
ParseCounts parseLinkMessages(std::string_view bytes, std::vector<LinkAttributes>& out);

/// The links of namespace `ns`: an RTM_GETLINK dump over a NETLINK_ROUTE socket opened inside
/// it (setns through a name under roots.netns_dir or a process's ns/net under roots.proc, then
/// straight back; the dump runs from home). Needs CAP_SYS_ADMIN; fails with the reason
/// otherwise, or when the namespace is gone. Thread-safe.
[[nodiscard]] Result<std::vector<LinkAttributes>> readLinks(const Roots& roots,
                                                            const NetNamespace& ns);

}  // namespace podnetstat::scanner
