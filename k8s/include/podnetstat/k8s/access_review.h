#pragma once

// Asking the Kubernetes API server who a bearer token belongs to (TokenReview,
// authentication.k8s.io/v1) and whether that user may do something (SubjectAccessReview,
// authorization.k8s.io/v1): the request bodies, pure parsers of the answers, and a small HTTPS
// client for the API server that POSTs them with the agent's own service-account token.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/k8s/clock.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s {

/// A user as TokenReview's status.user describes it.
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::map<std::string, std::vector<std::string>> extra;
};

/// status of a TokenReview.
struct TokenReviewStatus {
  bool authenticated = false;
  UserInfo user;
  std::string error;  // status.error, why a token was not accepted
};

/// The body of POST /apis/authentication.k8s.io/v1/tokenreviews for `token`.
std::string tokenReviewRequest(std::string_view token);

/// Parses a TokenReview answer. An error when it is not JSON or not a TokenReview.
Result<TokenReviewStatus> parseTokenReview(std::string_view body);

/// spec.resourceAttributes of a SubjectAccessReview (the fields RBAC looks at).
struct ResourceAttributes {
  std::string verb;
  std::string group;
  std::string resource;
  std::string subresource;
  std::string name;
  std::string namespace_;  // "" for cluster-scoped resources
};

/// status of a SubjectAccessReview.
struct AccessReviewStatus {
  bool allowed = false;
  bool denied = false;
  std::string reason;
  std::string evaluation_error;
};

/// The body of POST /apis/authorization.k8s.io/v1/subjectaccessreviews: may `user` do
/// `attributes`?
std::string subjectAccessReviewRequest(const UserInfo& user, const ResourceAttributes& attributes);

/// Parses a SubjectAccessReview answer. An error when it is not JSON or not a
/// SubjectAccessReview.
Result<AccessReviewStatus> parseSubjectAccessReview(std::string_view body);

/// An answer of the API server.
struct KubeApiAnswer {
  unsigned status = 0;
  std::string body;
};

/// The API server, as the access reviews use it.
class KubeApi {
 public:
  virtual ~KubeApi() = default;
  /// The base URL, e.g. "https://10.96.0.1:443".
  virtual std::string endpoint() const = 0;
  /// POSTs `json` to `path` (e.g. "/apis/authentication.k8s.io/v1/tokenreviews") with the
  /// agent's own bearer token. Any HTTP answer is returned; an error only when none came
  /// (connect, TLS, timeout, body too large, token file unreadable). Thread-safe.
  virtual Result<KubeApiAnswer> post(const std::string& path, const std::string& json) = 0;
};

struct KubeApiClientOptions {
  /// "https://host[:port]" (port 443 by default), IPv6 in brackets.
  std::string url{};
  /// PEM bundle the API server's certificate must chain to; empty: the system's CAs.
  std::filesystem::path ca_file{};
  /// The agent's own bearer token (its service account's); re-read when older than
  /// token_max_age (projected tokens rotate) and after a 401. Empty: no token.
  std::filesystem::path token_file{};
  std::chrono::seconds token_max_age{60};
  /// Deadline of one whole request.
  std::chrono::milliseconds timeout{3000};
  std::size_t max_body_bytes = std::size_t{1} << 20;
  const Clock* clock = nullptr;  // systemClock() when null
};

/// An error for a URL it cannot use or a CA file it cannot load.
Result<std::unique_ptr<KubeApi>> makeKubeApiClient(KubeApiClientOptions options);

/// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (IPv6 in brackets); "" when
/// KUBERNETES_SERVICE_HOST is not set (not in a pod).
std::string inClusterApiUrl();

/// The CA bundle of the cluster that a pod gets with its service-account token.
inline constexpr const char* kServiceAccountCaFile =
    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

}  // namespace podnetstat::k8s
