#pragma once

// The posture of a snapshot's listeners (model/listener_table.h) as text: the fields a listener
// adds to its socket object in /api/v1/listeners, the table of `?format=table`, and the
// podnetstat_listeners and podnetstat_undeclared_listeners series.

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/model/listener_table.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/text_rows.h"

namespace podnetstat::agent {

/// Appends `,"exposure":...,"uid0":...}`: a listener's fields, closing its socket object.
void appendListenerJsonTail(std::string& out, const Listener& listener);

struct ListenerTableText {
  std::string header;               // the column titles line
  TextRows rows;                    // one per listener of the snapshot
  std::vector<std::size_t> widths;  // of every column but the last
};

/// The listener table: Netns, Pod, Proto, Local Address, Exposure, Declared, HostPort, Uid0,
/// PID/Program name, Container and Reason, every column but the last as wide as its widest
/// cell.
ListenerTableText renderListenerTable(const Snapshot& snapshot);

/// Appends the row of a listener of `scan` (listener.socket indexes it) laid out in the column
/// widths of a table (ListenerTableText::widths), a wider cell pushing the rest of its row to the
/// right: the rows of a watch, whose listeners come from later scans. The pod and container cells
/// are given as labels (render/labels.h).
void appendListenerRow(std::string& out,
                       std::span<const std::size_t> widths,
                       const scanner::ScanResult& scan,
                       const Listener& listener,
                       std::string_view pod_label,
                       std::string_view container_label);

/// podnetstat_listeners{namespace,pod,exposure} series (no HELP/TYPE lines).
std::string listenerSeries(const Snapshot& snapshot);

/// podnetstat_undeclared_listeners{namespace,pod} series, one per pod the kubelet reports (for
/// the others "undeclared" is unknown, not 0).
std::string undeclaredSeries(const Snapshot& snapshot);

}  // namespace podnetstat::agent
