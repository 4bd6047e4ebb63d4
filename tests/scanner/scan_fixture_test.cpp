// The whole scan on the frozen capture laid out as a proc root.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/scanner/scan.h"

#include "fixture_proc_root.h"

namespace podnetstat::scanner {
namespace {

using testing::kHelperPid;
using testing::kNsAInode;
using testing::kNsBInode;
using testing::kPeerPid;

class ScanFixture : public ::testing::Test {
 protected:
  void SetUp() override { testing::buildFixtureProcRoot(dir_.path()); }

  Scanner scanner() const { return Scanner(Roots{dir_.path(), dir_.path() / "no-netns-dir"}, 2); }

  static const Socket* byInode(const ScanResult& r, std::uint64_t inode) {
    auto it = std::find_if(r.sockets.begin(), r.sockets.end(),
                           [&](const Socket& s) { return s.inode == inode; });
    return it == r.sockets.end() ? nullptr : &*it;
  }

  testing::TempDir dir_;
};

TEST_F(ScanFixture, ReadsTheNamespaceOfAPid) {
  ScanOptions options;
  options.netns_pids = {kHelperPid};
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->namespaces.size(), 1U);
  const NetNamespace& ns = result->namespaces[0];
  EXPECT_EQ(ns.inode, kNsAInode);
  EXPECT_FALSE(ns.is_host);
  EXPECT_TRUE(ns.readable);
  EXPECT_EQ(ns.pids, (std::vector<std::int32_t>{24658, 24661, 24662}));
  // 25 tcp + 11 tcp6 + 5 udp + 3 udp6 + 2 udplite + 1 udplite6 + 3 raw + 2 raw6 + 13 unix rows.
  EXPECT_EQ(result->sockets.size(), 65U);
  EXPECT_EQ(ns.socket_count, 65U);
  EXPECT_EQ(result->stats.skipped_lines, 0U);
}

TEST_F(ScanFixture, ReadsEveryProcessCgroupWhenAsked) {
  std::ofstream(dir_.path() / std::to_string(kHelperPid) / "cgroup") << "0::/\n";
  ScanOptions options;
  options.netns_pids = {kHelperPid};
  const auto without = scanner().scan(options);
  ASSERT_TRUE(without) << without.error().message;
  EXPECT_TRUE(without->cgroups.empty());
  options.cgroups = true;
  const auto with = scanner().scan(options);
  ASSERT_TRUE(with) << with.error().message;
  // Only the helper has a cgroup file in the capture; the others have none to read.
  ASSERT_EQ(with->cgroups.size(), 1U);
  EXPECT_EQ(with->cgroups[0].pid, kHelperPid);
  EXPECT_EQ(with->cgroups[0].text, "0::/\n");
}

TEST_F(ScanFixture, SharedSocketHasEveryOwnerInPidOrder) {
  ScanOptions options;
  options.netns_pids = {kHelperPid};
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result);
  const Socket* shared = byInode(*result, 143708);  // 127.0.0.1:7777, parent + child
  ASSERT_NE(shared, nullptr);
  const auto owners = result->owners(*shared);
  ASSERT_EQ(owners.size(), 2U);
  EXPECT_EQ(result->processes[owners[0]].pid, 24658);
  EXPECT_EQ(result->processes[owners[1]].pid, 24661);
  EXPECT_EQ(result->processes[owners[0]].comm, "python3");
  EXPECT_EQ(result->processes[owners[0]].program, "netstat-sample-helper-long-name");
}

TEST_F(ScanFixture, SocketsWithoutFdHaveNoOwner) {
  ScanOptions options;
  options.netns_pids = {kHelperPid};
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result);
  const auto time_wait = std::find_if(result->sockets.begin(), result->sockets.end(),
                                      [](const Socket& s) { return s.state == 6; });
  ASSERT_NE(time_wait, result->sockets.end());
  EXPECT_EQ(time_wait->owners_count, 0U);
}

TEST_F(ScanFixture, NoAttributionWithoutPidOption) {
  ScanOptions options;
  options.netns_pids = {kHelperPid};
  options.pid = false;
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->processes.empty());
  EXPECT_TRUE(std::all_of(result->sockets.begin(), result->sockets.end(),
                          [](const Socket& s) { return s.owners_count == 0; }));
}

TEST_F(ScanFixture, EachNamespaceIsReadOnceWhateverPointsAtIt) {
  ScanOptions options;
  options.netns_pids = {kHelperPid, 24661, 24662, kPeerPid, kHelperPid};
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->namespaces.size(), 2U);
  EXPECT_EQ(result->namespaces[0].inode, kNsAInode);
  EXPECT_EQ(result->namespaces[1].inode, kNsBInode);
  const Socket* peer = byInode(*result, 143792);
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(peer->netns_index, 1U);
  EXPECT_EQ(std::count_if(result->sockets.begin(), result->sockets.end(),
                          [](const Socket& s) { return s.inode == 143708; }),
            1);
}

TEST_F(ScanFixture, AllNetnsWithoutHostCoversEveryPidNamespace) {
  ScanOptions options;
  options.all_netns = true;
  options.no_host_network = true;
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->namespaces.size(), 2U);
}

TEST_F(ScanFixture, HostIsPidOnesNamespace) {
  // The capture has no PID 1: asking for the host must fail clearly.
  const auto missing = scanner().scan(ScanOptions{});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("host network namespace"), std::string::npos);
  // Make PID 1 live in nsB: now the host is nsB, listed first.
  std::filesystem::create_directories(dir_.path() / "1" / "ns");
  std::filesystem::create_symlink("net:[" + std::to_string(kNsBInode) + "]",
                                  dir_.path() / "1" / "ns" / "net");
  ScanOptions options;
  options.all_netns = true;
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result) << result.error().message;
  ASSERT_EQ(result->namespaces.size(), 2U);
  EXPECT_TRUE(result->namespaces[0].is_host);
  EXPECT_EQ(result->namespaces[0].inode, kNsBInode);
}

TEST_F(ScanFixture, UnknownPidIsAnError) {
  ScanOptions options;
  options.netns_pids = {999999};
  const auto result = scanner().scan(options);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("999999"), std::string::npos);
}

TEST_F(ScanFixture, UnknownNetnsNameIsAnError) {
  ScanOptions options;
  options.netns_names = {"nope"};
  const auto result = scanner().scan(options);
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("nope"), std::string::npos);
}

TEST(Scan, MissingProcRootIsAnError) {
  Scanner s(Roots{"/nonexistent/proc", "/nonexistent/netns"}, 2);
  const auto result = s.scan(ScanOptions{});
  ASSERT_FALSE(result);
  EXPECT_NE(result.error().message.find("/nonexistent/proc"), std::string::npos);
}

TEST_F(ScanFixture, MissingTableIsNotAnError) {
  for (const int pid : {24658, 24661, 24662}) {
    std::filesystem::remove(dir_.path() / std::to_string(pid) / "net" / "udplite");
    std::filesystem::remove(dir_.path() / std::to_string(pid) / "net" / "udplite6");
  }
  ScanOptions options;
  options.netns_pids = {kHelperPid};
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->namespaces[0].readable);
  EXPECT_EQ(result->sockets.size(), 62U);
}

TEST_F(ScanFixture, VanishedReaderFallsBackToTheNextProcess) {
  // The first PID of the namespace lost its net dir (it exited after step 1): the tables are read
  // through the next process of the same namespace.
  ScanOptions options;
  options.netns_pids = {24661};
  std::filesystem::remove_all(dir_.path() / "24658" / "net");
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->sockets.size(), 65U);
}

TEST_F(ScanFixture, FilterKeepsOnlyMatchingSocketsWithTheirOwners) {
  ScanOptions options;
  options.netns_pids = {kHelperPid};
  options.filter = Filter::listening() && Filter::transports(TransportSet{}.add(Transport::Tcp));
  const auto result = scanner().scan(options);
  ASSERT_TRUE(result);
  EXPECT_EQ(result->sockets.size(), 10U);
  for (const Socket& s : result->sockets) {
    EXPECT_EQ(s.state, 10);
    EXPECT_EQ(s.transport, Transport::Tcp);
  }
  const Socket* shared = byInode(*result, 143708);
  ASSERT_NE(shared, nullptr);
  EXPECT_EQ(result->owners(*shared).size(), 2U);
}

// Work beside the scan (the agent's network counters) runs on the scanner's own pool: every
// index once, on no more threads than the pool has, never on new ones, never on the caller's.
TEST(Scan, ParallelForRunsEveryIndexOnceOnThePoolsThreads) {
  const Scanner scanner(Roots{"/proc", "/nonexistent"}, 3);
  std::mutex mutex;
  std::set<pid_t> threads;
  for (int round = 0; round < 20; ++round) {
    constexpr std::size_t kCount = 500;
    std::vector<std::atomic<int>> runs(kCount);
    scanner.parallelFor(kCount, [&](std::size_t i) {
      runs[i].fetch_add(1);
      const std::lock_guard lock(mutex);
      threads.insert(::gettid());
    });
    EXPECT_TRUE(std::all_of(runs.begin(), runs.end(), [](const auto& n) { return n == 1; }))
        << "round " << round;
  }
  scanner.parallelFor(0, [&](std::size_t) { ADD_FAILURE() << "ran for an empty range"; });
  // A thread per call would show 20 rounds' worth of new thread IDs.
  EXPECT_GE(threads.size(), 1U);
  EXPECT_LE(threads.size(), 3U);
  EXPECT_EQ(threads.count(::gettid()), 0U);
}

}  // namespace
}  // namespace podnetstat::scanner
