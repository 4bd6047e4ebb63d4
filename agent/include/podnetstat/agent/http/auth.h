#pragma once

// Bearer-token access control of the API listener (`--auth`): who may read what.
//
//  - `static:<file>`: a file of tokens, each with a user name and the paths it may read (outside
//    Kubernetes); re-read when it changes.
//  - `tokenreview`: the Kubernetes API server says who a token belongs to (TokenReview) and
//    whether that user may `get` the virtual resource of the path (SubjectAccessReview, RBAC):
//    group podnetstat.io, resource nodes, subresource `metrics` for /metrics and `api` for
//    every other path, name = the node's name. Decisions are cached for a short time.
//
// requireBearerAuth() puts an Authorizer in front of a handler: no or a malformed
// "Authorization: Bearer" -> 401 with WWW-Authenticate; a token nobody knows -> 401; a known user
// without the right -> 403; no decision possible (API server down, token file broken) -> 503.

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/http/http_message.h"
#include "podnetstat/k8s/access_review.h"
#include "podnetstat/k8s/clock.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

enum class AuthOutcome { Allowed, Unauthenticated, Forbidden, Unavailable };

struct AuthDecision {
  AuthOutcome outcome = AuthOutcome::Unavailable;
  std::string user;    // who the token belongs to, when known
  std::string reason;  // why not (for the log and the error body)
};

/// Decides whether a bearer token may read a path. Implementations are thread-safe and never
/// throw.
class Authorizer {
 public:
  virtual ~Authorizer() = default;
  /// `path` without the query.
  virtual AuthDecision check(std::string_view token, std::string_view path) = 0;
};

/// One line of a static token file.
struct StaticToken {
  std::string token;
  std::string user;
  /// Paths it may read: "/" everything; an entry ending in '/' every path under it; any other
  /// entry that exact path. Empty in the file means "/".
  std::vector<std::string> paths;
};

/// Parses a static token file: one `token,user[,path[;path...]]` per line; blank lines and lines
/// starting with '#' are skipped, white space around fields is ignored. An error (with the line
/// number, never the token) for a malformed line, a path not starting with '/', or a token given
/// twice.
Result<std::vector<StaticToken>> parseStaticTokens(std::string_view text);

/// Whether `path` is one of `allowed` (rules of StaticToken::paths).
bool pathAllowed(const std::vector<std::string>& allowed, std::string_view path);

/// `--auth static:<file>`. The file is re-read when its inode, size or modification time
/// changes; while it is unreadable or malformed every request gets 503 (fail closed: a broken
/// edit never keeps a removed token alive), and an error is logged. An error when the first read
/// fails.
Result<std::shared_ptr<Authorizer>> makeStaticTokenAuthorizer(std::filesystem::path file);

/// The virtual resource RBAC is asked about for `path` on node `node`: verb get, group
/// podnetstat.io, resource nodes, subresource "metrics" for /metrics and "api" otherwise, name
/// `node`.
k8s::ResourceAttributes accessAttributes(std::string_view path, std::string_view node);

struct KubeAccessOptions {
  std::shared_ptr<k8s::KubeApi> api{};
  std::string node_name{};
  /// How long an answer (allowed, unknown token, forbidden) is reused for the same token and
  /// subresource. API server failures are never cached.
  std::chrono::milliseconds cache_ttl{30000};
  /// Cached decisions at most; the oldest go first.
  std::size_t cache_entries = 1024;
  /// Reviews waiting for the API server at once; more requests get 503 at once rather than tie
  /// up the HTTP threads (and the health answers with them) while the API server is slow.
  std::size_t max_in_flight = 2;
  const k8s::Clock* clock = nullptr;  // systemClock() when null
};

/// `--auth tokenreview`: TokenReview, then SubjectAccessReview on accessAttributes().
std::shared_ptr<Authorizer> makeKubeAccessAuthorizer(KubeAccessOptions options);

/// `inner`, for requests that `authorizer` allows; the others get the 401/403/503 answers above.
HttpHandler requireBearerAuth(HttpHandler inner, std::shared_ptr<Authorizer> authorizer);

/// The token of an "Authorization: Bearer <token>" field (scheme case-insensitive); "" when the
/// field is empty, another scheme, or malformed.
std::string_view bearerToken(std::string_view authorization);

}  // namespace podnetstat::agent
