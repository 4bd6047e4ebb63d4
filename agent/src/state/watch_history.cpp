// One diff per scan: index the new scan's sockets by identity with a fingerprint of their
// meaningful fields, compare with the previous scan's index (added, modified, deleted), and copy
// the sockets the events carry into a small scan of the diff's own; then the same for the pods,
// by UID, carrying their JSON.

#include "podnetstat/agent/state/watch_history.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>
#include <utility>

namespace podnetstat::agent {
namespace {

constexpr std::array<const char*, 3> kEventNames = {"ADDED", "MODIFIED", "DELETED"};

constexpr std::uint64_t kSeed = 0x84222325cbf29ce4ULL;

// A multiply-xorshift combine: the hashes and fingerprints run over every socket of every scan.
void mix(std::uint64_t& h, std::uint64_t v) {
  h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
  h ^= h >> 29;
}

void mix(std::uint64_t& h, std::string_view text) {
  std::uint64_t word = 0;
  for (std::size_t i = 0; i < text.size(); i += 8) {
    word = 0;
    std::memcpy(&word, text.data() + i, std::min<std::size_t>(8, text.size() - i));
    mix(h, word);
  }
  mix(h, text.size());
}

void mix(std::uint64_t& h, const scanner::Endpoint& e) {
  std::uint64_t words[2];
  std::memcpy(words, e.ip.bytes.data(), sizeof words);
  mix(h, words[0]);
  mix(h, words[1]);
  mix(h, (static_cast<std::uint64_t>(e.ip.v6) << 16) | e.port);
}

/// The fields whose change makes a MODIFIED event: state, owners, pod and container, and a
/// listener's exposure and declaration.
std::uint64_t fingerprintOf(const Snapshot& snapshot, std::uint32_t i, const Listener* listener) {
  const auto& scan = snapshot.scan();
  const scanner::Socket& s = scan.sockets[i];
  std::uint64_t h = kSeed;
  mix(h, s.state);
  mix(h, s.unix_flags & scanner::kUnixFlagAcceptCon);
  for (const std::uint32_t p : scan.owners(s)) {
    mix(h, static_cast<std::uint64_t>(scan.processes[p].pid));
  }
  if (const auto pod = snapshot.socketPodOf(i)) {
    mix(h, pod->pod->uid);
    if (pod->container != nullptr) {
      mix(h, pod->container->id);
    }
  } else {
    mix(h, std::uint64_t{0});
  }
  if (listener != nullptr) {
    mix(h, static_cast<std::uint64_t>(listener->exposure) + 1);
    mix(h, listener->declared ? (*listener->declared ? 2U : 1U) : 0U);
  }
  return h;
}

/// The fields of a pod whose change makes a MODIFIED event (not its socket counts).
std::uint64_t podFingerprintOf(const k8s::Pod& pod, std::uint32_t late_listeners) {
  std::uint64_t h = kSeed;
  mix(h, pod.namespace_name.value_or(""));
  mix(h, pod.namespace_name ? 1U : 0U);
  mix(h, pod.name.value_or(""));
  mix(h, pod.name ? 1U : 0U);
  mix(h, pod.host_network ? 1U : 0U);
  for (const std::string& ip : pod.ips) {
    mix(h, ip);
  }
  mix(h, pod.ips.size());
  mix(h, pod.netns_inode.value_or(0));
  for (const k8s::PodContainer& c : pod.containers) {
    mix(h, c.id);
    mix(h, c.name.value_or(""));
    for (const std::int32_t pid : c.pids) {
      mix(h, static_cast<std::uint64_t>(pid));
    }
    mix(h, c.pids.size());
  }
  mix(h, pod.containers.size());
  mix(h, std::uint64_t{late_listeners});
  return h;
}

/// Copies sockets of scans into one small scan, with the namespaces and processes they name.
class DiffScanBuilder {
 public:
  explicit DiffScanBuilder(scanner::ScanResult& out) : out_(out) {}

  /// Appends scan.sockets[i]; returns its index in the small scan.
  std::uint32_t add(const scanner::ScanResult& scan, std::uint32_t i) {
    scanner::Socket s = scan.sockets[i];
    const scanner::NetNamespace& ns = scan.namespaces[s.netns_index];
    auto [ns_it, ns_new] =
        namespaces_.try_emplace(ns.inode, static_cast<std::uint32_t>(out_.namespaces.size()));
    if (ns_new) {
      out_.namespaces.push_back(ns);
    }
    s.netns_index = ns_it->second;
    const auto owners = scan.owners(scan.sockets[i]);
    s.owners_begin = static_cast<std::uint32_t>(out_.owner_table.size());
    s.owners_count = static_cast<std::uint32_t>(owners.size());
    for (const std::uint32_t p : owners) {
      out_.owner_table.push_back(static_cast<std::uint32_t>(out_.processes.size()));
      out_.processes.push_back(scan.processes[p]);
    }
    out_.sockets.push_back(std::move(s));
    return static_cast<std::uint32_t>(out_.sockets.size() - 1);
  }

 private:
  scanner::ScanResult& out_;
  std::unordered_map<std::uint64_t, std::uint32_t> namespaces_;
};

/// For every socket of the snapshot, the index of its listener, or -1.
std::vector<std::int32_t> listenerIndexes(const Snapshot& snapshot) {
  std::vector<std::int32_t> out(snapshot.scan().sockets.size(), -1);
  const auto& listeners = snapshot.listeners().listeners();
  for (std::size_t l = 0; l < listeners.size(); ++l) {
    out[listeners[l].socket] = static_cast<std::int32_t>(l);
  }
  return out;
}

}  // namespace

const char* watchEventName(WatchEventType type) {
  return kEventNames[static_cast<std::size_t>(type)];
}

std::size_t SocketKeyHash::operator()(const SocketKey& k) const noexcept {
  std::uint64_t h = kSeed;
  mix(h, k.netns_inode);
  mix(h, k.inode);
  mix(h, static_cast<std::uint64_t>(k.transport));
  if (k.inode == 0) {
    mix(h, k.local);
    mix(h, k.remote);
  }
  return static_cast<std::size_t>(h);
}

SocketKey socketKeyOf(const scanner::ScanResult& scan, std::uint32_t i) {
  const scanner::Socket& s = scan.sockets[i];
  SocketKey key;
  key.netns_inode = scan.namespaces[s.netns_index].inode;
  key.transport = s.transport;
  key.inode = s.inode;
  if (s.inode == 0) {
    key.local = s.local;
    key.remote = s.remote;
  }
  return key;
}

WatchHistory::WatchHistory(std::size_t max_scans, std::size_t max_events)
    : max_scans_(max_scans == 0 ? 1 : max_scans), max_events_(max_events) {}

std::shared_ptr<ScanDiff> WatchHistory::diff(const SnapshotPages& pages,
                                             const std::vector<SocketKey>& keys,
                                             const SeenMap& seen) const {
  auto out = std::make_shared<ScanDiff>();
  out->generation = pages.resourceVersion();
  DiffScanBuilder builder(out->scan);
  const auto object = [&](const SnapshotPages& from, const std::vector<std::int32_t>& listeners,
                          std::uint32_t i) {
    const Snapshot& s = from.snapshot();
    WatchObject o;
    const std::string_view json = from.socketsJson(i, i + 1);
    o.json = json.substr(0, json.size() - 1);  // without its closing brace
    if (const auto pod = s.socketPodOf(i)) {
      o.has_pod = true;
      o.pod_uid = pod->pod->uid;
      o.pod_namespace = pod->pod->namespace_name.value_or("");
      o.pod_name = pod->pod->name.value_or("");
      if (pod->container != nullptr) {
        o.container_id = pod->container->id;
        o.container_name = pod->container->name;
      }
    }
    const std::uint32_t index = builder.add(s.scan(), i);
    if (listeners[i] >= 0) {
      o.listener = s.listeners().listeners()[static_cast<std::size_t>(listeners[i])];
      o.listener->socket = index;
      o.listener_tail = from.listenerJsonTail(static_cast<std::size_t>(listeners[i]));
    }
    out->objects.push_back(std::move(o));
    return static_cast<std::int32_t>(out->objects.size() - 1);
  };

  const Snapshot& now = pages.snapshot();
  const auto now_listeners = listenerIndexes(now);
  const auto old_listeners =
      previous_ ? listenerIndexes(previous_->snapshot()) : std::vector<std::int32_t>{};
  const auto& sockets = now.scan().sockets;
  for (std::uint32_t i = 0; i < sockets.size(); ++i) {
    const SocketKey& key = keys[i];
    const auto before = previous_seen_.find(key);
    const auto here = seen.find(key);
    if (here == seen.end() || here->second.index != i) {
      continue;  // a second socket with the same identity in one scan: the first one counts
    }
    if (before == previous_seen_.end()) {
      out->events.push_back({WatchEventType::Added, -1, object(pages, now_listeners, i)});
    } else if (before->second.fingerprint != here->second.fingerprint) {
      const std::int32_t old_object = object(*previous_, old_listeners, before->second.index);
      out->events.push_back(
          {WatchEventType::Modified, old_object, object(pages, now_listeners, i)});
    }
  }
  if (previous_) {
    // Deleted ones in the previous scan's order.
    const auto& old_sockets = previous_->snapshot().scan().sockets;
    for (std::uint32_t i = 0; i < old_sockets.size(); ++i) {
      const SocketKey& key = previous_keys_[i];
      const auto before = previous_seen_.find(key);
      if (before == previous_seen_.end() || before->second.index != i || seen.contains(key)) {
        continue;
      }
      out->events.push_back({WatchEventType::Deleted, object(*previous_, old_listeners, i), -1});
    }
  }
  diffPods(pages, *out);
  return out;
}

void WatchHistory::diffPods(const SnapshotPages& pages, ScanDiff& out) const {
  const auto object = [&](const SnapshotPages& from, std::uint32_t p) {
    const k8s::Pod& pod = from.snapshot().podIndex().pods()[p];
    out.pod_objects.push_back({from.podJson(p), pod.namespace_name});
    return static_cast<std::int32_t>(out.pod_objects.size() - 1);
  };
  const auto pods = pages.snapshot().podIndex().pods();
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    const auto here = pods_seen_.find(pods[p].uid);
    if (here == pods_seen_.end() || here->second.index != p) {
      continue;  // a second pod with the same UID: the first one counts
    }
    const auto before = previous_pods_.find(pods[p].uid);
    if (before == previous_pods_.end()) {
      out.pod_events.push_back({WatchEventType::Added, -1, object(pages, p)});
    } else if (before->second.fingerprint != here->second.fingerprint) {
      const std::int32_t old_object = object(*previous_, before->second.index);
      out.pod_events.push_back({WatchEventType::Modified, old_object, object(pages, p)});
    }
  }
  const auto old_pods = previous_->snapshot().podIndex().pods();
  for (std::uint32_t p = 0; p < old_pods.size(); ++p) {
    const auto before = previous_pods_.find(old_pods[p].uid);
    if (before == previous_pods_.end() || before->second.index != p ||
        pods_seen_.contains(old_pods[p].uid)) {
      continue;
    }
    out.pod_events.push_back({WatchEventType::Deleted, object(*previous_, p), -1});
  }
}

std::shared_ptr<const ScanDiff> WatchHistory::record(
    const std::shared_ptr<const SnapshotPages>& pages) {
  const Snapshot& now = pages->snapshot();
  const auto listeners = listenerIndexes(now);
  const auto& all = now.listeners().listeners();
  const auto n = static_cast<std::uint32_t>(now.scan().sockets.size());
  std::vector<SocketKey> keys;
  keys.reserve(n);
  SeenMap seen;
  seen.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const Listener* l = listeners[i] >= 0 ? &all[static_cast<std::size_t>(listeners[i])] : nullptr;
    keys.push_back(socketKeyOf(now.scan(), i));
    seen.try_emplace(keys.back(), Seen{i, fingerprintOf(now, i, l)});
  }
  const auto pods = now.podIndex().pods();
  pods_seen_.clear();
  pods_seen_.reserve(pods.size());
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    pods_seen_.try_emplace(pods[p].uid,
                           Seen{p, podFingerprintOf(pods[p], pages->lateListeners(p))});
  }
  std::shared_ptr<const ScanDiff> result;
  if (previous_) {
    result = diff(*pages, keys, seen);
  }
  previous_ = pages;
  previous_seen_ = std::move(seen);
  previous_keys_ = std::move(keys);
  std::swap(previous_pods_, pods_seen_);

  std::vector<std::function<void()>> wake;
  {
    std::lock_guard lock(mu_);
    generation_ = pages->resourceVersion();
    if (result) {
      events_ += result->events.size() + result->pod_events.size();
      diffs_.push_back(result);
      while (diffs_.size() > max_scans_ || (diffs_.size() > 1 && events_ > max_events_)) {
        events_ -= diffs_.front()->events.size() + diffs_.front()->pod_events.size();
        diffs_.pop_front();
      }
    } else {
      diffs_.clear();  // a new beginning: nothing before it can be resumed
      events_ = 0;
    }
    first_generation_ = diffs_.empty() ? generation_ : diffs_.front()->generation - 1;
    wake.reserve(subscribers_.size());
    for (const auto& [id, w] : subscribers_) {
      wake.push_back(w);
    }
  }
  for (const auto& w : wake) {
    w();
  }
  return result;
}

std::optional<std::vector<std::shared_ptr<const ScanDiff>>> WatchHistory::since(
    std::uint64_t generation) const {
  std::lock_guard lock(mu_);
  if (generation < first_generation_ || generation > generation_ || generation_ == 0) {
    return std::nullopt;
  }
  std::vector<std::shared_ptr<const ScanDiff>> out;
  for (const auto& d : diffs_) {
    if (d->generation > generation) {
      out.push_back(d);
    }
  }
  return out;
}

std::uint64_t WatchHistory::generation() const {
  std::lock_guard lock(mu_);
  return generation_;
}

std::uint64_t WatchHistory::subscribe(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  const std::uint64_t id = next_subscriber_++;
  subscribers_.emplace(id, std::move(wake));
  return id;
}

void WatchHistory::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  subscribers_.erase(id);
}

}  // namespace podnetstat::agent
