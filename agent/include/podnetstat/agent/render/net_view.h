#pragma once

// The rest of netstat, per namespace: its four other modes as one enum, the files each reads,
// and each as netstat's table (netstat_modes.h) or as the API's JSON. `podnetstat list -i/-r/-s/-g`
// and the API's /api/v1/.../{interfaces,routes,stats,groups} both render through here.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/netstat_modes.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/scanner/net_stats.h"

namespace podnetstat::agent {

/// netstat's other modes: -i, -r, -s, -g.
enum class NetView : std::uint8_t { Interfaces, Routes, Stats, Groups };

/// "interfaces", "routes", "stats", "groups" -> the view; nullopt for anything else.
std::optional<NetView> netViewFromName(std::string_view name);

/// How a view is shown.
struct NetViewOptions {
  bool numeric = true;  // -n (routes, groups)
  bool all = false;     // interfaces: down ones too (-a)
  /// routes and groups: only IPv6 (true) or only IPv4 (false); nullopt: both (the routes table
  /// shows IPv4 then, as netstat -r does).
  std::optional<bool> ipv6;
  CounterOptions counters;  // stats: -t, -u
};

/// The files a view reads. Routes read both tables unless `route_family` names one (true: the
/// IPv6 table).
scanner::NetStatsFileSet netViewFiles(NetView view, std::optional<bool> route_family = {});

/// MTU and flags for the -i table from what rtnetlink said (flags cut to the 16 bits that
/// SIOCGIFFLAGS, hence netstat, sees).
std::vector<LinkInfo> linkInfos(const std::vector<scanner::LinkAttributes>& links);

/// The table of a view: exactly what netstat -i[a] / -r[n] [-A inet6] / -s / -g[n] prints for
/// one namespace.
std::string renderNetViewTable(NetView view,
                               const NetViewOptions& options,
                               const scanner::NetStats& stats,
                               const std::vector<scanner::LinkAttributes>& links);

/// The JSON of a view of namespace `netns_index` of `snapshot` (asked through `pod`, or null),
/// from what was read at `read_unix_ms`.
std::string renderNetViewJson(const Snapshot& snapshot,
                              std::uint32_t netns_index,
                              const k8s::Pod* pod,
                              NetView view,
                              const NetViewOptions& options,
                              const scanner::NetStats& stats,
                              const std::vector<scanner::LinkAttributes>& links,
                              std::int64_t read_unix_ms);

}  // namespace podnetstat::agent
