#include "podnetstat/k8s/cgroup.h"

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <gtest/gtest.h>

namespace podnetstat::k8s {

// gtest prints mismatches with this.
// NOLINTNEXTLINE(readability-identifier-naming): gtest printer hook
void PrintTo(const CgroupIdentity& id, std::ostream* os) {
  *os << "{pod_uid=\"" << id.pod_uid << "\", container_id=\"" << id.container_id << "\", runtime=\""
      << id.runtime << "\", qos=\"" << id.qos << "\"}";
}

namespace {

// Container IDs and paths below are real samples: grafana/beyla container_test.go (EKS, GKE,
// kind), pixie-io/pixie cgroup_path_resolver_test.cc (systemd docker/CRI-O, OpenShift, GKE,
// bare-metal driver mismatch), kubernetes' CRI-O/containerd cgroupfs extractor test, and the
// containerd CRI end-to-end capture (sandbox ID). Variants marked "derived" reuse those IDs in a
// documented layout no sample showed (private cgroupns, sub-cgroups, conmon).
constexpr const char* kBeylaId = "40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9";

struct PathCase {
  const char* name;
  const char* path;
  std::optional<CgroupIdentity> expected;
};

// NOLINTNEXTLINE(readability-identifier-naming): gtest printer hook
void PrintTo(const PathCase& c, std::ostream* os) {
  *os << c.name << ": " << c.path;
}

std::string caseName(const ::testing::TestParamInfo<PathCase>& param) {
  return param.param.name;
}

class CgroupPathTest : public ::testing::TestWithParam<PathCase> {};

TEST_P(CgroupPathTest, ParsesLayout) {
  EXPECT_EQ(parseCgroupPath(GetParam().path), GetParam().expected);
}

CgroupIdentity id(std::string uid, std::string container, std::string runtime, std::string qos) {
  return CgroupIdentity{std::move(uid), std::move(container), std::move(runtime), std::move(qos)};
}

const PathCase kPodPaths[] = {
    // systemd driver
    {"SystemdContainerdBurstableEks",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-poddde1244b_5bb5_4297_b544_85f3bc0d80bf.slice/"
     "cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope",
     id("dde1244b-5bb5-4297-b544-85f3bc0d80bf", kBeylaId, "containerd", "burstable")},
    {"SystemdContainerdStaticPod",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod7260904bbd08e72e4dff95d9fccd2ee8.slice/"
     "cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope",
     id("7260904bbd08e72e4dff95d9fccd2ee8", kBeylaId, "containerd", "burstable")},
    {"SystemdCrioOpenShift",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod9b7969b2_aad0_47d4_b11c_4acfd1ce018e.slice/"
     "crio-9b9ccc15d288aa0f7d3bf7b583993921bf261edfeff3467765ab81e687c6a889.scope",
     id("9b7969b2-aad0-47d4-b11c-4acfd1ce018e",
        "9b9ccc15d288aa0f7d3bf7b583993921bf261edfeff3467765ab81e687c6a889",
        "crio",
        "burstable")},
    {"SystemdDockerBurstable",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod5a1d1140_a486_478c_afae_bbc975ff9c3b.slice/"
     "docker-2b41fe4bb7a365960f1e7ed6c09651252b29387b44c9e14ad17e3bc392e7c640.scope",
     id("5a1d1140-a486-478c-afae-bbc975ff9c3b",
        "2b41fe4bb7a365960f1e7ed6c09651252b29387b44c9e14ad17e3bc392e7c640",
        "docker",
        "burstable")},
    {"SystemdDockerBestEffort",
     "/kubepods.slice/kubepods-besteffort.slice/"
     "kubepods-besteffort-pod15b6301f_94d0_44ac_a2a8_6816c7a3fa32.slice/"
     "docker-159757ef9efdc09be13490c8615f1402c170cdd406dad6053ebe0df2db89fcaa.scope",
     id("15b6301f-94d0-44ac-a2a8-6816c7a3fa32",
        "159757ef9efdc09be13490c8615f1402c170cdd406dad6053ebe0df2db89fcaa",
        "docker",
        "besteffort")},
    {"SystemdDockerGuaranteed",
     "/kubepods.slice/kubepods-pod8dbc5577_d0e2_4706_8787_57d52c03ddf2.slice/"
     "docker-b9055cee13e1f37ecb63030593b27f4adc43cbd6629aa7781ffdf53fbaecfa46.scope",
     id("8dbc5577-d0e2-4706-8787-57d52c03ddf2",
        "b9055cee13e1f37ecb63030593b27f4adc43cbd6629aa7781ffdf53fbaecfa46",
        "docker",
        "guaranteed")},
    {"SystemdPodLevel",
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-poddde1244b_5bb5_4297_b544_85f3bc0d80bf.slice",
     id("dde1244b-5bb5-4297-b544-85f3bc0d80bf", "", "", "burstable")},
    {"SystemdCrioConmonInPodIsPodLevel",  // derived: conmon_cgroup = "pod"
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-pod9b7969b2_aad0_47d4_b11c_4acfd1ce018e.slice/"
     "crio-conmon-9b9ccc15d288aa0f7d3bf7b583993921bf261edfeff3467765ab81e687c6a889.scope",
     id("9b7969b2-aad0-47d4-b11c-4acfd1ce018e", "", "crio", "burstable")},
    {"SystemdSubCgroupOfContainer",  // derived: a container that made its own sub-cgroup
     "/kubepods.slice/kubepods-burstable.slice/"
     "kubepods-burstable-poddde1244b_5bb5_4297_b544_85f3bc0d80bf.slice/"
     "cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope/"
     "init.scope",
     id("dde1244b-5bb5-4297-b544-85f3bc0d80bf", kBeylaId, "containerd", "burstable")},
    // nested kubelet (kind node in a docker container)
    {"NestedKindKubeletSlice",
     "/docker/8afe480d66074930353da456a1344caca810fe31c1e31f6e08c95a66887235d6/kubelet.slice/"
     "kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
     "kubelet-kubepods-besteffort-pod44c76ce5_f953_4bd3_bc89_12621681af49.slice/"
     "cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope",
     id("44c76ce5-f953-4bd3-bc89-12621681af49", kBeylaId, "containerd", "besteffort")},
    // cgroupfs driver
    {"CgroupfsContainerdGke",
     "/kubepods/burstable/pod4a163a05-439d-484b-8e53-2968bc15824f/"
     "40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9",
     id("4a163a05-439d-484b-8e53-2968bc15824f", kBeylaId, "", "burstable")},
    {"CgroupfsStaticPodGke",
     "/kubepods/burstable/podb53dfa9e2dc9b890f7fadb2770857b03/"
     "40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9",
     id("b53dfa9e2dc9b890f7fadb2770857b03", kBeylaId, "", "burstable")},
    {"CgroupfsGuaranteed",
     "/kubepods/pod8dbc5577-d0e2-4706-8787-57d52c03ddf2/"
     "14011c7d92a9e513dfd69211da0413dbf319a5e45a02b354ba6e98e10272542d",
     id("8dbc5577-d0e2-4706-8787-57d52c03ddf2",
        "14011c7d92a9e513dfd69211da0413dbf319a5e45a02b354ba6e98e10272542d",
        "",
        "guaranteed")},
    {"CgroupfsContainerd",
     "/kubepods/burstable/poda201f46d-151a-4701-8f24-314bea77df79/"
     "b469ca5b54e01e7724b7a990f01d54f571dd7669b87851a87bd8b849c438c580",
     id("a201f46d-151a-4701-8f24-314bea77df79",
        "b469ca5b54e01e7724b7a990f01d54f571dd7669b87851a87bd8b849c438c580",
        "",
        "burstable")},
    {"CgroupfsCrio",
     "/kubepods/besteffort/pod26ba375c-2266-4ecc-bf2d-b626db8762af/"
     "crio-af208fd68bf39a07a439ed0c9b6609b9ae63ecd8a5f1a2af3e0db48b945b320a",
     id("26ba375c-2266-4ecc-bf2d-b626db8762af",
        "af208fd68bf39a07a439ed0c9b6609b9ae63ecd8a5f1a2af3e0db48b945b320a",
        "crio",
        "besteffort")},
    {"CgroupfsPodLevel", "/kubepods/burstable/pod4a163a05-439d-484b-8e53-2968bc15824f",
     id("4a163a05-439d-484b-8e53-2968bc15824f", "", "", "burstable")},
    {"CgroupfsUnknownChildIsPodLevel",
     "/kubepods/burstable/pod4a163a05-439d-484b-8e53-2968bc15824f/not-a-container",
     id("4a163a05-439d-484b-8e53-2968bc15824f", "", "", "burstable")},
    // containerd CRI without a kubelet (the end-to-end test): cgroup_parent + sandbox ID
    {"ContainerdCriCgroupParentSandbox",
     "/kubepods/besteffort/pod0f3c5b8e-1d2a-4e6f-9a7b-c8d9e0f1a2b3/"
     "9550db9f7201ca378cb98bb9136d0d0c229843bdd8c85506b32bd523e1166120",
     id("0f3c5b8e-1d2a-4e6f-9a7b-c8d9e0f1a2b3",
        "9550db9f7201ca378cb98bb9136d0d0c229843bdd8c85506b32bd523e1166120",
        "",
        "besteffort")},
    // containerd with SystemdCgroup=false under a systemd-driver kubelet
    {"DriverMismatchContainerd",
     "/system.slice/containerd.service/"
     "kubepods-besteffort-pod1544eb37_e4f7_49eb_8cc4_3d01c41be77b.slice:cri-containerd:"
     "8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5",
     id("1544eb37-e4f7-49eb-8cc4-3d01c41be77b",
        "8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5",
        "containerd",
        "besteffort")},
    {"DriverMismatchGuaranteed",
     "/system.slice/containerd.service/"
     "kubepods-pod1544eb37_e4f7_49eb_8cc4_3d01c41be77b.slice:cri-containerd:"
     "8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5",
     id("1544eb37-e4f7-49eb-8cc4-3d01c41be77b",
        "8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5",
        "containerd",
        "guaranteed")},
    // a reader in a private cgroup namespace (derived)
    {"PrivateCgroupnsPodVisible",
     "/../../pod4a163a05-439d-484b-8e53-2968bc15824f/"
     "40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9",
     id("4a163a05-439d-484b-8e53-2968bc15824f", kBeylaId, "", "")},
    {"PrivateCgroupnsSliceVisible",
     "/../../kubepods-besteffort-pod44c76ce5_f953_4bd3_bc89_12621681af49.slice/"
     "cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope",
     id("44c76ce5-f953-4bd3-bc89-12621681af49", kBeylaId, "containerd", "besteffort")},
    {"PrivateCgroupnsOnlyContainer",
     "/../cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope",
     id("", kBeylaId, "containerd", "")},
};

INSTANTIATE_TEST_SUITE_P(PodLayouts, CgroupPathTest, ::testing::ValuesIn(kPodPaths), caseName);

const PathCase kNotPodPaths[] = {
    {"NodeDaemon", "/system.slice/sshd.service", std::nullopt},
    {"RuntimeDaemon", "/system.slice/containerd.service", std::nullopt},
    {"UserSession", "/user.slice/user-1000.slice/session-3.scope", std::nullopt},
    {"UserSlice", "/user.slice/user-1000.slice", std::nullopt},
    {"Root", "/", std::nullopt},
    {"Empty", "", std::nullopt},
    {"CrioConmonOutsidePod",
     "/system.slice/"
     "crio-conmon-5819a498721cf8bb7e334809c9e48aa310bfc98801eb8017034ad17fb0749920.scope",
     std::nullopt},
    {"PlainDockerContainer",
     "/docker/a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81", std::nullopt},
    {"DockerScopeNotInPod",
     "/system.slice/docker-a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81.scope",
     std::nullopt},
    {"ContainerdDefaultParentNoPod",
     "/k8s.io/9550db9f7201ca378cb98bb9136d0d0c229843bdd8c85506b32bd523e1166120", std::nullopt},
    {"KubepodsWithoutPod", "/kubepods.slice/kubepods-burstable.slice", std::nullopt},
    {"PodTokenNotAUid", "/kubepods/burstable/podnot-a-uid/xyz", std::nullopt},
    {"TruncatedUid", "/kubepods/burstable/pod4a163a05-439d-484b-8e53-2968bc15824", std::nullopt},
    {"UppercaseUid", "/kubepods/burstable/pod4A163A05-439D-484B-8E53-2968BC15824F", std::nullopt},
    {"MisplacedSeparators", "/kubepods/burstable/pod4a163a0-5439d-484b-8e53-2968bc15824f",
     std::nullopt},
    {"OnlyDotDot", "/../..", std::nullopt},
    {"PrivateCgroupnsNotContainer", "/../user.slice", std::nullopt},
    {"Garbage", "\x01\xff garbage :: // pod", std::nullopt},
};

INSTANTIATE_TEST_SUITE_P(NotPods, CgroupPathTest, ::testing::ValuesIn(kNotPodPaths), caseName);

// ---- whole /proc/<pid>/cgroup files ----

TEST(ParseProcCgroup, TakesTheV2LineOfAHybridFile) {
  // beyla fixture 456: v1 lines name a plain docker container, the v2 line the kind pod.
  const std::string content =
      "12:rdma:/\n"
      "11:perf_event:\n"
      "10:freezer:/docker/a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81\n"
      "9:memory:/docker/a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81\n"
      "1:name=systemd:/docker/a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81\n"
      "0::/docker/8afe480d66074930353da456a1344caca810fe31c1e31f6e08c95a66887235d6/kubelet.slice/"
      "kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/"
      "kubelet-kubepods-besteffort-pod44c76ce5_f953_4bd3_bc89_12621681af49.slice/"
      "cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope";
  EXPECT_EQ(parseProcCgroup(content),
            id("44c76ce5-f953-4bd3-bc89-12621681af49", kBeylaId, "containerd", "besteffort"));
}

TEST(ParseProcCgroup, NodeProcessIsNotInAPod) {
  // beyla fixture 1011.
  const std::string content =
      "12:rdma:/\n"
      "11:perf_event:\n"
      "3:cpu,cpuacct:/docker/a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81\n"
      "1:name=systemd:/docker/a2ffe0e97ac22657a2a023ad628e9df837c38a03b1ebc904d3f6d644eb1a1a81\n"
      "0::/system.slice/containerd.service";
  EXPECT_EQ(parseProcCgroup(content), std::nullopt);
}

TEST(ParseProcCgroup, PureV2) {
  EXPECT_EQ(parseProcCgroup("0::/kubepods/burstable/pod4a163a05-439d-484b-8e53-2968bc15824f/"
                            "40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9\n"),
            id("4a163a05-439d-484b-8e53-2968bc15824f", kBeylaId, "", "burstable"));
}

TEST(ParseProcCgroup, V1OnlyUsesAControllerLine) {
  EXPECT_EQ(
      parseProcCgroup(
          "4:net_cls,net_prio:/kubepods/besteffort/pod26ba375c-2266-4ecc-bf2d-b626db8762af/"
          "crio-af208fd68bf39a07a439ed0c9b6609b9ae63ecd8a5f1a2af3e0db48b945b320a\n"),
      id("26ba375c-2266-4ecc-bf2d-b626db8762af",
         "af208fd68bf39a07a439ed0c9b6609b9ae63ecd8a5f1a2af3e0db48b945b320a", "crio", "besteffort"));
}

TEST(ParseProcCgroup, PrefersNameSystemdOverOtherV1Lines) {
  const std::string content =
      "3:cpu,cpuacct:/kubepods/burstable/pod4a163a05-439d-484b-8e53-2968bc15824f/"
      "40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9\n"
      "1:name=systemd:/kubepods/besteffort/pod26ba375c-2266-4ecc-bf2d-b626db8762af/"
      "crio-af208fd68bf39a07a439ed0c9b6609b9ae63ecd8a5f1a2af3e0db48b945b320a\n";
  EXPECT_EQ(parseProcCgroup(content)->pod_uid, "26ba375c-2266-4ecc-bf2d-b626db8762af");
}

TEST(ParseProcCgroup, FallsBackToV1WhenTheV2LineIsRoot) {
  // Hybrid hosts whose runtime does not use the unified hierarchy leave "0::/".
  const std::string content =
      "4:memory:/kubepods/besteffort/pod0f3c5b8e-1d2a-4e6f-9a7b-c8d9e0f1a2b3/"
      "9550db9f7201ca378cb98bb9136d0d0c229843bdd8c85506b32bd523e1166120\n"
      "0::/\n";
  EXPECT_EQ(
      parseProcCgroup(content),
      id("0f3c5b8e-1d2a-4e6f-9a7b-c8d9e0f1a2b3",
         "9550db9f7201ca378cb98bb9136d0d0c229843bdd8c85506b32bd523e1166120", "", "besteffort"));
}

TEST(ParseProcCgroup, KeepsColonsInsideThePath) {
  EXPECT_EQ(parseProcCgroup("5:memory:/system.slice/containerd.service/"
                            "kubepods-besteffort-pod1544eb37_e4f7_49eb_8cc4_3d01c41be77b.slice:"
                            "cri-containerd:"
                            "8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5\n"),
            id("1544eb37-e4f7-49eb-8cc4-3d01c41be77b",
               "8618d3540ce713dd59ed0549719643a71dd482c40c21685773e7ac1291b004f5", "containerd",
               "besteffort"));
}

TEST(ParseProcCgroup, IgnoresMalformedLinesAndCarriageReturns) {
  const std::string content =
      "garbage\n"
      "\n"
      "x:cpu:/kubepods/pod8dbc5577-d0e2-4706-8787-57d52c03ddf2\n"  // hierarchy not a number
      "0::relative/path\n"
      "0::/kubepods/pod8dbc5577-d0e2-4706-8787-57d52c03ddf2\r\n";
  EXPECT_EQ(parseProcCgroup(content),
            id("8dbc5577-d0e2-4706-8787-57d52c03ddf2", "", "", "guaranteed"));
}

TEST(ParseProcCgroup, EmptyOrGarbageFileIsNotInAPod) {
  EXPECT_EQ(parseProcCgroup(""), std::nullopt);
  EXPECT_EQ(parseProcCgroup("\n\n::\n:::\n0:"), std::nullopt);
}

TEST(ParseProcCgroup, EveryTruncationIsSafe) {
  // A read cut short (the process exited mid-read) yields a prefix of the file.
  const std::string content =
      "1:name=systemd:/kubepods.slice/kubepods-burstable.slice/"
      "kubepods-burstable-poddde1244b_5bb5_4297_b544_85f3bc0d80bf.slice/"
      "cri-containerd-40c03570b6f4c30bc8d69923d37ee698f5cfcced92c7b7df1c47f6f7887378a9.scope\n";
  for (std::size_t n = 0; n <= content.size(); ++n) {
    const auto identity = parseProcCgroup(std::string_view(content).substr(0, n));
    if (identity) {
      EXPECT_EQ(identity->pod_uid, "dde1244b-5bb5-4297-b544-85f3bc0d80bf") << n;
      EXPECT_TRUE(identity->container_id.empty() || identity->container_id == kBeylaId) << n;
    }
  }
  EXPECT_EQ(parseProcCgroup(content)->container_id, kBeylaId);
}

// ---- helpers ----

TEST(NormalizePodUid, TurnsUnderscoresIntoDashes) {
  EXPECT_EQ(normalizePodUid("dde1244b_5bb5_4297_b544_85f3bc0d80bf"),
            "dde1244b-5bb5-4297-b544-85f3bc0d80bf");
  EXPECT_EQ(normalizePodUid("dde1244b-5bb5-4297-b544-85f3bc0d80bf"),
            "dde1244b-5bb5-4297-b544-85f3bc0d80bf");
}

TEST(NormalizePodUid, KeepsStaticPodHash) {
  EXPECT_EQ(normalizePodUid("0a8863810b43d4d891fab0af80e28e4c"),
            "0a8863810b43d4d891fab0af80e28e4c");
}

TEST(NormalizePodUid, RejectsOtherStrings) {
  EXPECT_EQ(normalizePodUid(""), std::nullopt);
  EXPECT_EQ(normalizePodUid("uid-aaaa-0001"), std::nullopt);
  EXPECT_EQ(normalizePodUid("DDE1244B-5BB5-4297-B544-85F3BC0D80BF"), std::nullopt);
  EXPECT_EQ(normalizePodUid("0a8863810b43d4d891fab0af80e28e4g"), std::nullopt);
  EXPECT_EQ(normalizePodUid("dde1244b-5bb5-4297-b544+85f3bc0d80bf"), std::nullopt);
}

TEST(IsContainerId, AcceptsOnly64LowercaseHex) {
  EXPECT_TRUE(isContainerId(kBeylaId));
  EXPECT_FALSE(isContainerId("40c03570b6f4"));
  EXPECT_FALSE(isContainerId(std::string(kBeylaId) + "0"));
  EXPECT_FALSE(isContainerId("40C03570B6F4C30BC8D69923D37EE698F5CFCCED92C7B7DF1C47F6F7887378A9"));
}

}  // namespace
}  // namespace podnetstat::k8s
