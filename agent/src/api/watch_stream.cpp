// A watch of sockets or listeners (the steps are api/watch_stream_base.h's): the ADDED events of
// the starting pages and the diffs' socket events, selected by the list's filters. In table form
// the same steps write rows (the header before step 1's), through the renderers of the route's
// table (render/socket_table.h, render/listener_text.h).

#include "podnetstat/agent/api/watch_stream.h"

#include <algorithm>
#include <charconv>
#include <string_view>
#include <utility>
#include <vector>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/agent/api/socket_list.h"
#include "podnetstat/agent/api/watch_stream_base.h"
#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/listener_text.h"
#include "podnetstat/agent/render/socket_table.h"

namespace podnetstat::agent {
namespace {

/// The Event column of the table form, as wide as its longest type ("MODIFIED") and a blank.
constexpr Column kEventColumn{"Event", 9};

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

bool anyInet(const scanner::TransportSet& transports) {
  return std::ranges::any_of(scanner::kAllTransports, [&](scanner::Transport t) {
    return t != scanner::Transport::Unix && transports.contains(t);
  });
}

class WatchStream : public WatchStreamBase {
 public:
  WatchStream(WatchHistory& history,
              std::shared_ptr<const SnapshotPages> current,
              WatchSelection selection,
              const WatchQuery& query,
              const WatchLimits& limits,
              WatchCounters& counters)
      : WatchStreamBase(history, current->resourceVersion(), query, limits, counters),
        pages_(std::move(current)),
        selection_(std::move(selection)) {
    if (initial()) {
      const Snapshot& s = pages_->snapshot();
      pod_allowed_ = podsAllowed(s, selection_.sockets, podOf(s));
      if (selection_.sockets.netns) {
        netns_ = s.findNetns(*selection_.sockets.netns);
        no_netns_ = netns_ < 0;
      }
    }
    if (selection_.format == OutputFormat::Table) {
      startTable();
    }
    if (!initial()) {
      pages_.reset();
    }
  }

 private:
  std::span<const WatchEvent> eventsOf(const ScanDiff& diff) const override { return diff.events; }

  const k8s::Pod* podOf(const Snapshot& s) const {
    return selection_.pod_uid ? s.podIndex().byUid(*selection_.pod_uid) : nullptr;
  }

  bool table() const { return selection_.format == OutputFormat::Table; }

  /// The table form's header (sent first) and the layout of its rows, from the starting pages
  /// (a watch from a resourceVersion starts from the current ones).
  void startTable() {
    const SnapshotPages& pages = *pages_;
    if (selection_.listeners) {
      const std::span<const std::size_t> widths = pages.listenerTableWidths();
      listener_widths_.assign(widths.begin(), widths.end());
      appendCell(header_, kEventColumn.title, kEventColumn.width);
      header_ += pages.listenerTableHeader();
    } else {
      layout_.emplace(pages.snapshot());
      const scanner::TransportSet& transports = selection_.sockets.transports;
      if (anyInet(transports)) {
        header_ += withColumns(pages.tableHeader(true), {kEventColumn});
      }
      if (transports.contains(scanner::Transport::Unix)) {
        header_ += withColumns(pages.tableHeader(false), {kEventColumn});
      }
    }
  }

  void appendBookmark(std::string& out, std::uint64_t generation) const override {
    if (table()) {
      out += "# resourceVersion ";
      out += std::to_string(generation);
      out += '\n';
    } else {
      WatchStreamBase::appendBookmark(out, generation);
    }
  }

  void appendExpired(std::string& out, const std::string& message) const override {
    if (table()) {
      appendCell(out, "ERROR", kEventColumn.width);
      out += "410 Expired: ";
      out += message;
      out += '\n';
    } else {
      WatchStreamBase::appendExpired(out, message);
    }
  }

  /// Step 1: the next piece of ADDED events for the starting pages.
  bool initialPiece(std::string& out) override {
    const Snapshot& s = pages_->snapshot();
    bool more = false;
    if (selection_.listeners) {
      const auto& all = s.listeners().listeners();
      while (pos_ < all.size() && out.size() < kChunkBytes) {
        const std::size_t i = pos_++;
        if (selectsCurrent(all[i].socket, &all[i])) {
          if (table()) {
            appendCell(out, "ADDED", kEventColumn.width);
            out += pages_->listenerTableRow(i);
          } else {
            appendEvent(out, "ADDED", withoutBrace(all[i].socket), pages_->listenerJsonTail(i));
          }
          countEvent();
        }
      }
      more = pos_ < all.size();
    } else {
      const auto n = s.scan().sockets.size();
      while (pos_ < n && out.size() < kChunkBytes) {
        const auto i = static_cast<std::uint32_t>(pos_++);
        if (selectsCurrent(i, nullptr)) {
          if (table()) {
            appendCell(out, "ADDED", kEventColumn.width);
            out += pages_->tableRows(i, i + 1);
          } else {
            appendEvent(out, "ADDED", withoutBrace(i), "}");
          }
          countEvent();
        }
      }
      more = pos_ < n;
    }
    if (!more) {
      pages_.reset();  // the starting pages are no longer needed
    }
    return more;
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

  void appendObject(std::string& out, const char* type, const ScanDiff& diff, std::int32_t index) {
    const WatchObject& o = diff.objects[static_cast<std::size_t>(index)];
    if (table()) {
      appendRow(out, type, diff, o, static_cast<std::uint32_t>(index));
    } else {
      appendEvent(out, type, o.json,
                  selection_.listeners ? std::string_view(o.listener_tail) : "}");
    }
    countEvent();
  }

  /// The table row of an event: its type, then its object's row of the route's table.
  void appendRow(std::string& out,
                 const char* type,
                 const ScanDiff& diff,
                 const WatchObject& o,
                 std::uint32_t index) {
    appendCell(out, type, kEventColumn.width);
    const std::string pod = o.has_pod ? podLabel(o.pod_namespace, o.pod_name, o.pod_uid) : "-";
    if (selection_.listeners) {
      appendListenerRow(out, listener_widths_, diff.scan, *o.listener, pod,
                        containerLabel(o.container_id, o.container_name));
    } else {
      const scanner::Socket& s = diff.scan.sockets[index];
      layout_->appendRow(out, diff.scan, index, netnsLabel(diff.scan.namespaces[s.netns_index]),
                         pod);
    }
  }

  /// One event of a diff as this watch sees it through its filters.
  void appendSelected(std::string& out, const ScanDiff& diff, const WatchEvent& e) override {
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

  std::shared_ptr<const SnapshotPages> pages_;  // until the initial events are written
  WatchSelection selection_;
  std::size_t pos_ = 0;
  std::vector<char> pod_allowed_;
  std::int64_t netns_ = -1;
  bool no_netns_ = false;
  // The table form: how rows are laid out (the header is sent first).
  std::optional<SocketTableLayout> layout_;
  std::vector<std::size_t> listener_widths_;
};

/// A count of scans for --watch-max-lag-scans.
Result<std::uint64_t> parseLagScans(std::string_view text) {
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 1 ||
      value > kMaxLagScansLimit) {
    return Error{"--watch-max-lag-scans: expected a whole number of scans from 1 to " +
                     std::to_string(kMaxLagScansLimit) + ", got '" + std::string(text) + "'",
                 ErrorKind::Invalid};
  }
  return value;
}

}  // namespace

Result<WatchLimits> parseWatchLimits(std::string_view max_lag_scans,
                                     std::string_view keep_alive,
                                     std::string_view max_timeout) {
  WatchLimits limits;
  auto lag = parseLagScans(max_lag_scans);
  if (!lag) {
    return lag.error();
  }
  limits.max_lag_scans = *lag;
  auto alive = parseDuration(keep_alive);
  if (!alive) {
    return Error{"--watch-keep-alive: " + alive.error().message, ErrorKind::Invalid};
  }
  if (*alive < kMinKeepAlive || *alive > kMaxKeepAlive) {
    return Error{"--watch-keep-alive: expected 100ms to 1h, got '" + std::string(keep_alive) + "'",
                 ErrorKind::Invalid};
  }
  limits.keep_alive = *alive;
  auto timeout = parseDuration(max_timeout);
  if (!timeout) {
    return Error{"--watch-max-timeout: " + timeout.error().message, ErrorKind::Invalid};
  }
  if (*timeout < std::chrono::seconds(1) || *timeout > kMaxTimeoutLimit ||
      *timeout % std::chrono::seconds(1) != std::chrono::milliseconds(0)) {
    return Error{"--watch-max-timeout: expected whole seconds from 1s to 24h, got '" +
                     std::string(max_timeout) + "'",
                 ErrorKind::Invalid};
  }
  limits.max_timeout = std::chrono::duration_cast<std::chrono::seconds>(*timeout);
  return limits;
}

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
