#include "podnetstat/agent/http/auth.h"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <list>
#include <mutex>
#include <optional>
#include <sstream>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <spdlog/spdlog.h>

#include "podnetstat/agent/json/json_write.h"

namespace podnetstat::agent {

namespace {

constexpr const char* kTokenReviewPath = "/apis/authentication.k8s.io/v1/tokenreviews";
constexpr const char* kAccessReviewPath = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
constexpr auto kUnavailableLogEvery = std::chrono::seconds(10);

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

/// SHA-256 of a token: tokens are looked up and cached by their digest, never kept as they came.
std::string digest(std::string_view token) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), out, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string pathOf(std::string_view target) {
  return std::string(target.substr(0, target.find('?')));
}

/// Logs at most once per kUnavailableLogEvery (an API server outage would otherwise log once per
/// request).
class ThrottledLog {
 public:
  void error(const std::string& message) {
    const auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    auto last = last_.load(std::memory_order_relaxed);
    const auto every =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(kUnavailableLogEvery)
            .count();
    if (last != 0 && now - last < every) {
      return;
    }
    if (last_.compare_exchange_strong(last, now)) {
      spdlog::error("auth: {}", message);
    }
  }

 private:
  std::atomic<std::chrono::steady_clock::rep> last_{0};
};

// ---------------------------------------------------------------------------------------------
// static:<file>

class StaticTokenAuthorizer final : public Authorizer {
 public:
  explicit StaticTokenAuthorizer(std::filesystem::path file) : file_(std::move(file)) {}

  /// Reads the file if it changed; an error describing why it cannot be used.
  Result<Ok> refresh() {
    const auto state = stateOf();
    const std::lock_guard lock(mu_);
    if (loaded_once_ && state == state_) {
      return error_.empty() ? Result<Ok>(Ok{}) : Result<Ok>(Error{error_});
    }
    state_ = state;
    loaded_once_ = true;
    std::ifstream in(file_, std::ios::binary);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) {
      error_ = "cannot read the token file " + file_.string();
      tokens_.clear();
      return Error{error_};
    }
    auto parsed = parseStaticTokens(text.str());
    if (!parsed) {
      error_ = "token file " + file_.string() + ": " + parsed.error().message;
      tokens_.clear();
      return Error{error_};
    }
    tokens_.clear();
    for (auto& entry : *parsed) {
      tokens_.emplace(digest(entry.token), Entry{std::move(entry.user), std::move(entry.paths)});
    }
    if (!error_.empty()) {
      spdlog::info("auth: token file {} is usable again", file_.string());
    }
    error_.clear();
    spdlog::info("auth: {} token(s) from {}", tokens_.size(), file_.string());
    return Ok{};
  }

  AuthDecision check(std::string_view token, std::string_view path) override {
    if (auto fresh = refresh(); !fresh) {
      log_.error(fresh.error().message + " (every request is refused with 503 until it is fixed)");
      return {AuthOutcome::Unavailable, {}, "the token file cannot be used"};
    }
    const std::lock_guard lock(mu_);
    const auto it = tokens_.find(digest(token));
    if (it == tokens_.end()) {
      return {AuthOutcome::Unauthenticated, {}, "unknown token"};
    }
    if (!pathAllowed(it->second.paths, path)) {
      return {AuthOutcome::Forbidden, it->second.user,
              "user \"" + it->second.user + "\" may not read " + std::string(path)};
    }
    return {AuthOutcome::Allowed, it->second.user, {}};
  }

 private:
  struct Entry {
    std::string user;
    std::vector<std::string> paths;
  };

  struct FileState {
    std::uint64_t inode = 0;
    std::int64_t size = -1;
    std::int64_t mtime_ns = 0;
    bool operator==(const FileState&) const = default;
  };

  FileState stateOf() const {
    struct stat st {};

    if (::stat(file_.c_str(), &st) != 0) {
      return {};
    }
    return {st.st_ino, st.st_size,
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec};
  }

  std::filesystem::path file_;
  std::mutex mu_;
  bool loaded_once_ = false;
  FileState state_;
  std::string error_;
  std::unordered_map<std::string, Entry> tokens_;  // by SHA-256 of the token
  ThrottledLog log_;
};

// ---------------------------------------------------------------------------------------------
// tokenreview

/// Decisions by (token digest, subresource), each for a while; the oldest go first when full.
class DecisionCache {
 public:
  DecisionCache(std::size_t capacity, std::chrono::milliseconds ttl)
      : capacity_(std::max<std::size_t>(capacity, 1)), ttl_(ttl) {}

  std::optional<AuthDecision> find(const std::string& key,
                                   std::chrono::steady_clock::time_point now) {
    const std::lock_guard lock(mu_);
    const auto it = entries_.find(key);
    if (it == entries_.end()) {
      return std::nullopt;
    }
    if (now >= it->second.expires) {
      order_.erase(it->second.position);
      entries_.erase(it);
      return std::nullopt;
    }
    return it->second.decision;
  }

  void put(const std::string& key,
           AuthDecision decision,
           std::chrono::steady_clock::time_point now) {
    if (ttl_.count() <= 0) {
      return;
    }
    const std::lock_guard lock(mu_);
    if (auto it = entries_.find(key); it != entries_.end()) {
      order_.erase(it->second.position);
      entries_.erase(it);
    }
    while (entries_.size() >= capacity_) {
      entries_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(key);
    entries_.emplace(key, Entry{std::move(decision), now + ttl_, std::prev(order_.end())});
  }

 private:
  struct Entry {
    AuthDecision decision;
    std::chrono::steady_clock::time_point expires;
    std::list<std::string>::iterator position;
  };

  std::size_t capacity_;
  std::chrono::milliseconds ttl_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> order_;  // oldest first
};

class KubeAccessAuthorizer final : public Authorizer {
 public:
  explicit KubeAccessAuthorizer(KubeAccessOptions options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &k8s::systemClock()),
        cache_(options_.cache_entries, options_.cache_ttl) {}

  AuthDecision check(std::string_view token, std::string_view path) override {
    const k8s::ResourceAttributes attributes = accessAttributes(path, options_.node_name);
    std::string key = digest(token);
    key += '\n';
    key += attributes.subresource;
    if (auto cached = cache_.find(key, clock_->steadyNow())) {
      return *cached;
    }
    if (in_flight_.fetch_add(1) >= options_.max_in_flight) {
      in_flight_.fetch_sub(1);
      return {AuthOutcome::Unavailable, {}, "too many access reviews in progress"};
    }
    AuthDecision decision = review(token, attributes);
    in_flight_.fetch_sub(1);
    if (decision.outcome != AuthOutcome::Unavailable) {
      cache_.put(key, decision, clock_->steadyNow());
    }
    return decision;
  }

 private:
  AuthDecision unavailable(const std::string& why) {
    log_.error(why);
    return {AuthOutcome::Unavailable, {}, "the API server could not be asked"};
  }

  /// POSTs a review; the body of a 200/201 answer, or why there is none.
  Result<std::string> ask(const char* path, const std::string& body, const char* kind) {
    auto answer = options_.api->post(path, body);
    if (!answer) {
      return answer.error();
    }
    if (answer->status != 200 && answer->status != 201) {
      std::string hint;
      if (answer->status == 401) {
        hint = " (the agent's own service-account token was not accepted)";
      } else if (answer->status == 403) {
        hint = std::string(" (the agent's service account needs create on ") + kind + ")";
      }
      std::string snippet = answer->body.substr(0, 200);
      return Error{std::string(kind) + ": API server " + options_.api->endpoint() + " answered " +
                   std::to_string(answer->status) + hint + ": " + snippet};
    }
    return std::move(answer->body);
  }

  AuthDecision review(std::string_view token, const k8s::ResourceAttributes& attributes) {
    auto authn = ask(kTokenReviewPath, k8s::tokenReviewRequest(token), "tokenreviews");
    if (!authn) {
      return unavailable(authn.error().message);
    }
    auto who = k8s::parseTokenReview(*authn);
    if (!who) {
      return unavailable("tokenreviews: " + who.error().message);
    }
    if (!who->authenticated) {
      return {AuthOutcome::Unauthenticated,
              {},
              who->error.empty() ? "token not accepted" : "token not accepted: " + who->error};
    }
    auto authz = ask(kAccessReviewPath, k8s::subjectAccessReviewRequest(who->user, attributes),
                     "subjectaccessreviews");
    if (!authz) {
      return unavailable(authz.error().message);
    }
    auto access = k8s::parseSubjectAccessReview(*authz);
    if (!access) {
      return unavailable("subjectaccessreviews: " + access.error().message);
    }
    if (!access->allowed) {
      std::string reason = "user \"" + who->user.username + "\" may not get " + attributes.group +
                           " " + attributes.resource + "/" + attributes.subresource + " \"" +
                           attributes.name + "\"";
      return {AuthOutcome::Forbidden, who->user.username, std::move(reason)};
    }
    return {AuthOutcome::Allowed, who->user.username, {}};
  }

  KubeAccessOptions options_;
  const k8s::Clock* clock_;
  DecisionCache cache_;
  std::atomic<std::size_t> in_flight_{0};
  ThrottledLog log_;
};

}  // namespace

Result<std::vector<StaticToken>> parseStaticTokens(std::string_view text) {
  std::vector<StaticToken> out;
  std::unordered_set<std::string> seen;
  std::size_t line_number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    ++line_number;
    line = trim(line);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    const auto bad = [&](const std::string& why) {
      return Error{"line " + std::to_string(line_number) + ": " + why +
                   " (expected token,user[,path[;path...]])"};
    };
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    for (;;) {
      const std::size_t comma = line.find(',', start);
      fields.push_back(trim(line.substr(start, comma - start)));
      if (comma == std::string_view::npos) {
        break;
      }
      start = comma + 1;
    }
    if (fields.size() < 2 || fields.size() > 3) {
      return bad("expected 2 or 3 comma-separated fields, got " + std::to_string(fields.size()));
    }
    StaticToken entry{std::string(fields[0]), std::string(fields[1]), {}};
    if (entry.token.empty() || entry.token.find_first_of(" \t") != std::string::npos) {
      return bad("empty token or white space in it");
    }
    if (entry.user.empty()) {
      return bad("empty user");
    }
    if (fields.size() == 3) {
      std::string_view paths = fields[2];
      while (!paths.empty()) {
        const std::size_t semi = paths.find(';');
        const std::string_view p = trim(paths.substr(0, semi));
        paths.remove_prefix(semi == std::string_view::npos ? paths.size() : semi + 1);
        if (p.empty()) {
          continue;
        }
        if (p.front() != '/') {
          return bad("path '" + std::string(p) + "' does not start with '/'");
        }
        entry.paths.emplace_back(p);
      }
    }
    if (entry.paths.empty()) {
      entry.paths.emplace_back("/");
    }
    if (!seen.insert(entry.token).second) {
      return bad("this token is already on an earlier line");
    }
    out.push_back(std::move(entry));
  }
  return out;
}

bool pathAllowed(const std::vector<std::string>& allowed, std::string_view path) {
  for (const auto& rule : allowed) {
    if (rule.ends_with('/') ? path.starts_with(rule) : path == rule) {
      return true;
    }
  }
  return false;
}

Result<std::shared_ptr<Authorizer>> makeStaticTokenAuthorizer(std::filesystem::path file) {
  auto authorizer = std::make_shared<StaticTokenAuthorizer>(std::move(file));
  if (auto loaded = authorizer->refresh(); !loaded) {
    return loaded.error();
  }
  return std::shared_ptr<Authorizer>(std::move(authorizer));
}

k8s::ResourceAttributes accessAttributes(std::string_view path, std::string_view node) {
  k8s::ResourceAttributes out;
  out.verb = "get";
  out.group = "podnetstat.io";
  out.resource = "nodes";
  out.subresource = path == "/metrics" ? "metrics" : "api";
  out.name = std::string(node);
  return out;
}

std::shared_ptr<Authorizer> makeKubeAccessAuthorizer(KubeAccessOptions options) {
  return std::make_shared<KubeAccessAuthorizer>(std::move(options));
}

std::string_view bearerToken(std::string_view authorization) {
  authorization = trim(authorization);
  constexpr std::string_view kScheme = "bearer";
  if (authorization.size() <= kScheme.size()) {
    return {};
  }
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kScheme[i]) {
      return {};
    }
  }
  std::string_view rest = authorization.substr(kScheme.size());
  if (rest.front() != ' ' && rest.front() != '\t') {
    return {};
  }
  rest = trim(rest);
  if (rest.empty() || rest.find_first_of(" \t") != std::string_view::npos) {
    return {};
  }
  return rest;
}

HttpHandler requireBearerAuth(HttpHandler inner, std::shared_ptr<Authorizer> authorizer) {
  return [inner = std::move(inner),
          authorizer = std::move(authorizer)](const HttpRequest& request) -> HttpResponse {
    const std::string_view token = bearerToken(request.authorization);
    if (token.empty()) {
      HttpResponse response = errorResponse(
          401, request.authorization.empty() ? "a bearer token is required"
                                             : "malformed Authorization field: expected Bearer");
      response.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="podnetstat")");
      return response;
    }
    const std::string path = pathOf(request.target);
    AuthDecision decision = authorizer->check(token, path);
    switch (decision.outcome) {
      case AuthOutcome::Allowed:
        if (spdlog::should_log(spdlog::level::debug)) {
          spdlog::debug("auth: {} may read {}", decision.user, path);
        }
        return inner(request);
      case AuthOutcome::Unauthenticated: {
        spdlog::debug("auth: {} {}: {}", request.method, path, decision.reason);
        HttpResponse response = errorResponse(401, "invalid bearer token");
        response.headers.emplace_back("WWW-Authenticate",
                                      R"(Bearer realm="podnetstat", error="invalid_token")");
        return response;
      }
      case AuthOutcome::Forbidden:
        spdlog::debug("auth: {} {}: {}", request.method, path, decision.reason);
        return errorResponse(403, "forbidden: " + decision.reason);
      case AuthOutcome::Unavailable:
        break;
    }
    HttpResponse response =
        errorResponse(503, "cannot check the credentials now: " + decision.reason);
    response.headers.emplace_back("Retry-After", "5");
    return response;
  };
}

}  // namespace podnetstat::agent
