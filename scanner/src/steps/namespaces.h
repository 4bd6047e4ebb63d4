#pragma once

// Step 2 of a scan (scan.cpp): the network namespaces. PIDs grouped by their namespace inode,
// the names under the netns dir added (a stale entry is reported, the others still count), the
// host namespace (PID 1's) marked, and the ones the options ask for selected, host first.

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/result.h"
#include "podnetstat/scanner/scan.h"

#include "processes.h"

namespace podnetstat::scanner {

/// The namespaces named in the netns dir: name -> inode, and the stale entries.
struct NamedNamespaces {
  std::vector<std::pair<std::string, std::uint64_t>> names;  // sorted by name
  std::map<std::string, std::string> stale;                  // name -> reason
};

/// Every namespace the scan met, by inode, with its PIDs (ascending) and names.
struct NamespaceCatalog {
  std::map<std::uint64_t, NetNamespace> by_inode;
  std::uint64_t host_inode = 0;  // 0: PID 1's (and kthreadd's) namespace could not be read
  NamedNamespaces named;
};

/// The names under `dir`; no dir at all is no names (`ip netns` creates it on demand).
NamedNamespaces listNamedNamespaces(const std::filesystem::path& dir);

/// The host namespace: PID 1's, else kthreadd's (PID 2) when PID 1's cannot be read; 0 when
/// neither can.
std::uint64_t hostNamespaceInode(int proc_fd);

/// Groups the PIDs of step 1 by namespace, and adds the host namespace and the named ones.
/// Reports the stale netns entries in `stats`.
NamespaceCatalog catalogNamespaces(int proc_fd,
                                   const std::vector<PidInfo>& pids,
                                   const Roots& roots,
                                   ScanStats& stats);

/// The namespaces `options` selects, host first then by inode, moved out of the catalog. An
/// error when a requested name or PID does not exist, or the host namespace is wanted and
/// cannot be read.
Result<std::vector<NetNamespace>> selectNamespaces(const ScanOptions& options,
                                                   NamespaceCatalog& catalog,
                                                   const Roots& roots);

}  // namespace podnetstat::scanner
