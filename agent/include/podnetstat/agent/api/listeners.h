#pragma once

// The posture view of a snapshot: every listening socket (the API's `listening=true`: TCP
// LISTEN, unconnected UDP/UDP-Lite/raw, unix with ACC) with its exposure (loopback, pod, node;
// k8s/exposure.h), whether its pod's spec declares it, the hostPort mapped to it, and whether a
// process holding it runs as uid 0. Built once per snapshot; served by /api/v1/listeners, summed
// per pod in /api/v1/pods and exported as podnetstat_listeners and
// podnetstat_undeclared_listeners.

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/render/socket_json.h"
#include "podnetstat/k8s/exposure.h"

namespace podnetstat::agent {

class Snapshot;

/// One listening socket with its posture.
struct Listener {
  std::uint32_t socket = 0;  // index into the snapshot's scan().sockets
  k8s::Exposure exposure = k8s::Exposure::Loopback;
  std::string reason;
  std::optional<bool> declared;
  std::uint16_t host_port = 0;  // 0: none
  std::optional<bool> uid0;     // nullopt: no owning process known
};

/// The listeners of one snapshot, in the snapshot's socket order.
class ListenerTable {
 public:
  ListenerTable() = default;

  /// Classifies the listening sockets of `snapshot` (whose scan, socket pods, pod index and
  /// socket JSON must be complete; the snapshot's constructor calls this before it renders its
  /// pods).
  static ListenerTable build(const Snapshot& snapshot);

  const std::vector<Listener>& listeners() const { return listeners_; }

  /// Counts of the pod numbered `pod` in the snapshot's pod index.
  const PodListenerCounts& podCounts(std::uint32_t pod) const { return pod_counts_[pod]; }

  /// The fields a listener adds to its socket object (`,"exposure":...}`), closing the object.
  std::string_view jsonTail(std::size_t listener) const {
    return std::string_view(json_tails_)
        .substr(json_tail_starts_[listener],
                json_tail_starts_[listener + 1] - json_tail_starts_[listener]);
  }

  /// The table's header line (newline included). `snapshot` is the one this table was built
  /// for; the table is rendered on first use (thread-safe), as most scans are never asked for it.
  const std::string& tableHeader(const Snapshot& snapshot) const;

  /// The table row of a listener (newline included); see tableHeader().
  std::string_view tableRow(const Snapshot& snapshot, std::size_t listener) const;

  /// podnetstat_listeners{namespace,pod,exposure} series (no HELP/TYPE lines).
  const std::string& listenerMetrics() const { return listener_metrics_; }

  /// podnetstat_undeclared_listeners{namespace,pod} series, one per pod the kubelet reports.
  const std::string& undeclaredMetrics() const { return undeclared_metrics_; }

 private:
  std::vector<Listener> listeners_;
  std::vector<PodListenerCounts> pod_counts_;
  std::string json_tails_;                     // all tails, concatenated
  std::vector<std::size_t> json_tail_starts_;  // listeners + 1 entries

  struct Table {
    std::once_flag once;
    std::string header;
    std::string rows;                 // all rows, concatenated
    std::vector<std::size_t> starts;  // listeners + 1 entries
  };

  const Table& table(const Snapshot& snapshot) const;

  std::unique_ptr<Table> table_ = std::make_unique<Table>();
  std::string listener_metrics_;
  std::string undeclared_metrics_;
};

/// A parsed /api/v1/listeners query: the socket list filters plus `exposure` and `declared`.
struct ListenerQuery {
  SocketQuery sockets;
  /// By k8s::Exposure; all true when `exposure` is absent.
  std::array<bool, k8s::kExposureCount> exposures{true, true, true};
  /// `declared=true|false`: only listeners whose declared is exactly that (unknown ones never
  /// match); nullopt: no restriction.
  std::optional<bool> declared;
};

/// The parameters /api/v1/listeners accepts, in the order error messages list them.
inline constexpr const char* kListenerQueryParams =
    "transport, state, listening, connected, port, pid, netns, namespace, pod, exposure, "
    "declared, format";

/// Parses a listener query: `exposure` is a comma list (repeatable, the union) of loopback, pod,
/// node; `declared` is true or false, once; the rest as parseSocketQuery(). Unknown parameters and
/// bad values are errors naming the parameter.
Result<ListenerQuery> parseListenerQuery(const std::vector<QueryParam>& params);

/// The body of /api/v1/listeners: the list head and each selected listener's socket object with
/// its posture fields (or the table), produced piece by piece. Holds its snapshot alive.
std::shared_ptr<BodyStream> makeListenerStream(std::shared_ptr<const Snapshot> snapshot,
                                               const ListenerQuery& query);

}  // namespace podnetstat::agent
