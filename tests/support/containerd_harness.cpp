#include "containerd_harness.h"

#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <vector>

#include "netns.h"

namespace podnetstat::testing {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

constexpr const char* kNamePrefix = "pnse2e";
constexpr const char* kCniBinDir = "/usr/lib/cni";
constexpr const char* kCriNamespace = "k8s.io";
constexpr auto kContainerdGrace = std::chrono::seconds(5);

const std::vector<std::string> kPrograms = {"containerd", "ctr",       "runc", "gcc",
                                            "tar",        "sha256sum", "ip",   "nsenter"};
const std::vector<std::string> kCniPlugins = {"bridge", "host-local", "loopback"};

/// The directory of this file's sources: e2e_image/ lies beside it. (Not __FILE__: Ninja passes
/// the source relative to the build directory, and ctest runs the tests elsewhere.)
fs::path sourceDir() {
  return PODNETSTAT_SUPPORT_SOURCE_DIR;
}

bool onPath(const std::string& program) {
  for (const char* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    if (access((std::string(dir) + "/" + program).c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

void writeFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string sha256Of(const fs::path& path) {
  const std::string out = runOrThrow({"sha256sum", path.string()});
  return out.substr(0, out.find(' '));
}

struct Mount {
  std::string point;
  std::string type;
  std::string options;  // super options
};

std::vector<Mount> mounts() {
  std::vector<Mount> out;
  std::istringstream in(readFile("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::vector<std::string> f;
    std::string word;
    while (fields >> word) {
      f.push_back(word);
    }
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || std::distance(dash, f.end()) < 4) {
      continue;
    }
    out.push_back(Mount{f[4], *(dash + 1), *(dash + 3)});
  }
  return out;
}

std::vector<Mount> cgroupMounts() {
  std::vector<Mount> out;
  for (Mount& m : mounts()) {
    if (m.type == "cgroup" || m.type == "cgroup2") {
      out.push_back(std::move(m));
    }
  }
  return out;
}

/// Every directory of a cgroup tree, deepest first.
std::vector<fs::path> treeBottomUp(const fs::path& root) {
  std::vector<fs::path> dirs;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return dirs;
  }
  dirs.push_back(root);
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;
    if (it->is_directory(type_ec)) {
      dirs.push_back(it->path());
    }
  }
  std::ranges::sort(dirs, [](const fs::path& a, const fs::path& b) {
    return a.string().size() > b.string().size();
  });
  return dirs;
}

std::atomic<int> harness_counter{0};

}  // namespace

std::string ContainerdHarness::skipReason() {
  if (geteuid() != 0) {
    return "the containerd end-to-end test needs root";
  }
  for (const std::string& program : kPrograms) {
    if (!onPath(program)) {
      return "`" + program + "` is not installed (packages: containerd runc " +
             "containernetworking-plugins gcc tar coreutils iproute2 util-linux)";
    }
  }
  for (const std::string& plugin : kCniPlugins) {
    if (access((std::string(kCniBinDir) + "/" + plugin).c_str(), X_OK) != 0) {
      return std::string("CNI plugin ") + kCniBinDir + "/" + plugin +
             " is missing (package containernetworking-plugins)";
    }
  }
  return {};
}

ContainerdHarness::ContainerdHarness(milliseconds start_timeout) {
  const int n = harness_counter++;
  const std::string id = std::to_string(getpid()) + (n == 0 ? "" : "x" + std::to_string(n));
  tag_ = id;
  image_ref_ = "localhost/podnetstat-e2e:" + tag_;
  cgroup_root_ = "/" + std::string(kNamePrefix) + id;
  bridge_ = "pns" + id;
  network_name_ = std::string(kNamePrefix) + "-" + id;

  // A /24 of 10.200.0.0-10.249.255.0 derived from the PID, skipping any the routes use.
  const std::string routes = runCommand({"ip", "-4", "route", "show"}).out;
  const unsigned pid = static_cast<unsigned>(getpid()) + static_cast<unsigned>(n) * 7919U;
  for (unsigned k = 0; k < 64; ++k) {
    const unsigned v = pid + k;
    const std::string prefix =
        "10." + std::to_string(200 + (v >> 8) % 50) + "." + std::to_string(v & 0xFF) + ".";
    if (routes.find(prefix) == std::string::npos) {
      subnet_ = prefix + "0/24";
      break;
    }
  }
  if (subnet_.empty()) {
    throw std::runtime_error("no free /24 under 10.200.0.0/10 for the test's CNI bridge");
  }

  char templ[] = "/tmp/pnse2e-XXXXXX";
  if (mkdtemp(templ) == nullptr) {
    throw std::system_error(errno, std::generic_category(), "mkdtemp");
  }
  work_ = templ;
  try {
    start(start_timeout);
  } catch (...) {
    teardown();
    throw;
  }
}

ContainerdHarness::~ContainerdHarness() {
  teardown();
}

std::string ContainerdHarness::log() const {
  return readFile(work_ / "containerd.log");
}

void ContainerdHarness::buildImage() {
  const fs::path image = work_ / "image";
  const fs::path rootfs = image / "rootfs";
  const fs::path archive = image / "archive";
  for (const char* dir : {"dev", "proc", "sys", "etc", "tmp"}) {
    fs::create_directories(rootfs / dir);
  }
  fs::create_directories(archive);
  for (const char* program : {"pause", "listener"}) {
    runOrThrow({"gcc", "-Os", "-static", "-o", (rootfs / program).string(),
                (sourceDir() / "e2e_image" / (std::string(program) + ".c")).string()},
               std::chrono::seconds(120));
  }
  // A docker-archive: <diff>/layer.tar, <config>.json, manifest.json (like mkimage.py).
  const fs::path layer = image / "layer.tar";
  runOrThrow({"tar", "--numeric-owner", "--owner=0", "--group=0", "--mtime=@0", "-C",
              rootfs.string(), "-cf", layer.string(), "dev", "etc", "proc", "sys", "tmp", "pause",
              "listener"});
  const std::string diff = sha256Of(layer);
  fs::create_directories(archive / diff);
  fs::rename(layer, archive / diff / "layer.tar");
  const std::string config =
      R"({"architecture":"amd64","os":"linux","created":"1970-01-01T00:00:00Z",)"
      R"("config":{"Entrypoint":["/pause"],"User":"65535:65535","WorkingDir":"/","Env":["PATH=/"]},)"
      R"("rootfs":{"type":"layers","diff_ids":["sha256:)" +
      diff + R"("]},"history":[{"created":"1970-01-01T00:00:00Z","created_by":"podnetstat e2e"}]})";
  writeFile(image / "config.json", config);
  const std::string config_sha = sha256Of(image / "config.json");
  fs::rename(image / "config.json", archive / (config_sha + ".json"));
  writeFile(archive / "manifest.json", R"([{"Config":")" + config_sha + R"(.json","RepoTags":[")" +
                                           image_ref_ + R"("],"Layers":[")" + diff +
                                           R"(/layer.tar"]}])");
  runOrThrow({"tar", "-C", archive.string(), "-cf", (image / "image.tar").string(), "manifest.json",
              config_sha + ".json", diff + "/layer.tar"});
}

void ContainerdHarness::writeConfigs() {
  const std::string w = work_.string();
  fs::create_directories(work_ / "conf" / "cni");
  writeFile(work_ / "conf" / "containerd.toml", R"(version = 2
root = ")" + w + R"(/root"
state = ")" + w + R"(/state"
[grpc]
  address = ")" + w + R"(/containerd.sock"
[ttrpc]
  address = ")" + w + R"(/containerd.sock.ttrpc"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ")" + w + R"(/opt"
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = ")" + image_ref_ + R"("
    disable_tcp_service = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_selinux = false
    disable_apparmor = true
    netns_mounts_under_state_dir = true
    restrict_oom_score_adj = true
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = ")" + kCniBinDir + R"("
      conf_dir = ")" + w + R"(/conf/cni"
      max_conf_num = 1
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
          Root = ")" + w + R"(/runc"
)");
  writeFile(work_ / "conf" / "cni" / "10-pnse2e.conflist", R"({
  "cniVersion": "1.0.0",
  "name": ")" + network_name_ + R"(",
  "plugins": [{
    "type": "bridge", "bridge": ")" + bridge_ + R"(", "isGateway": true, "ipMasq": false,
    "hairpinMode": false,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": ")" + subnet_ +
                                                               R"("}]],
             "dataDir": ")" + w + R"(/cni-ipam"}
  }]
}
)");
}

void ContainerdHarness::start(milliseconds start_timeout) {
  buildImage();
  writeConfigs();
  std::error_code ec;
  run_containerd_existed_ = fs::exists("/run/containerd", ec);
  launch(start_timeout);
  const std::string sock = socketPath().string();
  runOrThrow({"ctr", "-a", sock, "-n", kCriNamespace, "images", "import",
              (work_ / "image" / "image.tar").string()},
             std::chrono::seconds(60));
}

void ContainerdHarness::stopContainerd() {
  if (containerd_) {
    containerd_->stop(std::chrono::duration_cast<milliseconds>(kContainerdGrace));
    containerd_.reset();
  }
}

void ContainerdHarness::restartContainerd(milliseconds start_timeout) {
  stopContainerd();
  launch(start_timeout);
}

void ContainerdHarness::launch(milliseconds start_timeout) {
  std::error_code ec;
  const std::string sock = socketPath().string();
  containerd_ = std::make_unique<Subprocess>(
      std::vector<std::string>{"sh", "-c",
                               "exec containerd --config '" +
                                   (work_ / "conf" / "containerd.toml").string() + "' >>'" +
                                   (work_ / "containerd.log").string() + "' 2>&1"},
      SubprocessOptions{.netns = {}, .inherit_stderr = false});
  const auto deadline = std::chrono::steady_clock::now() + start_timeout;
  for (;;) {
    if (!containerd_->running()) {
      throw std::runtime_error("containerd exited at start; its log:\n" + log());
    }
    if (fs::exists(sock, ec) &&
        runCommand({"ctr", "-a", sock, "version"}, std::chrono::seconds(5)).ok()) {
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("containerd did not answer within " +
                               std::to_string(start_timeout.count()) + " ms; its log:\n" + log());
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  const CommandResult plugins = runCommand({"ctr", "-a", sock, "plugins", "ls"});
  bool cri_ok = false;
  std::istringstream lines(plugins.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("io.containerd.grpc.v1") != std::string::npos &&
        line.find(" cri ") != std::string::npos) {
      cri_ok = line.find(" ok") != std::string::npos;
    }
  }
  if (!cri_ok) {
    throw std::runtime_error("containerd's CRI plugin did not load (ctr plugins ls:\n" +
                             plugins.out + ")\ncontainerd log:\n" + log());
  }
}

void ContainerdHarness::moveIntoCgroup(pid_t pid, const std::string& cgroup_path) {
  bool preferred_done = false;
  bool have_v2 = false;
  std::string failures;
  for (const Mount& m : cgroupMounts()) {
    const bool v2 = m.type == "cgroup2";
    have_v2 = have_v2 || v2;
    const fs::path dir = fs::path(m.point) / fs::path(cgroup_path).relative_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) {
      continue;
    }
    std::ofstream procs(dir / "cgroup.procs");
    procs << pid << std::flush;
    const bool ok = static_cast<bool>(procs);
    const bool preferred = v2 || m.options.find("name=systemd") != std::string::npos;
    if (ok && preferred) {
      preferred_done = true;
    }
    if (!ok) {
      failures += " " + dir.string();
    }
  }
  if (!preferred_done) {
    throw std::runtime_error("could not move pid " + std::to_string(pid) + " into " + cgroup_path +
                             (have_v2 ? " (v2)" : " (name=systemd)") + "; failed:" + failures);
  }
}

void ContainerdHarness::teardown() noexcept {
  try {
    if (cri_cleanup_) {
      try {
        cri_cleanup_();
      } catch (...) {
      }
      cri_cleanup_ = nullptr;
    }
    if (containerd_) {
      containerd_->stop(std::chrono::duration_cast<milliseconds>(kContainerdGrace));
      containerd_.reset();
    }
    if (work_.empty()) {
      return;
    }
    const std::string w = work_.string();
    std::error_code ec;
    std::vector<std::string> sandbox_ids;
    for (const auto& entry :
         fs::directory_iterator(work_ / "root" / "io.containerd.grpc.v1.cri" / "sandboxes", ec)) {
      sandbox_ids.push_back(entry.path().filename().string());
    }

    // Containers runc still knows (containerd died before it could stop them).
    const fs::path runc_root = work_ / "runc" / kCriNamespace;
    if (fs::exists(runc_root, ec)) {
      const CommandResult list = runCommand({"runc", "--root", runc_root.string(), "list", "-q"});
      std::istringstream ids(list.out);
      for (std::string id; std::getline(ids, id);) {
        if (!id.empty()) {
          runCommand({"runc", "--root", runc_root.string(), "delete", "--force", id});
        }
      }
    }
    // Shims (and anything else) started with our paths on the command line.
    for (const auto& entry : fs::directory_iterator("/proc", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) {
        continue;
      }
      const pid_t pid = static_cast<pid_t>(std::stol(name));
      if (pid == getpid()) {
        continue;
      }
      std::string cmdline = readFile(entry.path() / "cmdline");
      std::ranges::replace(cmdline, '\0', ' ');
      if (cmdline.find(w) != std::string::npos) {
        kill(pid, SIGKILL);
      }
    }
    // Processes left in our cgroups (helpers a test did not stop).
    const std::vector<Mount> cgroups = cgroupMounts();
    for (const Mount& m : cgroups) {
      for (const fs::path& dir : treeBottomUp(fs::path(m.point) / cgroup_root_.substr(1))) {
        std::istringstream procs(readFile(dir / "cgroup.procs"));
        for (pid_t pid = 0; procs >> pid;) {
          kill(pid, SIGKILL);
        }
      }
    }
    // Mounts under the work dir (netns bind mounts, overlay rootfs, shm), deepest first.
    std::vector<std::string> points;
    for (const Mount& m : mounts()) {
      if (m.point.starts_with(w + "/")) {
        points.push_back(m.point);
      }
    }
    std::ranges::sort(
        points, [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    for (const std::string& point : points) {
      umount2(point.c_str(), MNT_DETACH);
    }
    runCommand({"ip", "link", "del", bridge_});
    fs::remove_all(work_, ec);
    // Cgroup dirs: the killed processes take a moment to leave them.
    for (int attempt = 0; attempt < 50; ++attempt) {
      bool left = false;
      for (const Mount& m : cgroups) {
        for (const fs::path& dir : treeBottomUp(fs::path(m.point) / cgroup_root_.substr(1))) {
          if (rmdir(dir.c_str()) != 0) {
            left = true;
          }
        }
      }
      if (!left) {
        break;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    // libcni's result cache entries of our network and our sandboxes' loopbacks (normally
    // removed by CNI DEL when a sandbox stops).
    for (const auto& entry : fs::directory_iterator("/var/lib/cni/results", ec)) {
      const std::string name = entry.path().filename().string();
      const bool loopback = std::ranges::any_of(
          sandbox_ids, [&](const std::string& id) { return name == "cni-loopback-" + id + "-lo"; });
      if (name.starts_with(network_name_ + "-") || loopback) {
        fs::remove(entry.path(), ec);
      }
    }
    if (!run_containerd_existed_) {
      for (const char* dir : {"/run/containerd/s", "/run/containerd/runc", "/run/containerd"}) {
        rmdir(dir);  // only when empty: another containerd may have come meanwhile
      }
    }
    work_.clear();
  } catch (...) {
  }
}

}  // namespace podnetstat::testing
