#include "podnetstat/agent/render/net_view.h"

#include <array>
#include <bit>
#include <string>
#include <utility>

#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/socket_json.h"

namespace podnetstat::agent {
namespace {

using scanner::NetStatsFile;

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

/// Separates the items of a JSON array or object.
class Commas {
 public:
  explicit Commas(std::string& out) : out_(out) {}

  void next() {
    out_ += first_ ? "" : ",";
    first_ = false;
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void appendCounters(std::string& out, const scanner::NetStats& stats) {
  out += R"("counters":{)";
  Commas commas(out);
  for (const auto* file : {&stats.snmp, &stats.snmp6, &stats.netstat}) {
    for (const auto& c : *file) {
      commas.next();
      appendJsonString(out, c.name);
      out += ':';
      appendJsonUint(out, c.value);
    }
  }
  out += '}';
}

void appendItems(std::string& out,
                 NetView view,
                 bool v4,
                 bool v6,
                 const scanner::NetStats& stats,
                 const std::vector<scanner::LinkAttributes>& links) {
  out += R"("items":[)";
  Commas commas(out);
  if (view == NetView::Interfaces) {
    for (const auto& i : stats.interfaces) {
      commas.next();
      appendInterface(out, i, links);
    }
  }
  if (view == NetView::Routes) {
    for (std::size_t r = 0; v4 && r < stats.routes.size(); ++r) {
      commas.next();
      appendRoute(out, stats.routes[r]);
    }
    for (std::size_t r = 0; v6 && r < stats.routes6.size(); ++r) {
      commas.next();
      appendRoute(out, stats.routes6[r]);
    }
  }
  if (view == NetView::Groups) {
    for (std::size_t g = 0; v4 && g < stats.groups.size(); ++g) {
      commas.next();
      appendGroup(out, "inet", stats.groups[g].device, stats.groups[g].group,
                  stats.groups[g].users);
    }
    for (std::size_t g = 0; v6 && g < stats.groups6.size(); ++g) {
      commas.next();
      appendGroup(out, "inet6", stats.groups6[g].device, stats.groups6[g].group,
                  stats.groups6[g].users);
    }
  }
  out += ']';
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

scanner::NetStatsFileSet netViewFiles(NetView view, std::optional<bool> route_family) {
  scanner::NetStatsFileSet files;
  switch (view) {
    case NetView::Interfaces:
      files.add(NetStatsFile::Dev);
      break;
    case NetView::Routes:
      if (route_family != true) {
        files.add(NetStatsFile::Route);
      }
      if (route_family != false) {
        files.add(NetStatsFile::Ipv6Route);
      }
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

std::string renderNetViewTable(NetView view,
                               const NetViewOptions& options,
                               const scanner::NetStats& stats,
                               const std::vector<scanner::LinkAttributes>& links) {
  const bool v6 = options.ipv6.value_or(false);
  switch (view) {
    case NetView::Interfaces:
      return renderInterfaceTable(stats.interfaces, linkInfos(links),
                                  InterfaceTableOptions{options.all});
    case NetView::Routes:
      return v6 ? renderIpv6Routes(stats.routes6, options.numeric)
                : renderIpv4Routes(stats.routes, options.numeric);
    case NetView::Stats:
      return renderCounters(stats, options.counters);
    case NetView::Groups:
      return renderGroups(stats.groups, stats.groups6,
                          GroupOptions{options.numeric, !v6, options.ipv6.value_or(true)});
  }
  return {};
}

std::string renderNetViewJson(const Snapshot& snapshot,
                              std::uint32_t netns_index,
                              const k8s::Pod* pod,
                              NetView view,
                              const NetViewOptions& options,
                              const scanner::NetStats& stats,
                              const std::vector<scanner::LinkAttributes>& links,
                              std::int64_t read_unix_ms) {
  std::string out = R"({"node":)";
  appendJsonString(out, snapshot.node());
  out += R"(,"scannedAt":)";
  appendJsonString(out, formatRfc3339Ms(snapshot.scan().started_unix_ms));
  out += R"(,"readAt":)";
  appendJsonString(out, formatRfc3339Ms(read_unix_ms));
  out += R"(,"netns":)";
  appendNetnsRefJson(out, snapshot.scan().namespaces[netns_index]);
  out += R"(,"pod":)";
  appendPodRefJson(out, pod == nullptr
                            ? std::nullopt
                            : std::optional<k8s::SocketPod>(k8s::SocketPod{pod, nullptr}));
  out += ',';
  if (view == NetView::Stats) {
    appendCounters(out, stats);
  } else {
    appendItems(out, view, !options.ipv6.value_or(false), options.ipv6.value_or(true), stats,
                links);
  }
  // Files this namespace does not have (e.g. ipv6_route with IPv6 disabled).
  out += R"(,"missingFiles":[)";
  Commas commas(out);
  for (const NetStatsFile f : scanner::kAllNetStatsFiles) {
    if (stats.missing.contains(f)) {
      commas.next();
      appendJsonString(out, scanner::netStatsFileName(f));
    }
  }
  out += "]}\n";
  return out;
}

}  // namespace podnetstat::agent
