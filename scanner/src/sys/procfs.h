#pragma once

// Thin, allocation-aware wrappers over the syscalls the scan makes: dirfd-relative open, read,
// readlink and getdents64. They report errno instead of throwing; races (ENOENT, ESRCH) are the
// caller's to count.

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace podnetstat::scanner::procfs {

/// Owns a file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;

  explicit UniqueFd(int fd) : fd_(fd) {}

  ~UniqueFd() { reset(); }

  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}

  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset(o.release());
    }
    return *this;
  }

  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }

  bool valid() const { return fd_ >= 0; }

  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

  void reset(int fd = -1) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

/// openat(dirfd, path, O_RDONLY|O_DIRECTORY|O_CLOEXEC). Sets errno on failure.
UniqueFd openDir(int dirfd, const char* path);

/// Reads a whole file (at most `max` bytes) into `buf`, reusing its capacity. Returns 0 or errno.
int readFileAt(int dirfd, const char* path, std::string& buf, std::size_t max = SIZE_MAX);

/// readlinkat into `buf`; returns the target, or nullopt with errno set.
std::optional<std::string_view> readLinkAt(int dirfd,
                                           const char* path,
                                           char* buf,
                                           std::size_t size);

/// Calls `fn(name, d_type)` for every entry but "." and "..". Returns 0 or errno.
template <class Fn>
int forEachDirEntry(int dirfd, Fn&& fn);

/// "<prefix>:[<decimal>]" (e.g. "net:[4026531840]", "socket:[143708]") -> the number.
std::optional<std::uint64_t> parseBracketedInode(std::string_view link, std::string_view prefix);

/// A decimal PID directory name -> its value; nullopt for anything else.
std::optional<std::int32_t> parsePid(std::string_view name);

// --- implementation of the template ---

int getdents(int fd, char* buf, std::size_t size);  // getdents64; bytes read or -errno

template <class Fn>
int forEachDirEntry(int dirfd, Fn&& fn) {
  alignas(8) char buf[32768];
  for (;;) {
    const int n = getdents(dirfd, buf, sizeof buf);
    if (n < 0) {
      return -n;
    }
    if (n == 0) {
      return 0;
    }
    for (int off = 0; off < n;) {
      // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
      const char* rec = buf + off;
      std::uint16_t reclen = 0;
      __builtin_memcpy(&reclen, rec + 16, sizeof reclen);
      const auto type = static_cast<unsigned char>(rec[18]);
      const std::string_view name(rec + 19);
      off += reclen;
      if (name == "." || name == "..") {
        continue;
      }
      fn(name, type);
    }
  }
}

}  // namespace podnetstat::scanner::procfs
