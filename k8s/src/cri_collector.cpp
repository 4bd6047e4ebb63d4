// One CRI round, on top of the CriRuntime seam:
//  1. Version, once per connection (it names the runtime in the health report);
//  2. ListPodSandbox(READY) and ListContainers: the only calls of a steady-state round;
//  3. PodSandboxStatus(verbose) of every READY sandbox not seen before, and ContainerStatus
//     (verbose) of every running container not seen before, while the budget lasts; their
//     verbose info goes through the cri_info parsers and is remembered by ID (a sandbox's pid,
//     netns and metadata never change while it lives, nor a running container's pid);
//  4. entries of IDs no longer listed are forgotten.

#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/cri_info.h"

namespace podnetstat::k8s {

struct CriCollector::Cache {
  bool version_known = false;
  CriVersion version;
  std::unordered_map<std::string, CriPod> sandboxes;             // by sandbox ID, containers empty
  std::unordered_map<std::string, std::int32_t> container_pids;  // running containers
};

CriCollector::CriCollector(std::unique_ptr<CriRuntime> runtime)
    : runtime_(std::move(runtime)), cache_(std::make_unique<Cache>()) {}

CriCollector::~CriCollector() = default;

namespace {

/// The pod's own labels: the sandbox's minus the kubelet's io.kubernetes.* bookkeeping.
std::map<std::string, std::string> podLabels(const std::map<std::string, std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : labels) {
    if (!key.starts_with("io.kubernetes.")) {
      out.emplace(key, value);
    }
  }
  return out;
}

CriPod sandboxFromStatus(const CriSandboxItem& item, const CriSandboxStatus& status) {
  CriPod pod;
  pod.sandbox_id = item.id;
  pod.uid = status.uid.empty() ? item.uid : status.uid;
  pod.namespace_name = status.namespace_name.empty() ? item.namespace_name : status.namespace_name;
  pod.name = status.name.empty() ? item.name : status.name;
  pod.attempt = status.attempt;
  pod.ips = status.ips;
  pod.labels = podLabels(status.labels.empty() ? item.labels : status.labels);
  pod.host_network = status.network_mode == CriNamespaceMode::Node;
  auto info = parseSandboxVerboseInfo(status.info);
  if (info) {
    pod.pid = info->pid;
    pod.netns_path = info->netns_path;
    pod.host_network = pod.host_network || info->host_network;
  } else {
    pod.info_error = info.error().message;
  }
  if (pod.host_network) {
    pod.netns_path.clear();
  }
  return pod;
}

/// What the list alone says, when the status could not be asked (yet).
CriPod sandboxFromItem(const CriSandboxItem& item) {
  CriPod pod;
  pod.sandbox_id = item.id;
  pod.uid = item.uid;
  pod.namespace_name = item.namespace_name;
  pod.name = item.name;
  pod.attempt = item.attempt;
  pod.labels = podLabels(item.labels);
  return pod;
}

}  // namespace

Result<CriSnapshot> CriCollector::collect(std::chrono::milliseconds budget) {
  const auto deadline = std::chrono::steady_clock::now() + budget;
  const auto inBudget = [&] {
    return std::chrono::steady_clock::now() < deadline;
  };

  if (!cache_->version_known) {
    auto version = runtime_->version();
    if (!version) {
      return version.error();
    }
    cache_->version = std::move(*version);
    cache_->version_known = true;
  }
  auto sandboxes = runtime_->listReadySandboxes();
  if (!sandboxes) {
    cache_->version_known = false;
    return sandboxes.error();
  }
  auto containers = runtime_->listContainers();
  if (!containers) {
    cache_->version_known = false;
    return containers.error();
  }

  CriSnapshot snapshot;
  snapshot.endpoint = runtime_->endpoint();
  snapshot.version = cache_->version;
  std::size_t skipped = 0;

  std::unordered_map<std::string, std::size_t> pod_of_sandbox;
  std::unordered_set<std::string> listed_sandboxes;
  for (const CriSandboxItem& item : *sandboxes) {
    if (!item.ready) {
      continue;
    }
    listed_sandboxes.insert(item.id);
    auto cached = cache_->sandboxes.find(item.id);
    if (cached == cache_->sandboxes.end()) {
      if (!inBudget()) {
        ++skipped;
        pod_of_sandbox.emplace(item.id, snapshot.pods.size());
        snapshot.pods.push_back(sandboxFromItem(item));
        continue;
      }
      auto status = runtime_->sandboxStatus(item.id);
      if (!status) {
        snapshot.warnings.push_back(status.error().message);
        pod_of_sandbox.emplace(item.id, snapshot.pods.size());
        snapshot.pods.push_back(sandboxFromItem(item));
        continue;
      }
      if (!status->ready) {
        continue;  // stopped between the list and the status
      }
      CriPod pod = sandboxFromStatus(item, *status);
      if (!pod.info_error.empty()) {
        snapshot.warnings.push_back("sandbox " + item.id + ": " + pod.info_error);
      }
      cached = cache_->sandboxes.emplace(item.id, std::move(pod)).first;
    }
    pod_of_sandbox.emplace(item.id, snapshot.pods.size());
    snapshot.pods.push_back(cached->second);
  }

  std::unordered_set<std::string> listed_containers;
  for (const CriContainerItem& item : *containers) {
    const auto pod = pod_of_sandbox.find(item.sandbox_id);
    if (pod == pod_of_sandbox.end()) {
      continue;  // a container of a sandbox that is not READY
    }
    CriContainer container;
    container.id = item.id;
    container.name = item.name;
    container.attempt = item.attempt;
    container.state = item.state;
    if (item.state == CriContainerState::Running) {
      listed_containers.insert(item.id);
      auto cached = cache_->container_pids.find(item.id);
      if (cached != cache_->container_pids.end()) {
        container.pid = cached->second;
      } else if (!inBudget()) {
        ++skipped;
      } else if (auto status = runtime_->containerStatus(item.id); !status) {
        snapshot.warnings.push_back(status.error().message);
      } else if (auto info = parseContainerVerboseInfo(status->info); !info) {
        snapshot.warnings.push_back("container " + item.id + ": " + info.error().message);
      } else {
        container.pid = info->pid;
        cache_->container_pids.emplace(item.id, info->pid);
      }
    }
    snapshot.pods[pod->second].containers.push_back(std::move(container));
  }

  std::erase_if(cache_->sandboxes,
                [&](const auto& entry) { return !listed_sandboxes.contains(entry.first); });
  std::erase_if(cache_->container_pids,
                [&](const auto& entry) { return !listed_containers.contains(entry.first); });
  if (skipped > 0) {
    snapshot.warnings.push_back("CRI budget of " + std::to_string(budget.count()) +
                                " ms exhausted: " + std::to_string(skipped) +
                                " statuses left for the next round");
  }
  return snapshot;
}

}  // namespace podnetstat::k8s
