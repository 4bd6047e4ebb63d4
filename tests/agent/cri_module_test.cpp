// The gRPC CRI client is a module of its own (k8s/src/cri_module.h): the executable must not
// link gRPC, must load the module when a CRI endpoint is in use, and must say clearly when the
// module is missing.

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "netns.h"
#include "run_podnetstat.h"
#include "test_paths.h"

namespace podnetstat::testing {
namespace {

/// Sets an environment variable for the children a test starts, and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name); old != nullptr) {
      old_ = old;
    }
    ::setenv(name, value.c_str(), 1);
  }

  ~ScopedEnv() {
    if (old_.empty()) {
      ::unsetenv(name_);
    } else {
      ::setenv(name_, old_.c_str(), 1);
    }
  }

  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::string old_;
};

TEST(CriModule, ExecutableLinksNoGrpcButTheModuleDoes) {
  const auto binary = runCommand({"ldd", podnetstatBinary().string()});
  ASSERT_EQ(binary.exit_code, 0) << binary.err;
  ASSERT_NE(binary.out.find("libc.so"), std::string::npos) << binary.out;
  EXPECT_EQ(binary.out.find("libgrpc"), std::string::npos) << binary.out;
  EXPECT_EQ(binary.out.find("libprotobuf"), std::string::npos) << binary.out;

  const auto module_path = podnetstatBinary().parent_path() / "libpodnetstat-cri.so";
  const auto module = runCommand({"ldd", module_path.string()});
  ASSERT_EQ(module.exit_code, 0) << module.err;
  EXPECT_NE(module.out.find("libgrpc++"), std::string::npos) << module.out;
  EXPECT_EQ(module.out.find("not found"), std::string::npos) << module.out;
}

TEST(CriModule, ListWithPodsLoadsTheModuleAndReachesGrpc) {
  ScratchDir dir("podnetstat-crimod");
  const std::string absent = (dir.path() / "absent.sock").string();
  const auto run =
      runPodnetstat({"list", "-tln", "--pods", "--cri-endpoint", absent, "--kubelet-url", "none"});
  EXPECT_EQ(run.exit_code, 0) << run.err;
  // Only the gRPC client, from the module, can have said this about the endpoint.
  EXPECT_NE(run.err.find("CRI Version on unix://" + absent + ": UNAVAILABLE"), std::string::npos)
      << run.err;
  EXPECT_NE(run.out.find("Active Internet connections"), std::string::npos) << run.out;
}

TEST(CriModule, AMissingModuleIsAClearErrorForListAndServe) {
  ScratchDir dir("podnetstat-crimod");
  const ScopedEnv env("PODNETSTAT_CRI_MODULE", (dir.path() / "gone.so").string());
  const std::string absent = (dir.path() / "absent.sock").string();

  const auto list =
      runPodnetstat({"list", "-tln", "--pods", "--cri-endpoint", absent, "--kubelet-url", "none"});
  EXPECT_EQ(list.exit_code, 2);
  EXPECT_NE(list.err.find("libpodnetstat-cri.so could not be loaded"), std::string::npos)
      << list.err;
  EXPECT_NE(list.err.find("gone.so"), std::string::npos) << list.err;

  // serve checks at startup, in auto mode too, and does not start.
  const auto serve = runPodnetstat(
      {"serve", "--listen", "127.0.0.1:0", "--cri-endpoint", "auto", "--kubelet-url", "none"});
  EXPECT_EQ(serve.exit_code, 2) << serve.err;
  EXPECT_NE(serve.err.find("libpodnetstat-cri.so could not be loaded"), std::string::npos)
      << serve.err;

  // Without pods, list never needs the module.
  const auto plain = runPodnetstat({"list", "-tln"});
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
}

}  // namespace
}  // namespace podnetstat::testing
