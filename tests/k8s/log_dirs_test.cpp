#include "podnetstat/k8s/log_dirs.h"

#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "netns.h"

namespace podnetstat::k8s {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(LogDirName, SplitsNamespaceNameAndUid) {
  const auto pod =
      parseLogDirName("kube-system_coredns-5d78c9869d-7xkqz_8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ(pod->namespace_name, "kube-system");
  EXPECT_EQ(pod->name, "coredns-5d78c9869d-7xkqz");
  EXPECT_EQ(pod->uid, "8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b");
}

TEST(LogDirName, KeepsStaticPodHashes) {
  const auto pod =
      parseLogDirName("kube-system_kube-apiserver-node1_b53dfa9e9a2c4f1b8f3c7d6e5a4b3c2d");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ(pod->uid, "b53dfa9e9a2c4f1b8f3c7d6e5a4b3c2d");
}

TEST(LogDirName, NamesWithDotsAreFine) {
  const auto pod = parseLogDirName("default_web.v2-0_8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b");
  ASSERT_TRUE(pod.has_value());
  EXPECT_EQ(pod->name, "web.v2-0");
}

TEST(LogDirName, RejectsOtherLayouts) {
  EXPECT_FALSE(parseLogDirName("8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b").has_value());  // old
  EXPECT_FALSE(parseLogDirName("default_web-0_not-a-uid").has_value());
  EXPECT_FALSE(parseLogDirName("_web-0_8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b").has_value());
  EXPECT_FALSE(parseLogDirName("default__8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b").has_value());
  EXPECT_FALSE(parseLogDirName("").has_value());
}

TEST(LogDirPods, ReadsTheDirectoriesOfARoot) {
  const testing::ScratchDir root("pns-logdirs-");
  std::filesystem::create_directories(root.path() /
                                      "shop_web-0_8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b" / "nginx");
  std::filesystem::create_directories(root.path() /
                                      "shop_db-0_0b1e8c6d-3f2a-4d5e-9c7b-6a5f4e3d2c1b");
  std::filesystem::create_directories(root.path() / "garbage");
  std::ofstream(root.path() / "shop_file-0_11111111-2222-4333-8444-555555555555") << "";
  const auto pods = readLogDirPods(root.path());
  ASSERT_TRUE(pods.ok()) << pods.error().message;
  EXPECT_THAT(*pods,
              ElementsAre(LogDirPod{"shop", "db-0", "0b1e8c6d-3f2a-4d5e-9c7b-6a5f4e3d2c1b"},
                          LogDirPod{"shop", "web-0", "8e2f1c3a-2b4d-4e6f-8a0b-1c2d3e4f5a6b"}));
}

TEST(LogDirPods, AMissingRootIsAnError) {
  const auto pods = readLogDirPods("/nonexistent/podnetstat/logs");
  ASSERT_FALSE(pods.ok());
  EXPECT_THAT(pods.error().message, HasSubstr("/nonexistent/podnetstat/logs"));
}

}  // namespace
}  // namespace podnetstat::k8s
