// Live comparison of `podnetstat list` with net-tools netstat on real namespaces and sockets.
//
// Two namespaces A and B joined by a veth pair; sockmaker runs in each (A with a long argv[0]
// so that netstat's 19-character `PID/Program name` cut shows, black-holed neighbours for
// SYN_SENT/SYN_RECV, a 38-character IPv6 address on lo for the address cut; B connects to A
// over the veth). Then `podnetstat list --netns A <flags>` must print what
// `ip netns exec A netstat <flags>` prints: the same header lines and the same rows (as a
// multiset, timer values masked: they move between the two reads). A mismatch is retried twice
// before it fails, for rows that changed between the two reads.
//
// Needs root, `ip` and `netstat`; skipped otherwise. Everything made here (namespaces, veths,
// bind mounts, processes, temp dirs) is removed by destructors, also when a test fails.

#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "netns.h"
#include "netstat_text.h"
#include "socket_zoo.h"
#include "sockmaker.h"
#include "test_paths.h"

namespace podnetstat::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kAttempts = 3;

std::string join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += (out.empty() ? "" : " ") + a;
  }
  return out;
}

CommandResult podnetstatList(const std::vector<std::string>& args) {
  std::vector<std::string> argv{podnetstatBinary().string(), "list"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, seconds(60));
}

class LiveNetstat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!liveTestSkipReason().empty()) {
      return;
    }
    try {
      env_ = std::make_unique<SocketZoo>();
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }

  static void TearDownTestSuite() { env_.reset(); }

  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    ASSERT_TRUE(env_) << "live environment: " << setup_error_;
  }

  static SocketZoo& env() { return *env_; }

  // The comparison itself; see the file comment.
  static void expectSameAsNetstat(const std::vector<std::string>& podnetstat_args,
                                  const NetNamespace& ns,
                                  const std::vector<std::string>& flags) {
    std::string last_report;
    for (int attempt = 1; attempt <= kAttempts; ++attempt) {
      CommandResult ours = podnetstatList(podnetstat_args);
      CommandResult theirs = ns.run([&] {
        std::vector<std::string> argv{"netstat"};
        argv.insert(argv.end(), flags.begin(), flags.end());
        return argv;
      }());
      ASSERT_EQ(theirs.exit_code, 0) << "netstat " << join(flags) << ": " << theirs.err;
      std::string diff = diffListings(theirs.out, ours.out);
      if (ours.exit_code == 0 && diff.empty()) {
        if (attempt > 1) {
          std::printf("note: matched on attempt %d\n", attempt);
        }
        if (!sameRowOrder(theirs.out, ours.out)) {
          std::printf("note: same rows, in another order, for %s\n", join(flags).c_str());
        }
        return;
      }
      last_report = "podnetstat list " + join(podnetstat_args) + " (exit " +
                    std::to_string(ours.exit_code) + ") vs ip netns exec " + ns.name() +
                    " netstat " + join(flags) + ", attempt " + std::to_string(attempt) + ":\n" +
                    diff + (ours.err.empty() ? "" : "podnetstat stderr:\n" + ours.err);
    }
    ADD_FAILURE() << last_report;
  }

  static std::vector<std::string> withNetns(const NetNamespace& ns,
                                            const std::vector<std::string>& flags) {
    std::vector<std::string> args{"--netns", ns.name()};
    args.insert(args.end(), flags.begin(), flags.end());
    return args;
  }

  // The sockets of `--json` output (an array of socket objects).
  static nlohmann::json listJson(const std::vector<std::string>& args) {
    std::vector<std::string> full = args;
    full.push_back("--json");
    CommandResult r = podnetstatList(full);
    EXPECT_EQ(r.exit_code, 0) << join(full) << ": " << r.err;
    nlohmann::json doc = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON: " << r.out.substr(0, 500);
    if (doc.is_object() && doc.contains("items")) {
      return doc["items"];
    }
    return doc;
  }

  static std::vector<std::string> socketFlags() {
    return env().udplite ? std::vector<std::string>{"-tuwUxa"} : std::vector<std::string>{"-tuwxa"};
  }

  static inline std::unique_ptr<SocketZoo> env_;
  static inline std::string setup_error_;
};

// ------------------------------------------------------------------ the harness itself

// The comparison helpers (no root needed): a comparison that cannot fail would prove nothing.
TEST(NetstatText, MaskTimerKeepsOnlyTheLabel) {
  EXPECT_EQ(maskTimer("tcp 0 0 a b ESTABLISHED keepalive (7197.01/0/0)"),
            "tcp 0 0 a b ESTABLISHED keepalive (*)");
  EXPECT_EQ(maskTimer("tcp 0 1 a b SYN_SENT 0 123 1/x on (0.39/3/0)"),
            "tcp 0 1 a b SYN_SENT 0 123 1/x on (*)");
  EXPECT_EQ(maskTimer("raw 0 0 a b 7 unkn-7 (1.00/0/0)"), "raw 0 0 a b 7 unkn-7 (*)");
  EXPECT_EQ(maskTimer("unix 2 [ ] STREAM 1 /tmp/x (1)"), "unix 2 [ ] STREAM 1 /tmp/x (1)");
  EXPECT_EQ(maskTimer("unix 2 [ ] STREAM 1 "), "unix 2 [ ] STREAM 1 ");
}

TEST(NetstatText, DiffIgnoresRowOrderAndTimerValuesOnly) {
  const std::string a =
      "Active Internet connections (servers and established)\n"
      "Proto Recv-Q Send-Q Local Address Foreign Address State Timer\n"
      "tcp 0 0 x:1 y:2 ESTABLISHED keepalive (10.00/0/0)\n"
      "tcp 0 0 x:3 y:4 TIME_WAIT timewait (59.00/0/0)\n";
  const std::string reordered =
      "Active Internet connections (servers and established)\n"
      "Proto Recv-Q Send-Q Local Address Foreign Address State Timer\n"
      "tcp 0 0 x:3 y:4 TIME_WAIT timewait (58.12/0/0)\n"
      "tcp 0 0 x:1 y:2 ESTABLISHED keepalive (9.98/0/0)\n";
  EXPECT_EQ(diffListings(a, reordered), "");
  EXPECT_FALSE(sameRowOrder(a, reordered));
  const std::string other_state =
      "Active Internet connections (servers and established)\n"
      "Proto Recv-Q Send-Q Local Address Foreign Address State Timer\n"
      "tcp 0 0 x:1 y:2 ESTABLISHED keepalive (10.00/0/0)\n"
      "tcp 0 0 x:3 y:4 TIME_WAIT off (0.00/0/0)\n";
  EXPECT_NE(diffListings(a, other_state).find("timewait (*)"), std::string::npos);
  EXPECT_NE(diffListings(a, a + "tcp 0 0 x:1 y:2 ESTABLISHED keepalive (1.00/0/0)\n"), "")
      << "a duplicated row must count";
  EXPECT_NE(
      diffListings(a, "Active Internet connections (only servers)\n" + a.substr(a.find('\n') + 1)),
      "");
  const std::string trailing_blank = "Proto RefCnt\nunix  2      [ ]   STREAM  7   \n";
  EXPECT_NE(diffListings(trailing_blank, "Proto RefCnt\nunix  2      [ ]   STREAM  7\n"), "");
}

TEST(NetstatText, SplitsNetnsBlocks) {
  auto blocks = splitNetnsBlocks("Netns: host (1)\nProto x\nrow\n\nNetns: a (2)\nProto x\n");
  ASSERT_EQ(blocks.size(), 2U);
  EXPECT_EQ(blocks[0].title, "Netns: host (1)");
  EXPECT_EQ(blocks[0].text, "Proto x\nrow\n");
  EXPECT_EQ(blocks[1].text, "Proto x\n");
}

TEST_F(LiveNetstat, NetstatShowsEverySocketSockmakerReported) {
  CommandResult r = env().a.run({"netstat", "-tuwUxanpe"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> words;
  for (const auto& line : splitLines(r.out)) {
    std::size_t start = 0;
    while (start < line.size()) {
      std::size_t end = line.find(' ', start);
      end = end == std::string::npos ? line.size() : end;
      if (end > start) {
        words.insert(line.substr(start, end - start));
      }
      start = end + 1;
    }
  }
  for (const auto& s : env().maker_a->sockets()) {
    if (s.inode == 0) {
      continue;
    }
    const bool shown = words.count(std::to_string(s.inode)) > 0;
    EXPECT_EQ(shown, !isInvisibleSocket(s.label)) << s.label << " inode " << s.inode;
  }
  for (const auto& skipped : env().maker_a->skipped()) {
    std::printf("sockmaker skipped: %s\n", skipped.c_str());
  }
}

// ------------------------------------------------------------------ one namespace, many flags

struct FlagSet {
  std::string name;
  std::vector<std::string> flags;
  bool needs_udplite = false;
};

// gtest prints the parameter in test names (ctest shows them): the flags, not the bytes.
void PrintTo(const FlagSet& f, std::ostream* os) {
  *os << join(f.flags);
}

class LiveNetstatFlags : public LiveNetstat, public ::testing::WithParamInterface<FlagSet> {};

TEST_P(LiveNetstatFlags, NamespaceAMatchesNetstat) {
  if (GetParam().needs_udplite && !env().udplite) {
    GTEST_SKIP() << "no UDP-Lite in this kernel";
  }
  expectSameAsNetstat(withNetns(env().a, GetParam().flags), env().a, GetParam().flags);
}

TEST_P(LiveNetstatFlags, NamespaceBMatchesNetstat) {
  if (GetParam().needs_udplite && !env().udplite) {
    GTEST_SKIP() << "no UDP-Lite in this kernel";
  }
  expectSameAsNetstat(withNetns(env().b, GetParam().flags), env().b, GetParam().flags);
}

INSTANTIATE_TEST_SUITE_P(
    Flags,
    LiveNetstatFlags,
    ::testing::Values(FlagSet{"tuwxaneo", {"-tuwxaneo"}},
                      FlagSet{"tuwxapeon", {"-tuwxapeon"}},
                      FlagSet{"tuwxapeonW", {"-tuwxapeonW"}},
                      FlagSet{"tuwn", {"-tuwn"}},
                      FlagSet{"tuwlnp", {"-tuwlnp"}},
                      FlagSet{"xa", {"-xa"}},
                      FlagSet{"xap", {"-xap"}},
                      FlagSet{"xlp", {"-xlp"}},
                      FlagSet{"x", {"-x"}},
                      FlagSet{"A_inet6_an", {"-A", "inet6", "-an"}},
                      FlagSet{"A_inet_n", {"-A", "inet", "-n"}},
                      FlagSet{"tan", {"-tan"}},
                      FlagSet{"v4_tan", {"-4", "-tan"}},
                      FlagSet{"v6_uan", {"-6", "-uan"}},
                      FlagSet{"ulnp", {"-ulnp"}},
                      FlagSet{"wanp", {"-wanp"}},
                      FlagSet{"tanW", {"-tanW"}},
                      FlagSet{"tuwape_numeric_hosts", {"-tuwape", "--numeric-hosts"}},
                      FlagSet{"Uanpeo", {"-Uanpeo"}, true},
                      FlagSet{"tuwUxapeon", {"-tuwUxapeon"}, true},
                      FlagSet{"Ulnp", {"-Ulnp"}, true}),
    [](const ::testing::TestParamInfo<FlagSet>& param_info) { return param_info.param.name; });

// ------------------------------------------------------------------ several namespaces

TEST_F(LiveNetstat, NetnsPidSelectsThatProcessesNamespace) {
  const std::string pid = std::to_string(env().maker_b->pid());
  expectSameAsNetstat({"--netns-pid", pid, "-tuwxanp"}, env().b, {"-tuwxanp"});
}

std::optional<NetnsBlock> blockOf(const std::vector<NetnsBlock>& blocks, std::uint64_t inode) {
  const std::string tag = "(" + std::to_string(inode) + ")";
  for (const auto& b : blocks) {
    if (b.title.ends_with(tag)) {
      return b;
    }
  }
  return std::nullopt;
}

TEST_F(LiveNetstat, AllNetnsHasABlockPerNamespaceWithItsRows) {
  const std::vector<std::string> flags{"-tuwxanp"};
  std::string report;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    CommandResult all = podnetstatList({"--all-netns", "-tuwxanp"});
    ASSERT_EQ(all.exit_code, 0) << all.err;
    auto blocks = splitNetnsBlocks(all.out);
    report.clear();
    for (const NetNamespace* ns : {&env().a, &env().b}) {
      auto block = blockOf(blocks, ns->inode());
      if (!block) {
        report += "no block for " + ns->name() + " (" + std::to_string(ns->inode()) + ")\n";
        continue;
      }
      if (block->title != "Netns: " + ns->name() + " (" + std::to_string(ns->inode()) + ")") {
        report += "unexpected title: " + block->title + "\n";
      }
      CommandResult theirs = ns->run({"netstat", "-tuwxanp"});
      ASSERT_EQ(theirs.exit_code, 0);
      std::string diff = diffListings(theirs.out, block->text);
      if (!diff.empty()) {
        report += ns->name() + ":\n" + diff;
      }
    }
    const std::uint64_t host = hostNetnsInode();
    auto host_block = blockOf(blocks, host);
    if (!host_block || host_block->title != "Netns: host (" + std::to_string(host) + ")") {
      report += "no 'Netns: host (" + std::to_string(host) + ")' block\n";
    }
    if (report.empty()) {
      break;
    }
  }
  EXPECT_EQ(report, "");
}

TEST_F(LiveNetstat, NoHostLeavesTheHostNamespaceOut) {
  CommandResult all = podnetstatList({"--all-netns", "--no-host", "-tan"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  auto blocks = splitNetnsBlocks(all.out);
  EXPECT_FALSE(blockOf(blocks, hostNetnsInode()));
  EXPECT_TRUE(blockOf(blocks, env().a.inode()));
  EXPECT_TRUE(blockOf(blocks, env().b.inode()));
}

TEST_F(LiveNetstat, TwoSelectedNamespacesGiveTwoBlocks) {
  CommandResult r = podnetstatList({"--netns", env().a.name(), "--netns", env().b.name(), "-tan"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto blocks = splitNetnsBlocks(r.out);
  ASSERT_EQ(blocks.size(), 2U) << r.out;
  for (const NetNamespace* ns : {&env().a, &env().b}) {
    auto block = blockOf(blocks, ns->inode());
    ASSERT_TRUE(block) << ns->name() << "\n" << r.out;
    CommandResult theirs = ns->run({"netstat", "-tan"});
    EXPECT_EQ(diffListings(theirs.out, block->text), "") << ns->name();
  }
}

// A second name for A (a bind mount of its name): A is read once, and both names are listed.
TEST_F(LiveNetstat, NamespaceWithTwoNamesIsReadOnce) {
  const std::string alias = uniqueName("pnsalias");
  BindMount second_name(env().a.path(), netnsDir() / alias);
  std::vector<std::string> sorted_names{env().a.name(), alias};
  std::sort(sorted_names.begin(), sorted_names.end());

  nlohmann::json sockets = listJson({"--netns", env().a.name(), "--netns", alias, "-tuwxa"});
  ASSERT_TRUE(sockets.is_array());
  std::map<std::uint64_t, int> seen;
  for (const auto& s : sockets) {
    ASSERT_EQ(s["netns"]["inode"].get<std::uint64_t>(), env().a.inode()) << s.dump();
    EXPECT_EQ(s["netns"]["names"].get<std::vector<std::string>>(), sorted_names) << s.dump();
    EXPECT_EQ(s["netns"]["name"].get<std::string>(), sorted_names.front());
    if (s["inode"].get<std::uint64_t>() != 0) {
      ++seen[s["inode"].get<std::uint64_t>()];
    }
  }
  for (const auto& m : env().maker_a->sockets()) {
    if (m.inode == 0 || isInvisibleSocket(m.label) || m.label.starts_with("udplite")) {
      continue;
    }
    EXPECT_EQ(seen[m.inode], 1) << m.label << " inode " << m.inode;
  }

  // Table: one namespace selected twice is still one namespace: netstat's output, once.
  CommandResult table = podnetstatList({"--netns", env().a.name(), "--netns", alias, "-tan"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  CommandResult theirs = env().a.run({"netstat", "-tan"});
  EXPECT_EQ(diffListings(theirs.out, table.out), "");

  // --all-netns: one block for the namespace, titled with its first name.
  CommandResult all = podnetstatList({"--all-netns", "-tan"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  int blocks_for_a = 0;
  for (const auto& b : splitNetnsBlocks(all.out)) {
    if (b.title.ends_with("(" + std::to_string(env().a.inode()) + ")")) {
      ++blocks_for_a;
      EXPECT_EQ(b.title,
                "Netns: " + sorted_names.front() + " (" + std::to_string(env().a.inode()) + ")");
    }
  }
  EXPECT_EQ(blocks_for_a, 1);
}

// A private netns dir: A under another name, and an empty regular file that is no namespace.
TEST_F(LiveNetstat, StaleNetnsEntryIsReportedAndTheOthersStillWork) {
  ScratchDir dir("podnetstat-netnsdir-");
  BindMount alpha(env().a.path(), dir.path() / "alpha");
  { std::ofstream(dir.path() / "bogus"); }

  CommandResult all = podnetstatList({"--netns-dir", dir.path().string(), "--all-netns", "-tan"});
  EXPECT_EQ(all.exit_code, 0) << all.err;
  std::string titles;
  for (const auto& b : splitNetnsBlocks(all.out)) {
    titles += b.title + "\n";
  }
  EXPECT_NE((all.out + all.err).find("bogus"), std::string::npos)
      << "the stale entry is not reported\nNetns lines:\n"
      << titles << "stderr:\n"
      << all.err;
  auto block = blockOf(splitNetnsBlocks(all.out), env().a.inode());
  ASSERT_TRUE(block) << all.out;
  EXPECT_EQ(block->title, "Netns: alpha (" + std::to_string(env().a.inode()) + ")");
  CommandResult theirs = env().a.run({"netstat", "-tan"});
  EXPECT_EQ(diffListings(theirs.out, block->text), "");

  expectSameAsNetstat({"--netns-dir", dir.path().string(), "--netns", "alpha", "-tuwxanp"}, env().a,
                      {"-tuwxanp"});

  CommandResult bogus = podnetstatList({"--netns-dir", dir.path().string(), "--netns", "bogus"});
  EXPECT_NE(bogus.exit_code, 0) << bogus.out;
  EXPECT_NE(bogus.err.find("bogus"), std::string::npos) << bogus.err;
}

// ------------------------------------------------------------------ owners

TEST_F(LiveNetstat, SharedListenerListsEveryOwnerInJson) {
  const SockmakerSocket* shared = env().maker_a->find("tcp4-listen-shared");
  ASSERT_TRUE(shared);
  ASSERT_EQ(shared->pids.size(), 3U);
  nlohmann::json sockets = listJson({"--netns", env().a.name(), "-ta"});
  bool found = false;
  for (const auto& s : sockets) {
    if (s["inode"].get<std::uint64_t>() != shared->inode) {
      continue;
    }
    found = true;
    std::vector<pid_t> pids;
    for (const auto& p : s["processes"]) {
      pids.push_back(p["pid"].get<pid_t>());
    }
    EXPECT_EQ(pids, shared->pids);
    EXPECT_EQ(s["transport"], "tcp");
    EXPECT_EQ(s["state"], "LISTEN");
  }
  EXPECT_TRUE(found) << "inode " << shared->inode << " not in --json output";
}

TEST_F(LiveNetstat, SharedListenerShowsTheLowestPidCutTo19Characters) {
  const SockmakerSocket* shared = env().maker_a->find("tcp4-listen-shared");
  ASSERT_TRUE(shared);
  const std::string expected =
      (std::to_string(shared->pids.front()) + "/" + SocketZoo::kLongProgram).substr(0, 19);
  CommandResult r = podnetstatList({"--netns", env().a.name(), "-tlnpe"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  bool found = false;
  for (const auto& line : splitLines(r.out)) {
    if (line.find(" " + std::to_string(shared->inode) + " ") == std::string::npos) {
      continue;
    }
    found = true;
    EXPECT_NE(line.find(" " + expected + " "), std::string::npos) << line;
  }
  EXPECT_TRUE(found) << r.out;
}

TEST_F(LiveNetstat, JsonListsEverySockmakerSocketWithItsOwners) {
  std::vector<std::string> args{"--netns", env().a.name()};
  for (const auto& f : socketFlags()) {
    args.push_back(f);
  }
  nlohmann::json sockets = listJson(args);
  ASSERT_TRUE(sockets.is_array());
  std::map<std::uint64_t, const nlohmann::json*> by_inode;
  for (const auto& s : sockets) {
    by_inode[s["inode"].get<std::uint64_t>()] = &s;
  }
  for (const auto& m : env().maker_a->sockets()) {
    if (m.inode == 0) {
      continue;
    }
    auto it = by_inode.find(m.inode);
    if (isInvisibleSocket(m.label)) {
      EXPECT_EQ(it, by_inode.end()) << m.label;
      continue;
    }
    ASSERT_NE(it, by_inode.end()) << m.label << " inode " << m.inode;
    std::vector<pid_t> pids;
    for (const auto& p : (*it->second)["processes"]) {
      pids.push_back(p["pid"].get<pid_t>());
    }
    EXPECT_EQ(pids, m.pids) << m.label;
    EXPECT_EQ((*it->second)["netns"]["name"], env().a.name()) << m.label;
  }
}

// net-tools prints "(Not all processes could be identified...)" only when opendir() of some
// /proc/<pid>/fd failed with EACCES; as root that does not happen, so stderr stays empty.
TEST_F(LiveNetstat, DashPWritesToStderrOnlyWhatNetstatWrites) {
  CommandResult ours = podnetstatList({"--netns", env().a.name(), "-tanp"});
  CommandResult theirs = env().a.run({"netstat", "-tanp"});
  ASSERT_EQ(theirs.exit_code, 0);
  EXPECT_EQ(ours.exit_code, 0);
  EXPECT_EQ(ours.err, theirs.err);
}

// ------------------------------------------------------------------ races

// Processes that come and go while podnetstat reads /proc must not break a scan: a churner in
// a third namespace forks short-lived socket holders for 2 s while podnetstat runs in a loop.
TEST_F(LiveNetstat, ProcessesExitingDuringTheScanDoNotBreakIt) {
  NetNamespace churn_ns("pnsc");
  Subprocess churner({sockmakerBinary().string(), "--churn", "2", "--lifetime", "30"},
                     {.netns = churn_ns.name(), .inherit_stderr = true});
  const std::vector<std::vector<std::string>> runs_of{{"--all-netns", "-tuwxanp"},
                                                      {"--netns", churn_ns.name(), "-tuwxap"},
                                                      {"--all-netns", "--json"}};
  int runs = 0;
  std::optional<std::string> done;
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    for (const auto& args : runs_of) {
      CommandResult r = podnetstatList(args);
      EXPECT_EQ(r.exit_code, 0) << join(args) << ":\n" << r.err;
      ++runs;
    }
    done = churner.readLine(milliseconds(0));
  }
  if (!done) {
    done = churner.readLine(seconds(5));
  }
  ASSERT_TRUE(done) << "the churner did not finish";
  EXPECT_TRUE(done->starts_with("DONE ")) << *done;
  EXPECT_NE(*done, "DONE 0");
  EXPECT_GE(runs, 3);
  std::printf("%d podnetstat runs during the churn; churner: %s\n", runs, done->c_str());
}

}  // namespace
}  // namespace podnetstat::testing

namespace podnetstat::testing {
namespace {

// netstat's other modes through `list`: routes and multicast groups of a namespace equal what
// netstat prints inside it (the veth, its routes and the groups the zoo joined).
TEST_F(LiveNetstat, RoutesAndGroupsMatchNetstatInsideTheNamespace) {
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"-rn"}, {"-rn", "-A", "inet6"}, {"-gn"}}) {
    std::vector<std::string> ours{"--netns", env().a.name()};
    ours.insert(ours.end(), flags.begin(), flags.end());
    std::vector<std::string> theirs{"netstat"};
    theirs.insert(theirs.end(), flags.begin(), flags.end());
    // The IPv6 table's Ref and Use counters move with traffic (router and neighbour
    // solicitations): compare once two of our reads around netstat's agree.
    CommandResult mine;
    CommandResult netstat;
    for (int attempt = 0; attempt < 5; ++attempt) {
      mine = podnetstatList(ours);
      netstat = env().a.run(theirs);
      if (mine.out == netstat.out || mine.out == podnetstatList(ours).out) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(200));
    }
    ASSERT_EQ(mine.exit_code, 0) << mine.err;
    ASSERT_EQ(netstat.exit_code, 0) << netstat.err;
    EXPECT_EQ(mine.out, netstat.out) << join(flags);
    EXPECT_NE(mine.out.find(flags[0] == "-gn" ? "lo" : "Kernel"), std::string::npos);
  }
}

}  // namespace
}  // namespace podnetstat::testing
