#pragma once

// Which podnetstat agent answers for a node, from `kubectl get pods -o json` of the agent
// namespace (the chart's labels select them): pure functions over the PodList, so that every
// answer (none on the node, not Ready, several, being replaced) is tested on canned lists.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

/// The chart's API port (values.yaml api.port), when the pod names none.
inline constexpr std::uint16_t kDefaultAgentPort = 9180;

/// One agent pod.
struct AgentPod {
  std::string name;
  std::string namespace_name;
  std::string node;
  std::string instance;   // label app.kubernetes.io/instance: the Helm release
  std::string daemonset;  // the owning DaemonSet ("" when none)
  std::string created;    // metadata.creationTimestamp (RFC 3339: orders as text)
  bool ready = false;     // condition Ready is True
  bool deleting = false;  // metadata.deletionTimestamp is set
  std::string phase;
  /// Why it is not Ready, from its container statuses ("CrashLoopBackOff: ...").
  std::string not_ready_reason;
  std::uint16_t api_port = kDefaultAgentPort;  // the container port named "api"
  /// Remote mode: the agent serves HTTPS with bearer tokens (its args have --tls-cert).
  bool tls = false;
};

/// A pod whose sockets are asked for.
struct TargetPod {
  std::string namespace_name;
  std::string name;
  std::string node;  // spec.nodeName; "" while not scheduled
  std::string phase;
};

/// The agents of a PodList (`kubectl get pods -o json`).
Result<std::vector<AgentPod>> parseAgentPods(const nlohmann::json& pod_list);

/// The pods of a PodList, or the one pod of a Pod object.
Result<std::vector<TargetPod>> parseTargetPods(const nlohmann::json& pods);

/// Where the agents were looked for, for messages.
struct AgentSearch {
  std::string namespace_name;
  std::string selector;
};

/// The agent that answers for `node`: the Ready one not being deleted; when several releases
/// have one there, an error that names them (choose one with --agent-selector). Errors name the
/// node and say what to check: no agent there (the DaemonSet's nodeSelector or tolerations, the
/// namespace, the selector), or the agent not Ready (its phase and container state).
Result<AgentPod> agentForNode(const std::vector<AgentPod>& agents,
                              const std::string& node,
                              const AgentSearch& search);

/// The nodes that run an agent, sorted, each once.
std::vector<std::string> agentNodes(const std::vector<AgentPod>& agents);

}  // namespace podnetstat::agent::plugin
