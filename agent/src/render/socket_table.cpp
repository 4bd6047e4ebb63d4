#include "podnetstat/agent/render/socket_table.h"

#include <algorithm>
#include <vector>

namespace podnetstat::agent {
namespace {

NetstatOptions tableOptions(bool tcp_info) {
  NetstatOptions options;
  options.mode = ListMode::All;
  options.numeric_hosts = options.numeric_ports = options.numeric_users = true;
  options.extend = true;
  options.programs = true;
  options.tcp_info = tcp_info;
  return options;
}

std::size_t longestNetnsLabel(const scanner::ScanResult& scan) {
  std::size_t longest = 0;
  for (const auto& ns : scan.namespaces) {
    longest = std::max(longest, netnsLabel(ns).size());
  }
  return longest;
}

std::size_t longestPodLabel(const Snapshot& snapshot) {
  std::size_t longest = 0;
  for (const auto& pod : snapshot.podIndex().pods()) {
    longest = std::max(longest, podLabel(&pod).size());
  }
  return longest;
}

}  // namespace

SocketTableLayout::SocketTableLayout(const Snapshot& snapshot, bool tcp_info)
    : renderer_(tableOptions(tcp_info), nullptr),
      netns_{kNetnsColumn, columnWidth(kNetnsColumn, longestNetnsLabel(snapshot.scan()))},
      pod_{kPodColumn, columnWidth(kPodColumn, longestPodLabel(snapshot))} {}

std::string SocketTableLayout::inetHeader() const {
  return withColumns(renderer_.inetHeader(), {netns_, pod_});
}

std::string SocketTableLayout::unixHeader() const {
  return withColumns(renderer_.unixHeader(), {netns_, pod_});
}

void SocketTableLayout::appendRow(std::string& out,
                                  const scanner::ScanResult& scan,
                                  std::uint32_t i,
                                  std::string_view netns_label,
                                  std::string_view pod_label) {
  appendCell(out, netns_label, netns_.width);
  appendCell(out, pod_label, pod_.width);
  renderer_.appendRow(out, scan.sockets[i], scan);
}

SocketTable renderSocketTable(const Snapshot& snapshot, bool tcp_info) {
  SocketTableLayout layout(snapshot, tcp_info);
  const auto& scan = snapshot.scan();
  std::vector<std::string> netns_labels;
  for (const auto& ns : scan.namespaces) {
    netns_labels.push_back(netnsLabel(ns));
  }
  std::vector<std::string> pod_labels;
  for (const auto& pod : snapshot.podIndex().pods()) {
    pod_labels.push_back(podLabel(&pod));
  }
  SocketTable table;
  table.inet_header = layout.inetHeader();
  table.unix_header = layout.unixHeader();
  table.rows.text.reserve(scan.sockets.size() * 160);
  table.rows.starts.reserve(scan.sockets.size() + 1);
  for (std::uint32_t i = 0; i < scan.sockets.size(); ++i) {
    const std::uint32_t p = snapshot.socketPod(i);
    table.rows.open();
    layout.appendRow(table.rows.text, scan, i, netns_labels[scan.sockets[i].netns_index],
                     p == kNoPod ? std::string_view("-") : std::string_view(pod_labels[p]));
  }
  table.rows.close();
  return table;
}

}  // namespace podnetstat::agent
