#pragma once

// The network counters people alert on, per network namespace, for /metrics: interface
// receive/transmit bytes, packets, errors and drops (/proc/<pid>/net/dev), TCP retransmitted
// segments (snmp Tcp RetransSegs), listen queue overflows and drops (netstat TcpExt
// ListenOverflows, ListenDrops), UDP receive and receive-buffer errors (snmp Udp InErrors,
// RcvbufErrors; snmp6 Udp6InErrors, Udp6RcvbufErrors). Read once per background scan for every
// namespace of the scan (the same namespaces podnetstat_sockets covers), after the socket scan:
// four small files per namespace, no namespace entered.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/net_stats.h"
#include "podnetstat/scanner/scan.h"

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

/// The counters of `stats` (dev, snmp, snmp6 and netstat read).
NetnsCounters netnsCounters(const scanner::NetStats& stats);

/// Reads the counters of every namespace of `scan` (index for index) under the scanner's roots,
/// on the scanner's worker pool. Never fails: an unreadable namespace has read == false.
std::vector<NetnsCounters> readNetCounters(const scanner::ScanResult& scan,
                                           const scanner::Scanner& scanner);

/// The Prometheus series of `counters`, one block per metric (HELP and TYPE once each, also when
/// there are no series). `labels[i]` is namespace i's label set without braces
/// (`namespace="shop",pod="web-0",netns="cni-1"`); per-interface series add `interface`, UDP ones
/// `transport` (udp, udp6).
std::string renderNetCounterMetrics(const std::vector<NetnsCounters>& counters,
                                    const std::vector<std::string>& labels);

}  // namespace podnetstat::agent
