// Parser throughput (lines per second) on the real captured tables, and whole scans of this
// machine's /proc. Run: build/bench/scanner_bench [--benchmark_filter=...]

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "podnetstat/scanner/net_stats.h"
#include "podnetstat/scanner/proc_net_parser.h"
#include "podnetstat/scanner/scan.h"

namespace {

using podnetstat::scanner::Transport;

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The captured table's rows repeated until there are about `rows` of them, under one header.
std::string bigTable(const char* file, std::size_t rows) {
  const std::string text =
      readFile(std::string(PODNETSTAT_FIXTURES_DIR) + "/netstat-samples/proc_nsA/" + file);
  const std::size_t nl = text.find('\n');
  const std::string header = text.substr(0, nl + 1);
  const std::string body = text.substr(nl + 1);
  const auto body_rows = static_cast<std::size_t>(std::count(body.begin(), body.end(), '\n'));
  std::string out = header;
  for (std::size_t n = 0; n < rows; n += body_rows) {
    out += body;
  }
  return out;
}

void parseTableBench(benchmark::State& state, const char* file, Transport transport) {
  const std::string text = bigTable(file, 10000);
  std::vector<podnetstat::scanner::Socket> out;
  out.reserve(12000);
  std::uint64_t rows = 0;
  for (auto _ : state) {
    out.clear();
    rows += podnetstat::scanner::parseTable(text, transport, out).rows;
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["lines/s"] =
      benchmark::Counter(static_cast<double>(rows), benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(text.size() * state.iterations()));
}

void BM_ParseTcp(benchmark::State& state) {
  parseTableBench(state, "tcp", Transport::Tcp);
}

void BM_ParseTcp6(benchmark::State& state) {
  parseTableBench(state, "tcp6", Transport::Tcp6);
}

void BM_ParseUdp(benchmark::State& state) {
  parseTableBench(state, "udp", Transport::Udp);
}

void BM_ParseUnix(benchmark::State& state) {
  parseTableBench(state, "unix", Transport::Unix);
}

/// A whole scan of this machine: every namespace, with owners (the fd walk) or without.
void BM_ScanThisMachine(benchmark::State& state) {
  podnetstat::scanner::Scanner scanner(podnetstat::scanner::Roots{});
  podnetstat::scanner::ScanOptions options;
  options.all_netns = true;
  options.pid = state.range(0) != 0;
  std::size_t sockets = 0;
  for (auto _ : state) {
    auto result = scanner.scan(options);
    if (!result) {
      state.SkipWithError(result.error().message.c_str());
      return;
    }
    sockets = result->sockets.size();
  }
  state.counters["sockets"] = static_cast<double>(sockets);
}

/// What the agent parses per namespace for /metrics: dev, snmp, snmp6 and netstat of the capture.
void BM_ParseNetCounterFiles(benchmark::State& state) {
  const std::string dir = std::string(PODNETSTAT_FIXTURES_DIR) + "/netstat-extra/";
  const std::string dev = readFile(dir + "dev");
  const std::string snmp = readFile(dir + "snmp");
  const std::string snmp6 = readFile(dir + "snmp6");
  const std::string netstat = readFile(dir + "netstat");
  for (auto _ : state) {
    podnetstat::scanner::NetStats s;
    podnetstat::scanner::parseNetDev(dev, s.interfaces);
    podnetstat::scanner::parseCounterPairs(snmp, s.snmp);
    podnetstat::scanner::parseSnmp6(snmp6, s.snmp6);
    podnetstat::scanner::parseCounterPairs(netstat, s.netstat);
    benchmark::DoNotOptimize(s.netstat.data());
  }
}

/// Reading (kernel + parse) those four files of every namespace of this machine, one after the
/// other: the per-scan cost of the agent's network counters, without the scanner's worker pool
/// that spreads them.
void BM_ReadNetCountersThisMachine(benchmark::State& state) {
  using podnetstat::scanner::NetStatsFile;
  podnetstat::scanner::Scanner scanner(podnetstat::scanner::Roots{});
  podnetstat::scanner::ScanOptions options;
  options.all_netns = true;
  options.pid = false;
  options.transports = podnetstat::scanner::TransportSet{};
  auto scan = scanner.scan(options);
  if (!scan) {
    state.SkipWithError(scan.error().message.c_str());
    return;
  }
  const auto files = podnetstat::scanner::NetStatsFileSet()
                         .add(NetStatsFile::Dev)
                         .add(NetStatsFile::Snmp)
                         .add(NetStatsFile::Snmp6)
                         .add(NetStatsFile::Netstat);
  for (auto _ : state) {
    for (const auto& ns : scan->namespaces) {
      if (!ns.pids.empty()) {
        auto stats = podnetstat::scanner::readNetStats(scanner.roots(), ns, files);
        benchmark::DoNotOptimize(stats.ok());
      }
    }
  }
  state.counters["namespaces"] = static_cast<double>(scan->namespaces.size());
}

/// The netlink backend's scan of one namespace (PODNETSTAT_BENCH_NETNS, e.g. filled by
/// `sockfill --pairs 5000`: 10,000 TCP sockets) without and with tcp_info (range 0). Range 1: 0
/// reads the TCP tables alone (what asking for tcp_info costs the dump), 1 is the agent's whole
/// scan (every transport, owners, cgroups).
void BM_ScanNetlinkTcpInfo(benchmark::State& state) {
  const char* netns = std::getenv("PODNETSTAT_BENCH_NETNS");
  if (netns == nullptr) {
    state.SkipWithError("PODNETSTAT_BENCH_NETNS names no namespace");
    return;
  }
  podnetstat::scanner::Scanner scanner(podnetstat::scanner::Roots{});
  podnetstat::scanner::ScanOptions options;
  options.backend = podnetstat::scanner::Backend::Netlink;
  options.netns_names = {netns};
  options.tcp_info = state.range(0) != 0;
  const bool whole = state.range(1) != 0;
  options.pid = whole;
  options.cgroups = whole;
  if (!whole) {
    options.transports = podnetstat::scanner::TransportSet{}
                             .add(podnetstat::scanner::Transport::Tcp)
                             .add(podnetstat::scanner::Transport::Tcp6);
  }
  std::size_t sockets = 0;
  for (auto _ : state) {
    auto scan = scanner.scan(options);
    if (!scan) {
      state.SkipWithError(scan.error().message.c_str());
      return;
    }
    sockets = scan->sockets.size();
    benchmark::DoNotOptimize(scan->sockets.data());
  }
  state.counters["sockets"] = static_cast<double>(sockets);
}

BENCHMARK(BM_ParseNetCounterFiles);
BENCHMARK(BM_ReadNetCountersThisMachine)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_ParseTcp);
BENCHMARK(BM_ParseTcp6);
BENCHMARK(BM_ParseUdp);
BENCHMARK(BM_ParseUnix);
BENCHMARK(BM_ScanNetlinkTcpInfo)
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1})
    ->Args({1, 1})
    ->ArgNames({"tcpInfo", "whole"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_ScanThisMachine)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
