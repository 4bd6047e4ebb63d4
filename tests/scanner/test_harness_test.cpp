// The test harness's own promise: what a test makes (a network namespace, a child process) is
// removed at its end also when the test dies of a signal, such as a sanitizer report's abort.

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "netns.h"

namespace podnetstat::testing {
namespace {

using std::chrono::milliseconds;

// Gone or dead (a zombie waiting for whoever inherited it to reap it).
bool processGone(pid_t pid, std::chrono::seconds within) {
  const auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline) {
    if (kill(pid, 0) != 0 && errno == ESRCH) {
      return true;
    }
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string pid_field;
    std::string comm;
    std::string state;
    if (stat >> pid_field >> comm >> state && state == "Z") {
      return true;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  return false;
}

TEST(TestHarness, ANamespaceAndAChildOfATestThatAbortsAreRemoved) {
  PODNETSTAT_SKIP_UNLESS_ROOT();
  int report[2];
  ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
  const pid_t test = fork();
  ASSERT_GE(test, 0);
  if (test == 0) {
    // The "test": makes a namespace and a child, says which, and aborts (no core file).
    close(report[0]);
    const rlimit no_core{0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    NetNamespace ns("pnsc");
    Subprocess sleeper({"sleep", "60"});
    const std::string line = ns.path().string() + " " + std::to_string(sleeper.pid()) + "\n";
    if (write(report[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      _exit(3);
    }
    std::abort();
  }
  close(report[1]);
  std::string said;
  char buf[256];
  for (ssize_t n; (n = read(report[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      break;
    }
    said.append(buf, static_cast<std::size_t>(n));
  }
  close(report[0]);
  int status = 0;
  ASSERT_EQ(waitpid(test, &status, 0), test);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) << "status " << status;

  std::istringstream fields(said);
  std::string path;
  pid_t sleeper = 0;
  ASSERT_TRUE(fields >> path >> sleeper) << "the aborted test said: " << said;
  const bool namespace_gone = !std::filesystem::exists(path);
  const bool sleeper_gone = processGone(sleeper, std::chrono::seconds(5));
  if (!namespace_gone) {
    runCommand({"ip", "netns", "del", std::filesystem::path(path).filename().string()});
  }
  if (!sleeper_gone) {
    kill(sleeper, SIGKILL);
  }
  EXPECT_TRUE(namespace_gone) << path << " outlived the aborted test";
  EXPECT_TRUE(sleeper_gone) << "its child " << sleeper << " outlived the aborted test";
}

}  // namespace
}  // namespace podnetstat::testing
