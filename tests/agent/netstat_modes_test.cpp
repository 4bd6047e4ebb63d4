// The netstat -i/-r/-g/-s renderers (netstat_modes.h): golden tests on files captured from a real
// namespace together with what netstat and nstat printed inside it at the same time
// (tests/fixtures/netstat-extra, see its capture.sh); the rules of each table on small inputs;
// and live, on a namespace made here, against netstat and nstat run inside it.

#include "podnetstat/agent/render/netstat_modes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
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
#include "run_podnetstat.h"
#include "test_paths.h"

namespace podnetstat::agent {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using podnetstat::testing::splitLines;
using scanner::Counter;
using scanner::InterfaceStats;
using scanner::Ipv4Group;
using scanner::Ipv4Route;
using scanner::Ipv6Group;
using scanner::Ipv6Route;
using scanner::NetStats;

std::string readText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path extra() {
  return testing::fixturesDir() / "netstat-extra";
}

/// The first whitespace-separated word of a line.
std::string firstWord(const std::string& line) {
  return line.substr(0, line.find(' '));
}

// --- golden: the captured namespace -----------------------------------------------------------

TEST(NetstatModesGolden, Ipv4RoutesEqualNetstatRn) {
  std::vector<Ipv4Route> routes;
  scanner::parseIpv4Routes(readText(extra() / "route"), routes);
  ASSERT_FALSE(routes.empty());
  EXPECT_EQ(renderIpv4Routes(routes, true), readText(extra() / "cmd_netstat_rn.txt"));
}

TEST(NetstatModesGolden, GroupsEqualNetstatGn) {
  std::vector<Ipv4Group> groups;
  std::vector<Ipv6Group> groups6;
  scanner::parseIgmp(readText(extra() / "igmp"), groups);
  scanner::parseIgmp6(readText(extra() / "igmp6"), groups6);
  ASSERT_FALSE(groups.empty());
  ASSERT_FALSE(groups6.empty());
  EXPECT_EQ(renderGroups(groups, groups6, {}), readText(extra() / "cmd_netstat_g.txt"));
}

TEST(NetstatModesGolden, CountersEqualNstatAz) {
  std::vector<Counter> snmp;
  std::vector<Counter> snmp6;
  std::vector<Counter> netstat;
  scanner::parseCounterPairs(readText(extra() / "snmp"), snmp);
  scanner::parseSnmp6(readText(extra() / "snmp6"), snmp6);
  scanner::parseCounterPairs(readText(extra() / "netstat"), netstat);
  EXPECT_EQ(renderCounters(snmp, snmp6, netstat), readText(extra() / "cmd_nstat_az.txt"));
}

TEST(NetstatModesGolden, CountersOfNetStatsAreTheSame) {
  NetStats s;
  scanner::parseCounterPairs(readText(extra() / "snmp"), s.snmp);
  scanner::parseSnmp6(readText(extra() / "snmp6"), s.snmp6);
  scanner::parseCounterPairs(readText(extra() / "netstat"), s.netstat);
  EXPECT_EQ(renderCounters(s), renderCounters(s.snmp, s.snmp6, s.netstat));
}

TEST(NetstatModesGolden, TcpAndUdpRestrictTheCountersToTheirLines) {
  NetStats s;
  scanner::parseCounterPairs(readText(extra() / "snmp"), s.snmp);
  scanner::parseSnmp6(readText(extra() / "snmp6"), s.snmp6);
  scanner::parseCounterPairs(readText(extra() / "netstat"), s.netstat);
  const auto all = splitLines(readText(extra() / "cmd_nstat_az.txt"));
  for (const CounterOptions& o :
       {CounterOptions{true, false}, CounterOptions{false, true}, CounterOptions{true, true}}) {
    std::string want = "#kernel\n";
    for (std::size_t n = 1; n < all.size(); ++n) {
      const std::string name = firstWord(all[n]);
      const bool tcp = name.starts_with("Tcp") || name.starts_with("MPTcp");
      const bool udp = name.starts_with("Udp");
      if ((o.tcp && tcp) || (o.udp && udp)) {
        want += all[n] + "\n";
      }
    }
    EXPECT_EQ(renderCounters(s, o), want) << o.tcp << o.udp;
    EXPECT_NE(want, "#kernel\n");
  }
}

// A fresh namespace with only lo up, as netstat 2.10 printed it (lo's counters all 0, like the
// captured namespace's lo).
constexpr const char* kFreshLoInterfaceTable =
    "Kernel Interface table\n"
    "Iface             MTU    RX-OK RX-ERR RX-DRP RX-OVR    TX-OK TX-ERR TX-DRP TX-OVR Flg\n"
    "lo              65536        0      0      0 0             0      0      0      0 LRU\n";

TEST(NetstatModesGolden, LoopbackRowEqualsNetstatIWhenMtuAndFlagsAreKnown) {
  std::vector<InterfaceStats> dev;
  scanner::parseNetDev(readText(extra() / "dev"), dev);
  ASSERT_EQ(dev.at(0).name, "lo");
  dev.resize(1);
  const std::vector<LinkInfo> links = {{"lo", 65536, IFF_LOOPBACK | IFF_UP | IFF_RUNNING}};
  EXPECT_EQ(renderInterfaceTable(dev, links, {}), kFreshLoInterfaceTable);
}

// /proc/net/ipv6_route of a fresh namespace and what netstat 2.10 -rn -A inet6 printed for it.
constexpr const char* kFreshIpv6Route =
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n"
    "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n"
    "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
    "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
constexpr const char* kFreshNetstatRn6 =
    "Kernel IPv6 routing table\n"
    "Destination                    Next Hop                   Flag Met Ref  Use If\n"
    "::/0                           ::                         !n   -1  1      0 lo\n"
    "::1/128                        ::                         Un   0   2      0 lo\n"
    "::/0                           ::                         !n   -1  1      0 lo\n";

TEST(NetstatModesGolden, Ipv6RoutesOfAFreshNamespaceEqualNetstatRnInet6) {
  std::vector<Ipv6Route> routes;
  scanner::parseIpv6Routes(kFreshIpv6Route, routes);
  ASSERT_EQ(routes.size(), 3U);
  EXPECT_EQ(renderIpv6Routes(routes, true), kFreshNetstatRn6);
}

TEST(NetstatModesGolden, Ipv6RoutesOfTheCaptureCarryIpRoutesEntries) {
  std::vector<Ipv6Route> routes;
  scanner::parseIpv6Routes(readText(extra() / "ipv6_route"), routes);
  const std::string text = renderIpv6Routes(routes, true);
  EXPECT_NE(
      text.find("\n2001:db8:1::/48                fd00:78::2                 UG   9   1      0 "
                "vx0\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("\nfd00:78::1/128                 ::                         Un   0   3      0 "
                "vx0\n"),
      std::string::npos)
      << text;
}

// --- the tables' rules ------------------------------------------------------------------------

InterfaceStats stats(const std::string& name, std::uint64_t rx, std::uint64_t tx) {
  InterfaceStats s;
  s.name = name;
  s.rx_packets = rx;
  s.tx_packets = tx;
  return s;
}

TEST(NetstatModesInterfaces, UnknownMtuAndFlagsPrintADash) {
  const std::string t = renderInterfaceTable({stats("eth0", 5, 7)}, {}, {});
  EXPECT_EQ(splitLines(t).at(2),
            "eth0                -        5      0      0 0             7      0      0      0 -");
}

TEST(NetstatModesInterfaces, UnknownFlagsShowTheInterfaceEvenWithoutA) {
  EXPECT_EQ(
      splitLines(renderInterfaceTable({stats("eth0", 0, 0)}, {{"eth0", 1500, std::nullopt}}, {}))
          .size(),
      3U);
}

TEST(NetstatModesInterfaces, DownInterfacesOnlyWithA) {
  const std::vector<InterfaceStats> dev = {stats("lo", 0, 0), stats("d0", 0, 0)};
  const std::vector<LinkInfo> links = {{"lo", 65536, IFF_LOOPBACK | IFF_UP | IFF_RUNNING},
                                       {"d0", 1500, IFF_BROADCAST | IFF_NOARP}};
  const auto without = splitLines(renderInterfaceTable(dev, links, {false}));
  ASSERT_EQ(without.size(), 3U);
  EXPECT_TRUE(without[2].starts_with("lo "));
  const auto with = splitLines(renderInterfaceTable(dev, links, {true}));
  ASSERT_EQ(with.size(), 4U);
  EXPECT_EQ(with[2],
            "d0               1500        0      0      0 0             0      0      0      0 BO");
}

TEST(NetstatModesInterfaces, RowsAreSortedAsNetToolsSortsNames) {
  const std::vector<InterfaceStats> dev = {stats("lo", 0, 0), stats("eth10", 0, 0),
                                           stats("eth2", 0, 0), stats("eth", 0, 0),
                                           stats("veth1", 0, 0)};
  const auto rows = splitLines(renderInterfaceTable(dev, {}, {}));
  std::vector<std::string> names;
  for (std::size_t n = 2; n < rows.size(); ++n) {
    names.push_back(firstWord(rows[n]));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"eth", "eth2", "eth10", "lo", "veth1"}));
}

TEST(NetstatModesInterfaces, NamesCompareLikeNstrcmp) {
  EXPECT_LT(compareInterfaceNames("eth2", "eth10"), 0);
  EXPECT_GT(compareInterfaceNames("eth10", "eth2"), 0);
  EXPECT_EQ(compareInterfaceNames("eth0", "eth0"), 0);
  EXPECT_LT(compareInterfaceNames("eth0", "eth0:1"), 0);
  EXPECT_LT(compareInterfaceNames("eth0:2", "eth0:10"), 0);
  EXPECT_LT(compareInterfaceNames("eth", "eth0"), 0);
  EXPECT_LT(compareInterfaceNames("eth0", "lo"), 0);
}

TEST(NetstatModesInterfaces, FlagLettersFollowNetstatsOrder) {
  EXPECT_EQ(interfaceFlagLetters(IFF_BROADCAST | IFF_MULTICAST | IFF_UP | IFF_RUNNING), "BMRU");
  EXPECT_EQ(interfaceFlagLetters(IFF_LOOPBACK | IFF_UP | IFF_RUNNING), "LRU");
  EXPECT_EQ(interfaceFlagLetters(IFF_POINTOPOINT | IFF_NOARP | IFF_UP), "OPU");
  EXPECT_EQ(interfaceFlagLetters(IFF_ALLMULTI | IFF_PROMISC | IFF_MASTER), "APm");
  EXPECT_EQ(interfaceFlagLetters(0), "[NO FLAGS]");
}

TEST(NetstatModesInterfaces, LongNamesAreCutAt15) {
  const auto rows = splitLines(renderInterfaceTable({stats("abcdefghijklmnopq", 0, 0)}, {}, {}));
  EXPECT_TRUE(rows.at(2).starts_with("abcdefghijklmno     - ")) << rows.at(2);
}

Ipv4Route route4(const std::string& dst,
                 const std::string& gw,
                 const std::string& mask,
                 std::uint32_t flags) {
  Ipv4Route r;
  r.iface = "eth0";
  r.destination = *scanner::IpAddress::parse(dst);
  r.gateway = *scanner::IpAddress::parse(gw);
  r.mask = *scanner::IpAddress::parse(mask);
  r.flags = flags;
  return r;
}

TEST(NetstatModesRoutes, RejectRoutesPrintDashes) {
  const auto rows =
      splitLines(renderIpv4Routes({route4("10.9.0.0", "0.0.0.0", "255.255.0.0",
                                          scanner::kRouteFlagUp | scanner::kRouteFlagReject)},
                                  true));
  EXPECT_EQ(rows.at(2),
            "10.9.0.0        -               255.255.0.0     !         - -          - -");
}

TEST(NetstatModesRoutes, RoutesThatAreNotUpAreLeftOut) {
  EXPECT_EQ(
      splitLines(renderIpv4Routes({route4("10.9.0.0", "0.0.0.0", "255.255.0.0", 0)}, true)).size(),
      2U);
}

TEST(NetstatModesRoutes, HostRouteFlagsAndColumns) {
  Ipv4Route r = route4("10.1.2.3", "10.0.0.1", "255.255.255.255",
                       scanner::kRouteFlagUp | scanner::kRouteFlagGateway |
                           scanner::kRouteFlagHost | scanner::kRouteFlagDynamic);
  r.mtu = 1460;
  r.window = 65535;
  r.irtt = 300;
  EXPECT_EQ(splitLines(renderIpv4Routes({r}, true)).at(2),
            "10.1.2.3        10.0.0.1        255.255.255.255 UGHD   1460 65535    300 eth0");
}

TEST(NetstatModesRoutes, WithoutNumericTheDefaultDestinationIsDefault) {
  const auto rows =
      splitLines(renderIpv4Routes({route4("0.0.0.0", "10.0.0.1", "0.0.0.0", 3)}, false));
  EXPECT_TRUE(rows.at(2).starts_with("default         10.0.0.1        0.0.0.0         UG "));
}

TEST(NetstatModesRoutes, Ipv6CacheRowsAreLeftOut) {
  Ipv6Route r;
  r.destination = *scanner::IpAddress::parse("2001:db8::1");
  r.destination_prefix = 128;
  r.next_hop = *scanner::IpAddress::parse("::");
  r.flags = 0x01000001;
  r.device = "eth0";
  EXPECT_EQ(splitLines(renderIpv6Routes({r}, true)).size(), 2U);
  EXPECT_EQ(ipv6RouteFlagLetters(0x00040003), "UGA");
}

TEST(NetstatModesGroups, Ipv4DeviceNamesAreCutAtTen) {
  Ipv4Group g;
  g.device = "veth0123456789ab";
  g.users = 2;
  g.group = *scanner::IpAddress::parse("224.0.0.1");
  EXPECT_EQ(splitLines(renderGroups({g}, {}, {})).at(3), "veth012345      2      224.0.0.1");
}

TEST(NetstatModesGroups, FamiliesCanBeLeftOut) {
  Ipv4Group g;
  g.device = "lo";
  g.group = *scanner::IpAddress::parse("224.0.0.1");
  Ipv6Group g6;
  g6.device = "lo";
  g6.group = *scanner::IpAddress::parse("ff02::1");
  EXPECT_EQ(splitLines(renderGroups({g}, {g6}, {true, false, true})).size(), 4U);
  EXPECT_EQ(splitLines(renderGroups({g}, {g6}, {true, true, false})).at(3),
            "lo              0      224.0.0.1");
}

// --- live: a namespace made here ----------------------------------------------------------------

using testing::OwnedFd;

class NetstatModesLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    a_ = std::make_unique<testing::NetNamespace>("pnsma");
    b_ = std::make_unique<testing::NetNamespace>("pnsmb");
    veth_ = std::make_unique<testing::VethPair>(*a_, *b_);
    const auto& ad = veth_->addresses();
    a_->ip({"route", "add", "198.51.100.0/24", "via", ad.b_v4, "metric", "5"});
    a_->ip({"route", "add", "default", "via", ad.b_v4});
    a_->ip({"route", "add", "prohibit", "203.0.113.0/24"});
    a_->ip({"-6", "route", "add", "2001:db8:5::/48", "via", ad.b_v6, "metric", "11"});
    // A second pair left down, both ends in A: -i shows it only with -a.
    a_->ip({"link", "add", "pmd0", "type", "veth", "peer", "name", "pmd1"});

    v4_ = testing::joinGroupIn(*a_, "239.8.8.8", ad.a_v4);
    v6_ = testing::joinGroup6In(*a_, "ff05::8:8", veth_->interfaceA());

    // Traffic that moves counters: UDP to a closed port of B.
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    ::inet_pton(AF_INET, ad.b_v4.c_str(), &to.sin_addr);
    const std::string payload(100, 'p');
    for (int i = 0; i < 5; ++i) {
      ::sendto(v4_->get(), payload.data(), payload.size(), 0,
               reinterpret_cast<const sockaddr*>(&to), sizeof to);
      std::this_thread::sleep_for(20ms);
    }
    std::this_thread::sleep_for(200ms);

    holder_ = std::make_unique<testing::Subprocess>(std::vector<std::string>{"sleep", "60"},
                                                    testing::SubprocessOptions{a_->name(), true});
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
    auto r = scanner::readNetStats(scanner::Roots{}, ns_);
    EXPECT_TRUE(r.ok()) << r.error().message;
    return r.ok() ? std::move(r).value() : NetStats{};
  }

  /// MTU and flags of A's interfaces, asked with ioctl on a socket of A, as netstat asks.
  std::vector<LinkInfo> links(const std::vector<InterfaceStats>& interfaces) const {
    std::vector<LinkInfo> out;
    for (const InterfaceStats& i : interfaces) {
      ifreq req{};
      std::strncpy(req.ifr_name, i.name.c_str(), IFNAMSIZ - 1);
      LinkInfo l{i.name, std::nullopt, std::nullopt};
      if (::ioctl(v4_->get(), SIOCGIFFLAGS, &req) == 0) {
        l.flags = static_cast<std::uint16_t>(req.ifr_flags);
      }
      if (::ioctl(v4_->get(), SIOCGIFMTU, &req) == 0) {
        l.mtu = static_cast<std::uint32_t>(req.ifr_mtu);
      }
      out.push_back(l);
    }
    return out;
  }

  /// Renders what we read and runs `argv` in A until both reads around the command agree (the
  /// kernel may change the table meanwhile, e.g. a multicast report going out); expects equality.
  void expectSameAsCommand(const std::vector<std::string>& argv,
                           const std::function<std::string(const NetStats&)>& render) {
    std::string ours;
    std::string theirs;
    for (int attempt = 0; attempt < 5; ++attempt) {
      const NetStats before = read();
      const auto r = a_->run(argv);
      ASSERT_TRUE(r.ok()) << r.err;
      const NetStats after = read();
      ours = render(before);
      theirs = r.out;
      if (ours == render(after)) {
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(ours, theirs);
  }

  std::unique_ptr<testing::NetNamespace> a_;
  std::unique_ptr<testing::NetNamespace> b_;
  std::unique_ptr<testing::VethPair> veth_;
  std::unique_ptr<OwnedFd> v4_;
  std::unique_ptr<OwnedFd> v6_;
  std::unique_ptr<testing::Subprocess> holder_;
  scanner::NetNamespace ns_;
};

TEST_F(NetstatModesLiveTest, Ipv4RoutesEqualNetstatRn) {
  expectSameAsCommand({"netstat", "-rn"},
                      [](const NetStats& s) { return renderIpv4Routes(s.routes, true); });
  EXPECT_NE(renderIpv4Routes(read().routes, true).find("203.0.113.0     -"), std::string::npos);
}

TEST_F(NetstatModesLiveTest, Ipv6RoutesEqualNetstatRnInet6) {
  expectSameAsCommand({"netstat", "-rn", "-A", "inet6"},
                      [](const NetStats& s) { return renderIpv6Routes(s.routes6, true); });
}

TEST_F(NetstatModesLiveTest, GroupsEqualNetstatGn) {
  expectSameAsCommand({"netstat", "-gn"},
                      [](const NetStats& s) { return renderGroups(s.groups, s.groups6, {}); });
  const std::string text = renderGroups(read().groups, read().groups6, {});
  EXPECT_NE(text.find("239.8.8.8"), std::string::npos);
  EXPECT_NE(text.find("ff05::8:8"), std::string::npos);
}

TEST_F(NetstatModesLiveTest, InterfaceTableEqualsNetstatI) {
  expectSameAsCommand({"netstat", "-i"}, [this](const NetStats& s) {
    return renderInterfaceTable(s.interfaces, links(s.interfaces), {false});
  });
}

TEST_F(NetstatModesLiveTest, InterfaceTableWithDownOnesEqualsNetstatIa) {
  expectSameAsCommand({"netstat", "-ia"}, [this](const NetStats& s) {
    return renderInterfaceTable(s.interfaces, links(s.interfaces), {true});
  });
  EXPECT_NE(renderInterfaceTable(read().interfaces, links(read().interfaces), {true}).find("pmd0"),
            std::string::npos);
}

// The CLI end to end: with the netlink backend, MTU and flags come from the namespace itself and
// the whole table is netstat's.
TEST_F(NetstatModesLiveTest, ListIWithNetlinkEqualsNetstatIInside) {
  for (const char* flag : {"-i", "-ia"}) {
    std::string ours;
    std::string theirs;
    for (int attempt = 0; attempt < 5; ++attempt) {
      const auto list = [&] {
        const auto r =
            testing::runPodnetstat({"list", flag, "--backend", "netlink", "--netns", a_->name()});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(r.err, "");
        return r.out;
      };
      ours = list();
      const auto r = a_->run({"netstat", flag});
      ASSERT_TRUE(r.ok()) << r.err;
      theirs = r.out;
      if (ours == list()) {  // no counter moved around netstat's read
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(ours, theirs) << flag;
    EXPECT_NE(ours.find("65536"), std::string::npos) << "lo's MTU";
    EXPECT_EQ(ours.find("pmd0") != std::string::npos, std::string(flag) == "-ia");
  }
  // procfs: the same rows with "-" for MTU and flags.
  const auto plain = testing::runPodnetstat({"list", "-i", "--netns", a_->name()});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.out.find("lo                  - "), std::string::npos) << plain.out;
}

TEST_F(NetstatModesLiveTest, CountersCarryNstatAzValues) {
  if (!testing::runCommand({"nstat", "-V"}).ok()) {
    GTEST_SKIP() << "nstat (iproute2) is missing";
  }
  // Per-type ICMP counters (IcmpMsgOutType3, Icmp6OutType143, ...) exist only once a message of
  // that type went by: a neighbour solicitation or an MLD report between the reads adds a line.
  // Read again until the three reads list the same counters.
  std::vector<std::string> ours;
  std::vector<std::string> later;
  std::vector<std::string> theirs;
  for (int attempt = 0; attempt < 5; ++attempt) {
    const NetStats before = read();
    const auto nstat = a_->run({"nstat", "-az"});
    ASSERT_TRUE(nstat.ok()) << nstat.err;
    const NetStats after = read();
    ours = splitLines(renderCounters(before));
    later = splitLines(renderCounters(after));
    theirs = splitLines(nstat.out);
    if (ours.size() == theirs.size() && ours.size() == later.size()) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  if (ours.size() != theirs.size()) {
    std::set<std::string> a;
    std::set<std::string> b;
    for (const auto& l : ours) {
      a.insert(firstWord(l));
    }
    for (const auto& l : theirs) {
      b.insert(firstWord(l));
    }
    std::string only;
    for (const auto& n : a) {
      only += b.count(n) == 0 ? " ours:" + n : "";
    }
    for (const auto& n : b) {
      only += a.count(n) == 0 ? " nstat:" + n : "";
    }
    ADD_FAILURE() << "counter sets differ:" << only;
  }
  ASSERT_EQ(ours.size(), theirs.size());
  ASSERT_EQ(ours.size(), later.size());
  std::size_t compared = 0;
  for (std::size_t n = 0; n < ours.size(); ++n) {
    EXPECT_EQ(firstWord(ours[n]), firstWord(theirs[n]));
    if (ours[n] == later[n]) {  // counters that moved between our reads aside
      EXPECT_EQ(ours[n], theirs[n]);
      ++compared;
    }
  }
  EXPECT_GT(compared, ours.size() / 2);
}

}  // namespace
}  // namespace podnetstat::agent
