// libFuzzer target: the /proc/<pid>/cgroup parser.

#include <cstdlib>

#include "podnetstat/k8s/cgroup.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {

void fuzzCgroup(std::string_view input) {
  const auto whole = k8s::parseProcCgroup(input);
  const auto path = k8s::parseCgroupPath(input);
  for (const auto* id : {&whole, &path}) {
    if (*id && !(*id)->container_id.empty() && !k8s::isContainerId((*id)->container_id)) {
      std::abort();  // a container ID is always 64 hex
    }
  }
  if (const auto uid = k8s::normalizePodUid(input)) {
    if (k8s::normalizePodUid(*uid) != uid) {
      std::abort();  // normalising is idempotent
    }
  }
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzCgroup)
