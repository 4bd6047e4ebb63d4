#pragma once
// The seam between the k8s library and its CRI client. gRPC is the CRI client's alone, and its
// ~50 shared libraries cost every process that links them about 10 ms of loading and relocation
// (a third of a small `podnetstat list`). So the gRPC implementation is built twice: as the
// module libpodnetstat-cri.so, which makeCriClient opens only when a CRI endpoint is in use
// (serve, list --pods), and as the object library podnetstat_k8s_cri_grpc, which a program may
// link to have it in-process (the tests). Both expose one C symbol, below.

#include <memory>
#include <optional>
#include <string>

#include "podnetstat/k8s/cri.h"

namespace podnetstat::k8s {

/// The module's file name, looked for next to the executable and in ../lib/podnetstat/.
inline constexpr const char* kCriModuleFile = "libpodnetstat-cri.so";
/// The factory's symbol name (dlsym).
inline constexpr const char* kCriModuleFactory = "podnetstatCriMakeRuntime";

/// The gRPC target of an endpoint flag value: "unix:///p" stays, "/p" becomes "unix:///p";
/// nullopt for anything else ("auto" and "none" included).
std::optional<std::string> criTargetOf(const std::string& endpoint);

extern "C" {
/// Makes the gRPC CriRuntime for options that makeCriClient has already checked. Caller and
/// module are built from the same sources with the same compiler, so C++ types may cross.
/// Weak: in a program that does not link the client, its address is null (cri_loader.cpp).
__attribute__((weak, visibility("default"))) void podnetstatCriMakeRuntime(
    const CriClientOptions& options, std::unique_ptr<CriRuntime>& out);
}

}  // namespace podnetstat::k8s
