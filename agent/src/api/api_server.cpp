#include "podnetstat/agent/api/api_server.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include <spdlog/spdlog.h>

#include "podnetstat/agent/api/api_handler.h"
#include "podnetstat/agent/state/net_counters_reader.h"

namespace podnetstat::agent {

Result<std::chrono::milliseconds> parseDuration(std::string_view text) {
  const auto bad = [&](std::string_view why) -> Error {
    return Error{"invalid duration '" + std::string(text) + "': " + std::string(why) +
                 " (e.g. 200ms, 5s, 1m)"};
  };
  if (text.empty()) {
    return bad("empty");
  }
  double total_ms = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    double value = 0;
    auto [ptr, ec] =
        std::from_chars(rest.data(), rest.data() + rest.size(), value, std::chars_format::fixed);
    if (ec != std::errc() || ptr == rest.data() || value < 0 || !std::isfinite(value)) {
      return bad("expected a number");
    }
    rest.remove_prefix(static_cast<std::size_t>(ptr - rest.data()));
    std::size_t unit_len = 0;
    while (unit_len < rest.size() && rest[unit_len] >= 'a' && rest[unit_len] <= 'z') {
      ++unit_len;
    }
    const std::string_view unit = rest.substr(0, unit_len);
    rest.remove_prefix(unit_len);
    if (unit == "ms") {
      total_ms += value;
    } else if (unit == "s") {
      total_ms += value * 1000;
    } else if (unit == "m") {
      total_ms += value * 60'000;
    } else if (unit == "h") {
      total_ms += value * 3'600'000;
    } else if (unit.empty()) {
      return bad("missing unit");
    } else {
      return bad("unknown unit '" + std::string(unit) + "'");
    }
  }
  constexpr double kMaxMs = 24.0 * 3'600'000;
  if (total_ms < 1) {
    return bad("must be at least 1ms");
  }
  if (total_ms > kMaxMs) {
    return bad("must be at most 24h");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

ApiServer::ApiServer(ApiServerOptions options) : options_(std::move(options)) {
  // The network counters of /metrics are read from the namespaces' processes: only for scans of
  // this machine, not for a scan a test injects.
  const bool real_scan = !options_.scan;
  if (!options_.scan) {
    scanner_ = std::make_unique<scanner::Scanner>(options_.roots, options_.scan_threads);
    options_.scan = [scanner = scanner_.get(), backend = options_.backend]() {
      scanner::ScanOptions scan_options;
      scan_options.all_netns = true;
      scan_options.pid = true;
      scan_options.cgroups = true;  // for the pod index
      scan_options.backend = backend;
      scan_options.tcp_info = true;  // netlink only: ?tcpInfo=true, the listen queue series
      return scanner->scan(scan_options);
    };
  }
  if (options_.pod_sources) {
    pod_cache_ = std::make_unique<k8s::PodMetadataCache>(options_.pod_sources());
  }
  // Pods per scan: the metadata the cache has now (never waiting for a source) and the cgroups.
  PodFunction pods =
      [cache = pod_cache_.get(), roots = options_.roots,
       empty = std::make_shared<const k8s::PodMetadata>()](const scanner::ScanResult& scan) {
        PodAttribution out;
        out.metadata = cache != nullptr ? cache->current() : empty;
        out.index = k8s::PodIndex::build(scan, *out.metadata, k8s::NodeFiles(roots));
        if (cache != nullptr &&
            (out.index.unknownPodCount() > 0 || out.index.stats().unknown_containers > 0 ||
             out.index.stats().dead_sandboxes > 0)) {
          cache->requestRefresh();
        }
        if (cache == nullptr) {
          out.metadata = nullptr;
        }
        return out;
      };
  NetCounterFunction net_counters;
  if (real_scan) {
    net_counters = [scanner = scanner_.get()](const scanner::ScanResult& scan) {
      return readNetCounters(scan, *scanner);
    };
  }
  refresher_ = std::make_unique<SnapshotRefresher>(
      options_.scan, options_.refresh, options_.node_name, store_, metrics_, std::move(pods),
      std::move(net_counters), &history_);
  http_ = std::make_unique<HttpServer>(options_.http);
}

ApiServer::~ApiServer() {
  if (!stopped_) {
    http_->shutdown(std::chrono::milliseconds(0));
  }
  // refresher_ joins its thread before scanner_ and pod_cache_ go away.
  refresher_.reset();
  if (pod_cache_) {
    pod_cache_->stop();
  }
}

Result<Ok> ApiServer::start() {
  NodeInfo node{options_.node_name,
                kernelRelease(),
                scanner::resolveBackend(options_.backend),
                pod_cache_.get(),
                options_.roots.proc.string(),
                options_.roots.netns_dir.string()};
  HttpServer* http = http_.get();
  auto stats = [http] {
    return http->stats();
  };
  HttpHandler api = ApiHandler(store_, metrics_, node, stats, false,
                               WatchContext{&history_, &watch_counters_, options_.watch});
  if (options_.auth) {
    api = requireBearerAuth(std::move(api), options_.auth);
  }
  auto port = http_->listen(options_.listen, std::move(api), options_.tls);
  if (!port) {
    return port.error();
  }
  port_ = *port;
  if (options_.health_listen) {
    auto health =
        http_->listen(*options_.health_listen, ApiHandler(store_, metrics_, node, stats, true));
    if (!health) {
      return health.error();
    }
    health_port_ = *health;
  }
  http_->start();
  if (pod_cache_) {
    pod_cache_->start(options_.pod_refresh);
  }
  refresher_->start();
  return Ok{};
}

bool ApiServer::stop(std::chrono::milliseconds grace) {
  if (stopped_) {
    return true;
  }
  stopped_ = true;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // Ask the refresher first (it does not wait): a scan in progress finishes meanwhile.
  const bool refresher_idle = refresher_->stop(std::chrono::milliseconds(0));
  http_->shutdown(grace);
  if (pod_cache_) {
    pod_cache_->stop();  // waits for a refresh in progress, which has its own deadlines
  }
  if (refresher_idle) {
    return true;
  }
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return refresher_->stop(std::max(left, std::chrono::milliseconds(0)));
}

}  // namespace podnetstat::agent
