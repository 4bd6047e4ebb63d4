// `--log-format json`: every line the agent writes to stderr is one JSON object
// {"time","level","msg"}, from its first line (the token file, read while the flags are still
// being applied) to its last (shutdown), at debug level, with TLS, static tokens, a kubelet and a
// CRI endpoint configured (both unreachable: their clients run and fail), and requests served,
// allowed and refused.

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "netns.h"
#include "serve_process.h"
#include "test_paths.h"
#include "tls_test_support.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;
namespace pt = podnetstat::testing;

TEST(ServeJsonLog, EveryStderrLineIsAJsonObject) {
  pt::ScratchDir dir("pns-json-log-");
  pt::TestPki pki;
  pki.issue("server", 1);
  std::ofstream(dir.path() / "tokens") << "reader-token,alice\n";
  std::ofstream(dir.path() / "kubelet-token") << "kubelet-token\n";
  const fs::path ports = dir.path() / "ports";
  const fs::path log = dir.path() / "stderr";
  // A kubelet URL nobody listens on, a CRI socket that does not exist.
  pt::Subprocess agent({"/bin/sh",
                        "-c",
                        "exec \"$0\" \"$@\" 2>'" + log.string() + "'",
                        pt::podnetstatBinary().string(),
                        "serve",
                        "--listen",
                        "127.0.0.1:0",
                        "--port-file",
                        ports.string(),
                        "--log-format",
                        "json",
                        "--log-level",
                        "debug",
                        "--refresh",
                        "1s",
                        "--tls-cert",
                        pki.file("server.crt").string(),
                        "--tls-key",
                        pki.file("server.key").string(),
                        "--auth",
                        "static:" + (dir.path() / "tokens").string(),
                        "--kubelet-url",
                        "https://127.0.0.1:9",
                        "--kubelet-insecure-skip-verify",
                        "--kubelet-token-file",
                        (dir.path() / "kubelet-token").string(),
                        "--cri-endpoint",
                        "unix://" + (dir.path() / "cri.sock").string()});
  const auto found = pt::waitForPorts(ports, 30s);
  ASSERT_FALSE(found.empty()) << "no port";
  const std::uint16_t port = found.front();
  for (const auto& [token, status] : {std::pair{"reader-token", 200U}, {"wrong", 401U}}) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      auto r = pt::tlsRequest(port, pki.file("ca.crt"), "/api/v1/node",
                              {{"Authorization", std::string("Bearer ") + token}});
      if (r.ok() && r->status == status) {
        break;
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << (r.ok() ? std::to_string(r->status) : r.error().message);
      std::this_thread::sleep_for(100ms);
    }
  }
  std::this_thread::sleep_for(2500ms);  // scans and failed source refreshes
  ASSERT_EQ(agent.stop(5000ms), 0) << "SIGTERM ends the agent cleanly";

  std::ifstream in(log);
  std::vector<json> lines;
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("time") && j["time"].is_string()) << line;
    EXPECT_TRUE(j.contains("level") && j["level"].is_string()) << line;
    EXPECT_TRUE(j.contains("msg") && j["msg"].is_string()) << line;
    lines.push_back(j);
  }
  const auto logged = [&](const std::string& words) {
    return std::any_of(lines.begin(), lines.end(), [&](const json& j) {
      return j["msg"].get<std::string>().find(words) != std::string::npos;
    });
  };
  EXPECT_TRUE(logged("auth: 1 token(s) from")) << "the token file's line is among them";
  EXPECT_TRUE(logged("serving HTTPS")) << "the start line is among them";
  EXPECT_TRUE(logged("/api/v1/node -> 401")) << "the requests' debug lines are among them";
  EXPECT_TRUE(logged("scan: ")) << "the scans' debug lines are among them";
  EXPECT_TRUE(logged("received SIGTERM")) << "the shutdown's lines are among them";
  EXPECT_GE(lines.size(), 4U);
}

}  // namespace
}  // namespace podnetstat::agent
