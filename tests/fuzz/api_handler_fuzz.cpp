// libFuzzer target: request routing of the API: any method and target against a small
// hand-made snapshot, on the API handler and on the health-only one.

#include <cstdlib>
#include <memory>
#include <string>

#include "podnetstat/agent/api/api_handler.h"
#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/metrics.h"
#include "podnetstat/scanner/model.h"

#include "fuzz_targets.h"

namespace podnetstat::fuzz {
namespace {

using scanner::Transport;

scanner::Socket inet(Transport t,
                     std::string_view local,
                     std::uint16_t lport,
                     std::string_view remote,
                     std::uint16_t rport,
                     std::uint8_t state,
                     std::uint64_t inode,
                     std::uint32_t ns) {
  scanner::Socket s;
  s.transport = t;
  s.local = {*scanner::IpAddress::parse(local), lport};
  s.remote = {*scanner::IpAddress::parse(remote), rport};
  s.state = state;
  s.inode = inode;
  s.netns_index = ns;
  s.ref_count = 1;
  return s;
}

/// The host's namespace and "cni-a": a few inet sockets, a unix one, one without owner.
scanner::ScanResult smallScan() {
  scanner::ScanResult r;
  scanner::NetNamespace host;
  host.inode = 4026531840;
  host.is_host = true;
  host.pids = {1, 100};
  scanner::NetNamespace pod;
  pod.inode = 4026532001;
  pod.names = {"cni-a"};
  pod.pids = {200};
  r.namespaces = {host, pod};
  r.processes = {{100, 0, host.inode, "sshd", "sshd"}, {200, 101, pod.inode, "nginx", "nginx"}};
  r.owner_table = {0, 1};
  auto add = [&](scanner::Socket s, int owner) {
    if (owner >= 0) {
      s.owners_begin = static_cast<std::uint32_t>(owner);
      s.owners_count = 1;
    }
    r.sockets.push_back(std::move(s));
  };
  add(inet(Transport::Tcp, "0.0.0.0", 22, "0.0.0.0", 0, 10, 1001, 0), 0);
  add(inet(Transport::Udp, "0.0.0.0", 53, "0.0.0.0", 0, 7, 1003, 0), -1);
  scanner::Socket ux;
  ux.transport = Transport::Unix;
  ux.state = 1;
  ux.unix_type = 1;
  ux.unix_flags = scanner::kUnixFlagAcceptCon;
  ux.unix_path = "/run/x.sock";
  ux.unix_has_path = true;
  ux.inode = 1004;
  ux.ref_count = 2;
  add(ux, 0);
  add(inet(Transport::Tcp6, "::", 8080, "::", 0, 10, 2001, 1), 1);
  add(inet(Transport::Udp, "127.0.0.1", 5353, "127.0.0.1", 53, 1, 2002, 1), 1);
  r.started_unix_ms = 1'700'000'000'123;
  r.duration_ms = 12.5;
  return r;
}

struct Handlers {
  agent::SnapshotStore store;
  agent::ScanMetrics metrics;
  agent::ApiHandler api{store, metrics, {"node-1", "6.1.0", scanner::Backend::Procfs}, {}, false};
  agent::ApiHandler health{store, metrics, {"node-1", "6.1.0", scanner::Backend::Procfs}, {}, true};

  Handlers() {
    auto scan = smallScan();
    metrics.recordScan(scan, 0.0125, 1'700'000'000'500);
    store.publish(
        std::make_shared<const agent::Snapshot>(std::move(scan), "node-1", 1'700'000'000'500));
  }
};

void send(const agent::ApiHandler& handler, const agent::HttpRequest& request) {
  agent::HttpResponse response = handler(request);
  if (response.status < 100 || response.status > 599) {
    std::abort();
  }
  if (response.stream) {
    std::string body;
    while (response.stream->next(body)) {
    }
  }
}

}  // namespace

void fuzzApiHandler(std::string_view input) {
  static Handlers* const handlers = new Handlers();  // built once, never destroyed
  agent::HttpRequest request;
  const auto blank = input.find(' ');
  if (blank == std::string_view::npos) {
    request.method = "GET";
    request.target = std::string(input);
  } else {
    request.method = std::string(input.substr(0, blank));
    request.target = std::string(input.substr(blank + 1));
  }
  send(handlers->api, request);
  send(handlers->health, request);
}

}  // namespace podnetstat::fuzz

PODNETSTAT_FUZZ_ENTRY(podnetstat::fuzz::fuzzApiHandler)
