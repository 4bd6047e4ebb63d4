#include "podnetstat/k8s/cri_info.h"

#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"

namespace podnetstat::k8s {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr const char* kSandboxId =
    "9550db9f7201ca378cb98bb9136d0d0c229843bdd8c85506b32bd523e1166120";
constexpr const char* kNetnsPath =
    "$WORK/e2e-run/state/io.containerd.grpc.v1.cri/netns/cni-5e8f27ce-8ce4-ee34-3166-bd7f9712297a";

std::string readFixture(const std::string& name) {
  std::ifstream in(testing::fixturesDir() / "cri" / name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// The raw info["info"] string of the containerd capture: the line after the header.
std::string capturedSandboxInfo() {
  const std::string raw = readFixture("last-PodSandboxStatus-verbose-raw.txt");
  const std::size_t start = raw.find('\n') + 1;
  return raw.substr(start, raw.find('\n', start) - start);
}

SandboxInfo sandbox(const std::string& text) {
  auto result = parseSandboxInfo(text);
  EXPECT_TRUE(result.ok()) << (result.ok() ? "" : result.error().message);
  return result.ok() ? result.value() : SandboxInfo{};
}

// ---- containerd, real capture ----

TEST(SandboxInfoContainerd, ReadsPidAndNetnsPath) {
  const SandboxInfo info = sandbox(capturedSandboxInfo());
  EXPECT_EQ(info.pid, 26601);
  EXPECT_EQ(info.netns_path, kNetnsPath);
  EXPECT_FALSE(info.host_network);
}

TEST(SandboxInfoContainerd, ReadsMetadataAndRuntimeDetails) {
  const SandboxInfo info = sandbox(capturedSandboxInfo());
  EXPECT_EQ(info.name, "pod-a");
  EXPECT_EQ(info.namespace_name, "e2e-ns");
  EXPECT_EQ(info.uid, "uid-aaaa-0001");
  EXPECT_EQ(info.cgroups_path, std::string("/k8s-e2e/poduid-aaaa-0001/") + kSandboxId);
  EXPECT_EQ(info.image, "localhost/pause:e2e");
  EXPECT_EQ(info.runtime_type, "io.containerd.runc.v2");
  EXPECT_EQ(info.process_status, "running");
  EXPECT_FALSE(info.net_namespace_closed);
}

TEST(SandboxInfoContainerd, AgreesWithTheSandboxStatus) {
  const json status = json::parse(readFixture("last-PodSandboxStatus-verbose.json"));
  const SandboxInfo info = sandbox(status.at("info").at("info").dump());
  const json& metadata = status.at("status").at("metadata");
  EXPECT_EQ(info.name, metadata.at("name"));
  EXPECT_EQ(info.namespace_name, metadata.at("namespace"));
  EXPECT_EQ(info.uid, metadata.at("uid"));
  EXPECT_EQ(info.pid, 26601);
}

TEST(SandboxInfoContainerd, MetadataFromAnnotationsWithoutConfig) {
  json info = json::parse(capturedSandboxInfo());
  info.erase("config");
  const SandboxInfo parsed = sandbox(info.dump());
  EXPECT_EQ(parsed.name, "pod-a");
  EXPECT_EQ(parsed.namespace_name, "e2e-ns");
  EXPECT_EQ(parsed.uid, "uid-aaaa-0001");
}

TEST(SandboxInfoContainerd, StoppedSandboxHasNoPid) {
  // What containerd reports after StopPodSandbox (REPORT.md): pid 0, "deleted", netns closed.
  json info = json::parse(capturedSandboxInfo());
  info["pid"] = 0;
  info["processStatus"] = "deleted";
  info["netNamespaceClosed"] = true;
  const SandboxInfo parsed = sandbox(info.dump());
  EXPECT_EQ(parsed.pid, 0);
  EXPECT_EQ(parsed.process_status, "deleted");
  EXPECT_TRUE(parsed.net_namespace_closed);
}

TEST(SandboxInfoContainerd, HostNetworkFromNamespaceOptions) {
  json info = json::parse(capturedSandboxInfo());
  info["config"]["linux"]["security_context"]["namespace_options"]["network"] = 2;  // NODE
  auto& namespaces = info["runtimeSpec"]["linux"]["namespaces"];
  namespaces.erase(namespaces.end() - 1);  // a host-network sandbox has no network entry
  const SandboxInfo parsed = sandbox(info.dump());
  EXPECT_TRUE(parsed.host_network);
  EXPECT_EQ(parsed.netns_path, "");
  EXPECT_EQ(parsed.pid, 26601);
}

TEST(SandboxInfoContainerd, VerboseMapUsesTheInfoKey) {
  const auto result = parseSandboxVerboseInfo({{"info", capturedSandboxInfo()}});
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->pid, 26601);
  EXPECT_EQ(result->netns_path, kNetnsPath);
}

// ---- CRI-O, shaped after server/sandbox_status.go:createSandboxInfo ----

constexpr const char* kCrioWithInfra = R"({
  "image": "registry.k8s.io/pause:3.9",
  "pid": 4242,
  "runtimeSpec": {
    "annotations": {
      "io.kubernetes.cri-o.Metadata": "{\"name\":\"web-0\",\"uid\":\"5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab\",\"namespace\":\"shop\"}",
      "io.kubernetes.cri-o.HostNetwork": "false"
    },
    "linux": {
      "cgroupsPath": "kubepods-besteffort-pod5f0c1a2b_0d3e_4c5f_8a9b_0123456789ab.slice:crio:af208fd68bf39a07a439ed0c9b6609b9ae63ecd8a5f1a2af3e0db48b945b320a",
      "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/3f7e4a52-9c1d-4b8e-a6f0-2d5c8b1e7a93"}]
    }
  }
})";

TEST(SandboxInfoCrio, InfraContainerGivesPidAndMetadata) {
  const SandboxInfo info = sandbox(kCrioWithInfra);
  EXPECT_EQ(info.pid, 4242);
  EXPECT_EQ(info.netns_path, "/var/run/netns/3f7e4a52-9c1d-4b8e-a6f0-2d5c8b1e7a93");
  EXPECT_EQ(info.name, "web-0");
  EXPECT_EQ(info.namespace_name, "shop");
  EXPECT_EQ(info.uid, "5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab");
  EXPECT_EQ(info.image, "registry.k8s.io/pause:3.9");
  EXPECT_FALSE(info.host_network);
}

TEST(SandboxInfoCrio, DroppedInfraContainerHasNoPidButANetnsPath) {
  json info = json::parse(kCrioWithInfra);
  info.erase("pid");
  info.erase("image");
  const SandboxInfo parsed = sandbox(info.dump());
  EXPECT_EQ(parsed.pid, 0);
  EXPECT_EQ(parsed.netns_path, "/var/run/netns/3f7e4a52-9c1d-4b8e-a6f0-2d5c8b1e7a93");
  EXPECT_EQ(parsed.name, "web-0");
}

TEST(SandboxInfoCrio, OldSpoofedInfoIsEmptyButValid) {
  const SandboxInfo parsed = sandbox("{}");
  EXPECT_EQ(parsed.pid, 0);
  EXPECT_EQ(parsed.netns_path, "");
  EXPECT_EQ(parsed.name, "");
}

TEST(SandboxInfoCrio, HostNetworkAnnotation) {
  json info = json::parse(kCrioWithInfra);
  info["runtimeSpec"]["annotations"]["io.kubernetes.cri-o.HostNetwork"] = "true";
  EXPECT_TRUE(sandbox(info.dump()).host_network);
}

TEST(SandboxInfoCrio, MalformedMetadataAnnotationIsIgnored) {
  json info = json::parse(kCrioWithInfra);
  info["runtimeSpec"]["annotations"]["io.kubernetes.cri-o.Metadata"] = "{not json";
  const SandboxInfo parsed = sandbox(info.dump());
  EXPECT_EQ(parsed.name, "");
  EXPECT_EQ(parsed.pid, 4242);
}

// ---- odd values and errors ----

TEST(SandboxInfo, OutOfRangeOrMistypedPidIsZero) {
  EXPECT_EQ(sandbox(R"({"pid": -1})").pid, 0);
  EXPECT_EQ(sandbox(R"({"pid": 4294967296})").pid, 0);
  EXPECT_EQ(sandbox(R"({"pid": "26601"})").pid, 0);
  EXPECT_EQ(sandbox(R"({"pid": 26601.5})").pid, 0);
}

TEST(SandboxInfo, InvalidJsonIsAnError) {
  const std::string capture = capturedSandboxInfo();
  const auto truncated = parseSandboxInfo(capture.substr(0, capture.size() / 2));
  ASSERT_FALSE(truncated.ok());
  EXPECT_THAT(truncated.error().message, HasSubstr("CRI sandbox info: invalid JSON"));
  EXPECT_FALSE(parseSandboxInfo("").ok());
}

TEST(SandboxInfo, NonObjectIsAnError) {
  const auto result = parseSandboxInfo("[1,2]");
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(result.error().message, HasSubstr("expected a JSON object, got array"));
}

TEST(SandboxVerboseInfo, LegacyPidKey) {
  const auto result = parseSandboxVerboseInfo({{"pid", "1234"}});
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->pid, 1234);
  EXPECT_EQ(result->netns_path, "");
}

TEST(SandboxVerboseInfo, BadLegacyPidOrEmptyMapIsAnError) {
  EXPECT_THAT(parseSandboxVerboseInfo({{"pid", "12x"}}).error().message,
              HasSubstr("bad legacy \"pid\""));
  EXPECT_THAT(parseSandboxVerboseInfo({{"pid", "-5"}}).error().message,
              HasSubstr("bad legacy \"pid\""));
  EXPECT_THAT(parseSandboxVerboseInfo({}).error().message, HasSubstr("neither"));
  EXPECT_THAT(parseSandboxVerboseInfo({{"other", "x"}}).error().message, HasSubstr("neither"));
}

// ---- ContainerStatus(verbose) ----

std::string capturedContainerInfo() {
  const json parsed = json::parse(readFixture("ContainerStatus-verbose-parsed.json"));
  return parsed.at("info").at("info").dump();
}

TEST(ContainerInfo, ReadsPidAndSandboxId) {
  const auto result = parseContainerInfo(capturedContainerInfo());
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->pid, 9165);
  EXPECT_EQ(result->sandbox_id, "bed2e0a960f8ab68ccf1ab77403bea922f73f140072a4ec0b762e64fc03536b4");
  // containerd points the container at the sandbox process's namespace.
  EXPECT_EQ(result->netns_path, "/proc/6812/ns/net");
  EXPECT_EQ(result->cgroups_path,
            "/k8s-e2e/poduid-aaaa-0001/"
            "94454ee167aa895613aff10d57eb8d8f1041576baa684b7197df86e0193ab68b");
}

TEST(ContainerInfo, VerboseMapAndLegacyPid) {
  const auto from_map = parseContainerVerboseInfo({{"info", capturedContainerInfo()}});
  ASSERT_TRUE(from_map.ok()) << from_map.error().message;
  EXPECT_EQ(from_map->pid, 9165);
  const auto legacy = parseContainerVerboseInfo({{"pid", "9165"}});
  ASSERT_TRUE(legacy.ok()) << legacy.error().message;
  EXPECT_EQ(legacy->pid, 9165);
  EXPECT_EQ(legacy->sandbox_id, "");
}

TEST(ContainerInfo, StoppedContainerAndErrors) {
  const auto stopped = parseContainerInfo(R"({"sandboxID":"bed2e0a9","pid":0})");
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->pid, 0);
  EXPECT_EQ(stopped->sandbox_id, "bed2e0a9");
  const auto bad = parseContainerInfo("not json");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.error().message, HasSubstr("CRI container info: invalid JSON"));
  EXPECT_FALSE(parseContainerVerboseInfo({}).ok());
}

}  // namespace
}  // namespace podnetstat::k8s
