#include "podnetstat/agent/plugin/agent_session.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "podnetstat/k8s/https_exchange.h"

namespace podnetstat::agent::plugin {
namespace {

std::chrono::milliseconds remaining(Deadline deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return std::max(left, std::chrono::milliseconds(1));
}

}  // namespace

std::string agentErrorMessage(unsigned status, const std::string& body) {
  const auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object() &&
      parsed["error"].contains("message") && parsed["error"]["message"].is_string()) {
    return parsed["error"]["message"].get<std::string>();
  }
  return k8s::bodySnippet(body).empty() ? "HTTP " + std::to_string(status) : k8s::bodySnippet(body);
}

Result<std::unique_ptr<AgentSession>> AgentSession::open(const Kubectl& kubectl,
                                                         const AgentPod& agent,
                                                         const AgentAccess& access,
                                                         Deadline deadline) {
  std::unique_ptr<boost::asio::ssl::context> tls;
  if (agent.tls) {
    if (access.ca_file.empty() && !access.insecure_skip_verify) {
      return Error{"the agent " + agent.namespace_name + "/" + agent.name +
                   " serves HTTPS (remote mode): give --agent-ca FILE, the CA of its certificate "
                   "(or --agent-insecure-skip-tls-verify), and --agent-token-file FILE"};
    }
    auto context = k8s::makeClientTlsContext(access.ca_file, access.insecure_skip_verify, "agent");
    if (!context) {
      return context.error();
    }
    tls = std::move(*context);
  }
  auto forward = kubectl.portForward(agent.namespace_name, agent.name,
                                     access.port.value_or(agent.api_port), deadline);
  if (!forward) {
    return forward.error();
  }
  return std::unique_ptr<AgentSession>(
      new AgentSession(agent, access, std::move(*forward), std::move(tls)));
}

AgentSession::AgentSession(AgentPod agent,
                           AgentAccess access,
                           std::unique_ptr<PortForward> forward,
                           std::unique_ptr<boost::asio::ssl::context> tls)
    : agent_(std::move(agent)),
      access_(std::move(access)),
      forward_(std::move(forward)),
      tls_(std::move(tls)) {}

AgentSession::~AgentSession() {
  forward_->stop();
}

Result<std::string> AgentSession::get(const std::string& target, Deadline deadline) {
  k8s::HttpsUrl url;
  url.tls = tls_ != nullptr;
  url.host = "127.0.0.1";
  url.port = std::to_string(forward_->localPort());
  k8s::HttpsRequest request;
  request.target = target;
  request.bearer = access_.token;
  k8s::HttpsExchangeOptions options;
  options.timeout = remaining(deadline);
  options.verify_host = !access_.insecure_skip_verify;
  options.server_name = access_.server_name.empty()
                            ? (agent_.daemonset.empty() ? agent_.instance : agent_.daemonset) +
                                  "." + agent_.namespace_name + ".svc"
                            : access_.server_name;
  options.where = "GET " + target + " from agent " + agent_.namespace_name + "/" + agent_.name;
  options.verify_hint =
      "the certificate must name " + options.server_name + ": --agent-server-name, --agent-ca";
  auto answer = k8s::httpsExchange(url, tls_.get(), request, options);
  if (!answer) {
    const std::string forwarded = forward_->errors();
    return Error{answer.error().message +
                 (forwarded.empty() ? std::string() : "; kubectl port-forward: " + forwarded)};
  }
  if (answer->status == 200) {
    return std::move(answer->body);
  }
  const std::string message = agentErrorMessage(answer->status, answer->body);
  std::string what = options.where + ": " + std::to_string(answer->status) + " " + message;
  if (answer->status == 401) {
    what += access_.token.empty()
                ? " (remote mode needs a bearer token: --agent-token-file FILE or --agent-token)"
                : " (the API server did not accept the token)";
  } else if (answer->status == 403) {
    what +=
        " (the token's user needs RBAC get on podnetstat.io nodes/api: bind the release's "
        "-reader ClusterRole)";
  }
  return Error{what};
}

}  // namespace podnetstat::agent::plugin
