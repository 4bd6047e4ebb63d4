#include "podnetstat/k8s/pod_list.h"

#include <algorithm>
#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "podnetstat/k8s/cgroup.h"

#include "test_paths.h"

namespace podnetstat::k8s {

// gtest prints mismatches with these.
// NOLINTNEXTLINE(readability-identifier-naming): gtest printer hook
void PrintTo(const ContainerPort& p, std::ostream* os) {
  *os << "{name=\"" << p.name << "\", " << p.container_port << "/" << p.protocol
      << ", host=" << p.host_ip << ":" << p.host_port << "}";
}

// NOLINTNEXTLINE(readability-identifier-naming): gtest printer hook
void PrintTo(const OwnerReference& o, std::ostream* os) {
  *os << "{" << o.kind << " " << o.name << " uid=" << o.uid << " controller=" << o.controller
      << "}";
}

// NOLINTNEXTLINE(readability-identifier-naming): gtest printer hook
void PrintTo(const ContainerRef& r, std::ostream* os) {
  *os << "{runtime=\"" << r.runtime << "\", id=\"" << r.id << "\"}";
}

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;

std::string readFixture(const std::string& name) {
  std::ifstream in(testing::fixturesDir() / "kubelet" / name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

PodList parseFixture(const std::string& name) {
  auto result = parsePodList(readFixture(name));
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : PodList{};
}

PodList parseText(const std::string& text) {
  auto result = parsePodList(text);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? std::move(result).value() : PodList{};
}

const PodInfo* findPod(const PodList& list, const std::string& name) {
  const auto it = std::find_if(list.pods.begin(), list.pods.end(),
                               [&](const PodInfo& p) { return p.name == name; });
  return it == list.pods.end() ? nullptr : &*it;
}

std::string errorOf(const std::string& text) {
  auto result = parsePodList(text);
  EXPECT_FALSE(result.ok()) << text;
  return result.ok() ? std::string{} : result.error().message;
}

// ---- real captures ----

TEST(PodListCapture, CountsEveryPodInOrder) {
  const PodList list = parseFixture("podlist_1.8-2.json");
  std::vector<std::string> names;
  for (const auto& p : list.pods) {
    names.push_back(p.name);
  }
  EXPECT_THAT(names, ElementsAre("kube-apiserver-my-node-name", "kube-controller-manager",
                                 "kube-proxy-rnd5q", "kube-scheduler-bpnn6", "nginx-99d8b564-4r4vq",
                                 "redis-75586d7d7c-jrm7j",
                                 "kube-proxy-gke-haissam-default-pool-be5066f1-wnvn"));
  EXPECT_EQ(list.skipped_items, 0U);
}

TEST(PodListCapture, ReadsAllFieldsOfAPodNetworkPod) {
  const PodList list = parseFixture("podlist_1.8-2.json");
  const PodInfo* pod = findPod(list, "redis-75586d7d7c-jrm7j");
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->uid, "d91aa43c-0769-11e8-afcc-000c29dea4f6");
  EXPECT_EQ(pod->runtime_uid, pod->uid);
  EXPECT_EQ(pod->namespace_name, "default");
  EXPECT_THAT(pod->labels,
              ElementsAre(Pair("pod-template-hash", "3114283837"), Pair("run", "redis")));
  ASSERT_EQ(pod->owners.size(), 1U);
  EXPECT_EQ(pod->owners[0], (OwnerReference{"ReplicaSet", "redis-75586d7d7c",
                                            "d916f7c5-0769-11e8-afcc-000c29dea4f6", true}));
  EXPECT_FALSE(pod->static_pod);
  EXPECT_FALSE(pod->host_network);
  EXPECT_EQ(pod->node_name, "localhost");
  EXPECT_THAT(pod->pod_ips, ElementsAre("172.17.0.3"));
  EXPECT_EQ(pod->host_ip, "192.168.128.141");
  EXPECT_EQ(pod->phase, "Running");
  EXPECT_EQ(pod->qos_class, "BestEffort");
  ASSERT_EQ(pod->containers.size(), 1U);
  const ContainerInfo& c = pod->containers[0];
  EXPECT_EQ(c.name, "redis");
  EXPECT_EQ(c.kind, ContainerKind::Regular);
  EXPECT_THAT(c.ports, IsEmpty());
  EXPECT_EQ(c.runtime, "docker");
  EXPECT_EQ(c.id, "3e13513f94b41d23429804243820438fb9a214238bf2d4f384741a48b575670a");
}

TEST(PodListCapture, StaticPodKeepsItsConfigHashUid) {
  const PodList list = parseFixture("podlist_1.8-2.json");
  const PodInfo* pod = findPod(list, "kube-apiserver-my-node-name");
  ASSERT_NE(pod, nullptr);
  EXPECT_TRUE(pod->static_pod);
  EXPECT_EQ(pod->uid, "0a8863810b43d4d891fab0af80e28e4c");
  EXPECT_EQ(pod->runtime_uid, "0a8863810b43d4d891fab0af80e28e4c");
  EXPECT_THAT(pod->owners, IsEmpty());
  // A pending static pod: no status beyond the phase, containers without IDs.
  EXPECT_EQ(pod->phase, "Pending");
  EXPECT_THAT(pod->pod_ips, IsEmpty());
  ASSERT_EQ(pod->containers.size(), 2U);
  EXPECT_EQ(pod->containers[0].name, "etcd");
  EXPECT_EQ(pod->containers[1].name, "kube-apiserver");
  EXPECT_EQ(pod->containers[1].id, "");
  // The UID joins with the one a cgroup path gives (static pods: 32 hex, no dashes).
  const auto cgroup = parseCgroupPath("/kubepods/besteffort/pod0a8863810b43d4d891fab0af80e28e4c");
  ASSERT_TRUE(cgroup.has_value());
  EXPECT_EQ(cgroup->pod_uid, pod->runtime_uid);
}

TEST(PodListCapture, StaticPodListedStatusFirst) {
  const PodList list = parseFixture("podlist_1.8-2.json");
  const PodInfo* pod = findPod(list, "kube-proxy-gke-haissam-default-pool-be5066f1-wnvn");
  ASSERT_NE(pod, nullptr);
  EXPECT_TRUE(pod->static_pod);
  EXPECT_EQ(pod->runtime_uid, "260c2b1d43b094af6d6b4ccba082c2db");
  EXPECT_TRUE(pod->host_network);
  EXPECT_EQ(pod->node_name, "gke-haissam-default-pool-be5066f1-wnvn");
  EXPECT_THAT(pod->labels, ElementsAre(Pair("component", "kube-proxy"), Pair("tier", "node")));
}

TEST(PodListCapture, HostNetworkPodsHaveTheNodeIp) {
  const PodList list = parseFixture("podlist_1.8-2.json");
  std::vector<std::string> host_network;
  for (const auto& p : list.pods) {
    if (p.host_network) {
      host_network.push_back(p.name);
      if (!p.pod_ips.empty()) {
        EXPECT_THAT(p.pod_ips, ElementsAre(p.host_ip)) << p.name;
      }
    }
  }
  EXPECT_EQ(host_network.size(), 6U);
  const PodInfo* proxy = findPod(list, "kube-proxy-rnd5q");
  ASSERT_NE(proxy, nullptr);
  EXPECT_TRUE(proxy->host_network);
  EXPECT_FALSE(proxy->static_pod);
  EXPECT_EQ(proxy->owners.at(0).kind, "DaemonSet");
  EXPECT_THAT(proxy->pod_ips, ElementsAre("192.168.128.141"));
}

TEST(PodListCapture, ContainerdIdsAndDeclaredPorts) {
  const PodList list = parseFixture("podlist_init_container_running.json");
  ASSERT_EQ(list.pods.size(), 4U);
  const PodInfo* dns = findPod(list, "coredns-747dbcf5df-qmtnl");
  ASSERT_NE(dns, nullptr);
  ASSERT_EQ(dns->containers.size(), 1U);
  const ContainerInfo& c = dns->containers[0];
  EXPECT_EQ(c.runtime, "containerd");
  // The running instance, not lastState's terminated one.
  EXPECT_EQ(c.id, "509057eef9c66fcae1627a278216e29a0504d9b2e85ccc79c09b316dba7554e2");
  EXPECT_THAT(c.ports, ElementsAre(ContainerPort{"dns", 53, "UDP", 0, ""},
                                   ContainerPort{"dns-tcp", 53, "TCP", 0, ""},
                                   ContainerPort{"metrics", 9153, "TCP", 0, ""}));
  EXPECT_EQ(dns->qos_class, "Burstable");
  EXPECT_THAT(dns->pod_ips, ElementsAre("192.168.253.58"));
}

TEST(PodListCapture, InitContainerRunningWhileMainWaits) {
  const PodList list = parseFixture("podlist_init_container_running.json");
  const PodInfo* pod = findPod(list, "myapp-pod");
  ASSERT_NE(pod, nullptr);
  EXPECT_EQ(pod->phase, "Pending");
  ASSERT_EQ(pod->containers.size(), 2U);
  EXPECT_EQ(pod->containers[0].name, "myapp-container");
  EXPECT_EQ(pod->containers[0].kind, ContainerKind::Regular);
  EXPECT_EQ(pod->containers[0].id, "");  // waiting: PodInitializing, no containerID
  EXPECT_EQ(pod->containers[0].runtime, "");
  EXPECT_EQ(pod->containers[1].name, "init-myservice");
  EXPECT_EQ(pod->containers[1].kind, ContainerKind::Init);
  EXPECT_EQ(pod->containers[1].runtime, "containerd");
  EXPECT_EQ(pod->containers[1].id,
            "922a2f3f14d1724d7eeb6cad2b5138bcbd85948c802fead1af2a1e5d79807e4e");
}

TEST(PodListCapture, SkipsAndCountsNullItemsKeepsEmptyObjects) {
  const PodList list = parseFixture("podlist_null_pod.json");
  EXPECT_EQ(list.skipped_items, 1U);
  ASSERT_EQ(list.pods.size(), 2U);
  const PodInfo& nginx = list.pods[0];
  EXPECT_EQ(nginx.name, "nginx-99d8b564-4r4vq");
  ASSERT_EQ(nginx.containers.size(), 1U);
  EXPECT_THAT(nginx.containers[0].ports, ElementsAre(ContainerPort{"", 80, "TCP", 80, ""},
                                                     ContainerPort{"", 443, "TCP", 443, ""}));
  const PodInfo& empty = list.pods[1];  // "{}": every field at its default
  EXPECT_EQ(empty.uid, "");
  EXPECT_EQ(empty.name, "");
  EXPECT_FALSE(empty.host_network);
  EXPECT_FALSE(empty.static_pod);
  EXPECT_THAT(empty.containers, IsEmpty());
  EXPECT_THAT(empty.pod_ips, IsEmpty());
}

TEST(PodListCapture, EmptyList) {
  const PodList list = parseFixture("podlist_empty.json");
  EXPECT_THAT(list.pods, IsEmpty());
  EXPECT_EQ(list.skipped_items, 0U);
}

// ---- fields the captures lack (newer kubelets) ----

TEST(PodList, PrefersPodIpsOverPodIp) {
  const PodList list = parseText(R"({"kind":"PodList","items":[{"status":{
      "podIP":"10.244.1.7",
      "podIPs":[{"ip":"10.244.1.7"},{"ip":"fd00:10:244:1::7"}]}}]})");
  ASSERT_EQ(list.pods.size(), 1U);
  EXPECT_THAT(list.pods[0].pod_ips, ElementsAre("10.244.1.7", "fd00:10:244:1::7"));
}

TEST(PodList, EphemeralContainerWithCrioId) {
  const PodList list = parseText(R"({"kind":"PodList","items":[{
      "spec":{"containers":[{"name":"app"}],"ephemeralContainers":[{"name":"debugger-x7k2p"}]},
      "status":{"containerStatuses":[
                  {"name":"app","containerID":"cri-o://e159fb9a1008efecd0908654f42bc3ad3f24c5ca2224f94bf6812238e5250154"}],
                "ephemeralContainerStatuses":[
                  {"name":"debugger-x7k2p","containerID":"cri-o://1767d1fd8561642f818e16f411e6b1c61b77caabfe848266f2a44685eb782016"}]}}]})");
  ASSERT_EQ(list.pods.size(), 1U);
  const auto& containers = list.pods[0].containers;
  ASSERT_EQ(containers.size(), 2U);
  EXPECT_EQ(containers[0].runtime, "crio");
  EXPECT_EQ(containers[1].name, "debugger-x7k2p");
  EXPECT_EQ(containers[1].kind, ContainerKind::Ephemeral);
  EXPECT_EQ(containers[1].runtime, "crio");
  EXPECT_EQ(containers[1].id, "1767d1fd8561642f818e16f411e6b1c61b77caabfe848266f2a44685eb782016");
}

TEST(PodList, StatusWithoutSpecEntryIsAppended) {
  const PodList list = parseText(R"({"kind":"PodList","items":[{
      "spec":{"containers":[{"name":"a"}]},
      "status":{"containerStatuses":[{"name":"b","containerID":"containerd://0123"},
                                     {"name":"a","containerID":"containerd://4567"}]}}]})");
  const auto& containers = list.pods.at(0).containers;
  ASSERT_EQ(containers.size(), 2U);
  EXPECT_EQ(containers[0].name, "a");
  EXPECT_EQ(containers[0].id, "4567");
  EXPECT_EQ(containers[1].name, "b");
  EXPECT_EQ(containers[1].id, "0123");
}

TEST(PodList, MirrorPodIsKnownOnTheNodeByItsConfigHash) {
  const PodList list = parseText(R"({"kind":"PodList","items":[{"metadata":{
      "name":"kube-apiserver-node1","namespace":"kube-system",
      "uid":"5b6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
      "annotations":{"kubernetes.io/config.hash":"0a8863810b43d4d891fab0af80e28e4c",
                     "kubernetes.io/config.mirror":"0a8863810b43d4d891fab0af80e28e4c",
                     "kubernetes.io/config.source":"file"}}}]})");
  const PodInfo& pod = list.pods.at(0);
  EXPECT_TRUE(pod.static_pod);
  EXPECT_EQ(pod.uid, "5b6e7f80-1a2b-4c3d-8e9f-0a1b2c3d4e5f");
  EXPECT_EQ(pod.runtime_uid, "0a8863810b43d4d891fab0af80e28e4c");
}

TEST(PodList, PortDefaultsAndBadPortsDropped) {
  const PodList list = parseText(R"({"kind":"PodList","items":[{"spec":{"containers":[{
      "name":"web","ports":[
        {"containerPort":8080},
        {"name":"dns","containerPort":53,"protocol":"UDP","hostPort":53,"hostIP":"10.0.0.5"},
        {"name":"noport"},
        {"containerPort":70000},
        {"containerPort":"80"},
        "garbage"]}]}}]})");
  EXPECT_THAT(list.pods.at(0).containers.at(0).ports,
              ElementsAre(ContainerPort{"", 8080, "TCP", 0, ""},
                          ContainerPort{"dns", 53, "UDP", 53, "10.0.0.5"}));
}

TEST(PodList, MistypedFieldsTakeDefaults) {
  const PodList list = parseText(R"({"kind":"PodList","items":[{
      "metadata":{"name":7,"uid":"u1","labels":{"a":"1","b":2,"c":null},
                  "ownerReferences":[{"kind":"Job","name":"j","controller":"yes"},42]},
      "spec":{"hostNetwork":"true","containers":{"name":"x"}},
      "status":[1,2,3]}]})");
  const PodInfo& pod = list.pods.at(0);
  EXPECT_EQ(pod.name, "");
  EXPECT_EQ(pod.uid, "u1");
  EXPECT_THAT(pod.labels, ElementsAre(Pair("a", "1")));
  EXPECT_EQ(pod.owners, (std::vector<OwnerReference>{{"Job", "j", "", false}}));
  EXPECT_FALSE(pod.host_network);
  EXPECT_THAT(pod.containers, IsEmpty());
  EXPECT_EQ(pod.phase, "");
}

TEST(PodList, NullItemsIsAnEmptyList) {
  const PodList list = parseText(R"({"kind":"PodList","apiVersion":"v1","items":null})");
  EXPECT_THAT(list.pods, IsEmpty());
}

// ---- garbage ----

TEST(PodListErrors, InvalidJson) {
  const std::string capture = readFixture("podlist_1.8-2.json");
  EXPECT_THAT(errorOf(capture.substr(0, capture.size() / 2)), HasSubstr("invalid JSON"));
  EXPECT_THAT(errorOf(""), HasSubstr("invalid JSON"));
  EXPECT_THAT(errorOf("Unauthorized"), HasSubstr("invalid JSON"));
}

TEST(PodListErrors, TruncatedBodyIsAnError) {
  const std::string capture = readFixture("podlist_null_pod.json");
  const std::string body = capture.substr(0, capture.find_last_not_of("\n") + 1);
  constexpr std::size_t kStep = 37;  // every byte is slow under sanitizers; a prime stride
  for (std::size_t n = 0; n < body.size(); n += kStep) {
    EXPECT_FALSE(parsePodList(std::string_view(body).substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(parsePodList(std::string_view(body).substr(0, body.size() - 1)).ok());
  EXPECT_TRUE(parsePodList(body).ok());
}

TEST(PodListErrors, NotAnObject) {
  EXPECT_THAT(errorOf("[]"), HasSubstr("expected a JSON object, got array"));
  EXPECT_THAT(errorOf("null"), HasSubstr("expected a JSON object, got null"));
}

TEST(PodListErrors, StatusObjectSaysWhy) {
  const std::string message = errorOf(
      R"({"kind":"Status","apiVersion":"v1","status":"Failure",)"
      R"("message":"nodes \"n1\" is forbidden: User \"system:serviceaccount:x:y\" cannot get resource \"nodes/pods\"",)"
      R"("reason":"Forbidden","code":403})");
  EXPECT_THAT(message, HasSubstr("expected kind PodList, got \"Status\""));
  EXPECT_THAT(message, HasSubstr("cannot get resource \"nodes/pods\""));
}

TEST(PodListErrors, OtherKindOrNoItems) {
  EXPECT_THAT(errorOf(R"({"kind":"Pod","metadata":{}})"), HasSubstr("expected kind PodList"));
  EXPECT_THAT(errorOf("{}"), HasSubstr("no \"items\" array"));
  EXPECT_THAT(errorOf(R"({"kind":"PodList","items":{}})"), HasSubstr("no \"items\" array"));
}

// ---- helpers ----

TEST(SplitContainerId, MapsSchemesToRuntimeNames) {
  EXPECT_EQ(splitContainerId("containerd://509057ee"), (ContainerRef{"containerd", "509057ee"}));
  EXPECT_EQ(splitContainerId("cri-o://e159fb9a"), (ContainerRef{"crio", "e159fb9a"}));
  EXPECT_EQ(splitContainerId("docker://3e13513f"), (ContainerRef{"docker", "3e13513f"}));
  EXPECT_EQ(splitContainerId("rkt://1234"), (ContainerRef{"rkt", "1234"}));
}

TEST(SplitContainerId, OddInputs) {
  EXPECT_EQ(splitContainerId(""), (ContainerRef{"", ""}));
  EXPECT_EQ(splitContainerId("3e13513f"), (ContainerRef{"", "3e13513f"}));
  EXPECT_EQ(splitContainerId("docker://x://y"), (ContainerRef{"docker", "x://y"}));
}

TEST(ContainerKindName, NamesEveryKind) {
  EXPECT_EQ(containerKindName(ContainerKind::Regular), "container");
  EXPECT_EQ(containerKindName(ContainerKind::Init), "init");
  EXPECT_EQ(containerKindName(ContainerKind::Ephemeral), "ephemeral");
}

}  // namespace
}  // namespace podnetstat::k8s
