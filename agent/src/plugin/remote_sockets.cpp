#include "podnetstat/agent/plugin/remote_sockets.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <string_view>
#include <unordered_map>

namespace podnetstat::agent::plugin {
namespace {

using json = nlohmann::ordered_json;
using scanner::Socket;
using scanner::Transport;

// The API's names of the kernel's numbers (render/socket_json.cpp writes them).
constexpr std::array<std::string_view, 5> kTimerNames = {"off", "on", "keepalive", "timewait",
                                                         "probe"};
constexpr std::array<std::string_view, 6> kUnixTypeNames = {"unknown", "stream", "dgram",
                                                            "raw",     "rdm",    "seqpacket"};
constexpr std::array<std::pair<std::string_view, std::uint8_t>, 6> kUnixStates = {{
    {"FREE", 0},
    {"LISTENING", 1},
    {"UNCONNECTED", 1},
    {"CONNECTING", 2},
    {"CONNECTED", 3},
    {"DISCONNECTING", 4},
}};
constexpr std::array<std::pair<std::string_view, std::uint32_t>, 3> kUnixFlags = {{
    {"ACC", scanner::kUnixFlagAcceptCon},
    {"W", scanner::kUnixFlagWaitData},
    {"N", scanner::kUnixFlagNoSpace},
}};

/// n of "PREFIX(n)" ("UNKNOWN(12)", "unknown(9)").
std::optional<std::uint8_t> numberIn(std::string_view text, std::string_view prefix) {
  if (!text.starts_with(prefix) || !text.ends_with(')') || text.size() < prefix.size() + 3 ||
      text[prefix.size()] != '(') {
    return std::nullopt;
  }
  const std::string_view digits = text.substr(prefix.size() + 1, text.size() - prefix.size() - 2);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size() || value > 255) {
    return std::nullopt;
  }
  return static_cast<std::uint8_t>(value);
}

/// Reads the fields of one item; the first problem is kept and names the item and field.
class Fields {
 public:
  Fields(const json& object, std::size_t index) : object_(object), index_(index) {}

  const json& field(const char* name) {
    static const json kNull;
    if (!object_.is_object() || !object_.contains(name)) {
      fail(name, "missing");
      return kNull;
    }
    return object_[name];
  }

  template <class Int>
  Int integer(const json& value, const char* name) {
    if (!value.is_number_integer() && !value.is_number_unsigned()) {
      fail(name, "not an integer");
      return 0;
    }
    return value.get<Int>();
  }

  template <class Int>
  Int integer(const char* name) {
    return integer<Int>(field(name), name);
  }

  std::string text(const json& value, const char* name) {
    if (!value.is_string()) {
      fail(name, "not a string");
      return {};
    }
    return value.get<std::string>();
  }

  std::string text(const char* name) { return text(field(name), name); }

  scanner::Endpoint endpoint(const char* name) {
    const json& e = field(name);
    scanner::Endpoint out;
    if (!e.is_object() || !e.contains("ip") || !e.contains("port")) {
      fail(name, "not an {ip, port} object");
      return out;
    }
    const auto ip = scanner::IpAddress::parse(text(e["ip"], name));
    if (!ip) {
      fail(name, "not an IP address");
      return out;
    }
    out.ip = *ip;
    out.port = integer<std::uint16_t>(e["port"], name);
    return out;
  }

  void fail(const char* name, const char* what) {
    if (!error_) {
      error_ = Error{"item " + std::to_string(index_) + ": field '" + name + "' " + what};
    }
  }

  const std::optional<Error>& error() const { return error_; }

 private:
  const json& object_;
  std::size_t index_;
  std::optional<Error> error_;
};

void readState(Fields& f, Socket& s) {
  const std::string state = f.text("state");
  std::optional<std::uint8_t> number = numberIn(state, "UNKNOWN");
  if (s.transport == Transport::Unix) {
    for (const auto& [name, value] : kUnixStates) {
      if (state == name) {
        number = value;
      }
    }
  } else if (!number) {
    number = scanner::tcpStateFromName(state);
  }
  if (!number) {
    f.fail("state", "not a state name");
  }
  s.state = number.value_or(0);
}

void readUnix(Fields& f, Socket& s) {
  const json& path = f.field("path");
  if (path.is_string()) {
    s.unix_path = path.get<std::string>();
    s.unix_has_path = true;
  } else if (!path.is_null()) {
    f.fail("path", "neither a string nor null");
  }
  const std::string type = f.text("type");
  const auto t = std::ranges::find(kUnixTypeNames, type);
  s.unix_type =
      static_cast<std::uint16_t>(t == kUnixTypeNames.end() ? 0 : t - kUnixTypeNames.begin());
  const json& flags = f.field("flags");
  for (const json& flag : flags.is_array() ? flags : json::array()) {
    for (const auto& [name, bit] : kUnixFlags) {
      if (flag == name) {
        s.unix_flags |= bit;
      }
    }
  }
}

void readInet(Fields& f, Socket& s) {
  s.local = f.endpoint("local");
  s.remote = f.endpoint("remote");
  s.tx_queue = f.integer<std::uint64_t>("txQueue");
  s.rx_queue = f.integer<std::uint64_t>("rxQueue");
  s.uid = f.integer<std::uint32_t>("uid");
  s.timeout = f.integer<std::int64_t>("timeout");
  const json& timer = f.field("timer");
  if (!timer.is_object() || !timer.contains("active") || !timer.contains("expiresSeconds") ||
      !timer.contains("retransmits") || !timer["expiresSeconds"].is_number()) {
    f.fail("timer", "not an {active, expiresSeconds, retransmits} object");
    return;
  }
  const std::string active = f.text(timer["active"], "timer");
  const auto known = std::ranges::find(kTimerNames, active);
  s.timer.active = known != kTimerNames.end()
                       ? static_cast<std::uint8_t>(known - kTimerNames.begin())
                       : numberIn(active, "unknown").value_or(0);
  s.timer.when_ticks =
      static_cast<std::uint64_t>(std::llround(timer["expiresSeconds"].get<double>() * 100));
  s.timer.retransmits = f.integer<std::uint32_t>(timer["retransmits"], "timer");
}

}  // namespace

std::string podLabel(const json& object) {
  if (!object.is_object() || !object.contains("pod") || !object["pod"].is_object()) {
    return "-";
  }
  const json& pod = object["pod"];
  if (pod.value("namespace", json()).is_string() && pod.value("name", json()).is_string()) {
    return pod["namespace"].get<std::string>() + "/" + pod["name"].get<std::string>();
  }
  return pod.value("uid", json()).is_string() ? pod["uid"].get<std::string>() : "-";
}

Result<RemoteSockets> socketsFromJson(const json& items) {
  if (!items.is_array()) {
    return Error{"the answer's items are not an array"};
  }
  RemoteSockets out;
  auto& scan = out.scan;
  std::unordered_map<std::uint64_t, std::uint32_t> netns_index;
  std::map<std::int32_t, scanner::Process> processes;  // by PID, ascending
  std::vector<std::vector<std::int32_t>> owners;       // per socket

  for (std::size_t i = 0; i < items.size(); ++i) {
    const json& item = items[i];
    Fields f(item, i);
    Socket s;
    const auto transport = scanner::transportFromName(f.text("transport"));
    if (!transport) {
      return f.error().value_or(Error{"item " + std::to_string(i) + ": unknown transport"});
    }
    s.transport = *transport;
    if (s.transport == Transport::Unix) {
      readUnix(f, s);
    } else {
      readInet(f, s);
    }
    readState(f, s);
    s.inode = f.integer<std::uint64_t>("inode");
    s.ref_count = f.integer<std::uint32_t>("refCount");

    const json& netns = f.field("netns");
    if (netns.is_object() && netns.contains("inode")) {
      const auto inode = f.integer<std::uint64_t>(netns["inode"], "netns");
      auto [it, added] = netns_index.try_emplace(inode, scan.namespaces.size());
      if (added) {
        scanner::NetNamespace ns;
        ns.inode = inode;
        for (const json& name : netns.value("names", json::array())) {
          if (name.is_string()) {
            ns.names.push_back(name.get<std::string>());
          }
        }
        scan.namespaces.push_back(std::move(ns));
      }
      s.netns_index = it->second;
      ++scan.namespaces[it->second].socket_count;
    } else if (!netns.is_null()) {
      f.fail("netns", "not an object");
    }

    std::vector<std::int32_t> pids;
    const json& list = f.field("processes");
    for (const json& p : list.is_array() ? list : json::array()) {
      if (!p.is_object()) {
        f.fail("processes", "not a list of objects");
        break;
      }
      scanner::Process process;
      process.pid = f.integer<std::int32_t>(p.value("pid", json()), "processes");
      process.comm = f.text(p.value("name", json()), "processes");
      // Agents before the program field: the command name is the best there is.
      process.program = p.contains("program") ? f.text(p["program"], "processes") : process.comm;
      pids.push_back(process.pid);
      processes.try_emplace(process.pid, std::move(process));
    }
    if (f.error()) {
      return *f.error();
    }
    std::ranges::sort(pids);
    owners.push_back(std::move(pids));
    out.pods.push_back(podLabel(item));
    scan.sockets.push_back(std::move(s));
  }

  std::unordered_map<std::int32_t, std::uint32_t> process_index;
  for (auto& [pid, process] : processes) {
    process_index[pid] = static_cast<std::uint32_t>(scan.processes.size());
    scan.processes.push_back(std::move(process));
  }
  for (std::size_t i = 0; i < scan.sockets.size(); ++i) {
    Socket& s = scan.sockets[i];
    s.owners_begin = static_cast<std::uint32_t>(scan.owner_table.size());
    s.owners_count = static_cast<std::uint32_t>(owners[i].size());
    for (std::int32_t pid : owners[i]) {
      scan.owner_table.push_back(process_index[pid]);
    }
  }
  return out;
}

}  // namespace podnetstat::agent::plugin
