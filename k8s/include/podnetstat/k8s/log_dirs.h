#pragma once

// Pod names from the kubelet's log directories, `/var/log/pods/<namespace>_<name>_<uid>/`: the
// last-resort source that works with no API at all. Namespace and pod names are DNS labels or
// subdomains (no '_'), so the name splits unambiguously.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s {

inline constexpr const char* kDefaultPodLogDir = "/var/log/pods";

struct LogDirPod {
  std::string namespace_name;
  std::string name;
  std::string uid;  // normalised (see normalizePodUid)

  bool operator==(const LogDirPod&) const = default;
};

/// Parses one directory name. nullopt for the old `<uid>` layout, names without three parts,
/// and UIDs that are neither a UUID nor a static pod's 32-hex hash.
std::optional<LogDirPod> parseLogDirName(std::string_view dir_name);

/// The pods named by the directories under `root`, sorted by UID; entries that do not parse
/// are skipped. @return an error when `root` cannot be listed.
Result<std::vector<LogDirPod>> readLogDirPods(const std::filesystem::path& root);

}  // namespace podnetstat::k8s
