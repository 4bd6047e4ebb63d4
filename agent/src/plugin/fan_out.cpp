#include "podnetstat/agent/plugin/fan_out.h"

#include <algorithm>
#include <atomic>
#include <thread>

namespace podnetstat::agent::plugin {

void runBounded(std::size_t count,
                std::size_t parallel,
                const std::function<void(std::size_t)>& task) {
  std::atomic<std::size_t> next{0};
  const auto worker = [&] {
    for (std::size_t i = next++; i < count; i = next++) {
      task(i);
    }
  };
  const std::size_t threads = std::clamp<std::size_t>(parallel, 1, std::max<std::size_t>(count, 1));
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  for (std::size_t t = 1; t < threads; ++t) {
    pool.emplace_back(worker);
  }
  worker();
  for (auto& t : pool) {
    t.join();
  }
}

}  // namespace podnetstat::agent::plugin
