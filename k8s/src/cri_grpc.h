#pragma once

// The gRPC implementation of CriRuntime (private to the library: gRPC headers stay out of the
// public ones). It only moves bytes: requests out, answers copied into the plain structs of
// cri.h; the verbose info maps are parsed by CriCollector through cri_info.h.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "podnetstat/k8s/cri.h"

#include "cri.grpc.pb.h"
#include "cri_module.h"

namespace podnetstat::k8s {

class GrpcCriRuntime final : public CriRuntime {
 public:
  explicit GrpcCriRuntime(CriClientOptions options);

  std::string endpoint() const override { return target_; }

  Result<CriVersion> version() override;
  Result<std::vector<CriSandboxItem>> listReadySandboxes() override;
  Result<CriSandboxStatus> sandboxStatus(const std::string& sandbox_id) override;
  Result<std::vector<CriContainerItem>> listContainers() override;
  Result<CriContainerStatus> containerStatus(const std::string& container_id) override;

 private:
  /// The stub, opening a channel (and probing in auto mode) when there is none.
  Result<runtime::v1::RuntimeService::Stub*> stub();
  void prepare(grpc::ClientContext& context) const;
  /// Turns a failed status into an error and drops the channel when the runtime may be gone.
  Error fail(const char* method, const grpc::Status& status);

  CriClientOptions options_;
  bool auto_probe_ = false;
  std::string target_;  // "unix:///..."; "" until found
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<runtime::v1::RuntimeService::Stub> stub_;
};

}  // namespace podnetstat::k8s
