// The pod side of watching over real HTTP on loopback: the agent in-process, scanning one network
// namespace of this test every 100 ms; listeners opened and closed in it by the test itself (a
// thread enters it to create them). Those sockets belong to this process, which the scan puts in
// a pod the test chooses: the scan's cgroup file of this PID is replaced by a kubepods one (what
// the scan reads on a node), or left out (no pod). Checks pod watches, firstSeen, lateListeners
// and the per-pod listener counters of /metrics.
//
// Needs root and `ip` (skipped otherwise). Everything made here is removed by destructors.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/agent/state/object_ages.h"
#include "podnetstat/agent/state/watch_history.h"
#include "podnetstat/k8s/pod_index.h"

#include "http_client.h"
#include "namespace_agent_test.h"
#include "netns.h"
#include "ready_api_server.h"
#include "serve_process.h"
#include "watch_client.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using podnetstat::testing::listenIn;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::Watch;
using Clock = std::chrono::steady_clock;
using Fd = podnetstat::testing::OwnedFd;

constexpr const char* kUidA = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
constexpr const char* kUidB = "5f6e7d8c-9b0a-4f1e-8d2c-3b4a5f6e7d8c";
const std::string kContainer(64, '7');

/// The pod the scans put this process in (none: nullopt). Shared with the scan's thread.
class PodOfThisProcess {
 public:
  void set(std::optional<std::string> uid) {
    std::lock_guard lock(mu_);
    uid_ = std::move(uid);
  }

  /// Replaces the scan's cgroup file of this process with the pod's, or drops it.
  void apply(scanner::ScanResult& scan) const {
    std::lock_guard lock(mu_);
    const std::int32_t self = ::getpid();
    std::erase_if(scan.cgroups, [&](const scanner::ProcessCgroup& c) { return c.pid == self; });
    if (uid_) {
      scan.cgroups.push_back(
          {self, "0::/kubepods/besteffort/pod" + *uid_ + "/" + kContainer + "\n"});
    }
  }

 private:
  mutable std::mutex mu_;
  std::optional<std::string> uid_;
};

class WatchPodsApiTest : public podnetstat::testing::NamespaceAgentTest {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    pod_ = std::make_shared<PodOfThisProcess>();
    startAgent("pnwpods", [pod = pod_](scanner::ScanResult& scan) { pod->apply(scan); });
  }

  std::string metrics() {
    HttpClient client("127.0.0.1", server_->port(), 5s);
    auto r = client.get("/metrics");
    EXPECT_TRUE(r.ok());
    return r->body;
  }

  /// The pod with `uid` in /api/v1/pods (null when it is not listed).
  json podItem(const std::string& uid) {
    const json pods = list("/api/v1/pods");
    for (const json& p : pods["items"]) {
      if (p["uid"] == uid) {
        return p;
      }
    }
    return nullptr;
  }

  /// The socket with local port `port` in `target`'s items (null when none).
  json socketOnPort(const std::string& target, int port) {
    const json sockets = list(target);
    for (const json& s : sockets["items"]) {
      if (s["local"]["port"] == port) {
        return s;
      }
    }
    return nullptr;
  }

  /// The value of a per-pod listener counter of pod `uid` (known only by its UID), -1 without
  /// the series.
  long counter(const std::string& name, const std::string& uid) {
    const std::string body = metrics();
    const std::string series = name + "{namespace=\"\",pod=\"" + uid + "\"} ";
    const auto at = body.find(series);
    if (at == std::string::npos) {
      return -1;
    }
    return std::stol(body.substr(at + series.size()));
  }

  std::shared_ptr<PodOfThisProcess> pod_;
};

/// The pod events (not bookmarks) of `events` as "TYPE uid".
std::vector<std::string> podEvents(const std::vector<json>& events) {
  std::vector<std::string> out;
  for (const json& e : events) {
    if (e["type"] != "BOOKMARK") {
      out.push_back(e["type"].get<std::string>() + " " + e["object"]["uid"].get<std::string>());
    }
  }
  return out;
}

TEST_F(WatchPodsApiTest, LateListenersCountOnlyListenersOpenedAfterThePodsFirstScan) {
  Fd early = listenIn(*ns_, 7801);
  waitScans(1);
  pod_->set(kUidA);
  waitScans(2);
  json pod = podItem(kUidA);
  ASSERT_FALSE(pod.is_null());
  EXPECT_EQ(pod["lateListeners"], 0);

  Fd late = listenIn(*ns_, 7802);
  waitScans(2);
  EXPECT_EQ(podItem(kUidA)["lateListeners"], 1);

  late.reset();
  waitScans(2);
  EXPECT_EQ(podItem(kUidA)["lateListeners"], 0);
}

TEST_F(WatchPodsApiTest, FirstSeenIsStableAcrossScansAndLaterForANewSocket) {
  Fd first = listenIn(*ns_, 7811);
  waitScans(2);
  const json seen = socketOnPort("/api/v1/sockets", 7811);
  ASSERT_FALSE(seen.is_null());
  const std::string first_seen = seen["firstSeen"];
  EXPECT_EQ(first_seen.size(), std::string("2026-01-01T00:00:00.000Z").size()) << first_seen;
  waitScans(3);
  const json later = list("/api/v1/listeners");
  EXPECT_GT(later["scannedAt"].get<std::string>(), first_seen);
  EXPECT_EQ(socketOnPort("/api/v1/listeners", 7811)["firstSeen"], first_seen);
  EXPECT_EQ(socketOnPort("/api/v1/sockets", 7811)["firstSeen"], first_seen);

  Fd second = listenIn(*ns_, 7812);
  waitScans(2);
  const json added = socketOnPort("/api/v1/sockets", 7812);
  ASSERT_FALSE(added.is_null());
  EXPECT_GT(added["firstSeen"].get<std::string>(), first_seen);

  // Watch events carry it as well.
  Watch watch(server_->port(), "/api/v1/listeners?watch=true&port=7812");
  const auto e = watch.next();
  ASSERT_TRUE(e);
  EXPECT_EQ((*e)["object"]["firstSeen"], added["firstSeen"]);
}

TEST_F(WatchPodsApiTest, APodWatchGivesAddedForANewPodAndDeletedWhenItGoes) {
  Fd listener = listenIn(*ns_, 7821);
  Watch watch(server_->port(), "/api/v1/pods?watch=true");
  ASSERT_EQ(watch.status(), 200u);
  EXPECT_TRUE(podEvents(watch.drain(300ms)).empty());  // no pod yet

  pod_->set(kUidA);
  auto events = watch.until([](const std::vector<json>& all) { return !podEvents(all).empty(); });
  ASSERT_EQ(podEvents(events), std::vector<std::string>{"ADDED " + std::string(kUidA)});
  // The object is the list's item.
  const json& object = events.back()["object"];
  EXPECT_EQ(object["lateListeners"], 0);
  EXPECT_EQ(object["containers"][0]["id"], kContainer);
  EXPECT_EQ(object["sockets"]["byState"]["LISTEN"], 1);

  pod_->set(std::nullopt);
  events = watch.until([](const std::vector<json>& all) { return !podEvents(all).empty(); });
  EXPECT_EQ(podEvents(events), std::vector<std::string>{"DELETED " + std::string(kUidA)});
}

TEST_F(WatchPodsApiTest, WithoutResourceVersionCurrentPodsComeFirstAsAdded) {
  Fd listener = listenIn(*ns_, 7851);
  pod_->set(kUidA);
  waitScans(2);
  Watch watch(server_->port(), "/api/v1/pods?watch=true");
  EXPECT_EQ(podEvents(watch.drain(300ms)), std::vector<std::string>{"ADDED " + std::string(kUidA)});
  // A pod known only by its UID has no namespace: the namespaced watch selects nothing.
  Watch in_namespace(server_->port(), "/api/v1/namespaces/default/pods?watch=true");
  ASSERT_EQ(in_namespace.status(), 200u);
  EXPECT_TRUE(podEvents(in_namespace.drain(300ms)).empty());
}

TEST_F(WatchPodsApiTest, ResumingFromAResourceVersionReplaysExactlyTheMissedPodEvents) {
  Fd listener = listenIn(*ns_, 7861);
  pod_->set(kUidA);
  waitScans(2);
  const json before = list("/api/v1/pods");
  const std::string rv = before["resourceVersion"];
  ASSERT_EQ(before["items"].size(), 1u);
  // While nobody watches: the process moves from one pod to another.
  pod_->set(kUidB);
  waitScans(2);
  Watch watch(server_->port(), "/api/v1/pods?watch=true&resourceVersion=" + rv);
  EXPECT_EQ(
      podEvents(watch.drain(400ms)),
      (std::vector<std::string>{"ADDED " + std::string(kUidB), "DELETED " + std::string(kUidA)}));
}

TEST_F(WatchPodsApiTest, NoModifiedWhenOnlyTheSocketCountsMove) {
  Fd listener = listenIn(*ns_, 7831);
  pod_->set(kUidA);
  waitScans(2);
  const std::string rv = list("/api/v1/pods")["resourceVersion"];
  Watch watch(server_->port(), "/api/v1/pods?watch=true&resourceVersion=" + rv);
  // Connections come and go (the pod's socket counts move) over several scans.
  for (int i = 0; i < 3; ++i) {
    Fd client(podnetstat::testing::socketIn(*ns_, AF_INET, SOCK_STREAM));
    const sockaddr_in a = podnetstat::testing::loopbackV4(7831);
    ASSERT_EQ(::connect(client.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a), 0);
    Fd accepted(::accept(listener.get(), nullptr, nullptr));
    waitScans(2);
  }
  EXPECT_TRUE(watch.drain(300ms).empty());
  // A listener opened later is a change of the pod: lateListeners.
  Fd late = listenIn(*ns_, 7832);
  const auto modified =
      podEvents(watch.until([](const std::vector<json>& all) { return !podEvents(all).empty(); }));
  EXPECT_EQ(modified, std::vector<std::string>{"MODIFIED " + std::string(kUidA)});
}

TEST_F(WatchPodsApiTest, MetricsCountAPodsListenersOpenedAndClosed) {
  pod_->set(kUidA);
  waitScans(2);
  const std::string appeared = "podnetstat_pod_listener_appearances_total";
  const std::string disappeared = "podnetstat_pod_listener_disappearances_total";
  ASSERT_EQ(counter(appeared, kUidA), 0);
  ASSERT_EQ(counter(disappeared, kUidA), 0);
  Fd listener = listenIn(*ns_, 7841);
  waitScans(2);
  EXPECT_EQ(counter(appeared, kUidA), 1);
  EXPECT_EQ(counter(disappeared, kUidA), 0);
  listener.reset();
  waitScans(2);
  EXPECT_EQ(counter(appeared, kUidA), 1);
  EXPECT_EQ(counter(disappeared, kUidA), 1);
  // The pod gone, its series go too.
  pod_->set(std::nullopt);
  waitScans(2);
  EXPECT_EQ(counter(appeared, kUidA), -1);
  EXPECT_EQ(metrics().find(kUidA), std::string::npos);
}

TEST_F(WatchPodsApiTest, BadPodWatchParametersAre400) {
  HttpClient client("127.0.0.1", server_->port(), 5s);
  for (const char* target :
       {"/api/v1/pods?watch=yes", "/api/v1/pods?resourceVersion=-3",
        "/api/v1/pods?watch=true&timeoutSeconds=0", "/api/v1/pods?watch=true&format=table",
        "/api/v1/namespaces/default/pods?watch=true&port=80"}) {
    auto r = client.get(target);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400u) << target;
  }
}

TEST_F(WatchPodsApiTest, TimeoutSecondsEndsAPodWatch) {
  Watch watch(server_->port(), "/api/v1/pods?watch=true&timeoutSeconds=1");
  ASSERT_EQ(watch.status(), 200u);
  const auto start = Clock::now();
  while (!watch.ended() && Clock::now() - start < 5s) {
    watch.next(200ms);
  }
  EXPECT_TRUE(watch.ended());
}

/// A hand-made scan of one namespace whose process 100 is in pod kUidA (its cgroup), with TCP
/// listeners of that process on `listen_ports` (inode 1000 + port) and `connections`
/// established sockets (inodes from 5000), started at `started_ms`.
std::shared_ptr<const Snapshot> podScan(const std::vector<std::uint16_t>& listen_ports,
                                        int connections,
                                        std::int64_t started_ms) {
  scanner::ScanResult scan;
  scan.started_unix_ms = started_ms;
  scan.namespaces.emplace_back();
  scan.namespaces[0].inode = 4026532999;
  scanner::Process proc;
  proc.pid = 100;
  proc.comm = proc.program = "server";
  scan.processes.push_back(proc);
  scan.cgroups.push_back(
      {100, "0::/kubepods/besteffort/pod" + std::string(kUidA) + "/" + kContainer + "\n"});
  const auto add = [&](std::uint16_t port, int state, std::uint64_t inode) {
    scanner::Socket s;
    s.transport = scanner::Transport::Tcp;
    s.local.ip.bytes = {127, 0, 0, 1};
    s.local.port = port;
    s.state = state;
    s.inode = inode;
    s.owners_begin = static_cast<std::uint32_t>(scan.owner_table.size());
    s.owners_count = 1;
    scan.owner_table.push_back(0);
    scan.sockets.push_back(s);
  };
  for (const std::uint16_t port : listen_ports) {
    add(port, 10, 1000 + port);
  }
  for (int i = 0; i < connections; ++i) {
    add(static_cast<std::uint16_t>(40000 + i), 1, 5000 + static_cast<std::uint64_t>(i));
  }
  PodAttribution pods;
  pods.metadata = std::make_shared<const k8s::PodMetadata>();
  pods.index = k8s::PodIndex::build(scan, *pods.metadata, k8s::NodeFiles());
  return std::make_shared<const Snapshot>(std::move(scan), "n", started_ms, std::move(pods));
}

TEST(ObjectAgesTest, FirstSeenLateListenersAndChurnFollowTheScans) {
  ObjectAges ages;
  const auto first = podScan({80}, 0, 1000);
  ASSERT_EQ(first->podIndex().pods().size(), 1u);
  ScanAges a = ages.observe(*first);
  EXPECT_EQ(a.socket_first_seen_ms, std::vector<std::int64_t>{1000});
  EXPECT_EQ(a.pod_late_listeners, std::vector<std::uint32_t>{0});
  EXPECT_EQ(a.pod_listener_churn[0].appearances, 0u);  // the first scan's are no appearances

  a = ages.observe(*podScan({80, 81}, 0, 2000));
  EXPECT_EQ(a.socket_first_seen_ms, (std::vector<std::int64_t>{1000, 2000}));
  EXPECT_EQ(a.pod_late_listeners, std::vector<std::uint32_t>{1});
  EXPECT_EQ(a.pod_listener_churn[0].appearances, 1u);
  EXPECT_EQ(a.pod_listener_churn[0].disappearances, 0u);

  a = ages.observe(*podScan({81}, 0, 3000));
  EXPECT_EQ(a.socket_first_seen_ms, std::vector<std::int64_t>{2000});
  EXPECT_EQ(a.pod_late_listeners, std::vector<std::uint32_t>{1});
  EXPECT_EQ(a.pod_listener_churn[0].appearances, 1u);
  EXPECT_EQ(a.pod_listener_churn[0].disappearances, 1u);

  // Port 80 again: a new socket (forgotten when it went), first seen now.
  a = ages.observe(*podScan({80, 81}, 0, 4000));
  EXPECT_EQ(a.socket_first_seen_ms, (std::vector<std::int64_t>{4000, 2000}));
  EXPECT_EQ(a.pod_listener_churn[0].appearances, 2u);
}

TEST(WatchHistoryTest, PodsAreDiffedByUidWithoutTheirSocketCounts) {
  WatchHistory history;
  ObjectAges ages;
  std::uint64_t generation = 0;
  const auto record = [&](const std::shared_ptr<const Snapshot>& s) {
    return history.record(std::make_shared<const SnapshotPages>(s, ++generation, ages.observe(*s)));
  };
  EXPECT_EQ(record(podScan({80}, 0, 1000)), nullptr);
  // Connections come: the pod's counts move, the pod does not change.
  auto diff = record(podScan({80}, 3, 2000));
  ASSERT_NE(diff, nullptr);
  EXPECT_TRUE(diff->pod_events.empty());
  EXPECT_EQ(diff->events.size(), 3u);
  // A late listener: MODIFIED, carrying the pod object with its lateListeners.
  diff = record(podScan({80, 81}, 3, 3000));
  ASSERT_EQ(diff->pod_events.size(), 1u);
  EXPECT_EQ(diff->pod_events[0].type, WatchEventType::Modified);
  const auto object = nlohmann::json::parse(
      diff->pod_objects[static_cast<std::size_t>(diff->pod_events[0].new_object)].json);
  EXPECT_EQ(object["lateListeners"], 1);
  EXPECT_EQ(object["uid"], kUidA);
  // No pod at all: DELETED with its last version.
  auto empty = std::make_shared<const Snapshot>(scanner::ScanResult{}, "n", 4000);
  diff = record(empty);
  ASSERT_EQ(diff->pod_events.size(), 1u);
  EXPECT_EQ(diff->pod_events[0].type, WatchEventType::Deleted);
  EXPECT_EQ(nlohmann::json::parse(diff->pod_objects[0].json)["lateListeners"], 1);
}

}  // namespace
}  // namespace podnetstat::agent
