// One scan observed: every socket's identity looked up in the previous scan's ages (kept, or
// new at this scan's start), the pods' first scans the same way by UID, then each pod's
// listeners compared with the previous scan's (appearances, disappearances) and with the pod's
// first scan (late ones). What the scan no longer has is dropped with the previous maps.

#include "podnetstat/agent/state/object_ages.h"

#include <utility>
#include <vector>

namespace podnetstat::agent {

ScanAges ObjectAges::observe(const Snapshot& snapshot) {
  const std::uint64_t scan_number = ++scans_;
  const scanner::ScanResult& scan = snapshot.scan();
  const auto n = static_cast<std::uint32_t>(scan.sockets.size());
  ScanAges out;
  out.socket_first_seen_ms.resize(n);
  std::vector<std::uint64_t> first_scans(n);
  std::vector<SocketKey> keys;
  keys.reserve(n);
  SocketAges sockets;
  sockets.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    keys.push_back(socketKeyOf(scan, i));
    SocketAge age{scan.started_unix_ms, scan_number};
    if (const auto before = sockets_.find(keys.back()); before != sockets_.end()) {
      age = before->second;
    }
    const auto [it, added] = sockets.try_emplace(keys.back(), age);
    out.socket_first_seen_ms[i] = it->second.first_seen_ms;
    first_scans[i] = it->second.first_scan;
  }
  sockets_ = std::move(sockets);

  const auto pods = snapshot.podIndex().pods();
  std::unordered_map<std::string, PodAge> pod_ages;
  pod_ages.reserve(pods.size());
  for (const k8s::Pod& pod : pods) {
    PodAge age{scan_number, {}};
    if (const auto before = pods_.find(pod.uid); before != pods_.end()) {
      age = before->second;
    }
    pod_ages.try_emplace(pod.uid, age);
  }

  out.pod_late_listeners.assign(pods.size(), 0);
  ListenerOwners listeners;
  for (const Listener& l : snapshot.listeners().listeners()) {
    const std::uint32_t p = snapshot.socketPod(l.socket);
    if (p == kNoPod) {
      continue;
    }
    const std::string& uid = pods[p].uid;
    PodAge& age = pod_ages[uid];
    if (first_scans[l.socket] > age.first_scan) {
      ++out.pod_late_listeners[p];
    }
    const SocketKey& key = keys[l.socket];
    const auto before = listeners_.find(key);
    if (age.first_scan < scan_number && (before == listeners_.end() || before->second != uid)) {
      ++age.churn.appearances;
    }
    listeners.try_emplace(key, uid);
  }
  for (const auto& [key, uid] : listeners_) {
    const auto now = listeners.find(key);
    const auto pod = pod_ages.find(uid);
    if (pod != pod_ages.end() && (now == listeners.end() || now->second != uid)) {
      ++pod->second.churn.disappearances;
    }
  }
  listeners_ = std::move(listeners);
  pods_ = std::move(pod_ages);

  out.pod_listener_churn.reserve(pods.size());
  for (const k8s::Pod& pod : pods) {
    out.pod_listener_churn.push_back(pods_[pod.uid].churn);
  }
  return out;
}

}  // namespace podnetstat::agent
