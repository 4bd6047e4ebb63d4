#include "namespaces.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "sys/procfs.h"

namespace podnetstat::scanner {
namespace {

constexpr long kNsfsMagic = 0x6e736673;  // NSFS_MAGIC

using procfs::UniqueFd;

/// Whether `name` under `dir_fd` is a namespace bind mount: an error text when it is not.
std::string staleReason(int dir_fd, const std::string& name, struct stat& st) {
  if (::fstatat(dir_fd, name.c_str(), &st, 0) != 0) {
    return std::strerror(errno);
  }
  // A bind-mounted namespace (or a symlink to /proc/<pid>/ns/net) lives on nsfs; the file that
  // stays behind when the mount is gone does not.
  const UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_CLOEXEC));

  struct statfs fs {};

  if (!fd.valid() || ::fstatfs(fd.get(), &fs) != 0) {
    return std::strerror(errno);
  }
  if (fs.f_type != kNsfsMagic) {
    return "not a mounted network namespace (stale entry)";
  }
  return {};
}

/// The inode of the namespace selected by PID `pid`; 0 when no namespace has it.
std::uint64_t namespaceOfPid(const NamespaceCatalog& catalog, std::int32_t pid) {
  for (const auto& [inode, ns] : catalog.by_inode) {
    if (std::binary_search(ns.pids.begin(), ns.pids.end(), pid)) {
      return inode;
    }
  }
  return 0;
}

/// The inode of `name` in the netns dir, or why it cannot be used.
Result<std::uint64_t> namespaceOfName(const NamespaceCatalog& catalog,
                                      const std::string& name,
                                      const Roots& roots) {
  const auto& names = catalog.named.names;
  auto it =
      std::find_if(names.begin(), names.end(), [&](const auto& n) { return n.first == name; });
  if (it != names.end()) {
    return it->second;
  }
  if (auto stale = catalog.named.stale.find(name); stale != catalog.named.stale.end()) {
    return Error{"network namespace '" + name + "' cannot be read: " + stale->second,
                 ErrorKind::Gone};
  }
  return Error{"no network namespace named '" + name + "' in " + roots.netns_dir.string(),
               ErrorKind::NotFound};
}

/// The inodes `options` asks for, in no particular order, without duplicates.
Result<std::vector<std::uint64_t>> selectedInodes(const ScanOptions& options,
                                                  const NamespaceCatalog& catalog,
                                                  const Roots& roots) {
  std::vector<std::uint64_t> selected;
  const auto select = [&](std::uint64_t inode) {
    if (std::find(selected.begin(), selected.end(), inode) == selected.end()) {
      selected.push_back(inode);
    }
  };
  const bool explicit_selection = !options.netns_names.empty() || !options.netns_pids.empty();
  if (!options.no_host_network && (options.all_netns || !explicit_selection)) {
    if (catalog.host_inode == 0) {
      return Error{"cannot read the host network namespace (" + (roots.proc / "1/ns/net").string() +
                       "): run as root, or select namespaces with --netns/--netns-pid",
                   ErrorKind::Permission};
    }
    select(catalog.host_inode);
  }
  for (const std::string& name : options.netns_names) {
    auto inode = namespaceOfName(catalog, name, roots);
    if (!inode) {
      return inode.error();
    }
    select(*inode);
  }
  for (const std::int32_t pid : options.netns_pids) {
    const std::uint64_t inode = namespaceOfPid(catalog, pid);
    if (inode == 0) {
      return Error{"no readable process with PID " + std::to_string(pid), ErrorKind::NotFound};
    }
    select(inode);
  }
  if (options.all_netns) {
    for (const auto& [inode, ns] : catalog.by_inode) {
      if (!ns.is_host || !options.no_host_network) {
        select(inode);
      }
    }
  }
  return selected;
}

}  // namespace

NamedNamespaces listNamedNamespaces(const std::filesystem::path& dir) {
  NamedNamespaces result;
  const UniqueFd dir_fd = procfs::openDir(AT_FDCWD, dir.c_str());
  if (!dir_fd.valid()) {
    return result;
  }
  procfs::forEachDirEntry(dir_fd.get(), [&](std::string_view name_view, unsigned char type) {
    if (type == DT_DIR) {
      return;
    }
    const std::string name(name_view);
    struct stat st {};
    if (std::string reason = staleReason(dir_fd.get(), name, st); !reason.empty()) {
      result.stale[name] = std::move(reason);
      return;
    }
    result.names.emplace_back(name, st.st_ino);
  });
  std::sort(result.names.begin(), result.names.end());
  return result;
}

/// Reading PID 1's ns/net needs ptrace access to it, which even root may lack (PID 1 can hold
/// capabilities outside our bounding set); kthreadd (PID 2, parent of all kernel threads) always
/// lives in the initial namespace, so it answers then.
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

NamespaceCatalog catalogNamespaces(int proc_fd,
                                   const std::vector<PidInfo>& pids,
                                   const Roots& roots,
                                   ScanStats& stats) {
  NamespaceCatalog catalog;
  for (const PidInfo& p : pids) {
    if (p.netns != 0) {
      NetNamespace& ns = catalog.by_inode[p.netns];
      ns.inode = p.netns;
      ns.pids.push_back(p.pid);  // `pids` is in PID order, so this stays ascending
    }
  }
  catalog.host_inode = hostNamespaceInode(proc_fd);
  if (catalog.host_inode != 0) {
    NetNamespace& host = catalog.by_inode[catalog.host_inode];
    host.inode = catalog.host_inode;
    host.is_host = true;
  }
  catalog.named = listNamedNamespaces(roots.netns_dir);
  for (const auto& [name, inode] : catalog.named.names) {
    NetNamespace& ns = catalog.by_inode[inode];
    ns.inode = inode;
    ns.names.push_back(name);
  }
  stats.stale_netns_entries = catalog.named.stale.size();
  for (const auto& [name, reason] : catalog.named.stale) {
    const std::string path = (roots.netns_dir / name).string();
    stats.errors.push_back("netns entry " + path + ": " + reason);
    stats.stale_netns.emplace_back(path, reason);
  }
  return catalog;
}

Result<std::vector<NetNamespace>> selectNamespaces(const ScanOptions& options,
                                                   NamespaceCatalog& catalog,
                                                   const Roots& roots) {
  auto selected = selectedInodes(options, catalog, roots);
  if (!selected) {
    return selected.error();
  }
  const std::uint64_t host = catalog.host_inode;
  std::sort(selected->begin(), selected->end(), [host](std::uint64_t a, std::uint64_t b) {
    const bool ha = a == host;
    const bool hb = b == host;
    return ha != hb ? ha : a < b;
  });
  std::vector<NetNamespace> out;
  out.reserve(selected->size());
  for (const std::uint64_t inode : *selected) {
    out.push_back(std::move(catalog.by_inode[inode]));
  }
  return out;
}

}  // namespace podnetstat::scanner
