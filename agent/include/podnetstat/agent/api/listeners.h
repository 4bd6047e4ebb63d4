#pragma once

// /api/v1/listeners: the listening sockets of the snapshot with their posture
// (model/listener_table.h), filtered like the socket lists plus `exposure` and `declared`.

#include <array>
#include <memory>
#include <optional>
#include <vector>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/render/snapshot_pages.h"
#include "podnetstat/k8s/exposure.h"

namespace podnetstat::agent {

/// A parsed /api/v1/listeners query: the socket list filters plus `exposure` and `declared`.
struct ListenerQuery {
  SocketQuery sockets;
  /// By k8s::Exposure; all true when `exposure` is absent.
  std::array<bool, k8s::kExposureCount> exposures{true, true, true};
  /// `declared=true|false`: only listeners whose declared is exactly that (unknown ones never
  /// match); nullopt: no restriction.
  std::optional<bool> declared;
};

/// The parameters /api/v1/listeners accepts, in the order error messages list them.
inline constexpr const char* kListenerQueryParams =
    "transport, state, listening, connected, port, pid, netns, namespace, pod, exposure, "
    "declared, format, tcpInfo";

/// Parses a listener query: `exposure` is a comma list (repeatable, the union) of loopback, pod,
/// node; `declared` is true or false, once; the rest as parseSocketQuery(). Unknown parameters and
/// bad values are errors naming the parameter.
Result<ListenerQuery> parseListenerQuery(const std::vector<QueryParam>& params);

/// The body of /api/v1/listeners: the list head and each selected listener's socket object with
/// its posture fields (or the table), produced piece by piece. Holds its snapshot alive.
std::shared_ptr<BodyStream> makeListenerStream(std::shared_ptr<const SnapshotPages> pages,
                                               const ListenerQuery& query);

}  // namespace podnetstat::agent
