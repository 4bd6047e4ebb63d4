#pragma once

// What every watch does the same way, whatever it follows (api/watch_stream.h: sockets and
// listeners; api/pod_watch_stream.h: pods), as the connection polls it:
//   1. no resourceVersion: the ADDED events of the starting pages, in pieces (the follower's
//      initialPiece); the watch is then at the pages' generation;
//   2. the diffs after its generation, from the history (gone from it: the 410 ERROR, the end);
//      each diff's events go to the follower, which selects and writes them; then a BOOKMARK
//      when asked for;
//   3. nothing new: wait for the next scan's wake, a keep-alive, or the timeout (the end).
// Here: the timeout, the keep-alive, the lag bound, the subscription to the history and the
// counters. The follower says which events of a diff are its own and how they, a bookmark and
// the 410 are written (JSON by default).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/api/watch_stream.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/state/watch_history.h"

namespace podnetstat::agent {

class WatchStreamBase : public EventStream {
 public:
  ~WatchStreamBase() override;

  WatchStreamBase(const WatchStreamBase&) = delete;
  WatchStreamBase& operator=(const WatchStreamBase&) = delete;

  void start(std::function<void()> wake) final;
  Poll poll(std::string& out) final;
  std::chrono::milliseconds wakeAfter() const final;
  bool tooSlow() final;

 protected:
  /// A watch from `query`'s resourceVersion, or, without one, from the initial events of pages
  /// at `pages_generation`.
  WatchStreamBase(WatchHistory& history,
                  std::uint64_t pages_generation,
                  const WatchQuery& query,
                  const WatchLimits& limits,
                  WatchCounters& counters);

  /// True when the watch starts with the initial events (no resourceVersion was given).
  bool initial() const { return initial_; }

  /// Step 1: appends the next piece of initial ADDED events (about kChunkBytes); false when
  /// they are all written.
  virtual bool initialPiece(std::string& out) = 0;

  /// Step 2: the events of `diff` this watch follows.
  virtual std::span<const WatchEvent> eventsOf(const ScanDiff& diff) const = 0;

  /// Step 2: appends `e` (an event of eventsOf(diff)) as this watch sees it, if at all.
  virtual void appendSelected(std::string& out, const ScanDiff& diff, const WatchEvent& e) = 0;

  /// A bookmark at `generation`, and the 410 ERROR with `message`: JSON events by default.
  virtual void appendBookmark(std::string& out, std::uint64_t generation) const;
  virtual void appendExpired(std::string& out, const std::string& message) const;

  /// Counts one event sent (for /metrics).
  void countEvent() { counters_.events.fetch_add(1, std::memory_order_relaxed); }

  /// About how much one poll appends before it returns.
  static constexpr std::size_t kChunkBytes = 16 * 1024;

  /// The text sent before anything else (the table form's header), once.
  std::string header_;

 private:
  using Clock = std::chrono::steady_clock;

  bool tooFarBehind() const;
  Poll sent(const std::string& out, Clock::time_point now);
  Poll expire(std::string& out, const std::string& message);

  WatchHistory& history_;
  bool bookmarks_;
  WatchLimits limits_;
  WatchCounters& counters_;
  Clock::time_point deadline_;
  Clock::time_point last_sent_;
  std::uint64_t subscription_ = 0;
  std::uint64_t cursor_ = 0;
  std::uint64_t started_at_ = 0;  // the newest generation when the watch began
  bool initial_ = true;
  bool ended_ = false;
  std::deque<std::shared_ptr<const ScanDiff>> pending_;
  std::size_t event_ = 0;
};

}  // namespace podnetstat::agent
