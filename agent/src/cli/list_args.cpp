// `podnetstat list`'s command line: net-tools netstat's flags (getopt_long, the same short and
// long options, the same defaults and table selection rules) plus namespace, backend and pod
// selection.

#include <getopt.h>

#include <charconv>
#include <cstring>
#include <string>
#include <string_view>

#include "podnetstat/agent/cli/list_command.h"

namespace podnetstat::agent {
namespace {

using scanner::Transport;

// getopt_long values of the long-only options.
enum LongOption : int {
  kNumericHosts = 256,
  kNumericPorts,
  kNumericUsers,
  kAllNetns,
  kNetns,
  kNetnsPid,
  kNoHost,
  kProcRoot,
  kNetnsDir,
  kJson,
  kBackend,
  kTcpInfo,
  kFamilyInet,
  kFamilyInet6,
  kFamilyUnix,
  kPods,
  kCriEndpoint,
  kKubeletUrl,
  kKubeletCa,
  kKubeletInsecure,
  kKubeletTokenFile,
};

// Short options: netstat's socket-listing flags, plus the ones of its other modes so that they
// can be refused by name instead of as unknown.
constexpr const char* kShortOptions = ":A:aelnoptuUwWx46vhcdgirsCFMNSVZ2f";

constexpr option kLongOptions[] = {
    {"protocol", required_argument, nullptr, 'A'},
    {"tcp", no_argument, nullptr, 't'},
    {"udp", no_argument, nullptr, 'u'},
    {"udplite", no_argument, nullptr, 'U'},
    {"raw", no_argument, nullptr, 'w'},
    {"unix", no_argument, nullptr, 'x'},
    {"inet", no_argument, nullptr, kFamilyInet},
    {"ip", no_argument, nullptr, kFamilyInet},
    {"tcpip", no_argument, nullptr, kFamilyInet},
    {"inet6", no_argument, nullptr, kFamilyInet6},
    {"listening", no_argument, nullptr, 'l'},
    {"all", no_argument, nullptr, 'a'},
    {"numeric", no_argument, nullptr, 'n'},
    {"numeric-hosts", no_argument, nullptr, kNumericHosts},
    {"numeric-ports", no_argument, nullptr, kNumericPorts},
    {"numeric-users", no_argument, nullptr, kNumericUsers},
    {"extend", no_argument, nullptr, 'e'},
    {"programs", no_argument, nullptr, 'p'},
    {"timers", no_argument, nullptr, 'o'},
    {"wide", no_argument, nullptr, 'W'},
    {"verbose", no_argument, nullptr, 'v'},
    {"help", no_argument, nullptr, 'h'},
    {"all-netns", no_argument, nullptr, kAllNetns},
    {"netns", required_argument, nullptr, kNetns},
    {"netns-pid", required_argument, nullptr, kNetnsPid},
    {"no-host", no_argument, nullptr, kNoHost},
    {"proc-root", required_argument, nullptr, kProcRoot},
    {"netns-dir", required_argument, nullptr, kNetnsDir},
    {"json", no_argument, nullptr, kJson},
    {"backend", required_argument, nullptr, kBackend},
    {"tcp-info", no_argument, nullptr, kTcpInfo},
    {"pods", no_argument, nullptr, kPods},
    {"cri-endpoint", required_argument, nullptr, kCriEndpoint},
    {"kubelet-url", required_argument, nullptr, kKubeletUrl},
    {"kubelet-ca", required_argument, nullptr, kKubeletCa},
    {"kubelet-insecure-skip-verify", no_argument, nullptr, kKubeletInsecure},
    {"kubelet-token-file", required_argument, nullptr, kKubeletTokenFile},
    {nullptr, 0, nullptr, 0},
};

constexpr const char* kListUsage =
    "usage: podnetstat list [-tuUwx46] [-A inet|inet6|unix] [-l|-a] [-n] [-e] [-p] [-o] [-W]\n"
    "                       [-i | -r | -g | -s]\n"
    "                       [--all-netns] [--netns NAME]... [--netns-pid PID]... [--no-host]\n"
    "                       [--json] [--proc-root DIR] [--netns-dir DIR]\n"
    "                       [--backend procfs|netlink|auto] [--tcp-info]\n"
    "                       [--pods [--cri-endpoint EP]\n"
    "                       [--kubelet-url URL] [--kubelet-ca FILE]\n"
    "                       [--kubelet-insecure-skip-verify] [--kubelet-token-file FILE]]\n"
    "\n"
    "Prints the socket tables of network namespaces exactly as net-tools netstat does.\n"
    "\n"
    "  -t, --tcp           TCP                  -u, --udp        UDP\n"
    "  -U, --udplite       UDP-Lite (not implied by -u)\n"
    "  -w, --raw           raw                  -x, --unix       unix\n"
    "  -4, -6, -A FAMILY   inet, inet6, unix (comma list); a family alone means all its protocols\n"
    "  -l, --listening     servers only         -a, --all        servers and the rest\n"
    "  -n, --numeric       numeric hosts, ports and users\n"
    "      --numeric-hosts, --numeric-ports, --numeric-users\n"
    "  -e, --extend        User and Inode columns\n"
    "  -p, --programs      PID/Program name column\n"
    "  -o, --timers        Timer column         -W, --wide       do not cut addresses\n"
    "\n"
    "Other netstat modes, per namespace (read from /proc/<pid>/net/ when asked):\n"
    "  -i                  interfaces (-a: down ones too); MTU and flags with --backend netlink\n"
    "  -r                  routes (-6 or -A inet6: the IPv6 table)\n"
    "  -g                  multicast group memberships (-4/-6 to restrict)\n"
    "  -s                  every protocol counter under the kernel's names, as nstat -az (-t, -u)\n"
    "\n"
    "Namespaces (default: the host's, i.e. PID 1's):\n"
    "      --all-netns     every namespace: all processes' and all names under the netns dir\n"
    "      --netns NAME    the namespace bind-mounted at <netns-dir>/NAME (repeatable)\n"
    "      --netns-pid PID the namespace of process PID (repeatable)\n"
    "      --no-host       leave the host namespace out (implied by --netns/--netns-pid\n"
    "                      without --all-netns)\n"
    "      --proc-root DIR where proc is mounted (default /proc)\n"
    "      --netns-dir DIR named namespaces (default /var/run/netns)\n"
    "      --json          a JSON array of the selected sockets instead of tables\n"
    "      --backend B     procfs (default: rows in the kernel's file order, as netstat),\n"
    "                      netlink (sock_diag from inside each namespace; needs CAP_SYS_ADMIN;\n"
    "                      also reads namespaces no process lives in), or auto\n"
    "      --tcp-info      under each TCP row, its tcp_info as `ss -tin` prints it (--json:\n"
    "                      tcpInfo); needs netlink (alone it implies --backend auto)\n"
    "\n"
    "Pods:\n"
    "      --pods          a Pod column (namespace/name, '-' for none) and, with several\n"
    "                      namespaces, a 'Pod:' line under each 'Netns:' line\n"
    "      --cri-endpoint EP  container runtime socket: auto (default), none, unix:///path\n"
    "      --kubelet-url URL  kubelet: auto (https://$HOST_IP:10250 when HOST_IP is set),\n"
    "                      none, or a URL\n"
    "      --kubelet-ca FILE, --kubelet-insecure-skip-verify, --kubelet-token-file FILE\n"
    "\n"
    "Several namespaces print one block each, opened by 'Netns: <name> (<inode>)'.\n";

struct ProtocolFlags {
  int tcp = 0;
  int udp = 0;
  int udplite = 0;
  int raw = 0;
  int unx = 0;
  int inet = 0;
  int inet6 = 0;
};

/// net-tools aftrans_opt(): a comma list of address families.
Result<Ok> addFamilies(std::string_view list, ProtocolFlags& flags) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view family = list.substr(0, comma);
    if (family == "inet" || family == "ip" || family == "tcpip") {
      ++flags.inet;
    } else if (family == "inet6" || family == "ip6") {
      ++flags.inet6;
    } else if (family == "unix") {
      ++flags.unx;
    } else {
      return Error{"unknown or unsupported address family '" + std::string(family) +
                       "' (supported: inet, inet6, unix)",
                   ErrorKind::Invalid};
    }
    if (comma == std::string_view::npos) {
      return Ok{};
    }
    list.remove_prefix(comma + 1);
  }
}

Result<std::int32_t> parsePid(std::string_view text) {
  std::int32_t pid = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc() || end != text.data() + text.size() || pid <= 0) {
    return Error{"--netns-pid needs a process ID, not '" + std::string(text) + "'",
                 ErrorKind::Invalid};
  }
  return pid;
}

/// netstat main(): which tables a protocol/family combination selects.
void applyProtocolFlags(ProtocolFlags f, NetstatOptions& format) {
  const bool any_inet_protocol = f.tcp || f.udp || f.udplite || f.raw;
  // A family with no protocol means all of that family's protocols.
  if ((f.inet || f.inet6) && !any_inet_protocol) {
    f.tcp = f.udp = f.udplite = f.raw = 1;
  }
  // A protocol with no family means both inet families.
  if ((f.tcp || f.udp || f.udplite || f.raw) && !(f.inet || f.inet6)) {
    f.inet = f.inet6 = 1;
  }
  const bool none = (f.tcp + f.udp + f.udplite + f.raw + f.unx) == 0;  // netstat's !flag_arg
  const bool v4 = none || f.inet;
  const bool v6 = none || f.inet6;
  scanner::TransportSet set;
  auto select = [&](bool protocol, Transport t4, Transport t6) {
    if (none || protocol) {
      if (v4) {
        set.add(t4);
      }
      if (v6) {
        set.add(t6);
      }
    }
  };
  select(f.tcp != 0, Transport::Tcp, Transport::Tcp6);
  select(f.udp != 0, Transport::Udp, Transport::Udp6);
  select(f.udplite != 0, Transport::UdpLite, Transport::UdpLite6);
  select(f.raw != 0, Transport::Raw, Transport::Raw6);
  format.inet_block = none || f.tcp || f.udp || f.udplite || f.raw;
  format.unix_block = none || f.unx;
  if (format.unix_block) {
    set.add(Transport::Unix);
  }
  format.transports = set;
}

/// The option getopt_long() just refused: a long option is the whole argument (glibc has moved
/// optind past it); a short one is `optopt`, wherever it sits in a cluster like "-tz".
std::string offendingOption(char** argv, int next_index, int short_option) {
  const std::string_view arg = next_index > 0 ? argv[next_index - 1] : "";
  if (arg.starts_with("--") || short_option == 0) {
    return std::string(arg.substr(0, arg.find('=')));
  }
  return std::string("-") + static_cast<char>(short_option);
}

/// What the table selection options counted: protocols and families, -a and -l.
struct Selection {
  ProtocolFlags protocols;
  int all = 0;
  int listening = 0;
};

/// -t -u -U -w -x, -4 -6 -A --inet --inet6, -a -l. False when `c` is none of them.
Result<bool> takeSelectionOption(int c, const char* arg, Selection& s) {
  ProtocolFlags& f = s.protocols;
  switch (c) {
    case 'A':
      if (auto r = addFamilies(arg, f); !r) {
        return r.error();
      }
      return true;
    case '4':
    case kFamilyInet:
      ++f.inet;
      return true;
    case '6':
    case kFamilyInet6:
      ++f.inet6;
      return true;
    case 't':
      ++f.tcp;
      return true;
    case 'u':
      ++f.udp;
      return true;
    case 'U':
      ++f.udplite;
      return true;
    case 'w':
      ++f.raw;
      return true;
    case 'x':
      ++f.unx;
      return true;
    case 'a':
      ++s.all;
      return true;
    case 'l':
      ++s.listening;
      return true;
    default:
      return false;
  }
}

/// -n and the --numeric-* options, -e -p -o -W, -v -h. False when `c` is none of them.
bool takeFormatOption(int c, ListArgs& args) {
  NetstatOptions& format = args.format;
  switch (c) {
    case 'n':
      format.numeric_hosts = format.numeric_ports = format.numeric_users = true;
      return true;
    case kNumericHosts:
      format.numeric_hosts = true;
      return true;
    case kNumericPorts:
      format.numeric_ports = true;
      return true;
    case kNumericUsers:
      format.numeric_users = true;
      return true;
    case 'e':
      format.extend = true;  // -ee lists the same columns for sockets
      return true;
    case 'p':
      format.programs = true;
      return true;
    case 'o':
      format.timers = true;
      return true;
    case 'W':
      format.wide = true;
      return true;
    case 'v':
      return true;  // netstat's -v only adds "no support for" notes
    case 'h':
      args.help = true;
      return true;
    default:
      return false;
  }
}

/// The namespace, root, backend and output options. False when `c` is none of them.
Result<bool> takeNamespaceOption(int c, const char* arg, ListArgs& args) {
  switch (c) {
    case kAllNetns:
      args.all_netns = true;
      return true;
    case kNetns:
      if (*arg == '\0' || std::strchr(arg, '/') != nullptr) {
        return Error{"--netns needs a namespace name, not '" + std::string(arg) + "'",
                     ErrorKind::Invalid};
      }
      args.netns_names.emplace_back(arg);
      return true;
    case kNetnsPid: {
      auto pid = parsePid(arg);
      if (!pid) {
        return pid.error();
      }
      args.netns_pids.push_back(*pid);
      return true;
    }
    case kNoHost:
      args.no_host = true;
      return true;
    case kProcRoot:
      args.proc_root = arg;
      return true;
    case kNetnsDir:
      args.netns_dir = arg;
      return true;
    case kJson:
      args.json = true;
      return true;
    case kBackend: {
      const auto backend = scanner::backendFromName(arg);
      if (!backend) {
        return Error{"--backend must be procfs, netlink or auto, not '" + std::string(arg) + "'",
                     ErrorKind::Invalid};
      }
      args.backend = *backend;
      args.backend_given = true;
      return true;
    }
    case kTcpInfo:
      args.format.tcp_info = true;
      return true;
    default:
      return false;
  }
}

/// --pods and the pod source options. False when `c` is none of them.
bool takePodOption(int c, const char* arg, ListArgs& args) {
  switch (c) {
    case kPods:
      args.pods = true;
      return true;
    case kCriEndpoint:
      args.pod_sources.cri_endpoint = arg;
      return true;
    case kKubeletUrl:
      args.pod_sources.kubelet_url = arg;
      return true;
    case kKubeletCa:
      args.pod_sources.kubelet_ca = arg;
      return true;
    case kKubeletInsecure:
      args.pod_sources.kubelet_insecure = true;
      return true;
    case kKubeletTokenFile:
      args.pod_sources.kubelet_token_file = arg;
      return true;
    default:
      return false;
  }
}

/// -i -r -s -g; getopt's complaints; netstat's modes podnetstat does not have.
Result<Ok> takeModeOption(int c, char** argv, ListArgs& args) {
  switch (c) {
    case 'i':
      args.view = NetView::Interfaces;
      return Ok{};
    case 'r':
      args.view = NetView::Routes;
      return Ok{};
    case 's':
      args.view = NetView::Stats;
      return Ok{};
    case 'g':
      args.view = NetView::Groups;
      return Ok{};
    case ':':
      return Error{"option '" + offendingOption(argv, optind, optopt) + "' needs an argument",
                   ErrorKind::Invalid};
    case '?': {
      const std::string bad = offendingOption(argv, optind, optopt);
      if (bad.starts_with("--")) {
        return Error{"unknown, ambiguous or misused option '" + bad + "'", ErrorKind::Invalid};
      }
      return Error{"unknown option '" + bad + "'", ErrorKind::Invalid};
    }
    default:
      // A netstat flag of another mode (-c, -S, -Z, -M, ...).
      return Error{std::string("option '-") + static_cast<char>(c) +
                       "' of netstat is not supported by podnetstat list",
                   ErrorKind::Invalid};
  }
}

/// One option of the command line into `args` and `selection`.
Result<Ok> takeOption(int c, char** argv, ListArgs& args, Selection& selection) {
  const char* arg = optarg;
  auto selected = takeSelectionOption(c, arg, selection);
  if (!selected) {
    return selected.error();
  }
  if (*selected || takeFormatOption(c, args) || takePodOption(c, arg, args)) {
    return Ok{};
  }
  auto other = takeNamespaceOption(c, arg, args);
  if (!other) {
    return other.error();
  }
  return *other ? Result<Ok>(Ok{}) : takeModeOption(c, argv, args);
}

}  // namespace

const char* listUsage() {
  return kListUsage;
}

Result<ListArgs> parseListArgs(int argc, char** argv) {
  ListArgs args;
  Selection selection;
  optind = 0;  // glibc: re-initialise getopt completely
  opterr = 0;
  for (;;) {
    int index = -1;
    const int c = getopt_long(argc, argv, kShortOptions, kLongOptions, &index);
    if (c == -1) {
      break;
    }
    if (auto taken = takeOption(c, argv, args, selection); !taken) {
      return taken.error();
    }
  }
  if (optind < argc) {
    return Error{"unexpected argument '" + std::string(argv[optind]) + "'", ErrorKind::Invalid};
  }
  if (args.format.tcp_info) {
    if (args.backend == scanner::Backend::Procfs && args.backend_given) {
      return Error{"--tcp-info needs --backend netlink or auto: /proc/net/tcp has no tcp_info",
                   ErrorKind::Invalid};
    }
    if (!args.backend_given) {
      args.backend = scanner::Backend::Auto;
    }
  }
  const ProtocolFlags& flags = selection.protocols;
  args.format.mode = selection.all != 0
                         ? ListMode::All
                         : (selection.listening != 0 ? ListMode::Servers : ListMode::NonServers);
  args.ipv4_only = flags.inet != 0 && flags.inet6 == 0;
  args.ipv6_only = flags.inet6 != 0 && flags.inet == 0;
  args.stats_tcp = flags.tcp != 0;
  args.stats_udp = flags.udp != 0;
  applyProtocolFlags(flags, args.format);
  return args;
}

scanner::ScanOptions scanOptionsFor(const ListArgs& args) {
  scanner::ScanOptions options;
  options.transports = args.format.transports;
  // --pods needs the owners: a socket outside a pod's namespace (hostNetwork) is the pod's of
  // its owner.
  options.pid = args.format.programs || args.json || args.pods;
  options.cgroups = args.pods;  // the pod index places processes by their cgroups
  options.all_netns = args.all_netns;
  options.backend = args.backend;
  options.tcp_info = args.format.tcp_info;
  options.netns_names = args.netns_names;
  options.netns_pids = args.netns_pids;
  const bool explicit_netns = !args.netns_names.empty() || !args.netns_pids.empty();
  options.no_host_network = args.no_host || (explicit_netns && !args.all_netns);
  const ListMode mode = args.format.mode;
  if (mode != ListMode::All) {
    options.filter = scanner::Filter([mode](const scanner::Socket& s, const scanner::ScanResult&) {
      return netstatSelects(s, mode);
    });
  }
  return options;
}
}  // namespace podnetstat::agent
