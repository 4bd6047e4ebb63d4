#include "podnetstat/agent/plugin/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <thread>

extern char** environ;

namespace podnetstat::agent::plugin {
namespace {

constexpr std::size_t kMaxStderrBytes = 64 * 1024;
constexpr std::chrono::milliseconds kReapPoll{10};

/// Every child started and not yet reaped. The lock is held across fork() and record, and across
/// reap and erase; the interrupt thread takes it for good.
struct Registry {
  std::mutex mu;
  std::set<pid_t> live;
};

Registry& registry() {
  static Registry r;
  return r;
}

/// `name` as execve() needs it: itself when it holds a '/', else the first executable of that
/// name in $PATH.
Result<std::string> resolveExecutable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (access(name.c_str(), X_OK) != 0) {
      return Error{name + ": " + std::strerror(errno)};
    }
    return name;
  }
  const char* path = std::getenv("PATH");
  std::string_view dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = dirs.find(':');
    std::string dir(dirs.substr(0, colon));
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    if (colon == std::string_view::npos) {
      return Error{name + " not found in $PATH"};
    }
    dirs.remove_prefix(colon + 1);
  }
}

ChildExit exitOf(int status) {
  ChildExit e;
  if (WIFEXITED(status)) {
    e.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    e.signal = WTERMSIG(status);
  }
  return e;
}

/// In the child, between fork() and exec: async-signal-safe calls only.
[[noreturn]] void execChild(
    const char* path, char* const* argv, pid_t parent, int in_fd, int out_fd, int err_fd) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) {
    _exit(127);  // the plugin died before PR_SET_PDEATHSIG took effect
  }

  struct sigaction dfl {};

  dfl.sa_handler = SIG_DFL;
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP}) {
    sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) {
    _exit(127);
  }
  close_range(3, ~0U, 0);
  execve(path, argv, environ);
  static constexpr char kMessage[] = "kubectl-podnetstat: exec failed\n";
  (void)!write(2, kMessage, sizeof kMessage - 1);
  _exit(127);
}

void stopAllAndExit(int signo) {
  Registry& r = registry();
  r.mu.lock();  // never released: no child starts or is forgotten from here on
  for (pid_t pid : r.live) {
    kill(-pid, SIGTERM);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  std::set<pid_t> left = r.live;
  while (!left.empty() && Clock::now() < deadline) {
    for (auto it = left.begin(); it != left.end();) {
      const pid_t got = waitpid(*it, nullptr, WNOHANG);
      it = (got == *it || (got < 0 && errno == ECHILD)) ? left.erase(it) : std::next(it);
    }
    std::this_thread::sleep_for(kReapPoll);
  }
  for (pid_t pid : left) {
    kill(-pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::_Exit(128 + signo);
}

}  // namespace

Result<std::unique_ptr<ChildProcess>> ChildProcess::start(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    return Error{"no program to run"};
  }
  auto path = resolveExecutable(argv[0]);
  if (!path) {
    return path.error();
  }
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) {
    cargv.push_back(const_cast<char*>(a.c_str()));
  }
  cargv.push_back(nullptr);

  int out_pipe[2];
  int err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return Error{std::string("pipe: ") + std::strerror(errno)};
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return Error{std::string("pipe: ") + std::strerror(e)};
  }
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const auto closeAll = [&] {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], null_fd}) {
      if (fd >= 0) {
        close(fd);
      }
    }
  };
  if (null_fd < 0) {
    const int e = errno;
    closeAll();
    return Error{std::string("/dev/null: ") + std::strerror(e)};
  }

  const pid_t parent = getpid();
  pid_t pid = -1;
  int fork_errno = 0;
  {
    const std::lock_guard lock(registry().mu);
    pid = fork();
    if (pid == 0) {
      execChild(path->c_str(), cargv.data(), parent, null_fd, out_pipe[1], err_pipe[1]);
    }
    if (pid > 0) {
      // Also here: the child may not have run yet when the plugin signals its group.
      setpgid(pid, pid);
      registry().live.insert(pid);
    } else {
      fork_errno = errno;
    }
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(null_fd);
  if (pid < 0) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return Error{std::string("fork: ") + std::strerror(fork_errno)};
  }
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, out_pipe[0], err_pipe[0]));
}

ChildProcess::ChildProcess(pid_t pid, int out_fd, int err_fd)
    : pid_(pid), out_fd_(out_fd), err_fd_(err_fd) {}

ChildProcess::~ChildProcess() {
  stop();
  closePipes();
}

void ChildProcess::closePipes() {
  for (int* fd : {&out_fd_, &err_fd_}) {
    if (*fd >= 0) {
      close(*fd);
      *fd = -1;
    }
  }
}

bool ChildProcess::pump(Deadline deadline) {
  pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
  if (out_fd_ < 0 && err_fd_ < 0) {
    return false;
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  const int timeout = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60000));
  if (poll(fds, 2, timeout) <= 0) {
    return true;
  }
  char buf[16384];
  std::string* sinks[2] = {&out_, &err_};
  int* owners[2] = {&out_fd_, &err_fd_};
  for (int i = 0; i < 2; ++i) {
    if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
      continue;
    }
    const ssize_t n = read(fds[i].fd, buf, sizeof buf);
    if (n > 0) {
      sinks[i]->append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
      close(*owners[i]);
      *owners[i] = -1;
    }
  }
  if (err_.size() > kMaxStderrBytes) {
    err_.erase(0, err_.size() - kMaxStderrBytes);
  }
  return out_fd_ >= 0 || err_fd_ >= 0;
}

ChildProcess::LineStatus ChildProcess::readLine(std::string& line, Deadline deadline) {
  while (true) {
    const auto newline = out_.find('\n');
    if (newline != std::string::npos) {
      line = out_.substr(0, newline);
      out_.erase(0, newline + 1);
      return LineStatus::Line;
    }
    if (out_fd_ < 0) {
      return LineStatus::Eof;
    }
    if (Clock::now() >= deadline) {
      return LineStatus::Timeout;
    }
    pump(deadline);
  }
}

const std::string& ChildProcess::stderrText() {
  while (err_fd_ >= 0) {
    const std::size_t before = err_.size() + out_.size();
    pump(Clock::now());
    if (err_.size() + out_.size() == before) {
      break;
    }
  }
  return err_;
}

ChildOutput ChildProcess::finish(Deadline deadline) {
  while (Clock::now() < deadline && pump(deadline)) {
  }
  ChildOutput result;
  if (!reap(deadline)) {
    stop();
    exit_.timed_out = true;
  }
  stderrText();
  result.exit = exit_;
  result.out = std::move(out_);
  result.err = err_;
  out_.clear();
  return result;
}

bool ChildProcess::reap(Deadline deadline) {
  while (!reaped_) {
    {
      const std::lock_guard lock(registry().mu);
      int status = 0;
      const pid_t got = waitpid(pid_, &status, WNOHANG);
      if (got == pid_ || (got < 0 && errno == ECHILD)) {
        reaped_ = true;
        exit_ = got == pid_ ? exitOf(status) : ChildExit{};
        kill(-pid_, SIGKILL);  // anything it started and left behind in its group
        registry().live.erase(pid_);
        break;
      }
    }
    if (Clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(kReapPoll);
  }
  return true;
}

ChildExit ChildProcess::stop(std::chrono::milliseconds grace) {
  if (reaped_) {
    return exit_;
  }
  {
    const std::lock_guard lock(registry().mu);
    kill(-pid_, SIGTERM);
  }
  if (!reap(Clock::now() + grace)) {
    {
      const std::lock_guard lock(registry().mu);
      kill(-pid_, SIGKILL);
    }
    reap(Clock::now() + std::chrono::seconds(10));
  }
  return exit_;
}

void installInterruptHandler() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    sigaddset(&set, sig);
  }
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  std::thread([set] {
    int signo = 0;
    while (sigwait(&set, &signo) != 0) {
    }
    stopAllAndExit(signo);
  }).detach();
}

std::vector<pid_t> liveChildren() {
  const std::lock_guard lock(registry().mu);
  return {registry().live.begin(), registry().live.end()};
}

}  // namespace podnetstat::agent::plugin
