// `podnetstat serve`: flags (each also PODNETSTAT_<FLAG> in the environment), logging, signals;
// the agent itself is ApiServer.

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/agent/cli/commands.h"
#include "podnetstat/agent/cli/pod_sources.h"
#include "podnetstat/agent/http/auth.h"
#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/k8s/access_review.h"
#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/kubelet.h"

#include <CLI/CLI.hpp>

namespace podnetstat::agent {

namespace {

constexpr int kUsageError = 2;
constexpr auto kShutdownGrace = std::chrono::milliseconds(1500);
/// How often an agent serving a non-loopback address without TLS or authentication says so again.
constexpr auto kInsecureReminder = std::chrono::minutes(10);

/// One JSON object per line: {"time":...,"level":...,"msg":...}.
class JsonLogFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    std::string line = R"({"time":)";
    appendJsonString(line, formatRfc3339Ms(ms));
    line += R"(,"level":)";
    const auto level = spdlog::level::to_string_view(msg.level);
    appendJsonString(line, std::string_view(level.data(), level.size()));
    line += R"(,"msg":)";
    appendJsonString(line, std::string_view(msg.payload.data(), msg.payload.size()));
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLogFormatter>();
  }
};

void setUpLogging(const std::string& format, const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("podnetstat", sink);
  if (format == "json") {
    logger->set_formatter(std::make_unique<JsonLogFormatter>());
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(spdlog::level::from_str(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::string defaultNodeName() {
  if (const char* env = std::getenv("NODE_NAME"); env != nullptr && *env != '\0') {
    return env;
  }
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') {
    return host;
  }
  return "unknown";
}

/// Writes the bound ports ("<api>\n[<health>\n]") atomically, for tests and scripts.
bool writePortFile(const std::filesystem::path& path,
                   std::uint16_t port,
                   std::optional<std::uint16_t> health) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << '\n';
    if (health) {
      out << *health << '\n';
    }
    if (!out) {
      return false;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  return !ec;
}

/// The access-control flags of `serve`.
struct AccessFlags {
  std::string tls_cert;
  std::string tls_key;
  std::string auth = "none";
  std::string auth_cache_ttl = "30s";
  std::string kube_api_url = "auto";
  std::string kube_api_ca = k8s::kServiceAccountCaFile;
  std::string kube_api_token_file = k8s::kServiceAccountTokenFile;
  bool insecure_allow_unauthenticated = false;
};

void addAccessFlags(CLI::App& app, AccessFlags& flags) {
  app.add_option("--tls-cert", flags.tls_cert,
                 "PEM certificate (chain) of the API listener: it then speaks HTTPS only; "
                 "reloaded when the file changes")
      ->envname("PODNETSTAT_TLS_CERT");
  app.add_option("--tls-key", flags.tls_key, "PEM private key of --tls-cert")
      ->envname("PODNETSTAT_TLS_KEY");
  app.add_option("--auth", flags.auth,
                 "Bearer-token access control of the API listener: none, tokenreview "
                 "(Kubernetes TokenReview + SubjectAccessReview on podnetstat.io nodes/api and "
                 "nodes/metrics), or static:FILE (lines token,user[,path;path...])")
      ->envname("PODNETSTAT_AUTH")
      ->capture_default_str();
  app.add_option("--auth-cache-ttl", flags.auth_cache_ttl,
                 "How long a tokenreview decision is reused for the same token and resource")
      ->envname("PODNETSTAT_AUTH_CACHE_TTL")
      ->capture_default_str();
  app.add_option("--kube-api-url", flags.kube_api_url,
                 "API server for --auth tokenreview: auto "
                 "(https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT) or a URL")
      ->envname("PODNETSTAT_KUBE_API_URL")
      ->capture_default_str();
  app.add_option("--kube-api-ca", flags.kube_api_ca, "CA file that signed the API server's cert")
      ->envname("PODNETSTAT_KUBE_API_CA")
      ->capture_default_str();
  app.add_option("--kube-api-token-file", flags.kube_api_token_file,
                 "The agent's own bearer token for the API server (re-read as it rotates)")
      ->envname("PODNETSTAT_KUBE_API_TOKEN_FILE")
      ->capture_default_str();
  app.add_flag("--insecure-allow-unauthenticated", flags.insecure_allow_unauthenticated,
               "Serve a non-loopback --listen address without TLS or authentication: anyone who "
               "reaches it reads every socket of the machine")
      ->envname("PODNETSTAT_INSECURE_ALLOW_UNAUTHENTICATED");
}

/// What an agent serving `where` without TLS or authentication says at start and every
/// kInsecureReminder after.
void warnInsecure(const std::string& where, bool tls, bool auth) {
  std::string missing = !tls && !auth ? "neither TLS nor authentication"
                        : !tls        ? "no TLS (bearer tokens and answers travel in clear text)"
                                      : "no authentication";
  spdlog::warn(
      "INSECURE: serving {} with {} (--insecure-allow-unauthenticated): anyone who can reach "
      "this address can read every socket, process and pod of this machine",
      where, missing);
}

/// Every flag of `serve` but the access-control ones.
struct ServeFlags {
  std::string listen = "127.0.0.1:9180";
  std::string health_listen;
  std::string refresh = "5s";
  std::string proc_root = "/proc";
  std::string netns_dir = "/var/run/netns";
  std::string node_name;
  std::size_t max_connections = 4096;
  std::string log_format = "text";
  std::string log_level = "info";
  unsigned threads = 0;
  std::string read_timeout = "10s";
  std::string idle_timeout = "60s";
  std::string port_file;
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string backend = "procfs";
  std::string watch_max_lag_scans = "8";
  std::string watch_keep_alive = "15s";
  std::string watch_max_timeout = "1h";
  PodSourceFlags pods;
  AccessFlags access;
};

/// The options of `serve`, each with its environment variable (a table of options).
void addServeFlags(CLI::App& app, ServeFlags& f) {
  app.add_option("--listen", f.listen, "API address, HOST:PORT or [IPV6]:PORT (port 0: any free)")
      ->envname("PODNETSTAT_LISTEN")
      ->capture_default_str();
  app.add_option("--health-listen", f.health_listen,
                 "Extra address serving only /healthz and /readyz (for kubelet probes)")
      ->envname("PODNETSTAT_HEALTH_LISTEN");
  app.add_option("--refresh", f.refresh, "Time between scans, e.g. 200ms, 5s, 1m")
      ->envname("PODNETSTAT_REFRESH")
      ->capture_default_str();
  app.add_option("--proc-root", f.proc_root, "Where the host's /proc is mounted")
      ->envname("PODNETSTAT_PROC_ROOT")
      ->capture_default_str();
  app.add_option("--netns-dir", f.netns_dir, "Directory of named network namespaces")
      ->envname("PODNETSTAT_NETNS_DIR")
      ->capture_default_str();
  app.add_option("--node-name", f.node_name, "Node name in answers (default: $NODE_NAME, hostname)")
      ->envname("PODNETSTAT_NODE_NAME");
  app.add_option("--max-connections", f.max_connections, "Connections served at once")
      ->envname("PODNETSTAT_MAX_CONNECTIONS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--log-format", f.log_format, "text or json")
      ->envname("PODNETSTAT_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error, critical or off")
      ->envname("PODNETSTAT_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--threads", f.threads, "HTTP threads (0: one per CPU, at most 4)")
      ->envname("PODNETSTAT_THREADS")
      ->check(CLI::Range(0U, 256U))
      ->capture_default_str();
  app.add_option("--read-timeout", f.read_timeout, "Time allowed to send a request header")
      ->envname("PODNETSTAT_READ_TIMEOUT")
      ->capture_default_str();
  app.add_option("--idle-timeout", f.idle_timeout, "Time a keep-alive connection may stay idle")
      ->envname("PODNETSTAT_IDLE_TIMEOUT")
      ->capture_default_str();
  app.add_option("--cgroup-root", f.cgroup_root,
                 "Where the host's cgroup hierarchy is mounted (pods are found through "
                 "/proc/<pid>/cgroup)")
      ->envname("PODNETSTAT_CGROUP_ROOT")
      ->capture_default_str();
  app.add_option("--backend", f.backend, "How socket tables are read: auto, procfs or netlink")
      ->envname("PODNETSTAT_BACKEND")
      ->check(CLI::IsMember({"auto", "procfs", "netlink"}))
      ->capture_default_str();
  app.add_option("--watch-max-lag-scans", f.watch_max_lag_scans,
                 "Scans a watcher may fall behind (its client not reading) before it gets a 410 "
                 "and is closed, 1 to 100")
      ->envname("PODNETSTAT_WATCH_MAX_LAG_SCANS")
      ->capture_default_str();
  app.add_option("--watch-keep-alive", f.watch_keep_alive,
                 "Silence after which a watch sends a blank line, 100ms to 1h")
      ->envname("PODNETSTAT_WATCH_KEEP_ALIVE")
      ->capture_default_str();
  app.add_option("--watch-max-timeout", f.watch_max_timeout,
                 "The longest watch (a longer timeoutSeconds is cut to it), 1s to 24h")
      ->envname("PODNETSTAT_WATCH_MAX_TIMEOUT")
      ->capture_default_str();
  addPodSourceFlags(app, f.pods, true);
  addAccessFlags(app, f.access);
  app.add_option("--port-file", f.port_file,
                 "Write the bound port (and the health port on a second line) to this file")
      ->envname("PODNETSTAT_PORT_FILE");
}

/// A bad flag value: "<flag>: <why>".
Error usageError(const std::string& flag, const std::string& message) {
  return Error{flag + ": " + message, ErrorKind::Invalid};
}

/// The listeners, durations, roots and HTTP limits of the flags.
Result<ApiServerOptions> serverOptions(const ServeFlags& f) {
  ApiServerOptions options;
  auto listen = parseListenAddress(f.listen);
  if (!listen) {
    return usageError("--listen", listen.error().message);
  }
  options.listen = *listen;
  if (!f.health_listen.empty()) {
    auto health = parseListenAddress(f.health_listen);
    if (!health) {
      return usageError("--health-listen", health.error().message);
    }
    options.health_listen = *health;
  }
  for (auto [flag, text, target] :
       {std::tuple{"--refresh", &f.refresh, &options.refresh},
        std::tuple{"--read-timeout", &f.read_timeout, &options.http.read_timeout},
        std::tuple{"--idle-timeout", &f.idle_timeout, &options.http.idle_timeout}}) {
    auto d = parseDuration(*text);
    if (!d) {
      return usageError(flag, d.error().message);
    }
    *target = *d;
  }
  const auto backend = scanner::backendFromName(f.backend);
  if (!backend) {
    return usageError("--backend", "expected auto, procfs or netlink, got '" + f.backend + "'");
  }
  options.backend = *backend;
  auto watch = parseWatchLimits(f.watch_max_lag_scans, f.watch_keep_alive, f.watch_max_timeout);
  if (!watch) {
    return watch.error();
  }
  options.watch = *watch;
  options.roots.proc = f.proc_root;
  options.roots.netns_dir = f.netns_dir;
  options.node_name = f.node_name.empty() ? defaultNodeName() : f.node_name;
  options.http.max_connections = f.max_connections;
  options.http.threads = f.threads;
  options.pod_refresh = std::clamp(options.refresh, std::chrono::milliseconds(1000),
                                   std::chrono::milliseconds(10000));
  return options;
}

/// The pod sources of the flags, resolved; made once the agent starts.
Result<PodSourceFlags> podSources(const ServeFlags& f, ApiServerOptions& options) {
  auto resolved = f.pods.resolved();
  if (!resolved) {
    return usageError("pod sources", resolved.error().message);
  }
  const PodSourceFlags pods = *resolved;
  // Also in auto mode: a CRI module that cannot be loaded is a broken install, said at once.
  if (pods.cri_endpoint != "none") {
    if (auto probe = k8s::makeCriClient({.endpoint = pods.cri_endpoint}); !probe) {
      return usageError("--cri-endpoint", probe.error().message);
    }
  }
  options.pod_sources = [pods] {
    auto sources = makePodSources(pods);
    if (!sources) {
      spdlog::error("{}", sources.error().message);
      return k8s::PodMetadataSources{};
    }
    return std::move(*sources);
  };
  return pods;
}

/// The refusal of a non-loopback address served without TLS and authentication.
Error insecureRefusal(const std::string& where, bool tls, bool auth) {
  return Error{"refusing to serve " + where +
                   ": it is not a loopback address, and serving it needs " +
                   (tls ? "" : "TLS (--tls-cert, --tls-key)") + (!tls && !auth ? " and " : "") +
                   (auth ? "" : "authentication (--auth tokenreview or --auth static:FILE)") +
                   ". Anyone who can reach it could read every socket, process and pod of this "
                   "machine. Give --tls-cert/--tls-key and --auth tokenreview (or --auth "
                   "static:FILE), or listen on 127.0.0.1 and use kubectl port-forward; "
                   "--insecure-allow-unauthenticated serves it anyway.",
               ErrorKind::Invalid};
}

/// `--auth tokenreview`: the API server's TokenReview and SubjectAccessReview.
Result<std::shared_ptr<Authorizer>> tokenReviewAuthorizer(const AccessFlags& access,
                                                          const std::string& node_name) {
  auto ttl = parseDuration(access.auth_cache_ttl);
  if (!ttl) {
    return usageError("--auth-cache-ttl", ttl.error().message);
  }
  std::string url = access.kube_api_url;
  if (url == "auto") {
    url = k8s::inClusterApiUrl();
    if (url.empty()) {
      return usageError("--kube-api-url",
                        "auto needs KUBERNETES_SERVICE_HOST (set in a pod); give the API "
                        "server's URL");
    }
  }
  auto api = k8s::makeKubeApiClient(
      {.url = url, .ca_file = access.kube_api_ca, .token_file = access.kube_api_token_file});
  if (!api) {
    return usageError("--kube-api-url", api.error().message);
  }
  return makeKubeAccessAuthorizer({.api = std::shared_ptr<k8s::KubeApi>(std::move(*api)),
                                   .node_name = node_name,
                                   .cache_ttl = *ttl});
}

/// TLS and bearer tokens, required off loopback: into `options`. Whether the agent serves
/// insecurely (allowed by --insecure-allow-unauthenticated).
Result<bool> accessControl(const AccessFlags& access, ApiServerOptions& options) {
  if (access.tls_cert.empty() != access.tls_key.empty()) {
    return usageError(access.tls_cert.empty() ? "--tls-key" : "--tls-cert",
                      "--tls-cert and --tls-key go together");
  }
  const bool want_tls = !access.tls_cert.empty();
  const bool is_static = access.auth.starts_with("static:");
  if (is_static && access.auth.size() == 7) {
    return usageError("--auth", "static: needs a file, e.g. static:/etc/podnetstat/tokens");
  }
  if (!is_static && access.auth != "none" && access.auth != "tokenreview") {
    return usageError("--auth",
                      "expected none, tokenreview or static:FILE, got '" + access.auth + "'");
  }
  const bool want_auth = access.auth != "none";
  const bool insecure = !isLoopbackHost(options.listen.host) && !(want_tls && want_auth);
  if (insecure && !access.insecure_allow_unauthenticated) {
    return insecureRefusal(options.listen.toString(), want_tls, want_auth);
  }
  if (want_tls) {
    auto tls = TlsCertificates::load(access.tls_cert, access.tls_key);
    if (!tls) {
      return usageError("--tls-cert", tls.error().message);
    }
    options.tls = std::move(*tls);
  }
  if (is_static) {
    auto authorizer = makeStaticTokenAuthorizer(access.auth.substr(7));
    if (!authorizer) {
      return usageError("--auth", authorizer.error().message);
    }
    options.auth = std::move(*authorizer);
  } else if (access.auth == "tokenreview") {
    auto authorizer = tokenReviewAuthorizer(access, options.node_name);
    if (!authorizer) {
      return authorizer.error();
    }
    options.auth = std::move(*authorizer);
  }
  return insecure;
}

/// Outside Kubernetes `serve` still works: says once that pods will have no names.
void warnIfNoPodSources(const PodSourceFlags& pods) {
  bool cri_found = pods.cri_endpoint != "none" && pods.cri_endpoint != "auto";
  if (pods.cri_endpoint == "auto") {
    for (const auto& path : k8s::defaultCriSocketPaths()) {
      std::error_code ec;
      cri_found = cri_found || std::filesystem::exists(path, ec);
    }
  }
  if (!cri_found && pods.kubelet_url == "none") {
    spdlog::warn(
        "no container runtime (CRI) socket and no kubelet found: serving the machine's "
        "namespaces; pods only from their cgroups, without names");
  }
}

/// Allocator settings for a long-running agent.
void tuneMalloc() {
#ifdef __GLIBC__
  // Few malloc arenas: each thread (HTTP pool, scanner pool) would otherwise keep its own, and
  // the memory a snapshot frees on one stays resident there (RSS budget: 40 MiB at 10,000
  // sockets).
  mallopt(M_ARENA_MAX, 2);
  // Snapshot-sized buffers (MiBs) come from mmap and go back to the system when freed, instead
  // of raising the heap's high-water mark (glibc would otherwise move this threshold up).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
}

/// Blocks SIGTERM and SIGINT (sigwait() takes them; every thread started from here on inherits
/// the mask) and ignores SIGPIPE. Returns the blocked set.
sigset_t blockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  return signals;
}

/// Waits for SIGTERM or SIGINT; an insecure agent says so again every kInsecureReminder.
int waitForShutdown(const sigset_t& signals, const std::function<void()>& remind) {
  int signal_number = 0;
  if (!remind) {
    sigwait(&signals, &signal_number);
    return signal_number;
  }
  const auto every = std::chrono::duration_cast<std::chrono::seconds>(kInsecureReminder);
  for (;;) {
    timespec wait{static_cast<time_t>(every.count()), 0};
    signal_number = sigtimedwait(&signals, nullptr, &wait);
    if (signal_number > 0) {
      return signal_number;
    }
    if (errno == EAGAIN) {
      remind();
    }  // else EINTR
  }
}

/// Starts `server`, says where it serves, writes the port file, and serves until a signal.
int serve(ApiServerOptions options, const ServeFlags& f, bool insecure, const sigset_t& signals) {
  ApiServer server(options);
  if (auto started = server.start(); !started) {
    spdlog::error("{}", started.error().message);
    return 1;
  }
  ListenAddress bound = options.listen;
  bound.port = server.port();
  std::string health_text;
  if (server.healthPort()) {
    ListenAddress health = *options.health_listen;
    health.port = *server.healthPort();
    health_text = ", health on " + health.toString();
  }
  const bool tls = options.tls != nullptr;
  const bool auth = f.access.auth != "none";
  spdlog::info(
      "podnetstat {} serving {} on {}{}; node {}, refresh every {} ms, at most {} connections, "
      "auth {}",
      PODNETSTAT_VERSION, tls ? "HTTPS" : "HTTP", bound.toString(), health_text, options.node_name,
      options.refresh.count(), f.max_connections,
      f.access.auth.starts_with("static:") ? "static" : f.access.auth);
  std::function<void()> remind;
  if (insecure) {
    remind = [where = bound.toString(), tls, auth] {
      warnInsecure(where, tls, auth);
    };
    remind();
  }
  if (!f.port_file.empty() && !writePortFile(f.port_file, server.port(), server.healthPort())) {
    spdlog::error("cannot write the port file {}", f.port_file);
    server.stop(std::chrono::milliseconds(0));
    return 1;
  }
  const int signal_number = waitForShutdown(signals, remind);
  spdlog::info("received {}, shutting down", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  if (!server.stop(kShutdownGrace)) {
    // A scan cannot be interrupted; the process is leaving anyway.
    spdlog::warn("a scan is still running; exiting without waiting for it");
    spdlog::shutdown();
    std::_Exit(0);
  }
  spdlog::info("stopped");
  return 0;
}

}  // namespace

int runServe(int argc, char** argv) {
  CLI::App app{
      "Run the agent: a REST/JSON API over an always-fresh scan of every network "
      "namespace of this machine. Every flag can also be set as PODNETSTAT_<FLAG> in "
      "the environment (e.g. PODNETSTAT_LISTEN); a flag wins over the environment.",
      "podnetstat serve"};
  ServeFlags flags;
  addServeFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "podnetstat serve: %s\nRun 'podnetstat serve --help' for the options.\n",
                 e.what());
    return kUsageError;
  }
  // Before anything that logs (the token file, the CRI module, TLS): every line in one format.
  setUpLogging(flags.log_format, flags.log_level);
  const auto usage = [](const Error& error) {
    std::fprintf(stderr, "podnetstat serve: %s\n", error.message.c_str());
    return kUsageError;
  };
  auto options = serverOptions(flags);
  if (!options) {
    return usage(options.error());
  }
  auto pods = podSources(flags, *options);
  if (!pods) {
    return usage(pods.error());
  }
  auto insecure = accessControl(flags.access, *options);
  if (!insecure) {
    return usage(insecure.error());
  }
  warnIfNoPodSources(*pods);
  tuneMalloc();
  const sigset_t signals = blockShutdownSignals();
  return serve(std::move(*options), flags, *insecure, signals);
}

}  // namespace podnetstat::agent
