// Live: a process holding thousands of sockets (its fd walk is split over several tasks) gets
// every one of them attributed, exactly once.

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/scanner/scan.h"

namespace podnetstat::scanner {
namespace {

class ManyFds : public ::testing::Test {
 protected:
  void SetUp() override {
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    saved_ = limit;
    if (limit.rlim_max < 4000) {
      GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low: " << limit.rlim_max;
    }
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }

  void TearDown() override {
    for (const int fd : fds_) {
      ::close(fd);
    }
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }

  std::vector<int> fds_;
  rlimit saved_{};
};

TEST_F(ManyFds, EverySocketOfABigProcessIsAttributedOnce) {
  std::set<std::uint64_t> inodes;
  for (int i = 0; i < 1600; ++i) {  // 3,200 socket fds: more than three fd-walk tasks
    int pair[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
    for (const int fd : pair) {
      fds_.push_back(fd);

      struct stat st {};

      ASSERT_EQ(::fstat(fd, &st), 0);
      inodes.insert(st.st_ino);
    }
  }
  ScanOptions options;
  options.netns_pids = {static_cast<std::int32_t>(::getpid())};
  options.transports = TransportSet{}.add(Transport::Unix);
  Scanner scanner(Roots{}, 2);
  const auto result = scanner.scan(options);
  ASSERT_TRUE(result) << result.error().message;
  std::set<std::uint64_t> attributed;
  for (const Socket& s : result->sockets) {
    if (inodes.count(s.inode) == 0) {
      continue;
    }
    const auto owners = result->owners(s);
    ASSERT_EQ(owners.size(), 1U) << s.inode;
    EXPECT_EQ(result->processes[owners[0]].pid, ::getpid());
    EXPECT_TRUE(attributed.insert(s.inode).second) << "listed twice: " << s.inode;
  }
  EXPECT_EQ(attributed, inodes);
}

}  // namespace
}  // namespace podnetstat::scanner
