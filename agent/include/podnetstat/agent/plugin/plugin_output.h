#pragma once

// What the kubectl plugin prints: netstat's tables of an agent's sockets (rendered by the
// agent's own NetstatRenderer from the rebuilt scan), the listeners of many nodes merged into
// one table with a NODE column, and JSON or YAML (kubectl's -o json|yaml) of the merged rows.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "podnetstat/agent/plugin/remote_sockets.h"
#include "podnetstat/agent/render/netstat_format.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

/// netstat's table of the sockets, as netstat inside their namespace prints it with `options`
/// (numeric whatever they say: names would be looked up on this machine, not in the pod). With
/// `pod_column`, each row opens with a Pod column (`podnetstat list --pods`).
std::string socketTable(const RemoteSockets& sockets,
                        const NetstatOptions& options,
                        bool pod_column);

/// The listener objects of several nodes (each with its "node" field), in the order given, as one
/// table: NODE NAMESPACE POD CONTAINER PROTO LOCAL-ADDRESS EXPOSURE DECLARED HOSTPORT PROGRAM,
/// and with `wide` also UID0 NETNS REASON. An error when an object is not a listener object.
Result<std::string> listenerTable(const nlohmann::ordered_json& rows, bool wide);

/// kubectl's -o json: indented by 4, a newline at the end.
std::string toJson(const nlohmann::ordered_json& value);

/// kubectl's -o yaml: block style, keys in their order, strings quoted where YAML would read them
/// as something else.
std::string toYaml(const nlohmann::ordered_json& value);

}  // namespace podnetstat::agent::plugin
