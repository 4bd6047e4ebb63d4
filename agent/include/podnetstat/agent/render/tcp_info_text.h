#pragma once

// The detail line `ss -tin` prints under a TCP socket, from the same tcp_info, in ss's own words
// and order (iproute2 misc/ss.c, tcp_stats_print), so that people who read `ss -ti` read it at
// once. Rates are numeric (`-n`: bits per second, no K/M/G). The congestion modules' own
// attributes (bbr:(...), dctcp:(...)) are not asked of the kernel and so not printed.

#include <string>

#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// Appends `\t <words>\n` for a TCP socket with sock_diag details; nothing otherwise.
void appendSsTcpInfoLine(std::string& out, const scanner::Socket& s);

}  // namespace podnetstat::agent
