#pragma once

// `?watch=true` on the socket and listener lists: newline-delimited JSON events, as the
// Kubernetes API streams them:
//   {"type":"ADDED"|"MODIFIED"|"DELETED","object":{...the list's item...}}
//   {"type":"BOOKMARK","object":{"resourceVersion":"N"}}        (allowWatchBookmarks=true)
//   {"type":"ERROR","object":{"kind":"Status",...,"code":410,"reason":"Expired",...}}  (the end)
// Without resourceVersion: an ADDED event for every item of the current list, then the changes
// of every following scan (state/watch_history.h). With resourceVersion=N: the changes after
// scan N, or the 410 ERROR when they are no longer kept. The list's filters select the events:
// a MODIFIED object that starts matching is ADDED, one that stops matching is DELETED.
// A blank line is a keep-alive, sent when nothing else was for a while.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/api/listeners.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/render/snapshot_pages.h"
#include "podnetstat/agent/state/watch_history.h"

namespace podnetstat::agent {

struct WatchLimits {
  /// The longest watch; timeoutSeconds beyond it is cut to it.
  std::chrono::seconds max_timeout{3600};
  /// A blank line after this long without anything sent.
  std::chrono::milliseconds keep_alive{15000};
  /// A watcher this many scans behind the newest (its client does not read fast enough) gets an
  /// ERROR event, or is closed when its connection cannot take even that.
  std::uint64_t max_lag_scans = 8;
};

/// For /metrics. Updated from the connections' threads.
struct WatchCounters {
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::uint64_t> dropped{0};
};

/// What the handler needs to answer watches.
struct WatchContext {
  WatchHistory* history = nullptr;
  WatchCounters* counters = nullptr;
  WatchLimits limits;
};

/// What a watch follows: a socket list (with its query and, on the per-pod routes, the pod's
/// UID) or the listener list.
struct WatchSelection {
  SocketQuery sockets;
  std::optional<ListenerQuery> listeners;
  std::optional<std::string> pod_uid;
};

/// The event stream of one watch, starting from `current` (the pages the store has now).
std::shared_ptr<EventStream> makeWatchStream(WatchHistory& history,
                                             std::shared_ptr<const SnapshotPages> current,
                                             WatchSelection selection,
                                             const WatchQuery& query,
                                             const WatchLimits& limits,
                                             WatchCounters& counters);

}  // namespace podnetstat::agent
