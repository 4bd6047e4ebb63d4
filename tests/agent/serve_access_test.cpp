// The real `podnetstat serve` binary and its access-control flags: it refuses a non-loopback
// address without TLS and authentication (exit 2 and why), serves one anyway with
// --insecure-allow-unauthenticated (and says so), and serves HTTPS with bearer tokens (static
// file, TokenReview) on a non-loopback address inside network namespaces of the test's own,
// reached from a second namespace over a veth pair; the health port stays plain and open.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "netns.h"
#include "run_podnetstat.h"
#include "serve_process.h"
#include "test_paths.h"
#include "tls_test_support.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using podnetstat::testing::FakeKubeApi;
using podnetstat::testing::NetNamespace;
using podnetstat::testing::runPodnetstat;
using podnetstat::testing::ScratchDir;
using podnetstat::testing::Subprocess;
using podnetstat::testing::SubprocessOptions;
using podnetstat::testing::TestPki;
using podnetstat::testing::tlsRequest;
using podnetstat::testing::VethPair;
using podnetstat::testing::waitForPorts;
using podnetstat::testing::writeTextFile;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

std::string readText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// --- refusing to start
// ----------------------------------------------------------------------------

TEST(ServeAccess, NonLoopbackWithoutTlsAndAuthRefusesToStart) {
  // Refused before anything is bound: nothing ever serves on 0.0.0.0.
  for (const char* listen : {"0.0.0.0:0", ":0", "[::]:0"}) {
    auto run = runPodnetstat({"serve", "--listen", listen});
    EXPECT_EQ(run.exit_code, 2) << listen;
    EXPECT_THAT(run.err, HasSubstr("refusing to serve")) << listen;
    EXPECT_THAT(run.err, HasSubstr("not a loopback address"));
    EXPECT_THAT(run.err, HasSubstr("TLS (--tls-cert, --tls-key) and authentication"));
    EXPECT_THAT(run.err, HasSubstr("--insecure-allow-unauthenticated"));
  }
}

TEST(ServeAccess, NonLoopbackWithOnlyOneOfTheTwoRefusesToStart) {
  TestPki pki;
  pki.issue("server", 1);
  auto tls_only = runPodnetstat({"serve", "--listen", "0.0.0.0:0", "--tls-cert",
                                 pki.file("server.crt").string(), "--tls-key",
                                 pki.file("server.key").string()});
  EXPECT_EQ(tls_only.exit_code, 2);
  EXPECT_THAT(tls_only.err, HasSubstr("needs authentication (--auth"));

  ScratchDir dir("pns-serve-access-");
  writeTextFile(dir.path() / "tokens", "t,u\n");
  auto auth_only = runPodnetstat(
      {"serve", "--listen", "0.0.0.0:0", "--auth", "static:" + (dir.path() / "tokens").string()});
  EXPECT_EQ(auth_only.exit_code, 2);
  EXPECT_THAT(auth_only.err, HasSubstr("needs TLS (--tls-cert, --tls-key)."));
}

TEST(ServeAccess, BadAccessFlagsAreUsageErrors) {
  TestPki pki;
  pki.issue("server", 1);
  const std::string cert = pki.file("server.crt").string();
  const std::string key = pki.file("server.key").string();

  struct Case {
    std::vector<std::string> args;
    const char* message;
  };

  for (const Case& c : std::vector<Case>{
           {{"--tls-cert", cert}, "--tls-cert and --tls-key go together"},
           {{"--tls-key", key}, "--tls-cert and --tls-key go together"},
           {{"--tls-cert", key, "--tls-key", key}, "TLS certificate"},
           {{"--auth", "basic"}, "expected none, tokenreview or static:FILE"},
           {{"--auth", "static:"}, "static: needs a file"},
           {{"--auth", "static:/nonexistent/tokens"}, "/nonexistent/tokens"},
           {{"--auth", "tokenreview", "--kube-api-url", "auto"}, "KUBERNETES_SERVICE_HOST"},
           {{"--auth", "tokenreview", "--kube-api-url", "ftp://x"}, "--kube-api-url"},
       }) {
    std::vector<std::string> argv{"serve", "--listen", "127.0.0.1:0"};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    // KUBERNETES_SERVICE_HOST is not set in the test's environment (the check needs it unset).
    ASSERT_EQ(std::getenv("KUBERNETES_SERVICE_HOST"), nullptr);
    auto run = runPodnetstat(argv);
    EXPECT_EQ(run.exit_code, 2) << c.message;
    EXPECT_THAT(run.err, HasSubstr(c.message));
  }
}

// --- serving
// ----------------------------------------------------------------------------------------

/// The agent in namespace A on the veth address, a client in namespace B.
class ServeAccessNetns : public ::testing::Test {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    a_ = std::make_unique<NetNamespace>("pnsauthA");
    b_ = std::make_unique<NetNamespace>("pnsauthB");
    veth_ = std::make_unique<VethPair>(*a_, *b_);
    ip_ = veth_->addresses().a_v4;
    pki_ = std::make_unique<TestPki>(std::vector<std::string>{ip_});
    pki_->issue("server", 4242);
  }

  void TearDown() override {
    agent_.reset();
    veth_.reset();
    b_.reset();
    a_.reset();
  }

  /// Starts `podnetstat serve ARGS --port-file F` in namespace A, stderr to a file.
  void start(const std::vector<std::string>& args) {
    std::string command = "exec \"$0\" serve";
    for (std::size_t i = 0; i < args.size(); ++i) {
      command += " \"${" + std::to_string(i + 1) + "}\"";
    }
    command += " --port-file " + (dir_.path() / "ports").string() + " 2>" +
               (dir_.path() / "stderr").string();
    std::vector<std::string> argv{"sh", "-c", command,
                                  podnetstat::testing::podnetstatBinary().string()};
    argv.insert(argv.end(), args.begin(), args.end());
    agent_ = std::make_unique<Subprocess>(argv, SubprocessOptions{.netns = a_->name()});
    ports_ = waitForPorts(dir_.path() / "ports", 20s);
    ASSERT_FALSE(ports_.empty()) << readText(dir_.path() / "stderr");
  }

  /// curl in namespace B: "<status>\n<body>".
  std::pair<int, std::string> curl(const std::string& url,
                                   const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{"curl", "-sS", "--max-time", "10",
                                  "-o",   "-",   "-w",         "\n%{http_code}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    auto run = b_->run(argv, 20s);
    if (!run.ok()) {
      return {-1, run.err};
    }
    const auto nl = run.out.rfind('\n');
    return {std::stoi(run.out.substr(nl + 1)), run.out.substr(0, nl)};
  }

  std::string url(const std::string& scheme, std::uint16_t port, const std::string& path) const {
    return scheme + "://" + ip_ + ":" + std::to_string(port) + path;
  }

  std::unique_ptr<NetNamespace> a_;
  std::unique_ptr<NetNamespace> b_;
  std::unique_ptr<VethPair> veth_;
  std::string ip_;
  std::unique_ptr<TestPki> pki_;
  ScratchDir dir_{"pns-serve-access-"};
  std::unique_ptr<Subprocess> agent_;
  std::vector<std::uint16_t> ports_;
};

TEST_F(ServeAccessNetns, InsecureFlagServesANonLoopbackAddressAndSaysSoLoudly) {
  start({"--listen", ip_ + ":0", "--insecure-allow-unauthenticated", "--refresh", "300ms"});
  auto [status, body] = curl(url("http", ports_[0], "/healthz"));
  EXPECT_EQ(status, 200) << body;
  const std::string log = readText(dir_.path() / "stderr");
  EXPECT_THAT(log, HasSubstr("INSECURE: serving " + ip_));
  EXPECT_THAT(log, HasSubstr("neither TLS nor authentication"));
}

TEST_F(ServeAccessNetns, TlsAndStaticTokensOnANonLoopbackAddress) {
  writeTextFile(dir_.path() / "tokens",
                "# scrapers\nscrape-token,prometheus,/metrics\n"
                "admin-token,admin\n");
  start({"--listen", ip_ + ":0", "--health-listen", ip_ + ":0", "--tls-cert",
         pki_->file("server.crt").string(), "--tls-key", pki_->file("server.key").string(),
         "--auth", "static:" + (dir_.path() / "tokens").string(), "--refresh", "300ms",
         "--node-name", "netns-node"});
  ASSERT_EQ(ports_.size(), 2U);
  const std::vector<std::string> ca{"--cacert", pki_->caFile().string()};
  const auto with = [&](const std::string& token) {
    auto out = ca;
    out.insert(out.end(), {"-H", "Authorization: Bearer " + token});
    return out;
  };

  EXPECT_EQ(curl(url("https", ports_[0], "/api/v1/node"), ca).first, 401);
  EXPECT_EQ(curl(url("https", ports_[0], "/healthz"), ca).first, 401)
      << "the API port authenticates every path";
  EXPECT_EQ(curl(url("https", ports_[0], "/api/v1/node"), with("wrong")).first, 401);
  EXPECT_EQ(curl(url("https", ports_[0], "/api/v1/node"), with("scrape-token")).first, 403);
  EXPECT_EQ(curl(url("https", ports_[0], "/metrics"), with("scrape-token")).first, 200);
  auto [status, body] = curl(url("https", ports_[0], "/api/v1/node"), with("admin-token"));
  ASSERT_EQ(status, 200) << body;
  EXPECT_EQ(nlohmann::json::parse(body)["node"], "netns-node");
  // Not over plain HTTP, not with another CA.
  EXPECT_NE(curl(url("http", ports_[0], "/api/v1/node"), with("admin-token")).first, 200);
  EXPECT_EQ(
      curl(url("https", ports_[0], "/api/v1/node"), {"--cacert", pki_->otherCaFile().string()})
          .first,
      -1);

  // The health port: plain HTTP, no token, no data.
  EXPECT_EQ(curl(url("http", ports_[1], "/healthz")).first, 200);
  EXPECT_EQ(curl(url("http", ports_[1], "/api/v1/node")).first, 404);
  EXPECT_THAT(readText(dir_.path() / "stderr"), ::testing::Not(HasSubstr("INSECURE")));
}

TEST(ServeAccess, TlsAndTokenReviewAgainstTheApiServer) {
  // On loopback: the stand-in API server listens in the test's own namespace.
  TestPki pki;
  pki.issue("server", 4242);
  pki.issue("api", 77);
  ScratchDir dir("pns-serve-access-");
  writeTextFile(dir.path() / "sa-token", "agent-token\n");
  const std::string binary = podnetstat::testing::podnetstatBinary().string();
  FakeKubeApi api(pki, "api", "agent-token");
  api.addUser("prom-token", "system:serviceaccount:monitoring:prometheus",
              {"system:authenticated"});
  api.grant("system:serviceaccount:monitoring:prometheus", "metrics");
  std::vector<std::string> argv{binary,
                                "serve",
                                "--listen",
                                "127.0.0.1:0",
                                "--tls-cert",
                                pki.file("server.crt").string(),
                                "--tls-key",
                                pki.file("server.key").string(),
                                "--auth",
                                "tokenreview",
                                "--kube-api-url",
                                api.url(),
                                "--kube-api-ca",
                                pki.caFile().string(),
                                "--kube-api-token-file",
                                (dir.path() / "sa-token").string(),
                                "--node-name",
                                "node-9",
                                "--port-file",
                                (dir.path() / "ports").string()};
  Subprocess agent(argv);
  const auto ports = waitForPorts(dir.path() / "ports", 20s);
  ASSERT_FALSE(ports.empty());
  const auto get = [&](const std::string& path, const std::string& token) {
    std::vector<std::pair<std::string, std::string>> fields;
    if (!token.empty()) {
      fields.emplace_back("Authorization", "Bearer " + token);
    }
    return tlsRequest(ports[0], pki.caFile(), path, fields);
  };
  EXPECT_EQ(get("/metrics", "")->status, 401U);
  EXPECT_EQ(get("/metrics", "nobody")->status, 401U);
  EXPECT_EQ(get("/api/v1/sockets", "prom-token")->status, 403U);
  auto metrics = get("/metrics", "prom-token");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(metrics->status, 200U);
  EXPECT_THAT(metrics->body, HasSubstr("podnetstat_build_info"));
  const auto seen = api.requests();
  ASSERT_FALSE(seen.empty());
  for (const auto& r : seen) {
    EXPECT_EQ(r.authorization, "Bearer agent-token");
  }
  EXPECT_EQ(seen.back().body["spec"]["resourceAttributes"]["name"], "node-9");
}

}  // namespace
}  // namespace podnetstat::agent
