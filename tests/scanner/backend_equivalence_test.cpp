// Live: the netlink sock_diag backend and the procfs backend see the same sockets with the same
// fields, in a namespace full of sockets of every transport.

#include <algorithm>
#include <map>
#include <sstream>
#include <tuple>

#include <gtest/gtest.h>

#include "podnetstat/scanner/scan.h"

#include "fixture_proc_root.h"
#include "netns.h"
#include "sockmaker.h"

namespace podnetstat::scanner {
namespace {

using testing::NetNamespace;
using testing::Sockmaker;

/// Everything both backends must agree on. Timer values move between two reads and sock_diag
/// has no reference counts, so those stay out; so do the accept-queue sockets (no fd, no
/// inode), which can only be told apart by their addresses.
std::string describe(const Socket& s) {
  std::ostringstream out;
  out << transportName(s.transport) << " inode=" << s.inode;
  if (s.transport == Transport::Unix) {
    out << " type=" << s.unix_type << " st=" << int{s.state} << " flags=" << s.unix_flags
        << " path=" << s.unix_path;
  } else {
    out << " " << s.local.ip.toString() << ":" << s.local.port << " " << s.remote.ip.toString()
        << ":" << s.remote.port << " state=" << int{s.state} << " tx=" << s.tx_queue
        << " rx=" << s.rx_queue << " uid=" << s.uid << " timer=" << int{s.timer.active};
  }
  return out.str();
}

std::multiset<std::string> describeAll(const ScanResult& r) {
  std::multiset<std::string> out;
  for (const Socket& s : r.sockets) {
    out.insert(describe(s));
  }
  return out;
}

class BackendEquivalence : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::liveTestSkipReason().empty() || !hasSysAdmin()) {
      return;
    }
    ns_ = new NetNamespace("pbe");
    maker_ = new Sockmaker(*ns_, {"--no-children"});
  }

  static void TearDownTestSuite() {
    delete maker_;
    delete ns_;
    maker_ = nullptr;
    ns_ = nullptr;
  }

  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    if (maker_ == nullptr) {
      GTEST_SKIP() << "needs CAP_SYS_ADMIN for the netlink backend";
    }
  }

  static bool hasSysAdmin() {
    ScanOptions o;
    o.backend = Backend::Auto;
    o.netns_pids = {static_cast<std::int32_t>(::getpid())};
    Scanner s(Roots{});
    auto r = s.scan(o);
    return r && r->backend == Backend::Netlink;
  }

  static ScanResult scan(Backend backend) {
    ScanOptions o;
    o.backend = backend;
    o.netns_names = {ns_->name()};
    Scanner s(Roots{});
    auto r = s.scan(o);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? std::move(r).value() : ScanResult{};
  }

  static NetNamespace* ns_;
  static Sockmaker* maker_;
};

NetNamespace* BackendEquivalence::ns_ = nullptr;
Sockmaker* BackendEquivalence::maker_ = nullptr;

TEST_F(BackendEquivalence, SameSocketsSameFields) {
  const ScanResult procfs = scan(Backend::Procfs);
  const ScanResult netlink = scan(Backend::Netlink);
  EXPECT_EQ(procfs.backend, Backend::Procfs);
  EXPECT_EQ(netlink.backend, Backend::Netlink);
  const auto a = describeAll(procfs);
  const auto b = describeAll(netlink);
  std::vector<std::string> only_procfs;
  std::vector<std::string> only_netlink;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(only_procfs));
  std::set_difference(b.begin(), b.end(), a.begin(), a.end(), std::back_inserter(only_netlink));
  for (const auto& s : only_procfs) {
    ADD_FAILURE() << "only in procfs: " << s;
  }
  for (const auto& s : only_netlink) {
    ADD_FAILURE() << "only in netlink: " << s;
  }
  EXPECT_GE(a.size(), 20U);
}

TEST_F(BackendEquivalence, OwnersDoNotDependOnTheBackend) {
  const ScanResult procfs = scan(Backend::Procfs);
  const ScanResult netlink = scan(Backend::Netlink);
  std::map<std::uint64_t, std::vector<std::int32_t>> owners_a;
  std::map<std::uint64_t, std::vector<std::int32_t>> owners_b;
  for (const auto* r : {&procfs, &netlink}) {
    auto& owners = r == &procfs ? owners_a : owners_b;
    for (const Socket& s : r->sockets) {
      for (const std::uint32_t i : r->owners(s)) {
        owners[s.inode].push_back(r->processes[i].pid);
      }
    }
  }
  EXPECT_EQ(owners_a, owners_b);
  EXPECT_FALSE(owners_a.empty());
}

TEST_F(BackendEquivalence, NetlinkReadsANamespaceWithNoProcess) {
  NetNamespace empty("pbe");
  ScanOptions o;
  o.backend = Backend::Netlink;
  o.netns_names = {empty.name()};
  Scanner s(Roots{});
  const auto r = s.scan(o);
  ASSERT_TRUE(r) << r.error().message;
  ASSERT_EQ(r->namespaces.size(), 1U);
  EXPECT_TRUE(r->namespaces[0].readable) << r->namespaces[0].error;
  EXPECT_TRUE(r->namespaces[0].pids.empty());

  o.backend = Backend::Procfs;
  const auto p = s.scan(o);
  ASSERT_TRUE(p);
  EXPECT_FALSE(p->namespaces[0].readable);
  EXPECT_NE(p->namespaces[0].error.find("no process"), std::string::npos);
}

}  // namespace
}  // namespace podnetstat::scanner
