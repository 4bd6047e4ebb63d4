// Hand-written tokenizer for /proc/net socket tables: one pass over the text, no allocation per
// inet row, no sscanf. Fields are whitespace-separated; columns are never taken by position in
// the line, because padding and the width of `sl` differ between tables and kernels.

#include "podnetstat/scanner/proc_net_parser.h"

#include <array>
#include <cstring>

namespace podnetstat::scanner {
namespace {

constexpr std::array<std::int8_t, 256> makeHexTable() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  for (int c = '0'; c <= '9'; ++c) {
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
  }
  for (int c = 'a'; c <= 'f'; ++c) {
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
  }
  for (int c = 'A'; c <= 'F'; ++c) {
    t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'A' + 10);
  }
  return t;
}

constexpr std::array<std::int8_t, 256> kHex = makeHexTable();

/// Reads whitespace-separated fields of one line.
class Fields {
 public:
  explicit Fields(std::string_view line) : rest_(line) {}

  /// The next field, or an empty view at the end of the line.
  std::string_view next() {
    std::size_t i = 0;
    while (i < rest_.size() && (rest_[i] == ' ' || rest_[i] == '\t')) {
      ++i;
    }
    std::size_t j = i;
    while (j < rest_.size() && rest_[j] != ' ' && rest_[j] != '\t') {
      ++j;
    }
    std::string_view field = rest_.substr(i, j - i);
    rest_.remove_prefix(j);
    return field;
  }

  /// What is left after the last field taken, with its leading blank removed.
  std::string_view remainder() const {
    std::string_view r = rest_;
    if (!r.empty() && r.front() == ' ') {
      r.remove_prefix(1);
    }
    return r;
  }

 private:
  std::string_view rest_;
};

template <class T>
bool parseHex(std::string_view s, T& out) {
  if (s.empty() || s.size() > sizeof(T) * 2) {
    return false;
  }
  T v = 0;
  for (char c : s) {
    const int d = kHex[static_cast<unsigned char>(c)];
    if (d < 0) {
      return false;
    }
    v = static_cast<T>((v << 4) | static_cast<T>(d));
  }
  out = v;
  return true;
}

template <class T>
bool parseDec(std::string_view s, T& out) {
  if (s.empty() || s.size() > 20) {
    return false;
  }
  bool negative = false;
  if (s.front() == '-') {
    if constexpr (static_cast<T>(-1) > 0) {
      return false;
    }
    negative = true;
    s.remove_prefix(1);
    if (s.empty()) {
      return false;
    }
  }
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) {
      return false;
    }
    v = v * 10 + digit;
  }
  if constexpr (static_cast<T>(-1) > 0) {
    if (v > static_cast<std::uint64_t>(static_cast<T>(-1))) {
      return false;
    }
    out = static_cast<T>(v);
  } else {
    if (v > static_cast<std::uint64_t>(INT64_MAX)) {
      return false;
    }
    out = static_cast<T>(negative ? -static_cast<std::int64_t>(v) : static_cast<std::int64_t>(v));
  }
  return true;
}

/// "HEX:HEX" into two values.
template <class A, class B>
bool parseHexPair(std::string_view s, A& a, B& b) {
  const std::size_t colon = s.find(':');
  return colon != std::string_view::npos && parseHex(s.substr(0, colon), a) &&
         parseHex(s.substr(colon + 1), b);
}

/// "ADDR:PORT" where ADDR is 8 (IPv4) or 32 (IPv6) hex digits, each 32-bit word printed by the
/// kernel as a native-endian %08X: copying the parsed word's bytes restores network order on any
/// endianness.
bool parseEndpoint(std::string_view s, bool v6, Endpoint& out) {
  const std::size_t want = v6 ? 32 : 8;
  if (s.size() != want + 5 || s[want] != ':') {
    return false;
  }
  out.ip.v6 = v6;
  for (std::size_t word = 0; word < want / 8; ++word) {
    std::uint32_t w = 0;
    if (!parseHex(s.substr(word * 8, 8), w)) {
      return false;
    }
    std::memcpy(out.ip.bytes.data() + word * 4, &w, 4);
  }
  return parseHex(s.substr(want + 1), out.port);
}

/// The leading "sl:" / "Num:" field: something followed by a colon.
bool isRowLabel(std::string_view s) {
  return s.size() >= 2 && s.back() == ':';
}

bool parseInetRow(std::string_view line, Transport transport, Socket& s) {
  Fields f(line);
  if (!isRowLabel(f.next())) {
    return false;
  }
  const bool v6 = isIpv6(transport);
  s.transport = transport;
  if (!parseEndpoint(f.next(), v6, s.local) || !parseEndpoint(f.next(), v6, s.remote)) {
    return false;
  }
  if (!parseHex(f.next(), s.state) || !parseHexPair(f.next(), s.tx_queue, s.rx_queue) ||
      !parseHexPair(f.next(), s.timer.active, s.timer.when_ticks) ||
      !parseHex(f.next(), s.timer.retransmits) || !parseDec(f.next(), s.uid) ||
      !parseDec(f.next(), s.timeout) || !parseDec(f.next(), s.inode)) {
    return false;
  }
  // Every row, short (TIME_WAIT, SYN_RECV) or not, goes on with the ref count and the socket
  // pointer; requiring both catches a row cut short inside the inode. Later fields (TCP's rto,
  // cwnd..., UDP's drops) are not needed.
  std::uint64_t pointer = 0;
  return parseDec(f.next(), s.ref_count) && parseHex(f.next(), pointer);
}

bool parseUnixRow(std::string_view line, Socket& s) {
  Fields f(line);
  if (!isRowLabel(f.next())) {
    return false;
  }
  std::uint32_t protocol = 0;
  s.transport = Transport::Unix;
  if (!parseHex(f.next(), s.ref_count) || !parseHex(f.next(), protocol) ||
      !parseHex(f.next(), s.unix_flags) || !parseHex(f.next(), s.unix_type) ||
      !parseHex(f.next(), s.state) || !parseDec(f.next(), s.inode)) {
    return false;
  }
  const std::string_view path = f.remainder();
  s.unix_has_path = !path.empty();
  s.unix_path.assign(path);
  return true;
}

template <class RowParser>
ParseCounts parseLines(std::string_view text, std::vector<Socket>& out, RowParser&& parseRow) {
  ParseCounts counts;
  bool header = true;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (header) {
      header = false;
      continue;
    }
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      continue;  // blank line (a trailing newline, padding): nothing to count
    }
    Socket& s = out.emplace_back();
    if (parseRow(line, s)) {
      ++counts.rows;
    } else {
      out.pop_back();
      ++counts.skipped;
    }
  }
  return counts;
}

}  // namespace

ParseCounts parseInetTable(std::string_view text, Transport transport, std::vector<Socket>& out) {
  return parseLines(text, out, [transport](std::string_view line, Socket& s) {
    return parseInetRow(line, transport, s);
  });
}

ParseCounts parseUnixTable(std::string_view text, std::vector<Socket>& out) {
  return parseLines(text, out, parseUnixRow);
}

ParseCounts parseTable(std::string_view text, Transport transport, std::vector<Socket>& out) {
  if (transport == Transport::Unix) {
    return parseUnixTable(text, out);
  }
  return parseInetTable(text, transport, out);
}

}  // namespace podnetstat::scanner
