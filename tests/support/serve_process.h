#pragma once

// The real `podnetstat serve` binary as a child process of a test, on an ephemeral loopback port,
// plus what a test reads about it from /proc: its open file descriptors and its resident memory.
// Header-only: it needs the agent's HttpClient, which the support library does not link.

#include <sys/types.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_client.h"
#include "netns.h"
#include "test_paths.h"

namespace podnetstat::testing {

/// Open file descriptors of `pid` (entries of /proc/<pid>/fd); -1 when it cannot be read.
inline long fdCount(pid_t pid) {
  std::error_code ec;
  long n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
       !ec && it != end; it.increment(ec)) {
    ++n;
  }
  return ec ? -1 : n;
}

/// A memory field of /proc/<pid>/status ("VmRSS", "RssAnon", "RssFile") in KiB; -1 when it cannot
/// be read.
inline long statusKib(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.size() > field.size() && line.starts_with(field) && line[field.size()] == ':') {
      std::istringstream fields(line.substr(field.size() + 1));
      long kib = -1;
      fields >> kib;
      return kib;
    }
  }
  return -1;
}

/// VmRSS of `pid` in KiB; -1 when it cannot be read.
inline long rssKib(pid_t pid) {
  return statusKib(pid, "VmRSS");
}

/// The ports an agent wrote to its --port-file, once the file holds any; empty after `timeout`.
inline std::vector<std::uint16_t> waitForPorts(const std::filesystem::path& file,
                                               std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(file);
    std::vector<std::uint16_t> ports;
    unsigned p = 0;
    while (in >> p) {
      ports.push_back(static_cast<std::uint16_t>(p));
    }
    if (!ports.empty()) {
      return ports;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {};
}

/// Polls an agent's /readyz on loopback until it answers 200; false after `timeout`.
inline bool waitReady(std::uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    agent::HttpClient client("127.0.0.1", port, std::chrono::seconds(2));
    auto r = client.get("/readyz");
    if (r.ok() && r->status == 200) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

/// While in scope, agents started get AddressSanitizer's quarantine turned off. Under ASan freed
/// memory waits in a quarantine (256 MiB by default) before it is reused, so resident memory grows
/// with every allocation and a memory bound would measure the quarantine; without it the bound
/// measures the agent again (leaks are still reported when it exits). Builds without ASan ignore
/// the variable.
class NoAsanQuarantine {
 public:
  NoAsanQuarantine() {
    const char* old = std::getenv("ASAN_OPTIONS");
    if (old != nullptr) {
      old_ = old;
    }
    const std::string options = (old_ ? *old_ + ":" : std::string()) +
                                "quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
    setenv("ASAN_OPTIONS", options.c_str(), 1);
  }

  ~NoAsanQuarantine() {
    if (old_) {
      setenv("ASAN_OPTIONS", old_->c_str(), 1);
    } else {
      unsetenv("ASAN_OPTIONS");
    }
  }

  NoAsanQuarantine(const NoAsanQuarantine&) = delete;
  NoAsanQuarantine& operator=(const NoAsanQuarantine&) = delete;

 private:
  std::optional<std::string> old_;
};

/// `podnetstat serve --listen 127.0.0.1:0 --port-file <tmp> ARGS...`, ready (a first snapshot)
/// when the constructor returns. No pod sources unless ARGS name some. The destructor stops it.
class ServeProcess {
 public:
  explicit ServeProcess(const std::vector<std::string>& args,
                        std::chrono::milliseconds ready_timeout = std::chrono::seconds(30)) {
    std::vector<std::string> argv{
        podnetstatBinary().string(), "serve",       "--listen", "127.0.0.1:0", "--port-file",
        port_file_.string(),         "--log-level", "warn"};
    const auto has = [&](const std::string& flag) {
      for (const auto& a : args) {
        if (a == flag) {
          return true;
        }
      }
      return false;
    };
    for (const char* source : {"--cri-endpoint", "--kubelet-url", "--pod-log-dir"}) {
      if (!has(source)) {
        argv.emplace_back(source);
        argv.emplace_back("none");
      }
    }
    argv.insert(argv.end(), args.begin(), args.end());
    process_ = std::make_unique<Subprocess>(argv);
    const auto deadline = std::chrono::steady_clock::now() + ready_timeout;
    while (port_ == 0) {
      const std::vector<std::uint16_t> ports =
          waitForPorts(port_file_, std::chrono::milliseconds(200));
      if (!ports.empty() && ports.front() > 0) {
        port_ = ports.front();
      } else if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("podnetstat serve did not write its port file");
      }
    }
    while (!waitReady(port_, std::chrono::milliseconds(200))) {
      if (!process_->running() || std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("podnetstat serve did not get ready");
      }
    }
  }

  std::uint16_t port() const { return port_; }

  pid_t pid() const { return process_->pid(); }

  bool running() { return process_->running(); }

  Subprocess& process() { return *process_; }

  long fds() const { return fdCount(pid()); }

  long rss() const { return rssKib(pid()); }

  /// Resident anonymous memory (heap, stacks) in KiB: RSS without the pages of mapped files.
  long rssAnon() const { return statusKib(pid(), "RssAnon"); }

  /// The value of the first sample of `metric` (a full series name, e.g. "x_count" or
  /// `x{a="b"}`) in /metrics; nullopt when the request fails or the series is missing.
  std::optional<double> metric(const std::string& series) const {
    agent::HttpClient client("127.0.0.1", port_, std::chrono::seconds(5));
    auto r = client.get("/metrics");
    if (!r.ok() || r->status != 200) {
      return std::nullopt;
    }
    std::istringstream lines(r->body);
    for (std::string line; std::getline(lines, line);) {
      if (line.starts_with(series + " ")) {
        return std::stod(line.substr(series.size() + 1));
      }
    }
    return std::nullopt;
  }

  /// Scans finished since start (the scan duration histogram's count).
  long scans() const {
    return static_cast<long>(metric("podnetstat_scan_duration_seconds_count").value_or(-1));
  }

 private:
  ScratchDir dir_{"pns-serve-"};
  std::filesystem::path port_file_ = dir_.path() / "port";
  std::unique_ptr<Subprocess> process_;
  std::uint16_t port_ = 0;
};

}  // namespace podnetstat::testing
