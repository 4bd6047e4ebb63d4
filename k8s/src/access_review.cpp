// TokenReview and SubjectAccessReview bodies and answers (the shapes of
// authentication.k8s.io/v1 and authorization.k8s.io/v1), and the API server client that POSTs
// them over httpsExchange with the agent's own service-account token.

#include "podnetstat/k8s/access_review.h"

#include <cstdlib>
#include <mutex>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "podnetstat/k8s/https_exchange.h"

#include "json_fields.h"

namespace podnetstat::k8s {
namespace {

using detail::arrayAt;
using detail::boolAt;
using detail::objectAt;
using detail::stringAt;
using nlohmann::json;

constexpr const char* kAuthenticationApi = "authentication.k8s.io/v1";
constexpr const char* kAuthorizationApi = "authorization.k8s.io/v1";

/// The document, when it is a JSON object of `kind` in `api_version`.
Result<json> parseObject(std::string_view body, const char* api_version, const char* kind) {
  json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return Error{std::string("not a ") + kind + " (not a JSON object): " + bodySnippet(body)};
  }
  const std::string got_kind = stringAt(doc, "kind");
  const std::string got_api = stringAt(doc, "apiVersion");
  if (got_kind != kind || got_api != api_version) {
    return Error{std::string("expected a ") + kind + " of " + api_version + ", got kind '" +
                 got_kind + "' of '" + got_api + "'"};
  }
  return doc;
}

std::vector<std::string> strings(const json& array) {
  std::vector<std::string> out;
  for (const auto& v : array) {
    if (v.is_string()) {
      out.push_back(v.get<std::string>());
    }
  }
  return out;
}

/// How one review goes: its deadline, its size limit, and what a failure says.
HttpsExchangeOptions exchangeOptions(const KubeApiClientOptions& options) {
  return serverExchangeOptions("API server", options.url, options.ca_file,
                               "give the API server's CA with --kube-api-ca", options.timeout,
                               options.max_body_bytes);
}

class BeastKubeApiClient final : public KubeApi {
 public:
  BeastKubeApiClient(KubeApiClientOptions options,
                     HttpsUrl url,
                     std::unique_ptr<boost::asio::ssl::context> tls)
      : options_(std::move(options)),
        client_(std::move(url),
                std::move(tls),
                exchangeOptions(options_),
                options_.token_file,
                options_.token_max_age,
                options_.clock,
                "API server") {}

  std::string endpoint() const override { return options_.url; }

  Result<KubeApiAnswer> post(const std::string& path, const std::string& json_body) override {
    // The SSL context is shared by concurrent requests: OpenSSL allows that once it is set up.
    auto answer = client_.send(
        {.method = "POST", .target = client_.url().path_prefix + path, .body = json_body});
    if (!answer) {
      return answer.error();
    }
    return KubeApiAnswer{answer->status, std::move(answer->body)};
  }

 private:
  KubeApiClientOptions options_;
  BearerHttpsClient client_;
};

}  // namespace

std::string tokenReviewRequest(std::string_view token) {
  json doc = {{"apiVersion", kAuthenticationApi},
              {"kind", "TokenReview"},
              {"spec", {{"token", std::string(token)}}}};
  return doc.dump();
}

Result<TokenReviewStatus> parseTokenReview(std::string_view body) {
  auto doc = parseObject(body, kAuthenticationApi, "TokenReview");
  if (!doc) {
    return doc.error();
  }
  const json& status = objectAt(*doc, "status");
  TokenReviewStatus out;
  out.authenticated = boolAt(status, "authenticated");
  out.error = stringAt(status, "error");
  const json& user = objectAt(status, "user");
  out.user.username = stringAt(user, "username");
  out.user.uid = stringAt(user, "uid");
  out.user.groups = strings(arrayAt(user, "groups"));
  for (const auto& [key, values] : objectAt(user, "extra").items()) {
    if (values.is_array()) {
      out.user.extra[key] = strings(values);
    }
  }
  if (out.authenticated && out.user.username.empty()) {
    return Error{"TokenReview: authenticated without a user name"};
  }
  return out;
}

std::string subjectAccessReviewRequest(const UserInfo& user, const ResourceAttributes& attributes) {
  json resource = {
      {"verb", attributes.verb}, {"group", attributes.group}, {"resource", attributes.resource}};
  if (!attributes.subresource.empty()) {
    resource["subresource"] = attributes.subresource;
  }
  if (!attributes.name.empty()) {
    resource["name"] = attributes.name;
  }
  if (!attributes.namespace_.empty()) {
    resource["namespace"] = attributes.namespace_;
  }
  json spec = {{"resourceAttributes", resource}, {"user", user.username}};
  if (!user.uid.empty()) {
    spec["uid"] = user.uid;
  }
  if (!user.groups.empty()) {
    spec["groups"] = user.groups;
  }
  if (!user.extra.empty()) {
    spec["extra"] = user.extra;
  }
  json doc = {{"apiVersion", kAuthorizationApi}, {"kind", "SubjectAccessReview"}, {"spec", spec}};
  return doc.dump();
}

Result<AccessReviewStatus> parseSubjectAccessReview(std::string_view body) {
  auto doc = parseObject(body, kAuthorizationApi, "SubjectAccessReview");
  if (!doc) {
    return doc.error();
  }
  const json& status = objectAt(*doc, "status");
  AccessReviewStatus out;
  out.allowed = boolAt(status, "allowed");
  out.denied = boolAt(status, "denied");
  out.reason = stringAt(status, "reason");
  out.evaluation_error = stringAt(status, "evaluationError");
  if (out.denied) {
    out.allowed = false;  // "denied" wins (the API says both may not be true)
  }
  return out;
}

Result<std::unique_ptr<KubeApi>> makeKubeApiClient(KubeApiClientOptions options) {
  auto url = parseHttpsUrl(options.url, "443", "80");
  if (!url || !url->tls) {
    // Never http: the agent's own token and the clients' tokens travel in these requests.
    return Error{"API server URL \"" + options.url + "\": expected https://host[:port]"};
  }
  auto tls = makeClientTlsContext(options.ca_file.string(), false, "API server");
  if (!tls) {
    return tls.error();
  }
  return std::unique_ptr<KubeApi>(
      std::make_unique<BeastKubeApiClient>(std::move(options), std::move(*url), std::move(*tls)));
}

std::string inClusterApiUrl() {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  if (host == nullptr || *host == '\0') {
    return {};
  }
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  const std::string h(host);
  const std::string p = port != nullptr && *port != '\0' ? port : "443";
  return "https://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + p;
}

}  // namespace podnetstat::k8s
