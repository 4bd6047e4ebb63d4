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
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/agent/cli/commands.h"
#include "podnetstat/agent/http/auth.h"
#include "podnetstat/agent/json/json_write.h"
#include "podnetstat/agent/render/socket_json.h"
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

}  // namespace

Result<PodSourceFlags> PodSourceFlags::resolved() const {
  PodSourceFlags out = *this;
  if (out.cri_endpoint != "auto" && out.cri_endpoint != "none" &&
      !out.cri_endpoint.starts_with("unix://") && !out.cri_endpoint.starts_with('/')) {
    return Error{"--cri-endpoint: expected auto, none, unix:///path or /path, got '" +
                 out.cri_endpoint + "'"};
  }
  if (out.kubelet_url == "auto") {
    const char* host_ip = std::getenv("HOST_IP");
    out.kubelet_url =
        host_ip != nullptr && *host_ip != '\0' ? k8s::defaultKubeletUrl(host_ip) : "none";
  }
  return out;
}

Result<k8s::PodMetadataSources> makePodSources(const PodSourceFlags& flags) {
  k8s::PodMetadataSources sources;
  if (flags.cri_endpoint != "none") {
    auto cri = k8s::makeCriClient({.endpoint = flags.cri_endpoint});
    if (!cri) {
      return Error{"--cri-endpoint: " + cri.error().message};
    }
    sources.cri = std::move(*cri);
  }
  if (flags.kubelet_url != "none" && !flags.kubelet_url.empty()) {
    auto kubelet = k8s::makeKubeletClient({.url = flags.kubelet_url,
                                           .ca_file = flags.kubelet_ca,
                                           .insecure_skip_verify = flags.kubelet_insecure,
                                           .token_file = flags.kubelet_token_file});
    if (!kubelet) {
      return Error{"--kubelet-url: " + kubelet.error().message};
    }
    sources.kubelet = std::move(*kubelet);
  }
  if (!flags.log_dir.empty() && flags.log_dir != "none") {
    std::error_code ec;
    if (std::filesystem::is_directory(flags.log_dir, ec)) {
      sources.log_dir = flags.log_dir;
    }
  }
  return sources;
}

void addPodSourceFlags(CLI::App& app, PodSourceFlags& flags, bool with_env) {
  const auto env = [&](CLI::Option* option, const char* name) {
    if (with_env) {
      option->envname(name);
    }
    return option;
  };
  env(app.add_option("--cri-endpoint", flags.cri_endpoint,
                     "Container runtime (CRI) socket: auto (probe the known paths), none, "
                     "unix:///path"),
      "PODNETSTAT_CRI_ENDPOINT")
      ->capture_default_str();
  env(app.add_option("--kubelet-url", flags.kubelet_url,
                     "kubelet API: auto (https://$HOST_IP:10250 when HOST_IP is set), none, URL"),
      "PODNETSTAT_KUBELET_URL")
      ->capture_default_str();
  env(app.add_option("--kubelet-ca", flags.kubelet_ca, "CA file that signed the kubelet's cert"),
      "PODNETSTAT_KUBELET_CA");
  env(app.add_flag("--kubelet-insecure-skip-verify", flags.kubelet_insecure,
                   "Do not verify the kubelet's certificate"),
      "PODNETSTAT_KUBELET_INSECURE_SKIP_VERIFY");
  env(app.add_option("--kubelet-token-file", flags.kubelet_token_file,
                     "Bearer token for the kubelet (re-read every few minutes)"),
      "PODNETSTAT_KUBELET_TOKEN_FILE")
      ->capture_default_str();
  env(app.add_option("--pod-log-dir", flags.log_dir,
                     "Kubelet's pod log directory, for pod names without CRI/kubelet (none: off)"),
      "PODNETSTAT_POD_LOG_DIR")
      ->capture_default_str();
}

int runServe(int argc, char** argv) {
  CLI::App app{
      "Run the agent: a REST/JSON API over an always-fresh scan of every network "
      "namespace of this machine. Every flag can also be set as PODNETSTAT_<FLAG> in "
      "the environment (e.g. PODNETSTAT_LISTEN); a flag wins over the environment.",
      "podnetstat serve"};
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
  PodSourceFlags pod_flags;

  app.add_option("--listen", listen, "API address, HOST:PORT or [IPV6]:PORT (port 0: any free)")
      ->envname("PODNETSTAT_LISTEN")
      ->capture_default_str();
  app.add_option("--health-listen", health_listen,
                 "Extra address serving only /healthz and /readyz (for kubelet probes)")
      ->envname("PODNETSTAT_HEALTH_LISTEN");
  app.add_option("--refresh", refresh, "Time between scans, e.g. 200ms, 5s, 1m")
      ->envname("PODNETSTAT_REFRESH")
      ->capture_default_str();
  app.add_option("--proc-root", proc_root, "Where the host's /proc is mounted")
      ->envname("PODNETSTAT_PROC_ROOT")
      ->capture_default_str();
  app.add_option("--netns-dir", netns_dir, "Directory of named network namespaces")
      ->envname("PODNETSTAT_NETNS_DIR")
      ->capture_default_str();
  app.add_option("--node-name", node_name, "Node name in answers (default: $NODE_NAME, hostname)")
      ->envname("PODNETSTAT_NODE_NAME");
  app.add_option("--max-connections", max_connections, "Connections served at once")
      ->envname("PODNETSTAT_MAX_CONNECTIONS")
      ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--log-format", log_format, "text or json")
      ->envname("PODNETSTAT_LOG_FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
      ->envname("PODNETSTAT_LOG_LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
      ->capture_default_str();
  app.add_option("--threads", threads, "HTTP threads (0: one per CPU, at most 4)")
      ->envname("PODNETSTAT_THREADS")
      ->check(CLI::Range(0U, 256U))
      ->capture_default_str();
  app.add_option("--read-timeout", read_timeout, "Time allowed to send a request header")
      ->envname("PODNETSTAT_READ_TIMEOUT")
      ->capture_default_str();
  app.add_option("--idle-timeout", idle_timeout, "Time a keep-alive connection may stay idle")
      ->envname("PODNETSTAT_IDLE_TIMEOUT")
      ->capture_default_str();
  app.add_option("--cgroup-root", cgroup_root,
                 "Where the host's cgroup hierarchy is mounted (pods are found through "
                 "/proc/<pid>/cgroup)")
      ->envname("PODNETSTAT_CGROUP_ROOT")
      ->capture_default_str();
  app.add_option("--backend", backend, "How socket tables are read: auto, procfs or netlink")
      ->envname("PODNETSTAT_BACKEND")
      ->check(CLI::IsMember({"auto", "procfs", "netlink"}))
      ->capture_default_str();
  addPodSourceFlags(app, pod_flags, true);
  AccessFlags access;
  addAccessFlags(app, access);
  app.add_option("--port-file", port_file,
                 "Write the bound port (and the health port on a second line) to this file")
      ->envname("PODNETSTAT_PORT_FILE");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "podnetstat serve: %s\nRun 'podnetstat serve --help' for the options.\n",
                 e.what());
    return kUsageError;
  }

  ApiServerOptions options;
  const auto usage = [](const std::string& flag, const std::string& message) {
    std::fprintf(stderr, "podnetstat serve: %s: %s\n", flag.c_str(), message.c_str());
    return kUsageError;
  };
  if (auto a = parseListenAddress(listen); a) {
    options.listen = *a;
  } else {
    return usage("--listen", a.error().message);
  }
  if (!health_listen.empty()) {
    auto a = parseListenAddress(health_listen);
    if (!a) {
      return usage("--health-listen", a.error().message);
    }
    options.health_listen = *a;
  }
  for (auto [flag, text, target] :
       {std::tuple{"--refresh", &refresh, &options.refresh},
        std::tuple{"--read-timeout", &read_timeout, &options.http.read_timeout},
        std::tuple{"--idle-timeout", &idle_timeout, &options.http.idle_timeout}}) {
    auto d = parseDuration(*text);
    if (!d) {
      return usage(flag, d.error().message);
    }
    *target = *d;
  }
  options.roots.proc = proc_root;
  options.roots.netns_dir = netns_dir;
  options.node_name = node_name.empty() ? defaultNodeName() : node_name;
  options.http.max_connections = max_connections;
  options.http.threads = threads;
  options.backend = *scanner::backendFromName(backend);
  auto pod_sources = pod_flags.resolved();
  if (!pod_sources) {
    return usage("pod sources", pod_sources.error().message);
  }
  pod_flags = *pod_sources;
  // Also in auto mode: a CRI module that cannot be loaded is a broken install, said at once.
  if (pod_flags.cri_endpoint != "none") {
    if (auto probe = k8s::makeCriClient({.endpoint = pod_flags.cri_endpoint}); !probe) {
      return usage("--cri-endpoint", probe.error().message);
    }
  }
  options.pod_refresh = std::clamp(options.refresh, std::chrono::milliseconds(1000),
                                   std::chrono::milliseconds(10000));

  // Access control: TLS and bearer tokens, required off loopback.
  if (access.tls_cert.empty() != access.tls_key.empty()) {
    return usage(access.tls_cert.empty() ? "--tls-key" : "--tls-cert",
                 "--tls-cert and --tls-key go together");
  }
  const bool want_tls = !access.tls_cert.empty();
  std::string static_token_file;
  if (access.auth.starts_with("static:")) {
    static_token_file = access.auth.substr(7);
    if (static_token_file.empty()) {
      return usage("--auth", "static: needs a file, e.g. static:/etc/podnetstat/tokens");
    }
  } else if (access.auth != "none" && access.auth != "tokenreview") {
    return usage("--auth", "expected none, tokenreview or static:FILE, got '" + access.auth + "'");
  }
  const bool want_auth = access.auth != "none";
  const bool loopback = isLoopbackHost(options.listen.host);
  const bool insecure = !loopback && !(want_tls && want_auth);
  if (insecure && !access.insecure_allow_unauthenticated) {
    std::fprintf(
        stderr,
        "podnetstat serve: refusing to serve %s: it is not a loopback address, and serving it "
        "needs %s%s%s. Anyone who can reach it could read every socket, process and pod of "
        "this machine. Give --tls-cert/--tls-key and --auth tokenreview (or --auth "
        "static:FILE), or listen on 127.0.0.1 and use kubectl port-forward; "
        "--insecure-allow-unauthenticated serves it anyway.\n",
        options.listen.toString().c_str(), want_tls ? "" : "TLS (--tls-cert, --tls-key)",
        !want_tls && !want_auth ? " and " : "",
        want_auth ? "" : "authentication (--auth tokenreview or --auth static:FILE)");
    return kUsageError;
  }
  if (want_tls) {
    auto tls = TlsCertificates::load(access.tls_cert, access.tls_key);
    if (!tls) {
      return usage("--tls-cert", tls.error().message);
    }
    options.tls = std::move(*tls);
  }
  if (!static_token_file.empty()) {
    auto authorizer = makeStaticTokenAuthorizer(static_token_file);
    if (!authorizer) {
      return usage("--auth", authorizer.error().message);
    }
    options.auth = std::move(*authorizer);
  } else if (access.auth == "tokenreview") {
    auto ttl = parseDuration(access.auth_cache_ttl);
    if (!ttl) {
      return usage("--auth-cache-ttl", ttl.error().message);
    }
    std::string url = access.kube_api_url;
    if (url == "auto") {
      url = k8s::inClusterApiUrl();
      if (url.empty()) {
        return usage("--kube-api-url",
                     "auto needs KUBERNETES_SERVICE_HOST (set in a pod); give the API server's "
                     "URL");
      }
    }
    auto api = k8s::makeKubeApiClient(
        {.url = url, .ca_file = access.kube_api_ca, .token_file = access.kube_api_token_file});
    if (!api) {
      return usage("--kube-api-url", api.error().message);
    }
    options.auth = makeKubeAccessAuthorizer({.api = std::shared_ptr<k8s::KubeApi>(std::move(*api)),
                                             .node_name = options.node_name,
                                             .cache_ttl = *ttl});
  }

  setUpLogging(log_format, log_level);
  {
    bool cri_found = pod_flags.cri_endpoint != "none" && pod_flags.cri_endpoint != "auto";
    if (pod_flags.cri_endpoint == "auto") {
      for (const auto& path : k8s::defaultCriSocketPaths()) {
        std::error_code ec;
        cri_found = cri_found || std::filesystem::exists(path, ec);
      }
    }
    if (!cri_found && pod_flags.kubelet_url == "none") {
      spdlog::warn(
          "no container runtime (CRI) socket and no kubelet found: serving the machine's "
          "namespaces; pods only from their cgroups, without names");
    }
  }
  options.pod_sources = [pod_flags] {
    auto sources = makePodSources(pod_flags);
    if (!sources) {
      spdlog::error("{}", sources.error().message);
      return k8s::PodMetadataSources{};
    }
    return std::move(*sources);
  };
#ifdef __GLIBC__
  // Few malloc arenas: each thread (HTTP pool, scanner pool) would otherwise keep its own, and
  // the memory a snapshot frees on one stays resident there (RSS budget: 40 MiB at 10,000
  // sockets).
  mallopt(M_ARENA_MAX, 2);
  // Snapshot-sized buffers (MiBs) come from mmap and go back to the system when freed, instead
  // of raising the heap's high-water mark (glibc would otherwise move this threshold up).
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif

  // Signals are taken by sigwait() below; every thread started from here on inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

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
  spdlog::info(
      "podnetstat {} serving {} on {}{}; node {}, refresh every {} ms, at most {} connections, "
      "auth {}",
      PODNETSTAT_VERSION, options.tls ? "HTTPS" : "HTTP", bound.toString(), health_text,
      options.node_name, options.refresh.count(), max_connections,
      static_token_file.empty() ? access.auth : "static");
  if (insecure) {
    warnInsecure(bound.toString(), want_tls, want_auth);
  }
  if (!port_file.empty() && !writePortFile(port_file, server.port(), server.healthPort())) {
    spdlog::error("cannot write the port file {}", port_file);
    server.stop(std::chrono::milliseconds(0));
    return 1;
  }

  int signal_number = 0;
  if (insecure) {
    // Say it again now and then, so that the warning is not only at the top of a long log.
    const auto every = std::chrono::duration_cast<std::chrono::seconds>(kInsecureReminder);
    for (;;) {
      timespec wait{static_cast<time_t>(every.count()), 0};
      signal_number = sigtimedwait(&signals, nullptr, &wait);
      if (signal_number > 0) {
        break;
      }
      if (errno != EAGAIN) {
        continue;  // EINTR
      }
      warnInsecure(bound.toString(), want_tls, want_auth);
    }
  } else {
    sigwait(&signals, &signal_number);
  }
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

}  // namespace podnetstat::agent
