// Live: the scanner on real namespaces full of sockets (the SocketZoo: sockmaker in two
// namespaces joined by a veth), with each backend. sockmaker reports the inode and owners of
// every socket it made; the scan must find each one once, in the right table, with exactly
// those owners, and the namespace bookkeeping (names, PIDs, aliases, stale entries, vanishing
// processes) must hold. Needs root; skipped otherwise.

#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/scanner/filter.h"
#include "podnetstat/scanner/scan.h"

#include "netns.h"
#include "socket_zoo.h"
#include "sockmaker.h"
#include "test_paths.h"

namespace podnetstat::scanner {
namespace {

using std::chrono::seconds;
using testing::BindMount;
using testing::NetNamespace;
using testing::ScratchDir;
using testing::SocketZoo;
using testing::SockmakerSocket;

// The table a sockmaker label belongs to ("tcp4-..." -> tcp); nullopt for ICMP ping sockets.
std::optional<Transport> transportOfLabel(const std::string& label) {
  static const std::vector<std::pair<std::string, Transport>> kPrefixes = {
      {"tcp4-", Transport::Tcp},         {"tcp6-", Transport::Tcp6},
      {"udplite4-", Transport::UdpLite}, {"udplite6-", Transport::UdpLite6},
      {"udp4-", Transport::Udp},         {"udp6-", Transport::Udp6},
      {"raw4-", Transport::Raw},         {"raw6-", Transport::Raw6},
      {"unix-", Transport::Unix},
  };
  for (const auto& [prefix, transport] : kPrefixes) {
    if (label.starts_with(prefix)) {
      return transport;
    }
  }
  return std::nullopt;
}

std::vector<pid_t> ownerPids(const ScanResult& r, const Socket& s) {
  std::vector<pid_t> pids;
  for (std::uint32_t index : r.owners(s)) {
    pids.push_back(r.processes[index].pid);
  }
  return pids;
}

class LiveScan : public ::testing::TestWithParam<Backend> {
 protected:
  static void SetUpTestSuite() {
    if (!testing::liveTestSkipReason().empty()) {
      return;
    }
    try {
      zoo_ = std::make_unique<SocketZoo>();
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }

  static void TearDownTestSuite() { zoo_.reset(); }

  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    ASSERT_TRUE(zoo_) << "live environment: " << setup_error_;
  }

  static SocketZoo& zoo() { return *zoo_; }

  ScanOptions options() const {
    ScanOptions o;
    o.backend = GetParam();
    return o;
  }

  static Result<ScanResult> scan(const ScanOptions& o, Roots roots = {}) {
    return Scanner(std::move(roots)).scan(o);
  }

  static std::multimap<std::uint64_t, const Socket*> byInode(const ScanResult& r) {
    std::multimap<std::uint64_t, const Socket*> out;
    for (const Socket& s : r.sockets) {
      out.emplace(s.inode, &s);
    }
    return out;
  }

  static inline std::unique_ptr<SocketZoo> zoo_;
  static inline std::string setup_error_;
};

TEST_P(LiveScan, FindsEverySocketOnceWithItsOwners) {
  ScanOptions o = options();
  o.netns_names = {zoo().a.name()};
  auto r = scan(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->namespaces.size(), 1U);
  const auto sockets = byInode(*r);
  for (const SockmakerSocket& m : zoo().maker_a->sockets()) {
    if (m.inode == 0) {
      continue;
    }
    const auto [begin, end] = sockets.equal_range(m.inode);
    const auto found = std::distance(begin, end);
    if (testing::isInvisibleSocket(m.label)) {
      EXPECT_EQ(found, 0) << m.label;
      continue;
    }
    ASSERT_EQ(found, 1) << m.label << " inode " << m.inode;
    const Socket& s = *begin->second;
    EXPECT_EQ(s.transport, transportOfLabel(m.label)) << m.label;
    EXPECT_EQ(ownerPids(*r, s), m.pids) << m.label;
    EXPECT_EQ(s.netns_index, 0U) << m.label;
  }
}

TEST_P(LiveScan, NamespaceKnowsItsNameAndProcesses) {
  ScanOptions o = options();
  o.netns_names = {zoo().a.name()};
  auto r = scan(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->namespaces.size(), 1U);
  const scanner::NetNamespace& ns = r->namespaces[0];
  EXPECT_EQ(ns.inode, zoo().a.inode());
  EXPECT_FALSE(ns.is_host);
  EXPECT_TRUE(ns.readable) << ns.error;
  EXPECT_EQ(ns.names, std::vector<std::string>{zoo().a.name()});
  const SockmakerSocket* shared = zoo().maker_a->find("tcp4-listen-shared");
  ASSERT_TRUE(shared);
  for (pid_t pid : shared->pids) {
    EXPECT_TRUE(std::binary_search(ns.pids.begin(), ns.pids.end(), pid)) << pid;
  }
  EXPECT_TRUE(std::is_sorted(ns.pids.begin(), ns.pids.end()));
}

TEST_P(LiveScan, ProgramIsArgv0BasenameAndCommIsTheKernelsName) {
  ScanOptions o = options();
  o.netns_names = {zoo().a.name()};
  auto r = scan(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto it = std::find_if(r->processes.begin(), r->processes.end(),
                         [&](const Process& p) { return p.pid == zoo().maker_a->pid(); });
  ASSERT_NE(it, r->processes.end());
  EXPECT_EQ(it->program, SocketZoo::kLongProgram);
  EXPECT_EQ(it->comm, std::string(SocketZoo::kLongProgram).substr(0, 15));
  EXPECT_EQ(it->uid, 0U);
}

TEST_P(LiveScan, StatesQueuesAndUidsAreTheKernels) {
  ScanOptions o = options();
  o.netns_names = {zoo().a.name()};
  auto r = scan(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  const auto sockets = byInode(*r);
  auto socketOf = [&](const char* label) -> const Socket* {
    const SockmakerSocket* m = zoo().maker_a->find(label);
    if (!m) {
      return nullptr;
    }
    auto it = sockets.find(m->inode);
    return it == sockets.end() ? nullptr : it->second;
  };

  struct Expect {
    const char* label;
    std::uint8_t state;
  };

  for (const Expect& e :
       {Expect{"tcp4-listen-backlog2", 10}, Expect{"tcp4-finwait2", 5}, Expect{"tcp4-closewait", 8},
        Expect{"tcp4-finwait1", 4}, Expect{"tcp4-lastack", 9}, Expect{"tcp4-synsent", 2},
        Expect{"tcp6-synsent", 2}, Expect{"udp4-connected", 1}, Expect{"udp4-bound-any", 7},
        Expect{"raw4-proto253-connected", 1}, Expect{"raw4-icmp", 7}}) {
    const Socket* s = socketOf(e.label);
    ASSERT_TRUE(s) << e.label;
    EXPECT_EQ(s->state, e.state) << e.label;
  }
  EXPECT_EQ(socketOf("tcp4-listen-backlog2")->rx_queue, 2U);
  EXPECT_EQ(socketOf("tcp4-est-keepalive-server")->rx_queue, 100U);
  EXPECT_EQ(socketOf("tcp4-closewait")->rx_queue, 1U);
  EXPECT_GT(socketOf("tcp4-est-sendq-client")->tx_queue, 0U);
  EXPECT_GT(socketOf("udp4-bound-lo-recvq")->rx_queue, 0U);
  EXPECT_EQ(socketOf("tcp4-est-keepalive-client")->timer.active, 2);
  EXPECT_EQ(socketOf("tcp4-listen-nobody")->uid, 65534U);
  EXPECT_EQ(socketOf("raw4-icmp")->local.port, 1);
  EXPECT_TRUE(socketOf("tcp6-est-v4mapped")->local.ip.isV4Mapped());
  EXPECT_EQ(socketOf("tcp6-listen-long")->local.ip.toString(), SocketZoo::kLongV6);

  const std::string dir = (zoo().dir.path() / "ua").string();
  EXPECT_EQ(socketOf("unix-stream-listen-path-with-space")->unix_path, dir + "/with space.sock");
  EXPECT_EQ(socketOf("unix-stream-listen-path")->unix_flags & kUnixFlagAcceptCon,
            kUnixFlagAcceptCon);
  EXPECT_TRUE(socketOf("unix-stream-listen-abstract")->unix_path.starts_with("@podnetstat-"));
  EXPECT_TRUE(socketOf("unix-dgram-abstract-nuls")->unix_path.starts_with("@pns@with@nuls"));
  EXPECT_FALSE(socketOf("unix-stream-unbound")->unix_has_path);
  EXPECT_EQ(socketOf("unix-seqpacket-listen-path")->unix_type, 5);

  // Sockets without an fd: TIME_WAIT, the accept queue, a SYN_RECV request sock.
  int time_wait = 0;
  int syn_recv = 0;
  int established_no_fd = 0;
  for (const Socket& s : r->sockets) {
    if (s.inode != 0 || s.transport != Transport::Tcp) {
      continue;
    }
    EXPECT_EQ(s.owners_count, 0U);
    time_wait += s.state == 6;
    syn_recv += s.state == 3;
    established_no_fd += s.state == 1;
  }
  EXPECT_GE(time_wait, 1);
  EXPECT_EQ(syn_recv, zoo().maker_a->find("tcp4-synrecv") ? 1 : 0);
  EXPECT_GE(established_no_fd, 2);
}

TEST_P(LiveScan, NetnsPidSelectsItsNamespace) {
  ScanOptions o = options();
  o.netns_pids = {zoo().maker_b->pid()};
  auto r = scan(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->namespaces.size(), 1U);
  EXPECT_EQ(r->namespaces[0].inode, zoo().b.inode());
  EXPECT_EQ(r->namespaces[0].names, std::vector<std::string>{zoo().b.name()});
  const SockmakerSocket* m = zoo().maker_b->find("tcp4-est-xns-client");
  ASSERT_TRUE(m);
  EXPECT_TRUE(std::any_of(r->sockets.begin(), r->sockets.end(),
                          [&](const Socket& s) { return s.inode == m->inode; }));
}

TEST_P(LiveScan, NamespaceWithTwoNamesIsReadOnce) {
  const std::string alias = testing::uniqueName("pnsalias");
  BindMount second(zoo().a.path(), testing::netnsDir() / alias);
  ScanOptions o = options();
  o.netns_names = {zoo().a.name(), alias};
  auto r = scan(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->namespaces.size(), 1U);
  std::vector<std::string> names{zoo().a.name(), alias};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(r->namespaces[0].names, names);
  std::map<std::uint64_t, int> count;
  for (const Socket& s : r->sockets) {
    if (s.inode != 0) {
      EXPECT_EQ(++count[s.inode], 1) << "inode " << s.inode << " twice";
    }
  }

  // --all-netns finds it once too, through both its names and its processes.
  ScanOptions all = options();
  all.all_netns = true;
  auto everything = scan(all);
  ASSERT_TRUE(everything.ok()) << everything.error().message;
  int seen = 0;
  for (const auto& ns : everything->namespaces) {
    if (ns.inode == zoo().a.inode()) {
      ++seen;
      EXPECT_EQ(ns.names, names);
    }
  }
  EXPECT_EQ(seen, 1);
}

TEST_P(LiveScan, StaleNetnsEntryIsCountedAndTheOthersStillWork) {
  ScratchDir dir("podnetstat-netnsdir-");
  BindMount alpha(zoo().a.path(), dir.path() / "alpha");
  { std::ofstream(dir.path() / "bogus"); }
  ScanOptions o = options();
  o.all_netns = true;
  auto r = scan(o, Roots{"/proc", dir.path()});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_GE(r->stats.stale_netns_entries, 1U);
  bool mentioned = false;
  for (const auto& e : r->stats.errors) {
    mentioned = mentioned || e.find("bogus") != std::string::npos;
  }
  EXPECT_TRUE(mentioned) << "no error names the stale entry";
  auto it = std::find_if(r->namespaces.begin(), r->namespaces.end(),
                         [&](const auto& ns) { return ns.inode == zoo().a.inode(); });
  ASSERT_NE(it, r->namespaces.end());
  EXPECT_EQ(it->names, std::vector<std::string>{"alpha"});
  EXPECT_TRUE(it->readable) << it->error;
  EXPECT_GT(it->socket_count, 0U);

  ScanOptions bogus = options();
  bogus.netns_names = {"bogus"};
  EXPECT_FALSE(scan(bogus, Roots{"/proc", dir.path()}).ok());
}

TEST_P(LiveScan, ListeningFilterKeepsOnlyListeners) {
  ScanOptions o = options();
  o.netns_names = {zoo().a.name()};
  o.filter = Filter::listening();
  auto r = scan(o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_FALSE(r->sockets.empty());
  for (const Socket& s : r->sockets) {
    EXPECT_TRUE(isListening(s)) << transportName(s.transport) << " inode " << s.inode;
  }
  const SockmakerSocket* shared = zoo().maker_a->find("tcp4-listen-shared");
  EXPECT_TRUE(std::any_of(r->sockets.begin(), r->sockets.end(),
                          [&](const Socket& s) { return s.inode == shared->inode; }));
}

// Processes that exit while the scan reads /proc are skipped, never fatal.
TEST_P(LiveScan, ProcessesExitingDuringTheScanAreSkipped) {
  NetNamespace churn_ns("pnsc");
  testing::Subprocess churner(
      {testing::sockmakerBinary().string(), "--churn", "2", "--lifetime", "30"},
      {.netns = churn_ns.name(), .inherit_stderr = true});
  int scans = 0;
  std::uint64_t vanished = 0;
  std::optional<std::string> done;
  const auto deadline = std::chrono::steady_clock::now() + seconds(20);
  while (!done && std::chrono::steady_clock::now() < deadline) {
    ScanOptions all = options();
    all.all_netns = true;
    auto r = scan(all);
    ASSERT_TRUE(r.ok()) << r.error().message;
    vanished += r->stats.vanished_processes;
    ScanOptions one = options();
    one.netns_names = {churn_ns.name()};
    auto c = scan(one);
    ASSERT_TRUE(c.ok()) << c.error().message;
    ASSERT_EQ(c->namespaces.size(), 1U);
    EXPECT_TRUE(c->namespaces[0].readable) << c->namespaces[0].error;
    scans += 2;
    done = churner.readLine(std::chrono::milliseconds(0));
  }
  ASSERT_TRUE(done || (done = churner.readLine(seconds(5))));
  EXPECT_TRUE(done->starts_with("DONE ")) << *done;
  std::printf("%d scans during the churn, %llu processes vanished mid-scan; churner: %s\n", scans,
              static_cast<unsigned long long>(vanished), done->c_str());
}

INSTANTIATE_TEST_SUITE_P(Backends,
                         LiveScan,
                         ::testing::Values(Backend::Procfs, Backend::Netlink),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return std::string(backendName(param_info.param));
                         });

}  // namespace
}  // namespace podnetstat::scanner
