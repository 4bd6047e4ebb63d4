// CriCollector over a fake CriRuntime: which sandboxes count, what the verbose info gives, what
// is asked once and remembered, and how failures and the budget degrade a round.

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "podnetstat/k8s/cri.h"

#include "test_paths.h"

namespace podnetstat::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kSandbox(64, 'a');
const std::string kHostSandbox(64, 'b');
const std::string kContainer(64, '1');

/// The containerd capture's info["info"] string (pid 26601, netns cni-5e8f27ce-...).
std::string capturedSandboxInfo() {
  std::ifstream in(testing::fixturesDir() / "cri" / "last-PodSandboxStatus-verbose-raw.txt");
  std::string header;
  std::string info;
  std::getline(in, header);
  std::getline(in, info);
  return info;
}

/// A runtime whose answers the test sets, counting the calls.
class FakeRuntime final : public CriRuntime {
 public:
  std::vector<CriSandboxItem> sandboxes;
  std::map<std::string, CriSandboxStatus> statuses;
  std::vector<CriContainerItem> containers;
  std::map<std::string, CriContainerStatus> container_statuses;
  std::string fail_lists;  // non-empty: the list calls fail with this
  std::map<std::string, int> calls;

  std::string endpoint() const override { return "unix:///fake.sock"; }

  Result<CriVersion> version() override {
    ++calls["Version"];
    return CriVersion{"0.1.0", "fake", "1.0", "v1"};
  }

  Result<std::vector<CriSandboxItem>> listReadySandboxes() override {
    ++calls["ListPodSandbox"];
    if (!fail_lists.empty()) {
      return Error{fail_lists};
    }
    return sandboxes;
  }

  Result<CriSandboxStatus> sandboxStatus(const std::string& id) override {
    ++calls["PodSandboxStatus"];
    const auto it = statuses.find(id);
    if (it == statuses.end()) {
      return Error{"CRI PodSandboxStatus: NOT_FOUND: " + id};
    }
    return it->second;
  }

  Result<std::vector<CriContainerItem>> listContainers() override {
    ++calls["ListContainers"];
    if (!fail_lists.empty()) {
      return Error{fail_lists};
    }
    return containers;
  }

  Result<CriContainerStatus> containerStatus(const std::string& id) override {
    ++calls["ContainerStatus"];
    const auto it = container_statuses.find(id);
    if (it == container_statuses.end()) {
      return Error{"CRI ContainerStatus: NOT_FOUND: " + id};
    }
    return it->second;
  }
};

CriSandboxItem item(const std::string& id, const std::string& name, bool ready = true) {
  CriSandboxItem s;
  s.id = id;
  s.name = name;
  s.namespace_name = "shop";
  s.uid = "uid-" + name;
  s.ready = ready;
  s.labels = {{"app", name}, {"io.kubernetes.pod.name", name}};
  return s;
}

/// A runtime with one pod-network sandbox (the real containerd capture) and one hostNetwork
/// sandbox, and a running container in the first.
std::unique_ptr<FakeRuntime> twoSandboxes() {
  auto rt = std::make_unique<FakeRuntime>();
  rt->sandboxes = {item(kSandbox, "web-0"), item(kHostSandbox, "proxy-0")};
  CriSandboxStatus web;
  web.id = kSandbox;
  web.name = "web-0";
  web.namespace_name = "shop";
  web.uid = "uid-web-0";
  web.ready = true;
  web.ips = {"10.234.0.2"};
  web.labels = rt->sandboxes[0].labels;
  web.info = {{"info", capturedSandboxInfo()}};
  rt->statuses[kSandbox] = web;
  CriSandboxStatus proxy;
  proxy.id = kHostSandbox;
  proxy.name = "proxy-0";
  proxy.ready = true;
  proxy.network_mode = CriNamespaceMode::Node;
  proxy.info = {{"info", R"({"pid": 777})"}};
  rt->statuses[kHostSandbox] = proxy;
  CriContainerItem c;
  c.id = kContainer;
  c.sandbox_id = kSandbox;
  c.name = "nginx";
  c.state = CriContainerState::Running;
  rt->containers = {c};
  CriContainerStatus cs;
  cs.id = kContainer;
  cs.state = CriContainerState::Running;
  cs.info = {{"info", R"({"pid": 26650, "sandboxID": ")" + kSandbox + R"("})"}};
  rt->container_statuses[kContainer] = cs;
  return rt;
}

TEST(CriCollector, ReadsPidNetnsAndContainersOfReadySandboxes) {
  CriCollector collector(twoSandboxes());
  const auto snapshot = collector.collect();
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;
  EXPECT_EQ(snapshot->endpoint, "unix:///fake.sock");
  EXPECT_EQ(snapshot->version.runtime_name, "fake");
  ASSERT_EQ(snapshot->pods.size(), 2U);
  const CriPod& web = snapshot->pods[0];
  EXPECT_EQ(web.pid, 26601);
  EXPECT_THAT(web.netns_path, HasSubstr("/netns/cni-5e8f27ce-"));
  EXPECT_FALSE(web.host_network);
  EXPECT_THAT(web.ips, ElementsAre("10.234.0.2"));
  EXPECT_EQ(web.labels, (std::map<std::string, std::string>{{"app", "web-0"}}));
  ASSERT_EQ(web.containers.size(), 1U);
  EXPECT_EQ(web.containers[0].name, "nginx");
  EXPECT_EQ(web.containers[0].pid, 26650);
  const CriPod& proxy = snapshot->pods[1];
  EXPECT_TRUE(proxy.host_network);
  EXPECT_EQ(proxy.pid, 777);
  EXPECT_TRUE(proxy.netns_path.empty());
  EXPECT_TRUE(snapshot->warnings.empty());
}

TEST(CriCollector, AsksEachStatusOnceWhileTheIdIsListed) {
  auto rt = twoSandboxes();
  FakeRuntime& fake = *rt;
  CriCollector collector(std::move(rt));
  ASSERT_TRUE(collector.collect().ok());
  ASSERT_TRUE(collector.collect().ok());
  EXPECT_EQ(fake.calls["Version"], 1);
  EXPECT_EQ(fake.calls["ListPodSandbox"], 2);
  EXPECT_EQ(fake.calls["ListContainers"], 2);
  EXPECT_EQ(fake.calls["PodSandboxStatus"], 2);  // two sandboxes, once each
  EXPECT_EQ(fake.calls["ContainerStatus"], 1);
}

TEST(CriCollector, SkipsSandboxesThatAreNotReady) {
  auto rt = twoSandboxes();
  rt->sandboxes[1].ready = false;
  CriCollector collector(std::move(rt));
  const auto snapshot = collector.collect();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->pods.size(), 1U);
  EXPECT_EQ(snapshot->pods[0].name, "web-0");
}

TEST(CriCollector, AStoppedSandboxDisappearsAtTheNextRound) {
  auto rt = twoSandboxes();
  FakeRuntime& fake = *rt;
  CriCollector collector(std::move(rt));
  ASSERT_EQ(collector.collect()->pods.size(), 2U);
  fake.sandboxes.pop_back();
  const auto snapshot = collector.collect();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->pods.size(), 1U);
}

TEST(CriCollector, AFailedStatusCostsThatSandboxsDetailsOnly) {
  auto rt = twoSandboxes();
  rt->statuses.erase(kHostSandbox);
  CriCollector collector(std::move(rt));
  const auto snapshot = collector.collect();
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->pods.size(), 2U);
  EXPECT_EQ(snapshot->pods[1].name, "proxy-0");  // from the list
  EXPECT_EQ(snapshot->pods[1].pid, 0);
  ASSERT_EQ(snapshot->warnings.size(), 1U);
  EXPECT_THAT(snapshot->warnings[0], HasSubstr("NOT_FOUND"));
}

TEST(CriCollector, BadVerboseInfoIsAWarning) {
  auto rt = twoSandboxes();
  rt->statuses[kHostSandbox].info = {{"info", "not json"}};
  CriCollector collector(std::move(rt));
  const auto snapshot = collector.collect();
  ASSERT_TRUE(snapshot.ok());
  EXPECT_FALSE(snapshot->pods[1].info_error.empty());
  ASSERT_EQ(snapshot->warnings.size(), 1U);
  EXPECT_THAT(snapshot->warnings[0], HasSubstr(kHostSandbox));
}

TEST(CriCollector, AFailedListFailsTheRoundAndAsksVersionAgain) {
  auto rt = twoSandboxes();
  FakeRuntime& fake = *rt;
  CriCollector collector(std::move(rt));
  fake.fail_lists = "CRI ListPodSandbox on unix:///fake.sock: UNAVAILABLE: connection refused";
  const auto failed = collector.collect();
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.error().message, HasSubstr("UNAVAILABLE"));
  fake.fail_lists.clear();
  ASSERT_TRUE(collector.collect().ok());
  EXPECT_EQ(fake.calls["Version"], 2);
}

TEST(CriCollector, AnExhaustedBudgetLeavesStatusesForTheNextRound) {
  auto rt = twoSandboxes();
  FakeRuntime& fake = *rt;
  CriCollector collector(std::move(rt));
  const auto partial = collector.collect(std::chrono::milliseconds(0));
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(fake.calls["PodSandboxStatus"], 0);
  ASSERT_EQ(partial->pods.size(), 2U);
  EXPECT_EQ(partial->pods[0].pid, 0);
  ASSERT_FALSE(partial->warnings.empty());
  EXPECT_THAT(partial->warnings.back(), HasSubstr("budget"));
  const auto full = collector.collect();
  ASSERT_TRUE(full.ok());
  EXPECT_EQ(full->pods[0].pid, 26601);
}

}  // namespace
}  // namespace podnetstat::k8s
