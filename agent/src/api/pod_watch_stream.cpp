// A pod watch, as the connection polls it (the steps of api/watch_stream.cpp, over pods):
//   1. no resourceVersion: ADDED for every selected pod of the starting pages (one piece: pods
//      are few); the watch is then at the pages' generation;
//   2. the diffs after its generation, from the history (gone from it: the 410 ERROR, the end);
//      each diff's pod events selected and written, then a BOOKMARK when asked for;
//   3. nothing new: wait for the next scan's wake, a keep-alive, or the timeout (the end).

#include "podnetstat/agent/api/pod_watch_stream.h"

#include <algorithm>
#include <deque>
#include <string_view>
#include <utility>

#include "podnetstat/agent/json/json_write.h"

namespace podnetstat::agent {
namespace {

using Clock = std::chrono::steady_clock;

void appendPodEvent(std::string& out, const char* type, std::string_view object) {
  out += R"({"type":")";
  out += type;
  out += R"(","object":)";
  out += object;
  out += "}\n";
}

class PodWatchStream : public EventStream {
 public:
  PodWatchStream(WatchHistory& history,
                 std::shared_ptr<const SnapshotPages> current,
                 std::optional<std::string> namespace_name,
                 const WatchQuery& query,
                 const WatchLimits& limits,
                 WatchCounters& counters)
      : history_(history),
        pages_(std::move(current)),
        namespace_(std::move(namespace_name)),
        bookmarks_(query.bookmarks),
        limits_(limits),
        counters_(counters),
        last_sent_(Clock::now()) {
    const auto timeout =
        std::min<std::uint64_t>(query.timeout_seconds.value_or(limits.max_timeout.count()),
                                static_cast<std::uint64_t>(limits.max_timeout.count()));
    deadline_ = Clock::now() + std::chrono::seconds(timeout);
    if (query.resource_version) {
      cursor_ = *query.resource_version;
      pages_.reset();
    } else {
      cursor_ = pages_->resourceVersion();
    }
    counters_.open.fetch_add(1, std::memory_order_relaxed);
    counters_.started.fetch_add(1, std::memory_order_relaxed);
  }

  ~PodWatchStream() override {
    if (subscription_ != 0) {
      history_.unsubscribe(subscription_);
    }
    counters_.open.fetch_sub(1, std::memory_order_relaxed);
  }

  PodWatchStream(const PodWatchStream&) = delete;
  PodWatchStream& operator=(const PodWatchStream&) = delete;

  void start(std::function<void()> wake) override {
    subscription_ = history_.subscribe(std::move(wake));
  }

  Poll poll(std::string& out) override {
    if (ended_) {
      return Poll::End;
    }
    const auto now = Clock::now();
    if (now >= deadline_) {
      return Poll::End;
    }
    if (pages_) {
      initialEvents(out);
      return sent(out, now);
    }
    if (tooFarBehind()) {
      return expire(out, "the watch fell more than " + std::to_string(limits_.max_lag_scans) +
                             " scans behind; list again and watch from its resourceVersion");
    }
    auto diffs = history_.since(cursor_);
    if (!diffs) {
      return expire(out, "resourceVersion " + std::to_string(cursor_) +
                             " is too old or unknown (the newest is " +
                             std::to_string(history_.generation()) +
                             "); list again and watch from its resourceVersion");
    }
    for (const auto& diff : *diffs) {
      for (const WatchEvent& e : diff->pod_events) {
        appendSelected(out, *diff, e);
      }
      cursor_ = diff->generation;
      if (bookmarks_) {
        out += R"({"type":"BOOKMARK","object":{"resourceVersion":")";
        out += std::to_string(cursor_);
        out += "\"}}\n";
        counters_.events.fetch_add(1, std::memory_order_relaxed);
      }
    }
    if (out.empty()) {
      if (now - last_sent_ >= limits_.keep_alive) {
        out += '\n';
        return sent(out, now);
      }
      return Poll::Wait;
    }
    return sent(out, now);
  }

  std::chrono::milliseconds wakeAfter() const override {
    const auto now = Clock::now();
    const auto to_deadline =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now) +
        std::chrono::milliseconds(1);
    const auto to_keep_alive = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   last_sent_ + limits_.keep_alive - now) +
                               std::chrono::milliseconds(1);
    return std::max(std::chrono::milliseconds(1), std::min(to_deadline, to_keep_alive));
  }

  bool tooSlow() override { return tooFarBehind(); }

 private:
  bool tooFarBehind() {
    if (history_.generation() > cursor_ + limits_.max_lag_scans) {
      counters_.dropped.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

  Poll sent(const std::string& out, Clock::time_point now) {
    if (!out.empty()) {
      last_sent_ = now;
    }
    return Poll::Ready;
  }

  Poll expire(std::string& out, const std::string& message) {
    out += R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)";
    out += R"("code":410,"reason":"Expired","message":)";
    appendJsonString(out, message);
    out += "}}\n";
    counters_.events.fetch_add(1, std::memory_order_relaxed);
    ended_ = true;
    return Poll::End;
  }

  bool selects(const std::optional<std::string>& namespace_name) const {
    return !namespace_ || namespace_name == namespace_;
  }

  /// Step 1: ADDED for every selected pod of the starting pages.
  void initialEvents(std::string& out) {
    const auto pods = pages_->snapshot().podIndex().pods();
    for (std::uint32_t p = 0; p < pods.size(); ++p) {
      if (selects(pods[p].namespace_name)) {
        appendPodEvent(out, "ADDED", pages_->podJson(p));
        counters_.events.fetch_add(1, std::memory_order_relaxed);
      }
    }
    pages_.reset();  // the starting pages are no longer needed
  }

  /// One pod event of a diff, if its pod is selected (a pod's namespace never changes: its UID
  /// would).
  void appendSelected(std::string& out, const ScanDiff& diff, const WatchEvent& e) const {
    const std::int32_t index = e.new_object >= 0 ? e.new_object : e.old_object;
    const PodWatchObject& o = diff.pod_objects[static_cast<std::size_t>(index)];
    if (selects(o.namespace_name)) {
      appendPodEvent(out, watchEventName(e.type), o.json);
      counters_.events.fetch_add(1, std::memory_order_relaxed);
    }
  }

  WatchHistory& history_;
  std::shared_ptr<const SnapshotPages> pages_;  // until the initial events are written
  std::optional<std::string> namespace_;
  bool bookmarks_;
  WatchLimits limits_;
  WatchCounters& counters_;
  Clock::time_point deadline_;
  Clock::time_point last_sent_;
  std::uint64_t subscription_ = 0;
  std::uint64_t cursor_ = 0;
  bool ended_ = false;
};

}  // namespace

std::shared_ptr<EventStream> makePodWatchStream(WatchHistory& history,
                                                std::shared_ptr<const SnapshotPages> current,
                                                std::optional<std::string> namespace_name,
                                                const WatchQuery& query,
                                                const WatchLimits& limits,
                                                WatchCounters& counters) {
  return std::make_shared<PodWatchStream>(history, std::move(current), std::move(namespace_name),
                                          query, limits, counters);
}

}  // namespace podnetstat::agent
