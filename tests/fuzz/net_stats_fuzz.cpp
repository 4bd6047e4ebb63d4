// libFuzzer target: the parsers of the netstat modes' files (dev, route, ipv6_route, snmp and
// netstat, snmp6, igmp, igmp6) and of rtnetlink's RTM_NEWLINK messages.

#include <cstdlib>
#include <vector>

#include "podnetstat/scanner/net_stats.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {
namespace {

template <class T, class Parse>
void check(std::string_view text, Parse parse) {
  std::vector<T> out;
  const scanner::ParseCounts counts = parse(text, out);
  if (counts.rows != out.size()) {
    std::abort();  // every row counted is a value appended
  }
}

}  // namespace

void fuzzNetStats(std::string_view input) {
  if (input.empty()) {
    return;
  }
  const std::string_view text = input.substr(1);
  switch (static_cast<unsigned char>(input[0]) % 8) {
    case 0:
      check<scanner::InterfaceStats>(text, scanner::parseNetDev);
      break;
    case 1:
      check<scanner::Ipv4Route>(text, scanner::parseIpv4Routes);
      break;
    case 2:
      check<scanner::Ipv6Route>(text, scanner::parseIpv6Routes);
      break;
    case 3:
      check<scanner::Counter>(text, scanner::parseCounterPairs);
      break;
    case 4:
      check<scanner::Counter>(text, scanner::parseSnmp6);
      break;
    case 5:
      check<scanner::Ipv4Group>(text, scanner::parseIgmp);
      break;
    case 6:
      check<scanner::Ipv6Group>(text, scanner::parseIgmp6);
      break;
    default: {
      std::vector<scanner::LinkAttributes> links;
      const scanner::ParseCounts counts = scanner::parseLinkMessages(text, links);
      if (counts.rows != links.size()) {
        std::abort();
      }
      for (const auto& l : links) {
        if (l.name.empty()) {
          std::abort();  // a link without a name is skipped, never returned
        }
      }
    }
  }
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzNetStats)
