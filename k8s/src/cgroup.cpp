// Pod identity from a cgroup path. The layouts are data (the tables below); the algorithm is:
//  1. split the path at '/', and split each component once more at its first ':' (with the
//     cgroupfs driver runc keeps a "slice:prefix:id" cgroupsPath verbatim as one directory name);
//  2. skip leading ".." components (a reader in a private cgroup namespace sees them);
//  3. the first component that is a pod cgroup gives the UID: "pod<uid>" (cgroupfs) or
//     "<parents>-pod<uid_>.slice" (systemd); the QoS comes from the word before "pod" in the slice
//     name, or from the parent directory under cgroupfs (kQosTokens);
//  4. the component right below the pod cgroup, matched against kLeafForms, gives the container ID
//     and the runtime.
// Without a pod component the path is not a pod's, except when the pod level is hidden above the
// reader's cgroup namespace root: then a container leaf right after the ".." still names a
// container.

#include "podnetstat/k8s/cgroup.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace podnetstat::k8s {
namespace {

constexpr std::string_view kPodPrefix = "pod";
constexpr std::size_t kContainerIdLength = 64;
constexpr std::size_t kStaticUidLength = 32;
constexpr std::size_t kUuidLength = 36;

/// A pod cgroup is "<parents>-pod<uid_>.slice" (systemd driver) or "pod<uid>" (cgroupfs driver).
constexpr std::array<std::string_view, 2> kPodSuffixes = {".slice", ""};

struct QosToken {
  std::string_view token;
  std::string_view qos;
};

/// The word before "pod" in a systemd slice name, or the parent directory under cgroupfs.
constexpr std::array<QosToken, 3> kQosTokens = {{
    {"burstable", "burstable"},
    {"besteffort", "besteffort"},
    {"kubepods", "guaranteed"},  // Guaranteed pods sit right under kubepods: no QoS level
}};

struct LeafForm {
  std::string_view prefix;
  std::string_view suffix;
  std::string_view runtime;
  bool is_container;  // false: a pod-level helper, not a container
};

/// The cgroup a runtime makes for a container below the pod cgroup: prefix + 64-hex ID + suffix.
/// Where prefixes overlap the longer one comes first ("crio-conmon-" before "crio-").
constexpr std::array<LeafForm, 8> kLeafForms = {{
    {"cri-containerd-", ".scope", "containerd", true},  // systemd driver
    {"crio-conmon-", ".scope", "crio", false},          // CRI-O's monitor with conmon_cgroup=pod
    {"crio-", ".scope", "crio", true},
    {"docker-", ".scope", "docker", true},        // docker, cri-dockerd
    {"cri-containerd:", "", "containerd", true},  // "<pod slice>:cri-containerd:<id>" (mismatch)
    {"crio-conmon-", "", "crio", false},          // cgroupfs driver
    {"crio-", "", "crio", true},
    {"", "", "", true},  // cgroupfs driver, containerd or docker: the bare ID
}};

/// /proc/<pid>/cgroup lines in order of preference, by their controller field: the v2 line has
/// none, then systemd's named v1 hierarchy; any other v1 controller line comes last.
constexpr std::array<std::string_view, 2> kPreferredControllers = {"", "name=systemd"};
constexpr std::size_t kLineRanks = kPreferredControllers.size() + 1;

bool isLowerHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool allLowerHex(std::string_view s) {
  return std::ranges::all_of(s, isLowerHex);
}

std::string_view stripSuffix(std::string_view s, std::string_view suffix) {
  if (s.ends_with(suffix)) {
    s.remove_suffix(suffix.size());
  }
  return s;
}

/// The text after the last '-' (all of it when there is none).
std::string_view lastDashWord(std::string_view s) {
  const std::size_t dash = s.rfind('-');
  return dash == std::string_view::npos ? s : s.substr(dash + 1);
}

std::string_view qosFromToken(std::string_view token) {
  for (const auto& q : kQosTokens) {
    if (q.token == token) {
      return q.qos;
    }
  }
  return {};
}

std::vector<std::string_view> splitComponents(std::string_view path) {
  std::vector<std::string_view> out;
  out.reserve(16);
  while (!path.empty()) {
    const std::size_t slash = path.find('/');
    const std::string_view piece = path.substr(0, slash);
    path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    if (piece.empty()) {
      continue;
    }
    const std::size_t colon = piece.find(':');
    if (colon == std::string_view::npos) {
      out.push_back(piece);
    } else {
      out.push_back(piece.substr(0, colon));
      out.push_back(piece.substr(colon + 1));
    }
  }
  return out;
}

struct PodMatch {
  std::string uid;
  std::string_view qos;
};

/// Matches a pod cgroup component; `parent` is the component above it (empty at the top).
std::optional<PodMatch> matchPod(std::string_view component, std::string_view parent) {
  for (const std::string_view suffix : kPodSuffixes) {
    if (!component.ends_with(suffix)) {
      continue;
    }
    const std::string_view name = component.substr(0, component.size() - suffix.size());
    std::size_t pos = 0;
    std::string_view before;  // systemd: the parent slices, e.g. "kubepods-burstable"
    if (!name.starts_with(kPodPrefix)) {
      const std::size_t dash = name.rfind("-pod");
      if (dash == std::string_view::npos) {
        continue;
      }
      pos = dash + 1;
      before = name.substr(0, dash);
    }
    auto uid = normalizePodUid(name.substr(pos + kPodPrefix.size()));
    if (!uid) {
      continue;
    }
    const std::string_view token =
        before.empty() ? lastDashWord(stripSuffix(parent, ".slice")) : lastDashWord(before);
    return PodMatch{std::move(*uid), qosFromToken(token)};
  }
  return std::nullopt;
}

struct LeafMatch {
  std::string_view id;
  std::string_view runtime;
  bool is_container = false;
};

std::optional<LeafMatch> matchLeaf(std::string_view component) {
  for (const auto& form : kLeafForms) {
    if (component.size() != form.prefix.size() + kContainerIdLength + form.suffix.size() ||
        !component.starts_with(form.prefix) || !component.ends_with(form.suffix)) {
      continue;
    }
    const std::string_view id = component.substr(form.prefix.size(), kContainerIdLength);
    if (isContainerId(id)) {
      return LeafMatch{id, form.runtime, form.is_container};
    }
  }
  return std::nullopt;
}

std::size_t lineRank(std::string_view controllers) {
  for (std::size_t i = 0; i < kPreferredControllers.size(); ++i) {
    if (kPreferredControllers[i] == controllers) {
      return i;
    }
  }
  return kPreferredControllers.size();
}

struct CgroupLine {
  std::string_view controllers;
  std::string_view path;
};

/// Splits "<hierarchy-id>:<controllers>:<path>"; the path may itself contain ':'.
std::optional<CgroupLine> splitLine(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.remove_suffix(1);
  }
  const std::size_t first = line.find(':');
  if (first == std::string_view::npos || first == 0) {
    return std::nullopt;
  }
  const std::size_t second = line.find(':', first + 1);
  if (second == std::string_view::npos) {
    return std::nullopt;
  }
  for (char c : line.substr(0, first)) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
  }
  const std::string_view path = line.substr(second + 1);
  if (!path.starts_with('/')) {
    return std::nullopt;
  }
  return CgroupLine{line.substr(first + 1, second - first - 1), path};
}

}  // namespace

bool isContainerId(std::string_view id) {
  return id.size() == kContainerIdLength && allLowerHex(id);
}

std::optional<std::string> normalizePodUid(std::string_view uid) {
  if (uid.size() == kStaticUidLength) {
    return allLowerHex(uid) ? std::optional<std::string>(uid) : std::nullopt;
  }
  if (uid.size() != kUuidLength) {
    return std::nullopt;
  }
  std::string out(uid);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const bool separator = i == 8 || i == 13 || i == 18 || i == 23;
    if (separator) {
      if (out[i] != '-' && out[i] != '_') {
        return std::nullopt;
      }
      out[i] = '-';
    } else if (!isLowerHex(out[i])) {
      return std::nullopt;
    }
  }
  return out;
}

std::optional<CgroupIdentity> parseCgroupPath(std::string_view path) {
  const std::vector<std::string_view> components = splitComponents(path);
  std::size_t first_real = 0;
  while (first_real < components.size() && components[first_real] == "..") {
    ++first_real;
  }
  for (std::size_t i = first_real; i < components.size(); ++i) {
    const std::string_view parent = i > 0 ? components[i - 1] : std::string_view{};
    auto pod = matchPod(components[i], parent);
    if (!pod) {
      continue;
    }
    CgroupIdentity identity;
    identity.pod_uid = std::move(pod->uid);
    identity.qos = std::string(pod->qos);
    if (i + 1 < components.size()) {
      if (const auto leaf = matchLeaf(components[i + 1])) {
        identity.runtime = std::string(leaf->runtime);
        if (leaf->is_container) {
          identity.container_id = std::string(leaf->id);
        }
      }
    }
    return identity;
  }
  // The pod level may be above the reader's cgroup namespace root ("/../<leaf>").
  if (first_real > 0 && first_real < components.size()) {
    const auto leaf = matchLeaf(components[first_real]);
    if (leaf && leaf->is_container) {
      return CgroupIdentity{{}, std::string(leaf->id), std::string(leaf->runtime), {}};
    }
  }
  return std::nullopt;
}

std::optional<CgroupIdentity> parseProcCgroup(std::string_view content) {
  for (std::size_t rank = 0; rank < kLineRanks; ++rank) {
    std::string_view rest = content;
    while (!rest.empty()) {
      const std::size_t eol = rest.find('\n');
      const std::string_view line = rest.substr(0, eol);
      rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
      const auto parsed = splitLine(line);
      if (!parsed || lineRank(parsed->controllers) != rank) {
        continue;
      }
      if (auto identity = parseCgroupPath(parsed->path)) {
        return identity;
      }
    }
  }
  return std::nullopt;
}

}  // namespace podnetstat::k8s
