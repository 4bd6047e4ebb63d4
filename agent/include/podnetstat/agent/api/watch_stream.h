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
//
// `format=table` streams the same events as text for people, as `ss -E` prints them: the
// header of the route's table (a socket list: netstat's inet header, then its unix header, as
// the query's transports need them; the listeners: their table's column line), the column line
// opened by an Event column, then one row per event, the row of the route's table (columns as
// wide as in the table of the pages the watch started from) after the event's type:
//   MODIFIED tcp        0      0 10.0.0.1:80     0.0.0.0:*    LISTEN   0  4711  1234/nginx ...
// A BOOKMARK is the comment line `# resourceVersion N`; the 410 ERROR is the line
// `ERROR    410 Expired: <message>`, the last one; the keep-alive is the same blank line.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/api/listeners.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/render/snapshot_pages.h"
#include "podnetstat/agent/state/watch_history.h"

namespace podnetstat::agent {

/// The bounds `serve` accepts for WatchLimits (--watch-max-lag-scans, --watch-keep-alive,
/// --watch-max-timeout).
inline constexpr std::uint64_t kMaxLagScansLimit = 100;
inline constexpr std::chrono::milliseconds kMinKeepAlive{100};
inline constexpr std::chrono::milliseconds kMaxKeepAlive{3600 * 1000};
inline constexpr std::chrono::seconds kMaxTimeoutLimit{24 * 3600};

struct WatchLimits {
  /// The longest watch; timeoutSeconds beyond it is cut to it.
  std::chrono::seconds max_timeout{3600};
  /// A blank line after this long without anything sent.
  std::chrono::milliseconds keep_alive{15000};
  /// A watcher this many scans behind the newest (its client does not read fast enough) gets an
  /// ERROR event, or is closed when its connection cannot take even that. One resumed from an
  /// older resourceVersion counts from the scan it started at.
  std::uint64_t max_lag_scans = 8;
};

/// The limits of the three serve flags' texts: a count of scans (1 to kMaxLagScansLimit, less
/// than the history keeps), a keep-alive duration (kMinKeepAlive to kMaxKeepAlive) and a
/// maximum timeout (1s to kMaxTimeoutLimit, whole seconds), durations as parseDuration reads
/// them. An error names the flag at fault.
Result<WatchLimits> parseWatchLimits(std::string_view max_lag_scans,
                                     std::string_view keep_alive,
                                     std::string_view max_timeout);

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
  /// Json: NDJSON events; Table: the rows of the route's table (see the top of this file).
  OutputFormat format = OutputFormat::Json;
};

/// The event stream of one watch, starting from `current` (the pages the store has now).
std::shared_ptr<EventStream> makeWatchStream(WatchHistory& history,
                                             std::shared_ptr<const SnapshotPages> current,
                                             WatchSelection selection,
                                             const WatchQuery& query,
                                             const WatchLimits& limits,
                                             WatchCounters& counters);

}  // namespace podnetstat::agent
