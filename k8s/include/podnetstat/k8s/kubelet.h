#pragma once

// The kubelet's read API (`GET /pods` on https://<hostIP>:10250) as the pod index sees it: an
// interface that hands back the body of a successful answer (parsing is parsePodList's job), and
// its HTTPS implementation (Boost.Beast + OpenSSL).

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "podnetstat/k8s/clock.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s {

class KubeletApi {
 public:
  virtual ~KubeletApi() = default;
  /// The base URL, e.g. "https://10.0.0.7:10250".
  virtual std::string endpoint() const = 0;
  /// GET <base>/pods. @return the body of a 200 answer; otherwise an error that says what failed
  /// (connect, TLS verification, timeout, HTTP status with the RBAC a 401/403 points to, body
  /// larger than the cap). Not thread-safe: one caller at a time.
  virtual Result<std::string> getPods() = 0;
};

struct KubeletClientOptions {
  /// "https://host:port" or "http://host:port", optionally with a path prefix (GET goes to
  /// <url>/pods). IPv6 hosts in brackets. The port defaults to 10250 (https) or 10255 (http).
  std::string url;
  /// PEM bundle the kubelet's serving certificate must chain to. Empty: the system's CAs (which
  /// rarely sign a kubelet's self-signed certificate; see insecure_skip_verify).
  std::filesystem::path ca_file;
  /// Accept any server certificate (the kubelet's default serving cert is self-signed).
  bool insecure_skip_verify = false;
  /// Bearer token file (the service account's). Empty: no Authorization header. Re-read when
  /// older than token_max_age (projected tokens rotate) and after a 401.
  std::filesystem::path token_file;
  std::chrono::seconds token_max_age{300};
  /// Deadline of one whole request: connect, TLS handshake, send, receive.
  std::chrono::milliseconds timeout{5000};
  /// Answers with a larger body are refused.
  std::size_t max_body_bytes = std::size_t{64} * 1024 * 1024;
  const Clock* clock = nullptr;  // systemClock() when null
};

/// @return an error for a URL it cannot use or a CA file it cannot load.
Result<std::unique_ptr<KubeletApi>> makeKubeletClient(KubeletClientOptions options);

/// "https://<host_ip>:10250" (IPv6 in brackets); "" for an empty host_ip.
std::string defaultKubeletUrl(const std::string& host_ip);

/// The service-account token file a pod gets.
inline constexpr const char* kServiceAccountTokenFile =
    "/var/run/secrets/kubernetes.io/serviceaccount/token";

}  // namespace podnetstat::k8s
