// The netstat renderer on hand-picked sockets (every formatting rule of net-tools 2.10 that the
// capture does not exercise), and the resolved (non -n) output of the capture through a fake
// lookup that answers what the capture machine's databases answered.

#include "podnetstat/agent/render/netstat_format.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pwd.h>

#include <bit>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/agent/cli/list_command.h"
#include "podnetstat/scanner/scan.h"

#include "fixture_proc_root.h"
#include "test_paths.h"

namespace podnetstat::agent {
namespace {

using scanner::Endpoint;
using scanner::IpAddress;
using scanner::ScanResult;
using scanner::Socket;
using scanner::Transport;

IpAddress ip(std::string_view text) {
  auto parsed = IpAddress::parse(text);
  EXPECT_TRUE(parsed.has_value()) << text;
  return parsed.value_or(IpAddress{});
}

Endpoint ep(std::string_view addr, std::uint16_t port) {
  return Endpoint{ip(addr), port};
}

/// A lookup with fixed answers; records the network lookups it was asked.
class FakeLookup : public NameLookup {
 public:
  std::map<std::string, std::string> hosts4;  // dotted quad -> name
  std::map<std::uint32_t, std::string> nets;
  std::map<std::string, std::string> hosts6;  // inet_ntop text -> name
  std::map<std::pair<int, std::uint16_t>, std::string> services;
  std::map<std::uint32_t, std::string> users;
  std::vector<std::uint32_t> net_queries;

  std::optional<std::string> hostByAddr4(const std::array<std::uint8_t, 4>& addr) override {
    IpAddress a;
    std::copy(addr.begin(), addr.end(), a.bytes.begin());
    return find(hosts4, a.toString());
  }

  std::optional<std::string> netByAddr4(std::uint32_t net) override {
    net_queries.push_back(net);
    return find(nets, net);
  }

  std::optional<std::string> nameInfo6(const std::array<std::uint8_t, 16>& addr) override {
    IpAddress a;
    a.v6 = true;
    a.bytes = addr;
    // Like getnameinfo() without NI_NAMEREQD: the numeric form when there is no name.
    return find(hosts6, a.toString()).value_or(a.toString());
  }

  std::optional<std::string> service(std::uint16_t port, ServiceTable table) override {
    return find(services, std::pair{static_cast<int>(table), port});
  }

  std::optional<std::string> userName(std::uint32_t uid) override { return find(users, uid); }

  void addService(ServiceTable table, std::uint16_t port, std::string name) {
    services[{static_cast<int>(table), port}] = std::move(name);
  }

 private:
  template <class Map, class Key>
  static std::optional<std::string> find(const Map& map, const Key& key) {
    auto it = map.find(key);
    return it == map.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
};

NetstatOptions numericOptions() {
  NetstatOptions o;
  o.numeric_hosts = o.numeric_ports = o.numeric_users = true;
  return o;
}

Socket inet(Transport t, Endpoint local, Endpoint remote, std::uint8_t state) {
  Socket s;
  s.transport = t;
  s.local = local;
  s.remote = remote;
  s.state = state;
  return s;
}

std::string row(const Socket& s,
                const NetstatOptions& o,
                NameLookup* names = nullptr,
                const ScanResult& scan = ScanResult{}) {
  NetstatRenderer r(o, names);
  std::string out;
  r.appendRow(out, s, scan);
  return out;
}

// Addresses.

TEST(NetstatAddressTest, ShortAddressIsWhole) {
  EXPECT_EQ(netstatAddress(ep("127.0.0.1", 8082), Transport::Tcp, numericOptions(), nullptr),
            "127.0.0.1:8082");
}

TEST(NetstatAddressTest, LongAddressIsCutTo23) {
  const auto a = netstatAddress(ep("2001:db8:abcd:1234:5678:9abc:def0:1234", 65000),
                                Transport::Tcp6, numericOptions(), nullptr);
  EXPECT_EQ(a, "2001:db8:abcd:123:65000");
  EXPECT_EQ(a.size(), 23U);
}

TEST(NetstatAddressTest, CutOnlyAbove22Characters) {
  // 18 + 4 = 22 characters of host and port: kept whole; one more and the host is cut.
  EXPECT_EQ(
      netstatAddress(ep("fd00:200:300::abcd", 8443), Transport::Tcp6, numericOptions(), nullptr),
      "fd00:200:300::abcd:8443");
  EXPECT_EQ(
      netstatAddress(ep("fd00:200:300::abcd", 18443), Transport::Tcp6, numericOptions(), nullptr),
      "fd00:200:300::abc:18443");
}

TEST(NetstatAddressTest, WideKeepsEverything) {
  NetstatOptions o = numericOptions();
  o.wide = true;
  EXPECT_EQ(netstatAddress(ep("2001:db8:abcd:1234:5678:9abc:def0:1234", 65000), Transport::Tcp6, o,
                           nullptr),
            "2001:db8:abcd:1234:5678:9abc:def0:1234:65000");
}

TEST(NetstatAddressTest, LongServiceNameKeeps18Characters) {
  FakeLookup names;
  names.addService(NameLookup::ServiceTable::Tcp, 4000, "a-very-long-service-name-indeed");
  NetstatOptions o;
  o.numeric_hosts = true;
  EXPECT_EQ(netstatAddress(ep("10.200.0.1", 4000), Transport::Tcp, o, &names),
            "10.2:a-very-long-servic");
}

TEST(NetstatAddressTest, PortZeroIsAStarEvenResolved) {
  FakeLookup names;
  names.addService(NameLookup::ServiceTable::Tcp, 0, "zero");
  EXPECT_EQ(netstatAddress(ep("0.0.0.0", 0), Transport::Tcp, NetstatOptions{}, &names),
            "0.0.0.0:*");
  EXPECT_EQ(netstatAddress(ep("::", 0), Transport::Tcp6, numericOptions(), nullptr), ":::*");
  EXPECT_EQ(netstatAddress(ep("127.0.0.1", 0), Transport::Raw, numericOptions(), nullptr),
            "127.0.0.1:*");
}

TEST(NetstatAddressTest, V4MappedIsADottedQuad) {
  EXPECT_EQ(
      netstatAddress(ep("::ffff:127.0.0.1", 8082), Transport::Tcp6, numericOptions(), nullptr),
      "127.0.0.1:8082");
  FakeLookup names;
  EXPECT_EQ(netstatHost(ip("::ffff:10.1.2.3"), false, &names), "10.1.2.3");
  names.hosts6["::ffff:10.1.2.3"] = "mapped.example";  // a name stays a name
  EXPECT_EQ(netstatHost(ip("::ffff:10.1.2.3"), false, &names), "mapped.example");
}

TEST(NetstatAddressTest, ResolvedUnspecifiedAddresses) {
  FakeLookup names;
  EXPECT_EQ(netstatHost(ip("0.0.0.0"), false, &names), "0.0.0.0");
  EXPECT_EQ(netstatHost(ip("::"), false, &names), "[::]");
  EXPECT_EQ(netstatHost(ip("::"), true, &names), "::");
  EXPECT_TRUE(names.net_queries.empty());
}

TEST(NetstatAddressTest, ResolvedHosts) {
  FakeLookup names;
  names.hosts4["127.0.0.1"] = "localhost";
  names.hosts6["::1"] = "ip6-localhost";
  EXPECT_EQ(netstatHost(ip("127.0.0.1"), false, &names), "localhost");
  EXPECT_EQ(netstatHost(ip("127.0.0.1"), true, &names), "127.0.0.1");
  EXPECT_EQ(netstatHost(ip("10.0.0.1"), false, &names), "10.0.0.1");  // no entry
  EXPECT_EQ(netstatHost(ip("::1"), false, &names), "ip6-localhost");
  EXPECT_EQ(netstatHost(ip("fd00::1"), false, &names), "fd00::1");
}

TEST(NetstatAddressTest, ResolvedNameIsCutAt127) {
  FakeLookup names;
  names.hosts4["10.0.0.9"] = std::string(200, 'h');
  NetstatOptions o;
  o.numeric_ports = true;
  o.wide = true;
  EXPECT_EQ(netstatAddress(ep("10.0.0.9", 1), Transport::Tcp, o, &names),
            std::string(127, 'h'));  // "host:1" no longer fits netstat's 128-byte buffer
}

TEST(NetstatAddressTest, AddressWithZeroFirstOctetIsLookedUpAsANetwork) {
  if constexpr (std::endian::native != std::endian::little) {
    GTEST_SKIP() << "netstat's host/network test depends on byte order";
  }
  FakeLookup names;
  names.nets[0x00010200] = "tiny-net";
  EXPECT_EQ(netstatHost(ip("0.1.2.0"), false, &names), "tiny-net");
  EXPECT_EQ(names.net_queries, std::vector<std::uint32_t>{0x00010200});
  EXPECT_EQ(netstatHost(ip("0.1.2.3"), false, &names), "0.1.2.3");
}

TEST(NetstatAddressTest, ServiceTablePerProtocol) {
  FakeLookup names;
  names.addService(NameLookup::ServiceTable::Tcp, 53, "tcp-dns");
  names.addService(NameLookup::ServiceTable::Udp, 53, "domain");
  names.addService(NameLookup::ServiceTable::Raw, 1, "icmp");
  EXPECT_EQ(netstatPort(53, Transport::Tcp6, false, &names), "tcp-dns");
  EXPECT_EQ(netstatPort(53, Transport::Udp, false, &names), "domain");
  EXPECT_EQ(netstatPort(53, Transport::UdpLite6, false, &names), "domain");  // "udp" list
  EXPECT_EQ(netstatPort(1, Transport::Raw, false, &names), "icmp");
  EXPECT_EQ(netstatPort(1, Transport::Raw, true, &names), "1");
  EXPECT_EQ(netstatPort(1, Transport::Tcp, false, &names), "1");
}

// Rows.

TEST(NetstatRowTest, TcpRowWithEveryColumn) {
  ScanResult scan;
  scan.processes.push_back({24658, 0, 1, "python3", "netstat-sample-helper-long-name"});
  scan.owner_table = {0};
  Socket s = inet(Transport::Tcp, ep("127.0.0.1", 57076), ep("127.0.0.1", 80), 1);
  s.timer = {2, 719729, 0};
  s.inode = 143711;
  s.owners_count = 1;
  NetstatOptions o = numericOptions();
  o.extend = o.programs = o.timers = true;
  EXPECT_EQ(row(s, o, nullptr, scan),
            "tcp        0      0 127.0.0.1:57076         127.0.0.1:80            ESTABLISHED "
            "0          143711     24658/netstat-sampl  keepalive (7197.29/0/0)\n");
}

TEST(NetstatRowTest, BigQueuesPushTheRowRight) {
  Socket s = inet(Transport::Tcp, ep("127.0.0.1", 50880), ep("127.0.0.1", 8000), 1);
  s.tx_queue = 3863438;
  s.rx_queue = 12;
  EXPECT_EQ(row(s, numericOptions()),
            "tcp       12 3863438 127.0.0.1:50880         127.0.0.1:8000          ESTABLISHED\n");
}

TEST(NetstatRowTest, TcpStates) {
  Socket s = inet(Transport::Tcp6, ep("::1", 1), ep("::1", 2), 11);
  EXPECT_NE(row(s, numericOptions()).find(" CLOSING    \n"), std::string::npos);
  s.state = 12;  // never in /proc; not in netstat's table
  EXPECT_NE(row(s, numericOptions()).find(" UNKNOWN    \n"), std::string::npos);
}

TEST(NetstatRowTest, UdpStateIsBlankEstablishedOrUnknown) {
  Socket s = inet(Transport::Udp, ep("0.0.0.0", 53), ep("0.0.0.0", 0), 7);
  EXPECT_EQ(row(s, numericOptions()),
            "udp        0      0 0.0.0.0:53              0.0.0.0:*                          \n");
  s.state = 1;
  EXPECT_EQ(row(s, numericOptions()),
            "udp        0      0 0.0.0.0:53              0.0.0.0:*               ESTABLISHED\n");
  s.state = 2;
  s.transport = Transport::UdpLite6;
  EXPECT_EQ(row(s, numericOptions()),
            "udpl6      0      0 0.0.0.0:53              0.0.0.0:*               UNKNOWN    \n");
}

TEST(NetstatRowTest, RawStateIsANumber) {
  Socket s = inet(Transport::Raw6, ep("::", 58), ep("::", 0), 7);
  s.rx_queue = 832;
  EXPECT_EQ(row(s, numericOptions()),
            "raw6     832      0 :::58                   :::*                    7          \n");
}

TEST(NetstatRowTest, UserColumn) {
  FakeLookup names;
  names.users[0] = "root";
  Socket s = inet(Transport::Tcp, ep("0.0.0.0", 22), ep("0.0.0.0", 0), 10);
  s.inode = 5;
  NetstatOptions o = numericOptions();
  o.extend = true;
  o.numeric_users = false;
  EXPECT_NE(row(s, o, &names).find("LISTEN      root       5         \n"), std::string::npos);
  s.uid = 4242;  // no passwd entry
  EXPECT_NE(row(s, o, &names).find("LISTEN      4242       5         \n"), std::string::npos);
  s.uid = 0;
  o.numeric_users = true;
  EXPECT_NE(row(s, o, &names).find("LISTEN      0          5         \n"), std::string::npos);
  s.uid = 4294967295U;  // netstat reads the uid as an int
  EXPECT_NE(row(s, o, &names).find("LISTEN      -1         5         \n"), std::string::npos);
}

// Timers.

Socket timed(Transport t,
             std::uint8_t active,
             std::uint64_t ticks,
             std::uint32_t retransmits,
             std::int64_t probes) {
  Socket s;
  s.transport = t;
  s.timer = {active, ticks, retransmits};
  s.timeout = probes;
  return s;
}

TEST(NetstatTimerTest, TcpTimers) {
  EXPECT_EQ(netstatTimer(timed(Transport::Tcp, 0, 0, 0, 0)), "off (0.00/0/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::Tcp, 0, 77, 3, 1)), "off (0.00/3/1)");
  EXPECT_EQ(netstatTimer(timed(Transport::Tcp, 1, 98, 2, 0)), "on (0.98/2/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::Tcp6, 2, 719729, 0, 0)), "keepalive (7197.29/0/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::Tcp, 3, 5785, 0, 0)), "timewait (57.85/0/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::Tcp, 4, 150, 0, 3)), "probe (1.50/0/3)");
  EXPECT_EQ(netstatTimer(timed(Transport::Tcp, 5, 1, 1, 1)), "unkn-5 (0.01/1/1)");
}

TEST(NetstatTimerTest, UdpTimersHaveNoRetransmits) {
  EXPECT_EQ(netstatTimer(timed(Transport::Udp, 0, 0, 9, 0)), "off (0.00/0/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::Udp6, 1, 250, 9, 0)), "on1 (2.50/0/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::UdpLite, 2, 5, 9, 1)), "on2 (0.05/0/1)");
  EXPECT_EQ(netstatTimer(timed(Transport::Udp, 3, 100, 9, 0)), "unkn-3 (1.00/0/0)");
}

TEST(NetstatTimerTest, RawTimersKeepRetransmits) {
  EXPECT_EQ(netstatTimer(timed(Transport::Raw, 0, 0, 9, 0)), "off (0.00/9/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::Raw6, 1, 250, 9, 0)), "on1 (2.50/9/0)");
  EXPECT_EQ(netstatTimer(timed(Transport::Raw, 4, 1, 9, 0)), "unkn-4 (0.01/9/0)");
}

// Unix rows.

Socket unixSocket(std::uint16_t type,
                  std::uint32_t flags,
                  std::uint8_t state,
                  std::string path,
                  bool has_path = true) {
  Socket s;
  s.transport = Transport::Unix;
  s.unix_type = type;
  s.unix_flags = flags;
  s.state = state;
  s.unix_path = std::move(path);
  s.unix_has_path = has_path;
  s.ref_count = 2;
  s.inode = 143764;
  return s;
}

TEST(NetstatUnixTest, ListeningStream) {
  EXPECT_EQ(row(unixSocket(1, scanner::kUnixFlagAcceptCon, 1, "/srv/stream.sock"), {}),
            "unix  2      [ ACC ]     STREAM     LISTENING     143764   /srv/stream.sock\n");
}

TEST(NetstatUnixTest, AllFlags) {
  const std::uint32_t all =
      scanner::kUnixFlagAcceptCon | scanner::kUnixFlagWaitData | scanner::kUnixFlagNoSpace;
  EXPECT_EQ(row(unixSocket(2, all, 3, "/x"), {}),
            "unix  2      [ ACC W N ] DGRAM      CONNECTED     143764   /x\n");
  EXPECT_EQ(row(unixSocket(2, scanner::kUnixFlagNoSpace, 3, "/x"), {}),
            "unix  2      [ N ]       DGRAM      CONNECTED     143764   /x\n");
}

TEST(NetstatUnixTest, TypesAndStates) {
  const std::vector<std::pair<std::uint16_t, std::string>> types = {
      {1, "STREAM    "}, {2, "DGRAM     "}, {3, "RAW       "},
      {4, "RDM       "}, {5, "SEQPACKET "}, {9, "UNKNOWN   "}};
  for (const auto& [type, text] : types) {
    EXPECT_NE(row(unixSocket(type, 0, 3, ""), {}).find("[ ]         " + text + " CONNECTED"),
              std::string::npos)
        << type;
  }
  const std::vector<std::pair<std::uint8_t, std::string>> states = {
      {0, "FREE         "}, {1, "             "}, {2, "CONNECTING   "},
      {3, "CONNECTED    "}, {4, "DISCONNECTING"}, {7, "UNKNOWN      "}};
  for (const auto& [state, text] : states) {
    EXPECT_NE(row(unixSocket(1, 0, state, ""), {}).find("STREAM     " + text + " 143764"),
              std::string::npos)
        << int{state};
  }
}

TEST(NetstatUnixTest, PathIsCutAtTheFirstBlank) {
  EXPECT_EQ(netstatUnixPath(unixSocket(1, 0, 1, "/run/with space.sock")), "/run/with");
  EXPECT_EQ(netstatUnixPath(unixSocket(1, 0, 1, "/run/tab\there")), "/run/tab");
  EXPECT_EQ(netstatUnixPath(unixSocket(1, 0, 1, "@abs@with@nuls")), "@abs@with@nuls");
  EXPECT_EQ(netstatUnixPath(unixSocket(1, 0, 1, "", false)), "");
}

TEST(NetstatUnixTest, UnboundSocketEndsWithABlank) {
  EXPECT_EQ(row(unixSocket(1, 0, 1, "", false), {}),
            "unix  2      [ ]         STREAM                   143764   \n");
}

TEST(NetstatUnixTest, ProgramColumn) {
  ScanResult scan;
  scan.processes.push_back({7, 0, 1, "sshd", "sshd"});
  scan.owner_table = {0};
  Socket s = unixSocket(1, 0, 3, "/x");
  s.owners_count = 1;
  NetstatOptions o;
  o.programs = true;
  EXPECT_EQ(row(s, o, nullptr, scan),
            "unix  2      [ ]         STREAM     CONNECTED     143764   7/sshd               /x\n");
}

// PID/Program name.

TEST(NetstatProgramTest, CutTo19Characters) {
  ScanResult scan;
  scan.processes.push_back({24658, 0, 1, "python3", "netstat-sample-helper-long-name"});
  scan.owner_table = {0};
  Socket s;
  s.inode = 1;
  s.owners_count = 1;
  EXPECT_EQ(netstatProgram(s, scan), "24658/netstat-sampl");
  scan.processes[0].program = "sshd";
  EXPECT_EQ(netstatProgram(s, scan), "24658/sshd");
  scan.processes[0].program = "";  // empty cmdline (netstat prints "PID/")
  EXPECT_EQ(netstatProgram(s, scan), "24658/");
}

TEST(NetstatProgramTest, LowestPidOfSeveralOwners) {
  ScanResult scan;
  scan.processes.push_back({300, 0, 1, "b", "b"});
  scan.processes.push_back({20, 0, 1, "a", "a"});
  scan.owner_table = {0, 1};
  Socket s;
  s.inode = 1;
  s.owners_count = 2;
  EXPECT_EQ(netstatProgram(s, scan), "20/a");
}

TEST(NetstatProgramTest, DashWithoutOwner) {
  ScanResult scan;
  Socket s;
  s.inode = 5;
  EXPECT_EQ(netstatProgram(s, scan), "-");
  scan.processes.push_back({20, 0, 1, "a", "a"});
  scan.owner_table = {0};
  s.owners_count = 1;
  s.inode = 0;  // request and time-wait sockets
  EXPECT_EQ(netstatProgram(s, scan), "-");
}

// Headers.

TEST(NetstatHeaderTest, InetHeaders) {
  NetstatOptions o;
  EXPECT_EQ(NetstatRenderer(o, nullptr).inetHeader(),
            "Active Internet connections (w/o servers)\n"
            "Proto Recv-Q Send-Q Local Address           Foreign Address         State      \n");
  o.mode = ListMode::Servers;
  o.extend = o.programs = o.timers = true;
  EXPECT_EQ(NetstatRenderer(o, nullptr).inetHeader(),
            "Active Internet connections (only servers)\n"
            "Proto Recv-Q Send-Q Local Address           Foreign Address         State       "
            "User       Inode      PID/Program name     Timer\n");
}

TEST(NetstatHeaderTest, UnixHeaders) {
  NetstatOptions o;
  o.mode = ListMode::All;
  o.extend = o.timers = true;  // no User/Inode/Timer columns for unix
  EXPECT_EQ(NetstatRenderer(o, nullptr).unixHeader(),
            "Active UNIX domain sockets (servers and established)\n"
            "Proto RefCnt Flags       Type       State         I-Node   Path\n");
  o.programs = true;
  EXPECT_EQ(NetstatRenderer(o, nullptr).unixHeader(),
            "Active UNIX domain sockets (servers and established)\n"
            "Proto RefCnt Flags       Type       State         I-Node   PID/Program name     "
            "Path\n");
}

// Server rules.

TEST(NetstatServerTest, PerProtocolRules) {
  // TCP: remote port 0, whatever the state.
  EXPECT_TRUE(isNetstatServer(inet(Transport::Tcp, ep("0.0.0.0", 22), ep("0.0.0.0", 0), 10)));
  EXPECT_TRUE(isNetstatServer(inet(Transport::Tcp, ep("1.2.3.4", 22), ep("5.6.7.8", 0), 1)));
  EXPECT_FALSE(isNetstatServer(inet(Transport::Tcp6, ep("::1", 1), ep("::1", 8083), 2)));
  // UDP and raw: remote address all zero, whatever the port.
  EXPECT_TRUE(isNetstatServer(inet(Transport::Udp, ep("0.0.0.0", 53), ep("0.0.0.0", 0), 7)));
  EXPECT_TRUE(isNetstatServer(inet(Transport::Udp6, ep("::", 53), ep("::", 9), 7)));
  EXPECT_FALSE(isNetstatServer(inet(Transport::Raw, ep("127.0.0.1", 253), ep("127.0.0.1", 0), 1)));
  EXPECT_FALSE(isNetstatServer(inet(Transport::UdpLite6, ep("::1", 1), ep("::1", 0), 7)));
  // Unix: unconnected with ACC.
  EXPECT_TRUE(isNetstatServer(unixSocket(1, scanner::kUnixFlagAcceptCon, 1, "/x")));
  EXPECT_FALSE(isNetstatServer(unixSocket(1, scanner::kUnixFlagAcceptCon, 3, "/x")));
  EXPECT_FALSE(isNetstatServer(unixSocket(1, 0, 1, "", false)));
}

TEST(NetstatServerTest, Modes) {
  const Socket server = inet(Transport::Tcp, ep("0.0.0.0", 22), ep("0.0.0.0", 0), 10);
  const Socket client = inet(Transport::Tcp, ep("1.2.3.4", 5), ep("5.6.7.8", 22), 1);
  EXPECT_TRUE(netstatSelects(server, ListMode::All));
  EXPECT_TRUE(netstatSelects(client, ListMode::All));
  EXPECT_TRUE(netstatSelects(server, ListMode::Servers));
  EXPECT_FALSE(netstatSelects(client, ListMode::Servers));
  EXPECT_FALSE(netstatSelects(server, ListMode::NonServers));
  EXPECT_TRUE(netstatSelects(client, ListMode::NonServers));
}

// Whole namespaces.

TEST(NetstatNamespaceTest, TableOrderAndSelection) {
  ScanResult scan;
  scan.namespaces.resize(2);
  // Scan order deliberately not table order; the other namespace's socket must not show.
  scan.sockets.push_back(unixSocket(1, 0, 3, "/u"));
  scan.sockets.push_back(inet(Transport::Raw, ep("0.0.0.0", 1), ep("0.0.0.0", 0), 7));
  scan.sockets.push_back(inet(Transport::Tcp6, ep("::1", 1), ep("::1", 2), 1));
  scan.sockets.push_back(inet(Transport::Tcp, ep("10.0.0.1", 1), ep("10.0.0.2", 2), 1));
  scan.sockets.push_back(inet(Transport::Tcp, ep("10.0.0.1", 80), ep("0.0.0.0", 0), 10));
  scan.sockets.push_back(inet(Transport::Tcp, ep("10.9.9.9", 1), ep("10.0.0.2", 2), 1));
  scan.sockets.back().netns_index = 1;
  NetstatOptions o = numericOptions();
  o.transports.remove(Transport::Raw);
  NetstatRenderer r(o, nullptr);
  std::string out;
  r.appendNamespace(out, scan, 0);
  EXPECT_EQ(out,
            "Active Internet connections (w/o servers)\n"
            "Proto Recv-Q Send-Q Local Address           Foreign Address         State      \n"
            "tcp        0      0 10.0.0.1:1              10.0.0.2:2              ESTABLISHED\n"
            "tcp6       0      0 ::1:1                   ::1:2                   ESTABLISHED\n"
            "Active UNIX domain sockets (w/o servers)\n"
            "Proto RefCnt Flags       Type       State         I-Node   Path\n"
            "unix  2      [ ]         STREAM     CONNECTED     143764   /u\n");
}

TEST(NetstatNamespaceTest, BlocksCanBeLeftOut) {
  ScanResult scan;
  scan.namespaces.resize(1);
  NetstatOptions o = numericOptions();
  o.inet_block = false;
  std::string out;
  NetstatRenderer(o, nullptr).appendNamespace(out, scan, 0);
  EXPECT_EQ(out,
            "Active UNIX domain sockets (w/o servers)\n"
            "Proto RefCnt Flags       Type       State         I-Node   Path\n");
  o.inet_block = true;
  o.unix_block = false;
  out.clear();
  NetstatRenderer(o, nullptr).appendNamespace(out, scan, 0);
  EXPECT_EQ(out.find("UNIX"), std::string::npos);
  EXPECT_EQ(out.rfind("Active Internet connections (w/o servers)\n", 0), 0U);
}

// The resolved output of the capture: `netstat -tuwxUapeo` printed names from the capture
// machine's /etc/hosts, /etc/services, /etc/protocols and passwd (and no DNS). The fake answers
// the same, so the renderer's resolution rules must reproduce netstat's bytes.

TEST(NetstatResolvedTest, CaptureMatchesNetstat) {
  podnetstat::testing::TempDir dir;
  podnetstat::testing::buildFixtureProcRoot(dir.path());
  std::vector<std::string> args = {"list", "-tuwxUapeo", "--netns-pid",
                                   std::to_string(podnetstat::testing::kHelperPid)};
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  auto parsed = parseListArgs(static_cast<int>(args.size()), argv.data());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const scanner::Scanner scanner(scanner::Roots{dir.path(), dir.path() / "no-netns"});
  auto scan = scanner.scan(scanOptionsFor(*parsed));
  ASSERT_TRUE(scan.ok()) << scan.error().message;
  ASSERT_EQ(scan->namespaces.size(), 1U);

  FakeLookup names;
  names.hosts4["127.0.0.1"] = "localhost";
  using Table = NameLookup::ServiceTable;
  for (auto [port, name] : {std::pair<std::uint16_t, const char*>{22, "ssh"},
                            {80, "http"},
                            {443, "https"},
                            {8081, "tproxy"}}) {
    names.addService(Table::Tcp, port, name);
  }
  for (auto [port, name] :
       {std::pair<std::uint16_t, const char*>{53, "domain"}, {123, "ntp"}, {5353, "mdns"}}) {
    names.addService(Table::Udp, port, name);
  }
  names.addService(Table::Raw, 1, "icmp");
  names.addService(Table::Raw, 58, "ipv6-icmp");
  names.users[0] = "root";
  names.users[65534] = "nobody";

  NetstatRenderer renderer(parsed->format, &names);
  std::string out;
  renderer.appendNamespace(out, *scan, 0);
  std::ifstream in(podnetstat::testing::fixturesDir() / "netstat-samples" / "replay_nsA" /
                       "netstat_tuwxUapeo.out",
                   std::ios::binary);
  std::ostringstream expected;
  expected << in.rdbuf();
  EXPECT_EQ(out, expected.str());
}

// The real databases, where this machine has the standard entries.

TEST(SystemNameLookupTest, ServicesProtocolsAndUsers) {
  auto names = makeSystemNameLookup();
  if (servent* se = getservbyport(htons(22), "tcp"); se != nullptr) {
    EXPECT_EQ(names->service(22, NameLookup::ServiceTable::Tcp), std::string(se->s_name));
  }
  if (protoent* pe = getprotobynumber(1); pe != nullptr) {
    EXPECT_EQ(names->service(1, NameLookup::ServiceTable::Raw), std::string(pe->p_name));
  }
  EXPECT_EQ(names->service(1, NameLookup::ServiceTable::Raw),
            names->service(1, NameLookup::ServiceTable::Raw));  // cached, same answer
  if (passwd* pw = getpwuid(0); pw != nullptr) {
    EXPECT_EQ(names->userName(0), std::string(pw->pw_name));
  }
}

}  // namespace
}  // namespace podnetstat::agent
