#pragma once

// The agent's socket objects (docs/openapi.json, "Socket") turned back into a scan, so that the
// netstat renderer prints an agent's answer exactly as `podnetstat list` prints a scan of its
// own: the kubectl plugin's tables are netstat's, whatever node the sockets came from.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "podnetstat/scanner/model.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

struct RemoteSockets {
  /// Sockets in the answer's order; namespaces in order of first appearance; processes by
  /// ascending PID, each once; owners per socket ascending, as a scan has them.
  scanner::ScanResult scan;
  /// Per socket: its pod as "namespace/name" (the uid when only that is known), "-" for none.
  std::vector<std::string> pods;
};

/// Rebuilds the sockets of an answer's `items`. An object that lacks a field netstat prints, or
/// has one of the wrong type, is an error naming the item and the field.
Result<RemoteSockets> socketsFromJson(const nlohmann::ordered_json& items);

/// The Pod label of a socket or listener object: "namespace/name", the uid when only that is
/// known, "-" for none.
std::string podLabel(const nlohmann::ordered_json& object);

}  // namespace podnetstat::agent::plugin
