#include "podnetstat/agent/api/listeners.h"

#include <string>
#include <string_view>
#include <utility>

#include "podnetstat/agent/api/socket_list.h"
#include "podnetstat/agent/render/tcp_info_text.h"

namespace podnetstat::agent {
namespace {

// Pieces of a listener list are sent at about this size (as the socket lists are).
constexpr std::size_t kChunkBytes = 16 * 1024;

class ListenerStream : public BodyStream {
 public:
  ListenerStream(std::shared_ptr<const SnapshotPages> pages, ListenerQuery query)
      : pages_(std::move(pages)),
        query_(std::move(query)),
        pod_allowed_(podsAllowed(pages_->snapshot(), query_.sockets)) {
    if (query_.sockets.netns) {
      netns_ = pages_->snapshot().findNetns(*query_.sockets.netns);
      no_match_ = netns_ < 0;
    }
  }

  bool next(std::string& out) override {
    const bool json = query_.sockets.format == OutputFormat::Json;
    if (!started_) {
      started_ = true;
      out += json ? pages_->listHead() : pages_->listenerTableHeader();
    }
    const auto& all = pages_->snapshot().listeners().listeners();
    while (out.size() < kChunkBytes && pos_ < all.size()) {
      const std::size_t i = pos_++;
      if (!selects(all[i])) {
        continue;
      }
      if (json) {
        if (!first_) {
          out += ',';
        }
        first_ = false;
        const std::string_view socket =
            pages_->socketsJson(all[i].socket, all[i].socket + 1, query_.sockets.tcp_info);
        out += socket.substr(0, socket.size() - 1);  // without its closing brace
        out += pages_->listenerJsonTail(i);
      } else {
        out += pages_->listenerTableRow(i);
        if (query_.sockets.tcp_info) {
          appendSsTcpInfoLine(out, pages_->snapshot().scan().sockets[all[i].socket]);
        }
      }
    }
    if (pos_ < all.size()) {
      return true;
    }
    if (json) {
      out += "]}\n";
    }
    return false;
  }

 private:
  bool selects(const Listener& l) const {
    if (no_match_ || !query_.exposures[static_cast<std::size_t>(l.exposure)]) {
      return false;
    }
    if (query_.declared && l.declared != query_.declared) {
      return false;
    }
    const auto& scan = pages_->snapshot().scan();
    const scanner::Socket& s = scan.sockets[l.socket];
    if (netns_ >= 0 && s.netns_index != static_cast<std::uint32_t>(netns_)) {
      return false;
    }
    if (!pod_allowed_.empty()) {
      const std::uint32_t pod = pages_->snapshot().socketPod(l.socket);
      if (pod == kNoPod || pod_allowed_[pod] == 0) {
        return false;
      }
    }
    return query_.sockets.filter(s, scan);
  }

  std::shared_ptr<const SnapshotPages> pages_;
  ListenerQuery query_;
  std::vector<char> pod_allowed_;  // by pod number; empty: no pod restriction
  std::int64_t netns_ = -1;
  bool no_match_ = false;
  std::size_t pos_ = 0;
  bool started_ = false;
  bool first_ = true;
};

Error paramError(std::string_view name, std::string_view what) {
  return Error{"parameter '" + std::string(name) + "': " + std::string(what), ErrorKind::Invalid};
}

}  // namespace

Result<ListenerQuery> parseListenerQuery(const std::vector<QueryParam>& params) {
  ListenerQuery q;
  std::vector<QueryParam> socket_params;
  bool exposure_seen = false;
  bool declared_seen = false;
  for (const QueryParam& param : params) {
    if (param.name == "exposure") {
      if (param.value.empty()) {
        return paramError(param.name, "empty value");
      }
      if (!exposure_seen) {
        q.exposures.fill(false);
        exposure_seen = true;
      }
      std::size_t start = 0;
      for (;;) {
        const std::size_t comma = param.value.find(',', start);
        const std::string item = param.value.substr(start, comma - start);
        const auto e = k8s::exposureFromName(item);
        if (!e) {
          return paramError(param.name, "unknown exposure '" + item + "' (loopback, pod, node)");
        }
        q.exposures[static_cast<std::size_t>(*e)] = true;
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
    } else if (param.name == "declared") {
      if (declared_seen) {
        return paramError(param.name, "given more than once");
      }
      declared_seen = true;
      const auto declared = parseBoolParam(param.name, param.value);
      if (!declared) {
        return declared.error();
      }
      q.declared = *declared;
    } else {
      socket_params.push_back(param);
    }
  }
  auto sockets = parseSocketQuery(socket_params);
  if (!sockets) {
    std::string message = sockets.error().message;
    // The socket list names its own parameters; a listener list has two more.
    if (const auto at = message.find(kSocketQueryParams); at != std::string::npos) {
      message.replace(at, std::string_view(kSocketQueryParams).size(), kListenerQueryParams);
    }
    return Error{std::move(message)};
  }
  q.sockets = std::move(*sockets);
  return q;
}

std::shared_ptr<BodyStream> makeListenerStream(std::shared_ptr<const SnapshotPages> pages,
                                               const ListenerQuery& query) {
  return std::make_shared<ListenerStream>(std::move(pages), query);
}

}  // namespace podnetstat::agent
