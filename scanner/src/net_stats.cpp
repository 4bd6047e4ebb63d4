// Parsers for the per-namespace netstat files other than the socket tables, and the reader that
// fetches them. Each parser splits the text into lines and each line into blank-separated fields;
// columns are taken by field count, never by character position, because the kernel pads them
// differently across files and versions. Line formats are those of the kernel's seq_show
// functions (net/core/net-procfs.c, net/ipv4/fib_trie.c, net/ipv6/route.c, net/ipv4/proc.c,
// net/ipv6/proc.c, net/ipv4/igmp.c, net/ipv6/mcast.c).

#include "podnetstat/scanner/net_stats.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "sys/netns_enter.h"
#include "sys/procfs.h"

namespace podnetstat::scanner {
namespace {

constexpr bool isBlank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

/// Splits a line into blank-separated fields (at most N; more makes the line malformed).
template <std::size_t N>
struct Split {
  std::array<std::string_view, N> f{};
  std::size_t n = 0;
  bool overflow = false;
};

template <std::size_t N>
Split<N> split(std::string_view line) {
  Split<N> s;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && isBlank(line[i])) {
      ++i;
    }
    if (i == line.size()) {
      break;
    }
    std::size_t j = i;
    while (j < line.size() && !isBlank(line[j])) {
      ++j;
    }
    if (s.n == N) {
      s.overflow = true;
      break;
    }
    s.f[s.n++] = line.substr(i, j - i);
    i = j;
  }
  return s;
}

/// Calls fn(line) for every line (without '\n'); a final line without '\n' is passed too.
template <class Fn>
void forEachLine(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    fn(line);
    if (nl == std::string_view::npos) {
      break;
    }
    text.remove_prefix(nl + 1);
  }
}

bool isBlankLine(std::string_view line) {
  for (const char c : line) {
    if (!isBlank(c)) {
      return false;
    }
  }
  return true;
}

template <class T>
bool parseDec(std::string_view s, T& out) {
  if (s.empty()) {
    return false;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 10);
  return ec == std::errc() && p == s.data() + s.size();
}

template <class T>
bool parseHex(std::string_view s, T& out) {
  if (s.empty()) {
    return false;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return ec == std::errc() && p == s.data() + s.size();
}

/// A counter value as nstat reads it: unsigned decimal, or a negative one wrapped like strtoull.
bool parseCounterValue(std::string_view s, std::uint64_t& out) {
  if (!s.empty() && s.front() == '-') {
    std::int64_t v = 0;
    if (!parseDec(s, v)) {
      return false;
    }
    out = static_cast<std::uint64_t>(v);
    return true;
  }
  return parseDec(s, out);
}

/// 8 hex digits: a __be32 printed as a host-order word (as in the socket tables).
bool parseV4Word(std::string_view s, IpAddress& out) {
  std::uint32_t w = 0;
  if (s.size() != 8 || !parseHex(s, w)) {
    return false;
  }
  out = IpAddress{};
  std::memcpy(out.bytes.data(), &w, 4);
  return true;
}

/// 32 hex digits in network byte order (%pi6).
bool parseV6Bytes(std::string_view s, IpAddress& out) {
  if (s.size() != 32) {
    return false;
  }
  out = IpAddress{};
  out.v6 = true;
  for (std::size_t i = 0; i < 16; ++i) {
    std::uint8_t b = 0;
    if (!parseHex(s.substr(i * 2, 2), b)) {
      return false;
    }
    out.bytes[i] = b;
  }
  return true;
}

// /proc/net/dev columns after the name, in file order.
constexpr std::array<std::uint64_t InterfaceStats::*, 16> kNetDevColumns = {
    &InterfaceStats::rx_bytes,      &InterfaceStats::rx_packets,   &InterfaceStats::rx_errs,
    &InterfaceStats::rx_drop,       &InterfaceStats::rx_fifo,      &InterfaceStats::rx_frame,
    &InterfaceStats::rx_compressed, &InterfaceStats::rx_multicast, &InterfaceStats::tx_bytes,
    &InterfaceStats::tx_packets,    &InterfaceStats::tx_errs,      &InterfaceStats::tx_drop,
    &InterfaceStats::tx_fifo,       &InterfaceStats::tx_colls,     &InterfaceStats::tx_carrier,
    &InterfaceStats::tx_compressed};

constexpr std::array<std::string_view, kNetStatsFileCount> kNetStatsFileNames = {
    "dev", "route", "ipv6_route", "snmp", "netstat", "snmp6", "igmp", "igmp6"};

}  // namespace

bool isNstatHidden(std::string_view name) {
  for (const std::string_view hidden : kNstatHiddenCounters) {
    if (hidden == name) {
      return true;
    }
  }
  return false;
}

std::optional<std::uint64_t> findCounter(const std::vector<Counter>& counters,
                                         std::string_view name) {
  for (const Counter& c : counters) {
    if (c.name == name) {
      return c.value;
    }
  }
  return std::nullopt;
}

ParseCounts parseNetDev(std::string_view text, std::vector<InterfaceStats>& out) {
  ParseCounts counts;
  int line_no = 0;
  forEachLine(text, [&](std::string_view line) {
    if (++line_no <= 2 || isBlankLine(line)) {
      return;  // "Inter-|   Receive ..." and " face |bytes ..."
    }
    const std::size_t colon = line.rfind(':');
    if (colon == std::string_view::npos) {
      ++counts.skipped;
      return;
    }
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && isBlank(name.front())) {
      name.remove_prefix(1);
    }
    const auto fields = split<16>(line.substr(colon + 1));
    InterfaceStats s;
    bool ok = !name.empty() && fields.n == 16 && !fields.overflow;
    for (std::size_t i = 0; ok && i < kNetDevColumns.size(); ++i) {
      ok = parseDec(fields.f[i], s.*kNetDevColumns[i]);
    }
    if (!ok) {
      ++counts.skipped;
      return;
    }
    s.name = std::string(name);
    out.push_back(std::move(s));
    ++counts.rows;
  });
  return counts;
}

ParseCounts parseIpv4Routes(std::string_view text, std::vector<Ipv4Route>& out) {
  ParseCounts counts;
  bool header = true;
  forEachLine(text, [&](std::string_view line) {
    if (std::exchange(header, false) || isBlankLine(line)) {
      return;  // "Iface\tDestination\tGateway ..."
    }
    const auto f = split<11>(line);
    Ipv4Route r;
    const bool ok = f.n == 11 && !f.overflow && parseV4Word(f.f[1], r.destination) &&
                    parseV4Word(f.f[2], r.gateway) && parseHex(f.f[3], r.flags) &&
                    parseDec(f.f[4], r.ref_count) && parseDec(f.f[5], r.use) &&
                    parseDec(f.f[6], r.metric) && parseV4Word(f.f[7], r.mask) &&
                    parseDec(f.f[8], r.mtu) && parseDec(f.f[9], r.window) &&
                    parseDec(f.f[10], r.irtt);
    if (!ok) {
      ++counts.skipped;
      return;
    }
    r.iface = std::string(f.f[0]);
    out.push_back(std::move(r));
    ++counts.rows;
  });
  return counts;
}

ParseCounts parseIpv6Routes(std::string_view text, std::vector<Ipv6Route>& out) {
  ParseCounts counts;
  forEachLine(text, [&](std::string_view line) {
    if (isBlankLine(line)) {
      return;
    }
    const auto f = split<10>(line);
    Ipv6Route r;
    const bool ok =
        f.n == 10 && !f.overflow && parseV6Bytes(f.f[0], r.destination) && f.f[1].size() == 2 &&
        parseHex(f.f[1], r.destination_prefix) && r.destination_prefix <= 128 &&
        parseV6Bytes(f.f[2], r.source) && f.f[3].size() == 2 && parseHex(f.f[3], r.source_prefix) &&
        r.source_prefix <= 128 && parseV6Bytes(f.f[4], r.next_hop) && parseHex(f.f[5], r.metric) &&
        parseHex(f.f[6], r.ref_count) && parseHex(f.f[7], r.use) && parseHex(f.f[8], r.flags);
    if (!ok) {
      ++counts.skipped;
      return;
    }
    r.device = std::string(f.f[9]);
    out.push_back(std::move(r));
    ++counts.rows;
  });
  return counts;
}

namespace {

/// The "Tcp" of "Tcp: ..." (snmp, netstat); empty when the line has no such prefix.
std::string_view counterPrefix(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return {};
  }
  const std::string_view p = line.substr(0, colon);
  for (const char c : p) {
    if (isBlank(c)) {
      return {};
    }
  }
  return p;
}

/// Whether what follows a prefix is a value line: its first field is a number, a header's a name.
bool isValueLine(std::string_view rest) {
  const auto f = split<1>(rest);
  const char c = f.n > 0 ? f.f[0].front() : 'x';
  return (c >= '0' && c <= '9') || c == '-';
}

/// One header line and its value line: "<prefix><name>" = value for every column, or both lines
/// skipped when they do not pair up.
void takeCounterPair(std::string_view header,
                     std::string_view values,
                     std::vector<Counter>& out,
                     ParseCounts& counts) {
  const std::string_view prefix = counterPrefix(header);
  std::vector<std::string_view> names;
  std::vector<std::uint64_t> vals;
  std::string_view h = header.substr(prefix.size() + 1);
  std::string_view v = values.substr(prefix.size() + 1);
  bool ok = true;
  // Bounded by the line lengths: every step consumes one field.
  while (ok) {
    const auto hf = split<1>(h);
    const auto vf = split<1>(v);
    if (hf.n == 0 || vf.n == 0) {
      ok = hf.n == 0 && vf.n == 0;
      break;
    }
    std::uint64_t value = 0;
    ok = parseCounterValue(vf.f[0], value);
    names.push_back(hf.f[0]);
    vals.push_back(value);
    h.remove_prefix(static_cast<std::size_t>(hf.f[0].data() + hf.f[0].size() - h.data()));
    v.remove_prefix(static_cast<std::size_t>(vf.f[0].data() + vf.f[0].size() - v.data()));
  }
  if (!ok || names.empty()) {
    counts.skipped += 2;
    return;
  }
  for (std::size_t i = 0; i < names.size(); ++i) {
    std::string name;
    name.reserve(prefix.size() + names[i].size());
    name.append(prefix).append(names[i]);
    out.push_back(Counter{std::move(name), vals[i]});
  }
  counts.rows += names.size();
}

}  // namespace

ParseCounts parseCounterPairs(std::string_view text, std::vector<Counter>& out) {
  ParseCounts counts;
  // The header line waiting for its value line; empty when none.
  std::string_view pending;
  forEachLine(text, [&](std::string_view line) {
    if (isBlankLine(line)) {
      return;
    }
    const std::string_view prefix = counterPrefix(line);
    if (prefix.empty()) {
      if (!pending.empty()) {
        ++counts.skipped;  // its header, left without values
        pending = {};
      }
      ++counts.skipped;
      return;
    }
    const bool values = isValueLine(line.substr(prefix.size() + 1));
    if (pending.empty()) {
      if (values) {
        ++counts.skipped;  // values without a header
      } else {
        pending = line;
      }
      return;
    }
    if (values && counterPrefix(pending) == prefix) {
      takeCounterPair(pending, line, out, counts);
      pending = {};
      return;
    }
    ++counts.skipped;  // the pending header, left without values
    pending = {};
    if (values) {
      ++counts.skipped;
    } else {
      pending = line;
    }
  });
  if (!pending.empty()) {
    ++counts.skipped;
  }
  return counts;
}

ParseCounts parseSnmp6(std::string_view text, std::vector<Counter>& out) {
  ParseCounts counts;
  forEachLine(text, [&](std::string_view line) {
    if (isBlankLine(line)) {
      return;
    }
    const auto f = split<2>(line);
    std::uint64_t value = 0;
    if (f.n != 2 || f.overflow || !parseCounterValue(f.f[1], value)) {
      ++counts.skipped;
      return;
    }
    out.push_back(Counter{std::string(f.f[0]), value});
    ++counts.rows;
  });
  return counts;
}

ParseCounts parseIgmp(std::string_view text, std::vector<Ipv4Group>& out) {
  ParseCounts counts;
  bool header = true;
  // The device line the next group lines belong to; nullopt before the first one or after one
  // that did not parse.
  std::optional<Ipv4Group> device;
  forEachLine(text, [&](std::string_view line) {
    if (std::exchange(header, false) || isBlankLine(line)) {
      return;  // "Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter"
    }
    if (!isBlank(line.front())) {
      // "%d\t%-10s: %5d %7s": the name may hold no blank, so the colon follows it.
      device.reset();
      const std::size_t colon = line.rfind(':');
      if (colon == std::string_view::npos) {
        ++counts.skipped;
        return;
      }
      const auto left = split<2>(line.substr(0, colon));
      const auto right = split<2>(line.substr(colon + 1));
      Ipv4Group d;
      if (left.n != 2 || left.overflow || right.n != 2 || right.overflow ||
          !parseDec(left.f[0], d.ifindex) || !parseDec(right.f[0], d.device_groups)) {
        ++counts.skipped;
        return;
      }
      d.device = std::string(left.f[1]);
      d.querier = std::string(right.f[1]);
      device = std::move(d);
      return;
    }
    // "\t\t\t\t%08X %5d %d:%08lX\t\t%d"
    const auto f = split<4>(line);
    if (!device || f.n != 4 || f.overflow) {
      ++counts.skipped;
      return;
    }
    Ipv4Group g = *device;
    const std::size_t colon = f.f[2].find(':');
    int running = 0;
    int reporter = 0;
    const bool ok = parseV4Word(f.f[0], g.group) && parseDec(f.f[1], g.users) &&
                    colon != std::string_view::npos && parseDec(f.f[2].substr(0, colon), running) &&
                    parseHex(f.f[2].substr(colon + 1), g.timer) && parseDec(f.f[3], reporter);
    if (!ok) {
      ++counts.skipped;
      return;
    }
    g.timer_running = running != 0;
    g.reporter = reporter != 0;
    out.push_back(std::move(g));
    ++counts.rows;
  });
  return counts;
}

ParseCounts parseIgmp6(std::string_view text, std::vector<Ipv6Group>& out) {
  ParseCounts counts;
  forEachLine(text, [&](std::string_view line) {
    if (isBlankLine(line)) {
      return;
    }
    const auto f = split<6>(line);
    Ipv6Group g;
    const bool ok = f.n == 6 && !f.overflow && parseDec(f.f[0], g.ifindex) &&
                    parseV6Bytes(f.f[2], g.group) && parseDec(f.f[3], g.users) &&
                    parseHex(f.f[4], g.flags) && parseDec(f.f[5], g.timer);
    if (!ok) {
      ++counts.skipped;
      return;
    }
    g.device = std::string(f.f[1]);
    out.push_back(std::move(g));
    ++counts.rows;
  });
  return counts;
}

std::string_view netStatsFileName(NetStatsFile f) {
  return kNetStatsFileNames[static_cast<std::size_t>(f)];
}

namespace {

/// Parses one file's text into its place in NetStats.
ParseCounts parseInto(NetStatsFile f, std::string_view text, NetStats& s) {
  switch (f) {
    case NetStatsFile::Dev:
      return parseNetDev(text, s.interfaces);
    case NetStatsFile::Route:
      return parseIpv4Routes(text, s.routes);
    case NetStatsFile::Ipv6Route:
      return parseIpv6Routes(text, s.routes6);
    case NetStatsFile::Snmp:
      return parseCounterPairs(text, s.snmp);
    case NetStatsFile::Netstat:
      return parseCounterPairs(text, s.netstat);
    case NetStatsFile::Snmp6:
      return parseSnmp6(text, s.snmp6);
    case NetStatsFile::Igmp:
      return parseIgmp(text, s.groups);
    case NetStatsFile::Igmp6:
      return parseIgmp6(text, s.groups6);
  }
  return {};
}

}  // namespace

namespace {

/// Reads /proc/thread-self/net/<file> as seen from inside `ns` (for a namespace no process of
/// which is left): 0, or an errno (ENOENT: no such file in this namespace's kernel).
int readInside(int proc_fd,
               const Roots& roots,
               const NetNamespace& ns,
               NetStatsFile file,
               std::string& buf,
               std::string& why,
               ErrorKind& kind) {
  const std::string path = "/proc/thread-self/net/" + std::string(netStatsFileName(file));
  int open_errno = 0;
  auto fd = openInNamespace(proc_fd, roots.netns_dir, ns, [&] {
    const int opened = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    open_errno = opened < 0 ? errno : 0;
    return opened;
  });
  if (!fd) {
    why = fd.error().message;
    kind = fd.error().kind;
    return open_errno != 0 ? open_errno : EPERM;
  }
  const procfs::UniqueFd opened(*fd);
  const std::string self = "/proc/self/fd/" + std::to_string(opened.get());
  const int err = procfs::readFileAt(AT_FDCWD, self.c_str(), buf);
  if (err != 0) {
    why = std::strerror(err);
    kind = errorKindOfErrno(err);
  }
  return err;
}

}  // namespace

namespace {

/// Reads the files of one namespace into `stats`: through its processes in turn (one that has
/// gone, or whose PID now leads into another namespace, is left behind for good), and through its
/// name once no process is left.
class NamespaceFiles {
 public:
  NamespaceFiles(int proc_fd, const Roots& roots, const NetNamespace& ns, NetStats& stats)
      : proc_fd_(proc_fd), roots_(roots), ns_(ns), stats_(stats) {}

  /// Reads `file` (or records it as missing in this namespace); an error when no way in works.
  Result<Ok> read(NetStatsFile file) {
    int last_err = 0;
    if (throughProcesses(file, last_err)) {
      return Ok{};
    }
    std::string why = last_err != 0 ? std::strerror(last_err) : "no process left";
    // Every process failed: gone (ENOENT, ESRCH, none left) or not ours to read.
    ErrorKind kind = last_err != 0 ? errorKindOfErrno(last_err) : ErrorKind::Gone;
    if (!ns_.names.empty()) {
      // No process to read through, but a name to enter by.
      const int err = readInside(proc_fd_, roots_, ns_, file, buf_, why, kind);
      if (err == 0) {
        take(file, 0);
        return Ok{};
      }
      if (err == ENOENT) {
        stats_.missing.add(file);
        return Ok{};
      }
    }
    return Error{"every process of the namespace failed reading " +
                     std::string(netStatsFileName(file)) + ": " + why,
                 kind};
  }

 private:
  /// Whether the process in use still lives in the namespace: the PIDs are as old as the scan,
  /// and one may have exited and been reused by a process of another namespace since (its files
  /// would then answer for that namespace). Checked once per process.
  bool stillInNamespace(std::int32_t pid, int& err) {
    if (ns_.inode == 0 || checked_ == next_) {
      return true;
    }
    std::array<char, 64> path{};
    std::snprintf(path.data(), path.size(), "%d/ns/net", pid);

    struct stat st {};

    const int rc = ::fstatat(proc_fd_, path.data(), &st, 0);
    if (rc != 0 || st.st_ino != ns_.inode) {
      err = rc != 0 ? errno : ESRCH;
      return false;
    }
    checked_ = next_;
    return true;
  }

  /// Reads `file` through the namespace's processes; false when none could (`last_err` says
  /// why the last one failed).
  bool throughProcesses(NetStatsFile file, int& last_err) {
    for (; next_ < ns_.pids.size(); ++next_, ++stats_.vanished_processes) {
      const std::int32_t pid = ns_.pids[next_];
      if (!stillInNamespace(pid, last_err)) {
        continue;
      }
      std::array<char, 64> path{};
      std::snprintf(path.data(), path.size(), "%d/net/%s", pid, netStatsFileName(file).data());
      const int err = procfs::readFileAt(proc_fd_, path.data(), buf_);
      if (err == 0) {
        take(file, pid);
        return true;
      }
      last_err = err;
      if (err == ENOENT) {
        // The file does not exist in this kernel or namespace (no IPv6), or the process is gone:
        // its net dir tells which.
        std::snprintf(path.data(), path.size(), "%d/net", pid);
        if (::faccessat(proc_fd_, path.data(), F_OK, 0) == 0) {
          stats_.missing.add(file);
          stats_.pid = pid;
          return true;
        }
      }
    }
    return false;
  }

  /// Parses what was read of `file` (through `pid`; 0: from inside).
  void take(NetStatsFile file, std::int32_t pid) {
    const ParseCounts c = parseInto(file, buf_, stats_);
    stats_.skipped_lines[static_cast<std::size_t>(file)] += c.skipped;
    stats_.read.add(file);
    stats_.pid = pid;
  }

  int proc_fd_;
  const Roots& roots_;
  const NetNamespace& ns_;
  NetStats& stats_;
  std::string buf_;
  std::size_t next_ = 0;            // index into ns.pids of the process in use
  std::size_t checked_ = SIZE_MAX;  // ns.pids[checked_] was seen in the namespace
};

}  // namespace

Result<NetStats> readNetStats(const Roots& roots, const NetNamespace& ns, NetStatsFileSet what) {
  if (ns.pids.empty() && ns.names.empty()) {
    return Error{
        "no process lives in this network namespace and it has no name (its files are read "
        "through one of its processes)",
        ErrorKind::Unavailable};
  }
  const procfs::UniqueFd proc = procfs::openDir(AT_FDCWD, roots.proc.c_str());
  if (!proc.valid()) {
    const int err = errno;
    return Error{"cannot open " + roots.proc.string() + ": " + std::strerror(err),
                 err == ENOENT ? ErrorKind::NotFound : errorKindOfErrno(err)};
  }
  NetStats stats;
  NamespaceFiles files(proc.get(), roots, ns, stats);
  for (const NetStatsFile file : kAllNetStatsFiles) {
    if (!what.contains(file)) {
      continue;
    }
    if (auto read = files.read(file); !read) {
      return read.error();
    }
  }
  return stats;
}

}  // namespace podnetstat::scanner
