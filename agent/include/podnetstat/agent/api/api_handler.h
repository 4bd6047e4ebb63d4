#pragma once

// The REST API of DESIGN.md as a function HttpRequest -> HttpResponse over the current snapshot.
// It never scans and never blocks: every answer is computed from (or streamed out of) the
// snapshot that is current when the request arrives.

#include <functional>
#include <memory>
#include <string>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/http/http_server.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/metrics.h"
#include "podnetstat/k8s/pod_metadata.h"

namespace podnetstat::agent {

/// What /api/v1/node says about the machine (fixed for the life of the agent).
struct NodeInfo {
  std::string node;
  std::string kernel;  // uname -r
  std::string backend = "procfs";
  /// The pod metadata sources (cri, kubelet in /api/v1/node); null: none configured.
  const k8s::PodMetadataCache* pod_cache = nullptr;
  /// Where the cgroups are read ("cgroup" source endpoint), and the namespaces' net files.
  std::string proc_root = "/proc";
  /// Named network namespaces (entered for what needs the namespace itself).
  std::string netns_dir = "/var/run/netns";
};

/// The kernel release of this machine (uname -r), or "unknown".
std::string kernelRelease();

/// The body of a socket list: pieces of pre-rendered JSON (or netstat rows) of the sockets the
/// query selects (and, when `only_pod` is set, of that pod of the snapshot's index only),
/// produced as the connection sends them. Holds its snapshot alive.
std::shared_ptr<BodyStream> makeSocketListStream(std::shared_ptr<const Snapshot> snapshot,
                                                 const SocketQuery& query,
                                                 const k8s::Pod* only_pod = nullptr);

/// The body of /api/v1/node: `snapshot` and `metadata` may be null.
std::string nodeJson(const NodeInfo& node,
                     const Snapshot* snapshot,
                     const k8s::PodMetadata* metadata,
                     const ScanMetrics& metrics);

class ApiHandler {
 public:
  /// `health_only`: serve /healthz and /readyz, nothing else (the --health-listen port).
  /// `http_stats` (may be empty) feeds the HTTP counters of /metrics.
  ApiHandler(const SnapshotStore& store,
             const ScanMetrics& metrics,
             NodeInfo node,
             std::function<HttpServerStats()> http_stats,
             bool health_only);

  /// Thread-safe.
  HttpResponse operator()(const HttpRequest& request) const;

 private:
  const SnapshotStore& store_;
  const ScanMetrics& metrics_;
  NodeInfo node_;
  std::function<HttpServerStats()> http_stats_;
  bool health_only_;
};

}  // namespace podnetstat::agent
