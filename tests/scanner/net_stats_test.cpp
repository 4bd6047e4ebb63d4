// The netstat -i/-r/-s/-g parsers (net_stats.h): on files captured from real namespaces
// (tests/fixtures/netstat-extra, see its capture.sh) checked against what ip, netstat and nstat
// said inside the namespace at the same time; on damaged copies of them; and live, on namespaces
// made here (veth pair, routes, multicast joins, UDP traffic), through readNetStats().

#include "podnetstat/scanner/net_stats.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "netns.h"
#include "netstat_text.h"
#include "test_paths.h"

namespace podnetstat::scanner {
namespace {

namespace fs = std::filesystem;
using podnetstat::testing::splitLines;
using namespace std::chrono_literals;

fs::path extra() {
  return testing::fixturesDir() / "netstat-extra";
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> words(const std::string& line) {
  std::vector<std::string> out;
  std::istringstream in(line);
  for (std::string w; in >> w;) {
    out.push_back(w);
  }
  return out;
}

/// Every file of the fixture, parsed as readNetStats() would.
NetStats parseCapture(const fs::path& dir) {
  NetStats s;
  EXPECT_EQ(parseNetDev(readFile(dir / "dev"), s.interfaces).skipped, 0U);
  EXPECT_EQ(parseIpv4Routes(readFile(dir / "route"), s.routes).skipped, 0U);
  EXPECT_EQ(parseIpv6Routes(readFile(dir / "ipv6_route"), s.routes6).skipped, 0U);
  EXPECT_EQ(parseCounterPairs(readFile(dir / "snmp"), s.snmp).skipped, 0U);
  EXPECT_EQ(parseCounterPairs(readFile(dir / "netstat"), s.netstat).skipped, 0U);
  EXPECT_EQ(parseSnmp6(readFile(dir / "snmp6"), s.snmp6).skipped, 0U);
  EXPECT_EQ(parseIgmp(readFile(dir / "igmp"), s.groups).skipped, 0U);
  EXPECT_EQ(parseIgmp6(readFile(dir / "igmp6"), s.groups6).skipped, 0U);
  return s;
}

// --- what the tools print, reduced to comparable values ---------------------------------------

struct LinkCounters {
  std::uint64_t rx_bytes = 0;
  std::uint64_t rx_packets = 0;
  std::uint64_t tx_bytes = 0;
  std::uint64_t tx_packets = 0;
};

/// `ip -s link`: interface name -> RX/TX bytes and packets.
std::map<std::string, LinkCounters> parseIpSLink(const std::string& text) {
  std::map<std::string, LinkCounters> out;
  const auto ls = splitLines(text);
  std::string current;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    const auto w = words(ls[i]);
    if (w.size() >= 2 && !ls[i].empty() && ls[i][0] != ' ') {
      current = w[1].substr(0, w[1].find_first_of("@:"));
    } else if (!w.empty() && (w[0] == "RX:" || w[0] == "TX:") && i + 1 < ls.size()) {
      const auto v = words(ls[i + 1]);
      if (v.size() >= 2) {
        auto& c = out[current];
        (w[0] == "RX:" ? c.rx_bytes : c.tx_bytes) = std::stoull(v[0]);
        (w[0] == "RX:" ? c.rx_packets : c.tx_packets) = std::stoull(v[1]);
      }
    }
  }
  return out;
}

/// `nstat -az`: counter name -> value.
std::map<std::string, std::uint64_t> parseNstat(const std::string& text) {
  std::map<std::string, std::uint64_t> out;
  for (const auto& line : splitLines(text)) {
    const auto w = words(line);
    if (w.size() >= 2 && w[0][0] != '#') {
      out[w[0]] = std::stoull(w[1]);
    }
  }
  return out;
}

/// Route flags as net-tools prints them (lib/inet_gr.c), in its order: data, not if chains.
std::string routeFlagsText(std::uint32_t flags) {
  static constexpr std::pair<std::uint32_t, char> kFlags[] = {
      {kRouteFlagUp, 'U'},      {kRouteFlagGateway, 'G'},   {kRouteFlagReject, '!'},
      {kRouteFlagHost, 'H'},    {kRouteFlagReinstate, 'R'}, {kRouteFlagDynamic, 'D'},
      {kRouteFlagModified, 'M'}};
  std::string s;
  for (const auto& [bit, c] : kFlags) {
    if ((flags & bit) != 0) {
      s += c;
    }
  }
  return s;
}

/// `netstat -rn` rows: Destination Gateway Genmask Flags MSS Window irtt Iface.
std::vector<std::vector<std::string>> netstatRoutes(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  for (const auto& line : splitLines(text)) {
    auto w = words(line);
    if (w.size() == 8 && w[0] != "Destination") {
      out.push_back(std::move(w));
    }
  }
  return out;
}

std::vector<std::vector<std::string>> ourRoutes(const NetStats& s) {
  std::vector<std::vector<std::string>> out;
  for (const Ipv4Route& r : s.routes) {
    out.push_back({r.destination.toString(), r.gateway.toString(), r.mask.toString(),
                   routeFlagsText(r.flags), std::to_string(r.mtu), std::to_string(r.window),
                   std::to_string(r.irtt), r.iface});
  }
  return out;
}

/// `netstat -gn` rows: Interface RefCnt Group.
std::vector<std::vector<std::string>> netstatGroups(const std::string& text) {
  std::vector<std::vector<std::string>> out;
  bool body = false;
  for (const auto& line : splitLines(text)) {
    if (line.rfind("-----", 0) == 0) {
      body = true;
    } else if (body) {
      out.push_back(words(line));
    }
  }
  return out;
}

std::vector<std::vector<std::string>> ourGroups(const NetStats& s) {
  std::vector<std::vector<std::string>> out;
  for (const Ipv4Group& g : s.groups) {
    out.push_back({g.device, std::to_string(g.users), g.group.toString()});
  }
  for (const Ipv6Group& g : s.groups6) {
    out.push_back({g.device, std::to_string(g.users), g.group.toString()});
  }
  return out;
}

/// Checks every line of `ip -6 route show table all` against the parsed ipv6_route rows.
void expectIpv6RoutesCover(const NetStats& s, const std::string& ip_output) {
  int checked = 0;
  for (const auto& line : splitLines(ip_output)) {
    auto w = words(line);
    if (w.empty()) {
      continue;
    }
    static const std::set<std::string> kTypes = {"local",     "multicast", "unreachable", "anycast",
                                                 "broadcast", "blackhole", "prohibit",    "throw"};
    if (kTypes.count(w[0]) != 0) {
      w.erase(w.begin());
    }
    std::string dest = w[0];
    if (dest.find('/') == std::string::npos) {
      dest += "/128";
    }
    std::string dev;
    std::string via;
    std::string metric = "0";
    for (std::size_t i = 1; i + 1 < w.size(); ++i) {
      if (w[i] == "dev") {
        dev = w[i + 1];
      } else if (w[i] == "via") {
        via = w[i + 1];
      } else if (w[i] == "metric") {
        metric = w[i + 1];
      }
    }
    bool found = false;
    for (const Ipv6Route& r : s.routes6) {
      const std::string ours =
          r.destination.toString() + "/" + std::to_string(r.destination_prefix);
      if (ours == dest && r.device == dev && std::to_string(r.metric) == metric &&
          (via.empty() || r.next_hop.toString() == via)) {
        found = true;
      }
    }
    EXPECT_TRUE(found) << "ip -6 route: " << line;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

/// All counters of the three files, by name.
std::map<std::string, std::uint64_t> counterMap(const NetStats& s) {
  std::map<std::string, std::uint64_t> out;
  for (const auto* v : {&s.snmp, &s.netstat, &s.snmp6}) {
    for (const Counter& c : *v) {
      out[c.name] = c.value;
    }
  }
  return out;
}

/// Our counters against nstat's: the same names (ours minus what nstat hides; nstat's minus
/// files we do not read, e.g. sctp) and the same values, except the names in `moved`.
void expectCountersMatchNstat(const NetStats& s,
                              const std::map<std::string, std::uint64_t>& nstat,
                              const std::set<std::string>& moved = {}) {
  const auto ours = counterMap(s);
  ASSERT_GT(ours.size(), 100U);
  for (const auto& [name, value] : ours) {
    if (isNstatHidden(name)) {
      EXPECT_EQ(nstat.count(name), 0U) << name;
      continue;
    }
    const auto it = nstat.find(name);
    ASSERT_NE(it, nstat.end()) << name << " is not in nstat -az";
    if (moved.count(name) == 0) {
      EXPECT_EQ(value, it->second) << name;
    }
  }
  for (const auto& [name, value] : nstat) {
    if (name.rfind("Sctp", 0) != 0) {
      EXPECT_EQ(ours.count(name), 1U) << name << " from nstat -az is not ours";
    }
  }
}

// --- parsers on real captures -----------------------------------------------------------------

TEST(NetStatsCaptureTest, InterfacesMatchIpSLink) {
  const NetStats s = parseCapture(extra());
  const auto ip = parseIpSLink(readFile(extra() / "cmd_ip_s_link.txt"));
  ASSERT_EQ(s.interfaces.size(), 2U);
  EXPECT_EQ(s.interfaces[0].name, "lo");
  EXPECT_EQ(s.interfaces[1].name, "vx0");
  for (const InterfaceStats& i : s.interfaces) {
    ASSERT_EQ(ip.count(i.name), 1U) << i.name;
    const LinkCounters& c = ip.at(i.name);
    // ip ran after the copy: its counters can only be ahead, by the odd multicast report.
    EXPECT_LE(i.rx_bytes, c.rx_bytes) << i.name;
    EXPECT_LE(c.rx_packets - i.rx_packets, 3U) << i.name;
    EXPECT_LE(i.tx_bytes, c.tx_bytes) << i.name;
    EXPECT_LE(c.tx_packets - i.tx_packets, 3U) << i.name;
  }
  EXPECT_GT(s.interfaces[1].tx_packets, 5U);  // the UDP sends
}

TEST(NetStatsCaptureTest, Ipv4RoutesMatchNetstatRn) {
  const NetStats s = parseCapture(extra());
  EXPECT_EQ(ourRoutes(s), netstatRoutes(readFile(extra() / "cmd_netstat_rn.txt")));
  ASSERT_EQ(s.routes.size(), 3U);
  EXPECT_EQ(s.routes[2].metric, 7);
  EXPECT_EQ(s.routes[2].flags, kRouteFlagUp | kRouteFlagGateway);
}

TEST(NetStatsCaptureTest, Ipv6RoutesMatchIpRoute) {
  const NetStats s = parseCapture(extra());
  expectIpv6RoutesCover(s, readFile(extra() / "cmd_ip6_route_all.txt"));
  ASSERT_FALSE(s.routes6.empty());
  EXPECT_EQ(s.routes6[0].destination.toString(), "2001:db8:1::");
  EXPECT_EQ(s.routes6[0].destination_prefix, 48);
  EXPECT_EQ(s.routes6[0].next_hop.toString(), "fd00:78::2");
  EXPECT_EQ(s.routes6[0].metric, 9U);
}

TEST(NetStatsCaptureTest, CountersMatchNstatAz) {
  const NetStats s = parseCapture(extra());
  expectCountersMatchNstat(s, parseNstat(readFile(extra() / "cmd_nstat_az.txt")));
  EXPECT_EQ(findCounter(s.snmp, "UdpOutDatagrams"), 5U);
  EXPECT_EQ(findCounter(s.snmp, "IpForwarding"), 1U);
  EXPECT_EQ(findCounter(s.snmp, "TcpMaxConn"), UINT64_MAX);  // -1, as nstat reads it
  EXPECT_TRUE(findCounter(s.netstat, "TcpExtListenOverflows").has_value());
  EXPECT_EQ(findCounter(s.snmp6, "Udp6OutDatagrams"), 5U);
  EXPECT_FALSE(findCounter(s.snmp, "NoSuchCounter").has_value());
}

TEST(NetStatsCaptureTest, GroupsMatchNetstatGn) {
  const NetStats s = parseCapture(extra());
  EXPECT_EQ(ourGroups(s), netstatGroups(readFile(extra() / "cmd_netstat_g.txt")));
  ASSERT_EQ(s.groups.size(), 3U);
  EXPECT_EQ(s.groups[1].device, "vx0");
  EXPECT_EQ(s.groups[1].ifindex, 2);
  EXPECT_EQ(s.groups[1].device_groups, 2U);
  EXPECT_EQ(s.groups[1].querier, "V3");
  EXPECT_EQ(s.groups[1].group.toString(), "239.1.2.3");
}

// --- damaged copies ---------------------------------------------------------------------------

/// The text with line `n` (0-based) replaced.
std::string replaceLine(const std::string& text, std::size_t n, const std::string& with) {
  auto ls = splitLines(text);
  ls.at(n) = with;
  std::string out;
  for (const auto& l : ls) {
    out += l + "\n";
  }
  return out;
}

TEST(NetStatsMalformedTest, NetDevSkipsTruncatedAndGarbageLines) {
  const std::string good = readFile(extra() / "dev");
  std::string text = replaceLine(good, 2, "    lo:       0       0    0");  // truncated
  text += "garbage without colon\n   vx9: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 x\n";
  std::vector<InterfaceStats> out;
  const ParseCounts c = parseNetDev(text, out);
  EXPECT_EQ(c.skipped, 3U);
  EXPECT_EQ(c.rows, 1U);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].name, "vx0");
}

TEST(NetStatsMalformedTest, NetDevNameTouchingTheColon) {
  std::vector<InterfaceStats> out;
  const ParseCounts c =
      parseNetDev("h1\nh2\nveth0123456789ab:1234 5 0 0 0 0 0 0 99 6 0 0 0 0 0 0\n", out);
  EXPECT_EQ(c.skipped, 0U);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].name, "veth0123456789ab");
  EXPECT_EQ(out[0].rx_bytes, 1234U);
  EXPECT_EQ(out[0].tx_bytes, 99U);
}

TEST(NetStatsMalformedTest, RoutesSkipBadRowsAndKeepTheRest) {
  const std::string good = readFile(extra() / "route");
  const std::string text = replaceLine(good, 1, "vx0\t0000000") + "vx0\tZZZZZZZZ\n";
  std::vector<Ipv4Route> out;
  const ParseCounts c = parseIpv4Routes(text, out);
  EXPECT_EQ(c.skipped, 2U);
  EXPECT_EQ(out.size(), 2U);

  const std::string good6 = readFile(extra() / "ipv6_route");
  std::string text6 = replaceLine(good6, 0, good6.substr(0, 50));
  text6 +=
      "00000000000000000000000000000000 ff 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000000 00000001 00000000 00000001 lo\n";
  std::vector<Ipv6Route> out6;
  const ParseCounts c6 = parseIpv6Routes(text6, out6);
  EXPECT_EQ(c6.skipped, 2U);  // truncated; prefix 255
  EXPECT_EQ(out6.size(), splitLines(good6).size() - 1);
}

TEST(NetStatsMalformedTest, CounterPairsSkipOnlyTheBrokenPair) {
  const std::string good = readFile(extra() / "snmp");
  std::vector<Counter> all;
  ASSERT_EQ(parseCounterPairs(good, all).skipped, 0U);
  // The value line "Tcp: 1 200 120000 -1 ...", without its last value.
  const auto ls = splitLines(good);
  std::size_t tcp = 0;
  while (tcp < ls.size() && ls[tcp].rfind("Tcp: 1", 0) != 0) {
    ++tcp;
  }
  ASSERT_LT(tcp, ls.size());
  const std::string truncated = ls[tcp].substr(0, ls[tcp].rfind(' '));
  std::vector<Counter> out;
  const ParseCounts c = parseCounterPairs(replaceLine(good, tcp, truncated), out);
  EXPECT_EQ(c.skipped, 2U);
  EXPECT_FALSE(findCounter(out, "TcpInSegs").has_value());
  EXPECT_EQ(findCounter(out, "UdpOutDatagrams"), findCounter(all, "UdpOutDatagrams"));
  EXPECT_EQ(findCounter(out, "IpInReceives"), findCounter(all, "IpInReceives"));

  // A header cut off at the end of the file, values without a header, a non-number.
  std::vector<Counter> more;
  const ParseCounts c2 =
      parseCounterPairs("Ip: 1 2\nFoo: A B\nFoo: 1 x\nBar: A\nBar: 7\nBaz: A B\n", more);
  EXPECT_EQ(c2.skipped, 4U);
  ASSERT_EQ(more.size(), 1U);
  EXPECT_EQ(more[0], (Counter{"BarA", 7}));
}

TEST(NetStatsMalformedTest, Snmp6SkipsBadLines) {
  std::vector<Counter> out;
  const ParseCounts c =
      parseSnmp6(readFile(extra() / "snmp6") + "Ip6Broken\nIp6Bad x\nIp6Extra 1 2\n", out);
  EXPECT_EQ(c.skipped, 3U);
  EXPECT_EQ(c.rows, splitLines(readFile(extra() / "snmp6")).size());
}

TEST(NetStatsMalformedTest, IgmpSkipsBadDeviceWithItsGroups) {
  const std::string good = readFile(extra() / "igmp");
  // Lines: header, lo, lo's group, vx0, vx0's two groups. Break lo's device line.
  std::vector<Ipv4Group> out;
  const ParseCounts c = parseIgmp(replaceLine(good, 1, "1\tlo"), out);
  EXPECT_EQ(c.skipped, 2U);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].device, "vx0");

  std::vector<Ipv4Group> out2;
  const ParseCounts c2 = parseIgmp(replaceLine(good, 4, "\t\t\t\t030201EF     1"), out2);
  EXPECT_EQ(c2.skipped, 1U);
  EXPECT_EQ(out2.size(), 2U);

  std::vector<Ipv6Group> out6;
  const ParseCounts c6 = parseIgmp6(readFile(extra() / "igmp6") + "2 vx0 ff02\n", out6);
  EXPECT_EQ(c6.skipped, 1U);
  EXPECT_EQ(out6.size(), 7U);
}

TEST(NetStatsMalformedTest, EmptyTextYieldsNothing) {
  NetStats s;
  EXPECT_EQ(parseNetDev("", s.interfaces).rows, 0U);
  EXPECT_EQ(parseIpv4Routes("", s.routes).rows, 0U);
  EXPECT_EQ(parseIpv6Routes("", s.routes6).rows, 0U);
  EXPECT_EQ(parseCounterPairs("", s.snmp).rows, 0U);
  EXPECT_EQ(parseSnmp6("", s.snmp6).rows, 0U);
  EXPECT_EQ(parseIgmp("", s.groups).rows, 0U);
  EXPECT_EQ(parseIgmp6("", s.groups6).rows, 0U);
}

// --- readNetStats on a fixture tree -----------------------------------------------------------

TEST(ReadNetStatsTest, UsesTheNextProcessWhenOneVanished) {
  const testing::ScratchDir dir;
  const fs::path net = dir.path() / "42" / "net";
  fs::create_directories(net);
  for (const char* f : {"dev", "route", "snmp", "netstat", "snmp6", "igmp", "igmp6"}) {
    fs::copy_file(extra() / f, net / f);
  }  // no ipv6_route: "IPv6 off"
  Roots roots;
  roots.proc = dir.path();
  NetNamespace ns;
  ns.pids = {7, 42};  // 7 does not exist
  const auto r = readNetStats(roots, ns);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->pid, 42);
  EXPECT_EQ(r->vanished_processes, 1U);
  EXPECT_TRUE(r->missing.contains(NetStatsFile::Ipv6Route));
  EXPECT_FALSE(r->read.contains(NetStatsFile::Ipv6Route));
  EXPECT_TRUE(r->read.contains(NetStatsFile::Igmp6));
  EXPECT_EQ(r->interfaces.size(), 2U);
  EXPECT_EQ(r->routes.size(), 3U);

  const auto only = readNetStats(roots, ns, NetStatsFileSet().add(NetStatsFile::Route));
  ASSERT_TRUE(only.ok());
  EXPECT_TRUE(only->interfaces.empty());
  EXPECT_EQ(only->routes.size(), 3U);

  // A PID whose namespace is not (or no longer) the one asked for is passed over.
  ns.inode = 4026532999;
  fs::create_directories(dir.path() / "43" / "net");
  for (const char* f : {"dev", "route"}) {
    fs::copy_file(extra() / f, dir.path() / "43" / "net" / f);
  }
  ns.pids = {42, 43};  // neither has an ns/net link of that inode
  EXPECT_FALSE(readNetStats(roots, ns).ok());

  ns.inode = 0;
  ns.pids = {7};
  EXPECT_FALSE(readNetStats(roots, ns).ok());
  ns.pids = {};
  EXPECT_FALSE(readNetStats(roots, ns).ok());
}

// --- parseLinkMessages ---------------------------------------------------------------------

/// An RTM_NEWLINK message as the kernel frames it (nlmsghdr, ifinfomsg, IFLA_IFNAME, IFLA_MTU).
std::string linkMessage(const std::string& name,
                        std::uint32_t mtu,
                        std::uint32_t flags,
                        int index) {
  const auto align = [](std::size_t n) {
    return (n + 3U) & ~std::size_t{3};
  };
  std::string attrs;
  const auto attr = [&](std::uint16_t type, const void* data, std::size_t len) {
    const std::uint16_t total = static_cast<std::uint16_t>(4 + len);
    std::string a(align(total), '\0');
    std::memcpy(a.data(), &total, 2);
    std::memcpy(a.data() + 2, &type, 2);
    std::memcpy(a.data() + 4, data, len);
    attrs += a;
  };
  attr(IFLA_IFNAME, name.c_str(), name.size() + 1);
  attr(IFLA_MTU, &mtu, sizeof mtu);
  ifinfomsg info{};
  info.ifi_index = index;
  info.ifi_flags = flags;
  nlmsghdr h{};
  h.nlmsg_type = RTM_NEWLINK;
  h.nlmsg_len = static_cast<std::uint32_t>(sizeof h + align(sizeof info) + attrs.size());
  std::string out(sizeof h + align(sizeof info), '\0');
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + sizeof h, &info, sizeof info);
  return out + attrs;
}

TEST(ParseLinkMessagesTest, NameMtuFlagsAndIndexOfEachLink) {
  std::vector<LinkAttributes> out;
  const ParseCounts c = parseLinkMessages(
      linkMessage("lo", 65536, IFF_UP | IFF_LOOPBACK, 1) + linkMessage("eth0", 1500, IFF_UP, 2),
      out);
  EXPECT_EQ(c.rows, 2U);
  EXPECT_EQ(c.skipped, 0U);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0], (LinkAttributes{"lo", 1, 65536, IFF_UP | IFF_LOOPBACK, true}));
  EXPECT_EQ(out[1], (LinkAttributes{"eth0", 2, 1500, IFF_UP, true}));
}

TEST(ParseLinkMessagesTest, ACapturedDumpGivesEveryLink) {
  // rtm_newlink_dump.bin: capture_links.sh (lo up, veth pfz0 up and its peer pfz1 down).
  std::vector<LinkAttributes> out;
  const ParseCounts c = parseLinkMessages(readFile(extra() / "rtm_newlink_dump.bin"), out);
  EXPECT_EQ(c.skipped, 0U);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0].name, "lo");
  EXPECT_EQ(out[0].index, 1);
  EXPECT_EQ(out[0].mtu, 65536U);
  EXPECT_EQ(out[0].flags & (IFF_UP | IFF_LOOPBACK | IFF_RUNNING),
            static_cast<unsigned>(IFF_UP | IFF_LOOPBACK | IFF_RUNNING));
  std::map<std::string, LinkAttributes> by_name;
  for (const auto& l : out) {
    by_name[l.name] = l;
  }
  ASSERT_EQ(by_name.count("pfz0"), 1U);
  ASSERT_EQ(by_name.count("pfz1"), 1U);
  EXPECT_EQ(by_name["pfz0"].mtu, 1500U);
  EXPECT_NE(by_name["pfz0"].flags & IFF_UP, 0U);
  EXPECT_EQ(by_name["pfz1"].flags & IFF_UP, 0U);
  EXPECT_TRUE(by_name["pfz1"].has_mtu);
}

TEST(ParseLinkMessagesTest, BrokenMessagesAreCountedNotTrusted) {
  const std::string good = linkMessage("eth0", 1500, IFF_UP, 2);
  std::vector<LinkAttributes> out;
  // Cut in the middle: the frame runs past the buffer.
  ParseCounts c = parseLinkMessages(good + good.substr(0, good.size() - 6), out);
  EXPECT_EQ(c.rows, 1U);
  EXPECT_EQ(c.skipped, 1U);
  // A message too short for its ifinfomsg.
  out.clear();
  std::string tiny(sizeof(nlmsghdr) + 4, '\0');
  nlmsghdr h{};
  h.nlmsg_type = RTM_NEWLINK;
  h.nlmsg_len = static_cast<std::uint32_t>(tiny.size());
  std::memcpy(tiny.data(), &h, sizeof h);
  c = parseLinkMessages(tiny + good, out);
  EXPECT_EQ(c.skipped, 1U);
  EXPECT_EQ(out.size(), 1U);
  // Other message types are not links; an empty buffer is nothing.
  out.clear();
  std::string done = good;
  h.nlmsg_type = NLMSG_DONE;
  h.nlmsg_len = static_cast<std::uint32_t>(good.size());
  std::memcpy(done.data(), &h, sizeof h);
  EXPECT_EQ(parseLinkMessages(done, out).rows, 0U);
  EXPECT_EQ(parseLinkMessages("", out).rows, 0U);
  EXPECT_TRUE(out.empty());
}

// --- live: real namespaces --------------------------------------------------------------------

using testing::OwnedFd;

class NetStatsLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    if (!testing::runCommand({"nstat", "-V"}).ok()) {
      GTEST_SKIP() << "nstat (iproute2) is missing";
    }
    a_ = std::make_unique<testing::NetNamespace>("pnsxa");
    b_ = std::make_unique<testing::NetNamespace>("pnsxb");
    veth_ = std::make_unique<testing::VethPair>(*a_, *b_);
    const auto& ad = veth_->addresses();
    a_->ip({"route", "add", "198.51.100.0/24", "via", ad.b_v4, "metric", "5"});
    a_->ip({"route", "add", "default", "via", ad.b_v4});
    a_->ip({"-6", "route", "add", "2001:db8:5::/48", "via", ad.b_v6, "metric", "11"});

    // Multicast memberships held by sockets of ours made inside A.
    v4_ = testing::joinGroupIn(*a_, "239.7.7.7", ad.a_v4);
    v6_ = testing::joinGroup6In(*a_, "ff05::7:7", veth_->interfaceA());

    // Traffic that moves the counters: UDP to a closed port of B (ICMP unreachable comes
    // back), a bounded number of datagrams.
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    ::inet_pton(AF_INET, ad.b_v4.c_str(), &to.sin_addr);
    sockaddr_in6 to6{};
    to6.sin6_family = AF_INET6;
    to6.sin6_port = htons(9);
    ::inet_pton(AF_INET6, ad.b_v6.c_str(), &to6.sin6_addr);
    const std::string payload(200, 'p');
    for (int i = 0; i < kDatagrams; ++i) {
      ASSERT_EQ(::sendto(v4_->get(), payload.data(), payload.size(), 0,
                         reinterpret_cast<const sockaddr*>(&to), sizeof to),
                static_cast<ssize_t>(payload.size()));
      ASSERT_EQ(::sendto(v6_->get(), payload.data(), payload.size(), 0,
                         reinterpret_cast<const sockaddr*>(&to6), sizeof to6),
                static_cast<ssize_t>(payload.size()));
      std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(200ms);  // the ICMP errors come back

    holder_ = std::make_unique<testing::Subprocess>(std::vector<std::string>{"sleep", "60"},
                                                    testing::SubprocessOptions{a_->name(), true});
    // Until `ip netns exec` has entered A, the child's /proc/<pid>/net is the host's.
    const std::string ns_link = "/proc/" + std::to_string(holder_->pid()) + "/ns/net";
    for (int i = 0; i < 100 && inodeOrZero(ns_link) != a_->inode(); ++i) {
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(inodeOrZero(ns_link), a_->inode());
    ns_.inode = a_->inode();
    ns_.pids = {holder_->pid()};
  }

  static std::uint64_t inodeOrZero(const std::string& path) {
    try {
      return testing::inodeOf(path);
    } catch (const std::exception&) {
      return 0;
    }
  }

  NetStats read() {
    auto r = readNetStats(Roots{}, ns_);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::move(r).value() : NetStats{};
  }

  static constexpr int kDatagrams = 8;
  std::unique_ptr<testing::NetNamespace> a_;
  std::unique_ptr<testing::NetNamespace> b_;
  std::unique_ptr<testing::VethPair> veth_;
  std::unique_ptr<OwnedFd> v4_;
  std::unique_ptr<OwnedFd> v6_;
  std::unique_ptr<testing::Subprocess> holder_;
  NetNamespace ns_;
};

TEST_F(NetStatsLiveTest, InterfacesMatchIpSLink) {
  const NetStats s = read();
  const auto ip = parseIpSLink(a_->run({"ip", "-s", "link"}).out);
  const NetStats after = read();
  ASSERT_EQ(s.interfaces.size(), ip.size());
  for (std::size_t n = 0; n < s.interfaces.size(); ++n) {
    const InterfaceStats& i = s.interfaces[n];
    const InterfaceStats& j = after.interfaces.at(n);
    ASSERT_EQ(ip.count(i.name), 1U) << i.name;
    const LinkCounters& c = ip.at(i.name);
    // ip read between our two reads: its counters lie between ours.
    EXPECT_LE(i.rx_bytes, c.rx_bytes) << i.name;
    EXPECT_GE(j.rx_bytes, c.rx_bytes) << i.name;
    EXPECT_LE(i.tx_packets, c.tx_packets) << i.name;
    EXPECT_GE(j.tx_packets, c.tx_packets) << i.name;
    EXPECT_LE(i.rx_packets, c.rx_packets) << i.name;
    EXPECT_GE(j.rx_packets, c.rx_packets) << i.name;
    EXPECT_LE(i.tx_bytes, c.tx_bytes) << i.name;
    EXPECT_GE(j.tx_bytes, c.tx_bytes) << i.name;
  }
  for (const InterfaceStats& i : s.interfaces) {
    if (i.name == veth_->interfaceA()) {
      // Some of the first datagrams may go while neighbour discovery is still resolving.
      EXPECT_GE(i.tx_packets, std::uint64_t{kDatagrams});
      EXPECT_GE(i.tx_bytes, kDatagrams * 200U);
    }
  }
}

TEST_F(NetStatsLiveTest, RoutesMatchNetstatRnAndIpRoute) {
  const NetStats s = read();
  EXPECT_EQ(ourRoutes(s), netstatRoutes(a_->run({"netstat", "-rn"}).out));
  EXPECT_EQ(s.routes.size(), 3U);
  // Read after ip: a link-local address finishing DAD meanwhile only adds a route to ours.
  const std::string ip6 = a_->run({"ip", "-6", "route", "show", "table", "all"}).out;
  expectIpv6RoutesCover(read(), ip6);
}

TEST_F(NetStatsLiveTest, CountersMatchNstatAz) {
  const NetStats before = read();
  const auto nstat = parseNstat(a_->run({"nstat", "-az"}).out);
  const NetStats after = read();
  std::set<std::string> moved;
  const auto b = counterMap(before);
  for (const auto& [name, value] : counterMap(after)) {
    if (b.count(name) == 0 || b.at(name) != value) {
      moved.insert(name);
    }
  }
  expectCountersMatchNstat(before, nstat, moved);
  EXPECT_GE(findCounter(before.snmp, "UdpOutDatagrams").value_or(0), std::uint64_t{kDatagrams});
  EXPECT_GE(findCounter(before.snmp6, "Udp6OutDatagrams").value_or(0), std::uint64_t{kDatagrams});
  EXPECT_GE(findCounter(before.snmp, "IcmpInDestUnreachs").value_or(0), 1U);
}

TEST_F(NetStatsLiveTest, GroupsMatchNetstatGn) {
  const NetStats s = read();
  // -n: without it netstat resolves names, sending DNS queries that move the counters.
  EXPECT_EQ(ourGroups(s), netstatGroups(a_->run({"netstat", "-gn"}).out));
  bool v4 = false;
  bool v6 = false;
  for (const Ipv4Group& g : s.groups) {
    v4 = v4 || (g.group.toString() == "239.7.7.7" && g.device == veth_->interfaceA());
  }
  for (const Ipv6Group& g : s.groups6) {
    v6 = v6 || (g.group.toString() == "ff05::7:7" && g.device == veth_->interfaceA());
  }
  EXPECT_TRUE(v4);
  EXPECT_TRUE(v6);
}

TEST_F(NetStatsLiveTest, LinksAreWhatTheIoctlsOfNetstatSay) {
  const auto links = readLinks(Roots{"/proc", testing::netnsDir()}, ns_);
  ASSERT_TRUE(links.ok()) << links.error().message;
  const NetStats s = read();
  ASSERT_EQ(links->size(), s.interfaces.size());
  for (const LinkAttributes& l : *links) {
    ifreq req{};
    std::strncpy(req.ifr_name, l.name.c_str(), IFNAMSIZ - 1);
    ASSERT_EQ(::ioctl(v4_->get(), SIOCGIFFLAGS, &req), 0) << l.name;
    EXPECT_EQ(l.flags & 0xffffU, static_cast<std::uint16_t>(req.ifr_flags)) << l.name;
    ASSERT_EQ(::ioctl(v4_->get(), SIOCGIFMTU, &req), 0) << l.name;
    EXPECT_TRUE(l.has_mtu);
    EXPECT_EQ(l.mtu, static_cast<std::uint32_t>(req.ifr_mtu)) << l.name;
  }
  // By name alone (no process), the same links.
  NetNamespace named;
  named.inode = a_->inode();
  named.names = {a_->name()};
  const auto by_name = readLinks(Roots{"/proc", testing::netnsDir()}, named);
  ASSERT_TRUE(by_name.ok()) << by_name.error().message;
  EXPECT_EQ(*by_name, *links);
  named.names = {"no-such-netns-name"};
  EXPECT_FALSE(readLinks(Roots{"/proc", testing::netnsDir()}, named).ok());
  // A name that now leads to another namespace is not followed.
  named.inode = b_->inode();
  named.names = {a_->name()};
  const auto elsewhere = readLinks(Roots{"/proc", testing::netnsDir()}, named);
  ASSERT_FALSE(elsewhere.ok());
  EXPECT_NE(elsewhere.error().message.find("gone"), std::string::npos) << elsewhere.error().message;
}

TEST_F(NetStatsLiveTest, AProcessNowInAnotherNamespaceIsNotUsed) {
  // Our own PID lives in the host namespace, not in A: its files would be the host's.
  NetNamespace mixed = ns_;
  mixed.pids = {static_cast<std::int32_t>(::getpid()), holder_->pid()};
  const auto r = readNetStats(Roots{}, mixed, NetStatsFileSet().add(NetStatsFile::Dev));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->pid, holder_->pid());
  EXPECT_EQ(r->vanished_processes, 1U);
  mixed.pids = {static_cast<std::int32_t>(::getpid())};
  EXPECT_FALSE(readNetStats(Roots{}, mixed).ok());
}

TEST_F(NetStatsLiveTest, ANamespaceWithoutProcessIsReadByItsName) {
  NetNamespace named;
  named.inode = b_->inode();
  named.names = {b_->name()};
  named.pids = {999999999};  // gone
  const auto r = readNetStats(Roots{"/proc", testing::netnsDir()}, named);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->pid, 0);
  EXPECT_EQ(ourRoutes(*r), netstatRoutes(b_->run({"netstat", "-rn"}).out));
  std::set<std::string> names;
  for (const InterfaceStats& i : r->interfaces) {
    names.insert(i.name);
  }
  EXPECT_EQ(names, (std::set<std::string>{"lo", veth_->interfaceB()}));
  named.names = {"no-such-netns-name"};
  EXPECT_FALSE(readNetStats(Roots{"/proc", testing::netnsDir()}, named).ok());
}

}  // namespace
}  // namespace podnetstat::scanner
