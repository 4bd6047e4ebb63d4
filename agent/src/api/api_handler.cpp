// The API's route table and the answer of each route. A request goes: method known (501), path
// well formed (400), a route of the table (404; the health-only listener knows two), GET or
// HEAD (405), then the route's own answer: its query parsed (400), the current snapshot (503
// before the first), and what it asks for (404 for an unknown pod or namespace).

#include "podnetstat/agent/api/api_handler.h"

#include <sys/utsname.h>

#include <algorithm>
#include <array>
#include <optional>
#include <type_traits>
#include <utility>

#include "podnetstat/agent/api/listeners.h"
#include "podnetstat/agent/api/net_views.h"
#include "podnetstat/agent/api/pod_watch_stream.h"
#include "podnetstat/agent/api/responses.h"
#include "podnetstat/agent/api/socket_list.h"
#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/metrics.h"

namespace podnetstat::agent {
namespace {

// RFC 9110 15.6.2: a method the server does not know at all is 501 for every resource; one it
// knows but a resource does not allow is 405 (once the path is known).
constexpr std::array<std::string_view, 9> kKnownMethods = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"};

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

/// The call's query parameters parsed by `parse` (a parse*Query function of api_query.h or
/// alike), or the 400 answer.
template <class Parse>
std::invoke_result_t<Parse, const std::vector<QueryParam>&> parsed(std::string_view query,
                                                                   Parse parse) {
  auto params = parseQuery(query);
  if (!params) {
    return params.error();
  }
  return parse(*params);
}

/// The same for a list route that can be watched: the watch parameters (takeWatchQuery), then
/// the route's own.
template <class Query>
Result<std::pair<WatchQuery, Query>> parsedWatchable(
    std::string_view query, Result<Query> (*parse)(const std::vector<QueryParam>&)) {
  auto params = parseQuery(query);
  if (!params) {
    return params.error();
  }
  auto watch = takeWatchQuery(*params);
  if (!watch) {
    return watch.error();
  }
  auto rest = parse(*params);
  if (!rest) {
    return rest.error();
  }
  return std::pair{*watch, std::move(*rest)};
}

/// The parameters of a list of JSON only, for parsedWatchable.
Result<OutputFormat> plainJsonQuery(const std::vector<QueryParam>& params) {
  return parsePlainQuery(params, false);
}

}  // namespace

std::string kernelRelease() {
  struct utsname u {};

  if (uname(&u) != 0) {
    return "unknown";
  }
  return u.release;
}

const std::vector<ApiHandler::Route>& ApiHandler::routes() {
  // In the order they are tried.
  static const std::vector<Route> kRoutes = {
      {{"healthz"}, &ApiHandler::healthz, true},
      {{"readyz"}, &ApiHandler::readyz, true},
      {{"metrics"}, &ApiHandler::metrics},
      {{"api", "v1", "node"}, &ApiHandler::node},
      {{"api", "v1", "sockets"}, &ApiHandler::sockets},
      {{"api", "v1", "netns"}, &ApiHandler::netnsList},
      {{"api", "v1", "pods"}, &ApiHandler::pods},
      {{"api", "v1", "namespaces", "*", "pods"}, &ApiHandler::namespacePods},
      {{"api", "v1", "namespaces", "*", "pods", "*", "sockets"}, &ApiHandler::podSocketsByName},
      {{"api", "v1", "pods", "*", "sockets"}, &ApiHandler::podSocketsByUid},
      {{"api", "v1", "listeners"}, &ApiHandler::listeners},
      {{"api", "v1", "netns", "*", "*"}, &ApiHandler::netnsView, false, 4},
      {{"api", "v1", "namespaces", "*", "pods", "*", "*"}, &ApiHandler::podView, false, 6},
  };
  return kRoutes;
}

bool ApiHandler::matches(const Route& route, std::span<const std::string> segments) {
  if (segments.size() != route.path.size()) {
    return false;
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    // "{param}" segments must not be empty.
    const bool ok = route.path[i] == "*" ? !segments[i].empty() : segments[i] == route.path[i];
    if (!ok) {
      return false;
    }
  }
  return route.view_segment < 0 ||
         netViewFromName(segments[static_cast<std::size_t>(route.view_segment)]).has_value();
}

ApiHandler::ApiHandler(const SnapshotStore& store,
                       const ScanMetrics& metrics,
                       NodeInfo node,
                       std::function<HttpServerStats()> http_stats,
                       bool health_only,
                       WatchContext watch)
    : store_(store),
      metrics_(metrics),
      node_(std::move(node)),
      http_stats_(std::move(http_stats)),
      health_only_(health_only),
      watch_(watch) {}

HttpResponse ApiHandler::operator()(const HttpRequest& request) const {
  if (std::ranges::find(kKnownMethods, request.method) == kKnownMethods.end()) {
    return errorAnswer(501, "method " + request.method + " is not implemented; use GET or HEAD");
  }
  const std::string_view target = request.target;
  const auto question = target.find('?');
  const std::string_view path = target.substr(0, question);
  if (!path.starts_with('/')) {
    return errorAnswer(400, "the request target must be a path starting with '/'");
  }
  auto segments = splitPath(path);
  if (!segments) {
    return errorAnswer(400, "path: " + segments.error().message);
  }
  const auto route = std::ranges::find_if(routes(), [&](const Route& r) {
    return (r.health || !health_only_) && matches(r, *segments);
  });
  if (route == routes().end()) {
    return errorAnswer(404, "no such path: " + std::string(path));
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return errorAnswer(405, "method " + request.method + " is not allowed; use GET or HEAD");
  }
  const Call call{
      request, std::move(*segments),
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1)};
  return (this->*(route->answer))(call);
}

HttpResponse ApiHandler::healthz(const Call& /*call*/) const {
  return jsonAnswer(200, "{\"status\":\"ok\"}\n");
}

HttpResponse ApiHandler::readyz(const Call& /*call*/) const {
  auto pages = store_.current();
  if (!pages) {
    return notReady();
  }
  std::string body = R"({"status":"ready","scannedAt":)";
  appendJsonString(body, pages->scannedAt());
  body += "}\n";
  return jsonAnswer(200, std::move(body));
}

HttpResponse ApiHandler::metrics(const Call& /*call*/) const {
  auto pages = store_.current();
  std::optional<ServerCounters> server;
  if (http_stats_) {
    const HttpServerStats stats = http_stats_();
    server = ServerCounters{stats.requests, stats.open, stats.rejected, stats.evicted};
  }
  HttpResponse r;
  r.content_type = kMetricsType;
  r.body = metricsPage(pages.get(), metrics_, server ? &*server : nullptr);
  if (watch_.counters != nullptr) {
    const WatchCounters& c = *watch_.counters;
    appendWatchSeries(
        r.body, WatchTotals{c.open.load(), c.started.load(), c.events.load(), c.dropped.load()});
  }
  return r;
}

HttpResponse ApiHandler::node(const Call& call) const {
  if (auto q = parsed(call.query, [](const auto& p) { return parsePlainQuery(p, false); }); !q) {
    return errorAnswer(400, q.error().message);
  }
  std::shared_ptr<const k8s::PodMetadata> metadata;
  if (node_.pod_cache != nullptr) {
    metadata = node_.pod_cache->current();
  }
  const auto pages = store_.current();
  return jsonAnswer(
      200, nodeJson(node_, pages ? &pages->snapshot() : nullptr, metadata.get(), metrics_));
}

HttpResponse ApiHandler::netnsList(const Call& call) const {
  if (auto q = parsed(call.query, [](const auto& p) { return parsePlainQuery(p, false); }); !q) {
    return errorAnswer(400, q.error().message);
  }
  const auto pages = store_.current();
  return pages ? jsonAnswer(200, pages->netnsListJson()) : notReady();
}

HttpResponse ApiHandler::pods(const Call& call) const {
  return podList(call, nullptr);
}

HttpResponse ApiHandler::namespacePods(const Call& call) const {
  return podList(call, &call.segments[3]);
}

HttpResponse ApiHandler::podList(const Call& call, const std::string* namespace_name) const {
  auto parsed_query = parsedWatchable(call.query, plainJsonQuery);
  if (!parsed_query) {
    return errorAnswer(400, parsed_query.error().message);
  }
  auto pages = store_.current();
  if (!pages) {
    return notReady();
  }
  if (const WatchQuery& watch = parsed_query->first; watch.watch) {
    if (watch_.history == nullptr || watch_.counters == nullptr) {
      return errorAnswer(400, "parameter 'watch': this server does not follow changes");
    }
    HttpResponse r;
    r.content_type = kJsonLinesType;
    r.events = makePodWatchStream(
        *watch_.history, std::move(pages),
        namespace_name != nullptr ? std::optional(*namespace_name) : std::nullopt, watch,
        watch_.limits, *watch_.counters);
    return r;
  }
  std::string body = pages->listHead();
  bool first = true;
  const auto pods = pages->snapshot().podIndex().pods();
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    if (namespace_name != nullptr && pods[p].namespace_name != *namespace_name) {
      continue;
    }
    body += first ? "" : ",";
    first = false;
    body += pages->podJson(p);
  }
  body += "]}\n";
  return jsonAnswer(200, std::move(body));
}

HttpResponse ApiHandler::sockets(const Call& call) const {
  return socketList(call, {}, {});
}

HttpResponse ApiHandler::podSocketsByName(const Call& call) const {
  const std::string& ns = call.segments[3];
  const std::string& name = call.segments[5];
  return socketList(
      call, [&](const Snapshot& s) { return s.podIndex().byName(ns, name); },
      "pod " + ns + "/" + name + " not found");
}

HttpResponse ApiHandler::podSocketsByUid(const Call& call) const {
  const std::string& uid = call.segments[3];
  return socketList(
      call, [&](const Snapshot& s) { return s.podIndex().byUid(uid); },
      "pod with UID " + uid + " not found");
}

HttpResponse ApiHandler::socketList(const Call& call,
                                    const std::function<const k8s::Pod*(const Snapshot&)>& pod_of,
                                    const std::string& missing) const {
  auto parsed_query = parsedWatchable(call.query, parseSocketQuery);
  if (!parsed_query) {
    return errorAnswer(400, parsed_query.error().message);
  }
  const auto& [watch, query] = *parsed_query;
  auto pages = store_.current();
  if (!pages) {
    return notReady();
  }
  const k8s::Pod* pod = nullptr;
  if (pod_of) {
    pod = pod_of(pages->snapshot());
    if (pod == nullptr) {
      return errorAnswer(404, missing);
    }
  }
  const OutputFormat format = query.format;
  if (watch.watch) {
    WatchSelection selection{query, std::nullopt,
                             pod != nullptr ? std::optional(pod->uid) : std::nullopt};
    return watchAnswer(watch, std::move(pages), std::move(selection), format);
  }
  return streamAnswer(format, makeSocketListStream(std::move(pages), query, pod));
}

HttpResponse ApiHandler::listeners(const Call& call) const {
  auto parsed_query = parsedWatchable(call.query, parseListenerQuery);
  if (!parsed_query) {
    return errorAnswer(400, parsed_query.error().message);
  }
  const auto& [watch, query] = *parsed_query;
  auto pages = store_.current();
  if (!pages) {
    return notReady();
  }
  const OutputFormat format = query.sockets.format;
  if (watch.watch) {
    return watchAnswer(watch, std::move(pages), WatchSelection{query.sockets, query, std::nullopt},
                       format);
  }
  return streamAnswer(format, makeListenerStream(std::move(pages), query));
}

HttpResponse ApiHandler::watchAnswer(const WatchQuery& watch,
                                     std::shared_ptr<const SnapshotPages> pages,
                                     WatchSelection selection,
                                     OutputFormat format) const {
  if (watch_.history == nullptr || watch_.counters == nullptr) {
    return errorAnswer(400, "parameter 'watch': this server does not follow changes");
  }
  if (selection.sockets.tcp_info) {
    // tcp_info moves with every packet: as part of the events' objects it would either modify
    // every connection on every scan or be stale at once.
    return errorAnswer(400,
                       "parameter 'tcpInfo': a watch's events carry no tcpInfo; list with "
                       "tcpInfo=true to read it");
  }
  selection.format = format;
  HttpResponse r;
  r.content_type = format == OutputFormat::Table ? kTextType : kJsonLinesType;
  r.events = makeWatchStream(*watch_.history, std::move(pages), std::move(selection), watch,
                             watch_.limits, *watch_.counters);
  return r;
}

HttpResponse ApiHandler::netnsView(const Call& call) const {
  const std::string& netns = call.segments[3];
  return netView(call, *netViewFromName(call.segments[4]),
                 [&](const Snapshot& snapshot) -> Result<ViewTarget> {
                   const auto index = snapshot.findNetns(netns);
                   if (index < 0) {
                     return Error{"network namespace " + netns + " not found", ErrorKind::NotFound};
                   }
                   return ViewTarget{static_cast<std::uint32_t>(index), nullptr};
                 });
}

HttpResponse ApiHandler::podView(const Call& call) const {
  const std::string& ns = call.segments[3];
  const std::string& name = call.segments[5];
  return netView(call, *netViewFromName(call.segments[6]),
                 [&](const Snapshot& snapshot) -> Result<ViewTarget> {
                   const k8s::Pod* pod = snapshot.podIndex().byName(ns, name);
                   if (pod == nullptr) {
                     return Error{"pod " + ns + "/" + name + " not found", ErrorKind::NotFound};
                   }
                   const auto index = podNetnsIndex(snapshot, *pod);
                   if (index < 0) {
                     return Error{"the network namespace of pod " + ns + "/" + name +
                                      " is not known in this snapshot",
                                  ErrorKind::Unavailable};
                   }
                   return ViewTarget{static_cast<std::uint32_t>(index), pod};
                 });
}

HttpResponse ApiHandler::netView(
    const Call& call,
    NetView view,
    const std::function<Result<ViewTarget>(const Snapshot&)>& target) const {
  auto query = parsed(call.query, [view](const auto& p) { return parseNetViewQuery(view, p); });
  if (!query) {
    return errorAnswer(400, query.error().message);
  }
  const auto pages = store_.current();
  if (!pages) {
    return notReady();
  }
  const Snapshot& snapshot = pages->snapshot();
  const auto found = target(snapshot);
  if (!found) {
    return errorAnswer(statusOf(found.error()), found.error().message);
  }
  return netViewAnswer(snapshot, found->netns_index, found->pod, view, *query,
                       scanner::Roots{node_.proc_root, node_.netns_dir},
                       snapshot.scan().backend == scanner::Backend::Netlink);
}

}  // namespace podnetstat::agent
