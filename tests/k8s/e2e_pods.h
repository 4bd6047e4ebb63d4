#pragma once

// Pieces shared by the two real-containerd end-to-end tests (library level and through
// `podnetstat serve`): skip-or-fail, pod UIDs, the test's pods, listener helpers moved into a
// pod's cgroup, and a plain socket of the node.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/k8s/cri_info.h"

#include "containerd_harness.h"
#include "e2e_cri_client.h"
#include "netns.h"
#include "tools.h"

namespace podnetstat::testing {

using namespace std::chrono_literals;
namespace e2ecri = ::podnetstat::e2e::cri;

inline std::string newPodUid() {
  std::ifstream in("/proc/sys/kernel/random/uuid");
  std::string uid;
  in >> uid;
  return uid;
}

inline std::uint64_t netnsOf(int pid) {
  return inodeOf("/proc/" + std::to_string(pid) + "/ns/net");
}

struct TestPod {
  std::string namespace_name;
  std::string name;
  std::string uid;
  std::string cgroup_parent;
  bool host_network = false;
  e2ecri::PodSandboxConfig config;
  std::string sandbox_id;
  int pid = 0;
  std::uint64_t netns = 0;
};

/// The three pods the end-to-end tests run: web-0 (BestEffort) and db-0 (Burstable) in `ns`, and
/// hostnet-0 (host network; Guaranteed, so no QoS level in its cgroup path) in `system_ns`, with
/// kubelet-style cgroup parents under `cgroup_root`. Not run yet: see runSandbox().
inline std::vector<TestPod> threeTestPods(const std::string& cgroup_root,
                                          const std::string& ns,
                                          const std::string& system_ns) {
  std::vector<TestPod> pods(3);
  pods[0] = {ns, "web-0", newPodUid(), "", false, {}, "", 0, 0};
  pods[0].cgroup_parent = cgroup_root + "/kubepods/besteffort/pod" + pods[0].uid;
  pods[1] = {ns, "db-0", newPodUid(), "", false, {}, "", 0, 0};
  pods[1].cgroup_parent = cgroup_root + "/kubepods/burstable/pod" + pods[1].uid;
  pods[2] = {system_ns, "hostnet-0", newPodUid(), "", true, {}, "", 0, 0};
  pods[2].cgroup_parent = cgroup_root + "/kubepods/pod" + pods[2].uid;
  return pods;
}

/// Runs `pod`'s sandbox through the CRI and fills in its config, sandbox id, PID and network
/// namespace (from the sandbox's verbose status); throws when containerd does not tell them.
inline void runSandbox(E2eCriClient& cri, TestPod& pod) {
  pod.config = E2eCriClient::sandboxConfig(pod.namespace_name, pod.name, pod.uid, pod.cgroup_parent,
                                           pod.host_network);
  pod.sandbox_id = cri.runPodSandbox(pod.config);
  const auto status = cri.sandboxStatus(pod.sandbox_id);
  const auto info = k8s::parseSandboxVerboseInfo({status.info().begin(), status.info().end()});
  if (!info.ok()) {
    throw std::runtime_error("sandbox " + pod.name + ": " + info.error().message);
  }
  if (info->pid <= 0) {
    throw std::runtime_error("sandbox " + pod.name + ": no PID in its status");
  }
  pod.pid = info->pid;
  pod.netns = netnsOf(pod.pid);
}

/// A listener helper (the test's static listener binary), optionally in a pod's network
/// namespace, moved into a pod's cgroup: a process that belongs to the pod as far as the kernel
/// can tell, though no container runs it. It listens on `address` (IPv4; the wildcard when
/// empty), TCP and UDP on ports the kernel picks.
struct Helper {
  std::unique_ptr<Subprocess> process;
  std::uint16_t tcp_port = 0;
  std::uint16_t udp_port = 0;

  Helper(const ContainerdHarness& harness, const TestPod& pod, const std::string& address = "") {
    std::vector<std::string> argv = {harness.listenerBinary().string(), "0"};
    if (!address.empty()) {
      argv.push_back(address);
    }
    if (!pod.host_network) {
      argv.insert(argv.begin(), {"nsenter", "--net=/proc/" + std::to_string(pod.pid) + "/ns/net"});
    }
    process = std::make_unique<Subprocess>(argv);
    const auto line = process->readLine(10s);
    if (!line || !line->starts_with("READY ")) {
      throw std::runtime_error("listener helper did not start: " + line.value_or("(nothing)"));
    }
    std::istringstream in(line->substr(6));
    in >> tcp_port >> udp_port;
    ContainerdHarness::moveIntoCgroup(process->pid(), pod.cgroup_parent);
  }
};

/// A plain socket of the node: this test process's own listener on 127.0.0.1.
struct NodeListener {
  int fd = -1;
  std::uint16_t port = 0;

  NodeListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd, 4) != 0 || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("node listener");
    }
    port = ntohs(addr.sin_port);
  }

  ~NodeListener() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

}  // namespace podnetstat::testing
