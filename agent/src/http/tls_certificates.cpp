#include "podnetstat/agent/http/tls_certificates.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <utility>

#include <spdlog/spdlog.h>

namespace podnetstat::agent {

namespace ssl = boost::asio::ssl;

Result<std::shared_ptr<ssl::context>> makeServerTlsContext(const std::filesystem::path& cert_file,
                                                           const std::filesystem::path& key_file) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
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
