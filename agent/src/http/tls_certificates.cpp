#include "podnetstat/agent/http/tls_certificates.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <utility>

#include <spdlog/spdlog.h>

namespace podnetstat::agent {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" server profile (ssl-config.mozilla.org) without its DHE suites: TLS 1.2
// with ECDHE key exchange and AEAD ciphers only, in this order, and TLS 1.3 with OpenSSL's
// suites; no RSA key exchange (no forward secrecy), no CBC. Unlike the profile, which lets the
// client choose, the server's order wins (testssl.sh rates a missing server order as a finding;
// every suite here is strong, so the order only puts AES-GCM before ChaCha20).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Ciphers =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256:P-384";

Result<Ok> applyTlsPolicy(SSL_CTX* ctx) {
  SSL_CTX_set_options(
      ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 ||
      SSL_CTX_set_ciphersuites(ctx, kTls13Ciphers) != 1 ||
      SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    ERR_clear_error();
    return Error{"TLS: this OpenSSL does not take the cipher policy"};
  }
  return Ok{};
}

}  // namespace

Result<std::shared_ptr<ssl::context>> makeServerTlsContext(const std::filesystem::path& cert_file,
                                                           const std::filesystem::path& key_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  if (auto policy = applyTlsPolicy(context->native_handle()); !policy) {
    return policy.error();
  }
  boost::system::error_code ec;
  context->use_certificate_chain_file(cert_file.string(), ec);
  if (ec) {
    return Error{"TLS certificate " + cert_file.string() + ": " + ec.message()};
  }
  context->use_private_key_file(key_file.string(), ssl::context::pem, ec);
  if (ec) {
    return Error{"TLS key " + key_file.string() + ": " + ec.message()};
  }
  if (SSL_CTX_check_private_key(context->native_handle()) != 1) {
    ERR_clear_error();
    return Error{"TLS key " + key_file.string() + " does not match the certificate " +
                 cert_file.string()};
  }
  return context;
}

TlsCertificates::TlsCertificates(std::filesystem::path cert_file, std::filesystem::path key_file)
    : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)) {}

TlsCertificates::FileState TlsCertificates::stateOf(const std::filesystem::path& path) {
  struct stat st {};

  FileState out;
  if (::stat(path.c_str(), &st) != 0) {
    return out;  // missing: size -1, a state of its own
  }
  out.inode = st.st_ino;
  out.device = st.st_dev;
  out.size = st.st_size;
  out.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return out;
}

Result<std::shared_ptr<TlsCertificates>> TlsCertificates::load(std::filesystem::path cert_file,
                                                               std::filesystem::path key_file) {
  auto out = std::make_shared<TlsCertificates>(std::move(cert_file), std::move(key_file));
  // The state is taken before reading, so a change while reading is seen next time.
  out->cert_state_ = stateOf(out->cert_file_);
  out->key_state_ = stateOf(out->key_file_);
  auto context = makeServerTlsContext(out->cert_file_, out->key_file_);
  if (!context) {
    return context.error();
  }
  out->context_ = std::move(*context);
  return out;
}

std::shared_ptr<ssl::context> TlsCertificates::current() {
  const FileState cert = stateOf(cert_file_);
  const FileState key = stateOf(key_file_);
  const std::lock_guard lock(mu_);
  if (cert == cert_state_ && key == key_state_) {
    return context_;
  }
  cert_state_ = cert;
  key_state_ = key;
  auto context = makeServerTlsContext(cert_file_, key_file_);
  if (!context) {
    ++failed_;
    spdlog::error("tls: reloading the certificate failed, still serving the previous one: {}",
                  context.error().message);
    return context_;
  }
  ++reloads_;
  spdlog::info("tls: reloaded the certificate {} and key {}", cert_file_.string(),
               key_file_.string());
  context_ = std::move(*context);
  return context_;
}

std::uint64_t TlsCertificates::reloads() const {
  const std::lock_guard lock(mu_);
  return reloads_;
}

std::uint64_t TlsCertificates::failedReloads() const {
  const std::lock_guard lock(mu_);
  return failed_;
}

}  // namespace podnetstat::agent
