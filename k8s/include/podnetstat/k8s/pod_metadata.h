#pragma once

// What the metadata sources (CRI, kubelet, /var/log/pods) say about the pods of this node,
// merged by pod UID, and the cache that refreshes it in the background.
//
// The agent keeps one PodMetadataCache. Its thread asks the sources every few seconds, each
// with a deadline, and publishes an immutable PodMetadata; a scan never waits for a source: it
// takes current() and builds a PodIndex (pod_index.h) from it. A source that is down or slow
// costs names (pods become uid-only), never the answer: its health says what went wrong, and
// its last good answer is kept for a while (keep_stale) so a blip does not drop every name.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "podnetstat/k8s/clock.h"
#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/kubelet.h"
#include "podnetstat/k8s/log_dirs.h"
#include "podnetstat/k8s/pod_list.h"

namespace podnetstat::k8s {

/// Which source said something about a pod (bit set).
enum PodSourceBit : unsigned {
  kSourceCri = 1U << 0,
  kSourceKubelet = 1U << 1,
  kSourceLogDir = 1U << 2,
  kSourceCgroup = 1U << 3,  // set by the PodIndex: a process's cgroup names the pod
};

/// A container as the sources know it.
struct ContainerMeta {
  std::string id;  // runtime container ID; "" for a spec container not created yet (kubelet)
  std::string name;
  ContainerKind kind = ContainerKind::Regular;
  std::vector<ContainerPort> ports;  // declared in the pod spec (kubelet)
  std::int32_t pid = 0;              // CRI: its init process; 0 when unknown or not running
  bool running = false;              // CRI: CONTAINER_RUNNING
};

/// A pod as the sources know it.
struct PodMeta {
  /// The UID the node knows the pod by (cgroups, CRI, log dirs): normalised (normalizePodUid)
  /// when it is a UUID or static-pod hash, verbatim otherwise.
  std::string uid;
  std::string namespace_name;  // "" when no source named it
  std::string name;
  std::map<std::string, std::string> labels;  // kubelet's; else the sandbox's minus io.kubernetes.*
  std::vector<OwnerReference> owners;         // kubelet
  bool host_network = false;                  // kubelet spec.hostNetwork or CRI network mode NODE
  std::vector<std::string> ips;               // kubelet podIPs, else the sandbox's
  bool static_pod = false;
  std::string phase;      // kubelet: "Running", "Pending", ...; "" when kubelet did not say
  std::string qos_class;  // kubelet
  // CRI (empty/0 without a READY sandbox):
  std::string sandbox_id;
  std::int32_t sandbox_pid = 0;
  std::string netns_path;
  std::uint32_t attempt = 0;
  std::vector<ContainerMeta> containers;  // kubelet spec order, then CRI-only ones
  unsigned sources = 0;                   // PodSourceBit
};

/// Health of one source, for /api/v1/node and metrics.
struct SourceHealth {
  bool enabled = false;
  std::string endpoint;               // socket, URL or directory; "" when none was found
  bool ok = false;                    // the last attempt succeeded
  std::string error;                  // why the last attempt failed; "" when ok
  std::vector<std::string> warnings;  // partial failures of a successful attempt
  std::optional<std::chrono::system_clock::time_point> last_success;
  std::optional<std::chrono::system_clock::time_point> last_attempt;
  double last_duration_ms = 0;
  std::size_t pods = 0;  // pods it reported (the last good answer's)
  bool stale = false;    // failing, but its last good answer (younger than keep_stale) is used
  std::string detail;    // CRI: "<runtime> <version>"
};

/// One merged view. Immutable once published.
struct PodMetadata {
  std::vector<PodMeta> pods;  // by uid, unique
  SourceHealth cri;
  SourceHealth kubelet;
  SourceHealth log_dir;
  std::optional<std::chrono::system_clock::time_point> refreshed_at;  // nullopt: never refreshed

  /// The pod with this UID (normalised or verbatim); nullptr when unknown.
  const PodMeta* find(std::string_view uid) const;

  struct ContainerRef {
    const PodMeta* pod = nullptr;
    const ContainerMeta* container = nullptr;
  };

  /// The pod and container of a runtime container ID (kubelet status or CRI).
  std::optional<ContainerRef> findContainer(std::string_view container_id) const;

  /// Rebuilds the container-ID index; mergePodMetadata() calls it, so do callers that edit pods.
  void reindex();

 private:
  std::unordered_map<std::string, std::pair<std::uint32_t, std::uint32_t>> container_index_;
};

/// Merges what the sources said (a null pointer: the source gave nothing). Keys are normalised
/// pod UIDs (the kubelet's runtime_uid, so static pods meet their cgroups). Names, labels,
/// owners, IPs and container names prefer the kubelet, then CRI, then the log dirs (names only).
/// Source health is left empty.
PodMetadata mergePodMetadata(const CriSnapshot* cri,
                             const PodList* kubelet,
                             const std::vector<LogDirPod>* log_pods);

/// The sources a cache asks; each may be absent (disabled).
struct PodMetadataSources {
  std::unique_ptr<CriRuntime> cri;
  std::unique_ptr<KubeletApi> kubelet;
  std::filesystem::path log_dir;  // empty: disabled
};

struct PodMetadataCacheOptions {
  /// Time one CRI round may take in all (each call has its own deadline on top).
  std::chrono::milliseconds cri_budget{10000};
  /// How long the last good answer of a source that now fails is still used.
  std::chrono::seconds keep_stale{120};
  const Clock* clock = nullptr;  // systemClock() when null
};

/// Refreshes PodMetadata from the sources, on demand or on its own thread. Thread-safe.
class PodMetadataCache {
 public:
  explicit PodMetadataCache(PodMetadataSources sources, PodMetadataCacheOptions options = {});
  ~PodMetadataCache();  // stops the thread
  PodMetadataCache(const PodMetadataCache&) = delete;
  PodMetadataCache& operator=(const PodMetadataCache&) = delete;

  /// The latest published view; never null (empty, with the sources' `enabled` flags and
  /// endpoints, before the first refresh). Never waits for a source.
  std::shared_ptr<const PodMetadata> current() const;

  /// Asks every enabled source now (CRI and kubelet in parallel, each with its deadlines),
  /// publishes and returns the new view. Calls are serialised: a second caller waits for the
  /// running refresh and then runs its own.
  std::shared_ptr<const PodMetadata> refresh();

  /// Starts the background thread: a refresh right away, then every `interval` (and sooner
  /// after requestRefresh()). Calling it again changes nothing.
  void start(std::chrono::milliseconds interval);

  /// Stops the thread (waits for a running refresh to end). Idempotent.
  void stop();

  /// Wakes the thread for an early refresh (e.g. a scan met a pod UID no source knows), at most
  /// once per `min_gap`. No-op without the thread.
  void requestRefresh(std::chrono::milliseconds min_gap = std::chrono::seconds(1));

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace podnetstat::k8s
