#pragma once

// Pure parsers for the kernel's socket tables (/proc/<pid>/net/{tcp,tcp6,udp,udp6,udplite,
// udplite6,raw,raw6,unix}). They take the file's text and never touch the filesystem.

#include <cstdint>
#include <string_view>
#include <vector>

#include "podnetstat/scanner/model.h"

namespace podnetstat::scanner {

/// What one table parse produced: sockets are appended to the caller's vector.
struct ParseCounts {
  std::uint64_t rows = 0;     // rows appended
  std::uint64_t skipped = 0;  // malformed rows skipped (the header line is not counted)
};

/// Parses one inet table (tcp, tcp6, udp, udp6, udplite, udplite6, raw, raw6) and appends a Socket
/// per well-formed row, in file order. The first line is the header and is ignored. A row that
/// does not parse (truncated, garbage, wrong address width) is skipped and counted; the rest of
/// the file is still read. Accepts the short TIME_WAIT/SYN_RECV rows and 64-bit inodes.
ParseCounts parseInetTable(std::string_view text, Transport transport, std::vector<Socket>& out);

/// Parses /proc/net/unix likewise. The path is everything after the 7th field, kept verbatim
/// (including blanks); abstract names keep their leading '@'.
ParseCounts parseUnixTable(std::string_view text, std::vector<Socket>& out);

/// Dispatches to parseInetTable or parseUnixTable.
ParseCounts parseTable(std::string_view text, Transport transport, std::vector<Socket>& out);

}  // namespace podnetstat::scanner
