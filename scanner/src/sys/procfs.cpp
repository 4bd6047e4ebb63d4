#include "procfs.h"

#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace podnetstat::scanner::procfs {

UniqueFd openDir(int dirfd, const char* path) {
  return UniqueFd(::openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

int readFileAt(int dirfd, const char* path, std::string& buf, std::size_t max) {
  UniqueFd fd(::openat(dirfd, path, O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    return errno;
  }

  // Reads go to a per-thread scratch that is never zero-filled (a std::string would clear
  // every byte it grows by, on every table of every namespace); only the content is copied out.
  struct Scratch {
    std::unique_ptr<char[]> data;
    std::size_t size = 0;
  };

  thread_local Scratch scratch;
  std::size_t used = 0;
  for (;;) {
    if (scratch.size - used < 65536 && scratch.size < max) {
      const std::size_t grown = std::min(max, std::max<std::size_t>(scratch.size * 2, 131072));
      std::unique_ptr<char[]> bigger(new char[grown]);  // uninitialized on purpose
      if (used != 0) {
        std::memcpy(bigger.get(), scratch.data.get(), used);
      }
      scratch.data = std::move(bigger);
      scratch.size = grown;
    }
    const std::size_t room = std::min(scratch.size, max) - used;
    if (room == 0) {
      break;
    }
    const ssize_t n = ::read(fd.get(), scratch.data.get() + used, room);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      buf.clear();
      return err;
    }
    if (n == 0) {
      break;
    }
    used += static_cast<std::size_t>(n);
  }
  buf.assign(scratch.data.get(), used);
  return 0;
}

std::optional<std::string_view> readLinkAt(int dirfd,
                                           const char* path,
                                           char* buf,
                                           std::size_t size) {
  const ssize_t n = ::readlinkat(dirfd, path, buf, size);
  if (n < 0) {
    return std::nullopt;
  }
  return std::string_view(buf, static_cast<std::size_t>(n));
}

std::optional<std::uint64_t> parseBracketedInode(std::string_view link, std::string_view prefix) {
  // "<prefix>:[<digits>]"
  if (link.size() < prefix.size() + 4 || link.substr(0, prefix.size()) != prefix ||
      link[prefix.size()] != ':' || link[prefix.size() + 1] != '[' || link.back() != ']') {
    return std::nullopt;
  }
  const std::string_view digits = link.substr(prefix.size() + 2, link.size() - prefix.size() - 3);
  if (digits.empty() || digits.size() > 20) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

std::optional<std::int32_t> parsePid(std::string_view name) {
  if (name.empty() || name.size() > 10) {
    return std::nullopt;
  }
  std::int64_t v = 0;
  for (char c : name) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + (c - '0');
  }
  if (v <= 0 || v > INT32_MAX) {
    return std::nullopt;
  }
  return static_cast<std::int32_t>(v);
}

int getdents(int fd, char* buf, std::size_t size) {
  const long n = ::syscall(SYS_getdents64, fd, buf, size);
  return n < 0 ? -errno : static_cast<int>(n);
}

}  // namespace podnetstat::scanner::procfs
