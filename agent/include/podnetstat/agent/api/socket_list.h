#pragma once

// The body of a socket list: pieces of the snapshot's pre-rendered JSON (or netstat rows) of
// the sockets a query selects, produced as the connection sends them, so that memory per client
// stays small whatever the size of the list.

#include <memory>
#include <vector>

#include "podnetstat/agent/api/api_query.h"
#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/snapshot_pages.h"

namespace podnetstat::agent {

/// By pod number, whether the query's `namespace` and `pod` (and `only_pod`, when set) let a
/// pod's sockets through; sockets of no pod never match then. Empty: no pod restriction.
std::vector<char> podsAllowed(const Snapshot& snapshot,
                              const SocketQuery& query,
                              const k8s::Pod* only_pod = nullptr);

/// The sockets of `pages` the query selects (and, when `only_pod` is set, of that pod of the
/// snapshot's index only). Holds its snapshot alive.
std::shared_ptr<BodyStream> makeSocketListStream(std::shared_ptr<const SnapshotPages> pages,
                                                 const SocketQuery& query,
                                                 const k8s::Pod* only_pod = nullptr);

}  // namespace podnetstat::agent
