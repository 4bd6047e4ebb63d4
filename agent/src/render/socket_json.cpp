#include "podnetstat/agent/render/socket_json.h"

#include <array>
#include <charconv>
#include <cstdint>

namespace podnetstat::agent {
namespace {

using scanner::ScanResult;
using scanner::Socket;
using scanner::Transport;

template <class Int>
void appendInt(std::string& out, Int value) {
  std::array<char, 24> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), value);
  (void)ec;  // 24 characters hold any 64-bit integer
  out.append(buf.data(), end);
}

void appendKey(std::string& out, std::string_view key) {
  out += '"';
  out += key;  // keys are ASCII literals
  out += "\":";
}

/// Seconds from USER_HZ (1/100 s) ticks, written exactly with two decimals ("7197.29", "0.00").
void appendTicksAsSeconds(std::string& out, std::uint64_t ticks) {
  appendInt(out, ticks / 100);
  out += '.';
  const auto cents = static_cast<unsigned>(ticks % 100);
  out += static_cast<char>('0' + cents / 10);
  out += static_cast<char>('0' + cents % 10);
}

std::string timerName(std::uint8_t active) {
  static constexpr std::array<std::string_view, 5> kNames = {"off", "on", "keepalive", "timewait",
                                                             "probe"};
  if (active < kNames.size()) {
    return std::string(kNames.at(active));
  }
  return "unknown(" + std::to_string(active) + ")";
}

std::string_view unixTypeName(std::uint16_t type) {
  static constexpr std::array<std::string_view, 6> kNames = {"unknown", "stream", "dgram",
                                                             "raw",     "rdm",    "seqpacket"};
  return type < kNames.size() ? kNames.at(type) : kNames[0];
}

void appendEndpoint(std::string& out, const scanner::Endpoint& e) {
  out += "{\"ip\":";
  appendJsonString(out, e.ip.toString());
  out += ",\"port\":";
  appendInt(out, e.port);
  out += '}';
}

void appendProcesses(std::string& out, const Socket& s, const ScanResult& scan) {
  out += '[';
  bool first = true;
  for (std::uint32_t index : scan.owners(s)) {
    if (index >= scan.processes.size()) {
      continue;
    }
    const scanner::Process& p = scan.processes[index];
    if (!first) {
      out += ',';
    }
    first = false;
    out += "{\"pid\":";
    appendInt(out, p.pid);
    out += ",\"name\":";
    appendJsonString(out, p.comm);
    out += ",\"program\":";
    appendJsonString(out, p.program);
    out += '}';
  }
  out += ']';
}

void appendNetns(std::string& out, const Socket& s, const ScanResult& scan) {
  if (s.netns_index >= scan.namespaces.size()) {
    out += "null";
    return;
  }
  appendNetnsRefJson(out, scan.namespaces[s.netns_index]);
}

void appendOptionalString(std::string& out, const std::optional<std::string>& text) {
  if (text) {
    appendJsonString(out, *text);
  } else {
    out += "null";
  }
}

void appendUnixFields(std::string& out, const Socket& s) {
  appendKey(out, "path");
  if (s.unix_has_path && !s.unix_path.empty()) {
    appendJsonString(out, s.unix_path);  // abstract names already start with '@'
  } else {
    out += "null";
  }
  out += ',';
  appendKey(out, "type");
  appendJsonString(out, unixTypeName(s.unix_type));
  out += ',';
  appendKey(out, "flags");
  out += '[';
  bool first = true;
  for (auto [bit, name] :
       {std::pair{scanner::kUnixFlagAcceptCon, "ACC"}, std::pair{scanner::kUnixFlagWaitData, "W"},
        std::pair{scanner::kUnixFlagNoSpace, "N"}}) {
    if ((s.unix_flags & bit) != 0) {
      if (!first) {
        out += ',';
      }
      first = false;
      appendJsonString(out, name);
    }
  }
  out += "],";
  appendKey(out, "state");
  appendJsonString(out, scanner::socketStateName(s));
}

/// How a tcp_info field is written: as the kernel counts it, microseconds as milliseconds, or
/// bytes per second as bits per second.
enum class Unit : std::uint8_t { Count, UsecAsMs, BytesAsBits };

struct TcpInfoKey {
  scanner::TcpInfoField field;
  std::string_view key;
  Unit unit;
};

using F = scanner::TcpInfoField;

// The tcpInfo object's fields, in the order written (docs/openapi.json: TcpInfo).
constexpr std::array<TcpInfoKey, 39> kTcpInfoKeys = {{
    {F::Rtt, "rttMs", Unit::UsecAsMs},
    {F::Rttvar, "rttVarMs", Unit::UsecAsMs},
    {F::MinRtt, "minRttMs", Unit::UsecAsMs},
    {F::Rto, "rtoMs", Unit::UsecAsMs},
    {F::Ato, "atoMs", Unit::UsecAsMs},
    {F::SndMss, "mss", Unit::Count},
    {F::RcvMss, "rcvMss", Unit::Count},
    {F::Advmss, "advMss", Unit::Count},
    {F::Pmtu, "pmtu", Unit::Count},
    {F::SndCwnd, "cwnd", Unit::Count},
    {F::SndSsthresh, "ssthresh", Unit::Count},
    {F::Unacked, "unacked", Unit::Count},
    {F::Sacked, "sacked", Unit::Count},
    {F::Retrans, "retrans", Unit::Count},
    {F::TotalRetrans, "totalRetrans", Unit::Count},
    {F::Lost, "lost", Unit::Count},
    {F::Reordering, "reordering", Unit::Count},
    {F::BytesSent, "bytesSent", Unit::Count},
    {F::BytesAcked, "bytesAcked", Unit::Count},
    {F::BytesReceived, "bytesReceived", Unit::Count},
    {F::BytesRetrans, "bytesRetrans", Unit::Count},
    {F::SegsOut, "segsOut", Unit::Count},
    {F::SegsIn, "segsIn", Unit::Count},
    {F::DataSegsOut, "dataSegsOut", Unit::Count},
    {F::DataSegsIn, "dataSegsIn", Unit::Count},
    {F::NotsentBytes, "notsentBytes", Unit::Count},
    {F::Delivered, "delivered", Unit::Count},
    {F::DeliveryRate, "deliveryRateBps", Unit::BytesAsBits},
    {F::PacingRate, "pacingRateBps", Unit::BytesAsBits},
    {F::MaxPacingRate, "maxPacingRateBps", Unit::BytesAsBits},
    {F::LastDataSent, "lastSendMs", Unit::Count},
    {F::LastDataRecv, "lastReceiveMs", Unit::Count},
    {F::LastAckRecv, "lastAckMs", Unit::Count},
    {F::BusyTime, "busyMs", Unit::UsecAsMs},
    {F::RwndLimited, "rwndLimitedMs", Unit::UsecAsMs},
    {F::SndbufLimited, "sndbufLimitedMs", Unit::UsecAsMs},
    {F::RcvRtt, "rcvRttMs", Unit::UsecAsMs},
    {F::RcvSpace, "rcvSpace", Unit::Count},
    {F::SndWnd, "sndWnd", Unit::Count},
}};

// The memory object's fields, in SK_MEMINFO_* order.
constexpr std::array<std::string_view, scanner::kSkMemFieldCount> kMemoryKeys = {
    "rmemAlloc",  "rcvbuf", "wmemAlloc", "sndbuf", "fwdAlloc",
    "wmemQueued", "optmem", "backlog",   "drops"};

/// `{"rttMs":..., ..., "congestion":..., "memory":{...}}`: the fields the kernel sent; a field it
/// did not send is left out. A rate of ~0 (no limit) is left out too.
void appendTcpInfoObject(std::string& out, const scanner::TcpDetails& d) {
  out += '{';
  bool first = true;
  auto key = [&](std::string_view k) {
    if (!first) {
      out += ',';
    }
    first = false;
    appendKey(out, k);
  };
  for (const TcpInfoKey& k : kTcpInfoKeys) {
    const auto v = d.field(k.field);
    if (!v || (k.unit == Unit::BytesAsBits && *v == ~std::uint64_t{0})) {
      continue;
    }
    key(k.key);
    switch (k.unit) {
      case Unit::Count:
        appendInt(out, *v);
        break;
      case Unit::UsecAsMs:
        appendJsonMillis(out, static_cast<double>(*v) / 1000.0);
        break;
      case Unit::BytesAsBits:
        appendInt(out, *v * 8);
        break;
    }
  }
  if (!d.congestion.empty()) {
    key("congestion");
    appendJsonString(out, d.congestion);
  }
  if (d.skmem_count > 0) {
    key("memory");
    out += '{';
    for (std::size_t i = 0; i < d.skmem_count; ++i) {
      if (i > 0) {
        out += ',';
      }
      appendKey(out, kMemoryKeys[i]);
      appendInt(out, d.skmem[i]);
    }
    out += '}';
  }
  out += '}';
}

/// `,"acceptQueue":{"length":N,"max":M}` for a TCP listener (max null where only procfs was
/// read: /proc/net/tcp does not show it); nothing for other sockets.
void appendAcceptQueue(std::string& out, const Socket& s) {
  if (!scanner::isTcp(s.transport) ||
      s.state != static_cast<std::uint8_t>(scanner::TcpState::Listen)) {
    return;
  }
  out += ",\"acceptQueue\":{\"length\":";
  appendInt(out, s.rx_queue);
  out += ",\"max\":";
  if (s.accept_queue_max) {
    appendInt(out, *s.accept_queue_max);
  } else {
    out += "null";
  }
  out += '}';
}

void appendInetFields(std::string& out, const Socket& s) {
  appendKey(out, "local");
  appendEndpoint(out, s.local);
  out += ',';
  appendKey(out, "remote");
  appendEndpoint(out, s.remote);
  out += ',';
  appendKey(out, "state");
  appendJsonString(out, scanner::socketStateName(s));
  out += ',';
  appendKey(out, "txQueue");
  appendInt(out, s.tx_queue);
  out += ',';
  appendKey(out, "rxQueue");
  appendInt(out, s.rx_queue);
  out += ',';
  appendKey(out, "timer");
  out += "{\"active\":";
  appendJsonString(out, timerName(s.timer.active));
  out += ",\"expiresSeconds\":";
  appendTicksAsSeconds(out, s.timer.when_ticks);
  out += ",\"retransmits\":";
  appendInt(out, s.timer.retransmits);
  out += "},";
  appendKey(out, "uid");
  appendInt(out, s.uid);
  out += ',';
  appendKey(out, "timeout");
  appendInt(out, s.timeout);
  appendAcceptQueue(out, s);
}

/// `{"inode":...,"name":...,"names":[...]`: how a namespace starts, as a reference and as an
/// object (left open).
void appendNetnsIdentity(std::string& out, const scanner::NetNamespace& ns) {
  out += "{\"inode\":";
  appendInt(out, ns.inode);
  out += ",\"name\":";
  if (ns.names.empty()) {
    out += "null";
  } else {
    appendJsonString(out, ns.names.front());
  }
  out += ",\"names\":[";
  for (std::size_t i = 0; i < ns.names.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    appendJsonString(out, ns.names[i]);
  }
  out += ']';
}

}  // namespace

void appendNetnsRefJson(std::string& out, const scanner::NetNamespace& ns) {
  appendNetnsIdentity(out, ns);
  out += '}';
}

void appendNetnsJson(std::string& out,
                     const scanner::NetNamespace& ns,
                     std::uint32_t sockets,
                     const k8s::Pod* pod) {
  appendNetnsIdentity(out, ns);
  out += R"(,"host":)";
  out += ns.is_host ? "true" : "false";
  out += R"(,"pids":[)";
  for (std::size_t i = 0; i < ns.pids.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    appendInt(out, ns.pids[i]);
  }
  out += R"(],"pod":)";
  appendPodRefJson(out, pod == nullptr
                            ? std::nullopt
                            : std::optional<k8s::SocketPod>(k8s::SocketPod{pod, nullptr}));
  out += R"(,"sockets":)";
  appendInt(out, sockets);
  out += R"(,"readable":)";
  out += ns.readable ? "true" : "false";
  out += R"(,"error":)";
  if (ns.error.empty()) {
    out += "null";
  } else {
    appendJsonString(out, ns.error);
  }
  out += '}';
}

void appendPodRefJson(std::string& out, const std::optional<k8s::SocketPod>& pod) {
  if (!pod || pod->pod == nullptr) {
    out += "null";
    return;
  }
  out += "{\"namespace\":";
  appendOptionalString(out, pod->pod->namespace_name);
  out += ",\"name\":";
  appendOptionalString(out, pod->pod->name);
  out += ",\"uid\":";
  appendJsonString(out, pod->pod->uid);
  out += ",\"container\":";
  if (pod->container == nullptr) {
    out += "null";
  } else {
    out += "{\"id\":";
    appendJsonString(out, pod->container->id);
    out += ",\"name\":";
    appendOptionalString(out, pod->container->name);
    out += '}';
  }
  out += '}';
}

void appendPodJson(std::string& out,
                   const k8s::Pod& pod,
                   const scanner::NetNamespace* netns,
                   const PodSocketCounts& sockets,
                   std::uint32_t late_listeners) {
  out += "{\"uid\":";
  appendJsonString(out, pod.uid);
  out += ",\"namespace\":";
  appendOptionalString(out, pod.namespace_name);
  out += ",\"name\":";
  appendOptionalString(out, pod.name);
  out += ",\"hostNetwork\":";
  out += pod.host_network ? "true" : "false";
  out += ",\"ips\":[";
  for (std::size_t i = 0; i < pod.ips.size(); ++i) {
    if (i > 0) {
      out += ',';
    }
    appendJsonString(out, pod.ips[i]);
  }
  out += "],\"netns\":";
  if (netns == nullptr) {
    out += "null";
  } else {
    appendNetnsRefJson(out, *netns);
  }
  out += ",\"containers\":[";
  for (std::size_t i = 0; i < pod.containers.size(); ++i) {
    const k8s::PodContainer& c = pod.containers[i];
    if (i > 0) {
      out += ',';
    }
    out += "{\"id\":";
    appendJsonString(out, c.id);
    out += ",\"name\":";
    appendOptionalString(out, c.name);
    out += ",\"pids\":[";
    for (std::size_t k = 0; k < c.pids.size(); ++k) {
      if (k > 0) {
        out += ',';
      }
      appendInt(out, c.pids[k]);
    }
    out += "]}";
  }
  out += "],\"sockets\":{\"total\":";
  appendInt(out, sockets.total);
  out += ",\"byState\":{";
  bool first = true;
  for (const auto& [state, count] : sockets.by_state) {
    if (!first) {
      out += ',';
    }
    first = false;
    appendJsonString(out, state);
    out += ':';
    appendInt(out, count);
  }
  out += "}},\"listeners\":{\"byExposure\":{";
  for (std::size_t e = 0; e < k8s::kExposureCount; ++e) {
    if (e > 0) {
      out += ',';
    }
    appendJsonString(out, k8s::exposureName(k8s::kAllExposures[e]));
    out += ':';
    appendInt(out, sockets.listeners.by_exposure[e]);
  }
  out += "},\"undeclared\":";
  // Without the kubelet's spec of the pod, how many are undeclared is unknown.
  if ((pod.sources & k8s::kSourceKubelet) == 0) {
    out += "null";
  } else {
    appendInt(out, sockets.listeners.undeclared);
  }
  out += "},\"lateListeners\":";
  appendInt(out, late_listeners);
  out += '}';
}

void appendSocketJson(std::string& out,
                      const Socket& s,
                      const ScanResult& scan,
                      const std::optional<k8s::SocketPod>& pod,
                      bool tcp_info,
                      std::string_view first_seen) {
  out += '{';
  appendKey(out, "transport");
  appendJsonString(out, scanner::transportName(s.transport));
  out += ',';
  if (s.transport == Transport::Unix) {
    // /proc/net/unix has no addresses, queues, uid or timers.
    appendUnixFields(out, s);
  } else {
    appendInetFields(out, s);
  }
  out += ',';
  appendKey(out, "inode");
  appendInt(out, s.inode);
  out += ',';
  appendKey(out, "refCount");
  appendInt(out, s.ref_count);
  out += ',';
  appendKey(out, "processes");
  appendProcesses(out, s, scan);
  out += ',';
  appendKey(out, "netns");
  appendNetns(out, s, scan);
  out += ',';
  appendKey(out, "pod");
  appendPodRefJson(out, pod);
  if (!first_seen.empty()) {
    out += ',';
    appendKey(out, "firstSeen");
    appendJsonString(out, first_seen);
  }
  if (tcp_info && s.transport != Transport::Unix) {
    out += ',';
    appendKey(out, "tcpInfo");
    if (s.tcp && (s.tcp->hasInfo() || !s.tcp->congestion.empty())) {
      appendTcpInfoObject(out, *s.tcp);
    } else {
      out += "null";
    }
  }
  out += '}';
}

}  // namespace podnetstat::agent
