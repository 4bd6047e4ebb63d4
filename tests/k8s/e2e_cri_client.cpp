#include "e2e_cri_client.h"

#include <stdexcept>
#include <thread>

#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/codegen/rpc_method.h>

namespace podnetstat::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr milliseconds kShortCall{5000};
constexpr milliseconds kLongCall{60000};  // RunPodSandbox: image, runc, CNI

}  // namespace

E2eCriClient::E2eCriClient(const std::string& socket_path)
    : channel_(grpc::CreateChannel("unix://" + socket_path, grpc::InsecureChannelCredentials())) {}

template <class Request, class Response>
Response E2eCriClient::call(const char* method, const Request& request, milliseconds timeout) {
  const std::string path = std::string("/runtime.v1.RuntimeService/") + method;
  const grpc::internal::RpcMethod rpc(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC,
                                      channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + timeout);
  Response response;
  const grpc::Status status =
      grpc::internal::BlockingUnaryCall(channel_.get(), rpc, &context, request, &response);
  if (!status.ok()) {
    throw std::runtime_error(std::string("CRI ") + method + ": " +
                             std::to_string(static_cast<int>(status.error_code())) + " " +
                             status.error_message());
  }
  return response;
}

bool E2eCriClient::waitReady(milliseconds timeout, std::string* why) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    try {
      const auto status =
          call<e2ecri::StatusRequest, e2ecri::StatusResponse>("Status", {}, kShortCall);
      bool runtime = false;
      bool network = false;
      std::string conditions;
      for (const auto& c : status.status().conditions()) {
        runtime = runtime || (c.type() == "RuntimeReady" && c.status());
        network = network || (c.type() == "NetworkReady" && c.status());
        conditions += c.type() + "=" + (c.status() ? "true" : "false") + " " + c.reason() + " " +
                      c.message() + "; ";
      }
      if (runtime && network) {
        return true;
      }
      *why = conditions;
    } catch (const std::exception& e) {
      *why = e.what();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
}

e2ecri::PodSandboxConfig E2eCriClient::sandboxConfig(const std::string& namespace_name,
                                                     const std::string& name,
                                                     const std::string& uid,
                                                     const std::string& cgroup_parent,
                                                     bool host_network) {
  e2ecri::PodSandboxConfig config;
  config.mutable_metadata()->set_name(name);
  config.mutable_metadata()->set_namespace_(namespace_name);
  config.mutable_metadata()->set_uid(uid);
  if (!host_network) {
    config.set_hostname(name);  // a hostNetwork pod keeps the node's (no private UTS namespace)
  }
  auto& labels = *config.mutable_labels();
  labels["app"] = name;
  labels["io.kubernetes.pod.name"] = name;
  labels["io.kubernetes.pod.namespace"] = namespace_name;
  labels["io.kubernetes.pod.uid"] = uid;
  config.mutable_linux()->set_cgroup_parent(cgroup_parent);
  if (host_network) {
    config.mutable_linux()->mutable_security_context()->mutable_namespace_options()->set_network(
        e2ecri::NODE);
  }
  return config;
}

std::string E2eCriClient::runPodSandbox(const e2ecri::PodSandboxConfig& config) {
  e2ecri::RunPodSandboxRequest request;
  *request.mutable_config() = config;
  return call<e2ecri::RunPodSandboxRequest, e2ecri::RunPodSandboxResponse>("RunPodSandbox", request,
                                                                           kLongCall)
      .pod_sandbox_id();
}

e2ecri::PodSandboxStatusResponse E2eCriClient::sandboxStatus(const std::string& sandbox_id) {
  e2ecri::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  request.set_verbose(true);
  return call<e2ecri::PodSandboxStatusRequest, e2ecri::PodSandboxStatusResponse>(
      "PodSandboxStatus", request, kShortCall);
}

void E2eCriClient::stopPodSandbox(const std::string& sandbox_id) {
  e2ecri::StopPodSandboxRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  call<e2ecri::StopPodSandboxRequest, e2ecri::StopPodSandboxResponse>("StopPodSandbox", request,
                                                                      kLongCall);
}

void E2eCriClient::removePodSandbox(const std::string& sandbox_id) {
  e2ecri::RemovePodSandboxRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  call<e2ecri::RemovePodSandboxRequest, e2ecri::RemovePodSandboxResponse>("RemovePodSandbox",
                                                                          request, kLongCall);
}

std::string E2eCriClient::createContainer(const std::string& sandbox_id,
                                          const e2ecri::PodSandboxConfig& sandbox_config,
                                          const std::string& name,
                                          const std::string& image,
                                          const std::vector<std::string>& command) {
  e2ecri::CreateContainerRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  *request.mutable_sandbox_config() = sandbox_config;
  e2ecri::ContainerConfig& config = *request.mutable_config();
  config.mutable_metadata()->set_name(name);
  config.mutable_image()->set_image(image);
  for (const std::string& arg : command) {
    config.add_command(arg);
  }
  (*config.mutable_labels())["io.kubernetes.container.name"] = name;
  return call<e2ecri::CreateContainerRequest, e2ecri::CreateContainerResponse>("CreateContainer",
                                                                               request, kLongCall)
      .container_id();
}

void E2eCriClient::startContainer(const std::string& container_id) {
  e2ecri::StartContainerRequest request;
  request.set_container_id(container_id);
  call<e2ecri::StartContainerRequest, e2ecri::StartContainerResponse>("StartContainer", request,
                                                                      kLongCall);
}

e2ecri::ContainerStatusResponse E2eCriClient::containerStatus(const std::string& container_id) {
  e2ecri::ContainerStatusRequest request;
  request.set_container_id(container_id);
  request.set_verbose(true);
  return call<e2ecri::ContainerStatusRequest, e2ecri::ContainerStatusResponse>("ContainerStatus",
                                                                               request, kShortCall);
}

void E2eCriClient::removeAll() noexcept {
  try {
    const auto containers = call<e2ecri::ListContainersRequest, e2ecri::ListContainersResponse>(
        "ListContainers", {}, kShortCall);
    for (const auto& c : containers.containers()) {
      try {
        e2ecri::StopContainerRequest stop;
        stop.set_container_id(c.id());
        stop.set_timeout(1);
        call<e2ecri::StopContainerRequest, e2ecri::StopContainerResponse>("StopContainer", stop,
                                                                          kLongCall);
        e2ecri::RemoveContainerRequest remove;
        remove.set_container_id(c.id());
        call<e2ecri::RemoveContainerRequest, e2ecri::RemoveContainerResponse>("RemoveContainer",
                                                                              remove, kLongCall);
      } catch (const std::exception&) {
      }
    }
    const auto sandboxes = call<e2ecri::ListPodSandboxRequest, e2ecri::ListPodSandboxResponse>(
        "ListPodSandbox", {}, kShortCall);
    for (const auto& s : sandboxes.items()) {
      try {
        stopPodSandbox(s.id());
        removePodSandbox(s.id());
      } catch (const std::exception&) {
      }
    }
  } catch (const std::exception&) {
  }
}

}  // namespace podnetstat::testing
