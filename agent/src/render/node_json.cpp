#include "podnetstat/agent/render/node_json.h"

#include "podnetstat/agent/json/json_write.h"

namespace podnetstat::agent {
namespace {

void appendSourceJson(std::string& out,
                      const std::string& endpoint,
                      bool ok,
                      const std::string& error_text) {
  out += R"({"endpoint":)";
  if (endpoint.empty()) {
    out += "null";
  } else {
    appendJsonString(out, endpoint);
  }
  out += R"(,"ok":)";
  out += ok ? "true" : "false";
  out += R"(,"error":)";
  if (ok || error_text.empty()) {
    out += ok ? "null" : "\"unknown error\"";
  } else {
    appendJsonString(out, error_text);
  }
  out += '}';
}

void appendHealthJson(std::string& out, const k8s::SourceHealth* health) {
  if (health == nullptr || !health->enabled) {
    appendSourceJson(out, health == nullptr ? std::string() : health->endpoint, false, "disabled");
    return;
  }
  if (!health->last_attempt && !health->ok) {
    appendSourceJson(out, health->endpoint, false, "not asked yet");
    return;
  }
  appendSourceJson(out, health->endpoint, health->ok, health->error);
}

/// The last scan's `{"at",...,"errorMessages"}`, or null before the first.
void appendLastScan(std::string& out, const Snapshot* snapshot) {
  if (snapshot == nullptr) {
    out += "null";
    return;
  }
  const auto& scan = snapshot->scan();
  out += R"({"at":)";
  appendJsonString(out, formatRfc3339Ms(scan.started_unix_ms));
  out += R"(,"durationMs":)";
  appendJsonMillis(out, scan.duration_ms);
  out += R"(,"sockets":)";
  appendJsonUint(out, scan.sockets.size());
  out += R"(,"namespaces":)";
  appendJsonUint(out, scan.namespaces.size());
  out += R"(,"skippedLines":)";
  appendJsonUint(out, scan.stats.skipped_lines);
  out += R"(,"errors":)";
  appendJsonUint(out, scan.stats.errors.size());
  out += R"(,"errorMessages":[)";
  constexpr std::size_t kMaxMessages = 20;
  for (std::size_t i = 0; i < scan.stats.errors.size() && i < kMaxMessages; ++i) {
    if (i > 0) {
      out += ',';
    }
    appendJsonString(out, scan.stats.errors[i]);
  }
  out += "]}";
}

}  // namespace

std::string nodeJson(const NodeInfo& node,
                     const Snapshot* snapshot,
                     const k8s::PodMetadata* metadata,
                     const ScanMetrics& metrics) {
  std::string out = R"({"node":)";
  appendJsonString(out, node.node);
  out += R"(,"version":)";
  appendJsonString(out, PODNETSTAT_VERSION);
  out += R"(,"kernel":)";
  appendJsonString(out, node.kernel);
  out += R"(,"backend":)";
  // The backend that read the tables; before the first scan, the one it will use.
  const scanner::Backend backend = snapshot != nullptr ? snapshot->scan().backend : node.backend;
  appendJsonString(out, scanner::backendName(backend));
  // Whether sockets can carry tcpInfo (?tcpInfo=true) and listeners their accept-queue maximum.
  out += R"(,"tcpInfo":{"available":)";
  if (backend == scanner::Backend::Netlink) {
    out += R"(true,"reason":null})";
  } else {
    out += R"(false,"reason":"the procfs backend reads /proc/net/tcp, which has no tcp_info, )"
           R"(congestion control or accept-queue maximum: these come from netlink sock_diag, )"
           R"x(which needs CAP_SYS_ADMIN (--backend=netlink or auto)"})x";
  }
  out += R"(,"sources":{"cri":)";
  appendHealthJson(out, metadata == nullptr ? nullptr : &metadata->cri);
  out += R"(,"kubelet":)";
  appendHealthJson(out, metadata == nullptr ? nullptr : &metadata->kubelet);
  out += R"(,"cgroup":)";
  // The cgroups are read with every scan: working once a scan has read them.
  if (snapshot == nullptr) {
    appendSourceJson(out, node.proc_root, false, "no scan yet");
  } else {
    const auto& stats = snapshot->podIndex().stats();
    const bool ok = stats.cgroups_read > 0 || stats.cgroups_missing == 0;
    appendSourceJson(out, node.proc_root, ok, "no /proc/<pid>/cgroup file could be read");
  }
  out += R"(},"lastScan":)";
  appendLastScan(out, snapshot);
  out += R"(,"lastFailure":)";
  if (auto failure = metrics.lastFailure()) {
    out += R"({"at":)";
    appendJsonString(out, formatRfc3339Ms(failure->unix_ms));
    out += R"(,"message":)";
    appendJsonString(out, failure->message);
    out += '}';
  } else {
    out += "null";
  }
  out += "}\n";
  return out;
}

}  // namespace podnetstat::agent
