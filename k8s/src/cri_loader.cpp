// makeCriClient: the gRPC client in-process when the program links it (podnetstat_k8s_cri_grpc),
// otherwise from the module libpodnetstat-cri.so, opened on first use (cri_module.h says why).

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "podnetstat/k8s/cri.h"

#include "cri_module.h"

namespace podnetstat::k8s {
namespace {

using Factory = void (*)(const CriClientOptions&, std::unique_ptr<CriRuntime>&);

/// A factory, or why there is none.
struct Loaded {
  Factory make = nullptr;
  std::string error;
};

/// Where the module may be: $PODNETSTAT_CRI_MODULE, else next to the executable (the build
/// tree), else in ../lib/podnetstat/ (an installed tree: /usr/bin and /usr/lib/podnetstat).
std::vector<std::filesystem::path> moduleCandidates() {
  if (const char* explicit_path = std::getenv("PODNETSTAT_CRI_MODULE");
      explicit_path != nullptr && *explicit_path != '\0') {
    return {explicit_path};
  }
  std::error_code ec;
  // Our own executable, not the host's proc root the scanner reads.
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return {kCriModuleFile};  // the dynamic loader's search path
  }
  const auto dir = exe.parent_path();
  return {dir / kCriModuleFile, dir.parent_path() / "lib" / "podnetstat" / kCriModuleFile};
}

Loaded openModule() {
  std::string tried;
  for (const auto& path : moduleCandidates()) {
    // Never closed: the runtimes it makes live as long as the process.
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      tried += (tried.empty() ? "" : "; ") + std::string(why != nullptr ? why : path.c_str());
      continue;
    }
    if (void* symbol = dlsym(handle, kCriModuleFactory); symbol != nullptr) {
      return {.make = reinterpret_cast<Factory>(symbol), .error = {}};
    }
    tried += (tried.empty() ? "" : "; ") + path.string() + ": no " + kCriModuleFactory;
  }
  return {.error = std::string("the CRI client module ") + kCriModuleFile +
                   " could not be loaded (" + tried + ")"};
}

const Loaded& factory() {
  // A weak reference: linked in, the in-process client; not linked, null, and the module.
  static const Loaded kLoaded = &podnetstatCriMakeRuntime != nullptr
                                    ? Loaded{.make = &podnetstatCriMakeRuntime, .error = {}}
                                    : openModule();
  return kLoaded;
}

}  // namespace

Result<std::unique_ptr<CriRuntime>> makeCriClient(CriClientOptions options) {
  if (options.endpoint != "auto" && !criTargetOf(options.endpoint)) {
    return Error{"CRI endpoint \"" + options.endpoint +
                 "\": expected auto, none, unix:///path or an absolute socket path"};
  }
  const auto& loaded = factory();
  if (loaded.make == nullptr) {
    return Error{loaded.error};
  }
  std::unique_ptr<CriRuntime> runtime;
  loaded.make(options, runtime);
  return runtime;
}

}  // namespace podnetstat::k8s
