#pragma once

// The API listener's TLS server certificate and key (`--tls-cert`, `--tls-key`), reloaded when
// the files change: cert-manager and Kubernetes Secret volumes replace them in place (a Secret
// volume swaps a symlink, so the inode changes). Each new connection asks for the current
// context; a change is noticed by the files' inode, size and modification time, so a replaced
// pair is in use from the next connection on. A pair that fails to load (half written, key not
// matching) is logged once and the previous one stays in use.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

class TlsCertificates {
 public:
  /// Loads the pair once; an error (naming the file and OpenSSL's reason) when it cannot.
  [[nodiscard]] static Result<std::shared_ptr<TlsCertificates>> load(
      std::filesystem::path cert_file, std::filesystem::path key_file);

  /// The context for a new connection: reloaded first when either file changed since the last
  /// attempt. Thread-safe; cheap when nothing changed (two stat calls).
  std::shared_ptr<boost::asio::ssl::context> current();

  /// Successful reloads since load() (not counting the first load).
  std::uint64_t reloads() const;

  /// Failed reload attempts since load().
  std::uint64_t failedReloads() const;

  /// Use load().
  TlsCertificates(std::filesystem::path cert_file, std::filesystem::path key_file);

 private:
  struct FileState {
    std::uint64_t inode = 0;
    std::uint64_t device = 0;
    std::int64_t size = -1;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileState&) const = default;
  };

  static FileState stateOf(const std::filesystem::path& path);

  std::filesystem::path cert_file_;
  std::filesystem::path key_file_;
  mutable std::mutex mu_;
  std::shared_ptr<boost::asio::ssl::context> context_;
  FileState cert_state_;
  FileState key_state_;
  std::uint64_t reloads_ = 0;
  std::uint64_t failed_ = 0;
};

/// A TLS 1.2+ server context with the certificate chain and key of these files; an error naming
/// the file and OpenSSL's reason when they cannot be used (also when the key does not match).
Result<std::shared_ptr<boost::asio::ssl::context>> makeServerTlsContext(
    const std::filesystem::path& cert_file, const std::filesystem::path& key_file);

}  // namespace podnetstat::agent
