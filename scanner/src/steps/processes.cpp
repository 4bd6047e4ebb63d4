#include "processes.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <utility>

#include "sys/procfs.h"

namespace podnetstat::scanner {
namespace {

constexpr std::size_t kPidsPerTask = 32;
constexpr std::size_t kMaxCmdline = 4096;
constexpr std::size_t kMaxCgroup = 65536;
constexpr std::size_t kFdsPerTask = 1024;

using procfs::UniqueFd;

/// Control characters in a program name would garble a table; netstat (since 2.10's
/// successor) prints them as '.'.
void sanitize(std::string& s) {
  for (char& c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      c = '.';
    }
  }
}

/// netstat's program name: argv[0]; its basename when argv[0] is an absolute path.
std::string programName(std::string_view cmdline) {
  std::string_view argv0 = cmdline.substr(0, cmdline.find('\0'));
  if (!argv0.empty() && argv0.front() == '/') {
    argv0 = argv0.substr(argv0.rfind('/') + 1);
  }
  std::string name(argv0);
  sanitize(name);
  return name;
}

std::array<char, 16> pidName(std::int32_t pid) {
  std::array<char, 16> name{};
  std::snprintf(name.data(), name.size(), "%d", pid);
  return name;
}

/// Step 1 for one PID: its namespace and uid, and its cgroup when asked.
void readPid(int proc_fd, std::int32_t pid, bool cgroups, ProcessList& out) {
  const UniqueFd pid_fd = procfs::openDir(proc_fd, pidName(pid).data());
  if (!pid_fd.valid()) {
    ++(errno == ENOENT || errno == ESRCH ? out.vanished : out.unreadable);
    return;
  }
  PidInfo info;
  info.pid = pid;

  struct stat st {};

  if (::fstat(pid_fd.get(), &st) == 0) {
    info.uid = st.st_uid;
  }
  std::array<char, 64> link{};
  if (auto target = procfs::readLinkAt(pid_fd.get(), "ns/net", link.data(), link.size())) {
    info.netns = procfs::parseBracketedInode(*target, "net").value_or(0);
  } else if (errno == ENOENT || errno == ESRCH) {
    ++out.vanished;  // exited, or a zombie: no namespace, no fds
    return;
  } else {
    ++out.unreadable;
  }
  if (cgroups) {
    info.has_cgroup = procfs::readFileAt(pid_fd.get(), "cgroup", info.cgroup, kMaxCgroup) == 0;
  }
  out.pids.push_back(std::move(info));
}

/// readlink of the given fd names of one process; socket links become owner pairs.
void readSocketLinks(int fd_dir,
                     std::int32_t pid,
                     std::span<const std::string> names,
                     std::vector<OwnerPair>& out) {
  std::array<char, 64> target_buf{};
  for (const std::string& name : names) {
    const auto target =
        procfs::readLinkAt(fd_dir, name.c_str(), target_buf.data(), target_buf.size());
    if (!target) {
      continue;  // closed meanwhile
    }
    if (auto inode = procfs::parseBracketedInode(*target, "socket")) {
      out.push_back({*inode, pid});
    }
  }
}

/// The fd walk over a slice of PIDs. A process with more fds than kFdsPerTask has its readlinks
/// spread over further tasks of the group.
void walkFds(int proc_fd, std::span<const PidInfo> slice, TaskGroup& group, OwnerSink& sink) {
  std::vector<OwnerPair> found;
  std::uint64_t unreadable = 0;
  std::uint64_t denied = 0;
  std::vector<std::string> names;
  for (const PidInfo& info : slice) {
    std::array<char, 32> path{};
    std::snprintf(path.data(), path.size(), "%d/fd", info.pid);
    auto fd_dir = std::make_shared<UniqueFd>(procfs::openDir(proc_fd, path.data()));
    if (!fd_dir->valid()) {
      if (errno != ENOENT && errno != ESRCH) {
        ++unreadable;
      }
      if (errno == EACCES) {
        ++denied;
      }
      continue;
    }
    names.clear();
    procfs::forEachDirEntry(
        fd_dir->get(), [&](std::string_view name, unsigned char) { names.emplace_back(name); });
    if (names.size() <= kFdsPerTask) {
      readSocketLinks(fd_dir->get(), info.pid, names, found);
      continue;
    }
    auto shared_names = std::make_shared<std::vector<std::string>>(std::move(names));
    names = {};
    for (std::size_t first = 0; first < shared_names->size(); first += kFdsPerTask) {
      group.run([fd_dir, shared_names, first, pid = info.pid, &sink] {
        std::vector<OwnerPair> part;
        const std::span<const std::string> all(*shared_names);
        readSocketLinks(fd_dir->get(), pid,
                        all.subspan(first, std::min(kFdsPerTask, all.size() - first)), part);
        sink.add(std::move(part), 0, 0);
      });
    }
  }
  sink.add(std::move(found), unreadable, denied);
}

}  // namespace

Result<std::vector<std::int32_t>> listPids(int proc_fd, const std::filesystem::path& proc) {
  std::vector<std::int32_t> pids;
  const int err = procfs::forEachDirEntry(proc_fd, [&](std::string_view name, unsigned char) {
    if (auto pid = procfs::parsePid(name)) {
      pids.push_back(*pid);
    }
  });
  if (err != 0) {
    return Error{"cannot list proc root " + proc.string() + ": " + std::strerror(err),
                 errorKindOfErrno(err)};
  }
  std::sort(pids.begin(), pids.end());
  return pids;
}

ProcessList readProcesses(int proc_fd,
                          std::span<const std::int32_t> pids,
                          bool cgroups,
                          WorkerPool& pool) {
  std::vector<ProcessList> chunks((pids.size() + kPidsPerTask - 1) / kPidsPerTask);
  {
    TaskGroup group(pool);
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      group.run([&, c] {
        const std::size_t end = std::min(pids.size(), (c + 1) * kPidsPerTask);
        for (std::size_t i = c * kPidsPerTask; i < end; ++i) {
          readPid(proc_fd, pids[i], cgroups, chunks[c]);
        }
      });
    }
  }
  ProcessList all;
  all.pids.reserve(pids.size());
  for (ProcessList& chunk : chunks) {  // in PID order
    all.vanished += chunk.vanished;
    all.unreadable += chunk.unreadable;
    std::move(chunk.pids.begin(), chunk.pids.end(), std::back_inserter(all.pids));
  }
  return all;
}

void OwnerSink::add(std::vector<OwnerPair>&& found,
                    std::uint64_t unreadable_pids,
                    std::uint64_t denied) {
  std::lock_guard lock(mutex_);
  if (pairs_.empty()) {
    pairs_ = std::move(found);
  } else {
    pairs_.insert(pairs_.end(), found.begin(), found.end());
  }
  unreadable_ += unreadable_pids;
  denied_ += denied;
}

std::vector<OwnerPair> OwnerSink::takeSorted() {
  std::lock_guard lock(mutex_);
  std::vector<OwnerPair> pairs = std::move(pairs_);
  std::sort(pairs.begin(), pairs.end(), [](const OwnerPair& a, const OwnerPair& b) {
    return a.inode != b.inode ? a.inode < b.inode : a.pid < b.pid;
  });
  pairs.erase(std::unique(pairs.begin(), pairs.end(),
                          [](const OwnerPair& a, const OwnerPair& b) {
                            return a.inode == b.inode && a.pid == b.pid;
                          }),
              pairs.end());
  return pairs;
}

void walkAllFds(int proc_fd, std::span<const PidInfo> pids, TaskGroup& group, OwnerSink& sink) {
  for (std::size_t first = 0; first < pids.size(); first += kPidsPerTask) {
    const auto slice = pids.subspan(first, std::min(kPidsPerTask, pids.size() - first));
    group.run([proc_fd, slice, &group, &sink] { walkFds(proc_fd, slice, group, sink); });
  }
}

void readProcessNames(int proc_fd, PidInfo& info, std::string& buf) {
  const UniqueFd pid_fd = procfs::openDir(proc_fd, pidName(info.pid).data());
  if (!pid_fd.valid()) {
    return;
  }
  if (procfs::readFileAt(pid_fd.get(), "comm", buf, 256) == 0) {
    info.comm.assign(buf.data(), buf.size());
    if (!info.comm.empty() && info.comm.back() == '\n') {
      info.comm.pop_back();
    }
    sanitize(info.comm);
  }
  if (procfs::readFileAt(pid_fd.get(), "cmdline", buf, kMaxCmdline) == 0) {
    info.program = programName(buf);
  }
}

}  // namespace podnetstat::scanner
