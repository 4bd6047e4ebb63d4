// libFuzzer target: the CRI verbose info parsers (sandbox and container).

#include <map>
#include <string>

#include "podnetstat/k8s/cri_info.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {

void fuzzCriInfo(std::string_view input) {
  (void)k8s::parseSandboxInfo(input);
  (void)k8s::parseContainerInfo(input);
  const std::map<std::string, std::string> under_info = {{"info", std::string(input)}};
  const std::map<std::string, std::string> under_pid = {{"pid", std::string(input)}};
  for (const auto* info : {&under_info, &under_pid}) {
    (void)k8s::parseSandboxVerboseInfo(*info);
    (void)k8s::parseContainerVerboseInfo(*info);
  }
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzCriInfo)
