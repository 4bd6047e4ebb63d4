#pragma once

// What a scan reads per process (scan.cpp says when): step 1, each PID's network namespace and
// uid (and, when asked, the text of its cgroup file), read in parallel on the worker pool; and
// the owner half of step 3, each PID's fds (readlink fd/* -> socket:[inode]), and the names of
// the processes that turned out to hold a socket. Vanished PIDs are counted, never errors.

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "podnetstat/scanner/result.h"

#include "sys/worker_pool.h"

namespace podnetstat::scanner {

/// One PID as step 1 read it.
struct PidInfo {
  std::int32_t pid = 0;
  std::uint64_t netns = 0;  // 0: unknown
  std::uint32_t uid = 0;
  std::string comm;     // filled for socket holders only (readProcessNames)
  std::string program;  // likewise
  std::string cgroup;   // the text of <proc>/<pid>/cgroup, when asked for and readable
  bool has_cgroup = false;
};

/// What step 1 found, ascending PID.
struct ProcessList {
  std::vector<PidInfo> pids;
  std::uint64_t vanished = 0;    // exited meanwhile (ENOENT, ESRCH), or zombies
  std::uint64_t unreadable = 0;  // not ours to read (EACCES)
};

/// A socket inode and a process holding it.
struct OwnerPair {
  std::uint64_t inode;
  std::int32_t pid;
};

/// The PIDs under the proc root (`proc_fd`), ascending; an error naming `proc` when it cannot be
/// listed.
Result<std::vector<std::int32_t>> listPids(int proc_fd, const std::filesystem::path& proc);

/// Step 1: the namespace and uid of every PID (and its cgroup text when `cgroups`), in slices
/// on `pool`. Returns when all are read.
ProcessList readProcesses(int proc_fd,
                          std::span<const std::int32_t> pids,
                          bool cgroups,
                          WorkerPool& pool);

/// Owners found by the fd walk. Tasks collect into their own vector and hand it over under the
/// lock once.
class OwnerSink {
 public:
  void add(std::vector<OwnerPair>&& found, std::uint64_t unreadable_pids, std::uint64_t denied);

  /// Every pair, sorted by inode then PID, without duplicates. Call once, after the walks.
  std::vector<OwnerPair> takeSorted();

  std::uint64_t unreadable() const { return unreadable_; }

  std::uint64_t denied() const { return denied_; }

 private:
  std::mutex mutex_;
  std::vector<OwnerPair> pairs_;
  std::uint64_t unreadable_ = 0;
  std::uint64_t denied_ = 0;
};

/// Queues the fd walk of every PID of `pids` on `group`, in slices; a process with thousands of
/// fds is split over several tasks, so one big server does not serialize the scan.
void walkAllFds(int proc_fd, std::span<const PidInfo> pids, TaskGroup& group, OwnerSink& sink);

/// Reads comm and netstat's program name (argv[0], its basename when absolute) of `info`, a
/// process that holds a socket. Control characters become '.' as in netstat.
void readProcessNames(int proc_fd, PidInfo& info, std::string& buf);

}  // namespace podnetstat::scanner
