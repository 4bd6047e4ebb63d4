// libFuzzer target: the attributes after an inet_diag_msg (INET_DIAG_INFO read by its length,
// INET_DIAG_CONG, INET_DIAG_SKMEMINFO, anything else skipped).

#include <cstdlib>

#include "podnetstat/scanner/tcp_info.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {

void fuzzTcpInfo(std::string_view input) {
  scanner::TcpDetails d;
  (void)scanner::parseTcpDiagAttributes(input, d);
  if (d.info_length > scanner::kTcpInfoKnownLength || d.skmem_count > scanner::kSkMemFieldCount ||
      d.congestion.find('\0') != std::string::npos) {
    std::abort();
  }
  for (std::size_t i = 0; i < scanner::kTcpInfoFieldCount; ++i) {
    const auto f = static_cast<scanner::TcpInfoField>(i);
    const scanner::TcpInfoLayout at = scanner::tcpInfoLayout(f);
    const std::size_t end = at.offset + (at.size == 0 ? 1u : at.size);
    if (d.field(f).has_value() != (end <= d.info_length)) {
      std::abort();  // a field is present exactly when the attribute reached past its end
    }
  }
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzTcpInfo)
