#include "podnetstat/agent/cli/pod_sources.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

#include "podnetstat/k8s/cri.h"

#include <CLI/CLI.hpp>

namespace podnetstat::agent {

Result<PodSourceFlags> PodSourceFlags::resolved() const {
  PodSourceFlags out = *this;
  if (out.cri_endpoint != "auto" && out.cri_endpoint != "none" &&
      !out.cri_endpoint.starts_with("unix://") && !out.cri_endpoint.starts_with('/')) {
    return Error{"--cri-endpoint: expected auto, none, unix:///path or /path, got '" +
                 out.cri_endpoint + "'"};
  }
  if (out.kubelet_url == "auto") {
    const char* host_ip = std::getenv("HOST_IP");
    out.kubelet_url =
        host_ip != nullptr && *host_ip != '\0' ? k8s::defaultKubeletUrl(host_ip) : "none";
  }
  return out;
}

Result<k8s::PodMetadataSources> makePodSources(const PodSourceFlags& flags) {
  k8s::PodMetadataSources sources;
  if (flags.cri_endpoint != "none") {
    auto cri = k8s::makeCriClient({.endpoint = flags.cri_endpoint});
    if (!cri) {
      return Error{"--cri-endpoint: " + cri.error().message};
    }
    sources.cri = std::move(*cri);
  }
  if (flags.kubelet_url != "none" && !flags.kubelet_url.empty()) {
    auto kubelet = k8s::makeKubeletClient({.url = flags.kubelet_url,
                                           .ca_file = flags.kubelet_ca,
                                           .insecure_skip_verify = flags.kubelet_insecure,
                                           .token_file = flags.kubelet_token_file});
    if (!kubelet) {
      return Error{"--kubelet-url: " + kubelet.error().message};
    }
    sources.kubelet = std::move(*kubelet);
  }
  if (!flags.log_dir.empty() && flags.log_dir != "none") {
    std::error_code ec;
    if (std::filesystem::is_directory(flags.log_dir, ec)) {
      sources.log_dir = flags.log_dir;
    }
  }
  return sources;
}

void addPodSourceFlags(CLI::App& app, PodSourceFlags& flags, bool with_env) {
  const auto env = [&](CLI::Option* option, const char* name) {
    if (with_env) {
      option->envname(name);
    }
    return option;
  };
  env(app.add_option("--cri-endpoint", flags.cri_endpoint,
                     "Container runtime (CRI) socket: auto (probe the known paths), none, "
                     "unix:///path"),
      "PODNETSTAT_CRI_ENDPOINT")
      ->capture_default_str();
  env(app.add_option("--kubelet-url", flags.kubelet_url,
                     "kubelet API: auto (https://$HOST_IP:10250 when HOST_IP is set), none, URL"),
      "PODNETSTAT_KUBELET_URL")
      ->capture_default_str();
  env(app.add_option("--kubelet-ca", flags.kubelet_ca, "CA file that signed the kubelet's cert"),
      "PODNETSTAT_KUBELET_CA");
  env(app.add_flag("--kubelet-insecure-skip-verify", flags.kubelet_insecure,
                   "Do not verify the kubelet's certificate"),
      "PODNETSTAT_KUBELET_INSECURE_SKIP_VERIFY");
  env(app.add_option("--kubelet-token-file", flags.kubelet_token_file,
                     "Bearer token for the kubelet (re-read every few minutes)"),
      "PODNETSTAT_KUBELET_TOKEN_FILE")
      ->capture_default_str();
  env(app.add_option("--pod-log-dir", flags.log_dir,
                     "Kubelet's pod log directory, for pod names without CRI/kubelet (none: off)"),
      "PODNETSTAT_POD_LOG_DIR")
      ->capture_default_str();
}

}  // namespace podnetstat::agent
