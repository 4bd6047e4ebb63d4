#include "podnetstat/agent/state/net_view_reader.h"

#include <utility>

#include "podnetstat/scanner/wall_clock.h"

namespace podnetstat::agent {

Result<NetViewData> readNetView(const scanner::Roots& roots,
                                const scanner::NetNamespace& ns,
                                NetView view,
                                std::optional<bool> route_family,
                                bool with_links) {
  auto stats = scanner::readNetStats(roots, ns, netViewFiles(view, route_family));
  NetViewData data;
  data.read_unix_ms = scanner::nowUnixMs();
  if (!stats) {
    return stats.error();
  }
  data.stats = std::move(*stats);
  if (with_links && view == NetView::Interfaces) {
    auto links = scanner::readLinks(roots, ns);
    if (links) {
      data.links = std::move(*links);
    } else {
      data.links_error = links.error();
    }
  }
  return data;
}

}  // namespace podnetstat::agent
