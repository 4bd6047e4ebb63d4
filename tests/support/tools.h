#pragma once

// Third-party tools the conformance tests run (Stoplight Prism, promtool, sslscan, node...), as
// scripts/install-deps.sh installs them, and what a test does when one is missing: it skips on a
// developer's machine and fails on CI (CI=true), where every tool must be there.

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

namespace podnetstat::testing {

inline bool onCi() {
  const char* ci = std::getenv("CI");
  return ci != nullptr && std::string(ci) == "true";
}

// Skips, or fails on CI, where the test must run.
#define PODNETSTAT_SKIP_OR_FAIL(reason)  \
  do {                                   \
    if (::podnetstat::testing::onCi()) { \
      FAIL() << (reason);                \
    } else {                             \
      GTEST_SKIP() << (reason);          \
    }                                    \
  } while (false)

/// Where `scripts/install-deps.sh --k8s-tools --conformance` links its tools:
/// $PODNETSTAT_TOOLS_DIR/bin, by default /opt/podnetstat-tools/bin.
inline std::filesystem::path toolsBinDir() {
  const char* dir = std::getenv("PODNETSTAT_TOOLS_DIR");
  return std::filesystem::path(dir != nullptr && *dir != '\0' ? dir : "/opt/podnetstat-tools") /
         "bin";
}

/// `name` from the tools dir, else from PATH; empty when neither has it.
inline std::filesystem::path findTool(std::string_view name) {
  const std::filesystem::path own = toolsBinDir() / name;
  if (::access(own.c_str(), X_OK) == 0) {
    return own;
  }
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return {};
}

/// Sets `var` to the tool's path, or skips (fails on CI) when it is missing.
#define PODNETSTAT_REQUIRE_TOOL(var, name)                                                     \
  const std::filesystem::path var = ::podnetstat::testing::findTool(name);                     \
  if (var.empty()) {                                                                           \
    PODNETSTAT_SKIP_OR_FAIL(std::string(name) +                                                \
                            " is missing: scripts/install-deps.sh --conformance installs it"); \
  }

}  // namespace podnetstat::testing
