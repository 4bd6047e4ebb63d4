#include "netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace podnetstat::testing {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Programs are looked up in PATH and then in the usual sbin/bin directories: ctest may run us
// with a PATH that lacks /usr/sbin, where `ip` lives.
std::string findProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    return name;
  }
  std::string dirs;
  if (const char* path = std::getenv("PATH")) {
    dirs = path;
  }
  dirs += ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) {
      end = dirs.size();
    }
    std::string dir = dirs.substr(start, end - start);
    if (!dir.empty()) {
      std::string candidate = dir + "/" + name;
      if (access(candidate.c_str(), X_OK) == 0) {
        return candidate;
      }
    }
    start = end + 1;
  }
  return {};
}

std::string joinArgv(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) {
      out += ' ';
    }
    out += a;
  }
  return out;
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

// Everything the child needs, prepared before fork(): after fork() in a threaded process only
// async-signal-safe calls are allowed.
struct ExecPlan {
  std::string program;
  std::vector<std::string> args;
  std::vector<char*> argv;

  explicit ExecPlan(const std::vector<std::string>& command) : args(command) {
    if (args.empty()) {
      throw std::invalid_argument("empty command");
    }
    program = findProgram(args[0]);
    if (program.empty()) {
      throw std::runtime_error("program not found: " + args[0]);
    }
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
  }
};

// In the child: own process group, stdin from /dev/null, the given fds as stdout/stderr
// (-1: /dev/null), exec. Never returns.
[[noreturn]] void execChild(const ExecPlan& plan, int out_fd, int err_fd) {
  setpgid(0, 0);
  int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(null_fd, STDIN_FILENO);
  dup2(out_fd >= 0 ? out_fd : null_fd, STDOUT_FILENO);
  if (err_fd != STDERR_FILENO) {
    dup2(err_fd >= 0 ? err_fd : null_fd, STDERR_FILENO);
  }
  // Signals ignored or blocked by the test runner must not leak into the command.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  signal(SIGPIPE, SIG_DFL);
  execv(plan.program.c_str(), plan.argv.data());
  _exit(127);
}

void makePipe(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw std::system_error(errno, std::generic_category(), "pipe2");
  }
}

// True once `pid` has exited (it stays a zombie: its PID and process group stay reserved, so
// a later kill(-pid) cannot hit a stranger).
bool hasExited(pid_t pid) {
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return true;  // already reaped or not our child
  }
  return info.si_pid == pid;
}

// Stops a process group led by our child `pid`: SIGTERM, up to `grace` for the leader to exit,
// then SIGKILL to whatever is left of the group (before the leader is reaped), then reap.
int stopGroup(pid_t pid, milliseconds grace) {
  kill(-pid, SIGTERM);
  kill(pid, SIGTERM);
  auto deadline = Clock::now() + grace;
  while (!hasExited(pid) && Clock::now() < deadline) {
    usleep(5000);
  }
  kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return -1;
    }
  }
  return exitCodeOf(status);
}

// A test that dies of a signal (a sanitizer report aborts, a crash, ctest's SIGTERM) runs no
// destructor: its namespaces and child processes would outlive it. The live ones are listed
// here, in fixed slots a signal handler can read, and the handler of the fatal signals removes
// them before the signal goes on to the handler that was there before (the sanitizer's report).
class CrashCleanup {
 public:
  static CrashCleanup& get() {
    static CrashCleanup* instance = [] {
      auto* c = new CrashCleanup;  // never destroyed: the handler may run during exit
      c->install();
      return c;
    }();
    return *instance;
  }

  /// A slot that names `path` (a netns bind mount) until forgetPath(slot); -1 when all are taken.
  int rememberPath(const std::string& path) {
    if (path.size() >= sizeof(PathSlot::path)) {
      return -1;
    }
    for (std::size_t i = 0; i < paths_.size(); ++i) {
      int expected = kFree;
      if (paths_[i].state.compare_exchange_strong(expected, kWriting)) {
        std::memcpy(paths_[i].path, path.c_str(), path.size() + 1);
        paths_[i].state.store(kLive);
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  void forgetPath(int slot) {
    if (slot >= 0) {
      paths_[static_cast<std::size_t>(slot)].state.store(kFree);
    }
  }

  /// A slot that holds the process group `pgid` (a child we have not reaped) until forgetGroup.
  int rememberGroup(pid_t pgid) {
    for (std::size_t i = 0; i < groups_.size(); ++i) {
      pid_t expected = 0;
      if (groups_[i].compare_exchange_strong(expected, pgid)) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  void forgetGroup(int slot) {
    if (slot >= 0) {
      groups_[static_cast<std::size_t>(slot)].store(0);
    }
  }

 private:
  static constexpr int kFree = 0;
  static constexpr int kWriting = 1;
  static constexpr int kLive = 2;
  static constexpr std::array<int, 7> kSignals = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE,
                                                  SIGILL,  SIGTERM, SIGINT};

  struct PathSlot {
    std::atomic<int> state{kFree};
    char path[128] = {};
  };

  void install() {
    for (int sig : kSignals) {
      struct sigaction action {};

      action.sa_sigaction = &CrashCleanup::onSignal;
      action.sa_flags = SA_SIGINFO;
      sigemptyset(&action.sa_mask);
      sigaction(sig, &action, &previous_[static_cast<std::size_t>(sig)]);
    }
  }

  // Async-signal-safe only: kill, umount2, unlink, sigaction, raise.
  static void onSignal(int sig, siginfo_t* info, void* /*context*/) {
    CrashCleanup& self = *instance_for_handler;
    for (auto& group : self.groups_) {
      const pid_t pgid = group.exchange(0);
      if (pgid > 0) {
        kill(-pgid, SIGKILL);
      }
    }
    for (auto& slot : self.paths_) {
      int expected = kLive;
      if (slot.state.compare_exchange_strong(expected, kFree)) {
        umount2(slot.path, MNT_DETACH);
        unlink(slot.path);
      }
    }
    // On to the previous handler: a signal sent (abort, kill) is raised again and is delivered
    // when we return; a fault returns to the faulting instruction, which faults again.
    sigaction(sig, &self.previous_[static_cast<std::size_t>(sig)], nullptr);
    if (info == nullptr || info->si_code <= 0) {
      raise(sig);
    }
  }

  CrashCleanup() { instance_for_handler = this; }

  static inline CrashCleanup* instance_for_handler = nullptr;
  std::array<PathSlot, 256> paths_;
  std::array<std::atomic<pid_t>, 256> groups_{};
  std::array<struct sigaction, 65> previous_{};
};

}  // namespace

CommandResult runCommand(const std::vector<std::string>& argv, milliseconds limit) {
  ExecPlan plan(argv);
  int out[2];
  int err[2];
  makePipe(out);
  try {
    makePipe(err);
  } catch (...) {
    close(out[0]);
    close(out[1]);
    throw;
  }
  pid_t pid = fork();
  if (pid < 0) {
    int e = errno;
    for (int fd : {out[0], out[1], err[0], err[1]}) {
      close(fd);
    }
    throw std::system_error(e, std::generic_category(), "fork");
  }
  if (pid == 0) {
    execChild(plan, out[1], err[1]);
  }
  setpgid(pid, pid);  // also here, so that kill(-pid) works whoever runs first
  close(out[1]);
  close(err[1]);

  CommandResult result;
  std::array<pollfd, 2> fds{{{out[0], POLLIN, 0}, {err[0], POLLIN, 0}}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  const auto deadline = Clock::now() + limit;
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      result.timed_out = true;
      break;
    }
    int n = poll(fds.data(), fds.size(), static_cast<int>(left));
    if (n < 0 && errno != EINTR) {
      break;
    }
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& p : fds) {
    if (p.fd >= 0) {
      close(p.fd);
    }
  }
  if (result.timed_out) {
    stopGroup(pid, milliseconds(0));
    result.exit_code = -1;
    return result;
  }
  // Both pipes are closed; the leader may still be finishing.
  auto left = std::max<milliseconds>(
      milliseconds(100), std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
  auto wait_deadline = Clock::now() + left;
  while (!hasExited(pid) && Clock::now() < wait_deadline) {
    usleep(1000);
  }
  if (!hasExited(pid)) {
    result.timed_out = true;
    stopGroup(pid, milliseconds(0));
    return result;
  }
  result.exit_code = stopGroup(pid, milliseconds(0));
  return result;
}

std::string runOrThrow(const std::vector<std::string>& argv, milliseconds limit) {
  CommandResult r = runCommand(argv, limit);
  if (!r.ok()) {
    throw std::runtime_error("command failed (exit " + std::to_string(r.exit_code) +
                             (r.timed_out ? ", timed out" : "") + "): " + joinArgv(argv) + ": " +
                             r.err);
  }
  return r.out;
}

std::string liveTestSkipReason() {
  static const std::string reason = [] {
    if (geteuid() != 0) {
      return std::string("live tests need root (network namespaces, /proc/<pid>/fd of all)");
    }
    for (const char* tool : {"ip", "netstat"}) {
      if (findProgram(tool).empty()) {
        return std::string("live tests need `") + tool + "` (iproute2, net-tools)";
      }
    }
    if (access("/proc/self/ns/net", R_OK) != 0) {
      return std::string("no /proc/self/ns/net");
    }
    return std::string();
  }();
  return reason;
}

std::string uniqueName(std::string_view prefix) {
  static std::atomic<int> counter{0};
  return std::string(prefix) + std::to_string(getpid()) + "_" + std::to_string(counter++);
}

std::uint64_t inodeOf(const std::filesystem::path& path) {
  struct stat st {};

  if (stat(path.c_str(), &st) != 0) {
    throw std::system_error(errno, std::generic_category(), "stat " + path.string());
  }
  return st.st_ino;
}

std::uint64_t hostNetnsInode() {
  for (const char* path : {"/proc/1/ns/net", "/proc/2/ns/net", "/proc/self/ns/net"}) {
    struct stat st {};

    if (stat(path, &st) == 0) {
      return st.st_ino;
    }
  }
  throw std::runtime_error("cannot stat any ns/net");
}

// ------------------------------------------------------------------------------ ScratchDir

ScratchDir::ScratchDir(std::string_view prefix) {
  std::string templ = (std::filesystem::temp_directory_path() / (std::string(prefix) + "XXXXXX"));
  if (mkdtemp(templ.data()) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  }
  path_ = templ;
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

// ------------------------------------------------------------------------------ BindMount

BindMount::BindMount(const std::filesystem::path& source, const std::filesystem::path& target)
    : target_(target) {
  if (!std::filesystem::exists(target_)) {
    int fd = open(target_.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0444);
    if (fd < 0) {
      throw std::system_error(errno, std::generic_category(), "create " + target_.string());
    }
    close(fd);
    created_target_ = true;
  }
  if (mount(source.c_str(), target_.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    int e = errno;
    if (created_target_) {
      unlink(target_.c_str());
    }
    throw std::system_error(e, std::generic_category(),
                            "mount --bind " + source.string() + " " + target_.string());
  }
}

BindMount::~BindMount() {
  umount2(target_.c_str(), MNT_DETACH);
  if (created_target_) {
    unlink(target_.c_str());
  }
}

// ------------------------------------------------------------------------------ NetNamespace

std::filesystem::path netnsDir() {
  return "/var/run/netns";
}

NetNamespace::NetNamespace(std::string_view prefix) : name_(uniqueName(prefix)) {
  runOrThrow({"ip", "netns", "add", name_});
  crash_slot_ = CrashCleanup::get().rememberPath(path().string());
  try {
    ip({"link", "set", "lo", "up"});
    inode_ = inodeOf(path());
  } catch (...) {
    runCommand({"ip", "netns", "del", name_});
    CrashCleanup::get().forgetPath(crash_slot_);
    throw;
  }
}

NetNamespace::~NetNamespace() {
  try {
    runCommand({"ip", "netns", "del", name_});
  } catch (...) {  // a destructor must not throw
  }
  CrashCleanup::get().forgetPath(crash_slot_);
}

std::vector<std::string> NetNamespace::wrap(const std::vector<std::string>& argv) const {
  std::vector<std::string> out{"ip", "netns", "exec", name_};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

CommandResult NetNamespace::run(const std::vector<std::string>& argv, milliseconds limit) const {
  return runCommand(wrap(argv), limit);
}

void NetNamespace::ip(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{"ip", "-n", name_};
  argv.insert(argv.end(), args.begin(), args.end());
  runOrThrow(argv);
}

// ------------------------------------------------------------------------------ VethPair

VethPair::VethPair(const NetNamespace& a, const NetNamespace& b, VethAddresses addresses)
    : a_(a), b_(b), addresses_(std::move(addresses)) {
  // The names only need to be unique inside our namespaces; the counter keeps several pairs
  // between the same two apart. Interface names are limited to 15 characters.
  static std::atomic<int> counter{0};
  const std::string n = std::to_string(counter++);
  if_a_ = "pv" + n + "a";
  if_b_ = "pv" + n + "b";
  a_.ip({"link", "add", if_a_, "type", "veth", "peer", "name", if_b_, "netns", b_.name()});
  try {
    a_.ip({"addr", "add", addresses_.a_v4 + "/" + std::to_string(addresses_.v4_prefix), "dev",
           if_a_});
    a_.ip({"addr", "add", addresses_.a_v6 + "/" + std::to_string(addresses_.v6_prefix), "dev",
           if_a_, "nodad"});
    b_.ip({"addr", "add", addresses_.b_v4 + "/" + std::to_string(addresses_.v4_prefix), "dev",
           if_b_});
    b_.ip({"addr", "add", addresses_.b_v6 + "/" + std::to_string(addresses_.v6_prefix), "dev",
           if_b_, "nodad"});
    a_.ip({"link", "set", if_a_, "up"});
    b_.ip({"link", "set", if_b_, "up"});
  } catch (...) {
    runCommand({"ip", "-n", a_.name(), "link", "del", if_a_});
    throw;
  }
}

VethPair::~VethPair() {
  // Deleting one end deletes both; when the namespace is gone already, so is the pair.
  try {
    runCommand({"ip", "-n", a_.name(), "link", "del", if_a_});
  } catch (...) {  // a destructor must not throw
  }
}

void VethPair::addBlackHole(Side side, const std::string& ip, const std::string& mac) const {
  const NetNamespace& ns = side == Side::A ? a_ : b_;
  const std::string& dev = side == Side::A ? if_a_ : if_b_;
  ns.ip({"neigh", "add", ip, "lladdr", mac, "dev", dev, "nud", "permanent"});
}

// ------------------------------------------------------------------------------ Subprocess

Subprocess::Subprocess(const std::vector<std::string>& argv, const SubprocessOptions& options) {
  std::vector<std::string> command = argv;
  if (!options.netns.empty()) {
    command.insert(command.begin(), {"ip", "netns", "exec", options.netns});
  }
  ExecPlan plan(command);
  int out[2];
  makePipe(out);
  pid_ = fork();
  if (pid_ < 0) {
    int e = errno;
    close(out[0]);
    close(out[1]);
    throw std::system_error(e, std::generic_category(), "fork");
  }
  if (pid_ == 0) {
    execChild(plan, out[1], options.inherit_stderr ? STDERR_FILENO : -1);
  }
  setpgid(pid_, pid_);
  crash_slot_ = CrashCleanup::get().rememberGroup(pid_);
  close(out[1]);
  stdout_fd_ = out[0];
}

Subprocess::~Subprocess() {
  stop();
  if (stdout_fd_ >= 0) {
    close(stdout_fd_);
  }
}

std::optional<std::string> Subprocess::readLine(milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    std::size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (eof_ || stdout_fd_ < 0) {
      return std::nullopt;
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
    pollfd p{stdout_fd_, POLLIN, 0};
    int n = poll(&p, 1, static_cast<int>(std::max<long long>(left, 0)));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return std::nullopt;
    }
    char buf[4096];
    ssize_t got = read(stdout_fd_, buf, sizeof buf);
    if (got > 0) {
      buffer_.append(buf, static_cast<std::size_t>(got));
    } else if (got == 0 || errno != EINTR) {
      eof_ = true;
    }
  }
}

std::optional<std::vector<std::string>> Subprocess::readUntil(std::string_view marker,
                                                              milliseconds timeout,
                                                              std::vector<std::string>* partial) {
  const auto deadline = Clock::now() + timeout;
  std::vector<std::string> lines;
  for (;;) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    std::optional<std::string> line = readLine(std::max(left, milliseconds(0)));
    if (!line) {
      if (partial) {
        *partial = std::move(lines);
      }
      return std::nullopt;
    }
    if (*line == marker) {
      return lines;
    }
    lines.push_back(std::move(*line));
  }
}

bool Subprocess::running() {
  if (exit_code_ || pid_ <= 0) {
    return false;
  }
  return !hasExited(pid_);
}

std::optional<int> Subprocess::wait(milliseconds timeout) {
  if (exit_code_) {
    return exit_code_;
  }
  const auto deadline = Clock::now() + timeout;
  while (!hasExited(pid_)) {
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    usleep(2000);
  }
  // Reap through stopGroup: it also kills whatever the child left behind in its group.
  CrashCleanup::get().forgetGroup(crash_slot_);
  exit_code_ = stopGroup(pid_, milliseconds(0));
  return exit_code_;
}

int Subprocess::stop(milliseconds grace) {
  if (!exit_code_ && pid_ > 0) {
    CrashCleanup::get().forgetGroup(crash_slot_);
    exit_code_ = stopGroup(pid_, grace);
  }
  return exit_code_.value_or(-1);
}

// ------------------------------------------------------------------------------ sockets

int socketIn(const NetNamespace& ns, int family, int type) {
  int fd = -1;
  std::thread t([&] {
    const int nsfd = ::open(ns.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (nsfd >= 0 && ::setns(nsfd, CLONE_NEWNET) == 0) {
      fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    }
    if (nsfd >= 0) {
      ::close(nsfd);
    }
  });
  t.join();
  return fd;
}

std::unique_ptr<OwnedFd> joinGroupIn(const NetNamespace& ns,
                                     const std::string& group,
                                     const std::string& interface_address) {
  auto fd = std::make_unique<OwnedFd>(socketIn(ns, AF_INET, SOCK_DGRAM));
  ip_mreq request{};
  if (fd->get() < 0 || ::inet_pton(AF_INET, group.c_str(), &request.imr_multiaddr) != 1 ||
      ::inet_pton(AF_INET, interface_address.c_str(), &request.imr_interface) != 1 ||
      ::setsockopt(fd->get(), IPPROTO_IP, IP_ADD_MEMBERSHIP, &request, sizeof request) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "join " + group + " on " + interface_address + " in " + ns.name());
  }
  return fd;
}

std::unique_ptr<OwnedFd> joinGroup6In(const NetNamespace& ns,
                                      const std::string& group,
                                      const std::string& interface) {
  auto fd = std::make_unique<OwnedFd>(socketIn(ns, AF_INET6, SOCK_DGRAM));
  // The interface's index as the namespace numbers it.
  const CommandResult index = ns.run({"cat", "/sys/class/net/" + interface + "/ifindex"});
  ipv6_mreq request{};
  request.ipv6mr_interface = static_cast<unsigned>(std::strtoul(index.out.c_str(), nullptr, 10));
  if (fd->get() < 0 || !index.ok() || request.ipv6mr_interface == 0 ||
      ::inet_pton(AF_INET6, group.c_str(), &request.ipv6mr_multiaddr) != 1 ||
      ::setsockopt(fd->get(), IPPROTO_IPV6, IPV6_JOIN_GROUP, &request, sizeof request) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "join " + group + " on " + interface + " in " + ns.name());
  }
  return fd;
}

OwnedFd::~OwnedFd() {
  reset();
}

OwnedFd& OwnedFd::operator=(OwnedFd&& other) noexcept {
  if (this != &other) {
    reset();
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

void OwnedFd::reset() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = -1;
}

sockaddr_in loopbackV4(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

OwnedFd listenIn(const NetNamespace& ns, std::uint16_t port, int backlog) {
  OwnedFd fd(socketIn(ns, AF_INET, SOCK_STREAM));
  const int one = 1;
  const sockaddr_in a = loopbackV4(port);
  if (fd.get() < 0 || ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
      ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd.get(), backlog) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "listen on 127.0.0.1:" + std::to_string(port) + " in " + ns.name());
  }
  return fd;
}

}  // namespace podnetstat::testing
