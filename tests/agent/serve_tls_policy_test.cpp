// The API listener's TLS policy, Mozilla's "intermediate" profile with the server's order (see
// agent/src/tls_certificates.cpp), checked on the real agent with an RSA certificate (the kind
// with which RSA key exchange would be possible at all): handshakes by an OpenSSL client that
// offers anything (security level 0) show the forbidden suites and protocol versions refused and
// the allowed ones taken, the server's order winning; and sslscan (Debian's) lists exactly the
// allowed suites.

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "netns.h"
#include "raw_http.h"
#include "serve_process.h"
#include "test_paths.h"
#include "tools.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace pt = podnetstat::testing;

/// The TLS 1.2 suites the policy allows with an RSA certificate, in the server's order.
const std::vector<std::string> kAllowedRsaTls12 = {
    "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-CHACHA20-POLY1305"};

struct Handshake {
  bool ok = false;
  std::string version;  // "TLSv1.2", "TLSv1.3"
  std::string cipher;   // OpenSSL's name
  std::string error;
};

/// One handshake with 127.0.0.1:port offering only `versions` and `ciphers` (TLS 1.2 and below:
/// an OpenSSL cipher list; TLS 1.3: suites); the server's certificate is not verified.
Handshake handshake(std::uint16_t port,
                    int min_version,
                    int max_version,
                    const std::string& ciphers,
                    const std::string& tls13_suites = "TLS_AES_128_GCM_SHA256") {
  Handshake out;
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        &SSL_CTX_free);
  SSL_CTX_set_security_level(ctx.get(), 0);  // offer what the server must refuse
  SSL_CTX_set_min_proto_version(ctx.get(), min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), max_version);
  if ((!ciphers.empty() && SSL_CTX_set_cipher_list(ctx.get(), ciphers.c_str()) != 1) ||
      SSL_CTX_set_ciphersuites(ctx.get(), tls13_suites.c_str()) != 1) {
    ERR_clear_error();
    out.error = "the client does not know " + ciphers;
    return out;
  }
  pt::Raw raw(port);
  if (!raw.ok()) {
    out.error = "connect failed";
    return out;
  }
  timeval tv{10, 0};
  ::setsockopt(raw.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(raw.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx.get());
  SSL_set_fd(ssl, raw.fd());
  if (SSL_connect(ssl) == 1) {
    out.ok = true;
    out.version = SSL_get_version(ssl);
    out.cipher = SSL_CIPHER_get_name(SSL_get_current_cipher(ssl));
    SSL_shutdown(ssl);
  } else {
    char text[256];
    ERR_error_string_n(ERR_peek_last_error(), text, sizeof text);
    out.error = text;
  }
  ERR_clear_error();
  SSL_free(ssl);
  return out;
}

/// The agent serving HTTPS (on loopback: no authentication needed) with a fresh RSA 2048
/// certificate for 127.0.0.1.
class TlsPolicy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new pt::ScratchDir("pns-tls-policy-");
    const fs::path crt = dir_->path() / "tls.crt";
    const fs::path key = dir_->path() / "tls.key";
    pt::runOrThrow({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout",
                    key.string(), "-out", crt.string()});
    const fs::path ports = dir_->path() / "ports";
    agent_ = new pt::Subprocess({pt::podnetstatBinary().string(), "serve", "--listen",
                                 "127.0.0.1:0", "--port-file", ports.string(), "--log-level",
                                 "warn", "--cri-endpoint", "none", "--kubelet-url", "none",
                                 "--tls-cert", crt.string(), "--tls-key", key.string()});
    const auto found = pt::waitForPorts(ports, 30s);
    port_ = found.empty() ? 0 : found.front();
  }

  void SetUp() override { ASSERT_NE(port_, 0) << "the agent did not start"; }

  static void TearDownTestSuite() {
    delete agent_;
    agent_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  static std::uint16_t port() { return port_; }

  static pt::ScratchDir* dir_;
  static pt::Subprocess* agent_;
  static std::uint16_t port_;
};

pt::ScratchDir* TlsPolicy::dir_ = nullptr;
pt::Subprocess* TlsPolicy::agent_ = nullptr;
std::uint16_t TlsPolicy::port_ = 0;

// The suites OpenSSL's defaults offered before the policy: RSA key exchange (no forward secrecy)
// and CBC, with or without ECDHE.
TEST_F(TlsPolicy, RefusesSuitesWithoutForwardSecrecyOrWithoutAead) {
  for (const char* suite :
       {"AES128-SHA", "AES256-SHA", "AES128-SHA256", "AES256-SHA256", "AES128-GCM-SHA256",
        "AES256-GCM-SHA384", "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA",
        "ECDHE-RSA-AES128-SHA256", "ECDHE-RSA-AES256-SHA384"}) {
    const Handshake h = handshake(port(), TLS1_2_VERSION, TLS1_2_VERSION, suite);
    EXPECT_FALSE(h.ok) << suite << " was accepted (" << h.cipher << ")";
    EXPECT_THAT(h.error, ::testing::Not(::testing::StartsWith("the client does not know")));
  }
}

TEST_F(TlsPolicy, TakesEachAllowedSuite) {
  for (const std::string& suite : kAllowedRsaTls12) {
    const Handshake h = handshake(port(), TLS1_2_VERSION, TLS1_2_VERSION, suite);
    ASSERT_TRUE(h.ok) << suite << ": " << h.error;
    EXPECT_EQ(h.version, "TLSv1.2");
    EXPECT_EQ(h.cipher, suite);
  }
}

TEST_F(TlsPolicy, TheServersOrderWins) {
  // The client prefers the server's last choice: the server still takes its first.
  const Handshake h = handshake(port(), TLS1_2_VERSION, TLS1_2_VERSION,
                                "ECDHE-RSA-CHACHA20-POLY1305:ECDHE-RSA-AES256-GCM-SHA384:"
                                "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA");
  ASSERT_TRUE(h.ok) << h.error;
  EXPECT_EQ(h.cipher, "ECDHE-RSA-AES128-GCM-SHA256");
}

TEST_F(TlsPolicy, Tls13IsTakenAndOlderVersionsAreRefused) {
  const Handshake tls13 =
      handshake(port(), TLS1_3_VERSION, TLS1_3_VERSION, "",
                "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256");
  ASSERT_TRUE(tls13.ok) << tls13.error;
  EXPECT_EQ(tls13.version, "TLSv1.3");
  EXPECT_EQ(tls13.cipher, "TLS_AES_128_GCM_SHA256") << "the server's order, in TLS 1.3 too";
  const Handshake any = handshake(port(), TLS1_VERSION, TLS1_3_VERSION, "ALL:@SECLEVEL=0");
  ASSERT_TRUE(any.ok) << any.error;
  EXPECT_EQ(any.version, "TLSv1.3") << "the newest version both sides have";
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    const Handshake h = handshake(port(), version, version, "ALL:@SECLEVEL=0");
    EXPECT_FALSE(h.ok) << h.version << " " << h.cipher << " was accepted";
  }
}

// sslscan's view: every protocol version and suite the agent takes.
TEST_F(TlsPolicy, SslscanListsOnlyTheAllowedSuites) {
  PODNETSTAT_REQUIRE_TOOL(sslscan, "sslscan");
  const fs::path xml = dir_->path() / "sslscan.xml";
  const auto result = pt::runCommand({sslscan.string(), "--no-colour", "--xml=" + xml.string(),
                                      "127.0.0.1:" + std::to_string(port())},
                                     120s);
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  std::ifstream in(xml);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string report = text.str();

  std::map<std::string, bool> protocols;  // "tls 1.2" -> enabled
  const std::regex protocol(R"re(<protocol type="(\w+)" version="([\d.]+)" enabled="(\d)")re");
  for (std::sregex_iterator it(report.begin(), report.end(), protocol), end; it != end; ++it) {
    protocols[(*it)[1].str() + " " + (*it)[2].str()] = (*it)[3] == "1";
  }
  EXPECT_EQ(protocols["tls 1.0"], false) << report;
  EXPECT_EQ(protocols["tls 1.1"], false) << report;
  EXPECT_EQ(protocols["tls 1.2"], true) << report;
  EXPECT_EQ(protocols["tls 1.3"], true) << report;
  for (const char* old : {"ssl 2", "ssl 3"}) {
    EXPECT_FALSE(protocols[old]) << old << " " << report;
  }

  std::vector<std::string> tls12;
  std::string preferred12;
  std::set<std::string> tls13;
  const std::regex cipher(
      R"re(<cipher status="(\w+)" sslversion="([^"]+)"[^>]* cipher="([^"]+)")re");
  for (std::sregex_iterator it(report.begin(), report.end(), cipher), end; it != end; ++it) {
    const std::string status = (*it)[1];
    const std::string version = (*it)[2];
    const std::string name = (*it)[3];
    if (version == "TLSv1.2") {
      tls12.push_back(name);
      if (status == "preferred") {
        preferred12 = name;
      }
    } else if (version == "TLSv1.3") {
      tls13.insert(name);
    } else {
      ADD_FAILURE() << version << " " << name << " accepted";
    }
  }
  EXPECT_THAT(tls12, ::testing::UnorderedElementsAreArray(kAllowedRsaTls12)) << report;
  EXPECT_EQ(preferred12, "ECDHE-RSA-AES128-GCM-SHA256") << report;
  EXPECT_THAT(tls13,
              ::testing::UnorderedElementsAre("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                              "TLS_CHACHA20_POLY1305_SHA256"))
      << report;
}

}  // namespace
}  // namespace podnetstat::agent
