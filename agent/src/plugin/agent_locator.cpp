#include "podnetstat/agent/plugin/agent_locator.h"

#include <algorithm>

namespace podnetstat::agent::plugin {
namespace {

using nlohmann::json;

const json& at(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) {
    return kNull;
  }
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

std::string text(const json& j, const char* key) {
  const json& v = at(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

/// Why a pod that is not Ready is not: the first container state that says.
std::string notReadyReason(const json& pod) {
  const json& status = at(pod, "status");
  for (const char* list : {"initContainerStatuses", "containerStatuses"}) {
    for (const json& c : at(status, list).is_array() ? at(status, list) : json::array()) {
      const json& state = at(c, "state");
      for (const char* kind : {"waiting", "terminated"}) {
        const json& s = at(state, kind);
        if (s.is_object()) {
          std::string reason = text(s, "reason");
          const std::string message = text(s, "message");
          if (!message.empty()) {
            reason += (reason.empty() ? "" : ": ") + message;
          }
          if (!reason.empty()) {
            return "container " + text(c, "name") + " " + kind + ": " + reason;
          }
        }
      }
      if (at(c, "ready") == false && at(state, "running").is_object()) {
        return "container " + text(c, "name") +
               " running but not ready (its /readyz: no scan yet?)";
      }
    }
  }
  for (const json& cond :
       at(status, "conditions").is_array() ? at(status, "conditions") : json::array()) {
    if (text(cond, "status") != "True" && !text(cond, "message").empty()) {
      return text(cond, "type") + ": " + text(cond, "message");
    }
  }
  return "";
}

AgentPod agentOf(const json& pod) {
  AgentPod a;
  const json& meta = at(pod, "metadata");
  const json& spec = at(pod, "spec");
  const json& status = at(pod, "status");
  a.name = text(meta, "name");
  a.namespace_name = text(meta, "namespace");
  a.instance = text(at(meta, "labels"), "app.kubernetes.io/instance");
  a.created = text(meta, "creationTimestamp");
  a.deleting = at(meta, "deletionTimestamp").is_string();
  for (const json& owner :
       at(meta, "ownerReferences").is_array() ? at(meta, "ownerReferences") : json::array()) {
    if (text(owner, "kind") == "DaemonSet") {
      a.daemonset = text(owner, "name");
    }
  }
  a.node = text(spec, "nodeName");
  a.phase = text(status, "phase");
  for (const json& cond :
       at(status, "conditions").is_array() ? at(status, "conditions") : json::array()) {
    if (text(cond, "type") == "Ready") {
      a.ready = text(cond, "status") == "True";
    }
  }
  for (const json& c : at(spec, "containers").is_array() ? at(spec, "containers") : json::array()) {
    for (const json& p : at(c, "ports").is_array() ? at(c, "ports") : json::array()) {
      const json& number = at(p, "containerPort");
      if (text(p, "name") == "api" && number.is_number_integer() && number.get<int>() > 0 &&
          number.get<int>() <= 65535) {
        a.api_port = static_cast<std::uint16_t>(number.get<int>());
      }
    }
    for (const json& arg : at(c, "args").is_array() ? at(c, "args") : json::array()) {
      if (arg.is_string() && arg.get<std::string>().starts_with("--tls-cert")) {
        a.tls = true;
      }
    }
  }
  if (!a.ready) {
    a.not_ready_reason = notReadyReason(pod);
  }
  return a;
}

std::string describe(const AgentPod& a) {
  return a.namespace_name + "/" + a.name;
}

}  // namespace

Result<std::vector<AgentPod>> parseAgentPods(const json& pod_list) {
  const json& items = at(pod_list, "items");
  if (!items.is_array()) {
    return Error{"not a PodList: no items"};
  }
  std::vector<AgentPod> out;
  for (const json& pod : items) {
    out.push_back(agentOf(pod));
  }
  return out;
}

Result<std::vector<TargetPod>> parseTargetPods(const json& pods) {
  std::vector<TargetPod> out;
  const auto add = [&](const json& pod) {
    const json& meta = at(pod, "metadata");
    out.push_back({text(meta, "namespace"), text(meta, "name"), text(at(pod, "spec"), "nodeName"),
                   text(at(pod, "status"), "phase")});
  };
  if (text(pods, "kind") == "Pod") {
    add(pods);
    return out;
  }
  const json& items = at(pods, "items");
  if (!items.is_array()) {
    return Error{"neither a Pod nor a PodList"};
  }
  for (const json& pod : items) {
    add(pod);
  }
  return out;
}

Result<AgentPod> agentForNode(const std::vector<AgentPod>& agents,
                              const std::string& node,
                              const AgentSearch& search) {
  std::vector<const AgentPod*> here;
  for (const AgentPod& a : agents) {
    if (a.node == node) {
      here.push_back(&a);
    }
  }
  const std::string where =
      "namespace " + search.namespace_name + " (selector " + search.selector + ")";
  if (here.empty()) {
    return Error{"no podnetstat agent runs on node " + node + ": no pod of " + where +
                 " is there. Is the DaemonSet kept off the node (its nodeSelector, affinity or "
                 "tolerations), or the agent in another namespace (--agent-namespace) or "
                 "release (--agent-selector)?"};
  }
  std::vector<const AgentPod*> ready;
  for (const AgentPod* a : here) {
    if (a->ready && !a->deleting) {
      ready.push_back(a);
    }
  }
  if (ready.empty()) {
    const AgentPod& a = *here.front();
    return Error{"the podnetstat agent on node " + node + ", pod " + describe(a) +
                 ", is not Ready (" + (a.deleting ? "being deleted" : "phase " + a.phase) +
                 (a.not_ready_reason.empty() ? "" : "; " + a.not_ready_reason) +
                 "): kubectl describe pod -n " + a.namespace_name + " " + a.name};
  }
  std::vector<std::string> releases;
  for (const AgentPod* a : ready) {
    if (std::ranges::find(releases, a->instance) == releases.end()) {
      releases.push_back(a->instance);
    }
  }
  if (releases.size() > 1) {
    std::string names;
    for (const auto& r : releases) {
      names += (names.empty() ? "" : ", ") + r;
    }
    return Error{"several podnetstat releases run an agent on node " + node + " (" + names +
                 "): choose one with --agent-selector app.kubernetes.io/instance=RELEASE"};
  }
  // One release: during a rollout the newest Ready pod.
  return **std::ranges::max_element(ready, {}, [](const AgentPod* a) { return a->created; });
}

std::vector<std::string> agentNodes(const std::vector<AgentPod>& agents) {
  std::vector<std::string> nodes;
  for (const AgentPod& a : agents) {
    if (!a.node.empty()) {
      nodes.push_back(a.node);
    }
  }
  std::ranges::sort(nodes);
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  return nodes;
}

}  // namespace podnetstat::agent::plugin
