// `podnetstat list`: parse netstat's flags, scan, print netstat's tables (or JSON).
//
// Output with several namespaces: one block per namespace, blocks separated by a blank line,
// each opened by a line naming the namespace and then exactly what netstat prints inside it:
//   Netns: host (<inode>)      the host namespace (PID 1's), whatever names it has
//   Netns: <name> (<inode>)    a namespace with names under the netns dir (the first, sorted)
//   Netns: - (<inode>)         an unnamed namespace (found through a process only)
// With a single namespace selected there is no such line: the output is netstat's, byte for byte.
// A namespace that cannot be read keeps its block line; the reason goes to stderr.
//
// Exit status: 0; 1 when the scan fails (missing proc root, unknown --netns/--netns-pid), when
// the only selected namespace cannot be read, or when none of several can; 2 for a bad command
// line.

#include "podnetstat/agent/cli/list_command.h"

#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/api/net_views.h"
#include "podnetstat/agent/cli/commands.h"
#include "podnetstat/agent/render/netstat_modes.h"
#include "podnetstat/agent/render/socket_json.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"
#include "podnetstat/scanner/net_stats.h"

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
    "                       [--backend procfs|netlink|auto] [--pods [--cri-endpoint EP]\n"
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
                   "' (supported: inet, inet6, unix)"};
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
    return Error{"--netns-pid needs a process ID, not '" + std::string(text) + "'"};
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

std::string namespaceLabel(const scanner::NetNamespace& ns) {
  if (ns.is_host) {
    return "host";
  }
  return ns.names.empty() ? "-" : ns.names.front();
}

void writeOut(const std::string& text) {
  if (!text.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
}

void reportUnreadable(const scanner::NetNamespace& ns, const std::string& why) {
  std::fprintf(stderr, "podnetstat list: network namespace %s (%llu): %s\n",
               namespaceLabel(ns).c_str(), static_cast<unsigned long long>(ns.inode),
               why.empty() ? "not readable" : why.c_str());
}

void reportUnreadable(const scanner::NetNamespace& ns) {
  reportUnreadable(ns, ns.error);
}

/// The pods of a scan for --pods (an empty index without --pods).
struct ListPods {
  k8s::PodIndex index;
  bool enabled = false;

  std::optional<k8s::SocketPod> of(const scanner::Socket& s,
                                   const scanner::ScanResult& scan) const {
    return enabled ? index.ofSocket(s, scan) : std::nullopt;
  }

  static std::string label(const k8s::Pod* pod) {
    if (pod == nullptr) {
      return "-";
    }
    if (pod->namespace_name && pod->name) {
      return *pod->namespace_name + "/" + *pod->name;
    }
    return pod->uid;
  }
};

/// --pods: asks the pod sources once and builds the index of `scan`. 0, or the exit status of a
/// bad pod source flag (2).
int loadPods(const ListArgs& args, const scanner::ScanResult& scan, ListPods& pods) {
  auto flags = args.pod_sources.resolved();
  if (!flags) {
    std::fprintf(stderr, "podnetstat list: %s\n", flags.error().message.c_str());
    return 2;
  }
  auto sources = makePodSources(*flags);
  if (!sources) {
    std::fprintf(stderr, "podnetstat list: %s\n", sources.error().message.c_str());
    return 2;
  }
  k8s::PodMetadataCache cache(std::move(*sources));
  const auto metadata = cache.refresh();
  for (const k8s::SourceHealth* health : {&metadata->cri, &metadata->kubelet}) {
    if (health->enabled && !health->ok && !health->endpoint.empty()) {
      std::fprintf(stderr, "podnetstat list: pod names: %s\n", health->error.c_str());
    }
  }
  pods.index = k8s::PodIndex::build(scan, *metadata,
                                    k8s::NodeFiles(scanner::Roots{args.proc_root, args.netns_dir}));
  pods.enabled = true;
  return 0;
}

int runJson(const ListArgs& args, const scanner::ScanResult& scan, const ListPods& pods) {
  std::string out = "[";
  bool first = true;
  for (const scanner::Socket& s : scan.sockets) {
    if (!args.format.transports.contains(s.transport) || !netstatSelects(s, args.format.mode)) {
      continue;
    }
    out += first ? "\n" : ",\n";
    first = false;
    appendSocketJson(out, s, scan, pods.of(s, scan));
  }
  out += first ? "]\n" : "\n]\n";
  writeOut(out);
  std::size_t unreadable = 0;
  for (const scanner::NetNamespace& ns : scan.namespaces) {
    if (!ns.readable) {
      reportUnreadable(ns);
      ++unreadable;
    }
  }
  return (!scan.namespaces.empty() && unreadable == scan.namespaces.size()) ? 1 : 0;
}

/// What appendSockets prints, each row opened by the Pod column.
void appendSocketsWithPods(std::string& out,
                           NetstatRenderer& renderer,
                           const scanner::ScanResult& scan,
                           std::span<const scanner::Socket* const> sockets,
                           const ListPods& pods) {
  renderer.appendSocketsWithColumn(out, scan, sockets, "Pod", [&](const scanner::Socket& s) {
    const auto pod = pods.of(s, scan);
    return ListPods::label(pod ? pod->pod : nullptr);
  });
}

int runTables(const ListArgs& args, const scanner::ScanResult& scan, const ListPods& pods) {
  const bool numeric =
      args.format.numeric_hosts && args.format.numeric_ports && args.format.numeric_users;
  std::unique_ptr<NameLookup> names = numeric ? nullptr : makeSystemNameLookup();
  NetstatRenderer renderer(args.format, names.get());

  if (args.format.programs && scan.stats.denied_fd_dirs > 0) {
    // prg_cache_load()'s messages when some /proc/<pid>/fd could not be opened (EACCES).
    if (scan.processes.empty()) {
      std::fprintf(stderr,
                   "(No info could be read for \"-p\": geteuid()=%u but you should be root.)\n",
                   static_cast<unsigned>(geteuid()));
    } else {
      std::fputs(
          "(Not all processes could be identified, non-owned process info\n"
          " will not be shown, you would have to be root to see it all.)\n",
          stderr);
    }
  }

  const auto& namespaces = scan.namespaces;
  // Split the scan by namespace once.
  std::vector<std::vector<const scanner::Socket*>> by_netns(namespaces.size());
  for (const scanner::Socket& s : scan.sockets) {
    if (s.netns_index < by_netns.size()) {
      by_netns[s.netns_index].push_back(&s);
    }
  }
  if (namespaces.size() == 1) {
    if (!namespaces[0].readable) {
      reportUnreadable(namespaces[0]);
      return 1;
    }
    std::string out;
    if (pods.enabled) {
      appendSocketsWithPods(out, renderer, scan, by_netns[0], pods);
    } else {
      renderer.appendSockets(out, scan, by_netns[0]);
    }
    writeOut(out);
    return 0;
  }
  std::size_t unreadable = 0;
  for (std::uint32_t i = 0; i < namespaces.size(); ++i) {
    const scanner::NetNamespace& ns = namespaces[i];
    std::string out;
    if (i > 0) {
      out += '\n';
    }
    out += "Netns: ";
    out += namespaceLabel(ns);
    out += " (";
    out += std::to_string(ns.inode);
    out += ")\n";
    if (pods.enabled) {
      out += "Pod: ";
      out += ListPods::label(pods.index.ofNetns(ns.inode));
      out += '\n';
    }
    if (ns.readable && pods.enabled) {
      appendSocketsWithPods(out, renderer, scan, by_netns[i], pods);
    } else if (ns.readable) {
      renderer.appendSockets(out, scan, by_netns[i]);
    }
    writeOut(out);
    if (!ns.readable) {
      std::fflush(stdout);  // keep the block line ahead of its error on a shared terminal
      reportUnreadable(ns);
      ++unreadable;
    }
  }
  return (!namespaces.empty() && unreadable == namespaces.size()) ? 1 : 0;
}

/// netstat's -i, -r, -s and -g for every selected namespace: the namespace files of
/// /proc/<pid>/net/ (dev, route, ipv6_route, snmp, snmp6, netstat, igmp, igmp6), read once per
/// namespace. Interface MTU and flags need the namespace itself: with the netlink backend they
/// come from an RTM_GETLINK dump inside it (as netstat's ioctls ask), otherwise -i shows "-".
int runView(const ListArgs& args, const scanner::Scanner& scanner) {
  using scanner::NetStatsFile;
  scanner::ScanOptions options = scanOptionsFor(args);
  options.transports = scanner::TransportSet{};  // namespaces only, no socket table
  options.filter = scanner::Filter{};
  // Processes are needed to place hostNetwork pods and pods known by cgroup only.
  options.pid = args.pods;
  auto scan = scanner.scan(options);
  if (!scan) {
    std::fprintf(stderr, "podnetstat list: %s\n", scan.error().message.c_str());
    return 1;
  }
  ListPods pods;
  if (args.pods) {
    if (const int rc = loadPods(args, *scan, pods); rc != 0) {
      return rc;
    }
  }
  scanner::NetStatsFileSet files;
  switch (args.view) {
    case ListView::Interfaces:
      files.add(NetStatsFile::Dev);
      break;
    case ListView::Routes:
      files.add(args.ipv6_only ? NetStatsFile::Ipv6Route : NetStatsFile::Route);
      break;
    case ListView::Statistics:
      files.add(NetStatsFile::Snmp).add(NetStatsFile::Snmp6).add(NetStatsFile::Netstat);
      break;
    case ListView::Groups:
      files.add(NetStatsFile::Igmp).add(NetStatsFile::Igmp6);
      break;
    case ListView::Sockets:
      break;
  }
  const bool blocks = scan->namespaces.size() > 1;
  const bool numeric = args.format.numeric_hosts;
  const scanner::Roots roots{args.proc_root, args.netns_dir};
  const bool with_links = args.view == ListView::Interfaces &&
                          scanner::resolveBackend(args.backend) == scanner::Backend::Netlink;
  int rc = 0;
  bool first = true;
  for (const scanner::NetNamespace& ns : scan->namespaces) {
    std::string out;
    if (blocks) {
      out += first ? "" : "\n";
      out += "Netns: " + namespaceLabel(ns) + " (" + std::to_string(ns.inode) + ")\n";
    }
    if (pods.enabled) {
      // The namespace's own pod; a hostNetwork pod shares the host's, which is no pod's.
      out += "Pod: " + ListPods::label(pods.index.ofNetns(ns.inode)) + "\n";
    }
    first = false;
    auto stats = scanner::readNetStats(roots, ns, files);
    if (!stats) {
      writeOut(out);
      reportUnreadable(ns, stats.error().message);
      rc = blocks ? rc : 1;
      continue;
    }
    switch (args.view) {
      case ListView::Interfaces: {
        std::vector<scanner::LinkAttributes> links;
        if (with_links) {
          // MTU and flags need the namespace itself; without them the columns show "-".
          auto read = scanner::readLinks(roots, ns);
          if (read) {
            links = std::move(*read);
          } else {
            std::fprintf(stderr,
                         "podnetstat list: network namespace %s (%llu): MTU and flags: %s\n",
                         namespaceLabel(ns).c_str(), static_cast<unsigned long long>(ns.inode),
                         read.error().message.c_str());
          }
        }
        out +=
            netViewTable(NetView::Interfaces,
                         NetViewQuery{OutputFormat::Table, args.format.mode == ListMode::All, {}},
                         *stats, links);
        break;
      }
      case ListView::Routes:
        out += args.ipv6_only ? renderIpv6Routes(stats->routes6, numeric)
                              : renderIpv4Routes(stats->routes, numeric);
        break;
      case ListView::Statistics:
        out += renderCounters(*stats, CounterOptions{args.stats_tcp, args.stats_udp});
        break;
      case ListView::Groups:
        out += renderGroups(stats->groups, stats->groups6,
                            GroupOptions{numeric, !args.ipv6_only, !args.ipv4_only});
        break;
      case ListView::Sockets:
        break;
    }
    writeOut(out);
  }
  return rc;
}

}  // namespace

const char* listUsage() {
  return kListUsage;
}

Result<ListArgs> parseListArgs(int argc, char** argv) {
  ListArgs args;
  ProtocolFlags flags;
  int all = 0;
  int listening = 0;
  optind = 0;  // glibc: re-initialise getopt completely
  opterr = 0;
  while (true) {
    int index = -1;
    const int c = getopt_long(argc, argv, kShortOptions, kLongOptions, &index);
    if (c == -1) {
      break;
    }
    switch (c) {
      case 'A':
        if (auto r = addFamilies(optarg, flags); !r) {
          return r.error();
        }
        break;
      case '4':
        ++flags.inet;
        break;
      case '6':
        ++flags.inet6;
        break;
      case kFamilyInet:
        ++flags.inet;
        break;
      case kFamilyInet6:
        ++flags.inet6;
        break;
      case 't':
        ++flags.tcp;
        break;
      case 'u':
        ++flags.udp;
        break;
      case 'U':
        ++flags.udplite;
        break;
      case 'w':
        ++flags.raw;
        break;
      case 'x':
        ++flags.unx;
        break;
      case 'a':
        ++all;
        break;
      case 'l':
        ++listening;
        break;
      case 'n':
        args.format.numeric_hosts = args.format.numeric_ports = args.format.numeric_users = true;
        break;
      case kNumericHosts:
        args.format.numeric_hosts = true;
        break;
      case kNumericPorts:
        args.format.numeric_ports = true;
        break;
      case kNumericUsers:
        args.format.numeric_users = true;
        break;
      case 'e':
        args.format.extend = true;  // -ee lists the same columns for sockets
        break;
      case 'p':
        args.format.programs = true;
        break;
      case 'o':
        args.format.timers = true;
        break;
      case 'W':
        args.format.wide = true;
        break;
      case 'v':
        break;  // netstat's -v only adds "no support for" notes
      case 'h':
        args.help = true;
        break;
      case kAllNetns:
        args.all_netns = true;
        break;
      case kNetns:
        if (*optarg == '\0' || std::strchr(optarg, '/') != nullptr) {
          return Error{"--netns needs a namespace name, not '" + std::string(optarg) + "'"};
        }
        args.netns_names.emplace_back(optarg);
        break;
      case kNetnsPid: {
        auto pid = parsePid(optarg);
        if (!pid) {
          return pid.error();
        }
        args.netns_pids.push_back(*pid);
        break;
      }
      case kNoHost:
        args.no_host = true;
        break;
      case kProcRoot:
        args.proc_root = optarg;
        break;
      case kNetnsDir:
        args.netns_dir = optarg;
        break;
      case kJson:
        args.json = true;
        break;
      case kPods:
        args.pods = true;
        break;
      case kCriEndpoint:
        args.pod_sources.cri_endpoint = optarg;
        break;
      case kKubeletUrl:
        args.pod_sources.kubelet_url = optarg;
        break;
      case kKubeletCa:
        args.pod_sources.kubelet_ca = optarg;
        break;
      case kKubeletInsecure:
        args.pod_sources.kubelet_insecure = true;
        break;
      case kKubeletTokenFile:
        args.pod_sources.kubelet_token_file = optarg;
        break;
      case kBackend: {
        const auto backend = scanner::backendFromName(optarg);
        if (!backend) {
          return Error{"--backend must be procfs, netlink or auto, not '" + std::string(optarg) +
                       "'"};
        }
        args.backend = *backend;
        break;
      }
      case ':':
        return Error{"option '" + offendingOption(argv, optind, optopt) + "' needs an argument"};
      case '?': {
        const std::string bad = offendingOption(argv, optind, optopt);
        if (bad.starts_with("--")) {
          return Error{"unknown, ambiguous or misused option '" + bad + "'"};
        }
        return Error{"unknown option '" + bad + "'"};
      }
      case 'i':
        args.view = ListView::Interfaces;
        break;
      case 'r':
        args.view = ListView::Routes;
        break;
      case 's':
        args.view = ListView::Statistics;
        break;
      case 'g':
        args.view = ListView::Groups;
        break;
      default:
        // A netstat flag of another mode (-c, -S, -Z, -M, ...).
        return Error{std::string("option '-") + static_cast<char>(c) +
                     "' of netstat is not supported by podnetstat list"};
    }
  }
  if (optind < argc) {
    return Error{"unexpected argument '" + std::string(argv[optind]) + "'"};
  }
  args.format.mode =
      all != 0 ? ListMode::All : (listening != 0 ? ListMode::Servers : ListMode::NonServers);
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
  options.all_netns = args.all_netns;
  options.backend = args.backend;
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

int runList(int argc, char** argv) {
  try {
    auto parsed = parseListArgs(argc, argv);
    if (!parsed) {
      std::fprintf(stderr, "podnetstat list: %s\nTry 'podnetstat list --help'.\n",
                   parsed.error().message.c_str());
      return 2;
    }
    const ListArgs& args = *parsed;
    if (args.help) {
      std::fputs(kListUsage, stdout);
      return 0;
    }
    const scanner::Scanner scanner(scanner::Roots{args.proc_root, args.netns_dir});
    if (args.view != ListView::Sockets) {
      return runView(args, scanner);
    }
    auto scan = scanner.scan(scanOptionsFor(args));
    if (!scan) {
      std::fprintf(stderr, "podnetstat list: %s\n", scan.error().message.c_str());
      return 1;
    }
    if (args.all_netns) {
      // The other namespaces are still listed; say which names could not be used.
      for (const auto& [path, reason] : scan->stats.stale_netns) {
        std::fprintf(stderr, "podnetstat list: netns entry %s skipped: %s\n", path.c_str(),
                     reason.c_str());
      }
    }
    ListPods pods;
    if (args.pods) {
      if (const int rc = loadPods(args, *scan, pods); rc != 0) {
        return rc;
      }
    }
    const int rc = args.json ? runJson(args, *scan, pods) : runTables(args, *scan, pods);
    if (std::fflush(stdout) != 0) {
      std::fprintf(stderr, "podnetstat list: writing the output failed: %s\n",
                   std::strerror(errno));
      return 1;
    }
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "podnetstat list: %s\n", e.what());
    return 1;
  }
}

}  // namespace podnetstat::agent
