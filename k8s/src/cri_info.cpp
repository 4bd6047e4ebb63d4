// CRI verbose info → SandboxInfo / ContainerVerboseInfo. containerd and CRI-O share the OCI
// runtimeSpec (network namespace path, cgroups path) and the "pid" key; where they differ (pod
// metadata, hostNetwork) the sources are listed in tables and tried in order.

#include "podnetstat/k8s/cri_info.h"

#include <array>
#include <charconv>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "json_fields.h"

namespace podnetstat::k8s {
namespace {

using detail::arrayAt;
using detail::boolAt;
using detail::intAt;
using detail::json;
using detail::objectAt;
using detail::stringAt;

constexpr std::string_view kSandboxWhat = "CRI sandbox info";
constexpr std::string_view kContainerWhat = "CRI container info";

constexpr const char* kInfoKey = "info";
constexpr const char* kLegacyPidKey = "pid";

/// CRI-O stores the PodSandboxMetadata as a JSON string in this runtimeSpec annotation.
constexpr const char* kCrioMetadataAnnotation = "io.kubernetes.cri-o.Metadata";
constexpr const char* kCrioHostNetworkAnnotation = "io.kubernetes.cri-o.HostNetwork";

/// CRI NamespaceMode NODE: the pod uses the node's namespace.
constexpr std::int64_t kNamespaceModeNode = 2;

struct MetadataField {
  std::string SandboxInfo::*member;
  const char* metadata_key;           // in containerd's config.metadata and CRI-O's annotation
  const char* containerd_annotation;  // runtimeSpec annotation set by containerd
};

constexpr std::array<MetadataField, 3> kMetadataFields = {{
    {&SandboxInfo::name, "name", "io.kubernetes.cri.sandbox-name"},
    {&SandboxInfo::namespace_name, "namespace", "io.kubernetes.cri.sandbox-namespace"},
    {&SandboxInfo::uid, "uid", "io.kubernetes.cri.sandbox-uid"},
}};

std::int32_t pidAt(const json& info) {
  return static_cast<std::int32_t>(
      intAt(info, "pid", 0, std::numeric_limits<std::int32_t>::max()).value_or(0));
}

std::string networkNamespacePath(const json& runtime_spec) {
  for (const json& ns : arrayAt(objectAt(runtime_spec, "linux"), "namespaces")) {
    if (stringAt(ns, "type") == "network") {
      return stringAt(ns, "path");
    }
  }
  return {};
}

/// CRI-O's metadata annotation, parsed; an empty object when absent or malformed.
json crioMetadata(const json& annotations) {
  const std::string text = stringAt(annotations, kCrioMetadataAnnotation);
  if (text.empty()) {
    return json::object();
  }
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_object() ? parsed : json::object();
}

SandboxInfo sandboxFromJson(const json& info) {
  const json& runtime_spec = objectAt(info, "runtimeSpec");
  const json& annotations = objectAt(runtime_spec, "annotations");
  const json& config = objectAt(info, "config");

  SandboxInfo out;
  out.pid = pidAt(info);
  out.netns_path = networkNamespacePath(runtime_spec);
  out.cgroups_path = stringAt(objectAt(runtime_spec, "linux"), "cgroupsPath");
  out.image = stringAt(info, "image");
  out.runtime_type = stringAt(info, "runtimeType");
  out.process_status = stringAt(info, "processStatus");
  out.net_namespace_closed = boolAt(info, "netNamespaceClosed");

  const json& config_metadata = objectAt(config, "metadata");
  const json crio_metadata = crioMetadata(annotations);
  for (const auto& field : kMetadataFields) {
    std::string value = stringAt(config_metadata, field.metadata_key);
    if (value.empty()) {
      value = stringAt(crio_metadata, field.metadata_key);
    }
    if (value.empty()) {
      value = stringAt(annotations, field.containerd_annotation);
    }
    out.*field.member = std::move(value);
  }

  const json& namespace_options =
      objectAt(objectAt(objectAt(config, "linux"), "security_context"), "namespace_options");
  out.host_network =
      intAt(namespace_options, "network", kNamespaceModeNode, kNamespaceModeNode).has_value() ||
      stringAt(annotations, kCrioHostNetworkAnnotation) == "true";
  return out;
}

ContainerVerboseInfo containerFromJson(const json& info) {
  const json& runtime_spec = objectAt(info, "runtimeSpec");
  ContainerVerboseInfo out;
  out.pid = pidAt(info);
  out.sandbox_id = stringAt(info, "sandboxID");
  out.netns_path = networkNamespacePath(runtime_spec);
  out.cgroups_path = stringAt(objectAt(runtime_spec, "linux"), "cgroupsPath");
  return out;
}

/// A legacy info["pid"]: a non-negative decimal that fits a pid.
std::optional<std::int32_t> parseLegacyPid(std::string_view text) {
  std::int32_t pid = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  if (ec != std::errc{} || end != text.data() + text.size() || pid < 0) {
    return std::nullopt;
  }
  return pid;
}

/// Shared by the two map-level parsers: "info" first, then the legacy "pid".
template <class T, class ParseJson>
Result<T> parseVerboseMap(const std::map<std::string, std::string>& info,
                          std::string_view what,
                          ParseJson parse_json) {
  if (const auto it = info.find(kInfoKey); it != info.end()) {
    return parse_json(it->second);
  }
  if (const auto it = info.find(kLegacyPidKey); it != info.end()) {
    const auto pid = parseLegacyPid(it->second);
    if (!pid) {
      return Error{std::string(what) + R"(: bad legacy "pid": ")" + it->second + "\""};
    }
    T out;
    out.pid = *pid;
    return out;
  }
  return Error{std::string(what) + R"(: the verbose info map has neither "info" nor "pid")"};
}

}  // namespace

Result<SandboxInfo> parseSandboxInfo(std::string_view info_json) {
  auto parsed = detail::parseObject(info_json, kSandboxWhat);
  if (!parsed) {
    return parsed.error();
  }
  return sandboxFromJson(*parsed);
}

Result<SandboxInfo> parseSandboxVerboseInfo(const std::map<std::string, std::string>& info) {
  return parseVerboseMap<SandboxInfo>(info, kSandboxWhat, parseSandboxInfo);
}

Result<ContainerVerboseInfo> parseContainerInfo(std::string_view info_json) {
  auto parsed = detail::parseObject(info_json, kContainerWhat);
  if (!parsed) {
    return parsed.error();
  }
  return containerFromJson(*parsed);
}

Result<ContainerVerboseInfo> parseContainerVerboseInfo(
    const std::map<std::string, std::string>& info) {
  return parseVerboseMap<ContainerVerboseInfo>(info, kContainerWhat, parseContainerInfo);
}

}  // namespace podnetstat::k8s
