// `podnetstat list` against the frozen capture: the real netstat 2.10 output of
// tests/fixtures/netstat-samples/replay_nsA was computed from exactly these /proc files, so every
// byte must match. Also the command line (netstat's flag rules) and the multi-namespace layout.

#include <pwd.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/agent/cli/list_command.h"

#include "fixture_proc_root.h"
#include "run_podnetstat.h"
#include "test_paths.h"

namespace podnetstat::agent {
namespace {

using podnetstat::testing::buildFixtureProcRoot;
using podnetstat::testing::fixturesDir;
using podnetstat::testing::kHelperPid;
using podnetstat::testing::kNsAInode;
using podnetstat::testing::kNsBInode;
using podnetstat::testing::kPeerPid;
using podnetstat::testing::runPodnetstat;
using podnetstat::testing::RunResult;
using podnetstat::testing::TempDir;
using scanner::Transport;
using scanner::TransportSet;

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replay(const std::string& name) {
  return readFile(fixturesDir() / "netstat-samples" / "replay_nsA" / name);
}

/// A fixture proc root shared by the tests of this file; removed at the end (also on failure).
class ListGoldenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    buildFixtureProcRoot(dir_->path() / "proc");
    std::filesystem::create_directories(dir_->path() / "netns");
  }

  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  /// `podnetstat list --proc-root <fixture> --netns-dir <empty> <args...>`.
  static RunResult list(std::vector<std::string> args) {
    std::vector<std::string> argv = {"list", "--proc-root", (dir_->path() / "proc").string(),
                                     "--netns-dir", (dir_->path() / "netns").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return runPodnetstat(argv);
  }

  /// The helper's namespace (nsA) with netstat's flags.
  static RunResult listNsA(std::vector<std::string> flags) {
    flags.insert(flags.begin(), {"--netns-pid", std::to_string(kHelperPid)});
    return list(std::move(flags));
  }

  static void expectGolden(const std::vector<std::string>& flags, const std::string& file) {
    const RunResult r = listNsA(flags);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    const std::string expected = replay(file);
    ASSERT_FALSE(expected.empty()) << file;
    EXPECT_EQ(r.out, expected) << "flags of " << file;
  }

  static TempDir* dir_;
};

TempDir* ListGoldenTest::dir_ = nullptr;

TEST_F(ListGoldenTest, AllTablesNumericExtendedTimers) {
  expectGolden({"-tuwxUaneo"}, "netstat_tuwxUaneo.out");
}

TEST_F(ListGoldenTest, AllTablesWithPrograms) {
  expectGolden({"-tuwxUapeon"}, "netstat_tuwxUapeon.out");
}

TEST_F(ListGoldenTest, WideDoesNotCutAddresses) {
  expectGolden({"-tuwxUapeonW"}, "netstat_tuwxUapeonW.out");
}

TEST_F(ListGoldenTest, DefaultShowsNonServersOnly) {
  expectGolden({"-tuwn"}, "netstat_tuwn.out");
}

TEST_F(ListGoldenTest, ListeningShowsServersOnly) {
  expectGolden({"-tuwlnp"}, "netstat_tuwlnp.out");
}

TEST_F(ListGoldenTest, FamilyAloneMeansAllItsProtocols) {
  expectGolden({"-A", "inet6", "-an"}, "netstat_A_inet6_an.out");
}

TEST_F(ListGoldenTest, UnixAll) {
  expectGolden({"-xa"}, "netstat_xa.out");
}

TEST_F(ListGoldenTest, LongOptionsAreTheSameFlags) {
  expectGolden({"--tcp", "--udp", "--raw", "--unix", "--udplite", "--all", "--numeric", "--extend",
                "--timers"},
               "netstat_tuwxUaneo.out");
}

TEST_F(ListGoldenTest, NumericHostsAndPortsWithUserNames) {
  // The user column resolves through this machine's passwd: the capture had root (0), nobody
  // (65534) and no entry for 4242.
  auto userName = [](uid_t uid) {
    const passwd* pw = getpwuid(uid);  // a static buffer: copy the name at once
    return pw == nullptr ? std::string("(none)") : std::string(pw->pw_name);
  };
  if (userName(0) != "root" || userName(65534) != "nobody" || userName(4242) != "(none)") {
    GTEST_SKIP() << "passwd here differs from the capture's";
  }
  expectGolden({"-tuwxUape", "--numeric-hosts", "--numeric-ports"},
               "netstat_tuwxUape_numhostports.out");
}

// The live captures of cmd/ (netstat run inside the namespaces while the snapshot was taken) whose
// output has no timer values, which advanced between the two reads.
TEST_F(ListGoldenTest, LiveCapturesWithoutTimers) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-tuwn"}, "30_netstat_default_tuwn.out"},
      {{"-tuwlnp"}, "31_netstat_listening_tuwlnp.out"},
      {{"-Uanpeo"}, "32_netstat_udplite_Uanpeo.out"},
      {{"-wanpeo"}, "33_netstat_raw_wanpeo.out"},
      {{"-xap"}, "34_netstat_unix_xap.out"},
      {{"-xlp"}, "35_netstat_unix_xlp.out"},
      {{"-x"}, "36_netstat_unix_x.out"},
      {{"-xape"}, "37_netstat_unix_xape.out"},
      {{"-A", "inet", "-n"}, "38_netstat_A_inet_n.out"},
      {{"-A", "inet6", "-an"}, "39_netstat_A_inet6_an.out"},
      {{"-4", "-tan"}, "40_netstat_4_tan.out"},
      {{"-6", "-tan"}, "41_netstat_6_tan.out"},
      {{"-an"}, "42_netstat_an_all_families.out"},
      {{"-tanee"}, "43_netstat_ee_tan.out"},
  };
  for (const auto& [flags, file] : cases) {
    const RunResult r = listNsA(flags);
    EXPECT_EQ(r.exit_code, 0) << file << ": " << r.err;
    const std::string expected = readFile(fixturesDir() / "netstat-samples" / "cmd" / file);
    ASSERT_FALSE(expected.empty()) << file;
    EXPECT_EQ(r.out, expected) << file;
  }
}

TEST_F(ListGoldenTest, LiveCaptureOfThePeerNamespace) {
  const RunResult r = list({"--netns-pid", std::to_string(kPeerPid), "-tuwxapeon"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            readFile(fixturesDir() / "netstat-samples" / "cmd" / "70_nsB_netstat_tuwxapeon.out"));
}

TEST_F(ListGoldenTest, SeveralNamespacesPrintOneBlockEach) {
  const RunResult both = list({"--netns-pid", std::to_string(kHelperPid), "--netns-pid",
                               std::to_string(kPeerPid), "-tuwn"});
  const RunResult a = list({"--netns-pid", std::to_string(kHelperPid), "-tuwn"});
  const RunResult b = list({"--netns-pid", std::to_string(kPeerPid), "-tuwn"});
  ASSERT_EQ(both.exit_code, 0) << both.err;
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, replay("netstat_tuwn.out"));
  // nsB holds the peer's end of the cross-namespace connection.
  EXPECT_NE(b.out.find("\ntcp        0      0 10.200.0.2:32922        10.200.0.1:8443         "
                       "ESTABLISHED\n"),
            std::string::npos)
      << b.out;
  const std::string expected = "Netns: - (" + std::to_string(kNsAInode) + ")\n" + a.out + "\n" +
                               "Netns: - (" + std::to_string(kNsBInode) + ")\n" + b.out;
  EXPECT_EQ(both.out, expected);
}

TEST_F(ListGoldenTest, UnreadableNamespace) {
  // The peer's namespace cannot be read when its only process has no net/ directory.
  TempDir broken;
  buildFixtureProcRoot(broken.path());
  std::filesystem::remove_all(broken.path() / std::to_string(kPeerPid) / "net");
  const std::vector<std::string> base = {"list", "--proc-root", broken.path().string(),
                                         "--netns-dir", (broken.path() / "none").string()};
  auto run = [&](std::vector<std::string> more) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), more.begin(), more.end());
    return runPodnetstat(argv);
  };
  const std::string block_b = "Netns: - (" + std::to_string(kNsBInode) + ")\n";
  // Among others: its block line on stdout, the reason on stderr, the others printed.
  const RunResult both = run({"--netns-pid", std::to_string(kHelperPid), "--netns-pid",
                              std::to_string(kPeerPid), "-tuwn"});
  EXPECT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(both.out, "Netns: - (" + std::to_string(kNsAInode) + ")\n" +
                          replay("netstat_tuwn.out") + "\n" + block_b);
  EXPECT_NE(both.err.find(std::to_string(kNsBInode)), std::string::npos) << both.err;
  // Alone: nothing on stdout, the reason on stderr, a failure.
  const RunResult alone = run({"--netns-pid", std::to_string(kPeerPid), "-tuwn"});
  EXPECT_EQ(alone.exit_code, 1);
  EXPECT_EQ(alone.out, "");
  EXPECT_NE(alone.err.find(std::to_string(kNsBInode)), std::string::npos) << alone.err;
}

TEST_F(ListGoldenTest, SameNamespaceTwiceIsOneBlock) {
  const RunResult r =
      list({"--netns-pid", std::to_string(kHelperPid), "--netns-pid", "24661", "-tuwn"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, replay("netstat_tuwn.out"));
}

TEST_F(ListGoldenTest, UnknownOptionIsAUsageError) {
  const RunResult r = listNsA({"-tz"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("unknown option '-z'"), std::string::npos) << r.err;
}

TEST_F(ListGoldenTest, OtherNetstatModesAreRefusedByName) {
  const RunResult r = listNsA({"-c"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("'-c'"), std::string::npos) << r.err;
}

TEST_F(ListGoldenTest, UnknownPidFails) {
  const RunResult r = list({"--netns-pid", "999999", "-tn"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("999999"), std::string::npos) << r.err;
}

TEST_F(ListGoldenTest, UnknownNamespaceNameFails) {
  const RunResult r = list({"--netns", "no-such-ns", "-tn"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("no-such-ns"), std::string::npos) << r.err;
}

TEST_F(ListGoldenTest, MissingProcRootFails) {
  const RunResult r =
      runPodnetstat({"list", "--proc-root", (dir_->path() / "does-not-exist").string(), "-tn"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("does-not-exist"), std::string::npos) << r.err;
}

TEST_F(ListGoldenTest, HostNamespaceNeedsPidOne) {
  // The fixture has no PID 1, so the default (host) selection cannot be served.
  const RunResult r = list({"-tn"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_FALSE(r.err.empty());
}

TEST_F(ListGoldenTest, HelpGoesToStdout) {
  const RunResult r = runPodnetstat({"list", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("usage: podnetstat list"), std::string::npos);
}

// The command line, parsed in-process.

ListArgs parse(std::vector<std::string> args) {
  args.insert(args.begin(), "list");
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  auto r = parseListArgs(static_cast<int>(args.size()), argv.data());
  if (!r) {
    ADD_FAILURE() << r.error().message;
    return {};
  }
  return *r;
}

std::string parseError(std::vector<std::string> args) {
  args.insert(args.begin(), "list");
  std::vector<char*> argv;
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  auto r = parseListArgs(static_cast<int>(args.size()), argv.data());
  return r ? std::string() : r.error().message;
}

TransportSet set(std::initializer_list<Transport> ts) {
  TransportSet s;
  for (Transport t : ts) {
    s.add(t);
  }
  return s;
}

TEST(ListArgsTest, NoProtocolFlagMeansEverything) {
  const ListArgs a = parse({});
  EXPECT_EQ(a.format.transports, TransportSet::all());
  EXPECT_TRUE(a.format.inet_block);
  EXPECT_TRUE(a.format.unix_block);
  EXPECT_EQ(a.format.mode, ListMode::NonServers);
  EXPECT_FALSE(a.format.numeric_hosts);
}

TEST(ListArgsTest, CombinedShortFlags) {
  const ListArgs a = parse({"-tuwanp"});
  EXPECT_EQ(a.format.transports, set({Transport::Tcp, Transport::Tcp6, Transport::Udp,
                                      Transport::Udp6, Transport::Raw, Transport::Raw6}));
  EXPECT_TRUE(a.format.inet_block);
  EXPECT_FALSE(a.format.unix_block);
  EXPECT_EQ(a.format.mode, ListMode::All);
  EXPECT_TRUE(a.format.numeric_hosts && a.format.numeric_ports && a.format.numeric_users);
  EXPECT_TRUE(a.format.programs);
  EXPECT_FALSE(a.format.extend);
}

TEST(ListArgsTest, UdpDoesNotImplyUdpLite) {
  EXPECT_EQ(parse({"-u"}).format.transports, set({Transport::Udp, Transport::Udp6}));
  EXPECT_EQ(parse({"-U"}).format.transports, set({Transport::UdpLite, Transport::UdpLite6}));
}

TEST(ListArgsTest, FamilyAloneSelectsAllItsInetProtocols) {
  const ListArgs a = parse({"-A", "inet6"});
  EXPECT_EQ(a.format.transports,
            set({Transport::Tcp6, Transport::Udp6, Transport::UdpLite6, Transport::Raw6}));
  EXPECT_FALSE(a.format.unix_block);
  EXPECT_EQ(parse({"-4"}).format.transports,
            set({Transport::Tcp, Transport::Udp, Transport::UdpLite, Transport::Raw}));
}

TEST(ListArgsTest, FamilyListWithUnix) {
  const ListArgs a = parse({"-Aunix,inet"});
  EXPECT_EQ(a.format.transports, set({Transport::Tcp, Transport::Udp, Transport::UdpLite,
                                      Transport::Raw, Transport::Unix}));
  EXPECT_TRUE(a.format.inet_block);
  EXPECT_TRUE(a.format.unix_block);
}

TEST(ListArgsTest, UnixOnlyHasNoInetBlock) {
  const ListArgs a = parse({"-x"});
  EXPECT_EQ(a.format.transports, set({Transport::Unix}));
  EXPECT_FALSE(a.format.inet_block);
  EXPECT_TRUE(a.format.unix_block);
}

TEST(ListArgsTest, ProtocolWithFamily) {
  EXPECT_EQ(parse({"-t", "-6"}).format.transports, set({Transport::Tcp6}));
  EXPECT_EQ(parse({"--tcp", "--inet"}).format.transports, set({Transport::Tcp}));
}

TEST(ListArgsTest, AllOverridesListening) {
  EXPECT_EQ(parse({"-l", "-a"}).format.mode, ListMode::All);
  EXPECT_EQ(parse({"-l"}).format.mode, ListMode::Servers);
}

TEST(ListArgsTest, NumericFlagsOneByOne) {
  const ListArgs a = parse({"--numeric-hosts"});
  EXPECT_TRUE(a.format.numeric_hosts);
  EXPECT_FALSE(a.format.numeric_ports);
  EXPECT_FALSE(a.format.numeric_users);
  const ListArgs b = parse({"--numeric-users", "--numeric-ports"});
  EXPECT_FALSE(b.format.numeric_hosts);
  EXPECT_TRUE(b.format.numeric_ports);
  EXPECT_TRUE(b.format.numeric_users);
}

TEST(ListArgsTest, ExtendTwiceIsExtend) {
  EXPECT_TRUE(parse({"-ee"}).format.extend);
  EXPECT_TRUE(parse({"-o", "-W"}).format.timers);
  EXPECT_TRUE(parse({"-o", "-W"}).format.wide);
}

TEST(ListArgsTest, NamespaceOptions) {
  const ListArgs a = parse({"--netns", "red", "--netns", "blue", "--netns-pid", "42", "--proc-root",
                            "/host/proc", "--netns-dir", "/host/run/netns"});
  EXPECT_EQ(a.netns_names, (std::vector<std::string>{"red", "blue"}));
  EXPECT_EQ(a.netns_pids, (std::vector<std::int32_t>{42}));
  EXPECT_EQ(a.proc_root, "/host/proc");
  EXPECT_EQ(a.netns_dir, "/host/run/netns");
  const scanner::ScanOptions o = scanOptionsFor(a);
  EXPECT_TRUE(o.no_host_network);  // explicit namespaces without --all-netns
  EXPECT_FALSE(o.all_netns);
  EXPECT_EQ(o.netns_names, a.netns_names);
  EXPECT_EQ(o.netns_pids, a.netns_pids);
}

TEST(ListArgsTest, AllNetnsKeepsHost) {
  const scanner::ScanOptions o = scanOptionsFor(parse({"--all-netns", "--netns-pid", "7"}));
  EXPECT_TRUE(o.all_netns);
  EXPECT_FALSE(o.no_host_network);
  EXPECT_TRUE(scanOptionsFor(parse({"--no-host", "--all-netns"})).no_host_network);
  EXPECT_FALSE(scanOptionsFor(parse({})).no_host_network);
}

TEST(ListArgsTest, ProcessesAreReadOnlyWhenShown) {
  EXPECT_FALSE(scanOptionsFor(parse({"-tan"})).pid);
  EXPECT_TRUE(scanOptionsFor(parse({"-tanp"})).pid);
  EXPECT_TRUE(scanOptionsFor(parse({"--json"})).pid);
}

TEST(ListArgsTest, ScanReadsOnlyPrintedTablesAndFiltersLikeNetstat) {
  const scanner::ScanOptions o = scanOptionsFor(parse({"-tl"}));
  EXPECT_EQ(o.transports, set({Transport::Tcp, Transport::Tcp6}));
  EXPECT_FALSE(o.filter.isNoop());
  scanner::Socket listener;
  listener.state = 10;
  scanner::Socket syn_sent;  // remote port set: not a server for netstat, whatever the state
  syn_sent.state = 2;
  syn_sent.remote.port = 443;
  const scanner::ScanResult scan;
  EXPECT_TRUE(o.filter(listener, scan));
  EXPECT_FALSE(o.filter(syn_sent, scan));
  EXPECT_TRUE(scanOptionsFor(parse({"-ta"})).filter.isNoop());
}

TEST(ListArgsTest, Errors) {
  EXPECT_NE(parseError({"-z"}).find("unknown option '-z'"), std::string::npos);
  EXPECT_NE(parseError({"--bogus"}).find("--bogus"), std::string::npos);
  EXPECT_NE(parseError({"--tcp=3"}).find("misused option '--tcp'"), std::string::npos);
  EXPECT_NE(parseError({"--num"}).find("ambiguous"), std::string::npos);
  EXPECT_NE(parseError({"-tA"}).find("option '-A' needs an argument"), std::string::npos);
  EXPECT_NE(parseError({"-A", "ipx"}).find("ipx"), std::string::npos);
  EXPECT_NE(parseError({"-A"}).find("needs an argument"), std::string::npos);
  EXPECT_NE(parseError({"--netns-pid", "abc"}).find("abc"), std::string::npos);
  EXPECT_NE(parseError({"--netns-pid", "0"}).find("0"), std::string::npos);
  EXPECT_NE(parseError({"--netns"}).find("needs an argument"), std::string::npos);
  EXPECT_NE(parseError({"-c"}).find("not supported"), std::string::npos);
  EXPECT_NE(parseError({"-M"}).find("not supported"), std::string::npos);
  EXPECT_NE(parseError({"extra"}).find("extra"), std::string::npos);
  EXPECT_EQ(parseError({"-tuwanpeoW"}), "");
}

}  // namespace
}  // namespace podnetstat::agent

namespace podnetstat::agent {
namespace {

TEST(ListArgsTest, BackendDefaultsToProcfsAndCanBeChosen) {
  EXPECT_EQ(scanOptionsFor(parse({"-tan"})).backend, scanner::Backend::Procfs);
  EXPECT_EQ(scanOptionsFor(parse({"--backend", "netlink"})).backend, scanner::Backend::Netlink);
  EXPECT_EQ(scanOptionsFor(parse({"--backend=auto"})).backend, scanner::Backend::Auto);
  EXPECT_NE(parseError({"--backend", "ebpf"}).find("ebpf"), std::string::npos);
}

TEST(ListArgsTest, NetstatModesSelectTheirView) {
  EXPECT_EQ(parse({"-tan"}).view, std::nullopt);
  EXPECT_EQ(parse({"-i"}).view, NetView::Interfaces);
  EXPECT_EQ(parse({"-rn"}).view, NetView::Routes);
  EXPECT_TRUE(parse({"-rn", "-A", "inet6"}).ipv6_only);
  EXPECT_EQ(parse({"-gn", "-4"}).view, NetView::Groups);
  EXPECT_TRUE(parse({"-gn", "-4"}).ipv4_only);
  const ListArgs stats = parse({"-st"});
  EXPECT_EQ(stats.view, NetView::Stats);
  EXPECT_TRUE(stats.stats_tcp);
  EXPECT_FALSE(stats.stats_udp);
}

}  // namespace
}  // namespace podnetstat::agent
