#pragma once

// The agent's socket table (`?format=table`): what `podnetstat list -anpe` prints, for every
// namespace of the snapshot at once, each row opened by the Netns and Pod columns.

#include <cstdint>
#include <string>
#include <string_view>

#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/netstat_format.h"
#include "podnetstat/agent/render/text_rows.h"

namespace podnetstat::agent {

struct SocketTable {
  std::string inet_header;  // netstat's title and column lines, with the two columns
  std::string unix_header;
  TextRows rows;  // one per socket of the snapshot, in its order
};

/// The layout of one snapshot's socket table: netstat's `-anpe` renderer (numeric) and the
/// widths of the Netns and Pod columns, as wide as the snapshot's longest labels. Rows of other
/// scans may be laid out in it too (a watch's events): a longer label pushes the rest of its row
/// to the right.
class SocketTableLayout {
 public:
  explicit SocketTableLayout(const Snapshot& snapshot, bool tcp_info = false);

  /// netstat's title and column lines, the column line opened by the Netns and Pod titles.
  std::string inetHeader() const;
  std::string unixHeader() const;

  /// Appends the row of scan.sockets[i] (newline included; with tcp_info, ss's detail line after
  /// it), opened by its namespace's and its pod's labels (render/labels.h).
  void appendRow(std::string& out,
                 const scanner::ScanResult& scan,
                 std::uint32_t i,
                 std::string_view netns_label,
                 std::string_view pod_label);

 private:
  NetstatRenderer renderer_;
  Column netns_;
  Column pod_;
};

/// With `tcp_info`, each TCP row with sock_diag details is followed by ss's detail line.
SocketTable renderSocketTable(const Snapshot& snapshot, bool tcp_info = false);

}  // namespace podnetstat::agent
