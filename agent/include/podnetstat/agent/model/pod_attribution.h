#pragma once

// Which pod, and which container of it, holds each socket of a scan. The pod index is asked once
// per socket (k8s::PodIndex::ofSocket) and the answer kept as numbers, so that every answer,
// table and series of that scan reads the same attribution. The agent's snapshot and
// `podnetstat list --pods` both use it.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// The pods of one scan: its pod index and the metadata it was built from (null: no pod sources).
struct PodAttribution {
  k8s::PodIndex index;
  std::shared_ptr<const k8s::PodMetadata> metadata;
};

/// "No pod", where a pod number is expected.
inline constexpr std::uint32_t kNoPod = UINT32_MAX;

/// The pod and container of every socket of one scan.
class SocketPods {
 public:
  SocketPods() = default;  // no pods

  /// Attributes every socket of `scan` with `index`, which was built from that scan.
  SocketPods(const scanner::ScanResult& scan, const k8s::PodIndex& index);

  /// The pod number (into the index's pods()) of scan.sockets[socket], or kNoPod.
  std::uint32_t pod(std::size_t socket) const {
    return socket < pods_.size() ? pods_[socket] : kNoPod;
  }

  /// The pod and container of scan.sockets[socket] as pointers into `index` (the index these
  /// were computed with); nullopt for a socket of no pod.
  std::optional<k8s::SocketPod> of(std::size_t socket, const k8s::PodIndex& index) const;

 private:
  std::vector<std::uint32_t> pods_;       // empty when the index has no pods
  std::vector<std::int32_t> containers_;  // index into the pod's containers, -1 for none
};

}  // namespace podnetstat::agent
