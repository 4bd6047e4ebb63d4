#pragma once

// The current snapshot of the agent, as the pages requests read. Readers get a shared_ptr that
// stays valid however many snapshots are published after it.

#include <memory>
#include <mutex>

#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/snapshot_pages.h"

namespace podnetstat::agent {

class SnapshotStore {
 public:
  /// The current pages; null before the first snapshot.
  std::shared_ptr<const SnapshotPages> current() const {
    std::lock_guard lock(mu_);
    return current_;
  }

  void publish(std::shared_ptr<const SnapshotPages> pages) {
    std::lock_guard lock(mu_);
    current_.swap(pages);
    // The old pages are released outside the lock (when `pages` goes out of scope), unless a
    // request still holds them.
  }

  /// Renders the pages of `snapshot` (outside the lock) and publishes them.
  void publish(std::shared_ptr<const Snapshot> snapshot) {
    publish(std::make_shared<const SnapshotPages>(std::move(snapshot)));
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const SnapshotPages> current_;
};

}  // namespace podnetstat::agent
