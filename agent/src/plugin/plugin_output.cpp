#include "podnetstat/agent/plugin/plugin_output.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>

#include "podnetstat/agent/render/labels.h"

namespace podnetstat::agent::plugin {
namespace {

using json = nlohmann::ordered_json;

/// kubectl's column gap (its tabwriter's padding).
constexpr std::size_t kGap = 3;

std::string yesNo(const json& value) {
  if (!value.is_boolean()) {
    return "-";
  }
  return value.get<bool>() ? "yes" : "no";
}

std::string containerName(const json& row) {
  const json* pod = row.contains("pod") ? &row["pod"] : nullptr;
  if (pod == nullptr || !pod->is_object() || !pod->contains("container") ||
      !(*pod)["container"].is_object()) {
    return "-";
  }
  const json& c = (*pod)["container"];
  if (c.value("name", json()).is_string()) {
    return c["name"].get<std::string>();
  }
  return c.value("id", json()).is_string() ? c["id"].get<std::string>().substr(0, 12) : "-";
}

std::string field(const json& row, const char* name) {
  const json& pod = row.value("pod", json());
  return pod.is_object() && pod.value(name, json()).is_string() ? pod[name].get<std::string>()
                                                                : "-";
}

/// Lines of cells, every column but the last padded to its widest cell plus the gap.
std::string columns(const std::vector<std::vector<std::string>>& lines) {
  std::vector<std::size_t> widths;
  for (const auto& line : lines) {
    widths.resize(std::max(widths.size(), line.size()));
    for (std::size_t c = 0; c < line.size(); ++c) {
      widths[c] = std::max(widths[c], line[c].size());
    }
  }
  std::string out;
  for (const auto& line : lines) {
    for (std::size_t c = 0; c < line.size(); ++c) {
      out += line[c];
      if (c + 1 < line.size()) {
        out.append(widths[c] - line[c].size() + kGap, ' ');
      }
    }
    out += '\n';
  }
  return out;
}

// ---------------------------------------------------------------- YAML

bool looksLikeNumber(std::string_view s) {
  std::size_t i = (s.front() == '-' || s.front() == '+') ? 1 : 0;
  if (i >= s.size()) {
    return false;
  }
  const std::string_view rest = s.substr(i);
  if (rest == ".inf" || rest == ".Inf" || rest == ".INF" || rest == ".nan" || rest == ".NaN" ||
      rest == ".NAN" || rest.starts_with("0x") || rest.starts_with("0o")) {
    return true;
  }
  bool digit = false;
  for (char c : rest) {
    if (std::isdigit(static_cast<unsigned char>(c)) != 0) {
      digit = true;
    } else if (c != '.' && c != 'e' && c != 'E' && c != '-' && c != '+' && c != '_') {
      return false;
    }
  }
  return digit;
}

/// Whether YAML 1.1 or 1.2 would read `s` unquoted as this same string.
bool plainSafe(std::string_view s) {
  static constexpr std::array<std::string_view, 22> kSpecial = {
      "true", "false", "yes",  "no",   "on",    "off", "null", "True", "False", "Yes", "No",
      "On",   "Off",   "NULL", "TRUE", "FALSE", "YES", "NO",   "ON",   "OFF",   "y",   "n"};
  if (s.empty() || s == "~" || s == "Y" || s == "N" ||
      std::ranges::find(kSpecial, s) != kSpecial.end() || looksLikeNumber(s)) {
    return false;
  }
  // YAML 1.1 reads 2026-12-07T05:40:00.123Z as a timestamp and 1:20 as a number (base 60).
  if (std::isdigit(static_cast<unsigned char>(s.front())) != 0 &&
      s.find_first_of("-:") != std::string_view::npos) {
    return false;
  }
  if (std::string_view("-?:,[]{}#&*!|>'\"%@` ").find(s.front()) != std::string_view::npos ||
      s.back() == ' ' || s.back() == ':') {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x7f) {
      return false;
    }
    if ((c == ':' && i + 1 < s.size() && s[i + 1] == ' ') || (c == '#' && s[i - 1] == ' ')) {
      return false;
    }
  }
  return true;
}

std::string yamlScalar(const json& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return plainSafe(s) ? s : v.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (v.is_object()) {
    return "{}";
  }
  if (v.is_array()) {
    return "[]";
  }
  return v.dump();
}

bool isBlock(const json& v) {
  return (v.is_object() || v.is_array()) && !v.empty();
}

void appendYaml(std::string& out, const json& v, std::size_t indent, bool inline_first);

void appendYamlObject(std::string& out, const json& v, std::size_t indent, bool inline_first) {
  bool first = true;
  for (const auto& [key, value] : v.items()) {
    if (!(first && inline_first)) {
      out.append(indent, ' ');
    }
    first = false;
    out += yamlScalar(json(key));
    out += ':';
    if (!isBlock(value)) {
      out += ' ';
      out += yamlScalar(value);
      out += '\n';
    } else {
      out += '\n';
      // kubectl (sigs.k8s.io/yaml) puts a list under a key at the key's own indentation.
      appendYaml(out, value, value.is_array() ? indent : indent + 2, false);
    }
  }
}

void appendYaml(std::string& out, const json& v, std::size_t indent, bool inline_first) {
  if (v.is_object() && !v.empty()) {
    appendYamlObject(out, v, indent, inline_first);
    return;
  }
  if (v.is_array() && !v.empty()) {
    for (const json& item : v) {
      out.append(indent, ' ');
      out += "- ";
      if (item.is_object() && !item.empty()) {
        appendYamlObject(out, item, indent + 2, true);
      } else if (item.is_array() && !item.empty()) {
        out += '\n';
        appendYaml(out, item, indent + 2, false);
      } else {
        out += yamlScalar(item);
        out += '\n';
      }
    }
    return;
  }
  out += yamlScalar(v);
  out += '\n';
}

}  // namespace

std::string socketTable(const RemoteSockets& sockets,
                        const NetstatOptions& options,
                        bool pod_column) {
  NetstatOptions numeric = options;
  numeric.numeric_hosts = numeric.numeric_ports = numeric.numeric_users = true;
  NetstatRenderer renderer(numeric, nullptr);
  std::vector<const scanner::Socket*> all;
  all.reserve(sockets.scan.sockets.size());
  for (const auto& s : sockets.scan.sockets) {
    all.push_back(&s);
  }
  std::string out;
  if (!pod_column) {
    renderer.appendSockets(out, sockets.scan, all);
    return out;
  }
  const scanner::Socket* base = sockets.scan.sockets.data();
  renderer.appendSocketsWithColumn(
      out, sockets.scan, all, kPodColumn,
      [&](const scanner::Socket& s) { return sockets.pods[static_cast<std::size_t>(&s - base)]; });
  return out;
}

Result<std::string> listenerTable(const json& rows, bool wide) {
  auto sockets = socketsFromJson(rows);
  if (!sockets) {
    return sockets.error();
  }
  std::vector<std::vector<std::string>> lines;
  lines.push_back({"NODE", "NAMESPACE", "POD", "CONTAINER", "PROTO", "LOCAL ADDRESS", "EXPOSURE",
                   "DECLARED", "HOSTPORT", "PROGRAM"});
  if (wide) {
    lines.back().insert(lines.back().end(), {"UID0", "NETNS", "REASON"});
  }
  NetstatOptions address_options;
  address_options.numeric_hosts = address_options.numeric_ports = true;
  address_options.wide = true;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const json& row = rows[i];
    const scanner::Socket& s = sockets->scan.sockets[i];
    std::string local;
    if (s.transport == scanner::Transport::Unix) {
      local = std::string(netstatUnixPath(s));
      local = local.empty() ? "-" : local;
    } else {
      local = netstatAddress(s.local, s.transport, address_options, nullptr);
    }
    const json& host_port = row.value("hostPort", json());
    std::vector<std::string> line = {
        row.value("node", json()).is_string() ? row["node"].get<std::string>() : "-",
        field(row, "namespace"),
        field(row, "name"),
        containerName(row),
        std::string(scanner::transportName(s.transport)),
        local,
        row.value("exposure", json()).is_string() ? row["exposure"].get<std::string>() : "-",
        yesNo(row.value("declared", json())),
        host_port.is_number_integer() ? std::to_string(host_port.get<int>()) : "-",
        netstatProgram(s, sockets->scan)};
    if (wide) {
      const auto& ns = sockets->scan.namespaces;
      const std::string netns =
          s.netns_index < ns.size()
              ? (ns[s.netns_index].names.empty() ? std::to_string(ns[s.netns_index].inode)
                                                 : ns[s.netns_index].names.front())
              : "-";
      line.insert(line.end(), {yesNo(row.value("uid0", json())), netns,
                               row.value("exposureReason", json()).is_string()
                                   ? row["exposureReason"].get<std::string>()
                                   : "-"});
    }
    lines.push_back(std::move(line));
  }
  return columns(lines);
}

std::string toJson(const json& value) {
  return value.dump(4, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string toYaml(const json& value) {
  std::string out;
  appendYaml(out, value, 0, false);
  return out;
}

}  // namespace podnetstat::agent::plugin
