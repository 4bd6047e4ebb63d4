#pragma once

// The pod metadata source flags shared by `serve` and `list --pods`: the container runtime (CRI),
// the kubelet and the pod log directory.

#include <string>

#include "podnetstat/k8s/kubelet.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/result.h"

namespace CLI {
class App;
}  // namespace CLI

namespace podnetstat::agent {

/// The pod metadata source flags shared by `serve` and `list --pods`.
struct PodSourceFlags {
  std::string cri_endpoint = "auto";  // auto | none | unix:///path | /path
  std::string kubelet_url = "auto";   // auto | none | URL
  std::string kubelet_ca;
  bool kubelet_insecure = false;
  std::string kubelet_token_file = k8s::kServiceAccountTokenFile;
  std::string log_dir = "/var/log/pods";

  /// Checks the values and resolves kubelet "auto" ($HOST_IP, else none).
  [[nodiscard]] Result<PodSourceFlags> resolved() const;
};

/// Adds --cri-endpoint, --kubelet-url, --kubelet-ca, --kubelet-insecure-skip-verify,
/// --kubelet-token-file and --pod-log-dir (with PODNETSTAT_<FLAG> when `with_env`).
void addPodSourceFlags(CLI::App& app, PodSourceFlags& flags, bool with_env);

/// The sources of resolved flags (a CRI client is made even when no socket is there yet).
[[nodiscard]] Result<k8s::PodMetadataSources> makePodSources(const PodSourceFlags& flags);

}  // namespace podnetstat::agent
