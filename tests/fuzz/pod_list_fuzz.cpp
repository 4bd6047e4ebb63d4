// libFuzzer target: the kubelet PodList parser.

#include "podnetstat/k8s/pod_list.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {

void fuzzPodList(std::string_view input) {
  const auto list = k8s::parsePodList(input);
  if (list) {
    for (const auto& pod : list->pods) {
      for (const auto& c : pod.containers) {
        (void)k8s::containerKindName(c.kind);
      }
    }
  }
  (void)k8s::splitContainerId(input);
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzPodList)
