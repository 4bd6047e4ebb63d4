#pragma once

// The text of one snapshot, rendered once when it is published so that requests only copy it:
// the head of every list, every socket's JSON object, every pod's, the namespace list, the
// Prometheus series, the listeners' posture fields; and, on first use (most snapshots are never
// asked for them), the netstat tables of the sockets and of the listeners. Immutable but for
// those lazily rendered tables (built once, thread-safe). Holds its snapshot alive.

#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/model/scan_ages.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/listener_text.h"
#include "podnetstat/agent/render/socket_table.h"
#include "podnetstat/agent/render/text_rows.h"

namespace podnetstat::agent {

class SnapshotPages {
 public:
  /// `resource_version`: the scan generation (1 for the first published snapshot, 0 when the
  /// pages are not published by a refresher). `ages`: what earlier scans tell of this one
  /// (firstSeen, lateListeners, the pods' listener churn); without them, every socket is first
  /// seen at this scan and no listener is late.
  explicit SnapshotPages(std::shared_ptr<const Snapshot> snapshot,
                         std::uint64_t resource_version = 0,
                         ScanAges ages = {});

  const Snapshot& snapshot() const { return *snapshot_; }

  /// The scan generation these pages were built from: the lists' `resourceVersion`.
  std::uint64_t resourceVersion() const { return resource_version_; }

  /// RFC 3339 time the scan began.
  const std::string& scannedAt() const { return scanned_at_; }

  /// `{"node":...,"resourceVersion":"N","scannedAt":...,"scanDurationMs":...,"items":[` — the
  /// head of every list.
  const std::string& listHead() const { return list_head_; }

  /// The JSON objects of sockets [first, last), comma separated; with `tcp_info`, each with its
  /// `tcpInfo` (rendered on the first such request).
  std::string_view socketsJson(std::uint32_t first,
                               std::uint32_t last,
                               bool tcp_info = false) const;

  /// socketsJson(first, last, tcp_info).size() + 1, without building the view.
  std::size_t socketsJsonBytes(std::uint32_t first,
                               std::uint32_t last,
                               bool tcp_info = false) const;

  /// The netstat rows (`list -anpe`, newline included) of sockets [first, last), concatenated,
  /// each opened by the namespace and pod columns; with `tcp_info`, a TCP row is followed by
  /// ss's detail line (render/tcp_info_text.h).
  std::string_view tableRows(std::uint32_t first, std::uint32_t last, bool tcp_info = false) const;

  /// tableRows(first, last, tcp_info).size().
  std::size_t tableRowsBytes(std::uint32_t first, std::uint32_t last, bool tcp_info = false) const;

  /// netstat's title and column lines of the inet (true) or unix (false) block, with the
  /// namespace and pod columns.
  const std::string& tableHeader(bool inet) const;

  /// The pod object of the pod numbered `pod`.
  const std::string& podJson(std::uint32_t pod) const { return pod_json_[pod]; }

  /// The `lateListeners` of the pod numbered `pod`.
  std::uint32_t lateListeners(std::uint32_t pod) const {
    return pod < ages_.pod_late_listeners.size() ? ages_.pod_late_listeners[pod] : 0;
  }

  /// Unix ms when scan().sockets[i] was first seen (`firstSeen`).
  std::int64_t firstSeenMs(std::uint32_t i) const {
    return i < ages_.socket_first_seen_ms.size() ? ages_.socket_first_seen_ms[i]
                                                 : snapshot_->scan().started_unix_ms;
  }

  /// The whole body of /api/v1/netns.
  const std::string& netnsListJson() const { return netns_json_; }

  /// podnetstat_sockets series (no HELP/TYPE lines).
  const std::string& socketSeries() const { return socket_series_; }

  /// The per-namespace network counter families (HELP and TYPE included); empty without
  /// counters.
  const std::string& netCounterSeries() const { return net_counter_series_; }

  /// podnetstat_listeners and podnetstat_undeclared_listeners series (no HELP/TYPE lines).
  const std::string& listenerSeries() const { return listener_series_; }

  const std::string& undeclaredSeries() const { return undeclared_series_; }

  /// podnetstat_listen_queue_length and _max series (no HELP/TYPE lines).
  const std::string& listenQueueLengthSeries() const { return listen_queue_length_series_; }

  const std::string& listenQueueMaxSeries() const { return listen_queue_max_series_; }

  /// podnetstat_pod_listener_appearances_total (`appearances` true) or
  /// podnetstat_pod_listener_disappearances_total series, one per pod (no HELP/TYPE lines).
  const std::string& podListenerChurnSeries(bool appearances) const {
    return appearances ? listener_appearance_series_ : listener_disappearance_series_;
  }

  /// The fields listener `i` adds to its socket object (`,"exposure":...}`), closing the object.
  std::string_view listenerJsonTail(std::size_t i) const;

  /// The listener table's header line, and the row of listener `i` (newlines included).
  const std::string& listenerTableHeader() const;
  std::string_view listenerTableRow(std::size_t i) const;
  /// The widths of that table's columns (appendListenerRow lays other rows out in them).
  std::span<const std::size_t> listenerTableWidths() const;

 private:
  class FirstSeenText;

  /// The two tables, each rendered on its first use.
  struct Tables {
    std::once_flag sockets_once;
    SocketTable sockets;
    std::once_flag listeners_once;
    ListenerTableText listeners;
    std::once_flag tcp_info_once;
    SocketTable sockets_tcp_info;
    TextRows json_tcp_info;  // objects each followed by ','
  };

  const SocketTable& socketTable(bool tcp_info = false) const;
  const TextRows& socketJsonWithTcpInfo() const;
  const ListenerTableText& listenerTable() const;

  std::shared_ptr<const Snapshot> snapshot_;
  std::uint64_t resource_version_ = 0;
  ScanAges ages_;
  std::string scanned_at_;
  std::string list_head_;
  std::string socket_json_;                      // objects separated by ','
  std::vector<std::size_t> socket_json_starts_;  // n + 1 entries
  std::vector<std::string> pod_json_;
  std::string netns_json_;
  std::string socket_series_;
  std::string net_counter_series_;
  std::string listener_series_;
  std::string undeclared_series_;
  std::string listen_queue_length_series_;
  std::string listen_queue_max_series_;
  std::string listener_appearance_series_;
  std::string listener_disappearance_series_;
  TextRows listener_tails_;
  std::unique_ptr<Tables> tables_ = std::make_unique<Tables>();
};

}  // namespace podnetstat::agent
