#pragma once

// The agent's socket table (`?format=table`): what `podnetstat list -anpe` prints, for every
// namespace of the snapshot at once, each row opened by the Netns and Pod columns.

#include <string>

#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/text_rows.h"

namespace podnetstat::agent {

struct SocketTable {
  std::string inet_header;  // netstat's title and column lines, with the two columns
  std::string unix_header;
  TextRows rows;  // one per socket of the snapshot, in its order
};

/// With `tcp_info`, each TCP row with sock_diag details is followed by ss's detail line.
SocketTable renderSocketTable(const Snapshot& snapshot, bool tcp_info = false);

}  // namespace podnetstat::agent
