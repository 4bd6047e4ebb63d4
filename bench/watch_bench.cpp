// The cost of following changes: the diff of one scan against the previous one
// (WatchHistory::record: every socket's identity and fingerprint indexed, compared, the changed
// ones copied with their JSON) at 10,000 TCP sockets with 1% churn, beside what the agent does
// anyway for every scan at that size (the snapshot model and its pages); and the ages carried from
// scan to scan (ObjectAges::observe: every socket's firstSeen, the pods' late listeners and
// listener churn) on the same scans. The scan itself, at
// 10,000 sockets, is measured by bench/bench.sh (README: about 51 ms).

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/snapshot_pages.h"
#include "podnetstat/agent/state/object_ages.h"
#include "podnetstat/agent/state/watch_history.h"
#include "podnetstat/scanner/model.h"

namespace {

using namespace podnetstat;

constexpr std::uint32_t kSockets = 10000;
constexpr std::uint32_t kChurn = 100;  // 1%: closed and opened between two scans

/// 10,000 established TCP sockets of 100 processes in one namespace; `variant` 1 closes kChurn
/// of them, opens kChurn others and moves kChurn to CLOSE_WAIT.
scanner::ScanResult syntheticScan(int variant) {
  scanner::ScanResult scan;
  scan.namespaces.emplace_back();
  scan.namespaces[0].inode = 4026531840;
  scan.namespaces[0].is_host = true;
  for (int p = 0; p < 100; ++p) {
    scanner::Process proc;
    proc.pid = 1000 + p;
    proc.comm = proc.program = "server" + std::to_string(p);
    scan.processes.push_back(proc);
  }
  for (std::uint32_t i = 0; i < kSockets; ++i) {
    scanner::Socket s;
    s.transport = scanner::Transport::Tcp;
    s.local.ip.bytes = {10, 0, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    s.local.port = 8080;
    s.remote.ip.bytes = {10, 1, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)};
    s.remote.port = static_cast<std::uint16_t>(30000 + i % 30000);
    s.state = 1;
    s.inode = 100000 + i;
    if (variant == 1 && i < kChurn) {
      s.inode += kSockets;  // a different socket
    } else if (variant == 1 && i < 2 * kChurn) {
      s.state = 8;  // CLOSE_WAIT
    }
    s.tx_queue = static_cast<std::uint64_t>(variant);  // queues change: no event
    s.owners_begin = static_cast<std::uint32_t>(scan.owner_table.size());
    s.owners_count = 1;
    scan.owner_table.push_back(i % 100);
    scan.sockets.push_back(s);
  }
  return scan;
}

std::shared_ptr<const agent::SnapshotPages> pagesOf(int variant, std::uint64_t generation) {
  auto snapshot = std::make_shared<const agent::Snapshot>(syntheticScan(variant), "node", 0);
  return std::make_shared<const agent::SnapshotPages>(snapshot, generation);
}

void BM_DiffAt10kSockets(benchmark::State& state) {
  const std::vector<std::shared_ptr<const agent::SnapshotPages>> pages = {pagesOf(0, 1),
                                                                          pagesOf(1, 2)};
  agent::WatchHistory history;
  history.record(pages[0]);
  std::size_t events = 0;
  int next = 1;
  for (auto _ : state) {
    const auto diff = history.record(pages[static_cast<std::size_t>(next)]);
    events = diff->events.size();
    next ^= 1;
  }
  state.counters["events"] = static_cast<double>(events);
}

void BM_AgesAt10kSockets(benchmark::State& state) {
  const std::vector<std::shared_ptr<const agent::SnapshotPages>> pages = {pagesOf(0, 1),
                                                                          pagesOf(1, 2)};
  agent::ObjectAges ages;
  ages.observe(pages[0]->snapshot());
  int next = 1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(ages.observe(pages[static_cast<std::size_t>(next)]->snapshot()));
    next ^= 1;
  }
}

void BM_SnapshotAndPagesAt10kSockets(benchmark::State& state) {
  for (auto _ : state) {
    auto snapshot = std::make_shared<const agent::Snapshot>(syntheticScan(0), "node", 0);
    benchmark::DoNotOptimize(std::make_shared<const agent::SnapshotPages>(snapshot, 1));
  }
}

}  // namespace

BENCHMARK(BM_DiffAt10kSockets)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_AgesAt10kSockets)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SnapshotAndPagesAt10kSockets)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
