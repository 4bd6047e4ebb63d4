// `podnetstat serve`: flags (each also PODNETSTAT_<FLAG> in the environment), logging, signals;
// the agent itself is ApiServer.

#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

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

#include "podnetstat/agent/api_server.h"
#include "podnetstat/agent/commands.h"
#include "podnetstat/agent/json_write.h"
#include "podnetstat/agent/socket_json.h"

#include <CLI/CLI.hpp>

namespace podnetstat::agent {

namespace {

constexpr int kUsageError = 2;
constexpr auto kShutdownGrace = std::chrono::milliseconds(1500);

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

}  // namespace

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

  setUpLogging(log_format, log_level);
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
      "podnetstat {} serving on {}{}; node {}, refresh every {} ms, at most {} connections",
      PODNETSTAT_VERSION, bound.toString(), health_text, options.node_name, options.refresh.count(),
      max_connections);
  if (!port_file.empty() && !writePortFile(port_file, server.port(), server.healthPort())) {
    spdlog::error("cannot write the port file {}", port_file);
    server.stop(std::chrono::milliseconds(0));
    return 1;
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
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
