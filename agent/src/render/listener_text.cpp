#include "podnetstat/agent/render/listener_text.h"

#include <algorithm>
#include <array>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/metrics.h"
#include "podnetstat/agent/render/netstat_format.h"

namespace podnetstat::agent {
namespace {

/// The table's columns, in order; the last one (Reason) is not padded.
enum Column : std::uint8_t {
  kNetns,
  kPod,
  kProto,
  kLocal,
  kExposure,
  kDeclared,
  kHostPort,
  kUid0,
  kProgram,
  kContainer,
  kReason,
  kColumnCount
};

constexpr std::array<std::string_view, kColumnCount> kColumnTitles = {
    kNetnsColumn,       kPodColumn,  "Proto",    "Local Address",
    "Exposure",         "Declared",  "HostPort", "Uid0",
    "PID/Program name", "Container", "Reason"};

using Cells = std::array<std::string, kColumnCount>;

std::string_view yesNo(const std::optional<bool>& value) {
  if (!value) {
    return "-";
  }
  return *value ? "yes" : "no";
}

void appendOptionalBool(std::string& out, const std::optional<bool>& value) {
  if (!value) {
    out += "null";
  } else {
    out += *value ? "true" : "false";
  }
}

std::string localAddress(const scanner::Socket& s) {
  if (s.transport == scanner::Transport::Unix) {
    const std::string_view path = netstatUnixPath(s);
    return path.empty() ? "-" : std::string(path);
  }
  NetstatOptions options;
  options.numeric_hosts = options.numeric_ports = options.numeric_users = true;
  options.wide = true;
  return netstatAddress(s.local, s.transport, options, nullptr);
}

/// The cells of a listener's table row, its pod and container given as labels.
Cells cells(const scanner::ScanResult& scan,
            const Listener& l,
            std::string_view pod_label,
            std::string_view container_label) {
  const scanner::Socket& s = scan.sockets[l.socket];
  Cells out;
  out[kNetns] = netnsLabel(scan.namespaces[s.netns_index]);
  out[kPod] = pod_label;
  out[kProto] = scanner::transportName(s.transport);
  out[kLocal] = localAddress(s);
  out[kExposure] = k8s::exposureName(l.exposure);
  out[kDeclared] = yesNo(l.declared);
  out[kHostPort] = l.host_port == 0 ? "-" : std::to_string(l.host_port);
  out[kUid0] = yesNo(l.uid0);
  out[kProgram] = netstatProgram(s, scan);
  out[kContainer] = container_label;
  out[kReason] = l.reason;
  return out;
}

/// The cells of a listener of the snapshot.
Cells cells(const Snapshot& snapshot, const Listener& l) {
  const auto pod = snapshot.socketPodOf(l.socket);
  return cells(snapshot.scan(), l, podLabel(pod ? pod->pod : nullptr),
               containerLabel(pod ? pod->container : nullptr));
}

/// Appends one line: every cell but the last padded to its column's width, one blank between.
void appendLine(std::string& out, std::span<const std::size_t> widths, const auto& cell) {
  for (std::size_t c = 0; c < kColumnCount; ++c) {
    const std::string_view text = cell(c);
    out += text;
    if (c + 1 < kColumnCount) {
      out.append(widths[c] - std::min(widths[c], text.size()) + 1, ' ');
    }
  }
  out += '\n';
}

}  // namespace

void appendListenerJsonTail(std::string& out, const Listener& l) {
  out += R"(,"exposure":")";
  out += k8s::exposureName(l.exposure);
  out += R"(","exposureReason":)";
  appendJsonString(out, l.reason);
  out += R"(,"declared":)";
  appendOptionalBool(out, l.declared);
  out += R"(,"hostPort":)";
  if (l.host_port == 0) {
    out += "null";
  } else {
    appendJsonUint(out, l.host_port);
  }
  out += R"(,"uid0":)";
  appendOptionalBool(out, l.uid0);
  out += '}';
}

ListenerTableText renderListenerTable(const Snapshot& snapshot) {
  const auto& listeners = snapshot.listeners().listeners();
  std::vector<Cells> rows;
  rows.reserve(listeners.size());
  for (const Listener& l : listeners) {
    rows.push_back(cells(snapshot, l));
  }
  std::vector<std::size_t> widths(kColumnCount);
  for (std::size_t c = 0; c < kColumnCount; ++c) {
    widths[c] = kColumnTitles[c].size();
    for (const auto& row : rows) {
      widths[c] = std::max(widths[c], row[c].size());
    }
  }
  ListenerTableText t;
  appendLine(t.header, widths, [&](std::size_t c) { return kColumnTitles[c]; });
  t.rows.starts.reserve(rows.size() + 1);
  for (const auto& row : rows) {
    t.rows.open();
    appendLine(t.rows.text, widths, [&](std::size_t c) { return std::string_view(row[c]); });
  }
  t.rows.close();
  t.widths = std::move(widths);
  return t;
}

void appendListenerRow(std::string& out,
                       std::span<const std::size_t> widths,
                       const scanner::ScanResult& scan,
                       const Listener& listener,
                       std::string_view pod_label,
                       std::string_view container_label) {
  const Cells row = cells(scan, listener, pod_label, container_label);
  appendLine(out, widths, [&](std::size_t c) { return std::string_view(row[c]); });
}

std::string listenerSeries(const Snapshot& snapshot) {
  std::string out;
  for (const auto& [key, count] : snapshot.listeners().series()) {
    out += "podnetstat_listeners{";
    appendPodSeriesLabels(out, snapshot.pod(key.first));
    out += ",exposure=\"";
    out += k8s::exposureName(key.second);
    out += "\"} ";
    appendJsonUint(out, count);
    out += '\n';
  }
  return out;
}

std::string undeclaredSeries(const Snapshot& snapshot) {
  std::string out;
  const auto pods = snapshot.podIndex().pods();
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    if ((pods[p].sources & k8s::kSourceKubelet) == 0) {
      continue;
    }
    out += "podnetstat_undeclared_listeners{";
    appendPodSeriesLabels(out, &pods[p]);
    out += "} ";
    appendJsonUint(out, snapshot.listeners().podCounts(p).undeclared);
    out += '\n';
  }
  return out;
}

}  // namespace podnetstat::agent
