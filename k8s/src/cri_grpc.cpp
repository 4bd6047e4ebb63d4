// CRI over gRPC. Every call: a fresh ClientContext with the call deadline, fail-fast (no
// wait_for_ready), and the answer copied into plain structs. A failure that may mean the runtime
// went away (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN, INTERNAL) drops the channel:
// gRPC would otherwise reconnect with an exponential backoff of up to two minutes, while a new
// channel connects to a restarted runtime at once.

#include "cri_grpc.h"

#include <sys/stat.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <utility>

namespace podnetstat::k8s {
namespace {

namespace v1 = runtime::v1;

constexpr std::string_view kUnixScheme = "unix://";

/// Status codes after which the channel is replaced.
constexpr std::array<grpc::StatusCode, 5> kReconnectCodes = {
    grpc::StatusCode::UNAVAILABLE, grpc::StatusCode::DEADLINE_EXCEEDED, grpc::StatusCode::CANCELLED,
    grpc::StatusCode::UNKNOWN, grpc::StatusCode::INTERNAL};

bool isSocket(const std::string& path) {
  struct stat st {};

  return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

template <class Map>
std::map<std::string, std::string> toMap(const Map& m) {
  return {m.begin(), m.end()};
}

CriContainerState containerState(v1::ContainerState state) {
  switch (state) {
    case v1::CONTAINER_CREATED:
      return CriContainerState::Created;
    case v1::CONTAINER_RUNNING:
      return CriContainerState::Running;
    case v1::CONTAINER_EXITED:
      return CriContainerState::Exited;
    default:
      return CriContainerState::Unknown;
  }
}

std::string statusText(const grpc::Status& status) {
  static constexpr std::array<const char*, 17> kNames = {"OK",
                                                         "CANCELLED",
                                                         "UNKNOWN",
                                                         "INVALID_ARGUMENT",
                                                         "DEADLINE_EXCEEDED",
                                                         "NOT_FOUND",
                                                         "ALREADY_EXISTS",
                                                         "PERMISSION_DENIED",
                                                         "RESOURCE_EXHAUSTED",
                                                         "FAILED_PRECONDITION",
                                                         "ABORTED",
                                                         "OUT_OF_RANGE",
                                                         "UNIMPLEMENTED",
                                                         "INTERNAL",
                                                         "UNAVAILABLE",
                                                         "DATA_LOSS",
                                                         "UNAUTHENTICATED"};
  const auto code = static_cast<std::size_t>(status.error_code());
  std::string text = code < kNames.size() ? kNames[code] : "code " + std::to_string(code);
  if (!status.error_message().empty()) {
    text += ": " + status.error_message();
  }
  return text;
}

}  // namespace

void podnetstatCriMakeRuntime(const CriClientOptions& options, std::unique_ptr<CriRuntime>& out) {
  out = std::make_unique<GrpcCriRuntime>(options);
}

GrpcCriRuntime::GrpcCriRuntime(CriClientOptions options) : options_(std::move(options)) {
  auto_probe_ = options_.endpoint == "auto";
  if (!auto_probe_) {
    target_ = criTargetOf(options_.endpoint).value_or("");
  }
}

Result<v1::RuntimeService::Stub*> GrpcCriRuntime::stub() {
  if (stub_) {
    return stub_.get();
  }
  if (auto_probe_) {
    target_.clear();
    for (const std::string& path : options_.probe_paths) {
      if (isSocket(path)) {
        target_ = std::string(kUnixScheme) + path;
        break;
      }
    }
    if (target_.empty()) {
      std::string tried;
      for (const std::string& path : options_.probe_paths) {
        tried += (tried.empty() ? "" : ", ") + path;
      }
      return Error{"no CRI socket found (tried " + tried + ")"};
    }
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(options_.max_message_bytes);
  channel_ = grpc::CreateCustomChannel(target_, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::RuntimeService::NewStub(channel_);
  return stub_.get();
}

void GrpcCriRuntime::prepare(grpc::ClientContext& context) const {
  context.set_deadline(std::chrono::system_clock::now() + options_.call_timeout);
  context.set_wait_for_ready(false);
}

Error GrpcCriRuntime::fail(const char* method, const grpc::Status& status) {
  for (const grpc::StatusCode code : kReconnectCodes) {
    if (status.error_code() == code) {
      stub_.reset();
      channel_.reset();
      break;
    }
  }
  return Error{std::string("CRI ") + method + " on " + target_ + ": " + statusText(status)};
}

Result<CriVersion> GrpcCriRuntime::version() {
  auto s = stub();
  if (!s) {
    return s.error();
  }
  grpc::ClientContext context;
  prepare(context);
  v1::VersionRequest request;
  request.set_version("v1");
  v1::VersionResponse response;
  const grpc::Status status = (*s)->Version(&context, request, &response);
  if (!status.ok()) {
    return fail("Version", status);
  }
  return CriVersion{response.version(), response.runtime_name(), response.runtime_version(),
                    response.runtime_api_version()};
}

Result<std::vector<CriSandboxItem>> GrpcCriRuntime::listReadySandboxes() {
  auto s = stub();
  if (!s) {
    return s.error();
  }
  grpc::ClientContext context;
  prepare(context);
  v1::ListPodSandboxRequest request;
  request.mutable_filter()->mutable_state()->set_state(v1::SANDBOX_READY);
  v1::ListPodSandboxResponse response;
  const grpc::Status status = (*s)->ListPodSandbox(&context, request, &response);
  if (!status.ok()) {
    return fail("ListPodSandbox", status);
  }
  std::vector<CriSandboxItem> out;
  out.reserve(static_cast<std::size_t>(response.items_size()));
  for (const v1::PodSandbox& item : response.items()) {
    CriSandboxItem s_item;
    s_item.id = item.id();
    s_item.name = item.metadata().name();
    s_item.uid = item.metadata().uid();
    s_item.namespace_name = item.metadata().namespace_();
    s_item.attempt = item.metadata().attempt();
    s_item.ready = item.state() == v1::SANDBOX_READY;
    s_item.created_at = item.created_at();
    s_item.labels = toMap(item.labels());
    s_item.annotations = toMap(item.annotations());
    out.push_back(std::move(s_item));
  }
  return out;
}

Result<CriSandboxStatus> GrpcCriRuntime::sandboxStatus(const std::string& sandbox_id) {
  auto s = stub();
  if (!s) {
    return s.error();
  }
  grpc::ClientContext context;
  prepare(context);
  v1::PodSandboxStatusRequest request;
  request.set_pod_sandbox_id(sandbox_id);
  request.set_verbose(true);
  v1::PodSandboxStatusResponse response;
  const grpc::Status status = (*s)->PodSandboxStatus(&context, request, &response);
  if (!status.ok()) {
    return fail("PodSandboxStatus", status);
  }
  const v1::PodSandboxStatus& st = response.status();
  CriSandboxStatus out;
  out.id = st.id();
  out.name = st.metadata().name();
  out.uid = st.metadata().uid();
  out.namespace_name = st.metadata().namespace_();
  out.attempt = st.metadata().attempt();
  out.ready = st.state() == v1::SANDBOX_READY;
  if (!st.network().ip().empty()) {
    out.ips.push_back(st.network().ip());
  }
  for (const v1::PodIP& ip : st.network().additional_ips()) {
    if (!ip.ip().empty()) {
      out.ips.push_back(ip.ip());
    }
  }
  out.network_mode = static_cast<CriNamespaceMode>(st.linux().namespaces().options().network());
  out.labels = toMap(st.labels());
  out.info = toMap(response.info());
  return out;
}

Result<std::vector<CriContainerItem>> GrpcCriRuntime::listContainers() {
  auto s = stub();
  if (!s) {
    return s.error();
  }
  grpc::ClientContext context;
  prepare(context);
  v1::ListContainersRequest request;
  v1::ListContainersResponse response;
  const grpc::Status status = (*s)->ListContainers(&context, request, &response);
  if (!status.ok()) {
    return fail("ListContainers", status);
  }
  std::vector<CriContainerItem> out;
  out.reserve(static_cast<std::size_t>(response.containers_size()));
  for (const v1::Container& c : response.containers()) {
    CriContainerItem item;
    item.id = c.id();
    item.sandbox_id = c.pod_sandbox_id();
    item.name = c.metadata().name();
    item.attempt = c.metadata().attempt();
    item.state = containerState(c.state());
    item.labels = toMap(c.labels());
    out.push_back(std::move(item));
  }
  return out;
}

Result<CriContainerStatus> GrpcCriRuntime::containerStatus(const std::string& container_id) {
  auto s = stub();
  if (!s) {
    return s.error();
  }
  grpc::ClientContext context;
  prepare(context);
  v1::ContainerStatusRequest request;
  request.set_container_id(container_id);
  request.set_verbose(true);
  v1::ContainerStatusResponse response;
  const grpc::Status status = (*s)->ContainerStatus(&context, request, &response);
  if (!status.ok()) {
    return fail("ContainerStatus", status);
  }
  CriContainerStatus out;
  out.id = response.status().id();
  out.name = response.status().metadata().name();
  out.state = containerState(response.status().state());
  out.info = toMap(response.info());
  return out;
}

}  // namespace podnetstat::k8s
