#include "podnetstat/agent/render/netstat_modes.h"

#include <arpa/inet.h>
#include <net/if.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace podnetstat::agent {
namespace {

using scanner::Counter;
using scanner::Ipv4Group;
using scanner::Ipv4Route;
using scanner::Ipv6Group;
using scanner::Ipv6Route;

// The columns are netstat's printf formats; formatting with the same formats is the surest way
// to get the same bytes.
__attribute__((format(printf, 2, 3))) void appendf(std::string& out, const char* format, ...) {
  std::array<char, 512> buf{};
  va_list args;
  va_start(args, format);
  const int n = std::vsnprintf(buf.data(), buf.size(), format, args);
  va_end(args);
  if (n < 0) {
    return;
  }
  if (static_cast<std::size_t>(n) < buf.size()) {
    out.append(buf.data(), static_cast<std::size_t>(n));
    return;
  }
  std::string big(static_cast<std::size_t>(n) + 1, '\0');
  va_start(args, format);
  std::vsnprintf(big.data(), big.size(), format, args);
  va_end(args);
  big.resize(static_cast<std::size_t>(n));
  out += big;
}

/// A flag bit and the letter(s) netstat prints for it, in netstat's order.
struct FlagLetter {
  std::uint32_t bit;
  const char* letters;
};

// lib/interface.c ife_print_short (the second P is IFF_POINTOPOINT, as in netstat).
constexpr std::array<FlagLetter, 14> kInterfaceFlags = {{
    {IFF_ALLMULTI, "A"},
    {IFF_BROADCAST, "B"},
    {IFF_DEBUG, "D"},
    {IFF_LOOPBACK, "L"},
    {IFF_MULTICAST, "M"},
    {IFF_DYNAMIC, "d"},
    {IFF_PROMISC, "P"},
    {IFF_NOTRAILERS, "N"},
    {IFF_NOARP, "O"},
    {IFF_POINTOPOINT, "P"},
    {IFF_SLAVE, "s"},
    {IFF_MASTER, "m"},
    {IFF_RUNNING, "R"},
    {IFF_UP, "U"},
}};

// RTF_* of include/uapi/linux/route.h and ipv6_route.h that netstat knows.
constexpr std::uint32_t kRtfMtu = 0x0040;
constexpr std::uint32_t kRtfWindow = 0x0080;
constexpr std::uint32_t kRtfIrtt = 0x0100;
constexpr std::uint32_t kRtfNotCached = 0x0400;
constexpr std::uint32_t kRtfDefault = 0x00010000;
constexpr std::uint32_t kRtfAllOnLink = 0x00020000;
constexpr std::uint32_t kRtfAddrConf = 0x00040000;
constexpr std::uint32_t kRtfNoNextHop = 0x00200000;
constexpr std::uint32_t kRtfExpires = 0x00400000;
constexpr std::uint32_t kRtfCache = 0x01000000;
constexpr std::uint32_t kRtfFlow = 0x02000000;
constexpr std::uint32_t kRtfPolicy = 0x04000000;
constexpr std::uint32_t kRtfLocal = 0x80000000;

// lib/inet_gr.c rprint_fib, after U, G and the reject rule (which see ipv4RouteFlagLetters).
constexpr std::array<FlagLetter, 17> kIpv4RouteFlagsAfterReject = {{
    {scanner::kRouteFlagHost, "H"},
    {scanner::kRouteFlagReinstate, "R"},
    {scanner::kRouteFlagDynamic, "D"},
    {scanner::kRouteFlagModified, "M"},
    {kRtfDefault, "d"},
    {kRtfAllOnLink, "a"},
    {kRtfAddrConf, "c"},
    {kRtfNoNextHop, "o"},
    {kRtfExpires, "e"},
    {kRtfCache, "c"},
    {kRtfFlow, "f"},
    {kRtfPolicy, "p"},
    {kRtfLocal, "l"},
    {kRtfMtu, "u"},
    {kRtfWindow, "w"},
    {kRtfIrtt, "i"},
    {kRtfNotCached, "n"},
}};

// lib/inet6_gr.c rprint_fib6.
constexpr std::array<FlagLetter, 12> kIpv6RouteFlags = {{
    {scanner::kRouteFlagUp, "U"},
    {scanner::kRouteFlagReject, "!"},
    {scanner::kRouteFlagGateway, "G"},
    {scanner::kRouteFlagHost, "H"},
    {kRtfDefault, "D"},
    {kRtfAddrConf, "A"},
    {kRtfCache, "C"},
    {kRtfAllOnLink, "a"},
    {kRtfExpires, "e"},
    {scanner::kRouteFlagModified, "m"},
    {kRtfNoNextHop, "n"},
    {kRtfFlow, "f"},
}};

template <std::size_t N>
void appendFlags(std::string& out, std::uint32_t flags, const std::array<FlagLetter, N>& table) {
  for (const FlagLetter& f : table) {
    if ((flags & f.bit) != 0) {
      out += f.letters;
    }
  }
}

/// netstat copies addresses into 128-byte buffers and cuts them at 15 characters.
std::string cut15(std::string s) {
  if (s.size() > 15) {
    s.resize(15);
  }
  return s;
}

/// glibc inet_ntop (what netstat prints), which differs from RFC 5952 for IPv4-compatible forms.
std::string ntop6(const scanner::IpAddress& a) {
  std::array<char, INET6_ADDRSTRLEN> buf{};
  if (::inet_ntop(AF_INET6, a.bytes.data(), buf.data(), buf.size()) == nullptr) {
    return a.toString();
  }
  return buf.data();
}

/// nstrcmp's helpers (lib/nstrcmp.c): a ":<digits>" alias suffix, and where the trailing
/// digits of the rest begin.
struct SplitName {
  std::string base;
  std::optional<std::string> alias;
  std::size_t digits_at = 0;
};

SplitName splitName(const std::string& name) {
  SplitName s{name, std::nullopt, 0};
  bool digit = false;
  for (std::size_t pos = name.size(); pos > 0; --pos) {
    const char c = name[pos - 1];
    if (c == ':' && digit) {
      s.base = name.substr(0, pos - 1);
      s.alias = name.substr(pos);
      break;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) {
      break;
    }
    digit = true;
  }
  s.digits_at = 0;
  for (std::size_t pos = s.base.size(); pos > 0; --pos) {
    if (std::isdigit(static_cast<unsigned char>(s.base[pos - 1])) == 0) {
      s.digits_at = pos;
      break;
    }
  }
  return s;
}

int sign(int v) {
  return (v > 0) - (v < 0);
}

}  // namespace

// --- -i --------------------------------------------------------------------------------------

std::string interfaceFlagLetters(std::uint32_t flags) {
  if (flags == 0) {
    return "[NO FLAGS]";
  }
  std::string out;
  appendFlags(out, flags, kInterfaceFlags);
  return out;
}

int compareInterfaceNames(const std::string& a, const std::string& b) {
  const SplitName x = splitName(a);
  const SplitName y = splitName(b);
  const std::size_t common = std::min(x.digits_at, y.digits_at);
  const int prefix = std::strncmp(x.base.c_str(), y.base.c_str(), common);
  if (prefix != 0) {
    return sign(prefix);
  }
  if (x.digits_at != y.digits_at) {
    return x.digits_at > y.digits_at ? 1 : -1;
  }
  const int xv = std::atoi(x.base.c_str() + x.digits_at);
  const int yv = std::atoi(y.base.c_str() + y.digits_at);
  if (xv != yv) {
    return xv < yv ? -1 : 1;
  }
  const int whole = std::strcmp(x.base.c_str(), y.base.c_str());
  if (whole != 0) {
    return sign(whole);
  }
  const int xa = x.alias ? std::atoi(x.alias->c_str()) : -1;
  const int ya = y.alias ? std::atoi(y.alias->c_str()) : -1;
  if (xa != ya) {
    return xa < ya ? -1 : 1;
  }
  if (x.alias && y.alias) {
    return sign(std::strcmp(x.alias->c_str(), y.alias->c_str()));
  }
  return 0;
}

std::string renderInterfaceTable(const std::vector<scanner::InterfaceStats>& interfaces,
                                 const std::vector<LinkInfo>& links,
                                 const InterfaceTableOptions& options) {
  std::string out =
      "Kernel Interface table\n"
      "Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg\n";
  std::vector<const scanner::InterfaceStats*> rows;
  rows.reserve(interfaces.size());
  for (const auto& i : interfaces) {
    rows.push_back(&i);
  }
  // net-tools inserts into a list kept sorted; equal names keep their order.
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    return compareInterfaceNames(a->name, b->name) < 0;
  });
  for (const scanner::InterfaceStats* i : rows) {
    const auto link = std::find_if(links.begin(), links.end(),
                                   [&](const LinkInfo& l) { return l.name == i->name; });
    // value_or rather than optional copies: GCC 12 warns (maybe-uninitialized) on those.
    const bool has_mtu = link != links.end() && link->mtu.has_value();
    const bool has_flags = link != links.end() && link->flags.has_value();
    const std::uint32_t mtu = has_mtu ? link->mtu.value_or(0) : 0;
    const std::uint32_t flags = has_flags ? link->flags.value_or(0) : 0;
    if (!options.all && has_flags && (flags & IFF_UP) == 0) {
      continue;
    }
    appendf(out, "%-15.15s ", i->name.c_str());
    if (has_mtu) {
      appendf(out, "%5d ", static_cast<int>(mtu));
    } else {
      appendf(out, "%5s ", "-");
    }
    appendf(out, "%8llu %6llu %6llu %-6llu ", static_cast<unsigned long long>(i->rx_packets),
            static_cast<unsigned long long>(i->rx_errs),
            static_cast<unsigned long long>(i->rx_drop),
            static_cast<unsigned long long>(i->rx_fifo));
    appendf(out, "%8llu %6llu %6llu %6llu ", static_cast<unsigned long long>(i->tx_packets),
            static_cast<unsigned long long>(i->tx_errs),
            static_cast<unsigned long long>(i->tx_drop),
            static_cast<unsigned long long>(i->tx_fifo));
    out += has_flags ? interfaceFlagLetters(flags) : std::string("-");
    out += '\n';
  }
  return out;
}

// --- -r --------------------------------------------------------------------------------------

std::string ipv4RouteFlagLetters(std::uint32_t flags) {
  std::string out;
  if ((flags & scanner::kRouteFlagUp) != 0) {
    out += 'U';
  }
  if ((flags & scanner::kRouteFlagGateway) != 0) {
    out += 'G';
  }
  // netstat replaces what it has so far with "!" for a reject route.
  if ((flags & scanner::kRouteFlagReject) != 0) {
    out = "!";
  }
  appendFlags(out, flags, kIpv4RouteFlagsAfterReject);
  return out;
}

std::string renderIpv4Routes(const std::vector<Ipv4Route>& routes, bool numeric) {
  std::string out =
      "Kernel IP routing table\n"
      "Destination     Gateway         Genmask         Flags   MSS Window  irtt Iface\n";
  for (const Ipv4Route& r : routes) {
    if ((r.flags & scanner::kRouteFlagUp) == 0) {
      continue;
    }
    const std::string dst =
        cut15(!numeric && r.destination.isUnspecified() ? std::string("default")
                                                        : r.destination.toString());
    const std::string gw = cut15(r.gateway.toString());
    const std::string mask = cut15(r.mask.toString());
    const std::string flags = ipv4RouteFlagLetters(r.flags);
    if ((r.flags & scanner::kRouteFlagReject) != 0) {
      appendf(out, "%-15s -               %-15s %-5s     - -          - -\n", dst.c_str(),
              mask.c_str(), flags.c_str());
      continue;
    }
    appendf(out, "%-15s %-15s %-15s %-5s %5d %-5d %6d %s\n", dst.c_str(), gw.c_str(), mask.c_str(),
            flags.c_str(), static_cast<int>(r.mtu), static_cast<int>(r.window),
            static_cast<int>(r.irtt), r.iface.c_str());
  }
  return out;
}

std::string ipv6RouteFlagLetters(std::uint32_t flags) {
  std::string out;
  appendFlags(out, flags, kIpv6RouteFlags);
  return out;
}

std::string renderIpv6Routes(const std::vector<Ipv6Route>& routes, bool /*numeric*/) {
  std::string out =
      "Kernel IPv6 routing table\n"
      "Destination                    Next Hop                   Flag Met Ref  Use If\n";
  for (const Ipv6Route& r : routes) {
    if ((r.flags & kRtfCache) != 0) {
      continue;  // "Kernel IPv6 routing cache" (-C) only
    }
    const std::string dst = ntop6(r.destination) + "/" + std::to_string(r.destination_prefix);
    const std::string hop = ntop6(r.next_hop);
    const std::string flags = ipv6RouteFlagLetters(r.flags);
    // netstat scans metric, refcnt and use with %08x into ints.
    appendf(out, "%-30s %-26s %-4s %-3d %-1d %6d %s\n", dst.c_str(), hop.c_str(), flags.c_str(),
            static_cast<int>(r.metric), static_cast<int>(r.ref_count), static_cast<int>(r.use),
            r.device.c_str());
  }
  return out;
}

// --- -g --------------------------------------------------------------------------------------

std::string renderGroups(const std::vector<Ipv4Group>& groups,
                         const std::vector<Ipv6Group>& groups6,
                         const GroupOptions& options) {
  std::string out =
      "IPv6/IPv4 Group Memberships\n"
      "Interface       RefCnt Group\n"
      "--------------- ------ ---------------------\n";
  if (options.ipv4) {
    for (const Ipv4Group& g : groups) {
      // netstat reads the device column with %10c.
      const std::string device = g.device.substr(0, std::min<std::size_t>(g.device.size(), 10));
      appendf(out, "%-15s %-6d %s\n", device.c_str(), static_cast<int>(g.users),
              g.group.toString().c_str());
    }
  }
  if (options.ipv6) {
    for (const Ipv6Group& g : groups6) {
      appendf(out, "%-15s %-6d %s\n", g.device.c_str(), static_cast<int>(g.users),
              ntop6(g.group).c_str());
    }
  }
  return out;
}

// --- -s --------------------------------------------------------------------------------------

bool counterSelected(const std::string& name, const CounterOptions& options) {
  if (!options.tcp && !options.udp) {
    return true;
  }
  const std::string_view n = name;
  const bool tcp = n.starts_with("Tcp") || n.starts_with("MPTcp");
  const bool udp = n.starts_with("Udp");
  return (options.tcp && tcp) || (options.udp && udp);
}

std::string renderCounters(const std::vector<Counter>& snmp,
                           const std::vector<Counter>& snmp6,
                           const std::vector<Counter>& netstat,
                           const CounterOptions& options) {
  std::string out = "#kernel\n";
  for (const std::vector<Counter>* file : {&snmp, &snmp6, &netstat}) {
    for (const Counter& c : *file) {
      if (scanner::isNstatHidden(c.name) || !counterSelected(c.name, options)) {
        continue;
      }
      // iproute2 nstat dump_kern_db: "%-32s%-16llu%6.1f\n"; the rate needs a history we lack.
      appendf(out, "%-32s%-16llu%6.1f\n", c.name.c_str(), static_cast<unsigned long long>(c.value),
              0.0);
    }
  }
  return out;
}

std::string renderCounters(const scanner::NetStats& stats, const CounterOptions& options) {
  return renderCounters(stats.snmp, stats.snmp6, stats.netstat, options);
}

}  // namespace podnetstat::agent
