#include "podnetstat/agent/api/watch_stream_base.h"

#include <algorithm>
#include <utility>

#include "podnetstat/agent/json/json_write.h"

namespace podnetstat::agent {

WatchStreamBase::WatchStreamBase(WatchHistory& history,
                                 std::uint64_t pages_generation,
                                 const WatchQuery& query,
                                 const WatchLimits& limits,
                                 WatchCounters& counters)
    : history_(history),
      bookmarks_(query.bookmarks),
      limits_(limits),
      counters_(counters),
      last_sent_(Clock::now()) {
  const auto timeout =
      std::min<std::uint64_t>(query.timeout_seconds.value_or(limits.max_timeout.count()),
                              static_cast<std::uint64_t>(limits.max_timeout.count()));
  deadline_ = Clock::now() + std::chrono::seconds(timeout);
  started_at_ = history_.generation();
  if (query.resource_version) {
    cursor_ = *query.resource_version;
    initial_ = false;
  } else {
    cursor_ = pages_generation;
  }
  counters_.open.fetch_add(1, std::memory_order_relaxed);
  counters_.started.fetch_add(1, std::memory_order_relaxed);
}

WatchStreamBase::~WatchStreamBase() {
  if (subscription_ != 0) {
    history_.unsubscribe(subscription_);
  }
  counters_.open.fetch_sub(1, std::memory_order_relaxed);
}

void WatchStreamBase::start(std::function<void()> wake) {
  subscription_ = history_.subscribe(std::move(wake));
}

EventStream::Poll WatchStreamBase::poll(std::string& out) {
  if (ended_) {
    return Poll::End;
  }
  const auto now = Clock::now();
  if (now >= deadline_) {
    return Poll::End;
  }
  if (!header_.empty()) {
    out += header_;
    header_.clear();
    header_.shrink_to_fit();
  }
  if (initial_) {
    initial_ = initialPiece(out);
    return sent(out, now);
  }
  if (tooFarBehind()) {
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
    const std::span<const WatchEvent> events = eventsOf(diff);
    while (event_ < events.size() && out.size() < kChunkBytes) {
      appendSelected(out, diff, events[event_++]);
    }
    if (event_ < events.size()) {
      break;
    }
    cursor_ = diff.generation;
    if (bookmarks_) {
      appendBookmark(out, cursor_);
      countEvent();
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

std::chrono::milliseconds WatchStreamBase::wakeAfter() const {
  const auto now = Clock::now();
  const auto to_deadline = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now) +
                           std::chrono::milliseconds(1);
  const auto to_keep_alive =
      std::chrono::duration_cast<std::chrono::milliseconds>(last_sent_ + limits_.keep_alive - now) +
      std::chrono::milliseconds(1);
  return std::max(std::chrono::milliseconds(1), std::min(to_deadline, to_keep_alive));
}

bool WatchStreamBase::tooSlow() {
  if (tooFarBehind()) {
    counters_.dropped.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  return false;
}

void WatchStreamBase::appendBookmark(std::string& out, std::uint64_t generation) const {
  out += R"({"type":"BOOKMARK","object":{"resourceVersion":")";
  out += std::to_string(generation);
  out += "\"}}\n";
}

void WatchStreamBase::appendExpired(std::string& out, const std::string& message) const {
  out += R"({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","status":"Failure",)";
  out += R"("code":410,"reason":"Expired","message":)";
  appendJsonString(out, message);
  out += "}}\n";
}

/// More than max_lag_scans behind the newest scan, counted from where the watch is or, for one
/// resumed from an older resourceVersion, from the scan it started at: catching up on the history
/// is not falling behind.
bool WatchStreamBase::tooFarBehind() const {
  return history_.generation() > std::max(cursor_, started_at_) + limits_.max_lag_scans;
}

EventStream::Poll WatchStreamBase::sent(const std::string& out, Clock::time_point now) {
  if (!out.empty()) {
    last_sent_ = now;
  }
  return Poll::Ready;
}

EventStream::Poll WatchStreamBase::expire(std::string& out, const std::string& message) {
  appendExpired(out, message);
  countEvent();
  ended_ = true;
  return Poll::End;
}

}  // namespace podnetstat::agent
