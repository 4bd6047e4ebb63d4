// The kubelet client against a real HTTPS server (Beast + OpenSSL, certificates made by the
// test with the openssl CLI) serving a captured PodList: CA verification, bearer tokens and
// their rotation, and the answers a kubelet gives when something is wrong.

#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "podnetstat/k8s/kubelet.h"
#include "podnetstat/k8s/pod_list.h"

#include "kubelet_server.h"
#include "netns.h"

namespace podnetstat::k8s {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::kubelet::Behaviour;
using testing::kubelet::Certificates;
using testing::kubelet::TestKubelet;
using testing::kubelet::writeFile;

class FakeClock final : public Clock {
 public:
  std::chrono::steady_clock::time_point steadyNow() const override { return steady; }

  std::chrono::system_clock::time_point systemNow() const override {
    return std::chrono::system_clock::now();
  }

  std::chrono::steady_clock::time_point steady{std::chrono::hours(1)};
};

class KubeletClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new Certificates(); }

  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }

  std::unique_ptr<KubeletApi> client(KubeletClientOptions options) {
    if (options.url.empty()) {
      options.url = server_.url();
    }
    options.clock = &clock_;
    auto made = makeKubeletClient(std::move(options));
    EXPECT_TRUE(made.ok()) << made.error().message;
    return made.ok() ? std::move(*made) : nullptr;
  }

  KubeletClientOptions verified() const {
    KubeletClientOptions o;
    o.ca_file = certs_->file("ca.crt");
    o.timeout = 2s;
    return o;
  }

  static Certificates* certs_;
  TestKubelet server_{*certs_};
  FakeClock clock_;
  testing::ScratchDir files_{"pns-kubelet-token-"};
};

Certificates* KubeletClientTest::certs_ = nullptr;

TEST_F(KubeletClientTest, FetchesThePodListWithTheKubeletsCa) {
  const auto kubelet = client(verified());
  const auto body = kubelet->getPods();
  ASSERT_TRUE(body.ok()) << body.error().message;
  const auto list = parsePodList(*body);
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_EQ(list->pods.size(), 4U);
  EXPECT_THAT(server_.targets(), ::testing::ElementsAre("/pods"));
  EXPECT_EQ(kubelet->endpoint(), server_.url());
}

TEST_F(KubeletClientTest, VerifiesTheHostNameToo) {
  auto options = verified();
  options.url = server_.url("localhost");
  EXPECT_TRUE(client(options)->getPods().ok());
}

TEST_F(KubeletClientTest, AWrongCaIsRefused) {
  auto options = verified();
  options.ca_file = certs_->file("other.crt");
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("certificate verify failed"));
  EXPECT_THAT(body.error().message, HasSubstr("other.crt"));
}

TEST_F(KubeletClientTest, WithoutACaTheSystemCasRefuseASelfSignedKubelet) {
  KubeletClientOptions options;
  options.timeout = 2s;
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("--kubelet-ca"));
  EXPECT_THAT(body.error().message, HasSubstr("--kubelet-insecure-skip-verify"));
}

TEST_F(KubeletClientTest, InsecureSkipVerifyAcceptsAnyCertificate) {
  KubeletClientOptions options;
  options.insecure_skip_verify = true;
  options.ca_file = certs_->file("other.crt");  // ignored
  EXPECT_TRUE(client(options)->getPods().ok());
}

TEST_F(KubeletClientTest, SendsTheBearerTokenOfTheTokenFile) {
  writeFile(files_.path() / "token", "tok-A\n");
  server_.requireToken("tok-A");
  auto options = verified();
  options.token_file = files_.path() / "token";
  EXPECT_TRUE(client(options)->getPods().ok());
  EXPECT_THAT(server_.authorizations(), ::testing::ElementsAre("Bearer tok-A"));
}

TEST_F(KubeletClientTest, ARotatedTokenIsPickedUpAfterA401) {
  writeFile(files_.path() / "token", "tok-A");
  server_.requireToken("tok-A");
  auto options = verified();
  options.token_file = files_.path() / "token";
  const auto kubelet = client(options);
  ASSERT_TRUE(kubelet->getPods().ok());
  writeFile(files_.path() / "token", "tok-B");
  server_.requireToken("tok-B");
  const auto body = kubelet->getPods();
  ASSERT_TRUE(body.ok()) << body.error().message;
  EXPECT_THAT(server_.authorizations(),
              ::testing::ElementsAre("Bearer tok-A", "Bearer tok-A", "Bearer tok-B"));
}

TEST_F(KubeletClientTest, TheTokenIsReReadEveryFiveMinutes) {
  writeFile(files_.path() / "token", "tok-A");
  auto options = verified();
  options.token_file = files_.path() / "token";
  const auto kubelet = client(options);
  ASSERT_TRUE(kubelet->getPods().ok());
  writeFile(files_.path() / "token", "tok-B");
  clock_.steady += 4min;
  ASSERT_TRUE(kubelet->getPods().ok());
  clock_.steady += 1min;
  ASSERT_TRUE(kubelet->getPods().ok());
  EXPECT_THAT(server_.authorizations(),
              ::testing::ElementsAre("Bearer tok-A", "Bearer tok-A", "Bearer tok-B"));
}

TEST_F(KubeletClientTest, A401SaysTheTokenWasNotAccepted) {
  writeFile(files_.path() / "token", "tok-A");
  server_.requireToken("tok-other");
  auto options = verified();
  options.token_file = files_.path() / "token";
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("answered 401"));
  EXPECT_THAT(body.error().message, HasSubstr("token"));
}

TEST_F(KubeletClientTest, AMissingTokenFileIsAnError) {
  auto options = verified();
  options.token_file = files_.path() / "absent";
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("token file"));
}

TEST_F(KubeletClientTest, A403NamesTheMissingRbac) {
  server_.set(Behaviour::Forbidden);
  const auto body = client(verified())->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("answered 403"));
  EXPECT_THAT(body.error().message,
              HasSubstr("the service account needs get on nodes/pods (nodes/proxy before "
                        "Kubernetes 1.33: the Helm chart grants it with "
                        "rbac.kubeletProxyFallback=true)"));
  EXPECT_THAT(body.error().message, HasSubstr("subresource(s)=[pods]"));
}

TEST_F(KubeletClientTest, ASlowKubeletCostsOneDeadline) {
  server_.set(Behaviour::Slow);
  auto options = verified();
  options.timeout = 300ms;
  const auto kubelet = client(options);
  const auto started = std::chrono::steady_clock::now();
  const auto body = kubelet->getPods();
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("timed out after 300 ms"));
  EXPECT_LT(took, 1500ms);
}

TEST_F(KubeletClientTest, GarbageIsAnError) {
  server_.set(Behaviour::Garbage);
  const auto body = client(verified())->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("read"));
}

TEST_F(KubeletClientTest, ABodyOverTheCapIsRefused) {
  server_.set(Behaviour::Huge);
  auto options = verified();
  options.max_body_bytes = 32 * 1024;
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("larger than 32768 bytes"));
}

TEST_F(KubeletClientTest, NobodyListeningIsAnError) {
  auto options = verified();
  options.url = "https://127.0.0.1:1";
  const auto body = client(options)->getPods();
  ASSERT_FALSE(body.ok());
  EXPECT_THAT(body.error().message, HasSubstr("connect"));
}

TEST_F(KubeletClientTest, APathPrefixIsKept) {
  auto options = verified();
  options.url = server_.url() + "/api/v1/nodes/node-1/proxy/";
  ASSERT_TRUE(client(options)->getPods().ok());
  EXPECT_THAT(server_.targets(), ::testing::ElementsAre("/api/v1/nodes/node-1/proxy/pods"));
}

TEST(KubeletClientOptions, BadUrlsAndCaFilesAreRefusedUpFront) {
  for (const char* url : {"", "10.0.0.1:10250", "ftp://x", "https://", "https://[::1",
                          "https://host:99999", "https://host:port"}) {
    KubeletClientOptions options;
    options.url = url;
    EXPECT_FALSE(makeKubeletClient(options).ok()) << url;
  }
  KubeletClientOptions options;
  options.url = "https://10.0.0.1";
  options.ca_file = "/nonexistent/ca.crt";
  const auto made = makeKubeletClient(options);
  ASSERT_FALSE(made.ok());
  EXPECT_THAT(made.error().message, HasSubstr("/nonexistent/ca.crt"));
  options.ca_file.clear();
  options.url = "https://[fd00::1]:10250/";
  EXPECT_TRUE(makeKubeletClient(options).ok());
}

TEST(KubeletClientOptions, DefaultUrlFromTheHostIp) {
  EXPECT_EQ(defaultKubeletUrl("10.0.0.7"), "https://10.0.0.7:10250");
  EXPECT_EQ(defaultKubeletUrl("fd00::7"), "https://[fd00::7]:10250");
  EXPECT_EQ(defaultKubeletUrl(""), "");
}

}  // namespace
}  // namespace podnetstat::k8s
