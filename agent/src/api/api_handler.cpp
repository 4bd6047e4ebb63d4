#include "podnetstat/agent/api/api_handler.h"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <string_view>
#include <utility>
#include <vector>

#include "podnetstat/agent/api/listeners.h"
#include "podnetstat/agent/api/net_views.h"
#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/socket_json.h"

namespace podnetstat::agent {

namespace {

// The size of the pieces a list is sent in: what each client receiving a list holds in memory
// (about twice this, with the copy on its way to the socket).
constexpr std::size_t kChunkBytes = 16 * 1024;
constexpr const char* kJsonType = "application/json";
constexpr const char* kTextType = "text/plain; charset=utf-8";
constexpr const char* kMetricsType = "text/plain; version=0.0.4; charset=utf-8";

HttpResponse json(unsigned status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = kJsonType;
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

HttpResponse error(unsigned status, std::string_view message) {
  HttpResponse r = json(status, errorJson(status, message));
  if (status == 503) {
    r.headers.emplace_back("Retry-After", "1");
  }
  if (status == 405) {
    r.headers.emplace_back("Allow", "GET, HEAD");
  }
  return r;
}

HttpResponse notReady() {
  return error(503, "no snapshot yet: the first scan has not finished");
}

class SocketListStream : public BodyStream {
 public:
  SocketListStream(std::shared_ptr<const Snapshot> snapshot,
                   std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges,
                   scanner::Filter filter,
                   OutputFormat format,
                   scanner::TransportSet transports,
                   std::vector<char> pod_allowed)
      : snapshot_(std::move(snapshot)),
        ranges_(std::move(ranges)),
        filter_(std::move(filter)),
        format_(format),
        pod_allowed_(std::move(pod_allowed)) {
    const bool any_inet = [&] {
      for (auto t : scanner::kAllTransports) {
        if (t != scanner::Transport::Unix && transports.contains(t)) {
          return true;
        }
      }
      return false;
    }();
    if (format_ == OutputFormat::Json) {
      passes_ = {Pass::All};
    } else {
      // netstat prints the inet block, then the unix block, each under its own header.
      if (any_inet) {
        passes_.push_back(Pass::Inet);
      }
      if (transports.contains(scanner::Transport::Unix)) {
        passes_.push_back(Pass::Unix);
      }
    }
    resetPass();
  }

  bool next(std::string& out) override {
    if (!started_) {
      started_ = true;
      if (format_ == OutputFormat::Json) {
        out += snapshot_->listHead();
      }
    }
    while (out.size() < kChunkBytes && pass_ < passes_.size()) {
      if (!header_done_) {
        header_done_ = true;
        if (format_ == OutputFormat::Table) {
          out += snapshot_->tableHeader(passes_[pass_] == Pass::Inet);
        }
      }
      if (range_ >= ranges_.size()) {
        ++pass_;
        resetPass();
        continue;
      }
      const std::uint32_t end = ranges_[range_].second;
      if (pos_ >= end) {
        ++range_;
        if (range_ < ranges_.size()) {
          pos_ = ranges_[range_].first;
        }
        continue;
      }
      // A run of consecutive selected sockets is copied in one piece, as long as the piece stays
      // within kChunkBytes (a single socket may exceed it).
      const std::uint32_t run_begin = pos_;
      const std::size_t room = kChunkBytes > out.size() ? kChunkBytes - out.size() : 0;
      while (pos_ < end && selects(pos_) &&
             (pos_ == run_begin || runBytes(run_begin, pos_ + 1) <= room)) {
        ++pos_;
      }
      if (pos_ == run_begin) {
        ++pos_;
        continue;
      }
      if (format_ == OutputFormat::Json) {
        if (!first_item_) {
          out += ',';
        }
        first_item_ = false;
        out += snapshot_->socketsJson(run_begin, pos_);
      } else {
        out += snapshot_->tableRows(run_begin, pos_);
      }
    }
    if (pass_ < passes_.size()) {
      return true;
    }
    if (format_ == OutputFormat::Json) {
      out += "]}\n";
    }
    return false;
  }

 private:
  enum class Pass : std::uint8_t { All, Inet, Unix };

  void resetPass() {
    range_ = 0;
    pos_ = ranges_.empty() ? 0 : ranges_.front().first;
    header_done_ = false;
  }

  std::size_t runBytes(std::uint32_t first, std::uint32_t last) const {
    return format_ == OutputFormat::Json ? snapshot_->socketsJsonBytes(first, last)
                                         : snapshot_->tableRowsBytes(first, last);
  }

  bool selects(std::uint32_t i) const {
    const auto& s = snapshot_->scan().sockets[i];
    const Pass pass = passes_[pass_];
    if (pass == Pass::Inet && s.transport == scanner::Transport::Unix) {
      return false;
    }
    if (pass == Pass::Unix && s.transport != scanner::Transport::Unix) {
      return false;
    }
    if (!pod_allowed_.empty()) {
      const std::uint32_t pod = snapshot_->socketPod(i);
      if (pod == Snapshot::kNoPod || pod_allowed_[pod] == 0) {
        return false;
      }
    }
    return filter_(s, snapshot_->scan());
  }

  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges_;
  scanner::Filter filter_;
  OutputFormat format_;
  std::vector<char> pod_allowed_;  // by pod number; empty: no pod restriction
  std::vector<Pass> passes_;
  std::size_t pass_ = 0;
  std::size_t range_ = 0;
  std::uint32_t pos_ = 0;
  bool started_ = false;
  bool header_done_ = false;
  bool first_item_ = true;
};

HttpResponse socketList(std::shared_ptr<const Snapshot> snapshot,
                        const SocketQuery& query,
                        const k8s::Pod* only_pod) {
  HttpResponse r;
  r.content_type = query.format == OutputFormat::Json ? kJsonType : kTextType;
  r.headers.emplace_back("Cache-Control", "no-store");
  r.stream = makeSocketListStream(std::move(snapshot), query, only_pod);
  return r;
}

/// The pods of the snapshot, all or those of one Kubernetes namespace.
HttpResponse podList(const Snapshot& snapshot, const std::string* namespace_name) {
  std::string body = snapshot.listHead();
  bool first = true;
  const auto pods = snapshot.podIndex().pods();
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    if (namespace_name != nullptr && pods[p].namespace_name != *namespace_name) {
      continue;
    }
    if (!first) {
      body += ',';
    }
    first = false;
    body += snapshot.podJson(p);
  }
  body += "]}\n";
  return json(200, std::move(body));
}

void appendSourceJson(std::string& out,
                      const std::string& endpoint,
                      bool ok,
                      const std::string& error_text) {
  out += R"({"endpoint":)";
  if (endpoint.empty()) {
    out += "null";
  } else {
    appendJsonString(out, endpoint);
  }
  out += R"(,"ok":)";
  out += ok ? "true" : "false";
  out += R"(,"error":)";
  if (ok || error_text.empty()) {
    out += ok ? "null" : "\"unknown error\"";
  } else {
    appendJsonString(out, error_text);
  }
  out += '}';
}

void appendHealthJson(std::string& out, const k8s::SourceHealth* health) {
  if (health == nullptr || !health->enabled) {
    appendSourceJson(out, health == nullptr ? std::string() : health->endpoint, false, "disabled");
    return;
  }
  if (!health->last_attempt && !health->ok) {
    appendSourceJson(out, health->endpoint, false, "not asked yet");
    return;
  }
  appendSourceJson(out, health->endpoint, health->ok, health->error);
}

}  // namespace

std::string nodeJson(const NodeInfo& node,
                     const Snapshot* snapshot,
                     const k8s::PodMetadata* metadata,
                     const ScanMetrics& metrics) {
  std::string out = R"({"node":)";
  appendJsonString(out, node.node);
  out += R"(,"version":)";
  appendJsonString(out, PODNETSTAT_VERSION);
  out += R"(,"kernel":)";
  appendJsonString(out, node.kernel);
  out += R"(,"backend":)";
  // The backend that read the tables (auto resolves per scan); the configured one before that.
  appendJsonString(out, snapshot != nullptr && !snapshot->scan().backend.empty()
                            ? snapshot->scan().backend
                            : node.backend);
  out += R"(,"sources":{"cri":)";
  appendHealthJson(out, metadata == nullptr ? nullptr : &metadata->cri);
  out += R"(,"kubelet":)";
  appendHealthJson(out, metadata == nullptr ? nullptr : &metadata->kubelet);
  out += R"(,"cgroup":)";
  // The cgroups are read with every scan: working once a scan has read them.
  if (snapshot == nullptr) {
    appendSourceJson(out, node.proc_root, false, "no scan yet");
  } else {
    const auto& stats = snapshot->podIndex().stats();
    const bool ok = stats.cgroups_read > 0 || stats.cgroups_missing == 0;
    appendSourceJson(out, node.proc_root, ok, "no /proc/<pid>/cgroup file could be read");
  }
  out += R"(},"lastScan":)";
  if (snapshot == nullptr) {
    out += "null";
  } else {
    const auto& scan = snapshot->scan();
    out += R"({"at":)";
    appendJsonString(out, snapshot->scannedAt());
    out += R"(,"durationMs":)";
    appendJsonMillis(out, scan.duration_ms);
    out += R"(,"sockets":)";
    appendJsonUint(out, scan.sockets.size());
    out += R"(,"namespaces":)";
    appendJsonUint(out, scan.namespaces.size());
    out += R"(,"skippedLines":)";
    appendJsonUint(out, scan.stats.skipped_lines);
    out += R"(,"errors":)";
    appendJsonUint(out, scan.stats.errors.size());
    out += R"(,"errorMessages":[)";
    constexpr std::size_t kMaxMessages = 20;
    for (std::size_t i = 0; i < scan.stats.errors.size() && i < kMaxMessages; ++i) {
      if (i > 0) {
        out += ',';
      }
      appendJsonString(out, scan.stats.errors[i]);
    }
    out += "]}";
  }
  out += R"(,"lastFailure":)";
  if (auto failure = metrics.lastFailure()) {
    out += R"({"at":)";
    appendJsonString(out, formatRfc3339Ms(failure->unix_ms));
    out += R"(,"message":)";
    appendJsonString(out, failure->message);
    out += '}';
  } else {
    out += "null";
  }
  out += "}\n";
  return out;
}

namespace {

/// The path's segments, percent-decoded ("/api/v1/x" -> {"api", "v1", "x"}).
Result<std::vector<std::string>> splitPath(std::string_view path) {
  std::vector<std::string> out;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto slash = path.find('/', start);
    if (slash == std::string_view::npos) {
      slash = path.size();
    }
    auto segment = percentDecode(path.substr(start, slash - start), false);
    if (!segment) {
      return segment.error();
    }
    out.push_back(std::move(*segment));
    start = slash + 1;
  }
  return out;
}

/// The namespace a pod's netstat views read: its own, or the host's for a hostNetwork pod (what
/// netstat run inside it would show); -1 when the snapshot has neither.
std::int64_t podNetnsIndex(const Snapshot& snapshot, const k8s::Pod& pod) {
  const auto& namespaces = snapshot.scan().namespaces;
  for (std::size_t i = 0; i < namespaces.size(); ++i) {
    const bool match = pod.netns_inode ? namespaces[i].inode == *pod.netns_inode
                                       : pod.host_network && namespaces[i].is_host;
    if (match) {
      return static_cast<std::int64_t>(i);
    }
  }
  return -1;
}

}  // namespace

std::string kernelRelease() {
  struct utsname u {};

  if (uname(&u) != 0) {
    return "unknown";
  }
  return u.release;
}

std::shared_ptr<BodyStream> makeSocketListStream(std::shared_ptr<const Snapshot> snapshot,
                                                 const SocketQuery& query,
                                                 const k8s::Pod* only_pod) {
  std::vector<char> pod_allowed;
  if (query.k8s_namespace || query.pod || only_pod != nullptr) {
    // Pod restrictions: sockets of no pod never match; an empty selection selects nothing.
    const auto pods = snapshot->podIndex().pods();
    pod_allowed.assign(pods.size() + 1, 0);  // one spare entry keeps it non-empty
    for (std::uint32_t p = 0; p < pods.size(); ++p) {
      const k8s::Pod& pod = pods[p];
      bool ok = only_pod == nullptr || &pod == only_pod;
      if (query.k8s_namespace) {
        ok = ok && pod.namespace_name == *query.k8s_namespace;
      }
      if (query.pod) {
        ok = ok && (pod.name == *query.pod || pod.uid == *query.pod);
      }
      pod_allowed[p] = ok ? 1 : 0;
    }
  }
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  if (query.netns) {
    const auto index = snapshot->findNetns(*query.netns);
    if (index >= 0) {
      ranges.push_back(snapshot->netnsRange(static_cast<std::uint32_t>(index)));
    }
  } else {
    ranges.emplace_back(0, static_cast<std::uint32_t>(snapshot->scan().sockets.size()));
  }
  return std::make_shared<SocketListStream>(std::move(snapshot), std::move(ranges), query.filter,
                                            query.format, query.transports, std::move(pod_allowed));
}

ApiHandler::ApiHandler(const SnapshotStore& store,
                       const ScanMetrics& metrics,
                       NodeInfo node,
                       std::function<HttpServerStats()> http_stats,
                       bool health_only)
    : store_(store),
      metrics_(metrics),
      node_(std::move(node)),
      http_stats_(std::move(http_stats)),
      health_only_(health_only) {}

HttpResponse ApiHandler::operator()(const HttpRequest& request) const {
  // RFC 9110 15.6.2: a method the server does not know at all is 501 for every resource; one it
  // knows but a resource does not allow is 405 (below, once the path is known).
  static constexpr std::array<std::string_view, 9> kKnownMethods = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};
  if (std::ranges::find(kKnownMethods, request.method) == kKnownMethods.end()) {
    return error(501, "method " + request.method + " is not implemented; use GET or HEAD");
  }
  const std::string_view target = request.target;
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query_text =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  if (!path.starts_with('/')) {
    return error(400, "the request target must be a path starting with '/'");
  }
  auto segments_result = splitPath(path);
  if (!segments_result) {
    return error(400, "path: " + segments_result.error().message);
  }
  const auto& seg = *segments_result;

  enum class Route : std::uint8_t {
    None,
    Healthz,
    Readyz,
    Metrics,
    Node,
    Sockets,
    Netns,
    Pods,
    NamespacePods,
    NamespacePodSockets,
    PodSockets,
    Listeners,
    NetnsView,
    PodView,
  };
  Route route = Route::None;
  const auto is = [&](std::initializer_list<std::string_view> expected) {
    if (seg.size() != expected.size()) {
      return false;
    }
    std::size_t i = 0;
    for (auto e : expected) {
      if (e != "*" && seg[i] != e) {
        return false;
      }
      // "{param}" segments must not be empty.
      if (e == "*" && seg[i].empty()) {
        return false;
      }
      ++i;
    }
    return true;
  };
  if (is({"healthz"})) {
    route = Route::Healthz;
  } else if (is({"readyz"})) {
    route = Route::Readyz;
  } else if (health_only_) {
    route = Route::None;
  } else if (is({"metrics"})) {
    route = Route::Metrics;
  } else if (is({"api", "v1", "node"})) {
    route = Route::Node;
  } else if (is({"api", "v1", "sockets"})) {
    route = Route::Sockets;
  } else if (is({"api", "v1", "netns"})) {
    route = Route::Netns;
  } else if (is({"api", "v1", "pods"})) {
    route = Route::Pods;
  } else if (is({"api", "v1", "namespaces", "*", "pods"})) {
    route = Route::NamespacePods;
  } else if (is({"api", "v1", "namespaces", "*", "pods", "*", "sockets"})) {
    route = Route::NamespacePodSockets;
  } else if (is({"api", "v1", "pods", "*", "sockets"})) {
    route = Route::PodSockets;
  } else if (is({"api", "v1", "listeners"})) {
    route = Route::Listeners;
  } else if (is({"api", "v1", "netns", "*", "*"}) && netViewFromName(seg[4])) {
    route = Route::NetnsView;
  } else if (is({"api", "v1", "namespaces", "*", "pods", "*", "*"}) && netViewFromName(seg[6])) {
    route = Route::PodView;
  }
  if (route == Route::None) {
    return error(404, "no such path: " + std::string(path));
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return error(405, "method " + request.method + " is not allowed; use GET or HEAD");
  }

  switch (route) {
    case Route::Healthz:
      return json(200, "{\"status\":\"ok\"}\n");
    case Route::Readyz: {
      auto snapshot = store_.current();
      if (!snapshot) {
        return notReady();
      }
      std::string body = R"({"status":"ready","scannedAt":)";
      appendJsonString(body, snapshot->scannedAt());
      body += "}\n";
      return json(200, std::move(body));
    }
    case Route::Metrics: {
      auto snapshot = store_.current();
      HttpServerStats stats;
      if (http_stats_) {
        stats = http_stats_();
      }
      HttpResponse r;
      r.content_type = kMetricsType;
      r.body = metrics_.render(snapshot.get(), http_stats_ ? &stats : nullptr);
      return r;
    }
    default:
      break;
  }

  auto params = parseQuery(query_text);
  if (!params) {
    return error(400, params.error().message);
  }
  const bool socket_route =
      route == Route::Sockets || route == Route::NamespacePodSockets || route == Route::PodSockets;
  std::optional<SocketQuery> socket_query;
  std::optional<ListenerQuery> listener_query;
  std::optional<NetView> view;
  std::optional<NetViewQuery> view_query;
  if (route == Route::Listeners) {
    auto q = parseListenerQuery(*params);
    if (!q) {
      return error(400, q.error().message);
    }
    listener_query = std::move(*q);
  } else if (route == Route::NetnsView || route == Route::PodView) {
    view = netViewFromName(seg.back());
    auto q = parseNetViewQuery(*view, *params);
    if (!q) {
      return error(400, q.error().message);
    }
    view_query = *q;
  } else if (socket_route) {
    auto q = parseSocketQuery(*params);
    if (!q) {
      return error(400, q.error().message);
    }
    socket_query = std::move(*q);
  } else {
    auto format = parsePlainQuery(*params, false);
    if (!format) {
      return error(400, format.error().message);
    }
  }

  auto snapshot = store_.current();
  if (route == Route::Node) {
    std::shared_ptr<const k8s::PodMetadata> metadata;
    if (node_.pod_cache != nullptr) {
      metadata = node_.pod_cache->current();
    }
    return json(200, nodeJson(node_, snapshot.get(), metadata.get(), metrics_));
  }
  if (!snapshot) {
    return notReady();
  }
  switch (route) {
    case Route::Sockets:
      return socketList(std::move(snapshot), *socket_query, nullptr);
    case Route::NamespacePodSockets: {
      const k8s::Pod* pod = snapshot->podIndex().byName(seg[3], seg[5]);
      if (pod == nullptr) {
        return error(404, "pod " + seg[3] + "/" + seg[5] + " not found");
      }
      return socketList(std::move(snapshot), *socket_query, pod);
    }
    case Route::PodSockets: {
      const k8s::Pod* pod = snapshot->podIndex().byUid(seg[3]);
      if (pod == nullptr) {
        return error(404, "pod with UID " + seg[3] + " not found");
      }
      return socketList(std::move(snapshot), *socket_query, pod);
    }
    case Route::Listeners: {
      HttpResponse r;
      r.content_type = listener_query->sockets.format == OutputFormat::Json ? kJsonType : kTextType;
      r.headers.emplace_back("Cache-Control", "no-store");
      r.stream = makeListenerStream(std::move(snapshot), *listener_query);
      return r;
    }
    case Route::Netns:
      return json(200, snapshot->netnsListJson());
    case Route::Pods:
      return podList(*snapshot, nullptr);
    case Route::NamespacePods:
      return podList(*snapshot, &seg[3]);
    case Route::NetnsView: {
      const auto index = snapshot->findNetns(seg[3]);
      if (index < 0) {
        return error(404, "network namespace " + seg[3] + " not found");
      }
      return netViewResponse(*snapshot, static_cast<std::uint32_t>(index), nullptr, *view,
                             *view_query, scanner::Roots{node_.proc_root, node_.netns_dir},
                             snapshot->scan().backend == "netlink");
    }
    case Route::PodView: {
      const k8s::Pod* pod = snapshot->podIndex().byName(seg[3], seg[5]);
      if (pod == nullptr) {
        return error(404, "pod " + seg[3] + "/" + seg[5] + " not found");
      }
      const auto index = podNetnsIndex(*snapshot, *pod);
      if (index < 0) {
        return error(503, "the network namespace of pod " + seg[3] + "/" + seg[5] +
                              " is not known in this snapshot");
      }
      return netViewResponse(*snapshot, static_cast<std::uint32_t>(index), pod, *view, *view_query,
                             scanner::Roots{node_.proc_root, node_.netns_dir},
                             snapshot->scan().backend == "netlink");
    }
    default:
      return error(500, "unrouted path");
  }
}

}  // namespace podnetstat::agent
