// CRI endpoint names: what the flag accepts and which sockets "auto" probes. Compiled into the
// library and into the CRI module (cri_module.h).

#include <string>
#include <string_view>
#include <vector>

#include "cri_module.h"

namespace podnetstat::k8s {

std::optional<std::string> criTargetOf(const std::string& endpoint) {
  constexpr std::string_view kUnixScheme = "unix://";
  if (endpoint.starts_with(kUnixScheme) && endpoint.size() > kUnixScheme.size() + 1 &&
      endpoint[kUnixScheme.size()] == '/') {
    return endpoint;
  }
  if (endpoint.starts_with('/')) {
    return std::string(kUnixScheme) + endpoint;
  }
  return std::nullopt;
}

const std::vector<std::string>& defaultCriSocketPaths() {
  static const std::vector<std::string> kPaths = {
      "/run/containerd/containerd.sock",
      "/var/run/crio/crio.sock",
      "/run/crio/crio.sock",
      "/run/k3s/containerd/containerd.sock",
      "/run/host-containerd/containerd.sock",
      "/run/cri-dockerd.sock",
  };
  return kPaths;
}

}  // namespace podnetstat::k8s
