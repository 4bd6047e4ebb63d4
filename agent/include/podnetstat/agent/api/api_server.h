#pragma once

// The agent behind `podnetstat serve`, as an object: the background scans, the snapshot store,
// the API handler and the HTTP server (plus the data-free health listener), started and stopped
// together. serve_command.cpp turns flags into ApiServerOptions; tests run it in-process.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "podnetstat/agent/api/watch_stream.h"
#include "podnetstat/agent/http/auth.h"
#include "podnetstat/agent/http/http_server.h"
#include "podnetstat/agent/http/tls_certificates.h"
#include "podnetstat/agent/model/scan_metrics.h"
#include "podnetstat/agent/state/snapshot_refresher.h"
#include "podnetstat/agent/state/snapshot_store.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/result.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::agent {

/// Parses a duration such as "200ms", "5s", "1m", "1m30s", "1.5s" (units ms, s, m, h; a unit is
/// required). Must be positive.
Result<std::chrono::milliseconds> parseDuration(std::string_view text);

struct ApiServerOptions {
  ListenAddress listen{"127.0.0.1", 9180};
  /// Serves only /healthz and /readyz (kubelet probes dial the pod IP). Always plain HTTP and
  /// open: it carries no data.
  std::optional<ListenAddress> health_listen;
  /// When set, the API listener speaks HTTPS only, with these (reloaded) certificates.
  std::shared_ptr<TlsCertificates> tls;
  /// When set, every request to the API listener (/healthz, /readyz and /metrics included) needs
  /// a bearer token this allows.
  std::shared_ptr<Authorizer> auth;
  std::chrono::milliseconds refresh{5000};
  scanner::Roots roots;
  std::string node_name;
  HttpServerOptions http;
  /// Worker threads of the scanner (0: its default), which also read the network counters.
  unsigned scan_threads = 0;
  /// The scan to run; empty = scanner::Scanner over `roots`, every namespace, with processes,
  /// read by `backend`.
  ScanFunction scan;
  scanner::Backend backend = scanner::Backend::Procfs;
  /// Makes the pod metadata sources (CRI, kubelet, log dir), once, in the constructor; empty: no
  /// metadata (pods are still found by their cgroups, without names).
  std::function<k8s::PodMetadataSources()> pod_sources;
  /// How often the metadata sources are asked (sooner when a scan meets an unknown pod).
  std::chrono::milliseconds pod_refresh{10000};
  /// The watches' limits (the history itself keeps WatchHistory's default bounds).
  WatchLimits watch;
};

class ApiServer {
 public:
  explicit ApiServer(ApiServerOptions options);
  /// Stops (without grace) if still running; waits for a scan in progress.
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  /// Binds the listeners, starts the HTTP threads and the scans. An error when a listener cannot
  /// be bound.
  [[nodiscard]] Result<Ok> start();

  /// The bound API port (after start()).
  std::uint16_t port() const { return port_; }

  /// The bound health port, when there is a health listener.
  std::optional<std::uint16_t> healthPort() const { return health_port_; }

  /// Stops accepting, finishes requests in progress and stops the scans, all within `grace`.
  /// False when a scan was still running at the end (the caller may exit regardless).
  bool stop(std::chrono::milliseconds grace);

  const SnapshotStore& store() const { return store_; }

  const ScanMetrics& metrics() const { return metrics_; }

  /// The pod metadata cache; null without pod sources.
  const k8s::PodMetadataCache* podCache() const { return pod_cache_.get(); }

  HttpServerStats httpStats() const { return http_->stats(); }

 private:
  ApiServerOptions options_;
  std::unique_ptr<scanner::Scanner> scanner_;
  std::unique_ptr<k8s::PodMetadataCache> pod_cache_;
  SnapshotStore store_;
  ScanMetrics metrics_;
  WatchHistory history_;
  WatchCounters watch_counters_;
  std::unique_ptr<SnapshotRefresher> refresher_;
  std::unique_ptr<HttpServer> http_;
  std::uint16_t port_ = 0;
  std::optional<std::uint16_t> health_port_;
  bool stopped_ = false;
};

}  // namespace podnetstat::agent
