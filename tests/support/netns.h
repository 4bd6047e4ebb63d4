#pragma once

// Live-test helpers: commands with a time limit, child processes, network namespaces, veth
// pairs, bind mounts and temporary directories. Every object removes what it created in its
// destructor, so nothing leaks when an assertion fails half way through a test. Creation
// failures throw std::runtime_error (gtest reports it as a failure of the test).

#include <netinet/in.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace podnetstat::testing {

/// What a finished command left behind.
struct CommandResult {
  /// Exit status; 128 + signal number when a signal ended it; -1 when it could not be started
  /// or ran past its time limit (it was killed then, see timed_out).
  int exit_code = -1;
  bool timed_out = false;
  std::string out;
  std::string err;

  bool ok() const { return exit_code == 0; }
};

/// Runs argv[0] (looked up in PATH) with stdin from /dev/null, collects stdout and stderr, and
/// kills its whole process group when it runs longer than `limit`.
CommandResult runCommand(const std::vector<std::string>& argv,
                         std::chrono::milliseconds limit = std::chrono::seconds(30));

/// runCommand() that throws std::runtime_error (with the command and its stderr) unless it
/// exits 0. For test setup steps.
std::string runOrThrow(const std::vector<std::string>& argv,
                       std::chrono::milliseconds limit = std::chrono::seconds(30));

/// Why the live tests cannot run here (not root, `ip` or `netstat` missing, cannot create a
/// network namespace); empty when they can.
std::string liveTestSkipReason();

/// Skips the current test (or, in SetUpTestSuite, the suite) unless liveTestSkipReason() is
/// empty. GTEST_SKIP returns from the calling function, hence a macro.
#define PODNETSTAT_SKIP_UNLESS_ROOT()                                                        \
  do {                                                                                       \
    const std::string podnetstat_skip_reason_ = ::podnetstat::testing::liveTestSkipReason(); \
    if (!podnetstat_skip_reason_.empty())                                                    \
      GTEST_SKIP() << podnetstat_skip_reason_;                                               \
  } while (false)

/// A name no other test process uses: `<prefix><pid>_<counter>`.
std::string uniqueName(std::string_view prefix);

/// The inode of a file (following symlinks), e.g. a netns bind mount or /proc/<pid>/ns/net.
std::uint64_t inodeOf(const std::filesystem::path& path);

/// The host's network namespace inode: PID 1's, or kthreadd's (PID 2) when PID 1's ns/net cannot
/// be read (even root may lack ptrace access to PID 1), or else our own.
std::uint64_t hostNetnsInode();

/// A directory under the system temp dir, removed recursively (after unmounting nothing: remove
/// bind mounts inside it first) by the destructor.
class ScratchDir {
 public:
  explicit ScratchDir(std::string_view prefix = "podnetstat-test-");
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// A bind mount of `source` on `target`. The target file is created when missing (and then
/// removed again). The destructor unmounts (lazily) and removes what it created.
class BindMount {
 public:
  BindMount(const std::filesystem::path& source, const std::filesystem::path& target);
  ~BindMount();
  BindMount(const BindMount&) = delete;
  BindMount& operator=(const BindMount&) = delete;

  const std::filesystem::path& target() const { return target_; }

 private:
  std::filesystem::path target_;
  bool created_target_ = false;
};

/// The directory `ip netns` keeps its names in.
std::filesystem::path netnsDir();

/// A named network namespace (`ip netns add`), with lo up; deleted by the destructor.
class NetNamespace {
 public:
  explicit NetNamespace(std::string_view prefix = "pns");
  ~NetNamespace();
  NetNamespace(const NetNamespace&) = delete;
  NetNamespace& operator=(const NetNamespace&) = delete;

  const std::string& name() const { return name_; }

  /// The bind mount that names it, under netnsDir().
  std::filesystem::path path() const { return netnsDir() / name_; }

  /// Its inode (what /proc/<pid>/ns/net of a process inside links to).
  std::uint64_t inode() const { return inode_; }

  /// `ip netns exec <name>` + argv.
  std::vector<std::string> wrap(const std::vector<std::string>& argv) const;

  /// Runs argv inside the namespace.
  CommandResult run(const std::vector<std::string>& argv,
                    std::chrono::milliseconds limit = std::chrono::seconds(30)) const;

  /// `ip -n <name>` + args; throws unless it succeeds.
  void ip(const std::vector<std::string>& args) const;

 private:
  std::string name_;
  std::uint64_t inode_ = 0;
  int crash_slot_ = -1;  // removed also when the test dies of a signal
};

/// Addresses of the two ends of a VethPair.
struct VethAddresses {
  std::string a_v4 = "10.77.0.1";
  std::string b_v4 = "10.77.0.2";
  int v4_prefix = 24;
  std::string a_v6 = "fd00:77::1";
  std::string b_v6 = "fd00:77::2";
  int v6_prefix = 64;
};

/// A veth pair between two of our namespaces (it never touches the host namespace: the
/// interfaces are created inside them), IPv4 and IPv6 (nodad) on both ends, links up.
class VethPair {
 public:
  enum class Side { A, B };

  VethPair(const NetNamespace& a, const NetNamespace& b, VethAddresses addresses = {});
  ~VethPair();
  VethPair(const VethPair&) = delete;
  VethPair& operator=(const VethPair&) = delete;

  const VethAddresses& addresses() const { return addresses_; }

  const std::string& interfaceA() const { return if_a_; }

  const std::string& interfaceB() const { return if_b_; }

  /// A permanent neighbour entry for `ip` (v4 or v6) on one side, with a MAC nobody owns:
  /// packets to it go nowhere, so SYN_SENT and SYN_RECV hold.
  void addBlackHole(Side side, const std::string& ip, const std::string& mac) const;

 private:
  const NetNamespace& a_;
  const NetNamespace& b_;
  VethAddresses addresses_;
  std::string if_a_;
  std::string if_b_;
};

/// Options of a Subprocess.
struct SubprocessOptions {
  /// Run inside this network namespace (`ip netns exec`, which execs: the child's PID is the
  /// command's PID).
  std::string netns;
  /// Keep the child's stderr as ours (useful in test logs); otherwise it goes to /dev/null.
  bool inherit_stderr = true;
};

/// A child process in its own process group, whose stdout we read line by line. The destructor
/// stops it (SIGTERM to the group, SIGKILL after a grace period) and reaps it, so neither the
/// child nor anything it forked outlives the object.
class Subprocess {
 public:
  explicit Subprocess(const std::vector<std::string>& argv, const SubprocessOptions& options = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }

  /// The next line of stdout (without '\n'); nullopt at EOF or after `timeout`.
  std::optional<std::string> readLine(std::chrono::milliseconds timeout);

  /// Reads lines until one equals `marker` and returns the lines before it; nullopt at EOF or
  /// when the whole read takes longer than `timeout` (the lines read so far are in `partial`).
  std::optional<std::vector<std::string>> readUntil(std::string_view marker,
                                                    std::chrono::milliseconds timeout,
                                                    std::vector<std::string>* partial = nullptr);

  /// Waits for the child to exit on its own; its exit code (128 + signal when killed), or
  /// nullopt after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  /// SIGTERM to the process group, SIGKILL after `grace`, reap. Returns the exit code (as
  /// wait()). Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

  bool running();

 private:
  pid_t pid_ = -1;
  int crash_slot_ = -1;  // killed also when the test dies of a signal
  int stdout_fd_ = -1;
  std::string buffer_;
  bool eof_ = false;
  std::optional<int> exit_code_;
};

/// A socket made inside `ns` (a socket stays in the namespace it was made in) by a thread that
/// enters it; -1 on failure.
int socketIn(const NetNamespace& ns, int family, int type);

class OwnedFd;

/// A UDP socket made inside `ns` that joined the IPv4 multicast `group` on the interface with
/// `interface_address`: a membership that /proc/net/igmp and `netstat -g` show while the socket
/// lives. Throws std::system_error when the kernel refuses.
std::unique_ptr<OwnedFd> joinGroupIn(const NetNamespace& ns,
                                     const std::string& group,
                                     const std::string& interface_address);

/// The same for an IPv6 `group`, joined on `interface` (as `ns` names it).
std::unique_ptr<OwnedFd> joinGroup6In(const NetNamespace& ns,
                                      const std::string& group,
                                      const std::string& interface);

/// Closes a file descriptor when it goes out of scope (-1: none).
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}

  ~OwnedFd();

  OwnedFd(OwnedFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

  OwnedFd& operator=(OwnedFd&& other) noexcept;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;

  int get() const { return fd_; }

  /// Closes it now.
  void reset();

  /// Hands the descriptor over to the caller, who closes it.
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

/// 127.0.0.1:`port`.
sockaddr_in loopbackV4(std::uint16_t port);

/// A TCP listener on 127.0.0.1:`port` made inside `ns` (SO_REUSEADDR, `backlog`). Throws
/// std::system_error when the kernel refuses.
OwnedFd listenIn(const NetNamespace& ns, std::uint16_t port, int backlog = 16);

}  // namespace podnetstat::testing
