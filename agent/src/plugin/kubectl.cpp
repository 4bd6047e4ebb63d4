#include "podnetstat/agent/plugin/kubectl.h"

#include <charconv>
#include <regex>

namespace podnetstat::agent::plugin {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  return s;
}

/// kubectl's error line: the first "error: ..." or "Error from server (...): ..." line, else the
/// last line that is not empty; the prefix taken off.
std::string errorLine(std::string_view text) {
  std::string_view chosen;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view line = trim(text.substr(start, end - start));
    start = end + 1;
    if (line.empty()) {
      continue;
    }
    if (line.starts_with("error:") || line.starts_with("Error from server")) {
      chosen = line;
      break;
    }
    chosen = line;
  }
  if (chosen.starts_with("error: ")) {
    chosen.remove_prefix(7);
  } else if (chosen.starts_with("Error from server")) {
    const auto colon = chosen.find("): ");
    if (colon != std::string_view::npos) {
      chosen.remove_prefix(colon + 3);
    }
  }
  return std::string(chosen);
}

}  // namespace

KubectlFailure explainKubectlError(std::string_view stderr_text) {
  KubectlFailure f;
  f.message = errorLine(stderr_text);
  static const std::regex kForbidden(
      R"re(User "([^"]*)" cannot ([a-z]+) resource "([^"]+)"(?: in API group "[^"]*")?(?: in the namespace "([^"]+)")?)re");
  std::match_results<std::string_view::const_iterator> m;
  if (std::regex_search(stderr_text.begin(), stderr_text.end(), m, kForbidden)) {
    f.kind = KubectlFailure::Kind::Forbidden;
    f.user = m[1].str();
    f.verb = m[2].str();
    f.resource = m[3].str();
    f.namespace_name = m[4].matched ? m[4].str() : std::string();
  } else if (stderr_text.find("(NotFound)") != std::string_view::npos) {
    f.kind = KubectlFailure::Kind::NotFound;
  } else if (stderr_text.find("(Forbidden)") != std::string_view::npos ||
             stderr_text.find("is forbidden") != std::string_view::npos) {
    f.kind = KubectlFailure::Kind::Forbidden;
  }
  return f;
}

std::string describeForbidden(const KubectlFailure& f) {
  if (f.verb.empty()) {
    return "forbidden: " + f.message;
  }
  std::string where =
      f.namespace_name.empty() ? "at the cluster scope" : "in namespace " + f.namespace_name;
  return "forbidden: " + (f.user.empty() ? std::string("your user") : "user \"" + f.user + "\"") +
         " may not " + f.verb + " " + f.resource + " " + where + ": RBAC needs verb \"" + f.verb +
         "\" on resource \"" + f.resource + "\" there (kubectl podnetstat --help, RBAC)";
}

std::optional<std::uint16_t> parseForwardingLine(std::string_view line) {
  static constexpr std::string_view kPrefix = "Forwarding from 127.0.0.1:";
  if (!line.starts_with(kPrefix)) {
    return std::nullopt;
  }
  line.remove_prefix(kPrefix.size());
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), port);
  if (ec != std::errc{} || port == 0 || port > 65535 ||
      (end != line.data() + line.size() && *end != ' ')) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(port);
}

std::string PortForward::errors() {
  return std::string(trim(child_->stderrText()));
}

std::vector<std::string> Kubectl::command(const std::vector<std::string>& args) const {
  std::vector<std::string> argv{options_.program};
  argv.insert(argv.end(), options_.global_args.begin(), options_.global_args.end());
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result<ChildOutput> Kubectl::run(const std::vector<std::string>& args, Deadline deadline) const {
  auto child = ChildProcess::start(command(args));
  if (!child) {
    return Error{"kubectl: " + child.error().message + " (set $KUBECTL to its path)"};
  }
  ChildOutput out = (*child)->finish(deadline);
  if (out.exit.timed_out) {
    return Error{"kubectl " + (args.empty() ? std::string() : args.front()) +
                 " did not finish in time" +
                 (out.err.empty() ? std::string() : ": " + errorLine(out.err))};
  }
  return out;
}

Result<nlohmann::json> Kubectl::getJson(const std::vector<std::string>& args,
                                        Deadline deadline,
                                        const std::string& what) const {
  std::vector<std::string> full = args;
  full.insert(full.end(), {"-o", "json"});
  auto out = run(full, deadline);
  if (!out) {
    return out.error();
  }
  if (out->exit.code != 0) {
    const KubectlFailure f = explainKubectlError(out->err);
    return Error{what + ": " +
                 (f.kind == KubectlFailure::Kind::Forbidden ? describeForbidden(f) : f.message)};
  }
  auto parsed = nlohmann::json::parse(out->out, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return Error{what + ": kubectl did not print a JSON object"};
  }
  return parsed;
}

std::optional<bool> Kubectl::canI(const std::string& verb,
                                  const std::string& resource,
                                  const std::string& namespace_name,
                                  Deadline deadline) const {
  auto out = run({"auth", "can-i", verb, resource, "-n", namespace_name}, deadline);
  if (!out) {
    return std::nullopt;
  }
  const std::string_view answer = trim(out->out.substr(0, out->out.find('\n')));
  if (answer == "yes") {
    return true;
  }
  if (answer == "no") {
    return false;
  }
  return std::nullopt;
}

Result<std::unique_ptr<PortForward>> Kubectl::portForward(const std::string& namespace_name,
                                                          const std::string& pod,
                                                          std::uint16_t port,
                                                          Deadline deadline) const {
  auto child = ChildProcess::start(command({"port-forward", "-n", namespace_name, "pod/" + pod,
                                            ":" + std::to_string(port), "--address", "127.0.0.1"}));
  if (!child) {
    return Error{"kubectl: " + child.error().message + " (set $KUBECTL to its path)"};
  }
  std::string line;
  while (true) {
    const auto status = (*child)->readLine(line, deadline);
    if (status == ChildProcess::LineStatus::Line) {
      if (const auto local = parseForwardingLine(line)) {
        return std::make_unique<PortForward>(std::move(*child), *local);
      }
      continue;
    }
    const bool timed_out = status == ChildProcess::LineStatus::Timeout;
    std::string err(trim((*child)->stderrText()));
    (*child)->stop();
    const std::string what = "kubectl port-forward -n " + namespace_name + " pod/" + pod;
    if (timed_out) {
      return Error{what + ": no \"Forwarding from\" line in time" +
                   (err.empty() ? std::string() : ": " + errorLine(err))};
    }
    KubectlFailure f = explainKubectlError(err);
    if (f.kind == KubectlFailure::Kind::Forbidden && f.verb.empty()) {
      // Name the missing rule: kubectl's message did not.
      for (const auto& [verb, resource] :
           {std::pair{"get", "pods"}, std::pair{"create", "pods/portforward"}}) {
        if (canI(verb, resource, namespace_name, deadline) == false) {
          f.verb = verb;
          f.resource = resource;
          f.namespace_name = namespace_name;
          break;
        }
      }
    }
    if (f.kind == KubectlFailure::Kind::Forbidden) {
      return Error{what + ": " + describeForbidden(f)};
    }
    return Error{what + ": " + (f.message.empty() ? std::string("exited") : f.message)};
  }
}

}  // namespace podnetstat::agent::plugin
