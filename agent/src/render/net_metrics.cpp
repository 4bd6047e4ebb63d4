#include "podnetstat/agent/render/net_metrics.h"

#include <charconv>

#include "podnetstat/agent/render/labels.h"
#include "podnetstat/agent/render/metrics.h"

namespace podnetstat::agent {
namespace {

using scanner::InterfaceStats;

/// An interface counter: its metric name, help and field.
struct InterfaceMetric {
  const char* name;
  const char* help;
  std::uint64_t InterfaceStats::*field;
};

constexpr InterfaceMetric kInterfaceMetrics[] = {
    {"podnetstat_interface_receive_bytes_total", "Bytes received by an interface (net/dev).",
     &InterfaceStats::rx_bytes},
    {"podnetstat_interface_receive_packets_total", "Packets received by an interface.",
     &InterfaceStats::rx_packets},
    {"podnetstat_interface_receive_errors_total", "Receive errors of an interface.",
     &InterfaceStats::rx_errs},
    {"podnetstat_interface_receive_drops_total", "Received packets an interface dropped.",
     &InterfaceStats::rx_drop},
    {"podnetstat_interface_transmit_bytes_total", "Bytes sent by an interface.",
     &InterfaceStats::tx_bytes},
    {"podnetstat_interface_transmit_packets_total", "Packets sent by an interface.",
     &InterfaceStats::tx_packets},
    {"podnetstat_interface_transmit_errors_total", "Transmit errors of an interface.",
     &InterfaceStats::tx_errs},
    {"podnetstat_interface_transmit_drops_total", "Packets an interface dropped on transmit.",
     &InterfaceStats::tx_drop},
};

/// A per-namespace protocol counter: metric name, help, the transport label (null: none) and
/// the field.
struct ProtocolMetric {
  const char* name;
  const char* help;
  const char* transport;
  std::optional<std::uint64_t> NetnsCounters::*field;
};

constexpr ProtocolMetric kProtocolMetrics[] = {
    {"podnetstat_tcp_retransmitted_segments_total",
     "TCP segments retransmitted (snmp Tcp RetransSegs, IPv4 and IPv6).", nullptr,
     &NetnsCounters::tcp_retransmitted_segments},
    {"podnetstat_tcp_listen_overflows_total",
     "Connections a full listen queue could not take (TcpExt ListenOverflows).", nullptr,
     &NetnsCounters::tcp_listen_overflows},
    {"podnetstat_tcp_listen_drops_total",
     "Connection requests dropped at a listener for any reason (TcpExt ListenDrops).", nullptr,
     &NetnsCounters::tcp_listen_drops},
    {"podnetstat_udp_receive_errors_total",
     "UDP datagrams that could not be delivered (Udp InErrors, Udp6InErrors).", "udp",
     &NetnsCounters::udp_receive_errors},
    {"podnetstat_udp_receive_errors_total", nullptr, "udp6", &NetnsCounters::udp6_receive_errors},
    {"podnetstat_udp_receive_buffer_errors_total",
     "UDP datagrams dropped because a socket's receive buffer was full (Udp RcvbufErrors, "
     "Udp6RcvbufErrors).",
     "udp", &NetnsCounters::udp_receive_buffer_errors},
    {"podnetstat_udp_receive_buffer_errors_total", nullptr, "udp6",
     &NetnsCounters::udp6_receive_buffer_errors},
};

void appendUint(std::string& out, std::uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

}  // namespace

std::string renderNetCounterMetrics(const std::vector<NetnsCounters>& counters,
                                    const std::vector<std::string>& labels) {
  std::string out;
  for (const InterfaceMetric& m : kInterfaceMetrics) {
    appendMetricHeader(out, m.name, "counter", m.help);
    for (std::size_t n = 0; n < counters.size() && n < labels.size(); ++n) {
      for (const InterfaceStats& i : counters[n].interfaces) {
        out += m.name;
        out += '{';
        out += labels[n];
        out += ",interface=\"";
        out += escapeLabelValue(i.name);
        out += "\"} ";
        appendUint(out, i.*m.field);
        out += '\n';
      }
    }
  }
  for (const ProtocolMetric& m : kProtocolMetrics) {
    if (m.help != nullptr) {
      appendMetricHeader(out, m.name, "counter", m.help);
    }
    for (std::size_t n = 0; n < counters.size() && n < labels.size(); ++n) {
      const auto& value = counters[n].*m.field;
      if (!value) {
        continue;
      }
      out += m.name;
      out += '{';
      out += labels[n];
      if (m.transport != nullptr) {
        out += ",transport=\"";
        out += m.transport;
        out += '"';
      }
      out += "} ";
      appendUint(out, value.value_or(0));
      out += '\n';
    }
  }
  return out;
}

std::string netCounterSeries(const Snapshot& snapshot) {
  if (snapshot.netCounters().empty()) {
    return {};
  }
  const auto& namespaces = snapshot.scan().namespaces;
  std::vector<std::string> labels(namespaces.size());
  for (std::size_t ns = 0; ns < namespaces.size(); ++ns) {
    // The labels of podnetstat_sockets: a namespace's pod is the pod that owns it.
    appendPodSeriesLabels(labels[ns], snapshot.podIndex().ofNetns(namespaces[ns].inode));
    labels[ns] += R"(,netns=")";
    labels[ns] += escapeLabelValue(netnsLabel(namespaces[ns]));
    labels[ns] += '"';
  }
  return renderNetCounterMetrics(snapshot.netCounters(), labels);
}

}  // namespace podnetstat::agent
