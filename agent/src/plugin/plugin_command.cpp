#include "podnetstat/agent/plugin/plugin_command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include <nlohmann/json.hpp>

#include "podnetstat/agent/plugin/agent_locator.h"
#include "podnetstat/agent/plugin/agent_session.h"
#include "podnetstat/agent/plugin/fan_out.h"
#include "podnetstat/agent/plugin/kubectl.h"
#include "podnetstat/agent/plugin/plugin_output.h"
#include "podnetstat/agent/plugin/remote_sockets.h"
#include "podnetstat/k8s/https_exchange.h"

namespace podnetstat::agent::plugin {
namespace {

using json = nlohmann::ordered_json;

/// What the command needs on every step.
struct Context {
  const PluginArgs& args;
  Kubectl kubectl;
  AgentSearch search;
  std::vector<std::string> failures;  // for stderr, after the output

  Deadline deadline() const { return Clock::now() + args.timeout; }
};

void print(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

std::string transportList(const scanner::TransportSet& set) {
  std::string out;
  if (set == scanner::TransportSet::all()) {
    return out;
  }
  for (scanner::Transport t : scanner::kAllTransports) {
    if (set.contains(t)) {
      out += (out.empty() ? "" : ",") + std::string(scanner::transportName(t));
    }
  }
  return out;
}

void addParam(std::string& query, const std::string& name, const std::string& value) {
  query += (query.empty() ? "" : "&") + name + "=" + value;
}

/// -n NAMESPACE or -A, as kubectl takes them.
std::vector<std::string> namespaceArgs(const PluginArgs& a) {
  if (a.all_namespaces) {
    return {"-A"};
  }
  if (a.namespace_name) {
    return {"-n", *a.namespace_name};
  }
  return {};
}

/// The agents of the agent namespace, on one node or all.
Result<std::vector<AgentPod>> listAgents(Context& c, const std::string* node) {
  std::vector<std::string> args = {"get", "pods",           "-n", c.search.namespace_name,
                                   "-l",  c.search.selector};
  if (node != nullptr) {
    args.insert(args.end(), {"--field-selector", "spec.nodeName=" + *node});
  }
  auto list = c.kubectl.getJson(
      args, c.deadline(), "list the podnetstat agents in namespace " + c.search.namespace_name);
  if (!list) {
    return list.error();
  }
  return parseAgentPods(*list);
}

/// The object with "node" first.
json withNode(const std::string& node, const json& object) {
  json out = json::object();
  out["node"] = node;
  for (const auto& [key, value] : object.items()) {
    if (key != "node") {
      out[key] = value;
    }
  }
  return out;
}

/// The items of a socket list answer, parsed and rebuilt.
struct SocketAnswer {
  json items;
  RemoteSockets sockets;
};

Result<SocketAnswer> parseSocketAnswer(const std::string& body) {
  auto parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("items")) {
    return Error{"the agent's answer is not a list object: " + k8s::bodySnippet(body)};
  }
  auto sockets = socketsFromJson(parsed["items"]);
  if (!sockets) {
    return sockets.error();
  }
  return SocketAnswer{std::move(parsed["items"]), std::move(*sockets)};
}

/// The rows of `answer` that netstat with these flags prints, each with its node.
void appendSelectedRows(json& rows,
                        const std::string& node,
                        const SocketAnswer& answer,
                        const NetstatOptions& options) {
  for (std::size_t i = 0; i < answer.sockets.scan.sockets.size(); ++i) {
    const scanner::Socket& s = answer.sockets.scan.sockets[i];
    if (options.transports.contains(s.transport) && netstatSelects(s, options.mode)) {
      rows.push_back(withNode(node, answer.items[i]));
    }
  }
}

std::string structured(const PluginArgs& a, const json& value) {
  return a.output == OutputKind::Yaml ? toYaml(value) : toJson(value);
}

bool isStructured(const PluginArgs& a) {
  return a.output == OutputKind::Json || a.output == OutputKind::Yaml;
}

int finish(Context& c) {
  std::fflush(stdout);
  for (const auto& line : c.failures) {
    std::fprintf(stderr, "error: %s\n", line.c_str());
  }
  return c.failures.empty() ? 0 : 1;
}

// ---------------------------------------------------------------- pods

/// The path of a pod's route for the command line's view.
std::string podPath(const PluginArgs& a, const TargetPod& pod) {
  const std::string base = "/api/v1/namespaces/" + pod.namespace_name + "/pods/" + pod.name;
  const char* format = isStructured(a) ? "json" : "table";
  const ListArgs& n = a.netstat;
  if (!n.view) {
    return base + "/sockets?" + socketQuery(n, a.output == OutputKind::Wide ? "table" : "json");
  }
  std::string query = std::string("format=") + format;
  switch (*n.view) {
    case NetView::Interfaces:
      if (n.format.mode == ListMode::All) {
        addParam(query, "all", "true");
      }
      return base + "/interfaces?" + query;
    case NetView::Routes:
      if (n.ipv6_only) {
        addParam(query, "family", "inet6");
      }
      return base + "/routes?" + query;
    case NetView::Groups:
      if (n.ipv4_only != n.ipv6_only) {
        addParam(query, "family", n.ipv6_only ? "inet6" : "inet");
      }
      return base + "/groups?" + query;
    case NetView::Stats:
      break;
  }
  return base + "/stats?" + query;
}

Result<std::vector<TargetPod>> findPods(Context& c) {
  const PluginArgs& a = c.args;
  std::vector<std::string> get = {"get"};
  std::string what;
  if (a.selector) {
    get.insert(get.end(), {"pods", "-l", *a.selector});
    what = "pods with labels " + *a.selector;
  } else {
    get.insert(get.end(), {"pod", a.names.front()});
    what = "pod " + (a.namespace_name ? *a.namespace_name + "/" : std::string()) + a.names.front();
  }
  const auto ns = namespaceArgs(a);
  get.insert(get.end(), ns.begin(), ns.end());
  auto j = c.kubectl.getJson(get, c.deadline(), what);
  if (!j) {
    return j.error();
  }
  auto pods = parseTargetPods(*j);
  if (pods && pods->empty()) {
    return Error{"no pod matches -l " + *a.selector +
                 (a.all_namespaces   ? " in any namespace"
                  : a.namespace_name ? " in namespace " + *a.namespace_name
                                     : " in the context's namespace")};
  }
  return pods;
}

int runPods(Context& c) {
  const PluginArgs& a = c.args;
  auto pods = findPods(c);
  if (!pods) {
    c.failures.push_back(pods.error().message);
    return finish(c);
  }
  std::map<std::string, std::vector<std::size_t>> by_node;
  for (std::size_t i = 0; i < pods->size(); ++i) {
    const TargetPod& p = (*pods)[i];
    if (p.node.empty()) {
      c.failures.push_back("pod " + p.namespace_name + "/" + p.name +
                           " is not on a node yet (phase " + p.phase + ")");
    } else {
      by_node[p.node].push_back(i);
    }
  }
  std::vector<std::string> nodes;
  for (const auto& [node, _] : by_node) {
    nodes.push_back(node);
  }
  auto agents = nodes.size() == 1 ? listAgents(c, &nodes.front()) : listAgents(c, nullptr);
  if (!agents) {
    c.failures.push_back(agents.error().message);
    return finish(c);
  }
  std::vector<std::optional<Result<std::string>>> answers(pods->size());
  const auto results =
      forEachNode<Ok>(nodes, a.max_forwards, a.timeout,
                      [&](const std::string& node, Deadline deadline) -> Result<Ok> {
                        auto agent = agentForNode(*agents, node, c.search);
                        if (!agent) {
                          return agent.error();
                        }
                        auto session = AgentSession::open(c.kubectl, *agent, a.access, deadline);
                        if (!session) {
                          return session.error();
                        }
                        for (std::size_t i : by_node.at(node)) {
                          answers[i] = (*session)->get(podPath(a, (*pods)[i]), deadline);
                        }
                        return Ok{};
                      });
  for (const auto& r : results) {
    if (!r.value) {
      for (std::size_t i : by_node.at(r.node)) {
        answers[i] = r.value.error();
      }
    }
  }

  const bool several = a.selector.has_value();
  const bool sockets_view = !a.netstat.view.has_value();
  json rows = json::array();
  std::string text;
  for (std::size_t i = 0; i < pods->size(); ++i) {
    const TargetPod& p = (*pods)[i];
    const std::string label = "pod " + p.namespace_name + "/" + p.name;
    if (!answers[i]) {
      continue;  // not scheduled: reported above
    }
    if (!*answers[i]) {
      c.failures.push_back(label + " on node " + p.node + ": " + answers[i]->error().message);
      continue;
    }
    const std::string& body = answers[i]->value();
    std::string rendered;
    if (sockets_view && a.output != OutputKind::Wide) {
      auto answer = parseSocketAnswer(body);
      if (!answer) {
        c.failures.push_back(label + ": " + answer.error().message);
        continue;
      }
      if (isStructured(a)) {
        appendSelectedRows(rows, p.node, *answer, a.netstat.format);
        continue;
      }
      rendered = socketTable(answer->sockets, a.netstat.format, false);
    } else if (isStructured(a)) {
      auto parsed = json::parse(body, nullptr, false);
      if (parsed.is_discarded()) {
        c.failures.push_back(label + ": the agent's answer is not JSON");
        continue;
      }
      rows.push_back(withNode(p.node, parsed));
      continue;
    } else {
      rendered = body;
    }
    if (several) {
      text += (text.empty() ? "" : "\n") + std::string("Pod: ") + p.namespace_name + "/" + p.name +
              " (node " + p.node + ")\n";
    }
    text += rendered;
  }
  if (isStructured(a)) {
    // One pod's netstat view is one object; everything else one array.
    print(structured(a, !sockets_view && !several && rows.size() == 1 ? rows[0] : rows));
  } else {
    print(text);
  }
  return finish(c);
}

// ---------------------------------------------------------------- nodes and listeners

/// The nodes asked for, and their agents.
Result<std::pair<std::vector<std::string>, std::vector<AgentPod>>> nodesAndAgents(Context& c) {
  const PluginArgs& a = c.args;
  auto agents = (!a.all_nodes && a.names.size() == 1) ? listAgents(c, &a.names.front())
                                                      : listAgents(c, nullptr);
  if (!agents) {
    return agents.error();
  }
  std::vector<std::string> nodes = a.names;
  if (a.all_nodes) {
    nodes = agentNodes(*agents);
    if (nodes.empty()) {
      return Error{"no podnetstat agent in namespace " + c.search.namespace_name + " (selector " +
                   c.search.selector +
                   "): is podnetstat installed there (--agent-namespace, --agent-selector)?"};
    }
  }
  std::ranges::sort(nodes);
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  return std::pair{std::move(nodes), std::move(*agents)};
}

/// The answers of the nodes that answered, in node order; the others are in c.failures.
struct NodeAnswers {
  std::size_t asked = 0;
  std::vector<std::pair<std::string, std::string>> bodies;  // node, body
};

/// GET `target` from the agent of every node asked for, --max-forwards at a time.
NodeAnswers askNodes(Context& c, const std::string& target) {
  NodeAnswers out;
  auto found = nodesAndAgents(c);
  if (!found) {
    c.failures.push_back(found.error().message);
    return out;
  }
  const auto& [nodes, agents] = *found;
  out.asked = nodes.size();
  const auto results = forEachNode<std::string>(
      nodes, c.args.max_forwards, c.args.timeout,
      [&](const std::string& node, Deadline deadline) -> Result<std::string> {
        auto agent = agentForNode(agents, node, c.search);
        if (!agent) {
          return agent.error();
        }
        auto session = AgentSession::open(c.kubectl, *agent, c.args.access, deadline);
        if (!session) {
          return session.error();
        }
        return (*session)->get(target, deadline);
      });
  for (const auto& r : results) {
    if (r.value) {
      out.bodies.emplace_back(r.node, *r.value);
    } else {
      c.failures.push_back("node " + r.node + ": " + r.value.error().message);
    }
  }
  return out;
}

int runNodes(Context& c) {
  const PluginArgs& a = c.args;
  const NodeAnswers answers =
      askNodes(c, "/api/v1/sockets?" +
                      socketQuery(a.netstat, a.output == OutputKind::Wide ? "table" : "json"));
  json rows = json::array();
  std::string text;
  for (const auto& [node, body] : answers.bodies) {
    std::string rendered = body;
    if (a.output != OutputKind::Wide) {
      auto answer = parseSocketAnswer(body);
      if (!answer) {
        c.failures.push_back("node " + node + ": " + answer.error().message);
        continue;
      }
      if (isStructured(a)) {
        appendSelectedRows(rows, node, *answer, a.netstat.format);
        continue;
      }
      rendered = socketTable(answer->sockets, a.netstat.format, true);
    }
    if (answers.asked > 1) {
      text += (text.empty() ? "" : "\n") + std::string("Node: ") + node + "\n";
    }
    text += rendered;
  }
  print(isStructured(a) ? structured(a, rows) : text);
  return finish(c);
}

int runListeners(Context& c) {
  const PluginArgs& a = c.args;
  const NodeAnswers answers = askNodes(c, "/api/v1/listeners?" + listenerQuery(a, "json"));
  json rows = json::array();
  for (const auto& [node, body] : answers.bodies) {
    auto parsed = json::parse(body, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed["items"].is_array()) {
      c.failures.push_back("node " + node +
                           ": the agent's answer is not a list object: " + k8s::bodySnippet(body));
      continue;
    }
    for (const json& item : parsed["items"]) {
      rows.push_back(withNode(node, item));
    }
  }
  if (isStructured(a)) {
    print(structured(a, rows));
  } else if (auto table = listenerTable(rows, a.output == OutputKind::Wide)) {
    print(*table);
  } else {
    c.failures.push_back(table.error().message);
  }
  return finish(c);
}

}  // namespace

std::string socketQuery(const ListArgs& netstat, const char* format) {
  std::string query;
  const std::string transports = transportList(netstat.format.transports);
  if (!transports.empty()) {
    addParam(query, "transport", transports);
  }
  if (netstat.format.mode == ListMode::Servers) {
    addParam(query, "listening", "true");
  } else if (netstat.format.mode == ListMode::NonServers) {
    addParam(query, "listening", "false");
  }
  addParam(query, "format", format);
  return query;
}

std::string listenerQuery(const PluginArgs& args, const char* format) {
  std::string query;
  if (args.exposure) {
    addParam(query, "exposure", *args.exposure);
  }
  if (args.undeclared) {
    addParam(query, "declared", "false");
  }
  if (args.namespace_name) {
    addParam(query, "namespace", *args.namespace_name);
  }
  const std::string transports = transportList(args.netstat.format.transports);
  if (!transports.empty()) {
    addParam(query, "transport", transports);
  }
  addParam(query, "format", format);
  return query;
}

int runPlugin(int argc, char** argv) {
  auto parsed = parsePluginArgs(argc, argv);
  if (!parsed) {
    std::fprintf(stderr, "error: %s\n", parsed.error().message.c_str());
    return 2;
  }
  PluginArgs& a = *parsed;
  if (a.command == PluginCommand::Help) {
    std::fputs(pluginUsage(), stdout);
    return 0;
  }
  if (a.command == PluginCommand::Version) {
    std::printf("kubectl-podnetstat %s\n", PODNETSTAT_VERSION);
    return 0;
  }
  if (!a.token_file.empty()) {
    auto token = k8s::readTokenFile(a.token_file, "agent");
    if (!token) {
      std::fprintf(stderr, "error: %s\n", token.error().message.c_str());
      return 2;
    }
    a.access.token = *token;
  }
  KubectlOptions kubectl;
  if (const char* program = std::getenv("KUBECTL"); program != nullptr && *program != '\0') {
    kubectl.program = program;
  }
  kubectl.global_args = a.kubectl_args;
  Context c{a, Kubectl(std::move(kubectl)), AgentSearch{a.agent_namespace, a.agent_selector}, {}};
  switch (a.command) {
    case PluginCommand::Node:
      return runNodes(c);
    case PluginCommand::Listeners:
      return runListeners(c);
    default:
      return runPods(c);
  }
}

}  // namespace podnetstat::agent::plugin
