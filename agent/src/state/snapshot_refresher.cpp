#include "podnetstat/agent/state/snapshot_refresher.h"

#include <malloc.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <utility>

#include <spdlog/spdlog.h>

#include "podnetstat/scanner/wall_clock.h"

namespace podnetstat::agent {

SnapshotRefresher::SnapshotRefresher(ScanFunction scan,
                                     std::chrono::milliseconds interval,
                                     std::string node,
                                     SnapshotStore& store,
                                     ScanMetrics& metrics,
                                     PodFunction pods,
                                     NetCounterFunction net_counters,
                                     WatchHistory* history)
    : scan_(std::move(scan)),
      pods_(std::move(pods)),
      net_counters_(std::move(net_counters)),
      interval_(interval),
      node_(std::move(node)),
      store_(store),
      metrics_(metrics),
      history_(history) {}

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
    refresh();
    next = std::max(begin + interval_, Clock::now() + interval_ / 2);
  }
  std::lock_guard lock(mu_);
  finished_ = true;
  cv_.notify_all();
}

void SnapshotRefresher::refresh() {
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
  if (!result.ok()) {
    metrics_.recordFailure(seconds, result.error().message);
    spdlog::warn("scan failed (keeping the previous snapshot): {}", result.error().message);
    return;
  }
  try {
    publish(std::move(result).value(), seconds, scanned);
  } catch (const std::exception& e) {
    metrics_.recordFailure(seconds, e.what());
    spdlog::warn("scan: building the snapshot failed: {}", e.what());
  }
}

void SnapshotRefresher::publish(scanner::ScanResult scan,
                                double seconds,
                                Clock::time_point scanned) {
  const std::int64_t completed = scanner::nowUnixMs();
  PodAttribution pods;
  if (pods_) {
    pods = pods_(scan);
  }
  std::vector<NetnsCounters> counters;
  if (net_counters_) {
    const auto counters_begin = Clock::now();
    counters = net_counters_(scan);
    spdlog::debug("scan: network counters of {} namespaces in {:.1f} ms", counters.size(),
                  std::chrono::duration<double, std::milli>(Clock::now() - counters_begin).count());
  }
  auto snapshot = std::make_shared<const Snapshot>(std::move(scan), node_, completed,
                                                   std::move(pods), std::move(counters));
  metrics_.recordScan(snapshot->scan(), seconds, completed);
  auto pages =
      std::make_shared<const SnapshotPages>(snapshot, ++generation_, ages_.observe(*snapshot));
  if (history_ != nullptr) {
    const auto diff_begin = Clock::now();
    const auto diff = history_->record(pages);
    spdlog::debug("scan: {} changes in {:.1f} ms", diff ? diff->events.size() : 0,
                  std::chrono::duration<double, std::milli>(Clock::now() - diff_begin).count());
  }
  spdlog::debug("scan: {} sockets in {} namespaces, {:.1f} ms (+{:.1f} ms indexing)",
                snapshot->scan().sockets.size(), snapshot->scan().namespaces.size(), seconds * 1000,
                std::chrono::duration<double, std::milli>(Clock::now() - scanned).count());
  store_.publish(std::move(pages));
#ifdef __GLIBC__
  // The previous snapshot and the scan's buffers were just freed, largely on other threads'
  // arenas; give those pages back instead of keeping the peak of two snapshots resident.
  malloc_trim(0);
#endif
}

}  // namespace podnetstat::agent
