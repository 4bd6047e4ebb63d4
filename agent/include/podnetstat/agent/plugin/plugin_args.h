#pragma once

// The command line of `kubectl podnetstat`: kubectl's conventions (-n, -A, -l, -o, --context and
// the other flags kubectl itself takes, passed on to every kubectl it runs) mixed with netstat's
// flags, which `podnetstat list` parses. Where the two share a letter, the argument's shape
// decides:
//   -n NS (alone, with a value) is the namespace; inside a bundle (-tlnp) it is netstat's -n;
//   -o json|yaml|wide (alone with such a value, -ojson, -o=json) is the output; in a bundle
//     (-tanpo) it is netstat's timers;
//   -l WORD (alone, followed by a word, for pods) is the label selector; otherwise, and always
//     for `node` and `listeners`, netstat's listening sockets;
//   -A inet|inet6|unix (a family list) is netstat's; -A otherwise is --all-namespaces.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "podnetstat/agent/cli/list_command.h"
#include "podnetstat/agent/plugin/agent_session.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

enum class PluginCommand : std::uint8_t {
  Pod,        // kubectl podnetstat POD | -l SELECTOR
  Node,       // kubectl podnetstat node NODE... | --all-nodes
  Listeners,  // kubectl podnetstat listeners NODE... | --all-nodes
  Help,
  Version,
};

enum class OutputKind : std::uint8_t { Table, Wide, Json, Yaml };

struct PluginArgs {
  PluginCommand command = PluginCommand::Pod;
  std::vector<std::string> names;             // the pod (one), or the nodes
  std::optional<std::string> namespace_name;  // -n, --namespace
  bool all_namespaces = false;                // -A, --all-namespaces
  std::optional<std::string> selector;        // -l, --selector (pods)
  bool all_nodes = false;                     // --all-nodes
  OutputKind output = OutputKind::Table;      // -o
  /// netstat's flags, as `podnetstat list` reads them (the table, mode, transports, -i/-r/-s/-g).
  ListArgs netstat;
  /// listeners: --exposure (a comma list of loopback, pod, node) and --undeclared.
  std::optional<std::string> exposure;
  bool undeclared = false;
  /// Flags for kubectl itself (--context=..., --kubeconfig=..., --as=...), in their order.
  std::vector<std::string> kubectl_args;
  std::string agent_namespace = "podnetstat";
  std::string agent_selector = "app.kubernetes.io/name=podnetstat";
  AgentAccess access;
  std::string token_file;  // --agent-token-file (read by the command)
  std::size_t max_forwards = 4;
  std::chrono::milliseconds timeout{30000};  // per node; also bounds each kubectl get
};

/// Parses argv (argv[0] is the program). Errors name the argument at fault.
Result<PluginArgs> parsePluginArgs(int argc, char** argv);

/// `kubectl podnetstat --help`.
const char* pluginUsage();

}  // namespace podnetstat::agent::plugin
