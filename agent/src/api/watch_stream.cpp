// A watch, as the connection polls it:
//   1. no resourceVersion: ADDED for every selected item of the starting pages, in pieces; the
//      watch is then at the pages' generation;
//   2. the diffs after its generation, from the history (gone from it: the 410 ERROR, the end);
//      each diff's events selected and written, then a BOOKMARK when asked for;
//   3. nothing new: wait for the next scan's wake, a keep-alive, or the timeout (the end).

#include "podnetstat/agent/api/watch_stream.h"

#include <algorithm>
#include <deque>
#include <string_view>
#include <utility>
#include <vector>

#include "podnetstat/agent/api/socket_list.h"
#include "podnetstat/agent/json/json_write.h"

namespace podnetstat::agent {
namespace {

constexpr std::size_t kChunkBytes = 16 * 1024;

using Clock = std::chrono::steady_clock;

void appendEvent(std::string& out,
                 const char* type,
                 std::string_view object,
                 std::string_view closing) {
  out += R"({"type":")";
  out += type;
  out += R"(","object":)";
  out += object;
  out += closing;
  out += "}\n";
}

void appendExpired(std::string& out, const std::string& message) {
  out += R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)";
  out += R"("code":410,"reason":"Expired","message":)";
  appendJsonString(out, message);
  out += "}}\n";
}

class WatchStream : public EventStream {
 public:
  WatchStream(WatchHistory& history,
              std::shared_ptr<const SnapshotPages> current,
              WatchSelection selection,
              const WatchQuery& query,
              const WatchLimits& limits,
              WatchCounters& counters)
      : history_(history),
        pages_(std::move(current)),
        selection_(std::move(selection)),
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
      initial_ = false;
    } else {
      cursor_ = pages_->resourceVersion();
      const Snapshot& s = pages_->snapshot();
      pod_allowed_ = podsAllowed(s, selection_.sockets, podOf(s));
      if (selection_.sockets.netns) {
        netns_ = s.findNetns(*selection_.sockets.netns);
        no_netns_ = netns_ < 0;
      }
    }
    counters_.open.fetch_add(1, std::memory_order_relaxed);
    counters_.started.fetch_add(1, std::memory_order_relaxed);
  }

  ~WatchStream() override {
    if (subscription_ != 0) {
      history_.unsubscribe(subscription_);
    }
    counters_.open.fetch_sub(1, std::memory_order_relaxed);
  }

  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

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
    if (initial_) {
      initialPiece(out);
      return sent(out, now);
    }
    if (history_.generation() > cursor_ + limits_.max_lag_scans) {
      counters_.dropped.fetch_add(1, std::memory_order_relaxed);
      return expire(out, "the watch fell more than " + std::to_string(limits_.max_lag_scans) +
                             " scans behind; list again and watch from its resourceVersion");
    }
    if (pending_.empty()) {
      auto diffs = history_.since(cursor_);
      if (!diffs) {
        return expire(out, "resourceVersion " + std::to_string(cursor_) +
                               " is too old or unknown (the newest is " +
                               std::to_string(history_.generation()) +
                               "); list again and watch from its resourceVersion");
      }
      pending_.assign(diffs->begin(), diffs->end());
      event_ = 0;
    }
    while (!pending_.empty() && out.size() < kChunkBytes) {
      const ScanDiff& diff = *pending_.front();
      while (event_ < diff.events.size() && out.size() < kChunkBytes) {
        appendSelected(out, diff, diff.events[event_++]);
      }
      if (event_ < diff.events.size()) {
        break;
      }
      cursor_ = diff.generation;
      if (bookmarks_) {
        out += R"({"type":"BOOKMARK","object":{"resourceVersion":")";
        out += std::to_string(cursor_);
        out += "\"}}\n";
        counters_.events.fetch_add(1, std::memory_order_relaxed);
      }
      pending_.pop_front();
      event_ = 0;
    }
    if (out.empty() && pending_.empty()) {
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

  bool tooSlow() override {
    if (history_.generation() > cursor_ + limits_.max_lag_scans) {
      counters_.dropped.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    return false;
  }

 private:
  const k8s::Pod* podOf(const Snapshot& s) const {
    return selection_.pod_uid ? s.podIndex().byUid(*selection_.pod_uid) : nullptr;
  }

  Poll sent(const std::string& out, Clock::time_point now) {
    if (!out.empty()) {
      last_sent_ = now;
    }
    return Poll::Ready;
  }

  Poll expire(std::string& out, const std::string& message) {
    appendExpired(out, message);
    counters_.events.fetch_add(1, std::memory_order_relaxed);
    ended_ = true;
    return Poll::End;
  }

  /// Step 1: the next piece of ADDED events for the starting pages.
  void initialPiece(std::string& out) {
    const Snapshot& s = pages_->snapshot();
    if (selection_.listeners) {
      const auto& all = s.listeners().listeners();
      while (pos_ < all.size() && out.size() < kChunkBytes) {
        const std::size_t i = pos_++;
        if (selectsCurrent(all[i].socket, &all[i])) {
          appendEvent(out, "ADDED", withoutBrace(all[i].socket), pages_->listenerJsonTail(i));
          counters_.events.fetch_add(1, std::memory_order_relaxed);
        }
      }
      initial_ = pos_ < all.size();
    } else {
      const auto n = s.scan().sockets.size();
      while (pos_ < n && out.size() < kChunkBytes) {
        const auto i = static_cast<std::uint32_t>(pos_++);
        if (selectsCurrent(i, nullptr)) {
          appendEvent(out, "ADDED", withoutBrace(i), "}");
          counters_.events.fetch_add(1, std::memory_order_relaxed);
        }
      }
      initial_ = pos_ < n;
    }
    if (!initial_) {
      pages_.reset();  // the starting pages are no longer needed
    }
  }

  std::string_view withoutBrace(std::uint32_t socket) const {
    const std::string_view json = pages_->socketsJson(socket, socket + 1);
    return json.substr(0, json.size() - 1);
  }

  bool selectsListener(const Listener& l) const {
    const ListenerQuery& q = *selection_.listeners;
    return q.exposures[static_cast<std::size_t>(l.exposure)] &&
           (!q.declared || l.declared == q.declared);
  }

  bool selectsCurrent(std::uint32_t i, const Listener* listener) const {
    const Snapshot& s = pages_->snapshot();
    const scanner::Socket& socket = s.scan().sockets[i];
    if (no_netns_ || (netns_ >= 0 && socket.netns_index != static_cast<std::uint32_t>(netns_))) {
      return false;
    }
    if (listener != nullptr && !selectsListener(*listener)) {
      return false;
    }
    if (!pod_allowed_.empty()) {
      const std::uint32_t pod = s.socketPod(i);
      if (pod == kNoPod || pod_allowed_[pod] == 0) {
        return false;
      }
    } else if (selection_.pod_uid) {
      return false;  // the pod is not in these pages
    }
    return selection_.sockets.filter(socket, s.scan());
  }

  bool selectsObject(const ScanDiff& diff, std::int32_t index) const {
    if (index < 0) {
      return false;
    }
    const WatchObject& o = diff.objects[static_cast<std::size_t>(index)];
    const scanner::Socket& s = diff.scan.sockets[static_cast<std::size_t>(index)];
    const SocketQuery& q = selection_.sockets;
    if (selection_.listeners && (!o.listener || !selectsListener(*o.listener))) {
      return false;
    }
    if (q.netns) {
      const scanner::NetNamespace& ns = diff.scan.namespaces[s.netns_index];
      if (std::find(ns.names.begin(), ns.names.end(), *q.netns) == ns.names.end() &&
          std::to_string(ns.inode) != *q.netns) {
        return false;
      }
    }
    if (selection_.pod_uid && (!o.has_pod || o.pod_uid != *selection_.pod_uid)) {
      return false;
    }
    if (q.k8s_namespace && (!o.has_pod || o.pod_namespace != *q.k8s_namespace)) {
      return false;
    }
    if (q.pod && (!o.has_pod || (o.pod_name != *q.pod && o.pod_uid != *q.pod))) {
      return false;
    }
    return q.filter(s, diff.scan);
  }

  void appendObject(std::string& out,
                    const char* type,
                    const ScanDiff& diff,
                    std::int32_t index) const {
    const WatchObject& o = diff.objects[static_cast<std::size_t>(index)];
    appendEvent(out, type, o.json, selection_.listeners ? std::string_view(o.listener_tail) : "}");
    counters_.events.fetch_add(1, std::memory_order_relaxed);
  }

  /// One event of a diff as this watch sees it through its filters.
  void appendSelected(std::string& out, const ScanDiff& diff, const WatchEvent& e) const {
    const bool before = selectsObject(diff, e.old_object);
    const bool after = selectsObject(diff, e.new_object);
    if (before && after) {
      appendObject(out, "MODIFIED", diff, e.new_object);
    } else if (after) {
      appendObject(out, "ADDED", diff, e.new_object);
    } else if (before) {
      appendObject(out, "DELETED", diff, e.old_object);
    }
  }

  WatchHistory& history_;
  std::shared_ptr<const SnapshotPages> pages_;
  WatchSelection selection_;
  bool bookmarks_;
  WatchLimits limits_;
  WatchCounters& counters_;
  Clock::time_point deadline_;
  Clock::time_point last_sent_;
  std::uint64_t subscription_ = 0;
  std::uint64_t cursor_ = 0;
  bool initial_ = true;
  bool ended_ = false;
  std::size_t pos_ = 0;
  std::vector<char> pod_allowed_;
  std::int64_t netns_ = -1;
  bool no_netns_ = false;
  std::deque<std::shared_ptr<const ScanDiff>> pending_;
  std::size_t event_ = 0;
};

}  // namespace

std::shared_ptr<EventStream> makeWatchStream(WatchHistory& history,
                                             std::shared_ptr<const SnapshotPages> current,
                                             WatchSelection selection,
                                             const WatchQuery& query,
                                             const WatchLimits& limits,
                                             WatchCounters& counters) {
  return std::make_shared<WatchStream>(history, std::move(current), std::move(selection), query,
                                       limits, counters);
}

}  // namespace podnetstat::agent
