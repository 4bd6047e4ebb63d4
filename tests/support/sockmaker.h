#pragma once

// Runs the sockmaker helper (sockmaker_main.cpp) inside a network namespace and keeps what it
// reported: one entry per socket it opened, with the socket's inode and its owners.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "netns.h"

namespace podnetstat::testing {

/// One line of sockmaker's report.
struct SockmakerSocket {
  std::string label;        // e.g. "tcp4-listen-shared"; the prefix names the transport
  std::uint64_t inode = 0;  // 0: the socket has no fd (TIME_WAIT, accept queue, SYN_RECV)
  std::vector<pid_t> pids;  // owners, ascending; empty when inode is 0
};

/// Labels of sockets that exist but that no netstat-like listing shows: a TCP socket that is
/// only bound, and an ICMP ping socket (only in /proc/net/icmp).
bool isInvisibleSocket(std::string_view label);

class Sockmaker {
 public:
  /// Starts `binary` (default: the built sockmaker) with `args` in `ns` and waits for READY.
  /// Throws std::runtime_error when it fails or is not ready within `ready_timeout`.
  Sockmaker(const NetNamespace& ns,
            const std::vector<std::string>& args,
            std::filesystem::path binary = {},
            std::chrono::milliseconds ready_timeout = std::chrono::seconds(30));

  pid_t pid() const { return process_->pid(); }

  const std::vector<SockmakerSocket>& sockets() const { return sockets_; }

  /// The socket with this label, or nullptr.
  const SockmakerSocket* find(std::string_view label) const;

  /// `SKIP <label> <reason>` lines: optional sockets that could not be made.
  const std::vector<std::string>& skipped() const { return skipped_; }

  /// Reads report lines after READY (connections accepted from peers) until `count` sockets
  /// with `label` are known; false on timeout.
  bool waitFor(std::string_view label, int count, std::chrono::milliseconds timeout);

  Subprocess& process() { return *process_; }

 private:
  void addLine(const std::string& line);

  std::unique_ptr<Subprocess> process_;
  std::vector<SockmakerSocket> sockets_;
  std::vector<std::string> skipped_;
};

}  // namespace podnetstat::testing
