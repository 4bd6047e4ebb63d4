#include "podnetstat/agent/api/net_views.h"

#include <string>
#include <utility>

#include "podnetstat/agent/api/responses.h"
#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/state/net_view_reader.h"

namespace podnetstat::agent {
namespace {

Error paramError(const std::string& name, std::string_view why) {
  return Error{"parameter '" + name + "': " + std::string(why), ErrorKind::Invalid};
}

/// 503 for a namespace that cannot be read now; only a vanished one is said to have gone.
HttpResponse unreadable(const Snapshot& snapshot, std::uint32_t netns_index, const Error& error) {
  const scanner::NetNamespace& ns = snapshot.scan().namespaces[netns_index];
  const std::string which =
      "network namespace " + netnsLabel(ns) + " (" + std::to_string(ns.inode) + ")";
  if (error.kind == ErrorKind::Gone) {
    return errorAnswer(
        503, which + " cannot be read now; it may have gone since the last scan: " + error.message);
  }
  return errorAnswer(503, which + " cannot be read now: " + error.message);
}

}  // namespace

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
      const auto all = parseBoolParam(name, value);
      if (!all) {
        return all.error();
      }
      q.all = *all;
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

HttpResponse netViewAnswer(const Snapshot& snapshot,
                           std::uint32_t netns_index,
                           const k8s::Pod* pod,
                           NetView view,
                           const NetViewQuery& query,
                           const scanner::Roots& roots,
                           bool with_links) {
  auto read =
      readNetView(roots, snapshot.scan().namespaces[netns_index], view, std::nullopt, with_links);
  if (!read) {
    return unreadable(snapshot, netns_index, read.error());
  }
  // Unknown MTU and flags are shown as such; they never fail the answer.
  const NetViewOptions options{
      .numeric = true, .all = query.all, .ipv6 = query.ipv6, .counters = {}};
  if (query.format == OutputFormat::Table) {
    return textAnswer(200, renderNetViewTable(view, options, read->stats, read->links));
  }
  return jsonAnswer(200, renderNetViewJson(snapshot, netns_index, pod, view, options, read->stats,
                                           read->links, read->read_unix_ms));
}

}  // namespace podnetstat::agent
