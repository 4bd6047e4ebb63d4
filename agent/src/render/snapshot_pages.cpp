#include "podnetstat/agent/render/snapshot_pages.h"

#include <utility>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/metrics.h"
#include "podnetstat/agent/render/net_metrics.h"
#include "podnetstat/agent/render/socket_json.h"

namespace podnetstat::agent {
namespace {

constexpr std::size_t kJsonBytesPerSocket = 480;

std::string listHeadOf(const Snapshot& snapshot,
                       std::uint64_t resource_version,
                       const std::string& scanned_at) {
  std::string out = R"({"node":)";
  appendJsonString(out, snapshot.node());
  out += R"(,"resourceVersion":")";
  out += std::to_string(resource_version);
  out += '"';
  out += R"(,"scannedAt":)";
  appendJsonString(out, scanned_at);
  out += R"(,"scanDurationMs":)";
  appendJsonMillis(out, snapshot.scan().duration_ms);
  out += R"(,"items":[)";
  return out;
}

std::string netnsListOf(const Snapshot& snapshot, const std::string& list_head) {
  const auto& namespaces = snapshot.scan().namespaces;
  std::string out = list_head;
  for (std::uint32_t ns = 0; ns < namespaces.size(); ++ns) {
    if (ns > 0) {
      out += ',';
    }
    const auto [first, last] = snapshot.netnsRange(ns);
    appendNetnsJson(out, namespaces[ns], last - first,
                    snapshot.podIndex().ofNetns(namespaces[ns].inode));
  }
  out += "]}\n";
  return out;
}

}  // namespace

/// The `firstSeen` text of each socket in turn; most sockets were first seen at one of a few
/// scans, so the last one formatted is kept.
class SnapshotPages::FirstSeenText {
 public:
  explicit FirstSeenText(const SnapshotPages& pages) : pages_(pages) {}

  const std::string& operator()(std::uint32_t i) {
    const std::int64_t ms = pages_.firstSeenMs(i);
    if (ms != ms_ || text_.empty()) {
      ms_ = ms;
      text_ = formatRfc3339Ms(ms);
    }
    return text_;
  }

 private:
  const SnapshotPages& pages_;
  std::int64_t ms_ = 0;
  std::string text_;
};

SnapshotPages::SnapshotPages(std::shared_ptr<const Snapshot> snapshot,
                             std::uint64_t resource_version,
                             ScanAges ages)
    : snapshot_(std::move(snapshot)), resource_version_(resource_version), ages_(std::move(ages)) {
  const Snapshot& s = *snapshot_;
  const auto& sockets = s.scan().sockets;
  scanned_at_ = formatRfc3339Ms(s.scan().started_unix_ms);
  list_head_ = listHeadOf(s, resource_version_, scanned_at_);
  socket_json_.reserve(sockets.size() * kJsonBytesPerSocket);
  socket_json_starts_.reserve(sockets.size() + 1);
  FirstSeenText first_seen(*this);
  for (std::uint32_t i = 0; i < sockets.size(); ++i) {
    socket_json_starts_.push_back(socket_json_.size());
    appendSocketJson(socket_json_, sockets[i], s.scan(), s.socketPodOf(i), false, first_seen(i));
    socket_json_ += ',';
  }
  socket_json_starts_.push_back(socket_json_.size());
  const auto pods = s.podIndex().pods();
  pod_json_.resize(pods.size());
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    const auto& netns_inode = pods[p].netns_inode;
    appendPodJson(pod_json_[p], pods[p], netns_inode ? s.netnsByInode(*netns_inode) : nullptr,
                  s.podCounts(p), lateListeners(p));
  }
  netns_json_ = netnsListOf(s, list_head_);
  socket_series_ = agent::socketSeries(s);
  net_counter_series_ = agent::netCounterSeries(s);
  listener_series_ = agent::listenerSeries(s);
  undeclared_series_ = agent::undeclaredSeries(s);
  listen_queue_length_series_ = agent::listenQueueSeries(s, false);
  listen_queue_max_series_ = agent::listenQueueSeries(s, true);
  listener_appearance_series_ = agent::podListenerChurnSeries(s, ages_.pod_listener_churn, true);
  listener_disappearance_series_ =
      agent::podListenerChurnSeries(s, ages_.pod_listener_churn, false);
  for (const Listener& l : s.listeners().listeners()) {
    listener_tails_.open();
    appendListenerJsonTail(listener_tails_.text, l);
  }
  listener_tails_.close();
}

std::string_view SnapshotPages::socketsJson(std::uint32_t first,
                                            std::uint32_t last,
                                            bool tcp_info) const {
  if (first >= last) {
    return {};
  }
  if (tcp_info) {
    const std::string_view rows = socketJsonWithTcpInfo().rows(first, last);
    return rows.substr(0, rows.size() - 1);
  }
  return std::string_view(socket_json_)
      .substr(socket_json_starts_[first],
              socket_json_starts_[last] - 1 - socket_json_starts_[first]);
}

std::size_t SnapshotPages::socketsJsonBytes(std::uint32_t first,
                                            std::uint32_t last,
                                            bool tcp_info) const {
  const auto& starts = tcp_info ? socketJsonWithTcpInfo().starts : socket_json_starts_;
  return starts[last] - starts[first];
}

const TextRows& SnapshotPages::socketJsonWithTcpInfo() const {
  // Both tcpInfo forms are rendered together: most snapshots are never asked for either.
  socketTable(true);
  return tables_->json_tcp_info;
}

const SocketTable& SnapshotPages::socketTable(bool tcp_info) const {
  if (tcp_info) {
    std::call_once(tables_->tcp_info_once, [this] {
      const Snapshot& s = *snapshot_;
      tables_->sockets_tcp_info = renderSocketTable(s, true);
      TextRows& json = tables_->json_tcp_info;
      const auto& sockets = s.scan().sockets;
      FirstSeenText first_seen(*this);
      for (std::uint32_t i = 0; i < sockets.size(); ++i) {
        json.open();
        appendSocketJson(json.text, sockets[i], s.scan(), s.socketPodOf(i), true, first_seen(i));
        json.text += ',';
      }
      json.close();
    });
    return tables_->sockets_tcp_info;
  }
  std::call_once(tables_->sockets_once,
                 [this] { tables_->sockets = renderSocketTable(*snapshot_); });
  return tables_->sockets;
}

const ListenerTableText& SnapshotPages::listenerTable() const {
  std::call_once(tables_->listeners_once,
                 [this] { tables_->listeners = renderListenerTable(*snapshot_); });
  return tables_->listeners;
}

std::string_view SnapshotPages::tableRows(std::uint32_t first,
                                          std::uint32_t last,
                                          bool tcp_info) const {
  if (first >= last) {
    return {};
  }
  return socketTable(tcp_info).rows.rows(first, last);
}

std::size_t SnapshotPages::tableRowsBytes(std::uint32_t first,
                                          std::uint32_t last,
                                          bool tcp_info) const {
  const auto& starts = socketTable(tcp_info).rows.starts;
  return starts[last] - starts[first];
}

const std::string& SnapshotPages::tableHeader(bool inet) const {
  return inet ? socketTable().inet_header : socketTable().unix_header;
}

std::string_view SnapshotPages::listenerJsonTail(std::size_t i) const {
  return listener_tails_.rows(i, i + 1);
}

const std::string& SnapshotPages::listenerTableHeader() const {
  return listenerTable().header;
}

std::string_view SnapshotPages::listenerTableRow(std::size_t i) const {
  return listenerTable().rows.rows(i, i + 1);
}

std::span<const std::size_t> SnapshotPages::listenerTableWidths() const {
  return listenerTable().widths;
}

}  // namespace podnetstat::agent
