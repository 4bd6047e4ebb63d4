// libFuzzer target: the /proc/net table parsers (every inet transport and unix).

#include <cstdlib>
#include <vector>

#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/proc_net_parser.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {

void fuzzProcNet(std::string_view input) {
  if (input.empty()) {
    return;
  }
  const auto transport =
      scanner::kAllTransports[static_cast<unsigned char>(input[0]) % scanner::kTransportCount];
  const std::string_view text = input.substr(1);
  std::vector<scanner::Socket> sockets;
  const scanner::ParseCounts counts = scanner::parseTable(text, transport, sockets);
  if (counts.rows != sockets.size()) {
    std::abort();  // every row counted is a socket appended
  }
  for (const auto& s : sockets) {
    if (s.transport != transport) {
      std::abort();
    }
  }
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzProcNet)
