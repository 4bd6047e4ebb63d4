#pragma once

// `kubectl podnetstat`: the port-forward + curl workflow of docs/deploy.md as one command.
//   1. Which pods (kubectl get pod / get pods -l) and which nodes they are on, or which nodes.
//   2. The agents: kubectl get pods in the agent namespace by the chart's labels; one per node.
//   3. Per node, at most --max-forwards at once, each within --timeout: kubectl port-forward to
//      the node's agent, GET the route that answers (the pod's sockets or netstat view, the
//      node's sockets, its listeners), end the forward.
//   4. The answers merged in node order and printed as netstat's tables, the agent's own table
//      (-o wide), or one JSON/YAML array whose rows carry their node; the nodes that failed on
//      stderr, and exit status 1 when any did.

#include <string>

#include "podnetstat/agent/plugin/plugin_args.h"

namespace podnetstat::agent::plugin {

/// The query string (without '?') of a socket list for netstat's flags: transport when not all,
/// listening=true for -l, listening=false without -l or -a, and `format`.
std::string socketQuery(const ListArgs& netstat, const char* format);

/// The query of the listeners route: exposure, declared=false (--undeclared), namespace,
/// transport, format.
std::string listenerQuery(const PluginArgs& args, const char* format);

/// The command line's work; returns the exit status. Expects installInterruptHandler() to have
/// run.
int runPlugin(int argc, char** argv);

}  // namespace podnetstat::agent::plugin
