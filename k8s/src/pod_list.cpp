// kubelet /pods → PodInfo. Every field is read through the typed accessors of json_fields.h, which
// return a default when the field is missing or has another JSON type, so nothing in an item can
// throw; only the top-level shape decides between a PodList and an error.

#include "podnetstat/k8s/pod_list.h"

#include <array>
#include <optional>
#include <utility>

#include "json_fields.h"

namespace podnetstat::k8s {
namespace {

using detail::arrayAt;
using detail::boolAt;
using detail::intAt;
using detail::json;
using detail::member;
using detail::objectAt;
using detail::stringAt;
using detail::stringMap;

constexpr std::string_view kWhat = "kubelet pod list";

constexpr std::string_view kConfigSource = "kubernetes.io/config.source";
constexpr std::string_view kConfigMirror = "kubernetes.io/config.mirror";
constexpr std::string_view kApiSource = "api";

struct ContainerList {
  const char* spec_key;
  const char* status_key;
  ContainerKind kind;
};

/// The three container lists of a pod, in the order they are reported.
constexpr std::array<ContainerList, 3> kContainerLists = {{
    {"containers", "containerStatuses", ContainerKind::Regular},
    {"initContainers", "initContainerStatuses", ContainerKind::Init},
    {"ephemeralContainers", "ephemeralContainerStatuses", ContainerKind::Ephemeral},
}};

struct RuntimeScheme {
  std::string_view scheme;
  std::string_view runtime;
};

/// containerID schemes → the runtime names CgroupIdentity uses.
constexpr std::array<RuntimeScheme, 3> kRuntimeSchemes = {{
    {"containerd", "containerd"},
    {"cri-o", "crio"},
    {"docker", "docker"},
}};

constexpr std::array<std::string_view, 3> kContainerKindNames = {"container", "init", "ephemeral"};

std::vector<OwnerReference> parseOwners(const json& metadata) {
  std::vector<OwnerReference> out;
  for (const json& ref : arrayAt(metadata, "ownerReferences")) {
    if (!ref.is_object()) {
      continue;
    }
    out.push_back({stringAt(ref, "kind"), stringAt(ref, "name"), stringAt(ref, "uid"),
                   boolAt(ref, "controller")});
  }
  return out;
}

std::vector<ContainerPort> parsePorts(const json& container) {
  std::vector<ContainerPort> out;
  for (const json& port : arrayAt(container, "ports")) {
    const auto container_port = intAt(port, "containerPort", 1, 65535);
    if (!container_port) {
      continue;  // containerPort is required; without it the entry means nothing
    }
    ContainerPort p;
    p.name = stringAt(port, "name");
    p.container_port = static_cast<std::uint16_t>(*container_port);
    if (std::string protocol = stringAt(port, "protocol"); !protocol.empty()) {
      p.protocol = std::move(protocol);
    }
    p.host_port = static_cast<std::uint16_t>(intAt(port, "hostPort", 0, 65535).value_or(0));
    p.host_ip = stringAt(port, "hostIP");
    out.push_back(std::move(p));
  }
  return out;
}

void parseContainers(const json& spec, const json& status, std::vector<ContainerInfo>& out) {
  for (const auto& list : kContainerLists) {
    const std::size_t begin = out.size();
    for (const json& c : arrayAt(spec, list.spec_key)) {
      if (!c.is_object()) {
        continue;
      }
      ContainerInfo info;
      info.name = stringAt(c, "name");
      info.kind = list.kind;
      info.ports = parsePorts(c);
      out.push_back(std::move(info));
    }
    for (const json& s : arrayAt(status, list.status_key)) {
      if (!s.is_object()) {
        continue;
      }
      const std::string name = stringAt(s, "name");
      ContainerInfo* target = nullptr;
      for (std::size_t i = begin; i < out.size(); ++i) {
        if (out[i].name == name) {
          target = &out[i];
          break;
        }
      }
      if (target == nullptr) {
        ContainerInfo info;
        info.name = name;
        info.kind = list.kind;
        out.push_back(std::move(info));
        target = &out.back();
      }
      ContainerRef ref = splitContainerId(stringAt(s, "containerID"));
      target->runtime = std::move(ref.runtime);
      target->id = std::move(ref.id);
    }
  }
}

std::vector<std::string> parsePodIps(const json& status) {
  std::vector<std::string> out;
  for (const json& entry : arrayAt(status, "podIPs")) {
    if (std::string ip = stringAt(entry, "ip"); !ip.empty()) {
      out.push_back(std::move(ip));
    }
  }
  if (out.empty()) {
    if (std::string ip = stringAt(status, "podIP"); !ip.empty()) {
      out.push_back(std::move(ip));
    }
  }
  return out;
}

PodInfo parsePod(const json& item) {
  const json& metadata = objectAt(item, "metadata");
  const json& spec = objectAt(item, "spec");
  const json& status = objectAt(item, "status");

  PodInfo pod;
  pod.uid = stringAt(metadata, "uid");
  pod.namespace_name = stringAt(metadata, "namespace");
  pod.name = stringAt(metadata, "name");
  pod.labels = stringMap(objectAt(metadata, "labels"));
  pod.owners = parseOwners(metadata);

  const auto annotations = stringMap(objectAt(metadata, "annotations"));
  const auto source = annotations.find(std::string(kConfigSource));
  const auto mirror = annotations.find(std::string(kConfigMirror));
  const bool is_mirror = mirror != annotations.end() && !mirror->second.empty();
  pod.static_pod = is_mirror || (source != annotations.end() && source->second != kApiSource);
  pod.runtime_uid = is_mirror ? mirror->second : pod.uid;

  pod.host_network = boolAt(spec, "hostNetwork");
  pod.node_name = stringAt(spec, "nodeName");
  pod.pod_ips = parsePodIps(status);
  pod.host_ip = stringAt(status, "hostIP");
  pod.phase = stringAt(status, "phase");
  pod.qos_class = stringAt(status, "qosClass");
  parseContainers(spec, status, pod.containers);
  return pod;
}

}  // namespace

std::string_view containerKindName(ContainerKind kind) {
  return kContainerKindNames.at(static_cast<std::size_t>(kind));
}

ContainerRef splitContainerId(std::string_view container_id) {
  constexpr std::string_view kSeparator = "://";
  const std::size_t sep = container_id.find(kSeparator);
  if (sep == std::string_view::npos) {
    return {std::string{}, std::string(container_id)};
  }
  const std::string_view scheme = container_id.substr(0, sep);
  ContainerRef ref{std::string(scheme), std::string(container_id.substr(sep + kSeparator.size()))};
  for (const auto& s : kRuntimeSchemes) {
    if (s.scheme == scheme) {
      ref.runtime = std::string(s.runtime);
      break;
    }
  }
  return ref;
}

Result<PodList> parsePodList(std::string_view text) {
  auto parsed = detail::parseObject(text, kWhat);
  if (!parsed) {
    return parsed.error();
  }
  const json& root = *parsed;
  if (const json* kind = member(root, "kind"); kind != nullptr && *kind != "PodList") {
    std::string message = std::string(kWhat) + ": expected kind PodList, got " + kind->dump();
    if (std::string why = stringAt(root, "message"); !why.empty()) {
      message += ": " + why;  // a Status object says why (Forbidden, Unauthorized, ...)
    }
    return Error{std::move(message)};
  }
  const json* items = member(root, "items");
  if (items == nullptr || !(items->is_array() || items->is_null())) {
    return Error{std::string(kWhat) + ": not a PodList: no \"items\" array"};
  }

  PodList list;
  if (items->is_array()) {
    list.pods.reserve(items->size());
    for (const json& item : *items) {
      if (!item.is_object()) {
        ++list.skipped_items;
        continue;
      }
      list.pods.push_back(parsePod(item));
    }
  }
  return list;
}

}  // namespace podnetstat::k8s
