#include "podnetstat/agent/api/net_views.h"

#include <net/if.h>

#include <array>
#include <bit>
#include <chrono>
#include <string>
#include <utility>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/socket_json.h"

namespace podnetstat::agent {
namespace {

using scanner::NetStatsFile;

constexpr const char* kJsonType = "application/json";
constexpr const char* kTextType = "text/plain; charset=utf-8";

constexpr std::array<std::pair<NetView, std::string_view>, 4> kViewNames = {{
    {NetView::Interfaces, "interfaces"},
    {NetView::Routes, "routes"},
    {NetView::Stats, "stats"},
    {NetView::Groups, "groups"},
}};

/// IFF_* names for the JSON `flags` (include/uapi/linux/if.h), in bit order.
constexpr std::array<std::string_view, 19> kLinkFlagNames = {
    "UP",        "BROADCAST", "DEBUG",    "LOOPBACK", "POINTOPOINT", "NOTRAILERS", "RUNNING",
    "NOARP",     "PROMISC",   "ALLMULTI", "MASTER",   "SLAVE",       "MULTICAST",  "PORTSEL",
    "AUTOMEDIA", "DYNAMIC",   "LOWER_UP", "DORMANT",  "ECHO"};

HttpResponse respond(unsigned status, std::string content_type, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  r.headers.emplace_back("Cache-Control", "no-store");
  if (status == 503) {
    r.headers.emplace_back("Retry-After", "1");
  }
  return r;
}

Error paramError(const std::string& name, std::string_view why) {
  return Error{"parameter '" + name + "': " + std::string(why)};
}

void field(std::string& out, std::string_view name, std::uint64_t value, bool comma = true) {
  if (comma) {
    out += ',';
  }
  out += '"';
  out += name;
  out += "\":";
  appendJsonUint(out, value);
}

void appendInterface(std::string& out,
                     const scanner::InterfaceStats& i,
                     const std::vector<scanner::LinkAttributes>& links) {
  const scanner::LinkAttributes* link = nullptr;
  for (const auto& l : links) {
    if (l.name == i.name) {
      link = &l;
      break;
    }
  }
  out += R"({"name":)";
  appendJsonString(out, i.name);
  out += R"(,"mtu":)";
  if (link != nullptr && link->has_mtu) {
    appendJsonUint(out, link->mtu);
  } else {
    out += "null";
  }
  out += R"(,"flags":)";
  if (link == nullptr) {
    out += "null";
  } else {
    out += '[';
    bool first = true;
    for (std::size_t bit = 0; bit < kLinkFlagNames.size(); ++bit) {
      if ((link->flags & (1U << bit)) != 0) {
        out += first ? "" : ",";
        first = false;
        appendJsonString(out, kLinkFlagNames[bit]);
      }
    }
    out += ']';
  }
  out += R"(,"receive":{)";
  field(out, "bytes", i.rx_bytes, false);
  field(out, "packets", i.rx_packets);
  field(out, "errors", i.rx_errs);
  field(out, "drops", i.rx_drop);
  field(out, "fifo", i.rx_fifo);
  field(out, "frame", i.rx_frame);
  field(out, "compressed", i.rx_compressed);
  field(out, "multicast", i.rx_multicast);
  out += R"(},"transmit":{)";
  field(out, "bytes", i.tx_bytes, false);
  field(out, "packets", i.tx_packets);
  field(out, "errors", i.tx_errs);
  field(out, "drops", i.tx_drop);
  field(out, "fifo", i.tx_fifo);
  field(out, "collisions", i.tx_colls);
  field(out, "carrier", i.tx_carrier);
  field(out, "compressed", i.tx_compressed);
  out += "}}";
}

unsigned prefixLength(const scanner::IpAddress& mask) {
  unsigned n = 0;
  for (std::size_t b = 0; b < 4; ++b) {
    n += static_cast<unsigned>(std::popcount(mask.bytes[b]));
  }
  return n;
}

void appendRoute(std::string& out, const scanner::Ipv4Route& r) {
  out += R"({"family":"inet","destination":)";
  appendJsonString(out, r.destination.toString());
  out += R"(,"prefixLength":)";
  appendJsonUint(out, prefixLength(r.mask));
  out += R"(,"genmask":)";
  appendJsonString(out, r.mask.toString());
  out += R"(,"gateway":)";
  appendJsonString(out, r.gateway.toString());
  out += R"(,"flags":)";
  appendJsonString(out, ipv4RouteFlagLetters(r.flags));
  out += R"(,"metric":)";
  appendJsonInt(out, r.metric);
  out += R"(,"refCount":)";
  appendJsonInt(out, r.ref_count);
  field(out, "use", r.use);
  out += R"(,"interface":)";
  appendJsonString(out, r.iface);
  field(out, "mss", r.mtu);
  field(out, "window", r.window);
  field(out, "irtt", r.irtt);
  out += '}';
}

void appendRoute(std::string& out, const scanner::Ipv6Route& r) {
  out += R"({"family":"inet6","destination":)";
  appendJsonString(out, r.destination.toString());
  field(out, "prefixLength", r.destination_prefix);
  out += R"(,"source":)";
  appendJsonString(out, r.source.toString());
  field(out, "sourcePrefixLength", r.source_prefix);
  out += R"(,"gateway":)";
  appendJsonString(out, r.next_hop.toString());
  out += R"(,"flags":)";
  appendJsonString(out, ipv6RouteFlagLetters(r.flags));
  field(out, "metric", r.metric);
  field(out, "refCount", r.ref_count);
  field(out, "use", r.use);
  out += R"(,"interface":)";
  appendJsonString(out, r.device);
  out += '}';
}

void appendGroup(std::string& out,
                 std::string_view family,
                 const std::string& device,
                 const scanner::IpAddress& group,
                 std::uint32_t users) {
  out += R"({"family":")";
  out += family;
  out += R"(","interface":)";
  appendJsonString(out, device);
  out += R"(,"group":)";
  appendJsonString(out, group.toString());
  field(out, "users", users);
  out += '}';
}

std::int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<NetView> netViewFromName(std::string_view name) {
  for (const auto& [view, text] : kViewNames) {
    if (text == name) {
      return view;
    }
  }
  return std::nullopt;
}

Result<NetViewQuery> parseNetViewQuery(NetView view, const std::vector<QueryParam>& params) {
  NetViewQuery q;
  const bool has_family = view == NetView::Routes || view == NetView::Groups;
  const bool has_all = view == NetView::Interfaces;
  const std::string allowed =
      std::string("format") + (has_all ? ", all" : "") + (has_family ? ", family" : "");
  bool seen_format = false;
  bool seen_all = false;
  bool seen_family = false;
  for (const auto& param : params) {
    // Named references, not a structured binding: clang 14 cannot capture those in the lambda.
    const auto& name = param.name;
    const auto& value = param.value;
    const auto once = [&](bool& seen) -> Result<Ok> {
      if (seen) {
        return paramError(name, "given more than once");
      }
      seen = true;
      return Ok{};
    };
    if (name == "format") {
      if (auto r = once(seen_format); !r) {
        return r.error();
      }
      if (value == "json") {
        q.format = OutputFormat::Json;
      } else if (value == "table") {
        q.format = OutputFormat::Table;
      } else {
        return paramError(name, "must be json or table, not '" + value + "'");
      }
    } else if (name == "all" && has_all) {
      if (auto r = once(seen_all); !r) {
        return r.error();
      }
      if (value != "true" && value != "false") {
        return paramError(name, "must be true or false, not '" + value + "'");
      }
      q.all = value == "true";
    } else if (name == "family" && has_family) {
      if (auto r = once(seen_family); !r) {
        return r.error();
      }
      if (value != "inet" && value != "inet6") {
        return paramError(name, "must be inet or inet6, not '" + value + "'");
      }
      q.ipv6 = value == "inet6";
    } else {
      return Error{"unknown parameter '" + name + "' (allowed: " + allowed + ")"};
    }
  }
  return q;
}

scanner::NetStatsFileSet netViewFiles(NetView view) {
  scanner::NetStatsFileSet files;
  switch (view) {
    case NetView::Interfaces:
      files.add(NetStatsFile::Dev);
      break;
    case NetView::Routes:
      files.add(NetStatsFile::Route).add(NetStatsFile::Ipv6Route);
      break;
    case NetView::Stats:
      files.add(NetStatsFile::Snmp).add(NetStatsFile::Snmp6).add(NetStatsFile::Netstat);
      break;
    case NetView::Groups:
      files.add(NetStatsFile::Igmp).add(NetStatsFile::Igmp6);
      break;
  }
  return files;
}

std::vector<LinkInfo> linkInfos(const std::vector<scanner::LinkAttributes>& links) {
  std::vector<LinkInfo> out;
  out.reserve(links.size());
  for (const auto& l : links) {
    LinkInfo info{l.name, std::nullopt, l.flags & 0xffffU};
    if (l.has_mtu) {
      info.mtu = l.mtu;
    }
    out.push_back(std::move(info));
  }
  return out;
}

std::string netViewTable(NetView view,
                         const NetViewQuery& query,
                         const scanner::NetStats& stats,
                         const std::vector<scanner::LinkAttributes>& links) {
  switch (view) {
    case NetView::Interfaces:
      return renderInterfaceTable(stats.interfaces, linkInfos(links),
                                  InterfaceTableOptions{query.all});
    case NetView::Routes:
      return query.ipv6.value_or(false) ? renderIpv6Routes(stats.routes6, true)
                                        : renderIpv4Routes(stats.routes, true);
    case NetView::Stats:
      return renderCounters(stats);
    case NetView::Groups:
      return renderGroups(
          stats.groups, stats.groups6,
          GroupOptions{true, !query.ipv6.value_or(false), query.ipv6.value_or(true)});
  }
  return {};
}

std::string netViewJson(const Snapshot& snapshot,
                        std::uint32_t netns_index,
                        const k8s::Pod* pod,
                        NetView view,
                        const NetViewQuery& query,
                        const scanner::NetStats& stats,
                        const std::vector<scanner::LinkAttributes>& links,
                        std::int64_t read_unix_ms) {
  std::string out = R"({"node":)";
  appendJsonString(out, snapshot.node());
  out += R"(,"scannedAt":)";
  appendJsonString(out, snapshot.scannedAt());
  out += R"(,"readAt":)";
  appendJsonString(out, formatRfc3339Ms(read_unix_ms));
  out += R"(,"netns":)";
  appendNetnsRefJson(out, snapshot.scan().namespaces[netns_index]);
  out += R"(,"pod":)";
  appendPodRefJson(out, pod == nullptr
                            ? std::nullopt
                            : std::optional<k8s::SocketPod>(k8s::SocketPod{pod, nullptr}));
  const bool v4 = !query.ipv6.has_value() || !*query.ipv6;
  const bool v6 = !query.ipv6.has_value() || *query.ipv6;
  bool first = true;
  const auto comma = [&] {
    out += first ? "" : ",";
    first = false;
  };
  switch (view) {
    case NetView::Interfaces:
      out += R"(,"items":[)";
      for (const auto& i : stats.interfaces) {
        comma();
        appendInterface(out, i, links);
      }
      out += ']';
      break;
    case NetView::Routes:
      out += R"(,"items":[)";
      if (v4) {
        for (const auto& r : stats.routes) {
          comma();
          appendRoute(out, r);
        }
      }
      if (v6) {
        for (const auto& r : stats.routes6) {
          comma();
          appendRoute(out, r);
        }
      }
      out += ']';
      break;
    case NetView::Stats:
      out += R"(,"counters":{)";
      for (const auto* file : {&stats.snmp, &stats.snmp6, &stats.netstat}) {
        for (const auto& c : *file) {
          comma();
          appendJsonString(out, c.name);
          out += ':';
          appendJsonUint(out, c.value);
        }
      }
      out += '}';
      break;
    case NetView::Groups:
      out += R"(,"items":[)";
      if (v4) {
        for (const auto& g : stats.groups) {
          comma();
          appendGroup(out, "inet", g.device, g.group, g.users);
        }
      }
      if (v6) {
        for (const auto& g : stats.groups6) {
          comma();
          appendGroup(out, "inet6", g.device, g.group, g.users);
        }
      }
      out += ']';
      break;
  }
  // Files this namespace does not have (e.g. ipv6_route with IPv6 disabled).
  out += R"(,"missingFiles":[)";
  first = true;
  for (const NetStatsFile f : scanner::kAllNetStatsFiles) {
    if (stats.missing.contains(f)) {
      comma();
      appendJsonString(out, scanner::netStatsFileName(f));
    }
  }
  out += "]}\n";
  return out;
}

HttpResponse netViewResponse(const Snapshot& snapshot,
                             std::uint32_t netns_index,
                             const k8s::Pod* pod,
                             NetView view,
                             const NetViewQuery& query,
                             const scanner::Roots& roots,
                             bool with_links) {
  const scanner::NetNamespace& ns = snapshot.scan().namespaces[netns_index];
  auto stats = scanner::readNetStats(roots, ns, netViewFiles(view));
  const std::int64_t read_at = nowUnixMs();
  if (!stats) {
    return respond(503, kJsonType,
                   errorJson(503, "network namespace " + snapshot.netnsLabel(netns_index) + " (" +
                                      std::to_string(ns.inode) +
                                      ") cannot be read now; it may have gone since the last "
                                      "scan: " +
                                      stats.error().message));
  }
  std::vector<scanner::LinkAttributes> links;
  if (with_links && view == NetView::Interfaces) {
    // Unknown MTU and flags are shown as such; they never fail the answer.
    auto read = scanner::readLinks(roots, ns);
    if (read) {
      links = std::move(*read);
    }
  }
  if (query.format == OutputFormat::Table) {
    return respond(200, kTextType, netViewTable(view, query, *stats, links));
  }
  return respond(200, kJsonType,
                 netViewJson(snapshot, netns_index, pod, view, query, *stats, links, read_at));
}

}  // namespace podnetstat::agent
