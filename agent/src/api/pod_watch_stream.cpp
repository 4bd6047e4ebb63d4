// A pod watch (the steps are api/watch_stream_base.h's): ADDED for every selected pod of the
// starting pages (one piece: pods are few), then the diffs' pod events.

#include "podnetstat/agent/api/pod_watch_stream.h"

#include <string_view>
#include <utility>

#include "podnetstat/agent/api/watch_stream_base.h"

namespace podnetstat::agent {
namespace {

void appendPodEvent(std::string& out, const char* type, std::string_view object) {
  out += R"({"type":")";
  out += type;
  out += R"(","object":)";
  out += object;
  out += "}\n";
}

class PodWatchStream : public WatchStreamBase {
 public:
  PodWatchStream(WatchHistory& history,
                 std::shared_ptr<const SnapshotPages> current,
                 std::optional<std::string> namespace_name,
                 const WatchQuery& query,
                 const WatchLimits& limits,
                 WatchCounters& counters)
      : WatchStreamBase(history, current->resourceVersion(), query, limits, counters),
        pages_(std::move(current)),
        namespace_(std::move(namespace_name)) {
    if (!initial()) {
      pages_.reset();
    }
  }

 private:
  bool selects(const std::optional<std::string>& namespace_name) const {
    return !namespace_ || namespace_name == namespace_;
  }

  bool initialPiece(std::string& out) override {
    const auto pods = pages_->snapshot().podIndex().pods();
    for (std::uint32_t p = 0; p < pods.size(); ++p) {
      if (selects(pods[p].namespace_name)) {
        appendPodEvent(out, "ADDED", pages_->podJson(p));
        countEvent();
      }
    }
    pages_.reset();  // the starting pages are no longer needed
    return false;
  }

  std::span<const WatchEvent> eventsOf(const ScanDiff& diff) const override {
    return diff.pod_events;
  }

  /// A pod's event, if its pod is selected (a pod's namespace never changes: its UID would).
  void appendSelected(std::string& out, const ScanDiff& diff, const WatchEvent& e) override {
    const std::int32_t index = e.new_object >= 0 ? e.new_object : e.old_object;
    const PodWatchObject& o = diff.pod_objects[static_cast<std::size_t>(index)];
    if (selects(o.namespace_name)) {
      appendPodEvent(out, watchEventName(e.type), o.json);
      countEvent();
    }
  }

  std::shared_ptr<const SnapshotPages> pages_;  // until the initial events are written
  std::optional<std::string> namespace_;
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
