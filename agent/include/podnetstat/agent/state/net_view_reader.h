#pragma once

// Reading a netstat view of one namespace now (render/net_view.h says which files): for
// `podnetstat list -i/-r/-s/-g` and the API's views, which read the kernel when asked rather
// than at the last scan, so that counters move between two requests. A few small files of
// /proc/<pid>/net/ of a process of the namespace (or, for a namespace no process lives in, from
// inside it through its name); MTU and flags from rtnetlink inside it when asked.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "podnetstat/agent/render/net_view.h"
#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/net_stats.h"
#include "podnetstat/scanner/result.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::agent {

struct NetViewData {
  scanner::NetStats stats;
  std::vector<scanner::LinkAttributes> links;  // empty unless asked for and read
  std::optional<Error> links_error;            // why MTU and flags could not be read
  std::int64_t read_unix_ms = 0;               // when the files were read
};

/// Reads the files of `view` (routes: `route_family` as netViewFiles()), and MTU and flags of
/// the interfaces when `with_links`. An error when the namespace cannot be read any more: kind
/// Gone when its processes (and names) are gone, Permission when we may not, Unavailable
/// otherwise; failing MTU and flags only fill links_error.
Result<NetViewData> readNetView(const scanner::Roots& roots,
                                const scanner::NetNamespace& ns,
                                NetView view,
                                std::optional<bool> route_family,
                                bool with_links);

}  // namespace podnetstat::agent
