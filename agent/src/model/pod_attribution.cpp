#include "podnetstat/agent/model/pod_attribution.h"

namespace podnetstat::agent {

SocketPods::SocketPods(const scanner::ScanResult& scan, const k8s::PodIndex& index) {
  const auto pods = index.pods();
  if (pods.empty()) {
    return;
  }
  pods_.assign(scan.sockets.size(), kNoPod);
  containers_.assign(scan.sockets.size(), -1);
  for (std::size_t i = 0; i < scan.sockets.size(); ++i) {
    const auto sp = index.ofSocket(scan.sockets[i], scan);
    if (!sp || sp->pod == nullptr) {
      continue;
    }
    pods_[i] = static_cast<std::uint32_t>(sp->pod - pods.data());
    if (sp->container != nullptr) {
      containers_[i] = static_cast<std::int32_t>(sp->container - sp->pod->containers.data());
    }
  }
}

std::optional<k8s::SocketPod> SocketPods::of(std::size_t socket, const k8s::PodIndex& index) const {
  const std::uint32_t number = pod(socket);
  if (number == kNoPod || number >= index.pods().size()) {
    return std::nullopt;
  }
  const k8s::Pod& p = index.pods()[number];
  const std::int32_t c = containers_[socket];
  return k8s::SocketPod{&p, c >= 0 ? &p.containers[static_cast<std::size_t>(c)] : nullptr};
}

}  // namespace podnetstat::agent
