#pragma once

// `?watch=true` on /api/v1/pods and /api/v1/namespaces/{ns}/pods: the events of
// api/watch_stream.h with pod objects (the list's items), from the pod diffs of the watch
// history (state/watch_history.h: identity by UID, MODIFIED only when what the pod is changes,
// not its socket counts). The same parameters, the same 410 ERROR, BOOKMARKs after every scan,
// keep-alives, timeout and lag bound. On the namespaced route, a pod is selected by its
// namespace (pods known only by their UID have none).

#include <memory>
#include <optional>
#include <string>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/api/watch_stream.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/render/snapshot_pages.h"
#include "podnetstat/agent/state/watch_history.h"

namespace podnetstat::agent {

/// The event stream of one pod watch (of the pods of `namespace_name` when given), starting
/// from `current` (the pages the store has now).
std::shared_ptr<EventStream> makePodWatchStream(WatchHistory& history,
                                                std::shared_ptr<const SnapshotPages> current,
                                                std::optional<std::string> namespace_name,
                                                const WatchQuery& query,
                                                const WatchLimits& limits,
                                                WatchCounters& counters);

}  // namespace podnetstat::agent
