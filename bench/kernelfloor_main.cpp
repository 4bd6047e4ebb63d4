// kernelfloor: what the kernel alone costs, single-threaded, with no parsing -- the floor any
// /proc reader pays. The benchmark compares podnetstat's wall time with it.
//
//   kernelfloor procfs PID...   read tcp, tcp6, udp, udp6, raw, raw6 and unix of /proc/PID/net
//                               (one PID per namespace)
//   kernelfloor fds             readlink every /proc/*/fd/* entry
//
// Prints "<mode> <milliseconds> <bytes or links>".

#include <dirent.h>
#include <fcntl.h>
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
    for (const char* table : {"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix"}) {
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

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "procfs") == 0) {
    return procfsFloor(argc - 2, argv + 2);
  }
  if (argc >= 2 && std::strcmp(argv[1], "fds") == 0) {
    return fdFloor();
  }
  std::fprintf(stderr, "usage: kernelfloor procfs PID... | kernelfloor fds\n");
  return 2;
}
