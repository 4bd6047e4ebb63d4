#include "podnetstat/k8s/exposure.h"

#include <algorithm>

namespace podnetstat::k8s {
namespace {

constexpr std::array<std::string_view, kExposureCount> kExposureNames = {"loopback", "pod", "node"};

struct SpecProtocol {
  scanner::Transport transport;
  std::string_view protocol;
};

/// Transports a containerPort can name (its protocol field; SCTP sockets are not scanned).
constexpr std::array<SpecProtocol, 4> kSpecProtocols = {{
    {scanner::Transport::Tcp, "TCP"},
    {scanner::Transport::Tcp6, "TCP"},
    {scanner::Transport::Udp, "UDP"},
    {scanner::Transport::Udp6, "UDP"},
}};

/// "bound to 0.0.0.0 (all addresses)", "bound to pod IP 10.244.1.7", "bound to 192.0.2.1".
std::string boundTo(const scanner::IpAddress& ip, const Pod* netns_pod) {
  const std::string text = ip.toString();
  if (ip.isUnspecified()) {
    return "bound to " + text + " (all addresses)";
  }
  if (netns_pod != nullptr && std::ranges::find(netns_pod->ips, text) != netns_pod->ips.end()) {
    return "bound to pod IP " + text;
  }
  return "bound to " + text;
}

}  // namespace

std::string_view exposureName(Exposure e) {
  return kExposureNames.at(static_cast<std::size_t>(e));
}

std::optional<Exposure> exposureFromName(std::string_view name) {
  for (const Exposure e : kAllExposures) {
    if (exposureName(e) == name) {
      return e;
    }
  }
  return std::nullopt;
}

ExposureVerdict classifyExposure(const scanner::Socket& socket,
                                 bool host_netns,
                                 const Pod* netns_pod) {
  if (socket.transport == scanner::Transport::Unix) {
    return {Exposure::Loopback, "unix socket"};
  }
  const scanner::IpAddress& ip = socket.local.ip;
  if (ip.isLoopback()) {
    return {Exposure::Loopback, "bound to loopback " + ip.toString()};
  }
  if (host_netns) {
    return {Exposure::Node, "host network namespace, " + boundTo(ip, nullptr)};
  }
  if (netns_pod != nullptr) {
    return {Exposure::Pod, "pod network namespace, " + boundTo(ip, netns_pod)};
  }
  return {Exposure::Pod, "network namespace of no known pod, " + boundTo(ip, nullptr)};
}

std::optional<std::string_view> specProtocol(scanner::Transport t) {
  for (const auto& entry : kSpecProtocols) {
    if (entry.transport == t) {
      return entry.protocol;
    }
  }
  return std::nullopt;
}

PortDeclaration findDeclaredPort(const scanner::Socket& socket, const Pod* pod) {
  PortDeclaration out;
  if (pod == nullptr || socket.transport == scanner::Transport::Unix ||
      (pod->sources & kSourceKubelet) == 0) {
    return out;
  }
  const auto protocol = specProtocol(socket.transport);
  out.declared = false;
  if (!protocol) {
    return out;
  }
  for (const PodContainer& container : pod->containers) {
    for (const ContainerPort& port : container.ports) {
      if (port.container_port != socket.local.port || port.protocol != *protocol) {
        continue;
      }
      if (!*out.declared) {
        out.declared = true;
        out.container = container.name.value_or("");
      }
      if (port.host_port != 0) {
        out.host_port = port.host_port;
        out.container = container.name.value_or("");
        return out;
      }
    }
  }
  return out;
}

}  // namespace podnetstat::k8s
