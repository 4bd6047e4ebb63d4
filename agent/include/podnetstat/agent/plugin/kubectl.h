#pragma once

// The user's kubectl, run for everything that touches the cluster: the plugin never reads a
// kubeconfig itself, so it works wherever kubectl works (contexts, exec credential plugins,
// proxies, impersonation). `kubectl get ... -o json` for the pods; `kubectl port-forward` to a
// random local port for the agent; `kubectl auth can-i` to say which RBAC rule is missing.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "podnetstat/agent/plugin/child_process.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

struct KubectlOptions {
  /// The kubectl to run: a path or a name in $PATH ($KUBECTL, else "kubectl").
  std::string program = "kubectl";
  /// Put before every command: --context=..., --kubeconfig=..., --as=...
  std::vector<std::string> global_args;
};

/// What kubectl's error output says, for a person.
struct KubectlFailure {
  enum class Kind : std::uint8_t { Forbidden, NotFound, Other };
  Kind kind = Kind::Other;
  /// Forbidden: the request RBAC refused ("create", "pods/portforward", the namespace; empty
  /// namespace for a cluster-scoped request) and the user it refused.
  std::string verb;
  std::string resource;
  std::string namespace_name;
  std::string user;
  /// One line: kubectl's own message (the "error: " or "Error from server (...): " prefix off).
  std::string message;
};

/// Reads kubectl's stderr: "... is forbidden: User "U" cannot VERB resource "R" in API group ""
/// in the namespace "NS"", "Error from server (NotFound): ...", or else its last line.
KubectlFailure explainKubectlError(std::string_view stderr_text);

/// The local port of kubectl port-forward's "Forwarding from 127.0.0.1:NNNN -> PORT" line.
std::optional<std::uint16_t> parseForwardingLine(std::string_view line);

/// A running `kubectl port-forward` to one pod's port on 127.0.0.1:localPort(). Stopped (its
/// process group ended and reaped) by stop() or the destructor.
class PortForward {
 public:
  PortForward(std::unique_ptr<ChildProcess> child, std::uint16_t local_port)
      : child_(std::move(child)), local_port_(local_port) {}

  std::uint16_t localPort() const { return local_port_; }

  /// kubectl's error lines so far ("error forwarding port ...": what went wrong in the pod).
  std::string errors();

  void stop() { child_->stop(); }

 private:
  std::unique_ptr<ChildProcess> child_;
  std::uint16_t local_port_;
};

class Kubectl {
 public:
  explicit Kubectl(KubectlOptions options) : options_(std::move(options)) {}

  /// `kubectl GLOBAL_ARGS... ARGS...` to its end. An error when it cannot be started or does not
  /// end by the deadline; a non-zero exit is the caller's to read.
  Result<ChildOutput> run(const std::vector<std::string>& args, Deadline deadline) const;

  /// `kubectl ARGS... -o json`, parsed. A failure is explained (explainKubectlError), prefixed by
  /// `what` ("get pod shop/web-0").
  Result<nlohmann::json> getJson(const std::vector<std::string>& args,
                                 Deadline deadline,
                                 const std::string& what) const;

  /// `kubectl port-forward -n NS pod/POD :PORT --address 127.0.0.1`, once it listens. A refusal
  /// says which RBAC rule is missing (asking `kubectl auth can-i` when kubectl's message does
  /// not name it).
  Result<std::unique_ptr<PortForward>> portForward(const std::string& namespace_name,
                                                   const std::string& pod,
                                                   std::uint16_t port,
                                                   Deadline deadline) const;

  /// `kubectl auth can-i VERB RESOURCE -n NS`: yes or no; nullopt when kubectl cannot tell.
  std::optional<bool> canI(const std::string& verb,
                           const std::string& resource,
                           const std::string& namespace_name,
                           Deadline deadline) const;

 private:
  std::vector<std::string> command(const std::vector<std::string>& args) const;

  KubectlOptions options_;
};

/// A forbidden answer as a sentence that names the RBAC rule to grant.
std::string describeForbidden(const KubectlFailure& failure);

}  // namespace podnetstat::agent::plugin
