#pragma once

// Pure parser for /proc/<pid>/cgroup: which Kubernetes pod, and which container in it, a process
// belongs to, read from the cgroup path the kubelet and the container runtime gave it. Works with
// no API at all. Takes the file's text; reading the file is the caller's job (a process that
// exits mid-scan simply has no file: the caller skips it).

#include <optional>
#include <string>
#include <string_view>

namespace podnetstat::k8s {

/// What a cgroup path says about a process.
struct CgroupIdentity {
  /// The pod UID as the kubelet knows it: a UUID with dashes ("5f0c1a2b-0d3e-4c5f-8a9b-
  /// 0123456789ab", underscores of the systemd driver turned back into dashes), or a static pod's
  /// 32-hex config hash as is. Empty only when the pod level lies above the reader's cgroup
  /// namespace root (a path like "/../cri-containerd-<id>.scope"): the caller may then look the
  /// container ID up through CRI.
  std::string pod_uid;
  /// The 64-hex container ID (the pause/sandbox container counts as a container), or empty when
  /// the process sits in the pod-level cgroup itself or in a pod-level helper (CRI-O's conmon).
  std::string container_id;
  /// "containerd", "crio" or "docker" when the layout names the runtime; "" when it does not (the
  /// cgroupfs driver gives containerd and docker containers a bare ID).
  std::string runtime;
  /// "guaranteed", "burstable" or "besteffort"; "" when the QoS level is not visible (private
  /// cgroup namespace, unusual cgroup root).
  std::string qos;

  bool operator==(const CgroupIdentity&) const = default;
};

/// Parses one cgroup path (the part after the second ':' of a /proc/<pid>/cgroup line).
///
/// Recognised, with the burstable/besteffort level or without it (Guaranteed pods):
///  - systemd driver: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/
///    {cri-containerd,crio,docker}-<id>.scope`, also nested under any prefix
///    (`.../kubelet.slice/kubelet-kubepods-...-pod<uid_>.slice/...`, kind);
///  - cgroupfs driver: `/kubepods/burstable/pod<uid>/<id>` and `.../pod<uid>/crio-<id>`;
///  - runc driver mismatch: `.../kubepods-burstable-pod<uid_>.slice:cri-containerd:<id>`;
///  - private cgroup namespace: leading `/..` components are skipped.
/// The first (outermost) pod component wins; the component right below it names the container,
/// deeper components (sub-cgroups a container made) are ignored.
/// @return nullopt for anything that is not in a pod: node daemons (`/system.slice/sshd.service`),
///         user sessions, plain docker containers, `/`, garbage.
std::optional<CgroupIdentity> parseCgroupPath(std::string_view path);

/// Parses the whole content of /proc/<pid>/cgroup (v1, v2 or hybrid). Lines are tried in order
/// of preference, and the first that yields an identity wins: the v2 line (`0::<path>`), then
/// the v1 `name=systemd` line, then any other v1 controller line. Malformed lines are ignored.
/// @return nullopt when no line places the process in a pod.
std::optional<CgroupIdentity> parseProcCgroup(std::string_view content);

/// Normalises a pod UID: a UUID (lowercase hex, '-' or '_' separators) comes back with dashes, a
/// 32-hex static-pod hash comes back as is. nullopt for anything else.
std::optional<std::string> normalizePodUid(std::string_view uid);

/// True for a 64-character lowercase hex string (a container or sandbox ID).
bool isContainerId(std::string_view id);

}  // namespace podnetstat::k8s
