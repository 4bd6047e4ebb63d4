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

#include "podnetstat/agent/list_command.h"

#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/agent/commands.h"
#include "podnetstat/agent/socket_json.h"

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
    {nullptr, 0, nullptr, 0},
};

constexpr const char* kListUsage =
    "usage: podnetstat list [-tuUwx46] [-A inet|inet6|unix] [-l|-a] [-n] [-e] [-p] [-o] [-W]\n"
    "                       [--all-netns] [--netns NAME]... [--netns-pid PID]... [--no-host]\n"
    "                       [--json] [--proc-root DIR] [--netns-dir DIR]\n"
    "                       [--backend procfs|netlink|auto]\n"
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

void reportUnreadable(const scanner::NetNamespace& ns) {
  std::fprintf(stderr, "podnetstat list: network namespace %s (%llu): %s\n",
               namespaceLabel(ns).c_str(), static_cast<unsigned long long>(ns.inode),
               ns.error.empty() ? "not readable" : ns.error.c_str());
}

int runJson(const ListArgs& args, const scanner::ScanResult& scan) {
  std::string out = "[";
  bool first = true;
  for (const scanner::Socket& s : scan.sockets) {
    if (!args.format.transports.contains(s.transport) || !netstatSelects(s, args.format.mode)) {
      continue;
    }
    out += first ? "\n" : ",\n";
    first = false;
    appendSocketJson(out, s, scan);
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

int runTables(const ListArgs& args, const scanner::ScanResult& scan) {
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
    renderer.appendSockets(out, scan, by_netns[0]);
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
    if (ns.readable) {
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
      default:
        // A netstat flag of another mode (-i, -r, -s, -g, -c, -S, -Z, ...).
        return Error{std::string("option '-") + static_cast<char>(c) +
                     "' of netstat is not supported by podnetstat list"};
    }
  }
  if (optind < argc) {
    return Error{"unexpected argument '" + std::string(argv[optind]) + "'"};
  }
  args.format.mode =
      all != 0 ? ListMode::All : (listening != 0 ? ListMode::Servers : ListMode::NonServers);
  applyProtocolFlags(flags, args.format);
  return args;
}

scanner::ScanOptions scanOptionsFor(const ListArgs& args) {
  scanner::ScanOptions options;
  options.transports = args.format.transports;
  options.pid = args.format.programs || args.json;
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
    const int rc = args.json ? runJson(args, *scan) : runTables(args, *scan);
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
