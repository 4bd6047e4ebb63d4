// libFuzzer target: query strings of the API (percent-decoding, splitting, filters).

#include <cstdlib>

#include "podnetstat/agent/api/api_query.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {

void fuzzApiQuery(std::string_view input) {
  for (const bool plus_is_space : {false, true}) {
    const auto decoded = agent::percentDecode(input, plus_is_space);
    if (decoded && decoded->size() > input.size()) {
      std::abort();  // decoding never grows the text
    }
  }
  const auto params = agent::parseQuery(input);
  if (!params) {
    return;
  }
  (void)agent::parseSocketQuery(*params);
  (void)agent::parsePlainQuery(*params, false);
  (void)agent::parsePlainQuery(*params, true);
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzApiQuery)
