#include "podnetstat/agent/model/snapshot.h"

#include <malloc.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <tuple>

#include <spdlog/spdlog.h>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/metrics.h"
#include "podnetstat/agent/render/netstat_format.h"
#include "podnetstat/agent/render/socket_json.h"

namespace podnetstat::agent {

namespace {

constexpr std::size_t kJsonBytesPerSocket = 480;

std::int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void appendNetnsJson(std::string& out,
                     const scanner::NetNamespace& ns,
                     std::uint32_t sockets,
                     const k8s::Pod* pod) {
  out += R"({"inode":)";
  appendJsonUint(out, ns.inode);
  out += R"(,"name":)";
  if (ns.names.empty()) {
    out += "null";
  } else {
    appendJsonString(out, ns.names.front());
  }
  out += R"(,"names":[)";
  for (std::size_t i = 0; i < ns.names.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    appendJsonString(out, ns.names[i]);
  }
  out += R"(],"host":)";
  out += ns.is_host ? "true" : "false";
  out += R"(,"pids":[)";
  for (std::size_t i = 0; i < ns.pids.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    appendJsonInt(out, ns.pids[i]);
  }
  out += R"(],"pod":)";
  appendPodRefJson(out, pod == nullptr
                            ? std::nullopt
                            : std::optional<k8s::SocketPod>(k8s::SocketPod{pod, nullptr}));
  out += R"(,"sockets":)";
  appendJsonUint(out, sockets);
  out += R"(,"readable":)";
  out += ns.readable ? "true" : "false";
  out += R"(,"error":)";
  if (ns.error.empty()) {
    out += "null";
  } else {
    appendJsonString(out, ns.error);
  }
  out += '}';
}

}  // namespace

Snapshot::Snapshot(scanner::ScanResult scan,
                   std::string node,
                   std::int64_t completed_unix_ms,
                   PodAttribution pods,
                   std::vector<NetnsCounters> net_counters)
    : scan_(std::move(scan)),
      pods_(std::move(pods)),
      node_(std::move(node)),
      completed_unix_ms_(completed_unix_ms) {
  auto& sockets = scan_.sockets;
  const auto by_netns = [](const scanner::Socket& a, const scanner::Socket& b) {
    return a.netns_index < b.netns_index;
  };
  // The scanner groups sockets by namespace already; the ranges below rely on it.
  if (!std::is_sorted(sockets.begin(), sockets.end(), by_netns)) {
    std::stable_sort(sockets.begin(), sockets.end(), by_netns);
  }

  const auto ns_count = static_cast<std::uint32_t>(scan_.namespaces.size());
  netns_ranges_.assign(ns_count, {0, 0});
  netns_labels_.resize(ns_count);
  {
    std::uint32_t i = 0;
    const auto n = static_cast<std::uint32_t>(sockets.size());
    for (std::uint32_t ns = 0; ns < ns_count; ++ns) {
      while (i < n && sockets[i].netns_index < ns) {
        ++i;  // sockets of a namespace index out of range cannot exist; skip defensively
      }
      const std::uint32_t begin = i;
      while (i < n && sockets[i].netns_index == ns) {
        ++i;
      }
      netns_ranges_[ns] = {begin, i};
    }
  }
  for (std::uint32_t ns = 0; ns < ns_count; ++ns) {
    const auto& info = scan_.namespaces[ns];
    for (const auto& name : info.names) {
      netns_by_name_.emplace(name, ns);
    }
    netns_by_inode_.emplace(info.inode, ns);
    netns_labels_[ns] = info.names.empty() ? std::to_string(info.inode) : info.names.front();
  }

  scanned_at_ = formatRfc3339Ms(scan_.started_unix_ms);
  list_head_ = R"({"node":)";
  appendJsonString(list_head_, node_);
  list_head_ += R"(,"scannedAt":)";
  appendJsonString(list_head_, scanned_at_);
  list_head_ += R"(,"scanDurationMs":)";
  appendJsonMillis(list_head_, scan_.duration_ms);
  list_head_ += R"(,"items":[)";

  // Pods: every socket's, then each pod's summary with its socket counts.
  const auto pod_list = pods_.index.pods();
  std::vector<PodSocketCounts> pod_counts(pod_list.size());
  socket_pods_.assign(sockets.size(), kNoPod);
  socket_json_.reserve(sockets.size() * kJsonBytesPerSocket);
  socket_json_starts_.reserve(sockets.size() + 1);
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const auto& s = sockets[i];
    std::optional<k8s::SocketPod> pod;
    if (!pod_list.empty()) {
      pod = pods_.index.ofSocket(s, scan_);
      if (pod && pod->pod != nullptr) {
        const std::uint32_t number = podNumber(pod->pod);
        socket_pods_[i] = number;
        ++pod_counts[number].total;
        ++pod_counts[number].by_state[std::string(scanner::socketStateName(s))];
      }
    }
    socket_json_starts_.push_back(socket_json_.size());
    appendSocketJson(socket_json_, s, scan_, pod);
    socket_json_ += ',';
  }
  socket_json_starts_.push_back(socket_json_.size());
  listeners_ = ListenerTable::build(*this);
  pod_json_.resize(pod_list.size());
  for (std::size_t p = 0; p < pod_list.size(); ++p) {
    pod_counts[p].listeners = listeners_.podCounts(static_cast<std::uint32_t>(p));
    const scanner::NetNamespace* netns = nullptr;
    if (pod_list[p].netns_inode) {
      if (auto it = netns_by_inode_.find(*pod_list[p].netns_inode); it != netns_by_inode_.end()) {
        netns = &scan_.namespaces[it->second];
      }
    }
    appendPodJson(pod_json_[p], pod_list[p], netns, pod_counts[p]);
  }

  netns_json_ = list_head_;
  for (std::uint32_t ns = 0; ns < ns_count; ++ns) {
    if (ns > 0) {
      netns_json_ += ',';
    }
    appendNetnsJson(netns_json_, scan_.namespaces[ns],
                    netns_ranges_[ns].second - netns_ranges_[ns].first,
                    pods_.index.ofNetns(scan_.namespaces[ns].inode));
  }
  netns_json_ += "]}\n";

  // podnetstat_sockets{namespace,pod,netns,transport,state}; an unnamed pod is labelled by uid.
  std::map<std::tuple<std::uint32_t, std::uint32_t, scanner::Transport, std::string>, std::uint64_t>
      counts;
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const auto& s = sockets[i];
    ++counts[{s.netns_index, socket_pods_[i], s.transport, scanner::socketStateName(s)}];
  }
  for (const auto& [key, count] : counts) {
    const auto& [ns, pod, transport, state] = key;
    socket_metrics_ += R"(podnetstat_sockets{namespace=")";
    if (pod != kNoPod) {
      const k8s::Pod& p = pod_list[pod];
      socket_metrics_ += escapeLabelValue(p.namespace_name.value_or(""));
      socket_metrics_ += R"(",pod=")";
      socket_metrics_ += escapeLabelValue(p.name.value_or(p.uid));
    } else {
      socket_metrics_ += R"(",pod=")";
    }
    socket_metrics_ += R"(",netns=")";
    socket_metrics_ += escapeLabelValue(netns_labels_[ns]);
    socket_metrics_ += R"(",transport=")";
    socket_metrics_ += scanner::transportName(transport);
    socket_metrics_ += R"(",state=")";
    socket_metrics_ += escapeLabelValue(state);
    socket_metrics_ += "\"} ";
    appendJsonUint(socket_metrics_, count);
    socket_metrics_ += '\n';
  }

  if (!net_counters.empty()) {
    // The labels of podnetstat_sockets: a namespace's pod is the pod that owns it.
    std::vector<std::string> labels(ns_count);
    for (std::uint32_t ns = 0; ns < ns_count; ++ns) {
      const k8s::Pod* pod = pods_.index.ofNetns(scan_.namespaces[ns].inode);
      std::string& l = labels[ns];
      l = R"(namespace=")";
      if (pod != nullptr) {
        l += escapeLabelValue(pod->namespace_name.value_or(""));
        l += R"(",pod=")";
        l += escapeLabelValue(pod->name.value_or(pod->uid));
      } else {
        l += R"(",pod=")";
      }
      l += R"(",netns=")";
      l += escapeLabelValue(netns_labels_[ns]);
      l += '"';
    }
    net_metrics_ = renderNetCounterMetrics(net_counters, labels);
  }
}

std::string Snapshot::podLabel(std::uint32_t pod) const {
  if (pod == kNoPod || pod >= pods_.index.pods().size()) {
    return "-";
  }
  const k8s::Pod& p = pods_.index.pods()[pod];
  if (p.namespace_name && p.name) {
    return *p.namespace_name + "/" + *p.name;
  }
  return p.uid;
}

std::int64_t Snapshot::findNetns(std::string_view name_or_inode) const {
  if (auto it = netns_by_name_.find(std::string(name_or_inode)); it != netns_by_name_.end()) {
    return it->second;
  }
  std::uint64_t inode = 0;
  const char* end = name_or_inode.data() + name_or_inode.size();
  auto [ptr, ec] = std::from_chars(name_or_inode.data(), end, inode);
  if (!name_or_inode.empty() && ec == std::errc() && ptr == end) {
    if (auto it = netns_by_inode_.find(inode); it != netns_by_inode_.end()) {
      return it->second;
    }
  }
  return -1;
}

std::string_view Snapshot::socketsJson(std::uint32_t first, std::uint32_t last) const {
  if (first >= last) {
    return {};
  }
  return std::string_view(socket_json_)
      .substr(socket_json_starts_[first],
              socket_json_starts_[last] - 1 - socket_json_starts_[first]);
}

void Snapshot::renderTable() const {
  // The text of `podnetstat list -anpe`, each row prefixed by the namespace column.
  NetstatOptions options;
  options.mode = ListMode::All;
  options.numeric_hosts = options.numeric_ports = options.numeric_users = true;
  options.extend = true;
  options.programs = true;
  NetstatRenderer renderer(options, nullptr);

  std::size_t width = std::string_view(kNetnsColumn).size();
  for (const auto& label : netns_labels_) {
    width = std::max(width, label.size());
  }
  ++width;  // one blank between the column and the next
  std::vector<std::string> pod_labels(pods_.index.pods().size());
  std::size_t pod_width = std::string_view(kPodColumn).size();
  for (std::uint32_t p = 0; p < pod_labels.size(); ++p) {
    pod_labels[p] = podLabel(p);
    pod_width = std::max(pod_width, pod_labels[p].size());
  }
  ++pod_width;
  const auto column = [](std::string& out, std::string_view text, std::size_t w) {
    out += text;
    out.append(w - std::min(w, text.size()), ' ');
  };
  const auto withColumn = [&](const std::string& header) {
    // netstat's header is a title line and a column line: the columns go on the second.
    const auto newline = header.find('\n');
    std::string out = header.substr(0, newline + 1);
    column(out, kNetnsColumn, width);
    column(out, kPodColumn, pod_width);
    out += header.substr(newline + 1);
    return out;
  };
  table_inet_header_ = withColumn(renderer.inetHeader());
  table_unix_header_ = withColumn(renderer.unixHeader());

  const auto& sockets = scan_.sockets;
  table_.reserve(sockets.size() * 160);
  table_starts_.reserve(sockets.size() + 1);
  for (std::size_t i = 0; i < sockets.size(); ++i) {
    const auto& s = sockets[i];
    table_starts_.push_back(table_.size());
    column(table_, netns_labels_[s.netns_index], width);
    column(table_, socket_pods_[i] == kNoPod ? std::string_view("-") : pod_labels[socket_pods_[i]],
           pod_width);
    renderer.appendRow(table_, s, scan_);
  }
  table_starts_.push_back(table_.size());
}

std::string_view Snapshot::tableRows(std::uint32_t first, std::uint32_t last) const {
  std::call_once(table_once_, [this] { renderTable(); });
  if (first >= last) {
    return {};
  }
  return std::string_view(table_).substr(table_starts_[first],
                                         table_starts_[last] - table_starts_[first]);
}

std::size_t Snapshot::tableRowsBytes(std::uint32_t first, std::uint32_t last) const {
  std::call_once(table_once_, [this] { renderTable(); });
  return table_starts_[last] - table_starts_[first];
}

const std::string& Snapshot::tableHeader(bool inet) const {
  std::call_once(table_once_, [this] { renderTable(); });
  return inet ? table_inet_header_ : table_unix_header_;
}

SnapshotRefresher::SnapshotRefresher(ScanFunction scan,
                                     std::chrono::milliseconds interval,
                                     std::string node,
                                     SnapshotStore& store,
                                     ScanMetrics& metrics,
                                     PodFunction pods,
                                     NetCounterFunction net_counters)
    : scan_(std::move(scan)),
      pods_(std::move(pods)),
      net_counters_(std::move(net_counters)),
      interval_(interval),
      node_(std::move(node)),
      store_(store),
      metrics_(metrics) {}

SnapshotRefresher::~SnapshotRefresher() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void SnapshotRefresher::start() {
  if (!thread_.joinable()) {
    spdlog::default_logger_raw();  // made before the thread: see HttpServer::start
    thread_ = std::thread([this] { run(); });
  }
}

bool SnapshotRefresher::stop(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  stopping_ = true;
  cv_.notify_all();
  if (!thread_.joinable()) {
    return true;
  }
  if (!cv_.wait_for(lock, timeout, [&] { return finished_; })) {
    return false;
  }
  lock.unlock();
  thread_.join();
  return true;
}

void SnapshotRefresher::run() {
  using Clock = std::chrono::steady_clock;
  auto next = Clock::now();
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, next, [&] { return stopping_; });
      if (stopping_) {
        break;
      }
    }
    const auto begin = Clock::now();
    Result<scanner::ScanResult> result = [&]() -> Result<scanner::ScanResult> {
      try {
        return scan_();
      } catch (const std::exception& e) {
        return Error{std::string("scan threw: ") + e.what()};
      }
    }();
    const auto scanned = Clock::now();
    const double seconds = std::chrono::duration<double>(scanned - begin).count();
    if (result.ok()) {
      try {
        const std::int64_t completed = nowUnixMs();
        PodAttribution pods;
        if (pods_) {
          pods = pods_(*result);
        }
        std::vector<NetnsCounters> counters;
        if (net_counters_) {
          const auto counters_begin = Clock::now();
          counters = net_counters_(*result);
          spdlog::debug(
              "scan: network counters of {} namespaces in {:.1f} ms", counters.size(),
              std::chrono::duration<double, std::milli>(Clock::now() - counters_begin).count());
        }
        auto snapshot = std::make_shared<const Snapshot>(
            std::move(result).value(), node_, completed, std::move(pods), std::move(counters));
        metrics_.recordScan(snapshot->scan(), seconds, completed);
        spdlog::debug("scan: {} sockets in {} namespaces, {:.1f} ms (+{:.1f} ms indexing)",
                      snapshot->scan().sockets.size(), snapshot->scan().namespaces.size(),
                      seconds * 1000,
                      std::chrono::duration<double, std::milli>(Clock::now() - scanned).count());
        store_.publish(std::move(snapshot));
#ifdef __GLIBC__
        // The previous snapshot and the scan's buffers were just freed, largely on other threads'
        // arenas; give those pages back instead of keeping the peak of two snapshots resident.
        malloc_trim(0);
#endif
      } catch (const std::exception& e) {
        metrics_.recordFailure(seconds, e.what());
        spdlog::warn("scan: building the snapshot failed: {}", e.what());
      }
    } else {
      metrics_.recordFailure(seconds, result.error().message);
      spdlog::warn("scan failed (keeping the previous snapshot): {}", result.error().message);
    }
    const auto end = Clock::now();
    next = std::max(begin + interval_, end + interval_ / 2);
  }
  std::lock_guard lock(mu_);
  finished_ = true;
  cv_.notify_all();
}

}  // namespace podnetstat::agent
