// `podnetstat list`: scan, then print netstat's tables (or JSON); the command line is
// list_args.cpp's.
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

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "podnetstat/agent/cli/pod_sources.h"
#include "podnetstat/agent/model/pod_attribution.h"
#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/net_view.h"
#include "podnetstat/agent/render/socket_json.h"
#include "podnetstat/agent/state/net_view_reader.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"

namespace podnetstat::agent {
namespace {

using scanner::Transport;

void writeOut(const std::string& text) {
  if (!text.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
}

void reportUnreadable(const scanner::NetNamespace& ns, const std::string& why) {
  std::fprintf(stderr, "podnetstat list: network namespace %s (%llu): %s\n",
               netnsBlockLabel(ns).c_str(), static_cast<unsigned long long>(ns.inode),
               why.empty() ? "not readable" : why.c_str());
}

/// The line that opens a namespace's block: "Netns: <label> (<inode>)".
std::string blockLine(const scanner::NetNamespace& ns) {
  return "Netns: " + netnsBlockLabel(ns) + " (" + std::to_string(ns.inode) + ")\n";
}

/// The pods of a scan for --pods: its index and every socket's pod, computed once.
struct ListPods {
  bool enabled = false;
  k8s::PodIndex index;
  SocketPods sockets;

  /// "Pod: <label>" under a block line: the namespace's own pod (a hostNetwork pod shares the
  /// host's, which is no pod's).
  std::string line(const scanner::NetNamespace& ns) const {
    return "Pod: " + podLabel(index.ofNetns(ns.inode)) + "\n";
  }
};

/// --pods: asks the pod sources once and attributes the sockets of `scan`. 0, or the exit status
/// of a bad pod source flag (2).
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
  pods.sockets = SocketPods(scan, pods.index);
  pods.enabled = true;
  return 0;
}

/// 1 when every namespace of `scan` was unreadable (each reported), else 0.
int reportUnreadableNamespaces(const scanner::ScanResult& scan) {
  std::size_t unreadable = 0;
  for (const scanner::NetNamespace& ns : scan.namespaces) {
    if (!ns.readable) {
      reportUnreadable(ns, ns.error);
      ++unreadable;
    }
  }
  return (!scan.namespaces.empty() && unreadable == scan.namespaces.size()) ? 1 : 0;
}

int runJson(const ListArgs& args, const scanner::ScanResult& scan, const ListPods& pods) {
  std::string out = "[";
  bool first = true;
  for (std::size_t i = 0; i < scan.sockets.size(); ++i) {
    const scanner::Socket& s = scan.sockets[i];
    if (!args.format.transports.contains(s.transport) || !netstatSelects(s, args.format.mode)) {
      continue;
    }
    out += first ? "\n" : ",\n";
    first = false;
    appendSocketJson(out, s, scan, pods.sockets.of(i, pods.index), args.format.tcp_info);
  }
  out += first ? "]\n" : "\n]\n";
  writeOut(out);
  return reportUnreadableNamespaces(scan);
}

/// What appendSockets prints, each row opened by the Pod column.
void appendSocketsWithPods(std::string& out,
                           NetstatRenderer& renderer,
                           const scanner::ScanResult& scan,
                           std::span<const scanner::Socket* const> sockets,
                           const ListPods& pods) {
  renderer.appendSocketsWithColumn(out, scan, sockets, kPodColumn, [&](const scanner::Socket& s) {
    const auto pod =
        pods.sockets.of(static_cast<std::size_t>(&s - scan.sockets.data()), pods.index);
    return podLabel(pod ? pod->pod : nullptr);
  });
}

/// The tables of one namespace, whose sockets (in scan order) are `sockets`.
void appendNamespaceTables(std::string& out,
                           NetstatRenderer& renderer,
                           const scanner::ScanResult& scan,
                           std::span<const scanner::Socket* const> sockets,
                           const ListPods& pods) {
  if (pods.enabled) {
    appendSocketsWithPods(out, renderer, scan, sockets, pods);
  } else {
    renderer.appendSockets(out, scan, sockets);
  }
}

/// prg_cache_load()'s messages when some /proc/<pid>/fd could not be opened (EACCES).
void warnUnidentifiedPrograms(const scanner::ScanResult& scan) {
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

int runTables(const ListArgs& args, const scanner::ScanResult& scan, const ListPods& pods) {
  const bool numeric =
      args.format.numeric_hosts && args.format.numeric_ports && args.format.numeric_users;
  std::unique_ptr<NameLookup> names = numeric ? nullptr : makeSystemNameLookup();
  NetstatRenderer renderer(args.format, names.get());
  if (args.format.programs && scan.stats.denied_fd_dirs > 0) {
    warnUnidentifiedPrograms(scan);
  }
  const auto& namespaces = scan.namespaces;
  // Split the scan by namespace once.
  std::vector<std::vector<const scanner::Socket*>> by_netns(namespaces.size());
  for (const scanner::Socket& s : scan.sockets) {
    if (s.netns_index < by_netns.size()) {
      by_netns[s.netns_index].push_back(&s);
    }
  }
  if (namespaces.size() == 1 && !namespaces[0].readable) {
    reportUnreadable(namespaces[0], namespaces[0].error);
    return 1;
  }
  std::size_t unreadable = 0;
  for (std::uint32_t n = 0; n < namespaces.size(); ++n) {
    const scanner::NetNamespace& ns = namespaces[n];
    std::string out;
    if (namespaces.size() > 1) {
      out += (n > 0 ? "\n" : "") + blockLine(ns) + (pods.enabled ? pods.line(ns) : "");
    }
    if (ns.readable) {
      appendNamespaceTables(out, renderer, scan, by_netns[n], pods);
    }
    writeOut(out);
    if (!ns.readable) {
      std::fflush(stdout);  // keep the block line ahead of its error on a shared terminal
      reportUnreadable(ns, ns.error);
      ++unreadable;
    }
  }
  return (!namespaces.empty() && unreadable == namespaces.size()) ? 1 : 0;
}

/// How `list` shows the view of its arguments.
NetViewOptions viewOptions(const ListArgs& args) {
  NetViewOptions options;
  options.numeric = args.format.numeric_hosts;
  options.all = args.format.mode == ListMode::All;
  if (args.ipv6_only || args.ipv4_only) {
    options.ipv6 = args.ipv6_only;
  }
  options.counters = CounterOptions{args.stats_tcp, args.stats_udp};
  return options;
}

/// netstat's -i, -r, -s and -g for every selected namespace (state/net_view_reader.h), read
/// once per namespace. Interface MTU and flags need the namespace itself: with the netlink
/// backend they come from an RTM_GETLINK dump inside it (as netstat's ioctls ask), otherwise -i
/// shows "-".
int runView(const ListArgs& args, const scanner::Scanner& scanner) {
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
  if (args.format.tcp_info && scan->backend != scanner::Backend::Netlink) {
    // auto without CAP_SYS_ADMIN: the tables are netstat's, the detail lines cannot be had.
    std::fprintf(stderr,
                 "podnetstat list: --tcp-info: no CAP_SYS_ADMIN, so no netlink; /proc/net/tcp "
                 "has no tcp_info\n");
  }
  ListPods pods;
  if (args.pods) {
    if (const int rc = loadPods(args, *scan, pods); rc != 0) {
      return rc;
    }
  }
  const NetView view = *args.view;
  const NetViewOptions show = viewOptions(args);
  const bool blocks = scan->namespaces.size() > 1;
  const scanner::Roots roots{args.proc_root, args.netns_dir};
  const bool with_links = view == NetView::Interfaces &&
                          scanner::resolveBackend(args.backend) == scanner::Backend::Netlink;
  int rc = 0;
  for (std::size_t n = 0; n < scan->namespaces.size(); ++n) {
    const scanner::NetNamespace& ns = scan->namespaces[n];
    std::string out;
    if (blocks) {
      out += (n > 0 ? "\n" : "") + blockLine(ns);
    }
    out += pods.enabled ? pods.line(ns) : "";
    auto read = readNetView(roots, ns, view, args.ipv6_only, with_links);
    if (!read) {
      writeOut(out);
      reportUnreadable(ns, read.error().message);
      rc = blocks ? rc : 1;
      continue;
    }
    if (read->links_error) {
      // MTU and flags need the namespace itself; without them the columns show "-".
      reportUnreadable(ns, "MTU and flags: " + read->links_error->message);
    }
    out += renderNetViewTable(view, show, read->stats, read->links);
    writeOut(out);
  }
  return rc;
}

/// Lists sockets: the scan of `args`, then its JSON or tables.
int runSockets(const ListArgs& args, const scanner::Scanner& scanner) {
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
  return args.json ? runJson(args, *scan, pods) : runTables(args, *scan, pods);
}

}  // namespace

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
      std::fputs(listUsage(), stdout);
      return 0;
    }
    const scanner::Scanner scanner(scanner::Roots{args.proc_root, args.netns_dir});
    const int rc = args.view ? runView(args, scanner) : runSockets(args, scanner);
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
