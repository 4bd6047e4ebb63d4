#include "netns_enter.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
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
  UniqueFd ns_fd;
  for (const std::string& name : ns.names) {
    ns_fd.reset(::open((netns_dir / name).c_str(), O_RDONLY | O_CLOEXEC));
    if (ns_fd.valid()) {
      break;
    }
  }
  for (std::size_t i = 0; !ns_fd.valid() && i < ns.pids.size(); ++i) {
    std::array<char, 32> path{};
    std::snprintf(path.data(), path.size(), "%d/ns/net", ns.pids[i]);
    ns_fd.reset(::openat(proc_fd, path.data(), O_RDONLY | O_CLOEXEC));
  }
  if (!ns_fd.valid()) {
    return Error{"cannot open the namespace: " + std::string(std::strerror(errno))};
  }
  const int home = homeNamespaceFd();
  if (home < 0) {
    return Error{"cannot open this thread's own namespace"};
  }
  if (::setns(ns_fd.get(), CLONE_NEWNET) != 0) {
    return Error{"setns: " + std::string(std::strerror(errno))};
  }
  const int fd = open_fd();
  const int open_err = errno;
  if (::setns(home, CLONE_NEWNET) != 0) {
    // Stranded in another namespace: this thread must not read anything else.
    std::abort();
  }
  if (fd < 0) {
    return Error{std::string(std::strerror(open_err))};
  }
  return fd;
}

}  // namespace podnetstat::scanner
