#pragma once

// The REST API of DESIGN.md as a function HttpRequest -> HttpResponse: a route table (the
// paths, in api_handler.cpp) whose answers read the current snapshot's pages. It never scans:
// the socket, pod and namespace lists are streamed out of (or copied from) the snapshot that is
// current when the request arrives; only the netstat views (net_views.h) read a few small files
// of one namespace when asked.

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/api/net_views.h"
#include "podnetstat/agent/api/watch_stream.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/http/http_server.h"
#include "podnetstat/agent/model/scan_metrics.h"
#include "podnetstat/agent/render/node_json.h"
#include "podnetstat/agent/state/snapshot_store.h"

namespace podnetstat::agent {

/// The kernel release of this machine (uname -r), or "unknown".
std::string kernelRelease();

class ApiHandler {
 public:
  /// `health_only`: serve /healthz and /readyz, nothing else (the --health-listen port).
  /// `http_stats` (may be empty) feeds the HTTP counters of /metrics. Without a `watch` context
  /// (its history), `watch=true` is refused (400).
  ApiHandler(const SnapshotStore& store,
             const ScanMetrics& metrics,
             NodeInfo node,
             std::function<HttpServerStats()> http_stats,
             bool health_only,
             WatchContext watch = {});

  /// Thread-safe.
  HttpResponse operator()(const HttpRequest& request) const;

  /// A request on its way through the table: its path segments (percent-decoded) and query.
  struct Call {
    const HttpRequest& request;
    std::vector<std::string> segments;
    std::string_view query;
  };

 private:
  using Answer = HttpResponse (ApiHandler::*)(const Call&) const;

  struct Route {
    std::vector<std::string_view> path;  // "*" matches any non-empty segment
    Answer answer;
    bool health = false;  // also on the health-only listener
    /// The segment that must name a netstat view (net_views.h), or -1.
    int view_segment = -1;
  };

  static const std::vector<Route>& routes();
  static bool matches(const Route& route, std::span<const std::string> segments);

  HttpResponse healthz(const Call& call) const;
  HttpResponse readyz(const Call& call) const;
  HttpResponse metrics(const Call& call) const;
  HttpResponse node(const Call& call) const;
  HttpResponse sockets(const Call& call) const;
  HttpResponse netnsList(const Call& call) const;
  HttpResponse pods(const Call& call) const;
  HttpResponse namespacePods(const Call& call) const;
  HttpResponse podSocketsByName(const Call& call) const;
  HttpResponse podSocketsByUid(const Call& call) const;
  HttpResponse listeners(const Call& call) const;
  HttpResponse netnsView(const Call& call) const;
  HttpResponse podView(const Call& call) const;

  /// The namespace a netstat view reads, and the pod it was asked through (null: none).
  struct ViewTarget {
    std::uint32_t netns_index = 0;
    const k8s::Pod* pod = nullptr;
  };

  /// A netstat view of the namespace `target` finds in the snapshot (its error: the answer).
  HttpResponse netView(const Call& call,
                       NetView view,
                       const std::function<Result<ViewTarget>(const Snapshot&)>& target) const;

  /// A list of the pods of the snapshot, all or those of one Kubernetes namespace.
  HttpResponse podList(const Call& call, const std::string* namespace_name) const;
  /// The answer to `watch=true` on a list route (its query parsed, its pod found).
  HttpResponse watchAnswer(const WatchQuery& watch,
                           std::shared_ptr<const SnapshotPages> pages,
                           WatchSelection selection,
                           OutputFormat format) const;
  /// A socket list of the snapshot, all or one pod's (`pod_of` finds it; 404 when it does not).
  HttpResponse socketList(const Call& call,
                          const std::function<const k8s::Pod*(const Snapshot&)>& pod_of,
                          const std::string& missing) const;

  const SnapshotStore& store_;
  const ScanMetrics& metrics_;
  NodeInfo node_;
  std::function<HttpServerStats()> http_stats_;
  bool health_only_;
  WatchContext watch_;
};

}  // namespace podnetstat::agent
