#include "procfs_reader.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "sys/procfs.h"

namespace podnetstat::scanner {

Result<ParseCounts> ProcfsTableReader::read(const NetNamespace& ns,
                                            Transport transport,
                                            std::vector<Socket>& out) {
  thread_local std::string buf;
  if (ns.pids.empty()) {
    return Error{
        "no process lives in this network namespace (the procfs backend reads a namespace "
        "through one of its processes)",
        ErrorKind::Unavailable};
  }
  int last_err = 0;
  for (const std::int32_t pid : ns.pids) {
    std::array<char, 48> path{};
    std::snprintf(path.data(), path.size(), "%d/net/%s", pid, transportName(transport).data());
    const int err = procfs::readFileAt(proc_fd_, path.data(), buf);
    if (err == 0) {
      return parseTable(buf, transport, out);
    }
    last_err = err;
    if (err == ENOENT) {
      // Either the table does not exist in this kernel (udplite on >= 7.1, tcp6 without IPv6),
      // or the process is gone: its net dir tells which.
      std::snprintf(path.data(), path.size(), "%d/net", pid);
      if (::faccessat(proc_fd_, path.data(), F_OK, 0) == 0) {
        return ParseCounts{};
      }
    }
    // Vanished or unreadable: try the namespace's next process.
  }
  return Error{"every process of the namespace failed: " + std::string(std::strerror(last_err)),
               errorKindOfErrno(last_err)};
}

}  // namespace podnetstat::scanner
