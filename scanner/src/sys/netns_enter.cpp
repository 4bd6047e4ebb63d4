#include "netns_enter.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "procfs.h"

namespace podnetstat::scanner {
namespace {

using procfs::UniqueFd;

/// This thread's own namespace, to come back to after setns.
int homeNamespaceFd() {
  thread_local UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  return home.get();
}

}  // namespace

bool hasCapSysAdmin() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  std::array<__user_cap_data_struct, 2> data{};
  if (::syscall(SYS_capget, &header, data.data()) != 0) {
    return false;
  }
  return (data[CAP_SYS_ADMIN / 32].effective & (1U << (CAP_SYS_ADMIN % 32))) != 0;
}

Result<int> openInNamespace(int proc_fd,
                            const std::filesystem::path& netns_dir,
                            const NetNamespace& ns,
                            const std::function<int()>& open_fd) {
  // A name may have been bound to another namespace, a PID reused by another process, since
  // `ns` was found: only a handle to the namespace of that inode will do.
  UniqueFd ns_fd;
  int open_err = ENOENT;
  const auto take = [&](int fd) {
    UniqueFd candidate(fd);
    struct stat st {};
    if (!candidate.valid()) {
      open_err = errno;
    } else if (ns.inode != 0 && (::fstat(candidate.get(), &st) != 0 || st.st_ino != ns.inode)) {
      open_err = ESRCH;
    } else {
      ns_fd = std::move(candidate);
    }
  };
  for (std::size_t i = 0; !ns_fd.valid() && i < ns.names.size(); ++i) {
    take(::open((netns_dir / ns.names[i]).c_str(), O_RDONLY | O_CLOEXEC));
  }
  for (std::size_t i = 0; !ns_fd.valid() && i < ns.pids.size(); ++i) {
    std::array<char, 32> path{};
    std::snprintf(path.data(), path.size(), "%d/ns/net", ns.pids[i]);
    take(::openat(proc_fd, path.data(), O_RDONLY | O_CLOEXEC));
  }
  if (!ns_fd.valid()) {
    return Error{"cannot open the namespace: " +
                     std::string(open_err == ESRCH ? "it is gone (its names and processes now "
                                                     "lead elsewhere)"
                                                   : std::strerror(open_err)),
                 errorKindOfErrno(open_err)};
  }
  const int home = homeNamespaceFd();
  if (home < 0) {
    return Error{"cannot open this thread's own namespace", ErrorKind::Unavailable};
  }
  if (::setns(ns_fd.get(), CLONE_NEWNET) != 0) {
    const int err = errno;
    return Error{"setns: " + std::string(std::strerror(err)), errorKindOfErrno(err)};
  }
  const int fd = open_fd();
  const int fd_err = errno;
  if (::setns(home, CLONE_NEWNET) != 0) {
    // Stranded in another namespace: this thread must not read anything else.
    std::abort();
  }
  if (fd < 0) {
    return Error{std::string(std::strerror(fd_err)), errorKindOfErrno(fd_err)};
  }
  return fd;
}

}  // namespace podnetstat::scanner
