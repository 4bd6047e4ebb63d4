// The real `podnetstat serve` binary: flags and environment, bad values (exit 2), the port
// file, JSON logs, and a clean exit 0 within 2 s of SIGTERM or SIGINT.

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/http/http_server.h"

#include "http_client.h"
#include "netns.h"
#include "serve_process.h"
#include "test_paths.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using podnetstat::testing::CommandResult;
using podnetstat::testing::runCommand;
using podnetstat::testing::ScratchDir;
using podnetstat::testing::Subprocess;
using podnetstat::testing::waitForPorts;
using podnetstat::testing::waitReady;
using Clock = std::chrono::steady_clock;

std::string binary() {
  return podnetstat::testing::podnetstatBinary().string();
}

class ServeBinary : public ::testing::Test {
 protected:
  /// Starts `env VARS... podnetstat serve ARGS... --port-file F` and waits for the port file.
  void start(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv{"env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(binary());
    argv.emplace_back("serve");
    argv.insert(argv.end(), args.begin(), args.end());
    argv.emplace_back("--port-file");
    argv.push_back(port_file_.string());
    process_ = std::make_unique<Subprocess>(argv);
    ports_ = waitForPorts(port_file_, 10s);
    ASSERT_FALSE(ports_.empty()) << "no port file";
  }

  /// Sends `sig` and returns the exit code and how long the exit took.
  std::pair<std::optional<int>, Clock::duration> signalAndWait(int sig) {
    const auto begin = Clock::now();
    ::kill(process_->pid(), sig);
    auto code = process_->wait(5s);
    return {code, Clock::now() - begin};
  }

  ScratchDir dir_{"podnetstat-serve-bin-"};
  std::filesystem::path port_file_ = dir_.path() / "port";
  std::unique_ptr<Subprocess> process_;
  std::vector<std::uint16_t> ports_;
};

TEST_F(ServeBinary, SigtermExitsZeroQuicklyAfterServing) {
  start({"--listen", "127.0.0.1:0", "--refresh", "200ms"});
  ASSERT_TRUE(waitReady(ports_[0], 20s));
  // A keep-alive connection stays open across the signal; the server must not wait for it.
  HttpClient idle("127.0.0.1", ports_[0]);
  ASSERT_TRUE(idle.get("/healthz").ok());
  auto [code, took] = signalAndWait(SIGTERM);
  ASSERT_TRUE(code.has_value()) << "still running 5 s after SIGTERM";
  EXPECT_EQ(*code, 0);
  EXPECT_LT(took, 2s);
}

TEST_F(ServeBinary, SigintExitsZeroToo) {
  start({"--listen", "127.0.0.1:0"});
  ASSERT_TRUE(waitReady(ports_[0], 20s));
  auto [code, took] = signalAndWait(SIGINT);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_LT(took, 2s);
}

TEST_F(ServeBinary, SigtermDuringTheFirstScanStillExitsQuickly) {
  start({"--listen", "127.0.0.1:0"});
  auto [code, took] = signalAndWait(SIGTERM);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_LT(took, 2s);
}

TEST_F(ServeBinary, FlagsComeFromTheEnvironmentAndFlagsWin) {
  // PODNETSTAT_LISTEN names a port we cannot bind twice; the flag overrides it.
  start({"--health-listen", "127.0.0.1:0"},
        {"PODNETSTAT_LISTEN=127.0.0.1:0", "PODNETSTAT_NODE_NAME=env-node",
         "PODNETSTAT_REFRESH=300ms"});
  ASSERT_EQ(ports_.size(), 2U) << "API and health ports";
  ASSERT_TRUE(waitReady(ports_[0], 20s));
  HttpClient api("127.0.0.1", ports_[0]);
  auto node = api.get("/api/v1/node");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ(nlohmann::json::parse(node->body)["node"], "env-node");
  HttpClient health("127.0.0.1", ports_[1]);
  auto r = health.get("/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  r = health.get("/api/v1/sockets");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 404) << "the health port serves no data";
  auto [code, took] = signalAndWait(SIGTERM);
  EXPECT_EQ(code, 0);
}

TEST(ServeFlags, BadValuesExitTwoNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> env;
    std::string mention;
  };

  const std::vector<Case> cases = {
      {{"--refresh", "5"}, {}, "--refresh"},
      {{"--refresh", "-1s"}, {}, "--refresh"},
      {{}, {"PODNETSTAT_REFRESH=soon"}, "--refresh"},
      {{"--listen", "nowhere"}, {}, "--listen"},
      {{"--listen", "127.0.0.1:70000"}, {}, "--listen"},
      {{"--health-listen", "x:1"}, {}, "--health-listen"},
      {{"--max-connections", "0"}, {}, "--max-connections"},
      {{}, {"PODNETSTAT_MAX_CONNECTIONS=many"}, "--max-connections"},
      {{"--log-format", "xml"}, {}, "--log-format"},
      {{"--log-level", "loud"}, {}, "--log-level"},
      {{"--idle-timeout", "1"}, {}, "--idle-timeout"},
      {{"--watch-max-lag-scans", "0"}, {}, "--watch-max-lag-scans"},
      {{}, {"PODNETSTAT_WATCH_MAX_LAG_SCANS=lots"}, "--watch-max-lag-scans"},
      {{"--watch-keep-alive", "0s"}, {}, "--watch-keep-alive"},
      {{"--watch-max-timeout", "2d"}, {}, "--watch-max-timeout"},
      {{"--no-such-flag"}, {}, "--no-such-flag"},
  };
  for (const auto& c : cases) {
    std::vector<std::string> argv{"env"};
    argv.insert(argv.end(), c.env.begin(), c.env.end());
    argv.push_back(binary());
    argv.emplace_back("serve");
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    const CommandResult r = runCommand(argv, 10s);
    EXPECT_EQ(r.exit_code, 2) << ::testing::PrintToString(c.args) << " " << r.err;
    EXPECT_THAT(r.err, ::testing::HasSubstr(c.mention)) << ::testing::PrintToString(c.args);
  }
}

TEST(ServeFlags, HelpListsTheFlagsAndExitsZero) {
  const CommandResult r = runCommand({binary(), "serve", "--help"}, 10s);
  EXPECT_EQ(r.exit_code, 0);
  for (const char* flag : {"--listen", "--health-listen", "--refresh", "--proc-root", "--netns-dir",
                           "--node-name", "--max-connections", "--log-format", "--log-level",
                           "--watch-max-lag-scans", "--watch-keep-alive", "--watch-max-timeout"}) {
    EXPECT_THAT(r.out, ::testing::HasSubstr(flag));
  }
}

TEST(ServeFlags, JsonLogsAreOneObjectPerLine) {
  // `timeout` sends SIGTERM after a second; --preserve-status passes our exit code on.
  const CommandResult r = runCommand({"timeout", "--preserve-status", "-s", "TERM", "1", binary(),
                                      "serve", "--listen", "127.0.0.1:0", "--log-format", "json"},
                                     10s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  int lines = 0;
  std::size_t start = 0;
  while (start < r.err.size()) {
    const auto end = r.err.find('\n', start);
    const std::string line = r.err.substr(start, end - start);
    start = end == std::string::npos ? r.err.size() : end + 1;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("msg")) << line;
    ++lines;
  }
  EXPECT_GE(lines, 2) << "start and stop are logged";
}

TEST(ServeFlags, AnAddressInUseExitsOne) {
  HttpServer blocker({});
  auto port = blocker.listen({"127.0.0.1", 0}, [](const HttpRequest&) { return HttpResponse{}; });
  ASSERT_TRUE(port.ok());
  const CommandResult r =
      runCommand({binary(), "serve", "--listen", "127.0.0.1:" + std::to_string(*port)}, 10s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, ::testing::HasSubstr("cannot listen"));
}

}  // namespace
}  // namespace podnetstat::agent
