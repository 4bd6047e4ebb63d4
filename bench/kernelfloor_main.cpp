// kernelfloor: what the kernel alone costs, single-threaded, with no parsing -- the floor any
// /proc reader pays. The benchmark compares podnetstat's wall time with it.
//
//   kernelfloor procfs PID...   read tcp, tcp6, udp, udp6, udplite, udplite6, raw and raw6 of
//                               /proc/PID/net (one PID per namespace): the tables of -tuwanp
//   kernelfloor fds             readlink every /proc/*/fd/* entry
//   kernelfloor diag PID...     enter each PID's network namespace, open a sock_diag socket,
//                               come back, and dump tcp, tcp6, udp, udp6, udplite and udplite6;
//                               raw and raw6 from /proc/PID/net (no raw_diag on these kernels,
//                               podnetstat falls back the same way)
//
// Prints "<mode> <milliseconds> <bytes or links>".

#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::size_t readAll(const std::string& path, std::vector<char>& buf) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) {
      break;
    }
    total += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return total;
}

int procfsFloor(int argc, char** argv) {
  std::vector<char> buf(1 << 20);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t bytes = 0;
  for (int i = 0; i < argc; ++i) {
    for (const char* table :
         {"tcp", "tcp6", "udp", "udp6", "udplite", "udplite6", "raw", "raw6"}) {
      bytes += readAll(std::string("/proc/") + argv[i] + "/net/" + table, buf);
    }
  }
  std::printf("procfs %.3f %zu\n", msSince(t0), bytes);
  return 0;
}

int fdFloor() {
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t links = 0;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) {
    return 1;
  }
  while (dirent* p = ::readdir(proc)) {
    if (p->d_name[0] < '0' || p->d_name[0] > '9') {
      continue;
    }
    const std::string dir = std::string("/proc/") + p->d_name + "/fd";
    DIR* fds = ::opendir(dir.c_str());
    if (fds == nullptr) {
      continue;
    }
    char target[64];
    while (dirent* f = ::readdir(fds)) {
      if (f->d_name[0] == '.') {
        continue;
      }
      if (::readlinkat(::dirfd(fds), f->d_name, target, sizeof target) > 0) {
        ++links;
      }
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  std::printf("fds %.3f %zu\n", msSince(t0), links);
  return 0;
}

/// Sends a dump request and reads the answer to the end; returns the bytes received.
template <class Request>
std::size_t dumpAll(int nl, const Request& req, std::vector<char>& buf) {
  struct {
    nlmsghdr header;
    Request body;
  } msg{};

  msg.header.nlmsg_len = sizeof msg;
  msg.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  msg.body = req;
  if (::send(nl, &msg, sizeof msg, 0) < 0) {
    return 0;
  }
  std::size_t total = 0;
  for (;;) {
    const ssize_t n = ::recv(nl, buf.data(), buf.size(), 0);
    if (n <= 0) {
      return total;
    }
    total += static_cast<std::size_t>(n);
    for (std::size_t off = 0; off + sizeof(nlmsghdr) <= static_cast<std::size_t>(n);) {
      const auto* h = reinterpret_cast<const nlmsghdr*>(buf.data() + off);
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR || h->nlmsg_len == 0) {
        return total;
      }
      off += (h->nlmsg_len + 3U) & ~3U;
    }
  }
}

int diagFloor(int argc, char** argv) {
  std::vector<char> buf(1 << 16);
  std::vector<char> procfs_buf(1 << 20);
  const int home = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  const auto t0 = std::chrono::steady_clock::now();
  std::size_t bytes = 0;
  for (int i = 0; i < argc; ++i) {
    const int ns =
        ::open((std::string("/proc/") + argv[i] + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0 || ::setns(ns, CLONE_NEWNET) != 0) {
      std::perror("setns");
      return 1;
    }
    const int nl = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    ::setns(home, CLONE_NEWNET);
    ::close(ns);
    for (const int family : {AF_INET, AF_INET6}) {
      for (const int protocol : {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_UDPLITE}) {
        inet_diag_req_v2 req{};
        req.sdiag_family = static_cast<std::uint8_t>(family);
        req.sdiag_protocol = static_cast<std::uint8_t>(protocol);
        req.idiag_states = ~0U;
        bytes += dumpAll(nl, req, buf);
      }
    }
    ::close(nl);
    for (const char* table : {"raw", "raw6"}) {
      bytes += readAll(std::string("/proc/") + argv[i] + "/net/" + table, procfs_buf);
    }
  }
  std::printf("diag %.3f %zu\n", msSince(t0), bytes);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "procfs") == 0) {
    return procfsFloor(argc - 2, argv + 2);
  }
  if (argc >= 2 && std::strcmp(argv[1], "fds") == 0) {
    return fdFloor();
  }
  if (argc >= 2 && std::strcmp(argv[1], "diag") == 0) {
    return diagFloor(argc - 2, argv + 2);
  }
  std::fprintf(stderr,
               "usage: kernelfloor procfs PID... | kernelfloor fds | kernelfloor diag PID...\n");
  return 2;
}
