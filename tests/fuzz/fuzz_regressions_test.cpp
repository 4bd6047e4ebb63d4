// Every input the fuzzers ever crashed on (tests/fuzz/regressions/<target>/) and every seed
// (tests/fuzz/corpus/<target>/), replayed through the fuzz target bodies in the normal suite.
// A failure here is a crash or a sanitizer report, named by the file that caused it.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "fuzz_targets.h"

namespace podnetstat::fuzz {
namespace {

namespace fs = std::filesystem;

struct Target {
  const char* name;
  void (*body)(std::string_view);
};

constexpr Target kTargets[] = {
    {"proc_net", fuzzProcNet},   {"cgroup", fuzzCgroup},      {"pod_list", fuzzPodList},
    {"cri_info", fuzzCriInfo},   {"api_query", fuzzApiQuery}, {"api_handler", fuzzApiHandler},
    {"net_stats", fuzzNetStats}, {"tcp_info", fuzzTcpInfo},
};

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs every file of <fuzz dir>/<kind>/<target>/ through the target; returns how many.
std::size_t replay(const char* kind, const Target& target) {
  const fs::path dir = fs::path(PODNETSTAT_FUZZ_DIR) / kind / target.name;
  std::vector<fs::path> files;
  if (fs::is_directory(dir)) {
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (entry.is_regular_file() && entry.path().filename() != "README.md") {
        files.push_back(entry.path());
      }
    }
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    SCOPED_TRACE(file.string());
    target.body(readFile(file));
  }
  return files.size();
}

class FuzzReplayTest : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzReplayTest, RegressionInputsDoNotCrash) {
  replay("regressions", GetParam());
}

TEST_P(FuzzReplayTest, SeedCorpusDoesNotCrash) {
  EXPECT_GT(replay("corpus", GetParam()), 0u) << "no seeds for " << GetParam().name;
}

INSTANTIATE_TEST_SUITE_P(Targets,
                         FuzzReplayTest,
                         ::testing::ValuesIn(kTargets),
                         [](const auto& test) { return std::string(test.param.name); });

}  // namespace
}  // namespace podnetstat::fuzz
