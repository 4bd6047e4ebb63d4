#include "podnetstat/agent/render/labels.h"

#include <algorithm>

namespace podnetstat::agent {

std::string podLabel(const k8s::Pod* pod) {
  return pod == nullptr
             ? "-"
             : podLabel(pod->namespace_name.value_or(""), pod->name.value_or(""), pod->uid);
}

std::string podLabel(std::string_view namespace_name, std::string_view name, std::string_view uid) {
  if (!namespace_name.empty() && !name.empty()) {
    std::string out(namespace_name);
    out += '/';
    out += name;
    return out;
  }
  return uid.empty() ? "-" : std::string(uid);
}

std::string containerLabel(const k8s::PodContainer* container) {
  return container == nullptr ? "-" : containerLabel(container->id, container->name);
}

std::string containerLabel(std::string_view id, const std::optional<std::string>& name) {
  if (name) {
    return *name;
  }
  return id.empty() ? "-" : std::string(id.substr(0, 12));
}

std::string netnsLabel(const scanner::NetNamespace& ns) {
  return ns.names.empty() ? std::to_string(ns.inode) : ns.names.front();
}

std::string netnsBlockLabel(const scanner::NetNamespace& ns) {
  if (ns.is_host) {
    return "host";
  }
  return ns.names.empty() ? "-" : ns.names.front();
}

std::size_t columnWidth(std::string_view title, std::size_t longest) {
  return std::max(title.size(), longest) + 1;
}

void appendCell(std::string& out, std::string_view text, std::size_t width) {
  out += text;
  out.append(width - std::min(width, text.size()), ' ');
}

std::string withColumns(std::string_view header, std::initializer_list<Column> columns) {
  const auto newline = header.find('\n');
  std::string out(header.substr(0, newline + 1));
  for (const Column& c : columns) {
    appendCell(out, c.title, c.width);
  }
  out += header.substr(newline + 1);
  return out;
}

}  // namespace podnetstat::agent
