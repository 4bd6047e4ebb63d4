#include "podnetstat/agent/api/listeners.h"

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/metrics.h"
#include "podnetstat/agent/render/netstat_format.h"
#include "podnetstat/agent/render/socket_json.h"
#include "podnetstat/scanner/filter.h"

namespace podnetstat::agent {
namespace {

// Pieces of a listener list are sent at about this size (as the socket lists are).
constexpr std::size_t kChunkBytes = 16 * 1024;

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

constexpr std::array<std::string_view, kColumnCount> kColumnTitles = {Snapshot::kNetnsColumn,
                                                                      Snapshot::kPodColumn,
                                                                      "Proto",
                                                                      "Local Address",
                                                                      "Exposure",
                                                                      "Declared",
                                                                      "HostPort",
                                                                      "Uid0",
                                                                      "PID/Program name",
                                                                      "Container",
                                                                      "Reason"};

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

/// The cells of a listener's table row.
std::array<std::string, kColumnCount> cells(const Snapshot& snapshot, const Listener& l) {
  const auto& scan = snapshot.scan();
  const scanner::Socket& s = scan.sockets[l.socket];
  std::array<std::string, kColumnCount> out;
  out[kNetns] = snapshot.netnsLabel(s.netns_index);
  out[kPod] = snapshot.podLabel(snapshot.socketPod(l.socket));
  out[kProto] = scanner::transportName(s.transport);
  if (s.transport == scanner::Transport::Unix) {
    const std::string_view path = netstatUnixPath(s);
    out[kLocal] = path.empty() ? "-" : std::string(path);
  } else {
    NetstatOptions options;
    options.numeric_hosts = options.numeric_ports = options.numeric_users = true;
    options.wide = true;
    out[kLocal] = netstatAddress(s.local, s.transport, options, nullptr);
  }
  out[kExposure] = k8s::exposureName(l.exposure);
  out[kDeclared] = yesNo(l.declared);
  out[kHostPort] = l.host_port == 0 ? "-" : std::to_string(l.host_port);
  out[kUid0] = yesNo(l.uid0);
  out[kProgram] = netstatProgram(s, scan);
  out[kContainer] = "-";
  if (const std::uint32_t pod = snapshot.socketPod(l.socket); pod != Snapshot::kNoPod) {
    if (const auto sp = snapshot.podIndex().ofSocket(s, scan); sp && sp->container != nullptr) {
      out[kContainer] = sp->container->name.value_or(sp->container->id.substr(0, 12));
    }
  }
  out[kReason] = l.reason;
  return out;
}

void appendPodLabels(std::string& out, const Snapshot& snapshot, std::uint32_t pod) {
  out += "namespace=\"";
  if (pod != Snapshot::kNoPod) {
    const k8s::Pod& p = snapshot.podIndex().pods()[pod];
    out += escapeLabelValue(p.namespace_name.value_or(""));
    out += "\",pod=\"";
    out += escapeLabelValue(p.name.value_or(p.uid));
  } else {
    out += "\",pod=\"";
  }
  out += '"';
}

class ListenerStream : public BodyStream {
 public:
  ListenerStream(std::shared_ptr<const Snapshot> snapshot, ListenerQuery query)
      : snapshot_(std::move(snapshot)), query_(std::move(query)) {
    const auto& q = query_.sockets;
    if (q.netns) {
      netns_ = snapshot_->findNetns(*q.netns);
      no_match_ = netns_ < 0;
    }
    if (q.k8s_namespace || q.pod) {
      const auto pods = snapshot_->podIndex().pods();
      pod_allowed_.assign(pods.size(), 0);
      for (std::size_t p = 0; p < pods.size(); ++p) {
        bool ok = !q.k8s_namespace || pods[p].namespace_name == *q.k8s_namespace;
        ok = ok && (!q.pod || pods[p].name == *q.pod || pods[p].uid == *q.pod);
        pod_allowed_[p] = ok ? 1 : 0;
      }
      restrict_pods_ = true;
    }
  }

  bool next(std::string& out) override {
    const ListenerTable& table = snapshot_->listeners();
    const bool json = query_.sockets.format == OutputFormat::Json;
    if (!started_) {
      started_ = true;
      out += json ? snapshot_->listHead() : table.tableHeader(*snapshot_);
    }
    const auto& all = table.listeners();
    while (out.size() < kChunkBytes && pos_ < all.size()) {
      const std::size_t i = pos_++;
      if (!selects(all[i])) {
        continue;
      }
      if (json) {
        if (!first_) {
          out += ',';
        }
        first_ = false;
        const std::string_view socket = snapshot_->socketsJson(all[i].socket, all[i].socket + 1);
        out += socket.substr(0, socket.size() - 1);  // without its closing brace
        out += table.jsonTail(i);
      } else {
        out += table.tableRow(*snapshot_, i);
      }
    }
    if (pos_ < all.size()) {
      return true;
    }
    if (json) {
      out += "]}\n";
    }
    return false;
  }

 private:
  bool selects(const Listener& l) const {
    if (no_match_ || !query_.exposures[static_cast<std::size_t>(l.exposure)]) {
      return false;
    }
    if (query_.declared && l.declared != query_.declared) {
      return false;
    }
    const auto& scan = snapshot_->scan();
    const scanner::Socket& s = scan.sockets[l.socket];
    if (netns_ >= 0 && s.netns_index != static_cast<std::uint32_t>(netns_)) {
      return false;
    }
    if (restrict_pods_) {
      const std::uint32_t pod = snapshot_->socketPod(l.socket);
      if (pod == Snapshot::kNoPod || pod_allowed_[pod] == 0) {
        return false;
      }
    }
    return query_.sockets.filter(s, scan);
  }

  std::shared_ptr<const Snapshot> snapshot_;
  ListenerQuery query_;
  std::int64_t netns_ = -1;
  bool no_match_ = false;
  bool restrict_pods_ = false;
  std::vector<char> pod_allowed_;
  std::size_t pos_ = 0;
  bool started_ = false;
  bool first_ = true;
};

Error paramError(std::string_view name, std::string_view what) {
  return Error{"parameter '" + std::string(name) + "': " + std::string(what)};
}

}  // namespace

ListenerTable ListenerTable::build(const Snapshot& snapshot) {
  ListenerTable t;
  const auto& scan = snapshot.scan();
  const auto pods = snapshot.podIndex().pods();
  t.pod_counts_.resize(pods.size());
  std::map<std::pair<std::uint32_t, k8s::Exposure>, std::uint64_t> series;

  for (std::uint32_t i = 0; i < scan.sockets.size(); ++i) {
    const scanner::Socket& s = scan.sockets[i];
    if (!scanner::isListening(s)) {
      continue;
    }
    const bool host =
        s.netns_index < scan.namespaces.size() && scan.namespaces[s.netns_index].is_host;
    const k8s::Pod* netns_pod =
        host || s.netns_index >= scan.namespaces.size()
            ? nullptr
            : snapshot.podIndex().ofNetns(scan.namespaces[s.netns_index].inode);
    const std::uint32_t pod_number = snapshot.socketPod(i);
    const k8s::Pod* pod = pod_number == Snapshot::kNoPod ? nullptr : &pods[pod_number];

    Listener l;
    l.socket = i;
    k8s::ExposureVerdict verdict = k8s::classifyExposure(s, host, netns_pod);
    l.exposure = verdict.exposure;
    l.reason = std::move(verdict.reason);
    const k8s::PortDeclaration declaration = k8s::findDeclaredPort(s, pod);
    l.declared = declaration.declared;
    l.host_port = declaration.host_port;
    for (const std::uint32_t owner : scan.owners(s)) {
      if (owner < scan.processes.size()) {
        l.uid0 = l.uid0.value_or(false) || scan.processes[owner].uid == 0;
      }
    }

    t.json_tail_starts_.push_back(t.json_tails_.size());
    std::string& tail = t.json_tails_;
    tail += R"(,"exposure":")";
    tail += k8s::exposureName(l.exposure);
    tail += R"(","exposureReason":)";
    appendJsonString(tail, l.reason);
    tail += R"(,"declared":)";
    appendOptionalBool(tail, l.declared);
    tail += R"(,"hostPort":)";
    if (l.host_port == 0) {
      tail += "null";
    } else {
      appendJsonUint(tail, l.host_port);
    }
    tail += R"(,"uid0":)";
    appendOptionalBool(tail, l.uid0);
    tail += '}';

    if (pod != nullptr) {
      PodListenerCounts& counts = t.pod_counts_[pod_number];
      ++counts.by_exposure[static_cast<std::size_t>(l.exposure)];
      if (l.declared == false) {
        ++counts.undeclared;
      }
    }
    ++series[{pod_number, l.exposure}];
    t.listeners_.push_back(std::move(l));
  }

  t.json_tail_starts_.push_back(t.json_tails_.size());

  for (const auto& [key, count] : series) {
    t.listener_metrics_ += "podnetstat_listeners{";
    appendPodLabels(t.listener_metrics_, snapshot, key.first);
    t.listener_metrics_ += ",exposure=\"";
    t.listener_metrics_ += k8s::exposureName(key.second);
    t.listener_metrics_ += "\"} ";
    appendJsonUint(t.listener_metrics_, count);
    t.listener_metrics_ += '\n';
  }
  // Only pods whose spec the kubelet reported: for the others "undeclared" is unknown, not 0.
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    if ((pods[p].sources & k8s::kSourceKubelet) == 0) {
      continue;
    }
    t.undeclared_metrics_ += "podnetstat_undeclared_listeners{";
    appendPodLabels(t.undeclared_metrics_, snapshot, p);
    t.undeclared_metrics_ += "} ";
    appendJsonUint(t.undeclared_metrics_, t.pod_counts_[p].undeclared);
    t.undeclared_metrics_ += '\n';
  }
  return t;
}

const ListenerTable::Table& ListenerTable::table(const Snapshot& snapshot) const {
  std::call_once(table_->once, [&] {
    Table& t = *table_;
    std::vector<std::array<std::string, kColumnCount>> rows;
    rows.reserve(listeners_.size());
    for (const Listener& l : listeners_) {
      rows.push_back(cells(snapshot, l));
    }
    // Every column but the last padded to its widest cell, one blank between columns.
    std::array<std::size_t, kColumnCount> widths{};
    for (std::size_t c = 0; c < kColumnCount; ++c) {
      widths[c] = kColumnTitles[c].size();
      for (const auto& row : rows) {
        widths[c] = std::max(widths[c], row[c].size());
      }
    }
    const auto line = [&](std::string& out, const auto& cell) {
      for (std::size_t c = 0; c < kColumnCount; ++c) {
        const std::string_view text = cell(c);
        out += text;
        if (c + 1 < kColumnCount) {
          out.append(widths[c] - std::min(widths[c], text.size()) + 1, ' ');
        }
      }
      out += '\n';
    };
    line(t.header, [&](std::size_t c) { return kColumnTitles[c]; });
    t.starts.reserve(rows.size() + 1);
    for (const auto& row : rows) {
      t.starts.push_back(t.rows.size());
      line(t.rows, [&](std::size_t c) { return std::string_view(row[c]); });
    }
    t.starts.push_back(t.rows.size());
  });
  return *table_;
}

const std::string& ListenerTable::tableHeader(const Snapshot& snapshot) const {
  return table(snapshot).header;
}

std::string_view ListenerTable::tableRow(const Snapshot& snapshot, std::size_t listener) const {
  const Table& t = table(snapshot);
  return std::string_view(t.rows).substr(t.starts[listener],
                                         t.starts[listener + 1] - t.starts[listener]);
}

Result<ListenerQuery> parseListenerQuery(const std::vector<QueryParam>& params) {
  ListenerQuery q;
  std::vector<QueryParam> socket_params;
  bool exposure_seen = false;
  bool declared_seen = false;
  for (const QueryParam& param : params) {
    if (param.name == "exposure") {
      if (param.value.empty()) {
        return paramError(param.name, "empty value");
      }
      if (!exposure_seen) {
        q.exposures.fill(false);
        exposure_seen = true;
      }
      std::size_t start = 0;
      for (;;) {
        const std::size_t comma = param.value.find(',', start);
        const std::string item = param.value.substr(start, comma - start);
        const auto e = k8s::exposureFromName(item);
        if (!e) {
          return paramError(param.name, "unknown exposure '" + item + "' (loopback, pod, node)");
        }
        q.exposures[static_cast<std::size_t>(*e)] = true;
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
    } else if (param.name == "declared") {
      if (declared_seen) {
        return paramError(param.name, "given more than once");
      }
      declared_seen = true;
      if (param.value == "true" || param.value == "1") {
        q.declared = true;
      } else if (param.value == "false" || param.value == "0") {
        q.declared = false;
      } else {
        return paramError(param.name, "'" + param.value + "' is not true or false");
      }
    } else {
      socket_params.push_back(param);
    }
  }
  auto sockets = parseSocketQuery(socket_params);
  if (!sockets) {
    std::string message = sockets.error().message;
    // The socket list names its own parameters; a listener list has two more.
    if (const auto at = message.find(kSocketQueryParams); at != std::string::npos) {
      message.replace(at, std::string_view(kSocketQueryParams).size(), kListenerQueryParams);
    }
    return Error{std::move(message)};
  }
  q.sockets = std::move(*sockets);
  return q;
}

std::shared_ptr<BodyStream> makeListenerStream(std::shared_ptr<const Snapshot> snapshot,
                                               const ListenerQuery& query) {
  return std::make_shared<ListenerStream>(std::move(snapshot), query);
}

}  // namespace podnetstat::agent
