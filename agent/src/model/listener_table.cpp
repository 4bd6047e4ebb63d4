#include "podnetstat/agent/model/listener_table.h"

#include <utility>

#include "podnetstat/scanner/filter.h"

namespace podnetstat::agent {
namespace {

/// The posture of listening socket `i` of `scan`.
Listener classify(const scanner::ScanResult& scan,
                  std::uint32_t i,
                  const k8s::PodIndex& index,
                  const k8s::Pod* pod) {
  const scanner::Socket& s = scan.sockets[i];
  const bool known_ns = s.netns_index < scan.namespaces.size();
  const bool host = known_ns && scan.namespaces[s.netns_index].is_host;
  const k8s::Pod* netns_pod =
      host || !known_ns ? nullptr : index.ofNetns(scan.namespaces[s.netns_index].inode);
  Listener l;
  l.socket = i;
  k8s::ExposureVerdict verdict = k8s::classifyExposure(s, host, netns_pod);
  l.exposure = verdict.exposure;
  l.reason = std::move(verdict.reason);
  const k8s::PortDeclaration declaration = k8s::findDeclaredPort(s, pod);
  l.declared = declaration.declared;
  l.host_port = declaration.host_port;
  for (const std::uint32_t owner : scan.owners(s)) {
    if (owner < scan.processes.size()) {
      l.uid0 = l.uid0.value_or(false) || scan.processes[owner].uid == 0;
    }
  }
  return l;
}

}  // namespace

ListenerTable ListenerTable::build(const scanner::ScanResult& scan,
                                   const k8s::PodIndex& index,
                                   const SocketPods& pods) {
  ListenerTable t;
  const auto pod_list = index.pods();
  t.pod_counts_.resize(pod_list.size());
  for (std::uint32_t i = 0; i < scan.sockets.size(); ++i) {
    if (!scanner::isListening(scan.sockets[i])) {
      continue;
    }
    const std::uint32_t number = pods.pod(i);
    const k8s::Pod* pod = number == kNoPod ? nullptr : &pod_list[number];
    Listener l = classify(scan, i, index, pod);
    if (pod != nullptr) {
      PodListenerCounts& counts = t.pod_counts_[number];
      ++counts.by_exposure[static_cast<std::size_t>(l.exposure)];
      if (l.declared == false) {
        ++counts.undeclared;
      }
    }
    ++t.series_[{number, l.exposure}];
    t.listeners_.push_back(std::move(l));
  }
  return t;
}

}  // namespace podnetstat::agent
