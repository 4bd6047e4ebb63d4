#include "podnetstat/agent/model/net_counters.h"

namespace podnetstat::agent {

scanner::NetStatsFileSet netCounterFiles() {
  using scanner::NetStatsFile;
  return scanner::NetStatsFileSet()
      .add(NetStatsFile::Dev)
      .add(NetStatsFile::Snmp)
      .add(NetStatsFile::Snmp6)
      .add(NetStatsFile::Netstat);
}

NetnsCounters netnsCounters(const scanner::NetStats& stats) {
  NetnsCounters c;
  c.read = true;
  c.interfaces = stats.interfaces;
  c.tcp_retransmitted_segments = scanner::findCounter(stats.snmp, "TcpRetransSegs");
  c.tcp_listen_overflows = scanner::findCounter(stats.netstat, "TcpExtListenOverflows");
  c.tcp_listen_drops = scanner::findCounter(stats.netstat, "TcpExtListenDrops");
  c.udp_receive_errors = scanner::findCounter(stats.snmp, "UdpInErrors");
  c.udp_receive_buffer_errors = scanner::findCounter(stats.snmp, "UdpRcvbufErrors");
  c.udp6_receive_errors = scanner::findCounter(stats.snmp6, "Udp6InErrors");
  c.udp6_receive_buffer_errors = scanner::findCounter(stats.snmp6, "Udp6RcvbufErrors");
  return c;
}

}  // namespace podnetstat::agent
