#include "podnetstat/agent/plugin/plugin_args.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <string_view>

#include "podnetstat/agent/api/api_server.h"

namespace podnetstat::agent::plugin {
namespace {

constexpr const char* kUsage =
    "kubectl podnetstat: a pod's sockets, as netstat inside it prints them, from the podnetstat\n"
    "agent on the pod's node (reached through kubectl port-forward), and the listeners of every\n"
    "node in one table.\n"
    "\n"
    "usage:\n"
    "  kubectl podnetstat POD [-n NAMESPACE] [netstat flags] [-o wide|json|yaml]\n"
    "  kubectl podnetstat -l SELECTOR [-n NAMESPACE | -A] [netstat flags] [-o ...]\n"
    "  kubectl podnetstat POD -i|-r|-s|-g [-a] [-4|-6] [-o json|yaml]\n"
    "  kubectl podnetstat node NODE... | --all-nodes [netstat flags] [-o ...]\n"
    "  kubectl podnetstat listeners NODE... | --all-nodes [--exposure pod,node] [--undeclared]\n"
    "                   [-n NAMESPACE] [-t|-u|...] [-o wide|json|yaml]\n"
    "\n"
    "examples:\n"
    "  kubectl podnetstat web-0 -n shop -tlnp        # the pod's TCP listeners, as netstat -tlnp\n"
    "  kubectl podnetstat web-0 -n shop -tanpo       # every TCP socket, with processes and "
    "timers\n"
    "  kubectl podnetstat web-0 -n shop -rn          # its routes\n"
    "  kubectl podnetstat node worker-1 -tlnp        # every listener of the node, with pods\n"
    "  kubectl podnetstat listeners --all-nodes --undeclared   # reachable ports no pod spec "
    "declares\n"
    "\n"
    "netstat flags (net-tools netstat's; output is always numeric, as with -n):\n"
    "  -t -u -U -w -x      TCP, UDP, UDP-Lite, raw, unix (default: all)\n"
    "  -4 -6, -A inet|inet6|unix\n"
    "  -l | -a             listening sockets only | all (default: the others)\n"
    "  -e -p -o -W         User and Inode, PID/Program name, Timer, no truncation\n"
    "  -i [-a] | -r | -s | -g   interfaces, routes, protocol counters, multicast groups of the "
    "pod\n"
    "  -n NS is the namespace, but -n inside a bundle (-tlnp) is netstat's; -o json|yaml|wide is\n"
    "  the output, but -o in a bundle (-tanpo) is netstat's timers (also --timers); -l WORD after\n"
    "  a pod is kubectl's label selector, a lone -l or one in a bundle netstat's listening flag.\n"
    "\n"
    "kubectl flags:\n"
    "  -n, --namespace NS  the pod's namespace (default: the context's)\n"
    "  -A, --all-namespaces  with -l: pods of every namespace\n"
    "  -l, --selector SEL  every pod the label selector matches, each from its node's agent\n"
    "  -o, --output F      wide: the agent's own table (?format=table: Netns and Pod columns,\n"
    "                      -anpe's columns); json, yaml: one array of the agents' objects, each "
    "with\n"
    "                      the node it came from\n"
    "  --context, --kubeconfig, --cluster, --user, --as, --as-group, --as-uid, --server,\n"
    "  --token, --certificate-authority, --client-certificate, --client-key, --tls-server-name,\n"
    "  --insecure-skip-tls-verify, --request-timeout: passed to every kubectl the plugin runs\n"
    "\n"
    "listeners:\n"
    "  --all-nodes         every node that runs an agent (or name NODEs)\n"
    "  --exposure LIST     loopback, pod, node (comma list; default all)\n"
    "  --undeclared        only listeners no containerPort of their pod declares\n"
    "\n"
    "agents (the chart's DaemonSet):\n"
    "  --agent-namespace NS      where the agents run (default podnetstat)\n"
    "  --agent-selector SEL      their labels (default app.kubernetes.io/name=podnetstat)\n"
    "  --agent-port PORT         their API port (default: the pod's port named api, else 9180)\n"
    "  --max-forwards N          port-forwards open at once over many nodes (default 4)\n"
    "  --timeout D               per node, and per kubectl call (default 30s)\n"
    "  remote mode (the chart's remote.enabled: HTTPS and bearer tokens):\n"
    "  --agent-token-file FILE, --agent-token TOKEN   a token whose user may get podnetstat.io\n"
    "                            nodes/api (the release's -reader ClusterRole)\n"
    "  --agent-ca FILE           the CA of the agents' certificate\n"
    "  --agent-server-name NAME  the name it carries (default <daemonset>.<namespace>.svc)\n"
    "  --agent-insecure-skip-tls-verify\n"
    "\n"
    "RBAC: get and list pods in the agent namespace and in the pods' namespaces, and create\n"
    "pods/portforward in the agent namespace (docs/deploy.md, \"kubectl podnetstat\").\n"
    "kubectl is $KUBECTL, else kubectl in $PATH. Exit status: 0; 1 when a pod, node or agent "
    "failed\n"
    "(the others are still printed); 2 for a bad command line; 128+N on signal N.\n";

// Letters netstat takes without a value (its other modes' letters too, so that `podnetstat
// list` refuses them by name).
constexpr std::string_view kNetstatLetters = "aelnoptuUwWx46vcdgirsCFMNSVZ2f";

constexpr std::array<std::string_view, 3> kOutputs = {"wide", "json", "yaml"};

constexpr std::array<std::string_view, 16> kKubectlValueFlags = {"context",
                                                                 "kubeconfig",
                                                                 "cluster",
                                                                 "user",
                                                                 "as",
                                                                 "as-group",
                                                                 "as-uid",
                                                                 "server",
                                                                 "token",
                                                                 "certificate-authority",
                                                                 "client-certificate",
                                                                 "client-key",
                                                                 "tls-server-name",
                                                                 "request-timeout",
                                                                 "cache-dir",
                                                                 "password"};

constexpr std::array<std::string_view, 20> kNetstatLongFlags = {
    "tcp",           "udp",    "udplite",   "raw",    "unix",    "inet",          "ip",
    "tcpip",         "inet6",  "listening", "all",    "numeric", "numeric-hosts", "numeric-ports",
    "numeric-users", "extend", "programs",  "timers", "wide",    "verbose"};

bool isNetstatBundle(std::string_view letters) {
  return !letters.empty() && std::ranges::all_of(letters, [](char c) {
    return kNetstatLetters.find(c) != std::string_view::npos;
  });
}

bool isFamilyList(std::string_view list) {
  while (true) {
    const auto comma = list.find(',');
    const std::string_view f = list.substr(0, comma);
    if (f != "inet" && f != "inet6" && f != "unix" && f != "ip" && f != "ip6" && f != "tcpip") {
      return false;
    }
    if (comma == std::string_view::npos) {
      return true;
    }
    list.remove_prefix(comma + 1);
  }
}

Result<OutputKind> parseOutput(std::string_view value) {
  if (value == "wide") {
    return OutputKind::Wide;
  }
  if (value == "json") {
    return OutputKind::Json;
  }
  if (value == "yaml") {
    return OutputKind::Yaml;
  }
  return Error{"-o: '" + std::string(value) + "' is not wide, json or yaml"};
}

template <class Int>
Result<Int> parseCount(std::string_view flag, std::string_view value, Int min, Int max) {
  Int n{};
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || n < min ||
      n > max) {
    return Error{std::string(flag) + ": '" + std::string(value) + "' is not a number from " +
                 std::to_string(min) + " to " + std::to_string(max)};
  }
  return n;
}

/// Walks the arguments; what is netstat's goes to `netstat` for parseListArgs().
class Parser {
 public:
  Parser(std::vector<std::string> args, PluginArgs& out) : args_(std::move(args)), out_(out) {}

  Result<std::vector<std::string>> run() {
    std::vector<std::string> netstat{"list"};
    if (i_ < args_.size()) {
      static constexpr std::array<std::pair<std::string_view, PluginCommand>, 5> kCommands = {{
          {"pod", PluginCommand::Pod},
          {"node", PluginCommand::Node},
          {"listeners", PluginCommand::Listeners},
          {"help", PluginCommand::Help},
          {"version", PluginCommand::Version},
      }};
      for (const auto& [word, command] : kCommands) {
        if (args_[i_] == word) {
          out_.command = command;
          ++i_;
          break;
        }
      }
    }
    bool positional_only = false;
    for (; i_ < args_.size(); ++i_) {
      const std::string& a = args_[i_];
      if (positional_only || a.size() < 2 || a[0] != '-') {
        out_.names.push_back(a);
      } else if (a == "--") {
        positional_only = true;
      } else if (a.starts_with("--")) {
        if (auto r = longFlag(a.substr(2), netstat); !r) {
          return r.error();
        }
      } else if (auto r = shortFlag(a, netstat); !r) {
        return r.error();
      }
    }
    return netstat;
  }

 private:
  /// The value of a flag: after '=' in the argument, else the next argument.
  Result<std::string> value(std::string_view flag, std::optional<std::string_view> inline_value) {
    if (inline_value) {
      return std::string(*inline_value);
    }
    if (i_ + 1 >= args_.size()) {
      return Error{std::string(flag) + " needs a value"};
    }
    return args_[++i_];
  }

  std::optional<std::string> peek() const {
    return i_ + 1 < args_.size() ? std::optional<std::string>(args_[i_ + 1]) : std::nullopt;
  }

  Result<Ok> longFlag(std::string_view body, std::vector<std::string>& netstat) {
    const auto eq = body.find('=');
    const std::string_view name = body.substr(0, eq);
    const std::optional<std::string_view> inline_value =
        eq == std::string_view::npos ? std::nullopt : std::optional(body.substr(eq + 1));
    const std::string flag = "--" + std::string(name);
    const auto take = [&](auto&& apply) -> Result<Ok> {
      auto v = value(flag, inline_value);
      if (!v) {
        return v.error();
      }
      return apply(*v);
    };
    const auto set = [&](auto& target) {
      return take([&](const std::string& v) -> Result<Ok> {
        target = v;
        return Ok{};
      });
    };
    const auto boolean = [&](bool& target) -> Result<Ok> {
      if (inline_value) {
        return Error{flag + " takes no value"};
      }
      target = true;
      return Ok{};
    };
    if (name == "namespace") {
      return set(out_.namespace_name);
    }
    if (name == "selector") {
      return set(out_.selector);
    }
    if (name == "output") {
      return take([&](const std::string& v) -> Result<Ok> {
        auto f = parseOutput(v);
        if (!f) {
          return f.error();
        }
        out_.output = *f;
        return Ok{};
      });
    }
    if (name == "all-namespaces") {
      return boolean(out_.all_namespaces);
    }
    if (name == "all-nodes") {
      return boolean(out_.all_nodes);
    }
    if (name == "undeclared") {
      return boolean(out_.undeclared);
    }
    if (name == "exposure") {
      return set(out_.exposure);
    }
    if (name == "help") {
      out_.command = PluginCommand::Help;
      return Ok{};
    }
    if (name == "agent-namespace") {
      return set(out_.agent_namespace);
    }
    if (name == "agent-selector") {
      return set(out_.agent_selector);
    }
    if (name == "agent-token") {
      return set(out_.access.token);
    }
    if (name == "agent-token-file") {
      return set(out_.token_file);
    }
    if (name == "agent-ca") {
      return set(out_.access.ca_file);
    }
    if (name == "agent-server-name") {
      return set(out_.access.server_name);
    }
    if (name == "agent-insecure-skip-tls-verify") {
      return boolean(out_.access.insecure_skip_verify);
    }
    if (name == "agent-port") {
      return take([&](const std::string& v) -> Result<Ok> {
        auto port = parseCount<unsigned>(flag, v, 1, 65535);
        if (!port) {
          return port.error();
        }
        out_.access.port = static_cast<std::uint16_t>(*port);
        return Ok{};
      });
    }
    if (name == "max-forwards") {
      return take([&](const std::string& v) -> Result<Ok> {
        auto n = parseCount<std::size_t>(flag, v, 1, 256);
        if (!n) {
          return n.error();
        }
        out_.max_forwards = *n;
        return Ok{};
      });
    }
    if (name == "timeout") {
      return take([&](const std::string& v) -> Result<Ok> {
        auto d = parseDuration(v);
        if (!d) {
          return Error{flag + ": " + d.error().message};
        }
        out_.timeout = *d;
        return Ok{};
      });
    }
    if (std::ranges::find(kKubectlValueFlags, name) != kKubectlValueFlags.end()) {
      return take([&](const std::string& v) -> Result<Ok> {
        out_.kubectl_args.push_back(flag + "=" + v);
        return Ok{};
      });
    }
    if (name == "insecure-skip-tls-verify") {
      out_.kubectl_args.push_back("--" + std::string(body));
      return Ok{};
    }
    if (std::ranges::find(kNetstatLongFlags, name) != kNetstatLongFlags.end() && !inline_value) {
      netstat.push_back(flag);
      return Ok{};
    }
    if (name == "protocol") {
      return take([&](const std::string& v) -> Result<Ok> {
        netstat.insert(netstat.end(), {"-A", v});
        return Ok{};
      });
    }
    return Error{"unknown flag " + flag + " (kubectl podnetstat --help)"};
  }

  Result<Ok> shortFlag(const std::string& a, std::vector<std::string>& netstat) {
    const char letter = a[1];
    std::string_view rest = std::string_view(a).substr(2);
    const bool has_eq = rest.starts_with('=');
    const std::string_view after_eq = has_eq ? rest.substr(1) : rest;
    switch (letter) {
      case 'n':
        if (rest.empty()) {
          auto v = value("-n", std::nullopt);
          if (!v) {
            return v.error();
          }
          out_.namespace_name = *v;
          return Ok{};
        }
        if (has_eq || !isNetstatBundle(rest)) {
          out_.namespace_name = std::string(after_eq);
          return Ok{};
        }
        break;
      case 'o':
        if (rest.empty()) {
          const auto next = peek();
          if (!next || std::ranges::find(kOutputs, *next) == kOutputs.end()) {
            return Error{
                "-o needs an output format: wide, json or yaml (netstat's timers: "
                "--timers, or -o in a bundle such as -tanpo)"};
          }
          ++i_;
          out_.output = *parseOutput(*next);
          return Ok{};
        }
        if (has_eq || std::ranges::find(kOutputs, rest) != kOutputs.end()) {
          auto f = parseOutput(after_eq);
          if (!f) {
            return f.error();
          }
          out_.output = *f;
          return Ok{};
        }
        break;
      case 'l':
        if (has_eq) {
          out_.selector = std::string(after_eq);
          return Ok{};
        }
        if (rest.empty() && out_.command == PluginCommand::Pod) {
          const auto next = peek();
          if (next && !next->empty() && (*next)[0] != '-') {
            out_.selector = *next;
            ++i_;
            return Ok{};
          }
        }
        break;
      case 'A':
        if (rest.empty()) {
          const auto next = peek();
          if (next && isFamilyList(*next)) {
            netstat.insert(netstat.end(), {"-A", *next});
            ++i_;
          } else {
            out_.all_namespaces = true;
          }
          return Ok{};
        }
        netstat.push_back(a);
        return Ok{};
      case 'h':
        if (rest.empty()) {
          out_.command = PluginCommand::Help;
          return Ok{};
        }
        break;
      default:
        break;
    }
    if (!isNetstatBundle(std::string_view(a).substr(1))) {
      return Error{"unknown flag " + a + " (kubectl podnetstat --help)"};
    }
    netstat.push_back(a);
    return Ok{};
  }

  std::vector<std::string> args_;
  PluginArgs& out_;
  std::size_t i_ = 0;
};

Result<Ok> validateExposure(const std::string& list) {
  std::string_view rest = list;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    if (item != "loopback" && item != "pod" && item != "node") {
      return Error{"--exposure: '" + std::string(item) + "' is not loopback, pod or node"};
    }
    if (comma == std::string_view::npos) {
      return Ok{};
    }
    rest.remove_prefix(comma + 1);
  }
}

Result<Ok> validate(PluginArgs& a) {
  const bool view = a.netstat.view.has_value();
  switch (a.command) {
    case PluginCommand::Help:
    case PluginCommand::Version:
      return Ok{};
    case PluginCommand::Pod:
      if (a.names.size() > 1) {
        return Error{"one pod at a time (or -l SELECTOR for several): '" + a.names[1] + "'"};
      }
      if (a.names.empty() == !a.selector.has_value()) {
        return Error{a.names.empty() ? "which pod? kubectl podnetstat POD [-n NAMESPACE], or -l "
                                       "SELECTOR (kubectl podnetstat --help)"
                                     : "a pod name and -l SELECTOR: give one of them"};
      }
      if (!a.names.empty() && a.names[0].starts_with("pod/")) {
        a.names[0].erase(0, 4);
      }
      if (a.all_namespaces && !a.selector) {
        return Error{"-A (all namespaces) needs -l SELECTOR"};
      }
      if (a.all_namespaces && a.namespace_name) {
        return Error{"-A and -n: give one of them"};
      }
      if (view && (a.netstat.stats_tcp || a.netstat.stats_udp) &&
          a.netstat.view == NetView::Stats) {
        return Error{
            "-s with -t or -u: the agent answers every counter of the pod; leave -t/-u out"};
      }
      break;
    case PluginCommand::Node:
    case PluginCommand::Listeners:
      if (a.names.empty() == !a.all_nodes) {
        return Error{a.all_nodes ? "--all-nodes and node names: give one of them"
                                 : "which nodes? NODE... or --all-nodes"};
      }
      if (view) {
        return Error{"-i, -r, -s and -g are per pod: kubectl podnetstat POD -i"};
      }
      if (a.selector) {
        return Error{"-l SELECTOR selects pods: kubectl podnetstat -l SELECTOR"};
      }
      if (a.all_namespaces && a.namespace_name) {
        return Error{"-A and -n: give one of them"};
      }
      break;
  }
  if (a.command != PluginCommand::Listeners && (a.exposure || a.undeclared)) {
    return Error{"--exposure and --undeclared are for kubectl podnetstat listeners"};
  }
  if (a.command != PluginCommand::Pod && a.command != PluginCommand::Listeners &&
      a.namespace_name) {
    return Error{"-n NAMESPACE: a node's sockets are every namespace's"};
  }
  if (a.exposure) {
    if (auto r = validateExposure(*a.exposure); !r) {
      return r.error();
    }
  }
  if (!a.access.token.empty() && !a.token_file.empty()) {
    return Error{"--agent-token and --agent-token-file: give one of them"};
  }
  return Ok{};
}

}  // namespace

Result<PluginArgs> parsePluginArgs(int argc, char** argv) {
  PluginArgs out;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    return Error{
        "which pod? kubectl podnetstat POD [-n NAMESPACE] [netstat flags] "
        "(kubectl podnetstat --help)"};
  }
  Parser parser(std::move(args), out);
  auto netstat = parser.run();
  if (!netstat) {
    return netstat.error();
  }
  if (out.command == PluginCommand::Help || out.command == PluginCommand::Version) {
    return out;
  }
  std::vector<char*> cargv;
  for (auto& s : *netstat) {
    cargv.push_back(s.data());
  }
  cargv.push_back(nullptr);
  auto list = parseListArgs(static_cast<int>(cargv.size() - 1), cargv.data());
  if (!list) {
    return list.error();
  }
  if (list->help) {
    out.command = PluginCommand::Help;
    return out;
  }
  out.netstat = std::move(*list);
  if (auto r = validate(out); !r) {
    return r.error();
  }
  return out;
}

const char* pluginUsage() {
  return kUsage;
}

}  // namespace podnetstat::agent::plugin
