#pragma once

// Entering a network namespace for the one call that must be made from inside it. A netlink
// socket, and a /proc/thread-self/net/* file, answer for the namespace they were opened in, so
// the calling thread enters the namespace (setns through the named netns file or a process's
// /proc/<pid>/ns/net), opens the fd, and goes straight back; the fd is then used from home.
// Needs CAP_SYS_ADMIN.

#include <filesystem>
#include <functional>

#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::scanner {

/// Whether this process may setns into other network namespaces (CAP_SYS_ADMIN, effective).
bool hasCapSysAdmin();

/// Enters `ns` (through its first openable name under `netns_dir`, else the ns/net of one of its
/// processes under `proc_fd`; with ns.inode set, only a handle of that inode), calls `open_fd`
/// (which returns an fd, or -1 with errno set), and comes back. The fd, or why it could not be had
/// (the open's errno text when only the open failed). Aborts the process if the thread cannot come
/// back (it would read the wrong namespace from then on; never seen, since it entered with the same
/// rights).
[[nodiscard]] Result<int> openInNamespace(int proc_fd,
                                          const std::filesystem::path& netns_dir,
                                          const NetNamespace& ns,
                                          const std::function<int()>& open_fd);

}  // namespace podnetstat::scanner
