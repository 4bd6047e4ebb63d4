#pragma once

// The network counters people alert on, per network namespace: interface receive/transmit bytes,
// packets, errors and drops (/proc/<pid>/net/dev), TCP retransmitted segments (snmp Tcp
// RetransSegs), listen queue overflows and drops (netstat TcpExt ListenOverflows, ListenDrops),
// UDP receive and receive-buffer errors (snmp Udp InErrors, RcvbufErrors; snmp6 Udp6InErrors,
// Udp6RcvbufErrors). Read with every background scan (state/net_counters_reader.h), exported
// by /metrics (render/net_metrics.h).

#include <cstdint>
#include <optional>
#include <vector>

#include "podnetstat/scanner/net_stats.h"

namespace podnetstat::agent {

/// The counters of one namespace. `read` is false when its files could not be read (its
/// processes went away, or none lives in it): it then exports nothing.
struct NetnsCounters {
  bool read = false;
  std::vector<scanner::InterfaceStats> interfaces;
  std::optional<std::uint64_t> tcp_retransmitted_segments;  // TcpRetransSegs
  std::optional<std::uint64_t> tcp_listen_overflows;        // TcpExtListenOverflows
  std::optional<std::uint64_t> tcp_listen_drops;            // TcpExtListenDrops
  std::optional<std::uint64_t> udp_receive_errors;          // UdpInErrors
  std::optional<std::uint64_t> udp_receive_buffer_errors;   // UdpRcvbufErrors
  std::optional<std::uint64_t> udp6_receive_errors;         // Udp6InErrors
  std::optional<std::uint64_t> udp6_receive_buffer_errors;  // Udp6RcvbufErrors
};

/// The files the counters come from: dev, snmp, snmp6 and netstat.
scanner::NetStatsFileSet netCounterFiles();

/// The counters of `stats` (netCounterFiles() read).
NetnsCounters netnsCounters(const scanner::NetStats& stats);

}  // namespace podnetstat::agent
