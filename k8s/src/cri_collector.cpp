// One CRI round, on top of the CriRuntime seam:
//  1. Version, once per connection (it names the runtime in the health report);
//  2. ListPodSandbox(READY) and ListContainers: the only calls of a steady-state round;
//  3. PodSandboxStatus(verbose) of every READY sandbox not seen before, and ContainerStatus
//     (verbose) of every running container not seen before, while the budget lasts; their
//     verbose info goes through the cri_info parsers and is remembered by ID (a sandbox's pid,
//     netns and metadata never change while it lives, nor a running container's pid);
//  4. entries of IDs no longer listed are forgotten.

#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

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

/// Steps 3 and 4 of a round: the READY sandboxes and their containers, each from the cache or
/// from its verbose status while the budget lasts, then the cache pruned to what was listed.
class CriCollector::Round {
 public:
  Round(CriRuntime& runtime, Cache& cache, std::chrono::milliseconds budget)
      : runtime_(runtime),
        cache_(cache),
        budget_(budget),
        deadline_(std::chrono::steady_clock::now() + budget) {
    snapshot_.endpoint = runtime.endpoint();
  }

  void addSandboxes(const std::vector<CriSandboxItem>& items) {
    for (const CriSandboxItem& item : items) {
      if (!item.ready) {
        continue;
      }
      listed_sandboxes_.insert(item.id);
      if (auto pod = sandboxPod(item)) {
        pod_of_sandbox_.emplace(item.id, snapshot_.pods.size());
        snapshot_.pods.push_back(std::move(*pod));
      }
    }
  }

  void addContainers(const std::vector<CriContainerItem>& items) {
    for (const CriContainerItem& item : items) {
      const auto pod = pod_of_sandbox_.find(item.sandbox_id);
      if (pod == pod_of_sandbox_.end()) {
        continue;  // a container of a sandbox that is not READY
      }
      CriContainer container;
      container.id = item.id;
      container.name = item.name;
      container.attempt = item.attempt;
      container.state = item.state;
      if (item.state == CriContainerState::Running) {
        listed_containers_.insert(item.id);
        container.pid = containerPid(item);
      }
      snapshot_.pods[pod->second].containers.push_back(std::move(container));
    }
  }

  /// Forgets the IDs no longer listed and says what the budget left for the next round.
  CriSnapshot finish() {
    snapshot_.version = cache_.version;
    std::erase_if(cache_.sandboxes,
                  [&](const auto& entry) { return !listed_sandboxes_.contains(entry.first); });
    std::erase_if(cache_.container_pids,
                  [&](const auto& entry) { return !listed_containers_.contains(entry.first); });
    if (skipped_ > 0) {
      snapshot_.warnings.push_back("CRI budget of " + std::to_string(budget_.count()) +
                                   " ms exhausted: " + std::to_string(skipped_) +
                                   " statuses left for the next round");
    }
    return std::move(snapshot_);
  }

 private:
  bool inBudget() const { return std::chrono::steady_clock::now() < deadline_; }

  /// A READY sandbox's pod: cached, else from its verbose status (what the list says when the
  /// status cannot be had now); nullopt when it stopped between the list and the status.
  std::optional<CriPod> sandboxPod(const CriSandboxItem& item) {
    if (const auto cached = cache_.sandboxes.find(item.id); cached != cache_.sandboxes.end()) {
      return cached->second;
    }
    if (!inBudget()) {
      ++skipped_;
      return sandboxFromItem(item);
    }
    auto status = runtime_.sandboxStatus(item.id);
    if (!status) {
      snapshot_.warnings.push_back(status.error().message);
      return sandboxFromItem(item);
    }
    if (!status->ready) {
      return std::nullopt;
    }
    CriPod pod = sandboxFromStatus(item, *status);
    if (!pod.info_error.empty()) {
      snapshot_.warnings.push_back("sandbox " + item.id + ": " + pod.info_error);
    }
    return cache_.sandboxes.emplace(item.id, std::move(pod)).first->second;
  }

  /// A running container's pid: cached, else from its verbose status; 0 when it cannot be had
  /// now.
  std::int32_t containerPid(const CriContainerItem& item) {
    if (const auto cached = cache_.container_pids.find(item.id);
        cached != cache_.container_pids.end()) {
      return cached->second;
    }
    if (!inBudget()) {
      ++skipped_;
      return 0;
    }
    auto status = runtime_.containerStatus(item.id);
    if (!status) {
      snapshot_.warnings.push_back(status.error().message);
      return 0;
    }
    auto info = parseContainerVerboseInfo(status->info);
    if (!info) {
      snapshot_.warnings.push_back("container " + item.id + ": " + info.error().message);
      return 0;
    }
    cache_.container_pids.emplace(item.id, info->pid);
    return info->pid;
  }

  CriRuntime& runtime_;
  Cache& cache_;
  std::chrono::milliseconds budget_;
  std::chrono::steady_clock::time_point deadline_;
  CriSnapshot snapshot_;
  std::size_t skipped_ = 0;
  std::unordered_map<std::string, std::size_t> pod_of_sandbox_;
  std::unordered_set<std::string> listed_sandboxes_;
  std::unordered_set<std::string> listed_containers_;
};

Result<CriSnapshot> CriCollector::collect(std::chrono::milliseconds budget) {
  Round round(*runtime_, *cache_, budget);
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
  round.addSandboxes(*sandboxes);
  round.addContainers(*containers);
  return round.finish();
}

}  // namespace podnetstat::k8s
