#pragma once

// An in-process agent for the API tests: started, and answering /readyz (a first snapshot
// published), or an exception that says which of the two failed.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <utility>

#include "podnetstat/agent/api/api_server.h"

#include "serve_process.h"

namespace podnetstat::testing {

inline std::unique_ptr<agent::ApiServer> startReadyApiServer(
    agent::ApiServerOptions options, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  auto server = std::make_unique<agent::ApiServer>(std::move(options));
  if (auto started = server->start(); !started) {
    throw std::runtime_error(started.error().message);
  }
  if (!waitReady(server->port(), timeout)) {
    server->stop(std::chrono::seconds(1));
    throw std::runtime_error("the agent did not get ready");
  }
  return server;
}

}  // namespace podnetstat::testing
