// One scan, in four steps:
//
// 1. Processes. List <proc>/[0-9]* once and, on the fixed worker pool, read per PID its netns
//    inode (readlink ns/net) and uid. A PID that vanishes mid-scan is counted and skipped; so is
//    one we may not read (EACCES).
// 2. Namespaces. Group PIDs by netns inode, add the names of the netns dir (stat gives the
//    inode; a stale entry is reported and the others still count), and select what the options
//    ask for. The host namespace is PID 1's. Each namespace is read once, however many names
//    and PIDs point at it.
// 3. Tables and owners, overlapped on the pool. For every selected namespace x transport the
//    TableReader reads and parses the table (procfs: <proc>/<pid>/net/<file> of a process in
//    the namespace, the next one if it vanished; malformed rows are skipped and counted).
//    Meanwhile, when attributing, every PID's fds are read (readlink fd/* -> socket:[inode]);
//    a process with thousands of fds is split over several tasks. PIDs holding a socket also
//    give their comm and argv[0].
// 4. Join. Socket inode -> every owning process (ascending PID), then the filter.

#include "podnetstat/scanner/scan.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <utility>

#include "sys/procfs.h"
#include "sys/worker_pool.h"
#include "tables/netlink_reader.h"

namespace podnetstat::scanner {
namespace {

constexpr long kNsfsMagic = 0x6e736673;  // NSFS_MAGIC
constexpr std::size_t kPidsPerTask = 32;
constexpr std::size_t kMaxCmdline = 4096;
constexpr std::size_t kFdsPerTask = 1024;

using procfs::UniqueFd;

struct PidInfo {
  std::int32_t pid = 0;
  std::uint64_t netns = 0;  // 0: unknown
  std::uint32_t uid = 0;
  std::string comm;
  std::string program;
};

struct OwnerPair {
  std::uint64_t inode;
  std::int32_t pid;
};

/// What one task of step 1 found for its slice of PIDs.
struct PidChunk {
  std::vector<PidInfo> pids;
  std::uint64_t vanished = 0;
  std::uint64_t unreadable = 0;
};

/// Owners found by the fd walk of step 3. Tasks collect into their own vector and hand it over
/// under the lock once.
struct OwnerSink {
  std::mutex mutex;
  std::vector<OwnerPair> pairs;
  std::uint64_t unreadable = 0;
  std::uint64_t denied = 0;

  void add(std::vector<OwnerPair>&& found,
           std::uint64_t unreadable_pids,
           std::uint64_t denied_pids) {
    std::lock_guard lock(mutex);
    if (pairs.empty()) {
      pairs = std::move(found);
    } else {
      pairs.insert(pairs.end(), found.begin(), found.end());
    }
    unreadable += unreadable_pids;
    denied += denied_pids;
  }
};

std::string errnoText(int err) {
  return std::strerror(err);
}

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

/// Step 1 for one PID: its namespace and uid.
void readPid(int proc_fd, std::int32_t pid, PidChunk& chunk) {
  const UniqueFd pid_fd = procfs::openDir(proc_fd, pidName(pid).data());
  if (!pid_fd.valid()) {
    ++(errno == ENOENT || errno == ESRCH ? chunk.vanished : chunk.unreadable);
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
    ++chunk.vanished;  // exited, or a zombie: no namespace, no fds
    return;
  } else {
    ++chunk.unreadable;
  }
  chunk.pids.push_back(std::move(info));
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

/// comm and netstat's program name of a process that holds a socket.
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

/// Step 3's fd walk over a slice of PIDs. A process with more fds than kFdsPerTask has its
/// readlinks spread over further tasks of the group, so one big server does not serialize the
/// scan.
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

/// The procfs TableReader: /proc/<pid>/net/<file> of a process living in the namespace.
class ProcfsTableReader final : public TableReader {
 public:
  explicit ProcfsTableReader(int proc_fd) : proc_fd_(proc_fd) {}

  Result<ParseCounts> read(const NetNamespace& ns,
                           Transport transport,
                           std::vector<Socket>& out) override {
    thread_local std::string buf;
    if (ns.pids.empty()) {
      return Error{
          "no process lives in this network namespace (the procfs backend reads a "
          "namespace through one of its processes)"};
    }
    int last_err = 0;
    for (const std::int32_t pid : ns.pids) {
      std::array<char, 48> path{};
      std::snprintf(path.data(), path.size(), "%d/net/%s", pid, transportName(transport).data());
      const int err = procfs::readFileAt(proc_fd_, path.data(), buf);
      if (err == 0) {
        return parseTable(buf, transport, out);
      }
      last_err = err;
      if (err == ENOENT) {
        // Either the table does not exist in this kernel (udplite on >= 7.1, tcp6 without
        // IPv6), or the process is gone: its net dir tells which.
        std::snprintf(path.data(), path.size(), "%d/net", pid);
        if (::faccessat(proc_fd_, path.data(), F_OK, 0) == 0) {
          return ParseCounts{};
        }
      }
      // Vanished or unreadable: try the namespace's next process.
    }
    return Error{"every process of the namespace failed: " + errnoText(last_err)};
  }

  std::string_view name() const override { return "procfs"; }

 private:
  int proc_fd_;
};

/// The namespaces named in the netns dir: name -> inode, and the stale entries.
struct NamedNamespaces {
  std::vector<std::pair<std::string, std::uint64_t>> names;  // sorted by name
  std::map<std::string, std::string> stale;                  // name -> reason
};

NamedNamespaces listNamedNamespaces(const std::filesystem::path& dir) {
  NamedNamespaces result;
  const UniqueFd dir_fd = procfs::openDir(AT_FDCWD, dir.c_str());
  if (!dir_fd.valid()) {
    return result;  // no netns dir: no names (not an error; `ip netns` creates it on demand)
  }
  procfs::forEachDirEntry(dir_fd.get(), [&](std::string_view name_view, unsigned char type) {
    if (type == DT_DIR) {
      return;
    }
    const std::string name(name_view);
    struct stat st {};
    if (::fstatat(dir_fd.get(), name.c_str(), &st, 0) != 0) {
      result.stale[name] = errnoText(errno);
      return;
    }
    // A bind-mounted namespace (or a symlink to /proc/<pid>/ns/net) lives on nsfs; the file
    // that stays behind when the mount is gone does not.
    const UniqueFd fd(::openat(dir_fd.get(), name.c_str(), O_RDONLY | O_CLOEXEC));
    struct statfs fs {};
    if (!fd.valid() || ::fstatfs(fd.get(), &fs) != 0) {
      result.stale[name] = errnoText(errno);
      return;
    }
    if (fs.f_type != kNsfsMagic) {
      result.stale[name] = "not a mounted network namespace (stale entry)";
      return;
    }
    result.names.emplace_back(name, st.st_ino);
  });
  std::sort(result.names.begin(), result.names.end());
  return result;
}

/// The host namespace is PID 1's. Reading PID 1's ns/net needs ptrace access to it, which even
/// root may lack (PID 1 can hold capabilities outside our bounding set); kthreadd (PID 2, parent
/// of all kernel threads) always lives in the initial namespace, so it answers then.
std::uint64_t hostNamespaceInode(int proc_fd) {
  std::array<char, 64> link{};
  if (auto target = procfs::readLinkAt(proc_fd, "1/ns/net", link.data(), link.size())) {
    return procfs::parseBracketedInode(*target, "net").value_or(0);
  }
  std::string comm;
  if (procfs::readFileAt(proc_fd, "2/comm", comm, 64) != 0 || comm != "kthreadd\n") {
    return 0;
  }
  if (auto target = procfs::readLinkAt(proc_fd, "2/ns/net", link.data(), link.size())) {
    return procfs::parseBracketedInode(*target, "net").value_or(0);
  }
  return 0;
}

unsigned defaultThreads(unsigned requested) {
  if (requested != 0) {
    return requested;
  }
  return std::clamp(std::thread::hardware_concurrency(), 2U, 8U);
}

std::int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view backendName(Backend b) {
  switch (b) {
    case Backend::Auto:
      return "auto";
    case Backend::Procfs:
      return "procfs";
    case Backend::Netlink:
      return "netlink";
  }
  return "unknown";
}

std::optional<Backend> backendFromName(std::string_view name) {
  for (const Backend b : {Backend::Auto, Backend::Procfs, Backend::Netlink}) {
    if (backendName(b) == name) {
      return b;
    }
  }
  return std::nullopt;
}

Backend resolveBackend(Backend b) {
  if (b != Backend::Auto) {
    return b;
  }
  return hasCapSysAdmin() ? Backend::Netlink : Backend::Procfs;
}

struct Scanner::Impl {
  Roots roots;
  std::unique_ptr<WorkerPool> pool;
};

Scanner::Scanner(Roots roots, unsigned threads)
    : impl_(std::make_unique<Impl>(
          Impl{std::move(roots), std::make_unique<WorkerPool>(defaultThreads(threads))})) {}

Scanner::~Scanner() = default;

const Roots& Scanner::roots() const {
  return impl_->roots;
}

void Scanner::parallelFor(std::size_t count, const std::function<void(std::size_t)>& task) const {
  // One task per worker, each taking the next index: a slow index holds up one worker only.
  std::atomic<std::size_t> next{0};
  const auto drain = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      task(i);
    }
  };
  const std::size_t workers = std::min<std::size_t>(impl_->pool->size(), count);
  TaskGroup group(*impl_->pool);
  for (std::size_t w = 0; w < workers; ++w) {
    group.run(drain);
  }
  group.wait();
}

Result<ScanResult> Scanner::scan(const ScanOptions& options) const {
  const auto t0 = std::chrono::steady_clock::now();
  ScanResult result;
  result.started_unix_ms = nowUnixMs();
  ScanStats& stats = result.stats;

  const UniqueFd proc_fd = procfs::openDir(AT_FDCWD, impl_->roots.proc.c_str());
  if (!proc_fd.valid()) {
    return Error{"cannot open proc root " + impl_->roots.proc.string() + ": " + errnoText(errno)};
  }

  // Step 1: processes.
  std::vector<std::int32_t> pids;
  const int list_err =
      procfs::forEachDirEntry(proc_fd.get(), [&](std::string_view name, unsigned char) {
        if (auto pid = procfs::parsePid(name)) {
          pids.push_back(*pid);
        }
      });
  if (list_err != 0) {
    return Error{"cannot list proc root " + impl_->roots.proc.string() + ": " +
                 errnoText(list_err)};
  }
  std::sort(pids.begin(), pids.end());

  std::vector<PidChunk> chunks((pids.size() + kPidsPerTask - 1) / kPidsPerTask);
  {
    TaskGroup group(*impl_->pool);
    for (std::size_t c = 0; c < chunks.size(); ++c) {
      group.run([&, c] {
        const std::size_t end = std::min(pids.size(), (c + 1) * kPidsPerTask);
        for (std::size_t i = c * kPidsPerTask; i < end; ++i) {
          readPid(proc_fd.get(), pids[i], chunks[c]);
        }
      });
    }
  }

  // Step 2: namespaces.
  std::map<std::uint64_t, NetNamespace> by_inode;  // every namespace seen, by inode
  std::vector<PidInfo> live;                       // every PID step 1 could read, ascending
  for (PidChunk& chunk : chunks) {
    stats.vanished_processes += chunk.vanished;
    stats.unreadable_processes += chunk.unreadable;
    for (PidInfo& p : chunk.pids) {
      if (p.netns != 0) {
        NetNamespace& ns = by_inode[p.netns];
        ns.inode = p.netns;
        ns.pids.push_back(p.pid);  // chunks are in PID order, so this stays ascending
      }
      live.push_back(std::move(p));
    }
  }
  chunks.clear();

  const std::uint64_t host_inode = hostNamespaceInode(proc_fd.get());
  if (host_inode != 0) {
    by_inode[host_inode].inode = host_inode;
    by_inode[host_inode].is_host = true;
  }

  const NamedNamespaces named = listNamedNamespaces(impl_->roots.netns_dir);
  for (const auto& [name, inode] : named.names) {
    NetNamespace& ns = by_inode[inode];
    ns.inode = inode;
    ns.names.push_back(name);
  }
  stats.stale_netns_entries = named.stale.size();
  for (const auto& [name, reason] : named.stale) {
    const std::string path = (impl_->roots.netns_dir / name).string();
    stats.errors.push_back("netns entry " + path + ": " + reason);
    stats.stale_netns.emplace_back(path, reason);
  }

  // Selection.
  std::vector<std::uint64_t> selected;
  auto select = [&](std::uint64_t inode) {
    if (std::find(selected.begin(), selected.end(), inode) == selected.end()) {
      selected.push_back(inode);
    }
  };
  const bool explicit_selection = !options.netns_names.empty() || !options.netns_pids.empty();
  if (!options.no_host_network && (options.all_netns || !explicit_selection)) {
    if (host_inode == 0) {
      return Error{"cannot read the host network namespace (" +
                   (impl_->roots.proc / "1/ns/net").string() +
                   "): run as root, or select namespaces with --netns/--netns-pid"};
    }
    select(host_inode);
  }
  for (const std::string& name : options.netns_names) {
    auto it = std::find_if(named.names.begin(), named.names.end(),
                           [&](const auto& n) { return n.first == name; });
    if (it == named.names.end()) {
      auto stale = named.stale.find(name);
      if (stale != named.stale.end()) {
        return Error{"network namespace '" + name + "' cannot be read: " + stale->second};
      }
      return Error{"no network namespace named '" + name + "' in " +
                   impl_->roots.netns_dir.string()};
    }
    select(it->second);
  }
  for (const std::int32_t pid : options.netns_pids) {
    std::uint64_t inode = 0;
    for (const auto& [ino, ns] : by_inode) {
      if (std::binary_search(ns.pids.begin(), ns.pids.end(), pid)) {
        inode = ino;
        break;
      }
    }
    if (inode == 0) {
      return Error{"no readable process with PID " + std::to_string(pid)};
    }
    select(inode);
  }
  if (options.all_netns) {
    for (const auto& [inode, ns] : by_inode) {
      if (!ns.is_host || !options.no_host_network) {
        select(inode);
      }
    }
  }
  // Host first, then by inode.
  std::sort(selected.begin(), selected.end(), [&](std::uint64_t a, std::uint64_t b) {
    const bool ha = a == host_inode;
    const bool hb = b == host_inode;
    return ha != hb ? ha : a < b;
  });
  for (const std::uint64_t inode : selected) {
    result.namespaces.push_back(std::move(by_inode[inode]));
  }

  // Step 3: tables.
  ProcfsTableReader procfs_reader(proc_fd.get());
  NetlinkTableReader netlink_reader(proc_fd.get(), impl_->roots.netns_dir, procfs_reader);
  const bool use_netlink =
      options.backend == Backend::Netlink || (options.backend == Backend::Auto && hasCapSysAdmin());
  TableReader& reader = use_netlink ? static_cast<TableReader&>(netlink_reader) : procfs_reader;
  result.backend = std::string(reader.name());
  std::vector<Transport> transports;
  for (const Transport t : kAllTransports) {
    if (options.transports.contains(t)) {
      transports.push_back(t);
    }
  }

  struct TableResult {
    std::vector<Socket> sockets;
    ParseCounts counts;
    std::string error;
  };

  std::vector<TableResult> tables(result.namespaces.size() * transports.size());
  OwnerSink owners;
  {
    TaskGroup group(*impl_->pool);
    for (std::size_t n = 0; n < result.namespaces.size(); ++n) {
      for (std::size_t t = 0; t < transports.size(); ++t) {
        group.run([&, n, t] {
          TableResult& table = tables[n * transports.size() + t];
          auto read = reader.read(result.namespaces[n], transports[t], table.sockets);
          if (read) {
            table.counts = *read;
          } else {
            table.error = read.error().message;
          }
        });
      }
    }
    if (options.pid) {
      for (std::size_t first = 0; first < live.size(); first += kPidsPerTask) {
        group.run([&, first] {
          walkFds(proc_fd.get(),
                  std::span(live).subspan(first, std::min(kPidsPerTask, live.size() - first)),
                  group, owners);
        });
      }
    }
  }
  std::vector<OwnerPair>& owner_pairs = owners.pairs;
  stats.unreadable_processes += owners.unreadable;
  stats.denied_fd_dirs = owners.denied;

  // The processes that hold a socket, with their names.
  std::sort(owner_pairs.begin(), owner_pairs.end(), [](const OwnerPair& a, const OwnerPair& b) {
    return a.inode != b.inode ? a.inode < b.inode : a.pid < b.pid;
  });
  owner_pairs.erase(std::unique(owner_pairs.begin(), owner_pairs.end(),
                                [](const OwnerPair& a, const OwnerPair& b) {
                                  return a.inode == b.inode && a.pid == b.pid;
                                }),
                    owner_pairs.end());
  {
    std::vector<std::int32_t> holders;
    holders.reserve(owner_pairs.size());
    for (const OwnerPair& p : owner_pairs) {
      holders.push_back(p.pid);
    }
    std::sort(holders.begin(), holders.end());
    holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
    std::string buf;
    for (const std::int32_t pid : holders) {
      auto it = std::lower_bound(live.begin(), live.end(), pid,
                                 [](const PidInfo& p, std::int32_t v) { return p.pid < v; });
      if (it == live.end() || it->pid != pid) {
        continue;
      }
      readProcessNames(proc_fd.get(), *it, buf);
      result.processes.push_back(
          Process{it->pid, it->uid, it->netns, std::move(it->comm), std::move(it->program)});
    }
  }

  // Step 4: join and filter.
  auto process_index = [&](std::int32_t pid) {
    auto it = std::lower_bound(result.processes.begin(), result.processes.end(), pid,
                               [](const Process& p, std::int32_t v) { return p.pid < v; });
    return static_cast<std::uint32_t>(it - result.processes.begin());
  };

  std::size_t total = 0;
  for (const TableResult& table : tables) {
    total += table.sockets.size();
  }
  result.sockets.reserve(total);
  for (std::size_t n = 0; n < result.namespaces.size(); ++n) {
    NetNamespace& ns = result.namespaces[n];
    for (std::size_t t = 0; t < transports.size(); ++t) {
      TableResult& table = tables[n * transports.size() + t];
      if (!table.error.empty()) {
        if (ns.readable) {
          ns.readable = false;
          ns.error = table.error;
          ++stats.unreadable_namespaces;
          stats.errors.push_back("network namespace " + std::to_string(ns.inode) + ": " +
                                 table.error);
        }
        continue;
      }
      stats.skipped_lines += table.counts.skipped;
      stats.skipped_lines_by_transport.at(static_cast<std::size_t>(transports[t])) +=
          table.counts.skipped;
      for (Socket& s : table.sockets) {
        s.netns_index = static_cast<std::uint32_t>(n);
        s.owners_begin = static_cast<std::uint32_t>(result.owner_table.size());
        s.owners_count = 0;
        if (s.inode != 0) {
          auto it = std::lower_bound(
              owner_pairs.begin(), owner_pairs.end(), s.inode,
              [](const OwnerPair& p, std::uint64_t inode) { return p.inode < inode; });
          for (; it != owner_pairs.end() && it->inode == s.inode; ++it) {
            result.owner_table.push_back(process_index(it->pid));
            ++s.owners_count;
          }
        }
        if (!options.filter.isNoop() && !options.filter(s, result)) {
          result.owner_table.resize(s.owners_begin);
          continue;
        }
        ++ns.socket_count;
        result.sockets.push_back(std::move(s));
      }
    }
  }

  result.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace podnetstat::scanner
