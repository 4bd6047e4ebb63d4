#pragma once

// How pods and namespaces are named in tables, for `podnetstat list` and the agent alike, and
// how columns are put in front of netstat's own: each label is written here and nowhere else.

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/scanner/model.h"

namespace podnetstat::agent {

/// The title of the column that names the namespace in tables.
inline constexpr std::string_view kNetnsColumn = "Netns";

/// The title of the column that names the pod in tables.
inline constexpr std::string_view kPodColumn = "Pod";

/// A pod in tables: "namespace/name", its uid when it has no name, "-" for none (null).
std::string podLabel(const k8s::Pod* pod);

/// The same from a pod's names as a watch event keeps them ("" for a name not known).
std::string podLabel(std::string_view namespace_name, std::string_view name, std::string_view uid);

/// A container in tables: its name, else the first 12 characters of its ID; "-" for none (null).
std::string containerLabel(const k8s::PodContainer* container);

/// The same from a container's ID ("" for none) and name.
std::string containerLabel(std::string_view id, const std::optional<std::string>& name);

/// A namespace in the agent's tables and metrics: its first name, else its inode.
std::string netnsLabel(const scanner::NetNamespace& ns);

/// A namespace in the block lines and messages of `podnetstat list`: "host" for the host's,
/// else its first name, or "-" when it has none.
std::string netnsBlockLabel(const scanner::NetNamespace& ns);

/// A column put in front of netstat's columns: its title and its width (blank included).
struct Column {
  std::string_view title;
  std::size_t width = 0;
};

/// The width of a column titled `title` holding cells as long as `longest`: the wider of the
/// two, and one blank.
std::size_t columnWidth(std::string_view title, std::size_t longest);

/// Appends `text` padded with blanks to `width`.
void appendCell(std::string& out, std::string_view text, std::size_t width);

/// netstat's header (a title line, then the column line) with `columns` opening the column line.
std::string withColumns(std::string_view header, std::initializer_list<Column> columns);

}  // namespace podnetstat::agent
