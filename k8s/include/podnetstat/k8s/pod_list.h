#pragma once

// Pure parser for the kubelet's `GET /pods` answer: a v1 PodList of the pods bound to this node,
// static pods included. Takes the response body; fetching it is the kubelet client's job.

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s {

/// metadata.ownerReferences[]: what created the pod.
struct OwnerReference {
  std::string kind;  // "ReplicaSet", "DaemonSet", "StatefulSet", "Job", "Node", ...
  std::string name;
  std::string uid;
  bool controller = false;

  bool operator==(const OwnerReference&) const = default;
};

/// A port the pod spec declares (spec.*containers[].ports[]).
struct ContainerPort {
  std::string name;  // "" when unnamed
  std::uint16_t container_port = 0;
  std::string protocol = "TCP";  // "TCP", "UDP" or "SCTP"; TCP when the spec leaves it out
  std::uint16_t host_port = 0;   // 0 when none
  std::string host_ip;           // "" when none

  bool operator==(const ContainerPort&) const = default;
};

/// Which list of the pod spec a container comes from.
enum class ContainerKind : std::uint8_t { Regular, Init, Ephemeral };

/// "container", "init" or "ephemeral".
std::string_view containerKindName(ContainerKind kind);

/// A container of the pod: its spec entry joined by name with its status entry.
struct ContainerInfo {
  std::string name;
  ContainerKind kind = ContainerKind::Regular;
  std::vector<ContainerPort> ports;  // declared ports, spec order
  /// From status containerID "<scheme>://<id>": "containerd", "crio" (scheme "cri-o"), "docker",
  /// or an unknown scheme verbatim; "" while the container has not been created.
  std::string runtime;
  std::string id;  // the runtime's container ID (64 hex for the common runtimes); "" if none yet
};

/// One pod of the PodList. Fields the kubelet left out keep their defaults.
struct PodInfo {
  std::string uid;  // metadata.uid as served
  /// The UID the node's cgroups, CRI and /var/log/pods know the pod by. Equal to `uid` except for
  /// a mirror pod (annotation kubernetes.io/config.mirror), whose API UID differs from the static
  /// pod's 32-hex config hash. The kubelet's /pods serves static pods with the hash as their UID.
  std::string runtime_uid;
  std::string namespace_name;  // metadata.namespace
  std::string name;
  std::map<std::string, std::string> labels;
  std::vector<OwnerReference> owners;
  /// A static pod (annotation kubernetes.io/config.source other than "api") or its mirror.
  bool static_pod = false;
  bool host_network = false;         // spec.hostNetwork
  std::string node_name;             // spec.nodeName
  std::vector<std::string> pod_ips;  // status.podIPs[].ip, else status.podIP; may be empty
  std::string host_ip;               // status.hostIP
  std::string phase;                 // status.phase: "Pending", "Running", ...
  std::string qos_class;             // status.qosClass: "Guaranteed", "Burstable", "BestEffort"
  /// spec.containers, then spec.initContainers, then spec.ephemeralContainers, each in spec order;
  /// a status entry whose name the spec lacks is appended after its list's spec entries.
  std::vector<ContainerInfo> containers;
};

/// A parsed PodList.
struct PodList {
  std::vector<PodInfo> pods;      // in the kubelet's order
  std::size_t skipped_items = 0;  // items that were not JSON objects (e.g. null)
};

/// Parses a kubelet /pods body. Tolerant inside items: a missing or mistyped field takes its
/// default, a malformed label/owner/port/status entry is dropped, a non-object item is skipped
/// and counted in `skipped_items`.
/// @return an error (the message says which) for invalid JSON, a top level that is not an
///         object, a `kind` other than "PodList" (e.g. a Status object explaining a 403), or a
///         missing `items` array. `"items": null` is an empty list.
Result<PodList> parsePodList(std::string_view text);

/// A status containerID split into runtime and ID.
struct ContainerRef {
  std::string runtime;  // see ContainerInfo::runtime
  std::string id;

  bool operator==(const ContainerRef&) const = default;
};

/// Splits "<scheme>://<id>" at the first "://" and maps the scheme to a runtime name. A string
/// without "://" is taken as a bare ID with an unknown runtime; "" gives {"", ""}.
ContainerRef splitContainerId(std::string_view container_id);

}  // namespace podnetstat::k8s
