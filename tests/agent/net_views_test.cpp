// The netstat views of the API (/api/v1/netns/{netns}/{interfaces,routes,stats,groups} and the
// same per pod): their query rules, and live, on namespaces made here, that each table is the
// text `podnetstat list` prints for the same namespace (and netstat inside it), that the JSON
// carries what was set up (routes, groups, moved counters, MTU and flags with netlink), that an
// unknown namespace or pod is 404 and a vanished namespace 503.

#include "podnetstat/agent/api/net_views.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_handler.h"
#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"

#include "netns.h"
#include "run_podnetstat.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// --- query rules ------------------------------------------------------------------------------

TEST(NetViewQueryTest, ViewsAreNamedAsTheirPaths) {
  EXPECT_EQ(netViewFromName("interfaces"), NetView::Interfaces);
  EXPECT_EQ(netViewFromName("routes"), NetView::Routes);
  EXPECT_EQ(netViewFromName("stats"), NetView::Stats);
  EXPECT_EQ(netViewFromName("groups"), NetView::Groups);
  EXPECT_FALSE(netViewFromName("sockets"));
  EXPECT_FALSE(netViewFromName(""));
}

TEST(NetViewQueryTest, EachViewTakesOnlyItsParameters) {
  auto q = parseNetViewQuery(NetView::Interfaces, {{"format", "table"}, {"all", "true"}});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->format, OutputFormat::Table);
  EXPECT_TRUE(q->all);
  auto r = parseNetViewQuery(NetView::Routes, {{"family", "inet6"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->ipv6, true);
  EXPECT_EQ(r->format, OutputFormat::Json);

  EXPECT_FALSE(parseNetViewQuery(NetView::Routes, {{"all", "true"}}).ok());
  EXPECT_FALSE(parseNetViewQuery(NetView::Stats, {{"family", "inet"}}).ok());
  EXPECT_FALSE(parseNetViewQuery(NetView::Interfaces, {{"all", "yes"}}).ok());
  EXPECT_FALSE(parseNetViewQuery(NetView::Groups, {{"family", "unix"}}).ok());
  EXPECT_FALSE(parseNetViewQuery(NetView::Groups, {{"format", "table"}, {"format", "json"}}).ok());
  const auto bad = parseNetViewQuery(NetView::Stats, {{"transport", "tcp"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("transport"), std::string::npos);
}

TEST(NetViewQueryTest, LinkFlagsAreCutToWhatNetstatSees) {
  scanner::LinkAttributes l{"eth0", 2, 1500, IFF_UP | IFF_RUNNING | 0x10000U, true};
  const auto infos = linkInfos({l});
  ASSERT_EQ(infos.size(), 1U);
  EXPECT_EQ(infos[0].flags, IFF_UP | IFF_RUNNING);
  EXPECT_EQ(infos[0].mtu, 1500U);
  l.has_mtu = false;
  EXPECT_FALSE(linkInfos({l})[0].mtu.has_value());
}

// --- live ---------------------------------------------------------------------------------------

constexpr const char* kPodUid = "0a1b2c3d-4e5f-4a6b-8c7d-0123456789ab";

class NetViewsLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    a_ = std::make_unique<testing::NetNamespace>("pnsva");
    b_ = std::make_unique<testing::NetNamespace>("pnsvb");
    veth_ = std::make_unique<testing::VethPair>(*a_, *b_);
    const auto& ad = veth_->addresses();
    a_->ip({"route", "add", "198.51.100.0/24", "via", ad.b_v4, "metric", "5"});
    a_->ip({"route", "add", "default", "via", ad.b_v4});
    a_->ip({"-6", "route", "add", "2001:db8:6::/48", "via", ad.b_v6, "metric", "12"});
    a_->ip({"link", "add", "pvd0", "type", "veth", "peer", "name", "pvd1"});  // left down

    v4_ = testing::joinGroupIn(*a_, "239.9.9.9", ad.a_v4);
    sendUdp(5);

    holder_ = std::make_unique<testing::Subprocess>(std::vector<std::string>{"sleep", "120"},
                                                    testing::SubprocessOptions{a_->name(), true});
    const std::string ns_link = "/proc/" + std::to_string(holder_->pid()) + "/ns/net";
    for (int i = 0; i < 100 && inodeOrZero(ns_link) != a_->inode(); ++i) {
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(inodeOrZero(ns_link), a_->inode());
  }

  /// `count` datagrams of 100 bytes from A to a closed port of B, 10 ms apart.
  void sendUdp(int count) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(9);
    ::inet_pton(AF_INET, veth_->addresses().b_v4.c_str(), &to.sin_addr);
    const std::string payload(100, 'v');
    for (int i = 0; i < count; ++i) {
      ::sendto(v4_->get(), payload.data(), payload.size(), 0,
               reinterpret_cast<const sockaddr*>(&to), sizeof to);
      std::this_thread::sleep_for(10ms);
    }
  }

  static std::uint64_t inodeOrZero(const std::string& path) {
    try {
      return testing::inodeOf(path);
    } catch (const std::exception&) {
      return 0;
    }
  }

  /// Scans `names` (only them) with `backend` and publishes the snapshot; with `pod`, the CRI
  /// answer names a pod shop/web-0 whose sandbox is the holder process in A.
  void publish(const std::vector<std::string>& names,
               scanner::Backend backend = scanner::Backend::Procfs,
               bool pod = false) {
    const scanner::Scanner scanner(scanner::Roots{"/proc", testing::netnsDir()});
    scanner::ScanOptions options;
    options.netns_names = names;
    options.backend = backend;
    options.cgroups = true;
    auto scan = scanner.scan(options);
    ASSERT_TRUE(scan.ok()) << scan.error().message;
    PodAttribution pods;
    if (pod) {
      k8s::CriSnapshot cri;
      cri.endpoint = "unix:///run/containerd/containerd.sock";
      k8s::CriPod web;
      web.uid = kPodUid;
      web.namespace_name = "shop";
      web.name = "web-0";
      web.sandbox_id = std::string(64, 'e');
      web.pid = holder_->pid();
      cri.pods = {web};
      auto metadata =
          std::make_shared<k8s::PodMetadata>(k8s::mergePodMetadata(&cri, nullptr, nullptr));
      pods.index = k8s::PodIndex::build(
          *scan, *metadata, k8s::NodeFiles(scanner::Roots{"/proc", testing::netnsDir()}));
      pods.metadata = metadata;
    }
    store_.publish(
        std::make_shared<const Snapshot>(std::move(*scan), "node-1", 1, std::move(pods)));
  }

  HttpResponse request(const std::string& target) const {
    NodeInfo node{"node-1", "6.1.0", scanner::Backend::Procfs};
    node.netns_dir = testing::netnsDir().string();
    ApiHandler handler(store_, metrics_, node, {}, false);
    return handler({"GET", target});
  }

  std::string get(const std::string& target, unsigned status = 200) const {
    const HttpResponse r = request(target);
    EXPECT_EQ(r.status, status) << target << ": " << r.body;
    return r.body;
  }

  json getJson(const std::string& target) const { return json::parse(get(target)); }

  /// Calls `ours` and `theirs` until two calls of `ours` around `theirs` agree (counters may move
  /// meanwhile: an IPv6 report, a neighbour probe), then expects equality.
  static void expectSame(const std::function<std::string()>& ours,
                         const std::function<std::string()>& theirs) {
    std::string a;
    std::string b;
    for (int attempt = 0; attempt < 5; ++attempt) {
      a = ours();
      b = theirs();
      if (a == ours()) {
        break;
      }
      std::this_thread::sleep_for(200ms);
    }
    EXPECT_EQ(a, b);
  }

  std::string viewPath(const std::string& view) const {
    return "/api/v1/netns/" + a_->name() + "/" + view;
  }

  std::string list(const std::vector<std::string>& flags) const {
    std::vector<std::string> args = {"list"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.insert(args.end(), {"--netns", a_->name()});
    const auto r = testing::runPodnetstat(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  std::unique_ptr<testing::NetNamespace> a_;
  std::unique_ptr<testing::NetNamespace> b_;
  std::unique_ptr<testing::VethPair> veth_;
  std::unique_ptr<testing::OwnedFd> v4_;
  std::unique_ptr<testing::Subprocess> holder_;
  SnapshotStore store_;
  ScanMetrics metrics_;
};

TEST_F(NetViewsLiveTest, RoutesTableIsWhatListAndNetstatPrint) {
  publish({a_->name()});
  const std::string table = get(viewPath("routes?format=table"));
  EXPECT_EQ(table, list({"-rn"}));
  EXPECT_EQ(table, a_->run({"netstat", "-rn"}).out);
  EXPECT_NE(table.find("198.51.100.0"), std::string::npos);
  // Link-local addresses finishing DAD add routes meanwhile: compare once the table holds still.
  expectSame([&] { return get(viewPath("routes?format=table&family=inet6")); },
             [&] {
               return list({"-rn", "-A", "inet6"});
             });
  expectSame([&] { return get(viewPath("routes?format=table&family=inet6")); },
             [&] {
               return a_->run({"netstat", "-rn", "-A", "inet6"}).out;
             });
}

TEST_F(NetViewsLiveTest, GroupsAndStatsTablesAreWhatListPrints) {
  publish({a_->name()});
  expectSame([&] { return get(viewPath("groups?format=table")); }, [&] { return list({"-gn"}); });
  EXPECT_NE(get(viewPath("groups?format=table")).find("239.9.9.9"), std::string::npos);
  expectSame([&] { return get(viewPath("stats?format=table")); }, [&] { return list({"-s"}); });
}

TEST_F(NetViewsLiveTest, InterfaceTableIsWhatListPrintsForTheBackend) {
  publish({a_->name()});
  expectSame([&] { return get(viewPath("interfaces?format=table")); },
             [&] { return list({"-i"}); });
  EXPECT_NE(get(viewPath("interfaces?format=table")).find("    - "), std::string::npos)
      << "procfs: no MTU";

  // With the netlink backend the agent asks the namespace for MTU and flags: netstat's table.
  publish({a_->name()}, scanner::Backend::Netlink);
  expectSame([&] { return get(viewPath("interfaces?format=table")); },
             [&] {
               return a_->run({"netstat", "-i"}).out;
             });
  expectSame([&] { return get(viewPath("interfaces?format=table&all=true")); },
             [&] {
               return a_->run({"netstat", "-ia"}).out;
             });
  expectSame([&] { return get(viewPath("interfaces?format=table&all=true")); },
             [&] {
               return list({"-ia", "--backend", "netlink"});
             });
}

TEST_F(NetViewsLiveTest, JsonCarriesRoutesGroupsCountersAndLinks) {
  publish({a_->name()}, scanner::Backend::Netlink);
  const json routes = getJson(viewPath("routes"));
  EXPECT_EQ(routes.at("netns").at("inode"), a_->inode());
  EXPECT_TRUE(routes.at("pod").is_null());
  bool via_b = false;
  bool v6 = false;
  for (const json& r : routes.at("items")) {
    if (r.at("destination") == "198.51.100.0") {
      via_b = r.at("gateway") == veth_->addresses().b_v4 && r.at("prefixLength") == 24 &&
              r.at("flags") == "UG" && r.at("metric") == 5 && r.at("family") == "inet";
    }
    if (r.at("destination") == "2001:db8:6::") {
      v6 = r.at("prefixLength") == 48 && r.at("metric") == 12 && r.at("family") == "inet6";
    }
  }
  EXPECT_TRUE(via_b) << routes.dump();
  EXPECT_TRUE(v6) << routes.dump();
  const json inet6 = getJson(viewPath("routes?family=inet6"));
  EXPECT_FALSE(inet6.at("items").empty());
  for (const json& r : inet6.at("items")) {
    EXPECT_EQ(r.at("family"), "inet6");
  }

  bool group = false;
  const json groups = getJson(viewPath("groups"));
  for (const json& g : groups.at("items")) {
    group = group || (g.at("group") == "239.9.9.9" && g.at("interface") == veth_->interfaceA() &&
                      g.at("users") == 1);
  }
  EXPECT_TRUE(group) << groups.dump();

  const json before = getJson(viewPath("stats")).at("counters");
  const json ifaces_before = getJson(viewPath("interfaces")).at("items");
  sendUdp(7);
  const json after = getJson(viewPath("stats")).at("counters");
  EXPECT_GE(after.at("UdpOutDatagrams").get<std::uint64_t>(),
            before.at("UdpOutDatagrams").get<std::uint64_t>() + 7);
  EXPECT_TRUE(after.contains("Ip6InReceives"));
  EXPECT_TRUE(after.contains("TcpExtListenOverflows"));

  const auto find = [&](const json& items, const std::string& name) -> json {
    for (const json& i : items) {
      if (i.at("name") == name) {
        return i;
      }
    }
    return json();
  };
  const json ifaces = getJson(viewPath("interfaces")).at("items");
  const json veth = find(ifaces, veth_->interfaceA());
  ASSERT_FALSE(veth.is_null());
  EXPECT_GE(
      veth.at("transmit").at("packets").get<std::uint64_t>(),
      find(ifaces_before, veth_->interfaceA()).at("transmit").at("packets").get<std::uint64_t>() +
          7);
  EXPECT_EQ(veth.at("mtu"), 1500);
  EXPECT_EQ(find(ifaces, "lo").at("mtu"), 65536);
  const auto has = [](const json& flags, const char* f) {
    return std::find(flags.begin(), flags.end(), f) != flags.end();
  };
  EXPECT_TRUE(has(veth.at("flags"), "UP"));
  EXPECT_TRUE(has(find(ifaces, "lo").at("flags"), "LOOPBACK"));
  EXPECT_FALSE(has(find(ifaces, "pvd0").at("flags"), "UP"));

  // procfs: no MTU and flags.
  publish({a_->name()});
  const json plain = find(getJson(viewPath("interfaces")).at("items"), "lo");
  EXPECT_TRUE(plain.at("mtu").is_null());
  EXPECT_TRUE(plain.at("flags").is_null());
}

TEST_F(NetViewsLiveTest, ByInodeAsByName) {
  publish({a_->name()});
  EXPECT_EQ(get("/api/v1/netns/" + std::to_string(a_->inode()) + "/routes?format=table"),
            get(viewPath("routes?format=table")));
}

TEST_F(NetViewsLiveTest, APodReadsItsNamespace) {
  publish({a_->name()}, scanner::Backend::Procfs, true);
  const std::string base = "/api/v1/namespaces/shop/pods/web-0/";
  EXPECT_EQ(get(base + "routes?format=table"), get(viewPath("routes?format=table")));
  EXPECT_EQ(get(base + "routes?format=table"), a_->run({"netstat", "-rn"}).out);
  const json groups = getJson(base + "groups");
  EXPECT_EQ(groups.at("pod").at("name"), "web-0");
  EXPECT_EQ(groups.at("pod").at("namespace"), "shop");
  EXPECT_EQ(groups.at("pod").at("uid"), kPodUid);
  EXPECT_EQ(groups.at("netns").at("inode"), a_->inode());
  get("/api/v1/namespaces/shop/pods/web-1/routes", 404);
  get("/api/v1/namespaces/other/pods/web-0/stats", 404);
  get("/api/v1/namespaces/shop/pods/web-0/sockets");  // still the socket list
  get(base + "nothing", 404);
}

TEST_F(NetViewsLiveTest, UnknownNamespaceIsNotFound) {
  publish({a_->name()});
  const std::string body = get("/api/v1/netns/no-such-netns/interfaces", 404);
  EXPECT_NE(body.find("no-such-netns"), std::string::npos);
  get("/api/v1/netns/" + a_->name() + "/sockets", 404);
  EXPECT_EQ(request(viewPath("routes")).status, 200U);
  NodeInfo node{"node-1", "6.1.0", scanner::Backend::Procfs};
  const ApiHandler handler(store_, metrics_, node, {}, false);
  EXPECT_EQ(handler({"POST", viewPath("routes")}).status, 405U);
  EXPECT_EQ(handler({"HEAD", viewPath("stats")}).status, 200U);
  const ApiHandler health(store_, metrics_, node, {}, true);
  EXPECT_EQ(health({"GET", viewPath("routes")}).status, 404U);  // no data on the health port
  store_.publish(std::shared_ptr<const SnapshotPages>());
  get(viewPath("routes"), 503);  // no snapshot
}

TEST_F(NetViewsLiveTest, ANamespaceWithoutProcessesIsReadFromInside) {
  // B has no process: only its name leads into it (CAP_SYS_ADMIN, which the live tests have).
  publish({b_->name()});
  EXPECT_EQ(get("/api/v1/netns/" + b_->name() + "/routes?format=table"),
            b_->run({"netstat", "-rn"}).out);
}

TEST_F(NetViewsLiveTest, AVanishedNamespaceIsUnavailable) {
  auto c = std::make_unique<testing::NetNamespace>("pnsvc");
  auto holder = std::make_unique<testing::Subprocess>(std::vector<std::string>{"sleep", "120"},
                                                      testing::SubprocessOptions{c->name(), true});
  const std::string ns_link = "/proc/" + std::to_string(holder->pid()) + "/ns/net";
  for (int i = 0; i < 100 && inodeOrZero(ns_link) != c->inode(); ++i) {
    std::this_thread::sleep_for(50ms);
  }
  publish({c->name()});
  const std::string path = "/api/v1/netns/" + c->name() + "/stats";
  get(path);
  holder.reset();
  c.reset();
  const HttpResponse r = request(path);
  EXPECT_EQ(r.status, 503U);
  EXPECT_NE(r.body.find("cannot be read now"), std::string::npos) << r.body;
  bool retry_after = false;
  for (const auto& [name, value] : r.headers) {
    retry_after = retry_after || name == "Retry-After";
  }
  EXPECT_TRUE(retry_after);
}

}  // namespace
}  // namespace podnetstat::agent
