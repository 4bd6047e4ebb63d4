#include "podnetstat/k8s/log_dirs.h"

#include <algorithm>
#include <system_error>

#include "podnetstat/k8s/cgroup.h"

namespace podnetstat::k8s {

std::optional<LogDirPod> parseLogDirName(std::string_view dir_name) {
  const std::size_t first = dir_name.find('_');
  const std::size_t last = dir_name.rfind('_');
  if (first == std::string_view::npos || first == last || first == 0 || last == first + 1 ||
      last + 1 == dir_name.size()) {
    return std::nullopt;
  }
  auto uid = normalizePodUid(dir_name.substr(last + 1));
  if (!uid) {
    return std::nullopt;
  }
  return LogDirPod{std::string(dir_name.substr(0, first)),
                   std::string(dir_name.substr(first + 1, last - first - 1)), std::move(*uid)};
}

Result<std::vector<LogDirPod>> readLogDirPods(const std::filesystem::path& root) {
  std::error_code ec;
  std::filesystem::directory_iterator it(root, ec);
  if (ec) {
    return Error{"cannot list " + root.string() + ": " + ec.message()};
  }
  std::vector<LogDirPod> out;
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (ec) {
      return Error{"cannot list " + root.string() + ": " + ec.message()};
    }
    std::error_code type_ec;
    if (!it->is_directory(type_ec)) {
      continue;
    }
    if (auto pod = parseLogDirName(it->path().filename().string())) {
      out.push_back(std::move(*pod));
    }
  }
  std::ranges::sort(out, {}, &LogDirPod::uid);
  return out;
}

}  // namespace podnetstat::k8s
