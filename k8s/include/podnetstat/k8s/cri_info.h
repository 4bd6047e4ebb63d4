#pragma once

// Pure parsers for the `info` map of CRI verbose answers: PodSandboxStatus(verbose=true) and
// ContainerStatus(verbose=true). The runtimes put a JSON document under the key "info":
//  - containerd: {"pid", "processStatus", "netNamespaceClosed", "image", "runtimeType",
//    "config" (the PodSandboxConfig), "runtimeSpec" (OCI), "cniResult", ...};
//  - CRI-O: {"image", "pid", "runtimeSpec"}, or only {"runtimeSpec"} (or "{}" in old versions)
//    when the infra container is dropped (drop_infra_ctr, the default): no sandbox pid then.
// Legacy runtimes put the pid straight into the map under "pid". The gRPC client only moves
// these strings; everything is read here.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s {

/// What a sandbox's verbose info says. Every field may be missing from a runtime's answer and
/// then keeps its default.
struct SandboxInfo {
  /// The sandbox (pause) process on the host. 0 when the runtime reports none: CRI-O without an
  /// infra container, or a stopped sandbox (containerd reports 0 after exit). Fall back to
  /// netns_path or to a container's pid.
  std::int32_t pid = 0;
  /// runtimeSpec.linux.namespaces[type=network].path, e.g. "/var/run/netns/cni-5e8f27ce-..."; ""
  /// when the spec names no network namespace file (hostNetwork pods, docker).
  std::string netns_path;
  /// Pod metadata: containerd's config.metadata, else CRI-O's io.kubernetes.cri-o.Metadata
  /// annotation, else containerd's io.kubernetes.cri.sandbox-* annotations.
  std::string name;
  std::string namespace_name;
  std::string uid;
  /// The pod shares the node's network namespace: containerd's
  /// config.linux.security_context.namespace_options.network == NODE (2), or CRI-O's
  /// io.kubernetes.cri-o.HostNetwork annotation. PodSandboxStatus.linux.namespaces.options says
  /// the same outside the info map.
  bool host_network = false;
  std::string cgroups_path;           // runtimeSpec.linux.cgroupsPath
  std::string image;                  // the pause image
  std::string runtime_type;           // containerd: "io.containerd.runc.v2"
  std::string process_status;         // containerd: "running", "deleted", ...
  bool net_namespace_closed = false;  // containerd
};

/// Parses the JSON string under info["info"] of PodSandboxStatus(verbose=true).
/// @return an error for invalid JSON or a top level that is not an object; `{}` is valid (and
///         says nothing).
Result<SandboxInfo> parseSandboxInfo(std::string_view info_json);

/// Parses the whole verbose info map: the "info" key when present, else a legacy "pid" key (a
/// decimal string). @return an error when neither is there or they do not parse.
Result<SandboxInfo> parseSandboxVerboseInfo(const std::map<std::string, std::string>& info);

/// What a container's verbose info says.
struct ContainerVerboseInfo {
  std::int32_t pid = 0;    // the container's init process on the host; 0 when not running
  std::string sandbox_id;  // "sandboxID": the pod sandbox the container runs in
  /// runtimeSpec.linux.namespaces[type=network].path; containerd points it at the sandbox
  /// process ("/proc/<sandbox pid>/ns/net").
  std::string netns_path;
  std::string cgroups_path;  // runtimeSpec.linux.cgroupsPath
};

/// Parses the JSON string under info["info"] of ContainerStatus(verbose=true) (containerd and
/// CRI-O both write "pid" and "sandboxID"). @return an error for invalid JSON or a non-object.
Result<ContainerVerboseInfo> parseContainerInfo(std::string_view info_json);

/// Parses the whole verbose info map, like parseSandboxVerboseInfo.
Result<ContainerVerboseInfo> parseContainerVerboseInfo(
    const std::map<std::string, std::string>& info);

}  // namespace podnetstat::k8s
