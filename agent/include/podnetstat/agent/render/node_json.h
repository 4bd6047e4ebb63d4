#pragma once

// The body of /api/v1/node: the machine, the backend, the pod sources and their health, the last
// scan and the last failure.

#include <string>

#include "podnetstat/agent/model/scan_metrics.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// What /api/v1/node says about the machine (fixed for the life of the agent).
struct NodeInfo {
  std::string node;
  std::string kernel;  // uname -r
  /// The backend the scans use (resolved: never Auto), shown until the first scan says.
  scanner::Backend backend = scanner::Backend::Procfs;
  /// The pod metadata sources (cri, kubelet in /api/v1/node); null: none configured.
  const k8s::PodMetadataCache* pod_cache = nullptr;
  /// Where the cgroups are read ("cgroup" source endpoint), and the namespaces' net files.
  std::string proc_root = "/proc";
  /// Named network namespaces (entered for what needs the namespace itself).
  std::string netns_dir = "/var/run/netns";
};

/// The body of /api/v1/node: `snapshot` and `metadata` may be null.
std::string nodeJson(const NodeInfo& node,
                     const Snapshot* snapshot,
                     const k8s::PodMetadata* metadata,
                     const ScanMetrics& metrics);

}  // namespace podnetstat::agent
