#pragma once

// A session with one podnetstat agent: `kubectl port-forward` to its API port, then requests
// over the forward, plain HTTP or, when the agent runs in remote mode (HTTPS and bearer tokens),
// HTTPS verifying the name its certificate carries, with the user's token. Ending the session
// ends the forward.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "podnetstat/agent/plugin/agent_locator.h"
#include "podnetstat/agent/plugin/kubectl.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

/// How to reach agents in remote mode (ignored by agents that serve plain HTTP on loopback).
struct AgentAccess {
  std::string token;    // bearer token; "" = none
  std::string ca_file;  // the CA of the agents' certificate
  /// The name to verify; "" = the Service the chart names: <daemonset>.<namespace>.svc.
  std::string server_name;
  bool insecure_skip_verify = false;
  /// The agents' API port, when not the pod's port named "api".
  std::optional<std::uint16_t> port;
};

/// The body of an agent's error answer ({"error":{"message":...}}), or the body itself.
std::string agentErrorMessage(unsigned status, const std::string& body);

class AgentSession {
 public:
  /// Forwards a local port to `agent` and prepares the client (the TLS context in remote mode).
  static Result<std::unique_ptr<AgentSession>> open(const Kubectl& kubectl,
                                                    const AgentPod& agent,
                                                    const AgentAccess& access,
                                                    Deadline deadline);

  ~AgentSession();
  AgentSession(const AgentSession&) = delete;
  AgentSession& operator=(const AgentSession&) = delete;

  /// GET `target` (path and query). The body of a 200 answer; any other answer is an error
  /// saying what it means (401: a token is needed; 403: the token's user lacks the RBAC; the
  /// agent's own message otherwise); a failed exchange says what kubectl port-forward reported.
  Result<std::string> get(const std::string& target, Deadline deadline);

  const AgentPod& agent() const { return agent_; }

 private:
  AgentSession(AgentPod agent,
               AgentAccess access,
               std::unique_ptr<PortForward> forward,
               std::unique_ptr<boost::asio::ssl::context> tls);

  AgentPod agent_;
  AgentAccess access_;
  std::unique_ptr<PortForward> forward_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace podnetstat::agent::plugin
