#include "podnetstat/agent/api/api_query.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace podnetstat::agent {

namespace {

constexpr std::array<std::string_view, 6> kUnixStateNames = {
    "LISTENING", "UNCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING", "FREE"};

int hexValue(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) {
             return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

std::vector<std::string_view> splitComma(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const auto comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) {
      return out;
    }
    start = comma + 1;
  }
}

Error paramError(std::string_view name, std::string_view what) {
  return Error{"parameter '" + std::string(name) + "': " + std::string(what), ErrorKind::Invalid};
}

std::string quoted(std::string_view value) {
  return "'" + std::string(value) + "'";
}

template <class Int>
std::optional<Int> parseInt(std::string_view text) {
  Int value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) {
    return std::nullopt;
  }
  return value;
}

Result<OutputFormat> parseFormat(std::string_view value, bool table_allowed) {
  if (value == "json") {
    return OutputFormat::Json;
  }
  if (value == "table" && table_allowed) {
    return OutputFormat::Table;
  }
  return paramError("format",
                    quoted(value) + " is not one of " +
                        (table_allowed ? "json, table" : "json (table: socket lists only)"));
}

/// The filters of a socket list query as they are parsed.
struct SocketFilters {
  std::optional<scanner::TransportSet> transports;
  std::vector<std::string> states;
  std::vector<scanner::Filter> parts;

  /// Into `q`: the transports asked for, and every filter combined with AND (transports first).
  void into(SocketQuery& q) {
    if (transports) {
      q.transports = *transports;
      parts.insert(parts.begin(), scanner::Filter::transports(*transports));
    }
    if (!states.empty()) {
      parts.push_back(scanner::Filter::states(std::move(states)));
    }
    for (auto& part : parts) {
      q.filter = q.filter.isNoop() ? std::move(part) : (q.filter && part);
    }
  }
};

Result<Ok> takeTransports(std::string_view name,
                          std::string_view value,
                          scanner::TransportSet& transports) {
  for (auto item : splitComma(value)) {
    const auto t = scanner::transportFromName(item);
    if (!t) {
      return paramError(name, "unknown transport " + quoted(item) +
                                  " (tcp, tcp6, udp, udp6, udplite, udplite6, raw, raw6, unix)");
    }
    transports.add(*t);
  }
  return Ok{};
}

Result<Ok> takeStates(std::string_view name,
                      std::string_view value,
                      std::vector<std::string>& states) {
  for (auto item : splitComma(value)) {
    const bool known = scanner::tcpStateFromName(item).has_value() ||
                       std::any_of(kUnixStateNames.begin(), kUnixStateNames.end(),
                                   [&](std::string_view u) { return equalsIgnoreCase(u, item); });
    if (!known) {
      return paramError(name, "unknown state " + quoted(item) +
                                  " (e.g. LISTEN, ESTABLISHED, TIME_WAIT, CLOSE, LISTENING, "
                                  "CONNECTED)");
    }
    states.emplace_back(item);
  }
  return Ok{};
}

/// The filter parameters (transport, state, listening, connected, port, pid) into `filters`;
/// false when `name` is none of them.
Result<bool> takeFilterParam(const std::string& name,
                             const std::string& value,
                             SocketFilters& filters) {
  if (name == "transport") {
    if (!filters.transports) {
      filters.transports = scanner::TransportSet{};
    }
    auto r = takeTransports(name, value, *filters.transports);
    return r ? Result<bool>(true) : Result<bool>(r.error());
  }
  if (name == "state") {
    auto r = takeStates(name, value, filters.states);
    return r ? Result<bool>(true) : Result<bool>(r.error());
  }
  if (name == "listening" || name == "connected") {
    const auto b = parseBoolParam(name, value);
    if (!b) {
      return b.error();
    }
    auto f = name == "listening" ? scanner::Filter::listening() : scanner::Filter::connected();
    filters.parts.push_back(*b ? f : !f);
    return true;
  }
  if (name == "port") {
    const auto port = parseInt<std::uint32_t>(value);
    if (!port || *port > std::numeric_limits<std::uint16_t>::max()) {
      return paramError(name, quoted(value) + " is not a port number (0-65535)");
    }
    filters.parts.push_back(scanner::Filter::port(static_cast<std::uint16_t>(*port)));
    return true;
  }
  if (name == "pid") {
    const auto pid = parseInt<std::int32_t>(value);
    if (!pid || *pid <= 0) {
      return paramError(name, quoted(value) + " is not a process ID");
    }
    filters.parts.push_back(scanner::Filter::pid(*pid));
    return true;
  }
  return false;
}

}  // namespace

Result<bool> parseBoolParam(std::string_view name, std::string_view value) {
  if (value == "true") {
    return true;
  }
  if (value == "false") {
    return false;
  }
  return paramError(name, quoted(value) + " is not true or false (lowercase)");
}

Result<std::string> percentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int hi = i + 1 < text.size() ? hexValue(text[i + 1]) : -1;
      const int lo = i + 2 < text.size() ? hexValue(text[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Error{"bad percent-escape in " + quoted(text)};
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::vector<QueryParam>> parseQuery(std::string_view query) {
  std::vector<QueryParam> out;
  std::size_t start = 0;
  while (start <= query.size()) {
    auto amp = query.find('&', start);
    if (amp == std::string_view::npos) {
      amp = query.size();
    }
    const std::string_view piece = query.substr(start, amp - start);
    start = amp + 1;
    if (piece.empty()) {
      continue;
    }
    const auto eq = piece.find('=');
    auto name = percentDecode(piece.substr(0, eq), true);
    if (!name) {
      return name.error();
    }
    auto value = percentDecode(eq == std::string_view::npos ? "" : piece.substr(eq + 1), true);
    if (!value) {
      return Error{"parameter '" + *name + "': " + value.error().message};
    }
    out.push_back({std::move(*name), std::move(*value)});
  }
  return out;
}

Result<SocketQuery> parseSocketQuery(const std::vector<QueryParam>& params) {
  SocketQuery q;
  SocketFilters filters;
  std::vector<std::string> seen;
  for (const auto& [name, value] : params) {
    const bool repeatable = name == "transport" || name == "state";
    if (!repeatable && std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return paramError(name, "given more than once");
    }
    seen.push_back(name);
    if (value.empty() && name != "format") {
      return paramError(name, "empty value");
    }
    auto taken = takeFilterParam(name, value, filters);
    if (!taken) {
      return taken.error();
    }
    if (*taken) {
      continue;
    }
    if (name == "netns") {
      q.netns = value;
    } else if (name == "namespace") {
      q.k8s_namespace = value;
    } else if (name == "pod") {
      q.pod = value;
    } else if (name == "format") {
      auto f = parseFormat(value, true);
      if (!f) {
        return f.error();
      }
      q.format = *f;
    } else if (name == "tcpInfo") {
      auto b = parseBoolParam(name, value);
      if (!b) {
        return b.error();
      }
      q.tcp_info = *b;
    } else {
      return Error{"unknown parameter '" + name + "' (allowed: " + kSocketQueryParams + ")",
                   ErrorKind::Invalid};
    }
  }
  filters.into(q);
  return q;
}

Result<OutputFormat> parsePlainQuery(const std::vector<QueryParam>& params, bool table_allowed) {
  OutputFormat format = OutputFormat::Json;
  bool seen = false;
  for (const auto& [name, value] : params) {
    if (name != "format") {
      return Error{"unknown parameter '" + name + "' (allowed: format)"};
    }
    if (seen) {
      return paramError(name, "given more than once");
    }
    seen = true;
    auto f = parseFormat(value, table_allowed);
    if (!f) {
      return f.error();
    }
    format = *f;
  }
  return format;
}

Result<WatchQuery> takeWatchQuery(std::vector<QueryParam>& params) {
  WatchQuery q;
  std::vector<std::string> seen;
  std::vector<QueryParam> rest;
  for (auto& param : params) {
    const std::string& name = param.name;
    const std::string& value = param.value;
    const bool ours = name == "watch" || name == "resourceVersion" ||
                      name == "allowWatchBookmarks" || name == "timeoutSeconds";
    if (!ours) {
      rest.push_back(std::move(param));
      continue;
    }
    if (std::find(seen.begin(), seen.end(), name) != seen.end()) {
      return paramError(name, "given more than once");
    }
    seen.push_back(name);
    if (name == "watch" || name == "allowWatchBookmarks") {
      auto b = parseBoolParam(name, value);
      if (!b) {
        return b.error();
      }
      (name == "watch" ? q.watch : q.bookmarks) = *b;
      continue;
    }
    std::uint64_t number = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (value.empty() || ec != std::errc() || end != value.data() + value.size() ||
        (name == "timeoutSeconds" && number == 0)) {
      return paramError(name, name == "timeoutSeconds"
                                  ? "expected a whole number of seconds, 1 or more"
                                  : "expected a resourceVersion of a list or an event (a number)");
    }
    (name == "timeoutSeconds" ? q.timeout_seconds : q.resource_version) = number;
  }
  params = std::move(rest);
  return q;
}

}  // namespace podnetstat::agent
