#include "podnetstat/agent/api/socket_list.h"

#include <utility>

namespace podnetstat::agent {
namespace {

// The size of the pieces a list is sent in: what each client receiving a list holds in memory
// (about twice this, with the copy on its way to the socket).
constexpr std::size_t kChunkBytes = 16 * 1024;

class SocketListStream : public BodyStream {
 public:
  SocketListStream(std::shared_ptr<const SnapshotPages> pages,
                   std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges,
                   scanner::Filter filter,
                   OutputFormat format,
                   bool tcp_info,
                   scanner::TransportSet transports,
                   std::vector<char> pod_allowed)
      : pages_(std::move(pages)),
        ranges_(std::move(ranges)),
        filter_(std::move(filter)),
        format_(format),
        tcp_info_(tcp_info),
        pod_allowed_(std::move(pod_allowed)) {
    const bool any_inet = [&] {
      for (auto t : scanner::kAllTransports) {
        if (t != scanner::Transport::Unix && transports.contains(t)) {
          return true;
        }
      }
      return false;
    }();
    if (format_ == OutputFormat::Json) {
      passes_ = {Pass::All};
    } else {
      // netstat prints the inet block, then the unix block, each under its own header.
      if (any_inet) {
        passes_.push_back(Pass::Inet);
      }
      if (transports.contains(scanner::Transport::Unix)) {
        passes_.push_back(Pass::Unix);
      }
    }
    resetPass();
  }

  bool next(std::string& out) override {
    if (!started_) {
      started_ = true;
      if (format_ == OutputFormat::Json) {
        out += pages_->listHead();
      }
    }
    while (out.size() < kChunkBytes && pass_ < passes_.size()) {
      if (!header_done_) {
        header_done_ = true;
        if (format_ == OutputFormat::Table) {
          out += pages_->tableHeader(passes_[pass_] == Pass::Inet);
        }
      }
      if (range_ >= ranges_.size()) {
        ++pass_;
        resetPass();
        continue;
      }
      const std::uint32_t end = ranges_[range_].second;
      if (pos_ >= end) {
        ++range_;
        if (range_ < ranges_.size()) {
          pos_ = ranges_[range_].first;
        }
        continue;
      }
      // A run of consecutive selected sockets is copied in one piece, as long as the piece stays
      // within kChunkBytes (a single socket may exceed it).
      const std::uint32_t run_begin = pos_;
      const std::size_t room = kChunkBytes > out.size() ? kChunkBytes - out.size() : 0;
      while (pos_ < end && selects(pos_) &&
             (pos_ == run_begin || runBytes(run_begin, pos_ + 1) <= room)) {
        ++pos_;
      }
      if (pos_ == run_begin) {
        ++pos_;
        continue;
      }
      if (format_ == OutputFormat::Json) {
        if (!first_item_) {
          out += ',';
        }
        first_item_ = false;
        out += pages_->socketsJson(run_begin, pos_, tcp_info_);
      } else {
        out += pages_->tableRows(run_begin, pos_, tcp_info_);
      }
    }
    if (pass_ < passes_.size()) {
      return true;
    }
    if (format_ == OutputFormat::Json) {
      out += "]}\n";
    }
    return false;
  }

 private:
  enum class Pass : std::uint8_t { All, Inet, Unix };

  void resetPass() {
    range_ = 0;
    pos_ = ranges_.empty() ? 0 : ranges_.front().first;
    header_done_ = false;
  }

  std::size_t runBytes(std::uint32_t first, std::uint32_t last) const {
    return format_ == OutputFormat::Json ? pages_->socketsJsonBytes(first, last, tcp_info_)
                                         : pages_->tableRowsBytes(first, last, tcp_info_);
  }

  bool selects(std::uint32_t i) const {
    const auto& s = pages_->snapshot().scan().sockets[i];
    const Pass pass = passes_[pass_];
    if (pass == Pass::Inet && s.transport == scanner::Transport::Unix) {
      return false;
    }
    if (pass == Pass::Unix && s.transport != scanner::Transport::Unix) {
      return false;
    }
    if (!pod_allowed_.empty()) {
      const std::uint32_t pod = pages_->snapshot().socketPod(i);
      if (pod == kNoPod || pod_allowed_[pod] == 0) {
        return false;
      }
    }
    return filter_(s, pages_->snapshot().scan());
  }

  std::shared_ptr<const SnapshotPages> pages_;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges_;
  scanner::Filter filter_;
  OutputFormat format_;
  bool tcp_info_;
  std::vector<char> pod_allowed_;  // by pod number; empty: no pod restriction
  std::vector<Pass> passes_;
  std::size_t pass_ = 0;
  std::size_t range_ = 0;
  std::uint32_t pos_ = 0;
  bool started_ = false;
  bool header_done_ = false;
  bool first_item_ = true;
};

}  // namespace

std::vector<char> podsAllowed(const Snapshot& snapshot,
                              const SocketQuery& query,
                              const k8s::Pod* only_pod) {
  if (!query.k8s_namespace && !query.pod && only_pod == nullptr) {
    return {};
  }
  const auto pods = snapshot.podIndex().pods();
  std::vector<char> allowed(pods.size() + 1, 0);  // one spare entry keeps it non-empty
  for (std::uint32_t p = 0; p < pods.size(); ++p) {
    const k8s::Pod& pod = pods[p];
    bool ok = only_pod == nullptr || &pod == only_pod;
    if (query.k8s_namespace) {
      ok = ok && pod.namespace_name == *query.k8s_namespace;
    }
    if (query.pod) {
      ok = ok && (pod.name == *query.pod || pod.uid == *query.pod);
    }
    allowed[p] = ok ? 1 : 0;
  }
  return allowed;
}

std::shared_ptr<BodyStream> makeSocketListStream(std::shared_ptr<const SnapshotPages> pages,
                                                 const SocketQuery& query,
                                                 const k8s::Pod* only_pod) {
  const Snapshot& snapshot = pages->snapshot();
  std::vector<char> pod_allowed = podsAllowed(snapshot, query, only_pod);
  std::vector<std::pair<std::uint32_t, std::uint32_t>> ranges;
  if (query.netns) {
    const auto index = snapshot.findNetns(*query.netns);
    if (index >= 0) {
      ranges.push_back(snapshot.netnsRange(static_cast<std::uint32_t>(index)));
    }
  } else {
    ranges.emplace_back(0, static_cast<std::uint32_t>(snapshot.scan().sockets.size()));
  }
  return std::make_shared<SocketListStream>(std::move(pages), std::move(ranges), query.filter,
                                            query.format, query.tcp_info, query.transports,
                                            std::move(pod_allowed));
}

}  // namespace podnetstat::agent
