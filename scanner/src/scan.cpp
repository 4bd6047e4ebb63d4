// One scan, in four steps, each a call below (Scanner::scan):
//
// 1. Processes (steps/processes.h). List <proc>/[0-9]* once and, on the fixed worker pool, read
//    per PID its netns inode (readlink ns/net) and uid, and its cgroup file when asked. A PID
//    that vanishes mid-scan is counted and skipped; so is one we may not read (EACCES).
// 2. Namespaces (steps/namespaces.h). Group PIDs by netns inode, add the names of the netns dir
//    (stat gives the inode; a stale entry is reported and the others still count), and select
//    what the options ask for. The host namespace is PID 1's. Each namespace is read once,
//    however many names and PIDs point at it.
// 3. Tables and owners, overlapped on the pool. For every selected namespace x transport the
//    TableReader (tables/) reads and parses the table (procfs: <proc>/<pid>/net/<file> of a
//    process in the namespace, the next one if it vanished; malformed rows are skipped and
//    counted). Meanwhile, when attributing, every PID's fds are read (readlink fd/* ->
//    socket:[inode]); a process with thousands of fds is split over several tasks. PIDs
//    holding a socket also give their comm and argv[0].
// 4. Join. Socket inode -> every owning process (ascending PID), then the filter.

#include "podnetstat/scanner/scan.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <span>
#include <thread>
#include <utility>

#include "podnetstat/scanner/wall_clock.h"

#include "steps/namespaces.h"
#include "steps/processes.h"
#include "sys/netns_enter.h"
#include "sys/procfs.h"
#include "sys/worker_pool.h"
#include "tables/netlink_reader.h"
#include "tables/procfs_reader.h"

namespace podnetstat::scanner {
namespace {

using procfs::UniqueFd;

/// One table of step 3: its rows, or why it could not be read.
struct TableResult {
  std::vector<Socket> sockets;
  ParseCounts counts;
  std::string error;
};

/// What step 3 read: one table per selected namespace x transport, and the socket owners.
struct TablesAndOwners {
  std::vector<Transport> transports;  // the enabled ones, in table order
  std::vector<TableResult> tables;    // namespace-major: tables[n * transports.size() + t]
  std::vector<OwnerPair> owners;      // by inode, then PID
};

unsigned defaultThreads(unsigned requested) {
  if (requested != 0) {
    return requested;
  }
  return std::clamp(std::thread::hardware_concurrency(), 2U, 8U);
}

std::vector<Transport> enabledTransports(TransportSet set) {
  std::vector<Transport> out;
  for (const Transport t : kAllTransports) {
    if (set.contains(t)) {
      out.push_back(t);
    }
  }
  return out;
}

/// Step 3: every table of every selected namespace, and (with options.pid) the fd walk of every
/// PID, as one group of tasks.
TablesAndOwners readTablesAndOwners(const ScanOptions& options,
                                    const std::vector<NetNamespace>& namespaces,
                                    const ProcessList& processes,
                                    TableReader& reader,
                                    int proc_fd,
                                    WorkerPool& pool,
                                    ScanStats& stats) {
  TablesAndOwners out;
  out.transports = enabledTransports(options.transports);
  const std::size_t per_ns = out.transports.size();
  out.tables.resize(namespaces.size() * per_ns);
  OwnerSink owners;
  {
    TaskGroup group(pool);
    for (std::size_t n = 0; n < namespaces.size(); ++n) {
      for (std::size_t t = 0; t < per_ns; ++t) {
        group.run([&, n, t] {
          TableResult& table = out.tables[n * per_ns + t];
          auto read = reader.read(namespaces[n], out.transports[t], table.sockets);
          if (read) {
            table.counts = *read;
          } else {
            table.error = read.error().message;
          }
        });
      }
    }
    if (options.pid) {
      walkAllFds(proc_fd, processes.pids, group, owners);
    }
  }
  stats.unreadable_processes += owners.unreadable();
  stats.denied_fd_dirs = owners.denied();
  out.owners = owners.takeSorted();
  return out;
}

/// The processes that hold a socket, ascending PID, with their names.
std::vector<Process> socketHolders(const std::vector<OwnerPair>& owners,
                                   ProcessList& processes,
                                   int proc_fd) {
  std::vector<std::int32_t> holders;
  holders.reserve(owners.size());
  for (const OwnerPair& p : owners) {
    holders.push_back(p.pid);
  }
  std::sort(holders.begin(), holders.end());
  holders.erase(std::unique(holders.begin(), holders.end()), holders.end());
  std::vector<Process> out;
  std::string buf;
  auto& live = processes.pids;
  for (const std::int32_t pid : holders) {
    auto it = std::lower_bound(live.begin(), live.end(), pid,
                               [](const PidInfo& p, std::int32_t v) { return p.pid < v; });
    if (it == live.end() || it->pid != pid) {
      continue;
    }
    readProcessNames(proc_fd, *it, buf);
    out.push_back(
        Process{it->pid, it->uid, it->netns, std::move(it->comm), std::move(it->program)});
  }
  return out;
}

/// The cgroup text of every PID step 1 could read it for, ascending PID.
std::vector<ProcessCgroup> takeCgroups(ProcessList& processes) {
  std::vector<ProcessCgroup> out;
  for (PidInfo& p : processes.pids) {
    if (p.has_cgroup) {
      out.push_back({p.pid, std::move(p.cgroup)});
    }
  }
  return out;
}

/// Marks `ns` unreadable for `error`, once.
void markUnreadable(NetNamespace& ns, const std::string& error, ScanStats& stats) {
  if (!ns.readable) {
    return;
  }
  ns.readable = false;
  ns.error = error;
  ++stats.unreadable_namespaces;
  stats.errors.push_back("network namespace " + std::to_string(ns.inode) + ": " + error);
}

/// Step 4: every table's sockets, in namespace then table order, with their owners; those the
/// filter refuses are left out.
void join(const ScanOptions& options, TablesAndOwners& read, ScanResult& result) {
  const auto process_index = [&](std::int32_t pid) {
    auto it = std::lower_bound(result.processes.begin(), result.processes.end(), pid,
                               [](const Process& p, std::int32_t v) { return p.pid < v; });
    return static_cast<std::uint32_t>(it - result.processes.begin());
  };
  std::size_t total = 0;
  for (const TableResult& table : read.tables) {
    total += table.sockets.size();
  }
  result.sockets.reserve(total);
  const std::size_t per_ns = read.transports.size();
  for (std::size_t n = 0; n < result.namespaces.size(); ++n) {
    NetNamespace& ns = result.namespaces[n];
    for (std::size_t t = 0; t < per_ns; ++t) {
      TableResult& table = read.tables[n * per_ns + t];
      if (!table.error.empty()) {
        markUnreadable(ns, table.error, result.stats);
        continue;
      }
      result.stats.skipped_lines += table.counts.skipped;
      result.stats.skipped_lines_by_transport.at(static_cast<std::size_t>(read.transports[t])) +=
          table.counts.skipped;
      for (Socket& s : table.sockets) {
        s.netns_index = static_cast<std::uint32_t>(n);
        s.owners_begin = static_cast<std::uint32_t>(result.owner_table.size());
        s.owners_count = 0;
        if (s.inode != 0) {
          auto it = std::lower_bound(
              read.owners.begin(), read.owners.end(), s.inode,
              [](const OwnerPair& p, std::uint64_t inode) { return p.inode < inode; });
          for (; it != read.owners.end() && it->inode == s.inode; ++it) {
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
}

}  // namespace

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
  const Roots& roots = impl_->roots;
  const UniqueFd proc_fd = procfs::openDir(AT_FDCWD, roots.proc.c_str());
  if (!proc_fd.valid()) {
    const int err = errno;
    return Error{"cannot open proc root " + roots.proc.string() + ": " + std::strerror(err),
                 errorKindOfErrno(err)};
  }

  // Step 1: processes.
  auto pids = listPids(proc_fd.get(), roots.proc);
  if (!pids) {
    return pids.error();
  }
  ProcessList processes = readProcesses(proc_fd.get(), *pids, options.cgroups, *impl_->pool);
  result.stats.vanished_processes = processes.vanished;
  result.stats.unreadable_processes = processes.unreadable;

  // Step 2: namespaces.
  NamespaceCatalog catalog = catalogNamespaces(proc_fd.get(), processes.pids, roots, result.stats);
  auto selected = selectNamespaces(options, catalog, roots);
  if (!selected) {
    return selected.error();
  }
  result.namespaces = std::move(*selected);

  // Step 3: tables and owners.
  ProcfsTableReader procfs_reader(proc_fd.get());
  NetlinkTableReader netlink_reader(proc_fd.get(), roots.netns_dir, procfs_reader,
                                    options.tcp_info);
  TableReader& reader = resolveBackend(options.backend) == Backend::Netlink
                            ? static_cast<TableReader&>(netlink_reader)
                            : procfs_reader;
  result.backend = reader.backend();
  TablesAndOwners read = readTablesAndOwners(options, result.namespaces, processes, reader,
                                             proc_fd.get(), *impl_->pool, result.stats);
  result.processes = socketHolders(read.owners, processes, proc_fd.get());
  result.cgroups = takeCgroups(processes);

  // Step 4: join and filter.
  join(options, read, result);
  result.duration_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace podnetstat::scanner
