#pragma once

// The container runtime (CRI, `runtime.v1.RuntimeService` over gRPC on a unix socket) as the pod
// index sees it. Two layers:
//  - CriRuntime: the seam. One method per RPC, plain structs in and out, the verbose `info` maps
//    as the runtime sent them. The gRPC implementation (makeCriClient) only moves bytes; tests
//    fake this interface.
//  - CriCollector: the logic on top. Lists READY sandboxes and their containers, reads the
//    verbose info through the cri_info parsers, remembers what it already asked (a sandbox's pid,
//    netns and metadata never change while it lives, nor a running container's pid), so a
//    steady-state round costs two list calls.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "podnetstat/scanner/result.h"

namespace podnetstat::k8s {

/// CRI NamespaceMode. NODE for the network namespace = hostNetwork.
enum class CriNamespaceMode : std::uint8_t { Pod = 0, Container = 1, Node = 2, Target = 3 };

/// CRI ContainerState.
enum class CriContainerState : std::uint8_t { Created = 0, Running = 1, Exited = 2, Unknown = 3 };

/// Version answer.
struct CriVersion {
  std::string version;
  std::string runtime_name;     // "containerd", "cri-o"
  std::string runtime_version;  // "1.6.20~ds1"
  std::string runtime_api_version;
};

/// One ListPodSandbox item.
struct CriSandboxItem {
  std::string id;
  std::string name;
  std::string uid;
  std::string namespace_name;
  std::uint32_t attempt = 0;
  bool ready = false;
  std::int64_t created_at = 0;  // ns since the epoch
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
};

/// PodSandboxStatus(verbose=true): the status and the runtime's `info` map, unparsed.
struct CriSandboxStatus {
  std::string id;
  std::string name;
  std::string uid;
  std::string namespace_name;
  std::uint32_t attempt = 0;
  bool ready = false;
  std::vector<std::string> ips;  // network.ip, then additional_ips; empty for hostNetwork pods
  CriNamespaceMode network_mode = CriNamespaceMode::Pod;  // linux.namespaces.options.network
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> info;
};

/// One ListContainers item.
struct CriContainerItem {
  std::string id;
  std::string sandbox_id;
  std::string name;
  std::uint32_t attempt = 0;
  CriContainerState state = CriContainerState::Unknown;
  std::map<std::string, std::string> labels;
};

/// ContainerStatus(verbose=true).
struct CriContainerStatus {
  std::string id;
  std::string name;
  CriContainerState state = CriContainerState::Unknown;
  std::map<std::string, std::string> info;
};

/// The runtime's RPCs. Every call has a deadline (the implementation's call timeout) and
/// returns an error (never throws) when the runtime is absent, slow or answers an error.
/// Not thread-safe: one caller at a time (the metadata cache's refresh).
class CriRuntime {
 public:
  virtual ~CriRuntime() = default;
  /// The socket in use, as a gRPC target ("unix:///run/containerd/containerd.sock"); "" while
  /// auto-probing found none.
  virtual std::string endpoint() const = 0;
  virtual Result<CriVersion> version() = 0;
  /// ListPodSandbox with a state filter READY.
  virtual Result<std::vector<CriSandboxItem>> listReadySandboxes() = 0;
  virtual Result<CriSandboxStatus> sandboxStatus(const std::string& sandbox_id) = 0;
  /// ListContainers, every state.
  virtual Result<std::vector<CriContainerItem>> listContainers() = 0;
  virtual Result<CriContainerStatus> containerStatus(const std::string& container_id) = 0;
};

/// The sockets probed when the endpoint is "auto", in order: containerd, CRI-O (both paths),
/// k3s/RKE2, Bottlerocket, cri-dockerd.
const std::vector<std::string>& defaultCriSocketPaths();

struct CriClientOptions {
  /// "auto" (probe `probe_paths`, first existing socket wins, probed again after a failure),
  /// "unix:///path" or "/path". ("none" is the caller's business: make no client.)
  std::string endpoint = "auto";
  std::vector<std::string> probe_paths = defaultCriSocketPaths();
  std::chrono::milliseconds call_timeout{2000};
  int max_message_bytes = 16 * 1024 * 1024;  // the kubelet's limit; gRPC's default is 4 MiB
};

/// The gRPC client. A failed call (runtime gone, restarted, slow) drops the channel; the next
/// call opens a new one (and re-probes in auto mode), so a restarted runtime is picked up at
/// once instead of after gRPC's reconnect backoff. @return an error for an endpoint that is
/// neither "auto", "unix://..." nor an absolute path.
Result<std::unique_ptr<CriRuntime>> makeCriClient(CriClientOptions options);

/// A container of a READY sandbox.
struct CriContainer {
  std::string id;
  std::string name;
  std::uint32_t attempt = 0;
  CriContainerState state = CriContainerState::Unknown;
  std::int32_t pid = 0;  // from ContainerStatus(verbose); 0 when not running or unknown
};

/// A READY sandbox with what its verbose status and its containers say.
struct CriPod {
  std::string sandbox_id;
  std::string uid;  // as the runtime has it (normally the kubelet's pod UID)
  std::string namespace_name;
  std::string name;
  std::uint32_t attempt = 0;
  bool host_network = false;  // network mode NODE, or the verbose info says so
  /// The sandbox (pause) process; 0 when the runtime has none (CRI-O with drop_infra_ctr).
  std::int32_t pid = 0;
  /// The sandbox's network namespace file as the runtime names it ("/var/run/netns/cni-..."),
  /// "" when unknown or hostNetwork.
  std::string netns_path;
  std::vector<std::string> ips;
  std::map<std::string, std::string> labels;  // the sandbox's labels (the pod's + io.kubernetes.*)
  std::vector<CriContainer> containers;       // ListContainers order
  std::string info_error;                     // why the verbose info did not parse; "" when it did
};

/// One collection round.
struct CriSnapshot {
  std::string endpoint;
  CriVersion version;
  std::vector<CriPod> pods;  // READY sandboxes, ListPodSandbox order
  /// Problems that cost part of the answer (one sandbox's status failed, the budget ran out);
  /// the round still counts as a success.
  std::vector<std::string> warnings;
};

/// Stateful collector over a CriRuntime (see the top of this file). Not thread-safe.
class CriCollector {
 public:
  explicit CriCollector(std::unique_ptr<CriRuntime> runtime);
  ~CriCollector();
  CriCollector(const CriCollector&) = delete;
  CriCollector& operator=(const CriCollector&) = delete;

  /// One round: ListPodSandbox(READY), ListContainers, and the verbose statuses not asked
  /// before, while `budget` lasts (what is left over is asked next round). Fails when a list
  /// call fails; then the cache is kept, and Version is asked again next time.
  Result<CriSnapshot> collect(std::chrono::milliseconds budget = std::chrono::seconds(10));

  CriRuntime& runtime() { return *runtime_; }

 private:
  struct Cache;
  /// One collect() after its list calls (cri_collector.cpp).
  class Round;
  std::unique_ptr<CriRuntime> runtime_;
  std::unique_ptr<Cache> cache_;
};

}  // namespace podnetstat::k8s
