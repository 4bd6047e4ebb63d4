#pragma once

// Work per node, in parallel on at most `parallel` threads (each holds one kubectl
// port-forward at a time), each node's work bounded by its own deadline. A node that fails or
// runs out of time does not stop the others: its error is its result.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "podnetstat/agent/plugin/child_process.h"
#include "podnetstat/scanner/result.h"

namespace podnetstat::agent::plugin {

template <class T>
struct NodeResult {
  std::string node;
  Result<T> value;
};

/// Runs `work(node, deadline)` for every node, `parallel` at a time, the deadline `timeout` after
/// the node's work starts. The work must give up by its deadline (every step of a session is
/// bounded by it). Results in the order of `nodes`.
template <class T>
std::vector<NodeResult<T>> forEachNode(
    const std::vector<std::string>& nodes,
    std::size_t parallel,
    std::chrono::milliseconds timeout,
    const std::function<Result<T>(const std::string& node, Deadline deadline)>& work);

/// The untyped core of forEachNode: runs task(i) for i in [0, count) on at most `parallel`
/// threads (the calling thread is one of them).
void runBounded(std::size_t count,
                std::size_t parallel,
                const std::function<void(std::size_t)>& task);

template <class T>
std::vector<NodeResult<T>> forEachNode(
    const std::vector<std::string>& nodes,
    std::size_t parallel,
    std::chrono::milliseconds timeout,
    const std::function<Result<T>(const std::string& node, Deadline deadline)>& work) {
  std::vector<NodeResult<T>> results;
  results.reserve(nodes.size());
  for (const auto& node : nodes) {
    results.push_back({node, Error{"not asked"}});
  }
  runBounded(nodes.size(), parallel,
             [&](std::size_t i) { results[i].value = work(nodes[i], Clock::now() + timeout); });
  return results;
}

}  // namespace podnetstat::agent::plugin
