#pragma once

// The rest of netstat over HTTP: /api/v1/netns/{netns}/{interfaces,routes,stats,groups} and
// /api/v1/namespaces/{ns}/pods/{pod}/{...}. Unlike the socket lists these are read when asked,
// from /proc/<pid>/net/{dev,route,ipv6_route,snmp,snmp6,netstat,igmp,igmp6} of a process the
// snapshot saw in the namespace (a few small files: well under a millisecond), so a person
// watching counters sees them move between two requests, not between two scans. Interface MTU
// and flags come from rtnetlink inside the namespace when the agent runs the netlink backend
// (it has CAP_SYS_ADMIN then); otherwise they are null (and `-` in the table).

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/netstat_modes.h"
#include "podnetstat/scanner/net_stats.h"
#include "podnetstat/scanner/result.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::agent {

/// The four netstat modes: -i, -r, -s, -g.
enum class NetView : std::uint8_t { Interfaces, Routes, Stats, Groups };

/// "interfaces", "routes", "stats", "groups" -> the view; nullopt for anything else.
std::optional<NetView> netViewFromName(std::string_view name);

/// The query of a view: `format` (json, table), `all` (interfaces: down ones too in the table,
/// netstat -ia), `family` (routes and groups: inet or inet6; the routes table is inet unless
/// asked, as netstat -rn).
struct NetViewQuery {
  OutputFormat format = OutputFormat::Json;
  bool all = false;
  std::optional<bool> ipv6;  // family: nullopt = both (JSON), inet for the routes table
};

/// Parses the view's parameters; unknown ones, repeated ones and bad values are errors naming
/// the parameter.
Result<NetViewQuery> parseNetViewQuery(NetView view, const std::vector<QueryParam>& params);

/// The files a view reads.
scanner::NetStatsFileSet netViewFiles(NetView view);

/// MTU and flags for the -i renderer from what rtnetlink said (flags cut to the 16 bits that
/// SIOCGIFFLAGS, hence netstat, sees).
std::vector<LinkInfo> linkInfos(const std::vector<scanner::LinkAttributes>& links);

/// The answer of a view for namespace `netns_index` of `snapshot` (and `pod`, when asked through
/// a pod; null otherwise), read now under `roots`. 503 when the namespace cannot be read any
/// more (its processes are gone): the message says so. `with_links`: ask rtnetlink for MTU and
/// flags.
HttpResponse netViewResponse(const Snapshot& snapshot,
                             std::uint32_t netns_index,
                             const k8s::Pod* pod,
                             NetView view,
                             const NetViewQuery& query,
                             const scanner::Roots& roots,
                             bool with_links);

/// The body of a view as JSON (what netViewResponse sends for format=json), from what was read.
std::string netViewJson(const Snapshot& snapshot,
                        std::uint32_t netns_index,
                        const k8s::Pod* pod,
                        NetView view,
                        const NetViewQuery& query,
                        const scanner::NetStats& stats,
                        const std::vector<scanner::LinkAttributes>& links,
                        std::int64_t read_unix_ms);

/// The table of a view: exactly what `podnetstat list -i[a] / -rn [-A inet6] / -s / -gn` prints
/// for that namespace alone.
std::string netViewTable(NetView view,
                         const NetViewQuery& query,
                         const scanner::NetStats& stats,
                         const std::vector<scanner::LinkAttributes>& links);

}  // namespace podnetstat::agent
