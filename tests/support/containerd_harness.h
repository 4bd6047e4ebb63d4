#pragma once

// A private containerd with its CRI plugin, for end-to-end tests of pod identity. Recipe:
// ../../../shared/reference/cri-e2e/REPORT.md (Debian's containerd 1.6, runc, CNI plugins; no
// registry: the pod image is built here from pause.c and listener.c under e2e_image/).
//
// Everything it makes is its own: a work dir under /tmp (config, state, sockets, runc root,
// CNI IPAM data, image), a bridge and a /24 subnet derived from the test's PID, a network name,
// and a cgroup root (`/<prefix><pid>`) under which tests put kubelet-style pod cgroups
// (`<root>/kubepods/besteffort/pod<uid>`). It never touches /run/containerd/containerd.sock or
// another job's bridge, subnet or cgroups.
//
// The destructor tears down in reverse order, also after a failed constructor or test: the
// test's CRI cleanup hook (stop/remove sandboxes), SIGTERM to containerd (SIGKILL after a grace
// period), `runc delete --force` of what is left, leftover shims killed, mounts under the work
// dir unmounted, the bridge deleted, the work dir removed, the cgroup dirs removed.
//
// Needs root. Creation failures throw std::runtime_error saying why (the test then skips, or
// fails on CI).

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

namespace podnetstat::testing {

class Subprocess;

class ContainerdHarness {
 public:
  /// Why the harness cannot run here (not root, a program missing); empty when it can try.
  static std::string skipReason();

  /// Builds the image, writes the configs, starts containerd, waits for it, imports the image.
  explicit ContainerdHarness(std::chrono::milliseconds start_timeout = std::chrono::seconds(30));
  ~ContainerdHarness();
  ContainerdHarness(const ContainerdHarness&) = delete;
  ContainerdHarness& operator=(const ContainerdHarness&) = delete;

  const std::filesystem::path& workDir() const { return work_; }

  /// containerd's CRI socket (absolute path).
  std::filesystem::path socketPath() const { return work_ / "containerd.sock"; }

  /// The pod image ("localhost/podnetstat-e2e:<tag>"): /pause (entrypoint) and /listener.
  const std::string& imageRef() const { return image_ref_; }

  /// The static listener binary on the host (for helpers run outside containers).
  std::filesystem::path listenerBinary() const { return work_ / "image" / "rootfs" / "listener"; }

  /// The cgroup path all pod cgroups of the test go under, e.g. "/pnse2e12345".
  const std::string& cgroupRoot() const { return cgroup_root_; }

  const std::string& bridge() const { return bridge_; }

  const std::string& subnet() const { return subnet_; }

  /// containerd's log (for failure messages).
  std::string log() const;

  /// Stops containerd (SIGTERM, SIGKILL after a grace period), as when a node's runtime
  /// restarts: the shims, sandboxes and containers keep running, the socket stops answering.
  void stopContainerd();

  /// Starts containerd again (stopping it first if it runs) with the same config, state and
  /// socket, and waits until it and its CRI plugin answer; it finds its sandboxes again. Throws
  /// like the constructor.
  void restartContainerd(std::chrono::milliseconds start_timeout = std::chrono::seconds(30));

  /// Called first by the destructor (e.g. the test's CRI client stopping and removing every
  /// sandbox); exceptions from it are swallowed.
  void setCriCleanup(std::function<void()> cleanup) { cri_cleanup_ = std::move(cleanup); }

  /// Moves a process into `cgroup_path` (e.g. "<root>/kubepods/besteffort/pod<uid>") in every
  /// mounted hierarchy where that directory exists. Throws unless at least the hierarchy the
  /// cgroup parser prefers (v2, else name=systemd) took it.
  static void moveIntoCgroup(pid_t pid, const std::string& cgroup_path);

 private:
  void start(std::chrono::milliseconds start_timeout);
  /// Starts the containerd process and waits for it and its CRI plugin.
  void launch(std::chrono::milliseconds start_timeout);
  void teardown() noexcept;
  void buildImage();
  void writeConfigs();

  std::filesystem::path work_;
  std::string tag_;
  std::string image_ref_;
  std::string cgroup_root_;
  std::string bridge_;
  std::string subnet_;
  std::string network_name_;
  bool run_containerd_existed_ = true;
  std::unique_ptr<Subprocess> containerd_;
  std::function<void()> cri_cleanup_;
};

}  // namespace podnetstat::testing
