#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "podnetstat/scanner/scan.h"

#include "sys/netns_enter.h"
#include "sys/procfs.h"

namespace podnetstat::scanner {

/// Reads tables through NETLINK_SOCK_DIAG from inside each namespace; see netlink_reader.cpp.
/// Transports the kernel has no sock_diag for, and namespaces it cannot enter but that have a
/// process, go to `fallback` (procfs). With `tcp_info`, TCP dumps also ask for tcp_info,
/// congestion control and memory (Socket::tcp).
class NetlinkTableReader final : public TableReader {
 public:
  NetlinkTableReader(int proc_fd,
                     std::filesystem::path netns_dir,
                     TableReader& fallback,
                     bool tcp_info = false);

  Result<ParseCounts> read(const NetNamespace& ns,
                           Transport transport,
                           std::vector<Socket>& out) override;

  Backend backend() const override { return Backend::Netlink; }

 private:
  Result<int> openDiagSocket(const NetNamespace& ns) const;
  /// Sockets of a namespace whose last dump ran to its end, kept for its next transport: a
  /// namespace is entered about once per worker, not once per transport.
  procfs::UniqueFd takeIdleSocket(std::uint64_t netns);
  void returnIdleSocket(std::uint64_t netns, procfs::UniqueFd fd);
  /// Enters the namespace, calls `open_fd` (returns an fd or -1 with errno), comes back.
  Result<int> openInside(const NetNamespace& ns, const std::function<int()>& open_fd) const;
  /// procfs for a transport sock_diag cannot dump.
  Result<ParseCounts> fallback(const NetNamespace& ns,
                               Transport transport,
                               std::vector<Socket>& out);

  int proc_fd_;
  std::filesystem::path netns_dir_;
  TableReader& fallback_;
  bool tcp_info_;
  std::mutex mutex_;
  std::map<std::uint64_t, std::vector<procfs::UniqueFd>> idle_;
};

}  // namespace podnetstat::scanner
