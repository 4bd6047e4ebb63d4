// Merging the sources by pod UID, and the cache that refreshes them.
//
// Merge order per pod: CRI creates or fills the runtime facts (sandbox, pid, netns path,
// containers with pids); the kubelet overrides names, labels, owners, hostNetwork, IPs and gives
// container names, kinds and declared ports (joined to CRI containers by ID); the log dirs only
// name pods nothing else named.

#include "podnetstat/k8s/pod_metadata.h"

#include <algorithm>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "podnetstat/k8s/cgroup.h"

namespace podnetstat::k8s {
namespace {

std::string normalUid(const std::string& uid) {
  return normalizePodUid(uid).value_or(uid);
}

class Merger {
 public:
  PodMeta& pod(const std::string& raw_uid) {
    const std::string uid = normalUid(raw_uid);
    auto [it, inserted] = index_.try_emplace(uid, pods_.size());
    if (inserted) {
      pods_.emplace_back();
      pods_.back().uid = uid;
    }
    return pods_[it->second];
  }

  std::vector<PodMeta> take() && {
    std::ranges::sort(pods_, {}, &PodMeta::uid);
    return std::move(pods_);
  }

 private:
  std::vector<PodMeta> pods_;
  std::unordered_map<std::string, std::size_t> index_;
};

void addCri(Merger& merger, const CriPod& cri) {
  if (cri.uid.empty()) {
    return;
  }
  PodMeta& pod = merger.pod(cri.uid);
  // Two READY sandboxes of one pod happen briefly around a sandbox restart: the newer wins.
  if (!pod.sandbox_id.empty() && cri.attempt < pod.attempt) {
    return;
  }
  pod.sources |= kSourceCri;
  pod.namespace_name = cri.namespace_name;
  pod.name = cri.name;
  pod.labels = cri.labels;
  pod.host_network = cri.host_network;
  pod.ips = cri.ips;
  pod.sandbox_id = cri.sandbox_id;
  pod.sandbox_pid = cri.pid;
  pod.netns_path = cri.netns_path;
  pod.attempt = cri.attempt;
  pod.containers.clear();
  for (const CriContainer& c : cri.containers) {
    ContainerMeta meta;
    meta.id = c.id;
    meta.name = c.name;
    meta.pid = c.pid;
    meta.running = c.state == CriContainerState::Running;
    pod.containers.push_back(std::move(meta));
  }
}

void addKubelet(Merger& merger, const PodInfo& info) {
  const std::string& uid = info.runtime_uid.empty() ? info.uid : info.runtime_uid;
  if (uid.empty()) {
    return;
  }
  PodMeta& pod = merger.pod(uid);
  pod.sources |= kSourceKubelet;
  if (!info.namespace_name.empty()) {
    pod.namespace_name = info.namespace_name;
  }
  if (!info.name.empty()) {
    pod.name = info.name;
  }
  pod.labels = info.labels;
  pod.owners = info.owners;
  pod.host_network = info.host_network || pod.host_network;
  if (!info.pod_ips.empty()) {
    pod.ips = info.pod_ips;
  }
  pod.static_pod = info.static_pod;
  pod.phase = info.phase;
  pod.qos_class = info.qos_class;

  // The kubelet's containers in spec order, joined with CRI's by ID; CRI-only ones (other
  // attempts the kubelet no longer reports) follow. A container the kubelet has no ID for yet (a
  // new pod: its status lags the runtime) is the runtime's container of that name (a running
  // one first), not a second entry beside it.
  std::vector<ContainerMeta> merged;
  std::vector<bool> used(pod.containers.size(), false);
  const auto join = [&](ContainerMeta& meta, std::size_t i) {
    used[i] = true;
    meta.id = pod.containers[i].id;
    meta.pid = pod.containers[i].pid;
    meta.running = pod.containers[i].running;
  };
  for (const ContainerInfo& c : info.containers) {
    ContainerMeta meta;
    meta.id = c.id;
    meta.name = c.name;
    meta.kind = c.kind;
    meta.ports = c.ports;
    for (std::size_t i = 0; i < pod.containers.size(); ++i) {
      if (!used[i] && !c.id.empty() && pod.containers[i].id == c.id) {
        join(meta, i);
      }
    }
    if (c.id.empty()) {
      std::optional<std::size_t> best;
      for (std::size_t i = 0; i < pod.containers.size(); ++i) {
        if (!used[i] && pod.containers[i].name == c.name &&
            (!best || pod.containers[i].running || !pod.containers[*best].running)) {
          best = i;
        }
      }
      if (best) {
        join(meta, *best);
      }
    }
    merged.push_back(std::move(meta));
  }
  for (std::size_t i = 0; i < pod.containers.size(); ++i) {
    if (!used[i]) {
      ContainerMeta meta = std::move(pod.containers[i]);
      // An older attempt of a spec container: the kubelet's ports apply to it as well.
      for (const ContainerInfo& c : info.containers) {
        if (c.name == meta.name) {
          meta.kind = c.kind;
          meta.ports = c.ports;
        }
      }
      merged.push_back(std::move(meta));
    }
  }
  pod.containers = std::move(merged);
}

void addLogDir(Merger& merger, const LogDirPod& log) {
  PodMeta& pod = merger.pod(log.uid);
  pod.sources |= kSourceLogDir;
  if (pod.name.empty()) {
    pod.namespace_name = log.namespace_name;
    pod.name = log.name;
  }
}

}  // namespace

const PodMeta* PodMetadata::find(std::string_view uid) const {
  const std::string key = normalizePodUid(uid).value_or(std::string(uid));
  const auto it = std::ranges::lower_bound(pods, key, {}, &PodMeta::uid);
  return it != pods.end() && it->uid == key ? &*it : nullptr;
}

std::optional<PodMetadata::ContainerRef> PodMetadata::findContainer(
    std::string_view container_id) const {
  const auto it = container_index_.find(std::string(container_id));
  if (it == container_index_.end()) {
    return std::nullopt;
  }
  const PodMeta& pod = pods[it->second.first];
  return ContainerRef{&pod, &pod.containers[it->second.second]};
}

void PodMetadata::reindex() {
  container_index_.clear();
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    for (std::uint32_t c = 0; c < pods[p].containers.size(); ++c) {
      if (!pods[p].containers[c].id.empty()) {
        container_index_.try_emplace(pods[p].containers[c].id, p, c);
      }
    }
  }
}

PodMetadata mergePodMetadata(const CriSnapshot* cri,
                             const PodList* kubelet,
                             const std::vector<LogDirPod>* log_pods) {
  Merger merger;
  if (cri != nullptr) {
    for (const CriPod& pod : cri->pods) {
      addCri(merger, pod);
    }
  }
  if (kubelet != nullptr) {
    for (const PodInfo& pod : kubelet->pods) {
      addKubelet(merger, pod);
    }
  }
  if (log_pods != nullptr) {
    for (const LogDirPod& pod : *log_pods) {
      addLogDir(merger, pod);
    }
  }
  PodMetadata out;
  out.pods = std::move(merger).take();
  out.reindex();
  return out;
}

// ---- the cache ----

namespace {

/// The last good answer of one source, and its health.
template <class T>
struct SourceState {
  std::optional<T> last_good;
  std::optional<std::chrono::steady_clock::time_point> last_good_at;
  SourceHealth health;
};

/// Records one attempt's outcome in `state`.
template <class T>
void record(SourceState<T>& state,
            Result<T> result,
            std::vector<std::string> warnings,
            const Clock& clock,
            std::chrono::steady_clock::time_point started,
            std::size_t pods) {
  SourceHealth& h = state.health;
  h.last_attempt = clock.systemNow();
  h.last_duration_ms =
      std::chrono::duration<double, std::milli>(clock.steadyNow() - started).count();
  h.warnings = std::move(warnings);
  if (result) {
    h.ok = true;
    h.error.clear();
    h.stale = false;
    h.last_success = h.last_attempt;
    h.pods = pods;
    state.last_good = std::move(*result);
    state.last_good_at = clock.steadyNow();
  } else {
    h.ok = false;
    h.error = result.error().message;
  }
}

/// The answer to merge: the last good one while it is younger than keep_stale.
template <class T>
const T* usable(SourceState<T>& state, const Clock& clock, std::chrono::seconds keep_stale) {
  if (!state.last_good) {
    return nullptr;
  }
  if (!state.health.ok && clock.steadyNow() - *state.last_good_at > keep_stale) {
    state.last_good.reset();
    state.health.stale = false;
    state.health.pods = 0;
    return nullptr;
  }
  state.health.stale = !state.health.ok;
  return &*state.last_good;
}

}  // namespace

struct PodMetadataCache::State {
  PodMetadataCacheOptions options;
  const Clock* clock = nullptr;
  std::unique_ptr<CriCollector> cri;
  std::unique_ptr<KubeletApi> kubelet;
  std::filesystem::path log_dir;

  std::mutex refresh_mutex;  // one refresh at a time; guards the SourceStates
  SourceState<CriSnapshot> cri_state;
  SourceState<PodList> kubelet_state;
  SourceState<std::vector<LogDirPod>> log_state;

  mutable std::mutex current_mutex;
  std::shared_ptr<const PodMetadata> current;

  std::mutex thread_mutex;  // guards the fields below
  std::condition_variable wake;
  bool stopping = false;
  bool wake_requested = false;
  std::optional<std::chrono::steady_clock::time_point> last_request;
  std::thread thread;
};

PodMetadataCache::PodMetadataCache(PodMetadataSources sources, PodMetadataCacheOptions options)
    : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = options;
  s.clock = options.clock != nullptr ? options.clock : &systemClock();
  if (sources.cri) {
    s.cri_state.health.enabled = true;
    s.cri_state.health.endpoint = sources.cri->endpoint();
    s.cri = std::make_unique<CriCollector>(std::move(sources.cri));
  }
  if (sources.kubelet) {
    s.kubelet_state.health.enabled = true;
    s.kubelet_state.health.endpoint = sources.kubelet->endpoint();
    s.kubelet = std::move(sources.kubelet);
  }
  if (!sources.log_dir.empty()) {
    s.log_state.health.enabled = true;
    s.log_state.health.endpoint = sources.log_dir.string();
    s.log_dir = std::move(sources.log_dir);
  }
  auto initial = std::make_shared<PodMetadata>();
  initial->cri = s.cri_state.health;
  initial->kubelet = s.kubelet_state.health;
  initial->log_dir = s.log_state.health;
  s.current = std::move(initial);
}

PodMetadataCache::~PodMetadataCache() {
  stop();
}

std::shared_ptr<const PodMetadata> PodMetadataCache::current() const {
  const std::lock_guard lock(state_->current_mutex);
  return state_->current;
}

std::shared_ptr<const PodMetadata> PodMetadataCache::refresh() {
  State& s = *state_;
  const std::lock_guard lock(s.refresh_mutex);
  const Clock& clock = *s.clock;

  // The kubelet on its own thread while this one talks to the runtime: a slow source costs its
  // own deadline, not the sum.
  std::future<void> kubelet_done;
  if (s.kubelet) {
    kubelet_done = std::async(std::launch::async, [&s, &clock] {
      const auto started = clock.steadyNow();
      auto body = s.kubelet->getPods();
      Result<PodList> list = body ? parsePodList(*body) : Result<PodList>(body.error());
      if (!list && body) {
        list = Error{"kubelet " + s.kubelet->endpoint() + "/pods: " + list.error().message};
      }
      const std::size_t pods = list ? list->pods.size() : 0;
      std::vector<std::string> warnings;
      if (list && list->skipped_items > 0) {
        warnings.push_back(std::to_string(list->skipped_items) + " PodList items skipped");
      }
      record(s.kubelet_state, std::move(list), std::move(warnings), clock, started, pods);
    });
  }
  if (s.cri) {
    const auto started = clock.steadyNow();
    auto snapshot = s.cri->collect(s.options.cri_budget);
    std::vector<std::string> warnings;
    std::size_t pods = 0;
    if (snapshot) {
      warnings = snapshot->warnings;
      pods = snapshot->pods.size();
      s.cri_state.health.detail =
          snapshot->version.runtime_name + " " + snapshot->version.runtime_version;
    }
    record(s.cri_state, std::move(snapshot), std::move(warnings), clock, started, pods);
    s.cri_state.health.endpoint = s.cri->runtime().endpoint();
  }
  if (!s.log_dir.empty()) {
    const auto started = clock.steadyNow();
    auto pods = readLogDirPods(s.log_dir);
    const std::size_t count = pods ? pods->size() : 0;
    record(s.log_state, std::move(pods), {}, clock, started, count);
  }
  if (kubelet_done.valid()) {
    kubelet_done.wait();
  }

  const auto keep = s.options.keep_stale;
  auto merged = std::make_shared<PodMetadata>(mergePodMetadata(usable(s.cri_state, clock, keep),
                                                               usable(s.kubelet_state, clock, keep),
                                                               usable(s.log_state, clock, keep)));
  merged->cri = s.cri_state.health;
  merged->kubelet = s.kubelet_state.health;
  merged->log_dir = s.log_state.health;
  merged->refreshed_at = clock.systemNow();
  std::shared_ptr<const PodMetadata> published = std::move(merged);
  {
    const std::lock_guard current_lock(s.current_mutex);
    s.current = published;
  }
  return published;
}

void PodMetadataCache::start(std::chrono::milliseconds interval) {
  State& s = *state_;
  const std::lock_guard lock(s.thread_mutex);
  if (s.thread.joinable() || s.stopping) {
    return;
  }
  s.thread = std::thread([this, &s, interval] {
    std::unique_lock thread_lock(s.thread_mutex);
    while (!s.stopping) {
      s.wake_requested = false;
      thread_lock.unlock();
      refresh();
      thread_lock.lock();
      s.wake.wait_for(thread_lock, interval, [&s] { return s.stopping || s.wake_requested; });
    }
  });
}

void PodMetadataCache::stop() {
  State& s = *state_;
  std::thread thread;
  {
    const std::lock_guard lock(s.thread_mutex);
    s.stopping = true;
    thread = std::move(s.thread);
  }
  s.wake.notify_all();
  if (thread.joinable()) {
    thread.join();
  }
}

void PodMetadataCache::requestRefresh(std::chrono::milliseconds min_gap) {
  State& s = *state_;
  {
    const std::lock_guard lock(s.thread_mutex);
    const auto now = s.clock->steadyNow();
    if (!s.thread.joinable() || (s.last_request && now - *s.last_request < min_gap)) {
      return;
    }
    s.last_request = now;
    s.wake_requested = true;
  }
  s.wake.notify_all();
}

}  // namespace podnetstat::k8s
