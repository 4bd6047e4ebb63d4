#pragma once

// The query string of an API request: percent-decoding and the socket list filters of DESIGN.md
// ("Socket list filters"). Errors name the parameter at fault; the handler answers them with 400.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/scanner/filter.h"
#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

/// Decodes %XX escapes, and '+' as a blank when `plus_is_space` (query strings). A '%' not
/// followed by two hex digits is an error.
Result<std::string> percentDecode(std::string_view text, bool plus_is_space);

struct QueryParam {
  std::string name;
  std::string value;
};

/// Splits "a=1&b=x%20y" into decoded name/value pairs, in order. A piece without '=' has an empty
/// value; empty pieces ("a=1&&b=2") are ignored.
Result<std::vector<QueryParam>> parseQuery(std::string_view query);

/// The value of a boolean query parameter, the same on every route (docs/openapi.json): `true` or
/// `false`, lowercase, as OpenAPI clients send a boolean. Any other spelling (`1`, `0`, `TRUE`,
/// `yes`, empty) is an error naming the parameter.
Result<bool> parseBoolParam(std::string_view name, std::string_view value);

enum class OutputFormat : std::uint8_t { Json, Table };

/// A parsed socket list query.
struct SocketQuery {
  /// transport, state, listening, connected, port and pid, combined with AND.
  scanner::Filter filter;
  /// The transports asked for (all when `transport` is absent); the table prints only the
  /// blocks (inet, unix) these need.
  scanner::TransportSet transports = scanner::TransportSet::all();
  /// `netns`: a namespace name or inode.
  std::optional<std::string> netns;
  /// `namespace` and `pod`: Kubernetes names.
  std::optional<std::string> k8s_namespace;
  std::optional<std::string> pod;
  OutputFormat format = OutputFormat::Json;
  /// `tcpInfo`: each TCP socket's tcp_info (JSON `tcpInfo`; the table: ss's detail line).
  bool tcp_info = false;
};

/// The parameters a socket list accepts, in the order error messages list them.
inline constexpr const char* kSocketQueryParams =
    "transport, state, listening, connected, port, pid, netns, namespace, pod, format, tcpInfo";

/// Parses the parameters of a socket list. `transport` and `state` are comma lists and may be
/// repeated (their union); every other parameter may appear once. Unknown parameters, empty or
/// malformed values are errors whose message names the parameter.
Result<SocketQuery> parseSocketQuery(const std::vector<QueryParam>& params);

/// The watch parameters of a list route (Kubernetes' names).
struct WatchQuery {
  bool watch = false;
  /// `resourceVersion=N`: follow the changes after generation N (no initial ADDED events).
  std::optional<std::uint64_t> resource_version;
  /// `allowWatchBookmarks=true`: a BOOKMARK event after every scan.
  bool bookmarks = false;
  /// `timeoutSeconds=N` (1 or more): end the watch after N seconds (at most the server's maximum).
  std::optional<std::uint64_t> timeout_seconds;
};

/// Takes `watch`, `resourceVersion`, `allowWatchBookmarks` and `timeoutSeconds` out of `params`
/// and parses them; each may appear once. Without `watch=true` the other three are checked and
/// then ignored (a list is always of the current scan), as the Kubernetes API ignores them.
Result<WatchQuery> takeWatchQuery(std::vector<QueryParam>& params);

/// Parses the parameters of a list that has no filters: only `format`, and only `json` unless
/// `table_allowed`.
Result<OutputFormat> parsePlainQuery(const std::vector<QueryParam>& params, bool table_allowed);

}  // namespace podnetstat::agent
