#include "podnetstat/agent/state/net_counters_reader.h"

#include <exception>

namespace podnetstat::agent {

std::vector<NetnsCounters> readNetCounters(const scanner::ScanResult& scan,
                                           const scanner::Scanner& scanner) {
  const auto files = netCounterFiles();
  std::vector<NetnsCounters> out(scan.namespaces.size());
  scanner.parallelFor(out.size(), [&](std::size_t i) {
    const scanner::NetNamespace& ns = scan.namespaces[i];
    if (ns.pids.empty()) {
      return;  // reading it would mean entering it: not for every scan
    }
    try {
      if (auto stats = scanner::readNetStats(scanner.roots(), ns, files)) {
        out[i] = netnsCounters(*stats);
      }
    } catch (const std::exception&) {
      // Out of memory: this namespace stays unread (read == false); a task must not throw.
    }
  });
  return out;
}

}  // namespace podnetstat::agent
