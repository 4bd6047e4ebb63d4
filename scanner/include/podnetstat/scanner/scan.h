#pragma once

// One scan of every socket of the selected network namespaces, with its owning processes.
// The steps are described once, at the top of scan.cpp.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "podnetstat/scanner/filter.h"
#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/proc_net_parser.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::scanner {

/// Where the OS is. Every path the scanner touches starts at one of these, so tests can point
/// them at fixture trees.
struct Roots {
  std::filesystem::path proc = "/proc";
  std::filesystem::path netns_dir = "/var/run/netns";
};

/// The backend a scan with `b` uses on this process: Auto becomes Netlink with CAP_SYS_ADMIN,
/// else Procfs.
Backend resolveBackend(Backend b);

/// What to scan; mirrors go-netstat's EnableFeatures.
struct ScanOptions {
  TransportSet transports = TransportSet::all();
  bool pid = true;                       // attribute sockets to processes through /proc/<pid>/fd
  bool no_host_network = false;          // skip the host namespace (PID 1's)
  bool all_netns = false;                // every namespace found: all PIDs' and all names'
  std::vector<std::string> netns_names;  // names under the netns dir
  std::vector<std::int32_t> netns_pids;  // namespaces of these PIDs
  Filter filter;                         // applied to every socket after attribution
  Backend backend = Backend::Procfs;
  /// Also read every process's /proc/<pid>/cgroup in step 1 (ScanResult::cgroups), so that
  /// whoever places processes in pods need not walk /proc again.
  bool cgroups = false;
  /// With the netlink backend: also ask sock_diag for every TCP socket's tcp_info, congestion
  /// control and memory (Socket::tcp). Procfs has none of it and ignores this.
  bool tcp_info = false;
};

/// Reads one namespace's socket tables. The procfs implementation reads /proc/<pid>/net/<file>
/// of a process living in the namespace; a netlink sock_diag one can slot in beside it.
class TableReader {
 public:
  virtual ~TableReader() = default;

  /// Appends the rows of one transport's table of the namespace to `out`. `pids` are processes
  /// living in the namespace (ascending); `netns_path` is a bind-mounted name or empty. A missing
  /// table (e.g. udplite on Linux >= 7.1, tcp6 with IPv6 disabled) is not an error: it yields no
  /// rows. Returns an error when the namespace cannot be read at all.
  [[nodiscard]] virtual Result<ParseCounts> read(const NetNamespace& ns,
                                                 Transport transport,
                                                 std::vector<Socket>& out) = 0;

  /// Which backend this reader is.
  virtual Backend backend() const = 0;
};

/// The scanner. Thread-safe: scan() may be called from several threads (each call uses the
/// shared worker pool), though the agent runs one scan at a time.
class Scanner {
 public:
  explicit Scanner(Roots roots, unsigned threads = 0);
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  /// Scans. Fails only when nothing could be read (e.g. the proc root is missing) or a
  /// requested namespace name or PID does not exist; everything else (vanished processes,
  /// malformed lines, stale netns entries, unreadable namespaces) is counted in the result.
  [[nodiscard]] Result<ScanResult> scan(const ScanOptions& options) const;

  const Roots& roots() const;

  /// Runs task(0) ... task(count - 1) on the scanner's worker pool and returns when all have
  /// run, so that work beside the scan (the agent's network counters) starts no threads of its
  /// own. `task` must not throw; calls for different indexes may run at the same time. Not to be
  /// called from a task on this pool (it would wait on its own workers); callers on several
  /// threads share the workers.
  void parallelFor(std::size_t count, const std::function<void(std::size_t)>& task) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnetstat::scanner
