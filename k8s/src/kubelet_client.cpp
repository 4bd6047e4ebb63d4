// GET /pods on the kubelet over httpsExchange (one request on a fresh connection, bounded
// by the timeout as a whole), with the bearer token re-read as it rotates.

#include "kubelet_client.h"

#include <utility>

namespace podnetstat::k8s {
namespace {

/// What a kubelet's 401/403 means for the operator.
constexpr const char* kUnauthorizedHint =
    "the bearer token was not accepted (is the token file current, and does the kubelet run "
    "with --authentication-token-webhook?)";
constexpr const char* kForbiddenHint =
    "the service account needs get on nodes/pods (nodes/proxy before Kubernetes 1.33: the Helm "
    "chart grants it with rbac.kubeletProxyFallback=true)";

/// How one GET /pods goes: its deadline, its size limit, and what a failure says.
HttpsExchangeOptions exchangeOptions(const KubeletClientOptions& options) {
  auto exchange = serverExchangeOptions(
      "kubelet", options.url, options.ca_file,
      "give the kubelet's CA with --kubelet-ca, or --kubelet-insecure-skip-verify", options.timeout,
      options.max_body_bytes);
  exchange.verify_host = !options.insecure_skip_verify;
  return exchange;
}

}  // namespace

std::optional<KubeletUrl> parseKubeletUrl(const std::string& url) {
  return parseHttpsUrl(url, "10250", "10255");
}

std::string defaultKubeletUrl(const std::string& host_ip) {
  if (host_ip.empty()) {
    return {};
  }
  const bool v6 = host_ip.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + host_ip + "]" : host_ip) + ":10250";
}

Result<std::unique_ptr<KubeletApi>> makeKubeletClient(KubeletClientOptions options) {
  auto url = parseKubeletUrl(options.url);
  if (!url) {
    return Error{"kubelet URL \"" + options.url + "\": expected https://host[:port] or http://..."};
  }
  auto tls =
      makeClientTlsContext(options.ca_file.string(), options.insecure_skip_verify, "kubelet");
  if (!tls) {
    return tls.error();
  }
  return std::unique_ptr<KubeletApi>(
      std::make_unique<BeastKubeletClient>(std::move(options), std::move(*url), std::move(*tls)));
}

BeastKubeletClient::BeastKubeletClient(KubeletClientOptions options,
                                       KubeletUrl url,
                                       std::unique_ptr<boost::asio::ssl::context> tls)
    : options_(std::move(options)),
      client_(std::move(url),
              std::move(tls),
              exchangeOptions(options_),
              options_.token_file,
              options_.token_max_age,
              options_.clock,
              "kubelet") {}

BeastKubeletClient::~BeastKubeletClient() = default;

Result<std::string> BeastKubeletClient::getPods() {
  const std::string target = client_.url().path_prefix + "/pods";
  auto answer = client_.send({.method = "GET", .target = target});
  if (!answer) {
    return answer.error();
  }
  const std::string what = "kubelet " + options_.url + target + " answered " +
                           std::to_string(answer->status) +
                           (answer->reason.empty() ? "" : " " + answer->reason);
  switch (answer->status) {
    case 200:
      return std::move(answer->body);
    case 401:
      return Error{what + ": " + kUnauthorizedHint};
    case 403:
      return Error{what + ": " + kForbiddenHint +
                   (answer->body.empty() ? "" : " [" + bodySnippet(answer->body) + "]")};
    default:
      return Error{what + (answer->body.empty() ? "" : ": " + bodySnippet(answer->body))};
  }
}

}  // namespace podnetstat::k8s
