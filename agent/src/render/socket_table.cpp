#include "podnetstat/agent/render/socket_table.h"

#include <algorithm>
#include <vector>

#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/netstat_format.h"

namespace podnetstat::agent {

SocketTable renderSocketTable(const Snapshot& snapshot, bool tcp_info) {
  NetstatOptions options;
  options.mode = ListMode::All;
  options.numeric_hosts = options.numeric_ports = options.numeric_users = true;
  options.extend = true;
  options.programs = true;
  options.tcp_info = tcp_info;
  NetstatRenderer renderer(options, nullptr);

  const auto& scan = snapshot.scan();
  std::vector<std::string> netns_labels;
  std::size_t longest_netns = 0;
  for (const auto& ns : scan.namespaces) {
    netns_labels.push_back(netnsLabel(ns));
    longest_netns = std::max(longest_netns, netns_labels.back().size());
  }
  std::vector<std::string> pod_labels;
  std::size_t longest_pod = 0;
  for (const auto& pod : snapshot.podIndex().pods()) {
    pod_labels.push_back(podLabel(&pod));
    longest_pod = std::max(longest_pod, pod_labels.back().size());
  }
  const Column netns{kNetnsColumn, columnWidth(kNetnsColumn, longest_netns)};
  const Column pod{kPodColumn, columnWidth(kPodColumn, longest_pod)};

  SocketTable table;
  table.inet_header = withColumns(renderer.inetHeader(), {netns, pod});
  table.unix_header = withColumns(renderer.unixHeader(), {netns, pod});
  table.rows.text.reserve(scan.sockets.size() * 160);
  table.rows.starts.reserve(scan.sockets.size() + 1);
  for (std::uint32_t i = 0; i < scan.sockets.size(); ++i) {
    const auto& s = scan.sockets[i];
    const std::uint32_t p = snapshot.socketPod(i);
    table.rows.open();
    appendCell(table.rows.text, netns_labels[s.netns_index], netns.width);
    appendCell(table.rows.text, p == kNoPod ? std::string_view("-") : pod_labels[p], pod.width);
    renderer.appendRow(table.rows.text, s, scan);
  }
  table.rows.close();
  return table;
}

}  // namespace podnetstat::agent
