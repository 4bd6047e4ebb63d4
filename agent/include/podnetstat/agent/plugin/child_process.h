#pragma once

// The kubectl plugin's child processes (kubectl, and whatever kubectl starts: exec credential
// plugins). Lifecycle of one child:
//   1. start(): fork, and in the child a process group of its own, SIGKILL when the plugin dies
//      (PR_SET_PDEATHSIG), default signal handling, stdin /dev/null, stdout and stderr into pipes,
//      no other descriptor of the plugin; exec. The parent records it in the registry while it
//      holds the registry's lock, so no signal can slip between the fork and the record.
//   2. readLine() / finish(): the child's output, each bounded by a deadline.
//   3. stop(): SIGTERM to the whole group, SIGKILL after a grace period; reaped, and only then
//      taken out of the registry (so a pid is never signalled after it could have been reused).
// installInterruptHandler(): SIGINT, SIGTERM and SIGHUP go to one thread that ends every child
// in the registry the same way and exits 128+signal. No kubectl outlives the plugin, and none is
// left a zombie.

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

/// How a child ended.
struct ChildExit {
  int code = -1;           // exit status, or -1 when killed by a signal
  int signal = 0;          // the signal that killed it, 0 when it exited
  bool timed_out = false;  // the deadline passed and the child was stopped
};

/// What a child printed and how it ended.
struct ChildOutput {
  ChildExit exit;
  std::string out;
  std::string err;
};

class ChildProcess {
 public:
  /// Starts `argv`. argv[0] is a path, or a name looked up in $PATH. An error when it cannot be
  /// found or started.
  static Result<std::unique_ptr<ChildProcess>> start(const std::vector<std::string>& argv);

  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  enum class LineStatus : std::uint8_t { Line, Eof, Timeout };

  /// The next line of stdout, without its newline; stderr is collected meanwhile (stderr()).
  LineStatus readLine(std::string& line, Deadline deadline);

  /// Reads stdout and stderr to their end and waits for the exit; at the deadline the child is
  /// stopped (exit.timed_out).
  ChildOutput finish(Deadline deadline);

  /// What stderr held so far (at most its last 64 KiB), after reading what is there now.
  const std::string& stderrText();

  /// Ends the child's process group (SIGTERM, SIGKILL after `grace`) and reaps the child. Does
  /// nothing once it is reaped.
  ChildExit stop(std::chrono::milliseconds grace = std::chrono::milliseconds(2000));

 private:
  ChildProcess(pid_t pid, int out_fd, int err_fd);

  /// Reads what the pipes hold, waiting at most until `deadline` for something to arrive.
  /// False when both pipes are at their end.
  bool pump(Deadline deadline);
  /// Waits for the exit until `deadline` (reaping it); false when it has not exited by then.
  bool reap(Deadline deadline);
  void closePipes();

  pid_t pid_;
  int out_fd_;
  int err_fd_;
  std::string out_;
  std::string err_;
  bool reaped_ = false;
  ChildExit exit_;
};

/// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (call it first in main(), before any
/// thread exists, so that every thread inherits the mask) and starts the thread that waits for
/// them: it stops every live child and exits with 128+signal. SIGPIPE is ignored (a closed
/// stdout is an error of the write, not the end of the plugin's children's cleanup).
void installInterruptHandler();

/// The pids of the children started and not yet reaped (for tests).
std::vector<pid_t> liveChildren();

}  // namespace podnetstat::agent::plugin
