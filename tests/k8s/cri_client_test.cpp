// The gRPC CRI client against an in-process runtime.v1 server on a unix socket (the product's
// generated service): requests it sends, answers it copies, endpoint probing, deadlines, and a
// new channel after the runtime restarts.

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "podnetstat/k8s/cri.h"

#include "cri.grpc.pb.h"
#include "netns.h"

namespace podnetstat::k8s {
namespace {

namespace v1 = ::runtime::v1;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kSandbox(64, 'a');
const std::string kContainer(64, '1');

class FakeService final : public v1::RuntimeService::Service {
 public:
  std::atomic<int> status_delay_ms{0};
  std::atomic<bool> saw_ready_filter{false};
  std::atomic<bool> saw_verbose{false};

  grpc::Status Version(grpc::ServerContext*,
                       const v1::VersionRequest*,
                       v1::VersionResponse* response) override {
    response->set_runtime_name("fakerd");
    response->set_runtime_version("9.9");
    response->set_runtime_api_version("v1");
    return grpc::Status::OK;
  }

  grpc::Status ListPodSandbox(grpc::ServerContext*,
                              const v1::ListPodSandboxRequest* request,
                              v1::ListPodSandboxResponse* response) override {
    saw_ready_filter = request->has_filter() && request->filter().has_state() &&
                       request->filter().state().state() == v1::SANDBOX_READY;
    v1::PodSandbox* item = response->add_items();
    item->set_id(kSandbox);
    item->mutable_metadata()->set_name("web-0");
    item->mutable_metadata()->set_namespace_("shop");
    item->mutable_metadata()->set_uid("5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab");
    item->mutable_metadata()->set_attempt(2);
    item->set_state(v1::SANDBOX_READY);
    (*item->mutable_labels())["app"] = "web";
    return grpc::Status::OK;
  }

  grpc::Status PodSandboxStatus(grpc::ServerContext*,
                                const v1::PodSandboxStatusRequest* request,
                                v1::PodSandboxStatusResponse* response) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(status_delay_ms.load()));
    saw_verbose = request->verbose();
    v1::PodSandboxStatus* status = response->mutable_status();
    status->set_id(request->pod_sandbox_id());
    status->mutable_metadata()->set_name("web-0");
    status->mutable_metadata()->set_namespace_("shop");
    status->mutable_metadata()->set_uid("5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab");
    status->mutable_metadata()->set_attempt(2);
    status->set_state(v1::SANDBOX_READY);
    status->mutable_network()->set_ip("10.244.1.7");
    status->mutable_network()->add_additional_ips()->set_ip("fd00::7");
    status->mutable_linux()->mutable_namespaces()->mutable_options()->set_network(v1::POD);
    (*status->mutable_labels())["app"] = "web";
    (*response->mutable_info())["info"] =
        R"({"pid":4242,"runtimeSpec":{"linux":{"namespaces":[{"type":"network","path":"/var/run/netns/cni-1"}]}}})";
    return grpc::Status::OK;
  }

  grpc::Status ListContainers(grpc::ServerContext*,
                              const v1::ListContainersRequest*,
                              v1::ListContainersResponse* response) override {
    v1::Container* c = response->add_containers();
    c->set_id(kContainer);
    c->set_pod_sandbox_id(kSandbox);
    c->mutable_metadata()->set_name("nginx");
    c->set_state(v1::CONTAINER_RUNNING);
    return grpc::Status::OK;
  }

  grpc::Status ContainerStatus(grpc::ServerContext*,
                               const v1::ContainerStatusRequest* request,
                               v1::ContainerStatusResponse* response) override {
    response->mutable_status()->set_id(request->container_id());
    response->mutable_status()->set_state(v1::CONTAINER_RUNNING);
    (*response->mutable_info())["info"] = R"({"pid":4300,"sandboxID":")" + kSandbox + R"("})";
    return grpc::Status::OK;
  }
};

/// The fake runtime serving on a unix socket; restartable.
class FakeRuntimeServer {
 public:
  explicit FakeRuntimeServer(std::filesystem::path socket) : socket_(std::move(socket)) { start(); }

  ~FakeRuntimeServer() { stop(); }

  void start() {
    std::filesystem::remove(socket_);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + socket_.string(), grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    server_ = builder.BuildAndStart();
    if (!server_) {
      throw std::runtime_error("cannot serve on " + socket_.string());
    }
  }

  void stop() {
    if (server_) {
      server_->Shutdown(std::chrono::system_clock::now() + 1s);
      server_.reset();
      std::filesystem::remove(socket_);
    }
  }

  FakeService service;

 private:
  std::filesystem::path socket_;
  std::unique_ptr<grpc::Server> server_;
};

class CriClientTest : public ::testing::Test {
 protected:
  std::unique_ptr<CriRuntime> client(CriClientOptions options) {
    auto made = makeCriClient(std::move(options));
    EXPECT_TRUE(made.ok()) << made.error().message;
    return made.ok() ? std::move(*made) : nullptr;
  }

  testing::ScratchDir dir_{"pns-cri-"};
  std::filesystem::path socket_ = dir_.path() / "cri.sock";
  FakeRuntimeServer server_{socket_};
};

TEST_F(CriClientTest, CollectsThroughTheRealWire) {
  CriCollector collector(client({.endpoint = socket_.string()}));
  const auto snapshot = collector.collect();
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;
  EXPECT_EQ(snapshot->endpoint, "unix://" + socket_.string());
  EXPECT_EQ(snapshot->version.runtime_name, "fakerd");
  ASSERT_EQ(snapshot->pods.size(), 1U);
  const CriPod& pod = snapshot->pods[0];
  EXPECT_EQ(pod.name, "web-0");
  EXPECT_EQ(pod.namespace_name, "shop");
  EXPECT_EQ(pod.uid, "5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab");
  EXPECT_EQ(pod.attempt, 2U);
  EXPECT_EQ(pod.pid, 4242);
  EXPECT_EQ(pod.netns_path, "/var/run/netns/cni-1");
  EXPECT_THAT(pod.ips, ElementsAre("10.244.1.7", "fd00::7"));
  EXPECT_FALSE(pod.host_network);
  ASSERT_EQ(pod.containers.size(), 1U);
  EXPECT_EQ(pod.containers[0].name, "nginx");
  EXPECT_EQ(pod.containers[0].pid, 4300);
  EXPECT_TRUE(server_.service.saw_ready_filter);
  EXPECT_TRUE(server_.service.saw_verbose);
}

TEST_F(CriClientTest, UnixSchemeEndpointsWorkToo) {
  const auto runtime = client({.endpoint = "unix://" + socket_.string()});
  EXPECT_TRUE(runtime->version().ok());
}

TEST_F(CriClientTest, AutoProbesTheKnownPathsInOrder) {
  const auto runtime =
      client({.endpoint = "auto",
              .probe_paths = {(dir_.path() / "absent.sock").string(), socket_.string()}});
  EXPECT_EQ(runtime->endpoint(), "");
  const auto version = runtime->version();
  ASSERT_TRUE(version.ok()) << version.error().message;
  EXPECT_EQ(runtime->endpoint(), "unix://" + socket_.string());
}

TEST_F(CriClientTest, AutoProbeWithNothingThereSaysWhereItLooked) {
  const std::string absent = (dir_.path() / "absent.sock").string();
  const auto runtime = client({.endpoint = "auto", .probe_paths = {absent}});
  const auto version = runtime->version();
  ASSERT_FALSE(version.ok());
  EXPECT_THAT(version.error().message, HasSubstr("no CRI socket found"));
  EXPECT_THAT(version.error().message, HasSubstr(absent));
}

TEST_F(CriClientTest, ASlowRuntimeCostsOneCallTimeout) {
  server_.service.status_delay_ms = 1500;
  const auto runtime =
      client({.endpoint = socket_.string(), .call_timeout = std::chrono::milliseconds(200)});
  const auto started = std::chrono::steady_clock::now();
  const auto status = runtime->sandboxStatus(kSandbox);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(status.error().message, HasSubstr("DEADLINE_EXCEEDED"));
  EXPECT_LT(took, 1000ms);
}

TEST_F(CriClientTest, ReconnectsAtOnceAfterTheRuntimeRestarts) {
  const auto runtime = client({.endpoint = socket_.string()});
  ASSERT_TRUE(runtime->version().ok());
  server_.stop();
  const auto down = runtime->version();
  ASSERT_FALSE(down.ok());
  EXPECT_THAT(down.error().message, HasSubstr("UNAVAILABLE"));
  server_.start();
  const auto started = std::chrono::steady_clock::now();
  const auto up = runtime->listReadySandboxes();
  ASSERT_TRUE(up.ok()) << up.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1000ms);
}

TEST(CriClientOptions, BadEndpointsAreRefused) {
  for (const char* endpoint : {"", "none", "tcp://10.0.0.1:1234", "relative.sock", "unix://"}) {
    EXPECT_FALSE(makeCriClient({.endpoint = endpoint}).ok()) << endpoint;
  }
  EXPECT_EQ(defaultCriSocketPaths().front(), "/run/containerd/containerd.sock");
}

}  // namespace
}  // namespace podnetstat::k8s
