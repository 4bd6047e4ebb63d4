#pragma once

// The containerd end-to-end test's own CRI client: sets pods up and tears them down
// (RunPodSandbox, CreateContainer, StartContainer, Stop/Remove), with the messages of
// proto/cri_e2e.proto sent on the runtime.v1 method paths. Failures throw std::runtime_error
// naming the call and the gRPC status.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "cri_e2e.pb.h"

namespace podnetstat::testing {

namespace e2ecri = ::podnetstat::e2e::cri;

class E2eCriClient {
 public:
  explicit E2eCriClient(const std::string& socket_path);

  /// Polls Status until RuntimeReady and NetworkReady; false (with `why`) after `timeout`.
  bool waitReady(std::chrono::milliseconds timeout, std::string* why);

  /// A sandbox config: kubelet-style metadata, labels and cgroup parent; network NODE for
  /// hostNetwork.
  static e2ecri::PodSandboxConfig sandboxConfig(const std::string& namespace_name,
                                                const std::string& name,
                                                const std::string& uid,
                                                const std::string& cgroup_parent,
                                                bool host_network);

  std::string runPodSandbox(const e2ecri::PodSandboxConfig& config);
  e2ecri::PodSandboxStatusResponse sandboxStatus(const std::string& sandbox_id);
  void stopPodSandbox(const std::string& sandbox_id);
  void removePodSandbox(const std::string& sandbox_id);

  std::string createContainer(const std::string& sandbox_id,
                              const e2ecri::PodSandboxConfig& sandbox_config,
                              const std::string& name,
                              const std::string& image,
                              const std::vector<std::string>& command);
  void startContainer(const std::string& container_id);
  e2ecri::ContainerStatusResponse containerStatus(const std::string& container_id);

  /// Stops and removes every container and sandbox the runtime has (best effort, no throw).
  void removeAll() noexcept;

 private:
  template <class Request, class Response>
  Response call(const char* method, const Request& request, std::chrono::milliseconds timeout);

  std::shared_ptr<grpc::Channel> channel_;
};

}  // namespace podnetstat::testing
