#pragma once

// The rest of netstat over HTTP: /api/v1/netns/{netns}/{interfaces,routes,stats,groups} and
// /api/v1/namespaces/{ns}/pods/{pod}/{...}. Unlike the socket lists these are read when asked
// (state/net_view_reader.h), so a person watching counters sees them move between two requests,
// not between two scans. Interface MTU and flags come from rtnetlink inside the namespace when
// the agent runs the netlink backend (it has CAP_SYS_ADMIN then); otherwise they are null (and
// `-` in the table).

#include <cstdint>
#include <optional>
#include <vector>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/net_view.h"
#include "podnetstat/scanner/result.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::agent {

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

/// The answer of a view for namespace `netns_index` of `snapshot` (and `pod`, when asked through
/// a pod; null otherwise), read now under `roots`: 503 when the namespace cannot be read any
/// more, saying whether it has gone. `with_links`: ask rtnetlink for MTU and flags.
HttpResponse netViewAnswer(const Snapshot& snapshot,
                           std::uint32_t netns_index,
                           const k8s::Pod* pod,
                           NetView view,
                           const NetViewQuery& query,
                           const scanner::Roots& roots,
                           bool with_links);

}  // namespace podnetstat::agent
