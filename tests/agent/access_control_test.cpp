// Access control of the API listener over real TLS and real HTTP on loopback: the TLS listener
// (handshake against the right and a wrong CA, certificate reload), bearer tokens from a static
// file and through a stand-in Kubernetes API server speaking TokenReview/SubjectAccessReview
// over HTTPS, and the answers 401/403/503/200.

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/http/auth.h"
#include "podnetstat/agent/http/http_server.h"
#include "podnetstat/agent/http/tls_certificates.h"
#include "podnetstat/k8s/access_review.h"

#include "http_client.h"
#include "netns.h"
#include "tls_test_support.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using podnetstat::testing::FakeKubeApi;
using podnetstat::testing::ScratchDir;
using podnetstat::testing::TestPki;
using podnetstat::testing::tlsRequest;
using podnetstat::testing::writeTextFile;
using ::testing::HasSubstr;

/// A handler that says which path it served.
HttpResponse echo(const HttpRequest& request) {
  HttpResponse response;
  response.body = R"({"served":")" + request.target + R"("})";
  return response;
}

/// An HttpServer on 127.0.0.1:<ephemeral> with TLS from `pki`'s `name` pair.
class TlsServer {
 public:
  TlsServer(const std::filesystem::path& cert,
            const std::filesystem::path& key,
            HttpHandler handler = echo) {
    auto tls = TlsCertificates::load(cert, key);
    if (!tls) {
      throw std::runtime_error(tls.error().message);
    }
    tls_ = *tls;
    HttpServerOptions options;
    options.threads = 2;
    server_ = std::make_unique<HttpServer>(options);
    auto port = server_->listen({"127.0.0.1", 0}, std::move(handler), tls_);
    if (!port) {
      throw std::runtime_error(port.error().message);
    }
    port_ = *port;
    server_->start();
  }

  ~TlsServer() { server_->shutdown(0ms); }

  std::uint16_t port() const { return port_; }

  TlsCertificates& certificates() { return *tls_; }

 private:
  std::shared_ptr<TlsCertificates> tls_;
  std::unique_ptr<HttpServer> server_;
  std::uint16_t port_ = 0;
};

class TlsListener : public ::testing::Test {
 protected:
  void SetUp() override {
    pki_.issue("server", 1001);
    pki_.issue("renewed", 2002);
  }

  TestPki pki_;
};

TEST_F(TlsListener, HandshakeWithTheSigningCaServesHttps) {
  TlsServer server(pki_.file("server.crt"), pki_.file("server.key"));
  auto answer = tlsRequest(server.port(), pki_.caFile(), "/x?y=1");
  ASSERT_TRUE(answer.ok()) << answer.error().message;
  EXPECT_EQ(answer->status, 200U);
  EXPECT_EQ(answer->serial, "1001");
  EXPECT_EQ(nlohmann::json::parse(answer->body)["served"], "/x?y=1");
}

TEST_F(TlsListener, HandshakeFailsAgainstAnotherCa) {
  TlsServer server(pki_.file("server.crt"), pki_.file("server.key"));
  auto answer = tlsRequest(server.port(), pki_.otherCaFile(), "/");
  ASSERT_FALSE(answer.ok());
  EXPECT_THAT(answer.error().message, HasSubstr("TLS handshake"));
  // The server is fine afterwards.
  EXPECT_TRUE(tlsRequest(server.port(), pki_.caFile(), "/").ok());
}

TEST_F(TlsListener, PlainHttpGetsNoHttpAnswer) {
  TlsServer server(pki_.file("server.crt"), pki_.file("server.key"));
  HttpClient plain("127.0.0.1", server.port(), 5s);
  auto answer = plain.get("/");
  EXPECT_FALSE(answer.ok()) << "status " << answer->status;
}

TEST_F(TlsListener, ReplacedCertificateIsServedOnTheNextConnection) {
  ScratchDir live("pns-auth-live-");
  const auto cert = live.path() / "tls.crt";
  const auto key = live.path() / "tls.key";
  std::filesystem::copy_file(pki_.file("server.crt"), cert);
  std::filesystem::copy_file(pki_.file("server.key"), key);
  TlsServer server(cert, key);
  auto before = tlsRequest(server.port(), pki_.caFile(), "/");
  ASSERT_TRUE(before.ok()) << before.error().message;
  EXPECT_EQ(before->serial, "1001");

  // As a Secret volume does it: new files renamed into place.
  std::filesystem::copy_file(pki_.file("renewed.crt"), live.path() / "tls.crt.new");
  std::filesystem::copy_file(pki_.file("renewed.key"), live.path() / "tls.key.new");
  std::filesystem::rename(live.path() / "tls.key.new", key);
  std::filesystem::rename(live.path() / "tls.crt.new", cert);
  auto after = tlsRequest(server.port(), pki_.caFile(), "/");
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->serial, "2002");
  EXPECT_EQ(server.certificates().reloads(), 1U);
}

TEST_F(TlsListener, BrokenReplacementKeepsThePreviousCertificate) {
  ScratchDir live("pns-auth-live-");
  const auto cert = live.path() / "tls.crt";
  const auto key = live.path() / "tls.key";
  std::filesystem::copy_file(pki_.file("server.crt"), cert);
  std::filesystem::copy_file(pki_.file("server.key"), key);
  TlsServer server(cert, key);
  ASSERT_TRUE(tlsRequest(server.port(), pki_.caFile(), "/").ok());

  // A certificate whose key is still the old one: it does not load, the old pair stays.
  std::filesystem::copy_file(pki_.file("renewed.crt"), cert,
                             std::filesystem::copy_options::overwrite_existing);
  auto mismatched = tlsRequest(server.port(), pki_.caFile(), "/");
  ASSERT_TRUE(mismatched.ok()) << mismatched.error().message;
  EXPECT_EQ(mismatched->serial, "1001");
  EXPECT_EQ(server.certificates().failedReloads(), 1U);
  EXPECT_EQ(server.certificates().reloads(), 0U);

  // Garbage: same.
  writeTextFile(cert, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  auto garbage = tlsRequest(server.port(), pki_.caFile(), "/");
  ASSERT_TRUE(garbage.ok()) << garbage.error().message;
  EXPECT_EQ(garbage->serial, "1001");
  EXPECT_EQ(server.certificates().failedReloads(), 2U);

  // Once the key follows, the new pair is used.
  std::filesystem::copy_file(pki_.file("renewed.crt"), cert,
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(pki_.file("renewed.key"), key,
                             std::filesystem::copy_options::overwrite_existing);
  auto fixed = tlsRequest(server.port(), pki_.caFile(), "/");
  ASSERT_TRUE(fixed.ok()) << fixed.error().message;
  EXPECT_EQ(fixed->serial, "2002");
}

TEST_F(TlsListener, MissingOrMismatchedFilesAreRefusedAtLoad) {
  auto missing = TlsCertificates::load(pki_.file("nope.crt"), pki_.file("server.key"));
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("nope.crt"));
  auto mismatched = TlsCertificates::load(pki_.file("server.crt"), pki_.file("renewed.key"));
  ASSERT_FALSE(mismatched.ok());
  EXPECT_THAT(mismatched.error().message, HasSubstr("renewed.key"));
  EXPECT_THAT(mismatched.error().message, HasSubstr("mismatch"));
}

// --- bearer tokens ------------------------------------------------------------------------------

TEST(BearerToken, TakesTheTokenOfTheBearerScheme) {
  EXPECT_EQ(bearerToken("Bearer abc.def"), "abc.def");
  EXPECT_EQ(bearerToken("bearer   abc"), "abc");
  EXPECT_EQ(bearerToken("Basic dXNlcjpwdw=="), "");
  EXPECT_EQ(bearerToken("Bearer"), "");
  EXPECT_EQ(bearerToken("Bearer a b"), "");
  EXPECT_EQ(bearerToken("Bearerabc"), "");
  EXPECT_EQ(bearerToken(""), "");
}

TEST(StaticTokens, ParsesTokensUsersAndPaths) {
  auto parsed = parseStaticTokens(
      "# comment\n\n  t1 , alice \nt2,prometheus,/metrics\nt3,bob,/api/v1/;/metrics\n");
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 3U);
  EXPECT_EQ((*parsed)[0].token, "t1");
  EXPECT_EQ((*parsed)[0].user, "alice");
  EXPECT_EQ((*parsed)[0].paths, std::vector<std::string>{"/"});
  EXPECT_EQ((*parsed)[1].paths, std::vector<std::string>{"/metrics"});
  EXPECT_EQ((*parsed)[2].paths, (std::vector<std::string>{"/api/v1/", "/metrics"}));
}

TEST(StaticTokens, RefusesMalformedLinesWithoutShowingTheToken) {
  for (const char* text : {"secret-only\n", "secret,\n", "a,b,c,d\n", "secret,u,metrics\n",
                           "secret,u\nsecret,v\n", "se cret,u\n"}) {
    auto parsed = parseStaticTokens(text);
    ASSERT_FALSE(parsed.ok()) << text;
    EXPECT_THAT(parsed.error().message, HasSubstr("line "));
    EXPECT_THAT(parsed.error().message, ::testing::Not(HasSubstr("secret"))) << text;
  }
}

TEST(StaticTokens, PathRules) {
  EXPECT_TRUE(pathAllowed({"/"}, "/api/v1/sockets"));
  EXPECT_TRUE(pathAllowed({"/metrics"}, "/metrics"));
  EXPECT_FALSE(pathAllowed({"/metrics"}, "/metricsx"));
  EXPECT_FALSE(pathAllowed({"/metrics"}, "/api/v1/sockets"));
  EXPECT_TRUE(pathAllowed({"/api/v1/"}, "/api/v1/pods"));
  EXPECT_FALSE(pathAllowed({"/api/v1/"}, "/api/v2"));
}

TEST(AccessAttributes, MetricsAndTheRestOfTheApiAreTwoSubresources) {
  auto metrics = accessAttributes("/metrics", "node-a");
  EXPECT_EQ(metrics.verb, "get");
  EXPECT_EQ(metrics.group, "podnetstat.io");
  EXPECT_EQ(metrics.resource, "nodes");
  EXPECT_EQ(metrics.subresource, "metrics");
  EXPECT_EQ(metrics.name, "node-a");
  EXPECT_EQ(accessAttributes("/api/v1/sockets", "n").subresource, "api");
  EXPECT_EQ(accessAttributes("/healthz", "n").subresource, "api");
}

/// A TLS server whose handler requires bearer tokens.
class AuthOverTls : public ::testing::Test {
 protected:
  void SetUp() override { pki_.issue("server", 7); }

  void serve(std::shared_ptr<Authorizer> authorizer) {
    server_ = std::make_unique<TlsServer>(pki_.file("server.crt"), pki_.file("server.key"),
                                          requireBearerAuth(echo, std::move(authorizer)));
  }

  Result<podnetstat::testing::TlsAnswer> get(const std::string& target,
                                             const std::string& token = "") {
    std::vector<std::pair<std::string, std::string>> fields;
    if (!token.empty()) {
      fields.emplace_back("Authorization", "Bearer " + token);
    }
    return tlsRequest(server_->port(), pki_.caFile(), target, fields);
  }

  TestPki pki_;
  ScratchDir dir_{"pns-auth-"};
  std::unique_ptr<TlsServer> server_;
};

TEST_F(AuthOverTls, StaticTokens401403And200) {
  const auto file = dir_.path() / "tokens";
  writeTextFile(file, "reader-token,alice\nscrape-token,prometheus,/metrics\n");
  auto authorizer = makeStaticTokenAuthorizer(file);
  ASSERT_TRUE(authorizer.ok()) << authorizer.error().message;
  serve(*authorizer);

  auto missing = get("/api/v1/sockets");
  ASSERT_TRUE(missing.ok()) << missing.error().message;
  EXPECT_EQ(missing->status, 401U);
  EXPECT_THAT(missing->headers["www-authenticate"], HasSubstr("Bearer"));
  EXPECT_EQ(nlohmann::json::parse(missing->body)["error"]["code"], 401);

  auto wrong = get("/api/v1/sockets", "guessed-token");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401U);
  EXPECT_THAT(wrong->headers["www-authenticate"], HasSubstr("invalid_token"));

  auto basic = tlsRequest(server_->port(), pki_.caFile(), "/metrics",
                          {{"Authorization", "Basic YWxpY2U6cmVhZGVyLXRva2Vu"}});
  ASSERT_TRUE(basic.ok());
  EXPECT_EQ(basic->status, 401U);

  auto forbidden = get("/api/v1/sockets", "scrape-token");
  ASSERT_TRUE(forbidden.ok());
  EXPECT_EQ(forbidden->status, 403U);
  EXPECT_THAT(forbidden->body, HasSubstr("prometheus"));

  auto scrape = get("/metrics", "scrape-token");
  ASSERT_TRUE(scrape.ok());
  EXPECT_EQ(scrape->status, 200U);
  EXPECT_EQ(nlohmann::json::parse(scrape->body)["served"], "/metrics");

  auto read = get("/api/v1/sockets?listening=true", "reader-token");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->status, 200U);
  EXPECT_EQ(nlohmann::json::parse(read->body)["served"], "/api/v1/sockets?listening=true");
}

TEST_F(AuthOverTls, StaticTokenFileIsReReadAndABrokenOneFailsClosed) {
  const auto file = dir_.path() / "tokens";
  writeTextFile(file, "old-token,alice\n");
  auto authorizer = makeStaticTokenAuthorizer(file);
  ASSERT_TRUE(authorizer.ok());
  serve(*authorizer);
  EXPECT_EQ(get("/", "old-token")->status, 200U);

  // Rotated by renaming a new file into place.
  writeTextFile(dir_.path() / "tokens.new", "new-token,alice\n");
  std::filesystem::rename(dir_.path() / "tokens.new", file);
  EXPECT_EQ(get("/", "old-token")->status, 401U);
  EXPECT_EQ(get("/", "new-token")->status, 200U);

  // A malformed file: nothing is let in, not even a token that was valid before.
  writeTextFile(dir_.path() / "tokens.new", "new-token\n");
  std::filesystem::rename(dir_.path() / "tokens.new", file);
  auto broken = get("/", "new-token");
  ASSERT_TRUE(broken.ok());
  EXPECT_EQ(broken->status, 503U);
  EXPECT_EQ(broken->headers["retry-after"], "5");

  std::filesystem::remove(file);
  EXPECT_EQ(get("/", "new-token")->status, 503U);
}

TEST(StaticTokenAuthorizer, AnUnreadableFileIsAnErrorAtStart) {
  auto authorizer = makeStaticTokenAuthorizer("/nonexistent/podnetstat-tokens");
  ASSERT_FALSE(authorizer.ok());
  EXPECT_THAT(authorizer.error().message, HasSubstr("/nonexistent/podnetstat-tokens"));
}

/// Token reviews against the stand-in API server: its own certificate (`api`), and the agent's
/// service-account token in a file.
class TokenReviewOverTls : public AuthOverTls {
 protected:
  void SetUp() override {
    AuthOverTls::SetUp();
    pki_.issue("api", 99);
    writeTextFile(agent_token_, "agent-sa-token\n");
    api_ = std::make_unique<FakeKubeApi>(pki_, "api", "agent-sa-token");
    api_->addUser(
        "prom-token", "system:serviceaccount:monitoring:prometheus",
        {"system:serviceaccounts", "system:serviceaccounts:monitoring", "system:authenticated"});
    api_->addUser("dev-token", "jane@example.com", {"developers", "system:authenticated"});
    api_->grant("system:serviceaccount:monitoring:prometheus", "metrics");
    api_->grant("jane@example.com", "api");
    api_->grant("jane@example.com", "metrics");
  }

  std::shared_ptr<Authorizer> authorizer(const std::string& url, std::chrono::milliseconds ttl) {
    auto client =
        k8s::makeKubeApiClient({.url = url, .ca_file = pki_.caFile(), .token_file = agent_token_});
    if (!client) {
      throw std::runtime_error(client.error().message);
    }
    return makeKubeAccessAuthorizer({.api = std::shared_ptr<k8s::KubeApi>(std::move(*client)),
                                     .node_name = "node-7",
                                     .cache_ttl = ttl});
  }

  std::filesystem::path agent_token_ = dir_.path() / "sa-token";
  std::unique_ptr<FakeKubeApi> api_;
};

TEST_F(TokenReviewOverTls, MissingWrongForbiddenAndAllowed) {
  serve(authorizer(api_->url(), 0ms));  // no cache: every request is reviewed

  EXPECT_EQ(get("/metrics")->status, 401U);
  EXPECT_TRUE(api_->requests().empty()) << "no token, nothing to ask";

  auto wrong = get("/metrics", "stolen-token");
  ASSERT_TRUE(wrong.ok());
  EXPECT_EQ(wrong->status, 401U);
  EXPECT_THAT(wrong->headers["www-authenticate"], HasSubstr("Bearer"));

  auto forbidden = get("/api/v1/sockets", "prom-token");
  ASSERT_TRUE(forbidden.ok());
  EXPECT_EQ(forbidden->status, 403U);
  EXPECT_THAT(forbidden->body, HasSubstr("system:serviceaccount:monitoring:prometheus"));

  auto scrape = get("/metrics", "prom-token");
  ASSERT_TRUE(scrape.ok());
  EXPECT_EQ(scrape->status, 200U);

  auto read = get("/api/v1/pods", "dev-token");
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->status, 200U);

  // What went to the API server: real review documents, with the agent's own token.
  const auto seen = api_->requests();
  ASSERT_GE(seen.size(), 7U);
  for (const auto& r : seen) {
    EXPECT_EQ(r.authorization, "Bearer agent-sa-token") << r.path;
    EXPECT_EQ(r.status, 201U) << r.path << " " << r.body.dump();
  }
  EXPECT_EQ(seen[0].path, "/apis/authentication.k8s.io/v1/tokenreviews");
  EXPECT_EQ(seen[0].body["spec"]["token"], "stolen-token");
  // prom-token on /api/v1/sockets: the review and the access review.
  EXPECT_EQ(seen[1].body["spec"]["token"], "prom-token");
  ASSERT_EQ(seen[2].path, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
  const auto& spec = seen[2].body["spec"];
  EXPECT_EQ(spec["user"], "system:serviceaccount:monitoring:prometheus");
  EXPECT_EQ(spec["uid"], "uid-system:serviceaccount:monitoring:prometheus");
  EXPECT_EQ(spec["groups"].size(), 3U);
  EXPECT_EQ(spec["extra"]["authentication.kubernetes.io/pod-name"][0], "scraper-0");
  EXPECT_EQ(spec["resourceAttributes"], (nlohmann::json{{"verb", "get"},
                                                        {"group", "podnetstat.io"},
                                                        {"resource", "nodes"},
                                                        {"subresource", "api"},
                                                        {"name", "node-7"}}));
}

TEST_F(TokenReviewOverTls, DecisionsAreCachedPerTokenAndSubresource) {
  serve(authorizer(api_->url(), 10min));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(get("/metrics", "prom-token")->status, 200U);
    EXPECT_EQ(get("/api/v1/sockets", "prom-token")->status, 403U);
    EXPECT_EQ(get("/metrics", "stolen-token")->status, 401U);
  }
  // One TokenReview + SAR for each (token, subresource) pair, one TokenReview for the bad token.
  EXPECT_EQ(api_->requests().size(), 5U);
}

TEST_F(TokenReviewOverTls, ApiServerDownIs503AndNotCached) {
  const std::string url = api_->url();
  serve(authorizer(url, 10min));
  api_.reset();  // nothing listens there any more
  auto down = get("/metrics", "prom-token");
  ASSERT_TRUE(down.ok()) << down.error().message;
  EXPECT_EQ(down->status, 503U);
  EXPECT_EQ(down->headers["retry-after"], "5");
  EXPECT_EQ(nlohmann::json::parse(down->body)["error"]["code"], 503);
}

TEST_F(TokenReviewOverTls, ReviewsBeyondTheInFlightLimitGet503AtOnce) {
  auto client = k8s::makeKubeApiClient(
      {.url = api_->url(), .ca_file = pki_.caFile(), .token_file = agent_token_});
  ASSERT_TRUE(client.ok());
  serve(makeKubeAccessAuthorizer({.api = std::shared_ptr<k8s::KubeApi>(std::move(*client)),
                                  .node_name = "n",
                                  .max_in_flight = 1}));
  api_->hold();
  std::optional<Result<podnetstat::testing::TlsAnswer>> slow;
  std::thread first([&] { slow = get("/metrics", "prom-token"); });
  ASSERT_TRUE(api_->waitForArrivals(1, 10s)) << "the first review reached the API server";
  // The first review waits for the API server: another uncached token is turned away.
  auto second = get("/api/v1/pods", "dev-token");
  api_->release();
  first.join();
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->status, 503U);
  EXPECT_THAT(second->body, HasSubstr("too many access reviews"));
  ASSERT_TRUE(slow.has_value() && slow->ok());
  EXPECT_EQ((*slow)->status, 200U);
  // Once the slot is free, the other token is reviewed.
  EXPECT_EQ(get("/api/v1/pods", "dev-token")->status, 200U);
}

TEST_F(TokenReviewOverTls, AnAgentTokenTheApiServerRefusesIs503) {
  writeTextFile(agent_token_, "revoked-agent-token\n");
  serve(authorizer(api_->url(), 0ms));
  auto answer = get("/metrics", "prom-token");
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->status, 503U) << "the client's token may be fine; ours is not";
  ASSERT_FALSE(api_->requests().empty());
  EXPECT_EQ(api_->requests().back().status, 401U);
}

TEST_F(TokenReviewOverTls, AnApiServerWithACertificateOfAnotherCaIs503) {
  auto client = k8s::makeKubeApiClient(
      {.url = api_->url(), .ca_file = pki_.otherCaFile(), .token_file = agent_token_});
  ASSERT_TRUE(client.ok());
  serve(makeKubeAccessAuthorizer(
      {.api = std::shared_ptr<k8s::KubeApi>(std::move(*client)), .node_name = "n"}));
  EXPECT_EQ(get("/metrics", "prom-token")->status, 503U);
  EXPECT_TRUE(api_->requests().empty()) << "the agent's token never went to an unverified server";
}

// --- review documents
// -----------------------------------------------------------------------------

TEST(AccessReviewDocuments, TokenReviewRequestAndAnswer) {
  auto request = nlohmann::json::parse(k8s::tokenReviewRequest("t0k"));
  EXPECT_EQ(request, (nlohmann::json{{"apiVersion", "authentication.k8s.io/v1"},
                                     {"kind", "TokenReview"},
                                     {"spec", {{"token", "t0k"}}}}));
  auto ok = k8s::parseTokenReview(
      R"({"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{},
          "spec":{"token":"t0k"},"status":{"authenticated":true,"user":{"username":"u",
          "uid":"1","groups":["g1","g2"],"extra":{"k":["v"]}},"audiences":["a"]}})");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_TRUE(ok->authenticated);
  EXPECT_EQ(ok->user.username, "u");
  EXPECT_EQ(ok->user.groups, (std::vector<std::string>{"g1", "g2"}));
  EXPECT_EQ(ok->user.extra.at("k"), std::vector<std::string>{"v"});
  auto no = k8s::parseTokenReview(
      R"({"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1",
          "status":{"user":{},"error":"invalid bearer token"}})");
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->authenticated);
  EXPECT_EQ(no->error, "invalid bearer token");
  EXPECT_FALSE(k8s::parseTokenReview(R"({"kind":"Status","apiVersion":"v1"})").ok());
  EXPECT_FALSE(k8s::parseTokenReview("<html>").ok());
}

TEST(AccessReviewDocuments, SubjectAccessReviewRequestAndAnswer) {
  k8s::UserInfo user{"u", "", {"g"}, {}};
  auto request = nlohmann::json::parse(
      k8s::subjectAccessReviewRequest(user, accessAttributes("/metrics", "n1")));
  EXPECT_EQ(request["apiVersion"], "authorization.k8s.io/v1");
  EXPECT_EQ(request["kind"], "SubjectAccessReview");
  EXPECT_EQ(request["spec"]["user"], "u");
  EXPECT_FALSE(request["spec"].contains("uid"));
  EXPECT_EQ(request["spec"]["resourceAttributes"]["subresource"], "metrics");
  auto allowed = k8s::parseSubjectAccessReview(
      R"({"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1",
          "status":{"allowed":true,"reason":"RBAC"}})");
  ASSERT_TRUE(allowed.ok());
  EXPECT_TRUE(allowed->allowed);
  auto denied = k8s::parseSubjectAccessReview(
      R"({"kind":"SubjectAccessReview","apiVersion":"authorization.k8s.io/v1",
          "status":{"allowed":true,"denied":true}})");
  ASSERT_TRUE(denied.ok());
  EXPECT_FALSE(denied->allowed) << "denied wins";
  EXPECT_FALSE(k8s::parseSubjectAccessReview(R"({"kind":"TokenReview"})").ok());
}

}  // namespace
}  // namespace podnetstat::agent
