#pragma once

// A fixture for the live API tests: a network namespace of the test's own, and an in-process
// agent that scans only that namespace (through netlink, entering it: no process lives there)
// every 100 ms, with short watch limits (keep-alive 300 ms, longest watch 20 s).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/scanner/scan.h"

#include "http_client.h"
#include "netns.h"
#include "ready_api_server.h"

namespace podnetstat::testing {

class NamespaceAgentTest : public ::testing::Test {
 protected:
  /// Makes the namespace (`prefix` and the PID) and starts the agent; `adjust`, when given,
  /// changes each scan before the agent sees it (it runs on the agent's scan thread).
  void startAgent(const std::string& prefix,
                  std::function<void(scanner::ScanResult&)> adjust = {}) {
    ns_ = std::make_unique<NetNamespace>(prefix);
    agent::ApiServerOptions options;
    options.listen = {"127.0.0.1", 0};
    options.refresh = std::chrono::milliseconds(100);
    options.node_name = "test-node";
    options.roots.netns_dir = netnsDir();
    options.watch.keep_alive = std::chrono::milliseconds(300);
    options.watch.max_timeout = std::chrono::seconds(20);
    auto scanner = std::make_shared<scanner::Scanner>(options.roots, 1);
    options.scan = [scanner, name = ns_->name(), adjust = std::move(adjust)]() {
      scanner::ScanOptions o;
      o.no_host_network = true;
      o.netns_names = {name};
      o.pid = true;
      o.backend = scanner::Backend::Netlink;  // no process lives in the namespace: enter it
      auto scan = scanner->scan(o);
      if (scan && adjust) {
        adjust(*scan);
      }
      return scan;
    };
    server_ = startReadyApiServer(options);
  }

  void TearDown() override {
    if (server_) {
      server_->stop(std::chrono::seconds(1));
    }
    server_.reset();
    ns_.reset();
  }

  /// The body of a GET of `target`, which must be a 200 with JSON.
  nlohmann::json list(const std::string& target) {
    agent::HttpClient client("127.0.0.1", server_->port(), std::chrono::seconds(5));
    auto r = client.get(target);
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r->status, 200U) << r->body;
    return nlohmann::json::parse(r->body);
  }

  /// Waits until the agent has published at least `scans` more snapshots.
  void waitScans(int scans) {
    const auto version = [this] {
      return std::stoull(list("/api/v1/listeners")["resourceVersion"].get<std::string>());
    };
    const auto start = version();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (version() >= start + static_cast<unsigned>(scans)) {
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL() << "no new scans";
  }

  std::unique_ptr<NetNamespace> ns_;
  std::unique_ptr<agent::ApiServer> server_;
};

}  // namespace podnetstat::testing
