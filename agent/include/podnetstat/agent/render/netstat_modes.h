#pragma once

// The rest of netstat as text: the interface table (-i), the routing tables (-r, -r -A inet6),
// the multicast group memberships (-g) and the protocol counters (-s, printed as `nstat -az`
// prints them). Pure functions from what the scanner parsed (net_stats.h) to the exact bytes
// net-tools netstat 2.10 (lib/interface.c ife_print_short, lib/inet_gr.c rprint_fib,
// lib/inet6_gr.c rprint_fib6, netstat.c igmp_do_one) and iproute2 nstat print for the same
// namespace. Nothing here reads a file or resolves a name: the resolved (non -n) forms fall back
// to the numeric ones, except the words netstat prints without asking a database ("default").

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "podnetstat/scanner/net_stats.h"

namespace podnetstat::agent {

// --- -i --------------------------------------------------------------------------------------

/// What /proc/<pid>/net/dev does not say about an interface: its MTU and its IFF_* flags
/// (SIOCGIFMTU/SIOCGIFFLAGS, or IFLA_MTU and ifi_flags from netlink). Filled by whoever can ask
/// the namespace; a field left empty is printed as "-".
struct LinkInfo {
  std::string name;
  std::optional<std::uint32_t> mtu;
  std::optional<std::uint32_t> flags;  // IFF_UP, IFF_BROADCAST, ... (<net/if.h>)
};

/// Options of the interface table.
struct InterfaceTableOptions {
  /// -a: down interfaces too. Without it an interface is left out only when its flags are known
  /// and lack IFF_UP (when unknown it cannot be told down, so it is shown).
  bool all = false;
};

/// netstat -i: "Kernel Interface table", one row per interface of /proc/net/dev, sorted as
/// net-tools sorts its interface list (by name, trailing numbers compared as numbers: eth2 before
/// eth10). MTU and Flg come from the LinkInfo of the same name; when there is none, or a field of
/// it is empty, the column shows "-" (right-aligned in MTU's 5 columns). With both known the row
/// is byte-identical to netstat's.
std::string renderInterfaceTable(const std::vector<scanner::InterfaceStats>& interfaces,
                                 const std::vector<LinkInfo>& links,
                                 const InterfaceTableOptions& options = {});

/// The letters of netstat's Flg column for IFF_* `flags` ("BMRU", "LRU"; "[NO FLAGS]" for 0).
std::string interfaceFlagLetters(std::uint32_t flags);

/// The order net-tools keeps interfaces in (its nstrcmp): negative, 0 or positive like strcmp.
int compareInterfaceNames(const std::string& a, const std::string& b);

// --- -r --------------------------------------------------------------------------------------

/// netstat -r (numeric: -rn): "Kernel IP routing table" with Destination Gateway Genmask Flags
/// MSS Window irtt Iface, the routes of /proc/net/route that are up, in file order. Without
/// `numeric` the all-zero destination is "default"; other addresses stay numeric (netstat would
/// ask the resolver and /etc/networks).
std::string renderIpv4Routes(const std::vector<scanner::Ipv4Route>& routes, bool numeric);

/// The letters of netstat -r's Flags column for an IPv4 route (U G H R D M ..., "!" for reject).
std::string ipv4RouteFlagLetters(std::uint32_t flags);

/// netstat -r -A inet6 (or -6): "Kernel IPv6 routing table" with Destination Next Hop Flag Met
/// Ref Use If, every row of /proc/net/ipv6_route except cached clones, in file order. Without
/// `numeric` netstat would resolve addresses to names; we print them numeric either way.
std::string renderIpv6Routes(const std::vector<scanner::Ipv6Route>& routes, bool numeric);

/// The letters of the IPv6 table's Flag column (U ! G H D A C a e m n f).
std::string ipv6RouteFlagLetters(std::uint32_t flags);

// --- -g --------------------------------------------------------------------------------------

/// Options of the group list.
struct GroupOptions {
  bool numeric = true;  // -n; without it netstat resolves group names (we print numbers)
  bool ipv4 = true;     // igmp (both are on unless -4 or -6 / -A restricts)
  bool ipv6 = true;     // igmp6
};

/// netstat -g: "IPv6/IPv4 Group Memberships", the IPv4 groups (igmp) then the IPv6 ones (igmp6),
/// each in file order. Like netstat, an IPv4 group's device name is cut to its first 10
/// characters (netstat reads the igmp file's 10-wide device column).
std::string renderGroups(const std::vector<scanner::Ipv4Group>& groups,
                         const std::vector<scanner::Ipv6Group>& groups6,
                         const GroupOptions& options = {});

// --- -s --------------------------------------------------------------------------------------

/// Which counters -s prints.
struct CounterOptions {
  /// -t: TCP counters (Tcp*, TcpExt*, MPTcpExt*); -u: UDP counters (Udp*, UdpLite*, Udp6*,
  /// UdpLite6*). Both false: every counter. Both true: the union.
  bool tcp = false;
  bool udp = false;
};

/// True when `name` is selected by `options` (see CounterOptions).
bool counterSelected(const std::string& name, const CounterOptions& options);

/// -s: what `nstat -az` prints for the namespace: "#kernel", then one line per counter, the name
/// padded to 32, the value padded to 16 and a rate of "0.0" (there is no history to rate
/// against), in nstat's order (snmp, then snmp6, then netstat, each in file order), leaving out
/// the values nstat hides (scanner::isNstatHidden) and those `options` does not select.
std::string renderCounters(const std::vector<scanner::Counter>& snmp,
                           const std::vector<scanner::Counter>& snmp6,
                           const std::vector<scanner::Counter>& netstat,
                           const CounterOptions& options = {});

/// renderCounters() of what readNetStats() read.
std::string renderCounters(const scanner::NetStats& stats, const CounterOptions& options = {});

}  // namespace podnetstat::agent
