#pragma once

// `podnetstat list`: net-tools netstat's socket listing over one or more network namespaces.
// The command line is netstat's (getopt_long, same flags and defaults) plus namespace selection.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "podnetstat/agent/cli/pod_sources.h"
#include "podnetstat/agent/render/net_view.h"
#include "podnetstat/agent/render/netstat_format.h"
#include "podnetstat/scanner/result.h"
#include "podnetstat/scanner/scan.h"

namespace podnetstat::agent {

/// The parsed command line of `podnetstat list`.
struct ListArgs {
  NetstatOptions format;
  std::optional<NetView> view;  // -i, -r, -s, -g; nullopt: socket tables
  bool ipv4_only = false;       // -4 / -A inet (for -r, -g)
  bool ipv6_only = false;       // -6 / -A inet6 (for -r, -g)
  bool stats_tcp = false;       // -s -t
  bool stats_udp = false;       // -s -u
  std::filesystem::path proc_root = "/proc";
  std::filesystem::path netns_dir = "/var/run/netns";
  scanner::Backend backend = scanner::Backend::Procfs;  // --backend
  bool backend_given = false;                           // --backend was on the command line
  bool all_netns = false;                               // --all-netns
  bool no_host = false;                                 // --no-host
  std::vector<std::string> netns_names;                 // --netns NAME...
  std::vector<std::int32_t> netns_pids;                 // --netns-pid PID...
  bool json = false;                                    // --json
  bool pods = false;                                    // --pods
  PodSourceFlags pod_sources;                           // --cri-endpoint, --kubelet-*
  bool help = false;                                    // -h, --help
};

/// Parses `list`'s arguments (argv[0] is "list"); getopt_long may permute argv. An error's
/// message says what was wrong, without a program-name prefix.
Result<ListArgs> parseListArgs(int argc, char** argv);

/// What to scan for these arguments: the printed tables only, process attribution only for -p
/// and --json, the host namespace unless --no-host or a --netns/--netns-pid without --all-netns,
/// and netstat's own server/non-server selection as the filter.
scanner::ScanOptions scanOptionsFor(const ListArgs& args);

/// The usage text of `podnetstat list`.
const char* listUsage();

}  // namespace podnetstat::agent
