// The real `podnetstat serve` binary under churn (label `slow`, about 100 s): while network
// namespaces and processes with sockets are created and destroyed at a high rate (at least 50
// namespaces and 200 socket-holding processes a minute), the agent scans every 100 ms and
// clients ask every list endpoint in parallel. At least 500 scans; every answer is 200 and
// well-formed (JSON, or Prometheus text); the agent never crashes; afterwards its open files are
// back to their count before the churn and its memory within +10% of a warmed-up baseline (in
// the plain and ASan builds; under TSan its shadow memory would be measured instead).
//
// Bounded: the churn runs until the agent has taken 500 scans and at least 60 s have passed, and
// never longer than 200 s; every namespace (named prefix + PID + counter) and every process is
// removed by RAII objects, also when an assertion fails.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http_client.h"
#include "netns.h"
#include "serve_process.h"
#include "test_paths.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::NoAsanQuarantine;
using podnetstat::testing::ServeProcess;
using podnetstat::testing::Subprocess;
using Clock = std::chrono::steady_clock;

#if defined(__SANITIZE_THREAD__)
constexpr bool kUnderTsan = true;
#else
constexpr bool kUnderTsan = false;
#endif

constexpr int kChurners = 2;  // threads, each making and removing one namespace at a time
constexpr int kClients = 3;   // threads asking the API
constexpr long kMinScans = 500;
constexpr auto kMinChurn = 60s;
// A plain build reaches 500 scans in about 50 s, one under TSan in about 55 s on two idle cores;
// room for a loaded machine, within the test's own time limit (300 s, 900 s when sanitized).
constexpr auto kMaxChurn = 200s;

/// What the churn threads made, for the rates.
struct ChurnCounts {
  std::atomic<long> namespaces{0};
  std::atomic<long> processes{0};
  std::atomic<long> failures{0};
  std::mutex mu;
  std::string last_failure;
};

/// One round: a namespace, a sockmaker forking short-lived socket holders in it for a second,
/// then both gone.
void churnOnce(ChurnCounts& counts) {
  try {
    NetNamespace ns("pnch");
    Subprocess churner({podnetstat::testing::sockmakerBinary().string(), "--churn", "1",
                        "--churn-max", "40", "--lifetime", "10"},
                       {.netns = ns.name(), .inherit_stderr = true});
    ++counts.namespaces;
    const auto done = churner.readLine(10s);
    if (done && done->starts_with("DONE ")) {
      counts.processes += std::stol(done->substr(5));
    }
    churner.stop(1s);
  } catch (const std::exception& e) {
    ++counts.failures;
    const std::lock_guard lock(counts.mu);
    counts.last_failure = e.what();
  }
}

/// Problems a client found, with the first few described.
struct ClientFindings {
  std::atomic<long> requests{0};
  std::atomic<long> bad{0};
  std::mutex mu;
  std::vector<std::string> samples;

  void fail(const std::string& what) {
    ++bad;
    const std::lock_guard lock(mu);
    if (samples.size() < 10) {
      samples.push_back(what);
    }
  }
};

/// Whether `text` is Prometheus text exposition: comments, or `name[{labels}] value` lines.
bool wellFormedMetrics(const std::string& text, std::string& bad_line) {
  static const std::regex kSample(
      R"re([a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? [-+0-9.eEInfNa]+)re");
  std::istringstream lines(text);
  int samples = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      continue;
    }
    if (!std::regex_match(line, kSample)) {
      bad_line = line;
      return false;
    }
    ++samples;
  }
  return samples > 0;
}

// `client` is the asking thread's own keep-alive connection. A new connection per request would
// leave a TIME_WAIT socket in the host namespace for each one, which the agent rightly lists for
// 60 s: its memory would then follow the request rate of the last minute.
void askOnce(HttpClient& client, int turn, ClientFindings& findings) {
  static const std::vector<std::string> kTargets = {"/api/v1/sockets",
                                                    "/api/v1/netns",
                                                    "/api/v1/pods",
                                                    "/metrics",
                                                    "/api/v1/node",
                                                    "/readyz",
                                                    "/api/v1/sockets?format=table&transport=tcp"};
  const std::string& target = kTargets[static_cast<std::size_t>(turn) % kTargets.size()];
  auto r = client.get(target);
  ++findings.requests;
  if (!r.ok()) {
    findings.fail(target + ": " + r.error().message);
    client.close();  // the next request connects anew
    return;
  }
  if (r->status != 200) {
    findings.fail(target + ": status " + std::to_string(r->status) + ": " + r->body.substr(0, 200));
    return;
  }
  if (target == "/metrics") {
    std::string bad_line;
    if (!wellFormedMetrics(r->body, bad_line)) {
      findings.fail("/metrics: bad line '" + bad_line + "'");
    }
    return;
  }
  if (target.find("format=table") != std::string::npos) {
    if (!r->body.starts_with("Active Internet connections")) {
      findings.fail(target + ": " + r->body.substr(0, 200));
    }
    return;
  }
  const json body = json::parse(r->body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    findings.fail(target + ": not JSON: " + r->body.substr(0, 200));
    return;
  }
  if (target.starts_with("/api/v1/") && target != "/api/v1/node" &&
      (!body.contains("items") || !body["items"].is_array())) {
    findings.fail(target + ": no items");
  }
}

struct Memory {
  long rss = -1;
  long anon = -1;
};

// The agent's memory between scans. At a 100 ms refresh a scan is nearly always running, and a
// running scan holds the snapshot it builds next to the one being served: one sample would
// catch that at a random point. The least of samples over two seconds is the memory it keeps.
Memory settledMemory(const ServeProcess& agent) {
  Memory least{agent.rss(), agent.rssAnon()};
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(50ms);
    least.rss = std::min(least.rss, agent.rss());
    least.anon = std::min(least.anon, agent.rssAnon());
  }
  return least;
}

TEST(ServeChurn, ScansAndAnswersStayCorrectWhileNamespacesAndProcessesComeAndGo) {
  PODNETSTAT_SKIP_UNLESS_ROOT();
  const NoAsanQuarantine measurable_memory;
  ServeProcess agent({"--refresh", "100ms"});

  std::atomic<bool> stop{false};
  ChurnCounts counts;
  ClientFindings findings;
  const auto run = [&](int churners) {
    std::vector<std::thread> threads;
    for (int i = 0; i < churners; ++i) {
      threads.emplace_back([&] {
        for (int round = 0; round < 1000 && !stop; ++round) {
          churnOnce(counts);
          std::this_thread::sleep_for(300ms);  // about 100 namespaces a minute per thread
        }
      });
    }
    for (int i = 0; i < kClients; ++i) {
      threads.emplace_back([&, i] {
        HttpClient client("127.0.0.1", agent.port(), 20s);
        for (int turn = i; turn < 100000 && !stop; ++turn) {
          askOnce(client, turn, findings);
          std::this_thread::sleep_for(20ms);
        }
      });
    }
    return threads;
  };
  const auto join = [&](std::vector<std::thread>& threads) {
    stop = true;
    for (auto& t : threads) {
      t.join();
    }
    stop = false;
  };

  // Warm-up: the same load for 30 s, so that the baseline has seen every kind of answer and
  // namespaces coming and going (allocator arenas of every thread, per-thread read buffers at
  // their high-water mark; the resident size levels off after some 30 s of this load).
  {
    auto threads = run(kChurners);
    std::this_thread::sleep_for(30s);
    join(threads);
  }
  ASSERT_TRUE(agent.running());
  // Quiet again: the namespaces and processes of the warm-up are gone, the scans go on.
  std::this_thread::sleep_for(1s);
  // A scan in progress holds a few files for a moment: the count between scans is the least of
  // a few samples.
  long fds_start = agent.fds();
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(25ms);
    fds_start = std::min(fds_start, agent.fds());
  }
  const Memory baseline = settledMemory(agent);
  const long rss_baseline = baseline.rss;
  const long anon_baseline = baseline.anon;
  const long scans_start = agent.scans();
  ASSERT_GT(fds_start, 0);
  ASSERT_GT(rss_baseline, 0);
  ASSERT_GE(scans_start, 0);
  const long namespaces_start = counts.namespaces;
  const long processes_start = counts.processes;

  const auto began = Clock::now();
  long scans = 0;
  {
    auto threads = run(kChurners);
    for (int second = 1; Clock::now() - began < kMaxChurn; ++second) {
      std::this_thread::sleep_for(1s);
      if (!agent.running()) {
        break;
      }
      scans = agent.scans() - scans_start;
      if (second % 10 == 0) {
        std::printf("%3d s: %ld scans, rss %ld KiB (anon %ld), %ld fds\n", second, scans,
                    agent.rss(), agent.rssAnon(), agent.fds());
      }
      if (scans >= kMinScans && Clock::now() - began >= kMinChurn) {
        break;
      }
    }
    join(threads);
  }
  const double minutes = std::chrono::duration<double>(Clock::now() - began).count() / 60.0;
  ASSERT_TRUE(agent.running()) << "the agent died during the churn";
  scans = agent.scans() - scans_start;
  const long namespaces = counts.namespaces - namespaces_start;
  const long processes = counts.processes - processes_start;
  std::printf(
      "churn: %.1f s, %ld namespaces (%.0f/min), %ld processes (%.0f/min), %ld scans, %ld "
      "requests\n",
      minutes * 60, namespaces, namespaces / minutes, processes, processes / minutes, scans,
      findings.requests.load());

  // The load was what the test claims.
  EXPECT_EQ(counts.failures, 0) << counts.last_failure;
  EXPECT_GE(namespaces / minutes, 50.0);
  EXPECT_GE(processes / minutes, 200.0);
  EXPECT_GE(scans, kMinScans);
  EXPECT_GT(findings.requests, 500);
  // Every answer 200 and well-formed.
  EXPECT_EQ(findings.bad, 0) << [&] {
    std::string all;
    for (const auto& s : findings.samples) {
      all += s + "\n";
    }
    return all;
  }();

  // Afterwards: the open files back to their count before the churn (a scan in progress holds a
  // few for a moment: poll), memory within +10% of the warmed-up baseline.
  long fds_end = agent.fds();
  for (int i = 0; i < 100 && fds_end != fds_start; ++i) {
    std::this_thread::sleep_for(100ms);
    fds_end = agent.fds();
  }
  EXPECT_EQ(fds_end, fds_start);
  std::this_thread::sleep_for(1s);  // quiet as long as before the baseline was taken
  const Memory end = settledMemory(agent);
  const long rss_end = end.rss;
  const long anon_end = end.anon;
  std::printf("rss: baseline %ld KiB (anon %ld), after %ld KiB (anon %ld); fds %ld -> %ld\n",
              rss_baseline, anon_baseline, rss_end, anon_end, fds_start, fds_end);
  // Memory within +10% of the warmed-up baseline. (It measures only what the agent keeps: the
  // clients' keep-alive connections leave no TIME_WAIT sockets behind for it to list.)
  if (kUnderTsan) {
    // TSan's shadow of the heap (4x every byte ever touched) is most of a TSan agent's memory and
    // grows with the spread of heap addresses used, not with what the agent keeps: its own
    // profile (TSAN_OPTIONS=profile_memory) shows shadow 6 -> 19 MB in this test while the heap
    // stays at 1-3 MB. The bound is checked in the plain and ASan builds.
    std::printf("rss bound not checked under TSan (its shadow memory, not the agent's)\n");
  } else {
    EXPECT_LE(rss_end, rss_baseline + rss_baseline / 10);
  }
  // Still serving.
  HttpClient client("127.0.0.1", agent.port());
  auto r = client.get("/api/v1/sockets");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200U);
}

}  // namespace
}  // namespace podnetstat::agent
