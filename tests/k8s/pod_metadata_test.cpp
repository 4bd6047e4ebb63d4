// mergePodMetadata and PodMetadataCache with fake sources and a fake clock.

#include "podnetstat/k8s/pod_metadata.h"

#include <atomic>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "netns.h"
#include "test_paths.h"

namespace podnetstat::k8s {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr const char* kUid = "5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab";

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point steadyNow() const override { return steady; }

  std::chrono::system_clock::time_point systemNow() const override {
    return std::chrono::system_clock::time_point{} +
           std::chrono::duration_cast<std::chrono::system_clock::duration>(
               steady.time_since_epoch());
  }

  std::chrono::steady_clock::time_point steady{std::chrono::hours(1000)};
};

/// A kubelet whose answer the test sets; thread-safe enough for the cache's async call.
class FakeKubelet final : public KubeletApi {
 public:
  explicit FakeKubelet(std::shared_ptr<std::string> body) : body_(std::move(body)) {}

  std::string endpoint() const override { return "https://10.0.0.7:10250"; }

  Result<std::string> getPods() override {
    ++calls;
    if (body_->starts_with("ERROR ")) {
      return Error{body_->substr(6)};
    }
    return *body_;
  }

  std::atomic<int> calls{0};

 private:
  std::shared_ptr<std::string> body_;
};

/// A runtime with one READY sandbox.
class OneSandboxRuntime final : public CriRuntime {
 public:
  std::string endpoint() const override { return "unix:///fake.sock"; }

  Result<CriVersion> version() override { return CriVersion{"0.1.0", "fake", "1.0", "v1"}; }

  Result<std::vector<CriSandboxItem>> listReadySandboxes() override {
    CriSandboxItem item;
    item.id = std::string(64, 'a');
    item.uid = kUid;
    item.namespace_name = "shop";
    item.name = "web-0";
    item.ready = true;
    return std::vector<CriSandboxItem>{item};
  }

  Result<CriSandboxStatus> sandboxStatus(const std::string& id) override {
    CriSandboxStatus s;
    s.id = id;
    s.uid = kUid;
    s.namespace_name = "shop";
    s.name = "web-0";
    s.ready = true;
    s.info = {{"info", R"({"pid": 4242})"}};
    return s;
  }

  Result<std::vector<CriContainerItem>> listContainers() override {
    return std::vector<CriContainerItem>{};
  }

  Result<CriContainerStatus> containerStatus(const std::string&) override { return Error{"none"}; }
};

std::string podListWith(const std::string& name) {
  return R"({"kind":"PodList","apiVersion":"v1","items":[{"metadata":{"name":")" + name +
         R"(","namespace":"shop","uid":")" + kUid +
         R"(","labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx"}]},)"
         R"("status":{"phase":"Running","podIP":"10.244.1.7"}}]})";
}

/// A runtime's container: ID of 64 times `id`, its name, pid and state.
CriContainer criContainer(char id,
                          const std::string& name,
                          std::int32_t pid,
                          CriContainerState state = CriContainerState::Running) {
  CriContainer c;
  c.id = std::string(64, id);
  c.name = name;
  c.pid = pid;
  c.state = state;
  return c;
}

/// A kubelet pod of kUid with these spec containers (no status IDs unless given).
PodList kubeletPod(const std::string& name, std::vector<ContainerInfo> containers) {
  PodInfo info;
  info.uid = info.runtime_uid = kUid;
  info.name = name;
  info.containers = std::move(containers);
  PodList list;
  list.pods = {info};
  return list;
}

TEST(PodMetadataMerge, KubeletNamesWinAndCriFactsStay) {
  CriSnapshot cri;
  CriPod pod;
  pod.uid = std::string(kUid).replace(8, 1, "_");  // spelled as a systemd cgroup would
  pod.namespace_name = "shop";
  pod.name = "old-name";
  pod.sandbox_id = std::string(64, 'a');
  pod.pid = 4242;
  pod.netns_path = "/var/run/netns/cni-1";
  cri.pods = {pod};
  const auto list = parsePodList(podListWith("web-0"));
  ASSERT_TRUE(list.ok());
  const PodMetadata md = mergePodMetadata(&cri, &*list, nullptr);
  ASSERT_EQ(md.pods.size(), 1U);
  const PodMeta& meta = md.pods[0];
  EXPECT_EQ(meta.uid, kUid);
  EXPECT_EQ(meta.name, "web-0");
  EXPECT_EQ(meta.sandbox_pid, 4242);
  EXPECT_EQ(meta.netns_path, "/var/run/netns/cni-1");
  EXPECT_EQ(meta.ips, std::vector<std::string>{"10.244.1.7"});
  EXPECT_EQ(meta.sources, kSourceCri | kSourceKubelet);
  EXPECT_EQ(md.find(kUid), &meta);
}

TEST(PodMetadataMerge, ContainersJoinByIdAndKeepTheSpecsPorts) {
  CriSnapshot cri;
  CriPod pod;
  pod.uid = kUid;
  pod.sandbox_id = std::string(64, 'a');
  const CriContainer running = criContainer('1', "nginx", 77);
  const CriContainer previous = criContainer('0', "nginx", 0, CriContainerState::Exited);
  pod.containers = {previous, running};
  cri.pods = {pod};
  ContainerInfo c;
  c.name = "nginx";
  c.id = running.id;
  c.ports = {{"http", 80, "TCP", 0, ""}};
  const PodList list = kubeletPod("web-0", {c});
  const PodMetadata md = mergePodMetadata(&cri, &list, nullptr);
  const auto ref = md.findContainer(running.id);
  ASSERT_TRUE(ref.has_value());
  EXPECT_EQ(ref->container->name, "nginx");
  EXPECT_EQ(ref->container->pid, 77);
  EXPECT_EQ(ref->container->ports.size(), 1U);
  const auto old = md.findContainer(previous.id);
  ASSERT_TRUE(old.has_value());
  EXPECT_EQ(old->container->ports.size(), 1U);  // an older attempt of the same spec container
  EXPECT_FALSE(md.findContainer(std::string(64, '9')).has_value());
}

TEST(PodMetadataMerge, KubeletContainersWithoutIdsYetAreTheRuntimesOfTheSameName) {
  // A new pod: the kubelet's status has no container IDs yet, the runtime has the containers.
  CriSnapshot cri;
  CriPod pod;
  pod.uid = kUid;
  pod.sandbox_id = std::string(64, 'a');
  const CriContainer alpha = criContainer('1', "alpha", 71);
  const CriContainer beta = criContainer('2', "beta", 72);
  // a later attempt, not running yet
  const CriContainer beta_created = criContainer('3', "beta", 0, CriContainerState::Created);
  pod.containers = {beta, alpha, beta_created};
  cri.pods = {pod};
  ContainerInfo a;
  a.name = "alpha";
  ContainerInfo b;
  b.name = "beta";
  b.ports = {{"", 8082, "UDP", 0, ""}};
  const PodList list = kubeletPod("duo", {a, b});
  const PodMetadata md = mergePodMetadata(&cri, &list, nullptr);
  ASSERT_EQ(md.pods.size(), 1U);
  const auto& containers = md.pods[0].containers;
  ASSERT_EQ(containers.size(), 3U);  // alpha, beta (the running one), beta's other attempt
  EXPECT_EQ(containers[0].name, "alpha");
  EXPECT_EQ(containers[0].id, alpha.id);
  EXPECT_EQ(containers[0].pid, 71);
  EXPECT_EQ(containers[1].name, "beta");
  EXPECT_EQ(containers[1].id, beta.id);
  EXPECT_EQ(containers[1].pid, 72);
  EXPECT_EQ(containers[1].ports.size(), 1U);
  EXPECT_EQ(containers[2].id, beta_created.id);
  EXPECT_EQ(md.findContainer(alpha.id)->container->name, "alpha");
}

TEST(PodMetadataCache, BeforeTheFirstRefreshItIsEmptyButKnowsItsSources) {
  auto body = std::make_shared<std::string>(podListWith("web-0"));
  PodMetadataSources sources;
  sources.kubelet = std::make_unique<FakeKubelet>(body);
  const PodMetadataCache cache(std::move(sources));
  const auto md = cache.current();
  ASSERT_NE(md, nullptr);
  EXPECT_TRUE(md->pods.empty());
  EXPECT_TRUE(md->kubelet.enabled);
  EXPECT_EQ(md->kubelet.endpoint, "https://10.0.0.7:10250");
  EXPECT_FALSE(md->cri.enabled);
  EXPECT_FALSE(md->refreshed_at.has_value());
}

TEST(PodMetadataCache, RefreshMergesEverySource) {
  auto body = std::make_shared<std::string>(podListWith("web-0"));
  const testing::ScratchDir logs("pns-logs-");
  std::filesystem::create_directories(logs.path() /
                                      "shop_other-0_0b1e8c6d-3f2a-4d5e-9c7b-6a5f4e3d2c1b");
  PodMetadataSources sources;
  sources.cri = std::make_unique<OneSandboxRuntime>();
  sources.kubelet = std::make_unique<FakeKubelet>(body);
  sources.log_dir = logs.path();
  PodMetadataCache cache(std::move(sources));
  const auto md = cache.refresh();
  EXPECT_EQ(cache.current(), md);
  ASSERT_EQ(md->pods.size(), 2U);
  EXPECT_TRUE(md->cri.ok);
  EXPECT_EQ(md->cri.pods, 1U);
  EXPECT_EQ(md->cri.detail, "fake 1.0");
  EXPECT_TRUE(md->kubelet.ok);
  EXPECT_TRUE(md->log_dir.ok);
  EXPECT_EQ(md->log_dir.pods, 1U);
  const PodMeta* web = md->find(kUid);
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->sandbox_pid, 4242);
  EXPECT_EQ(web->labels.at("app"), "web");
  const PodMeta* other = md->find("0b1e8c6d-3f2a-4d5e-9c7b-6a5f4e3d2c1b");
  ASSERT_NE(other, nullptr);
  EXPECT_EQ(other->name, "other-0");
  EXPECT_EQ(other->sources, kSourceLogDir);
}

TEST(PodMetadataCache, AFailingSourceReportsWhyAndKeepsItsLastAnswerForAWhile) {
  FakeClock clock;
  auto body = std::make_shared<std::string>(podListWith("web-0"));
  PodMetadataSources sources;
  sources.kubelet = std::make_unique<FakeKubelet>(body);
  PodMetadataCache cache(std::move(sources),
                         {.cri_budget = 1s, .keep_stale = 60s, .clock = &clock});
  ASSERT_TRUE(cache.refresh()->kubelet.ok);

  *body = "ERROR kubelet https://10.0.0.7:10250/pods answered 403 Forbidden";
  clock.steady += 30s;
  auto md = cache.refresh();
  EXPECT_FALSE(md->kubelet.ok);
  EXPECT_THAT(md->kubelet.error, HasSubstr("403"));
  EXPECT_TRUE(md->kubelet.stale);
  ASSERT_NE(md->find(kUid), nullptr);  // the last good answer, 30 s old
  EXPECT_EQ(md->find(kUid)->name, "web-0");
  ASSERT_TRUE(md->kubelet.last_success.has_value());

  clock.steady += 60s;
  md = cache.refresh();
  EXPECT_FALSE(md->kubelet.stale);
  EXPECT_EQ(md->find(kUid), nullptr);  // too old now: names are gone, the error stays
  EXPECT_THAT(md->kubelet.error, HasSubstr("403"));

  *body = podListWith("web-1");
  md = cache.refresh();
  EXPECT_TRUE(md->kubelet.ok);
  EXPECT_TRUE(md->kubelet.error.empty());
  EXPECT_EQ(md->find(kUid)->name, "web-1");
}

TEST(PodMetadataCache, GarbageFromTheKubeletIsAnError) {
  auto body = std::make_shared<std::string>("<html>not a pod list</html>");
  PodMetadataSources sources;
  sources.kubelet = std::make_unique<FakeKubelet>(body);
  PodMetadataCache cache(std::move(sources));
  const auto md = cache.refresh();
  EXPECT_FALSE(md->kubelet.ok);
  EXPECT_THAT(md->kubelet.error, HasSubstr("invalid JSON"));
  EXPECT_TRUE(md->pods.empty());
}

TEST(PodMetadataCache, TheThreadRefreshesUntilStopped) {
  auto body = std::make_shared<std::string>(podListWith("web-0"));
  auto kubelet = std::make_unique<FakeKubelet>(body);
  FakeKubelet& fake = *kubelet;
  PodMetadataSources sources;
  sources.kubelet = std::move(kubelet);
  PodMetadataCache cache(std::move(sources));
  cache.start(20ms);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (fake.calls < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE(fake.calls, 3);
  EXPECT_NE(cache.current()->find(kUid), nullptr);
  cache.stop();
  const int calls = fake.calls;
  std::this_thread::sleep_for(60ms);
  EXPECT_EQ(fake.calls, calls);
}

TEST(PodMetadataCache, RequestRefreshWakesTheThreadEarly) {
  auto body = std::make_shared<std::string>(podListWith("web-0"));
  auto kubelet = std::make_unique<FakeKubelet>(body);
  FakeKubelet& fake = *kubelet;
  PodMetadataSources sources;
  sources.kubelet = std::move(kubelet);
  PodMetadataCache cache(std::move(sources));
  cache.start(1h);
  const auto wait = [&](int n) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (fake.calls < n && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
    return fake.calls >= n;
  };
  ASSERT_TRUE(wait(1));
  cache.requestRefresh(0ms);
  EXPECT_TRUE(wait(2));
}

}  // namespace
}  // namespace podnetstat::k8s
