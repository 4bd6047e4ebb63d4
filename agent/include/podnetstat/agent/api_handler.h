#pragma once

// The REST API of DESIGN.md as a function HttpRequest -> HttpResponse over the current snapshot.
// It never scans and never blocks: every answer is computed from (or streamed out of) the
// snapshot that is current when the request arrives.

#include <functional>
#include <memory>
#include <string>

#include "podnetstat/agent/api_query.h"
#include "podnetstat/agent/http_message.h"
#include "podnetstat/agent/http_server.h"
#include "podnetstat/agent/metrics.h"
#include "podnetstat/agent/snapshot.h"

namespace podnetstat::agent {

/// What /api/v1/node says about the machine (fixed for the life of the agent).
struct NodeInfo {
  std::string node;
  std::string kernel;  // uname -r
  std::string backend = "procfs";
};

/// The kernel release of this machine (uname -r), or "unknown".
std::string kernelRelease();

/// The body of a socket list: pieces of pre-rendered JSON (or netstat rows) of the sockets the
/// query selects, produced as the connection sends them. Holds its snapshot alive.
std::shared_ptr<BodyStream> makeSocketListStream(std::shared_ptr<const Snapshot> snapshot,
                                                 const SocketQuery& query);

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
