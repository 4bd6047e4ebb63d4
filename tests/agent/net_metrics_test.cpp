// The per-namespace network counters of /metrics (net_metrics.h): the exposition text of given
// counters, and live, on namespaces made here, that the series carry the pod and namespace labels
// and move with traffic sent on the test's own veth pair.

#include "podnetstat/agent/render/net_metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "podnetstat/agent/model/snapshot.h"
#include "podnetstat/agent/render/metrics.h"
#include "podnetstat/agent/render/snapshot_pages.h"
#include "podnetstat/agent/state/net_counters_reader.h"
#include "podnetstat/k8s/cri.h"
#include "podnetstat/k8s/pod_index.h"
#include "podnetstat/k8s/pod_metadata.h"

#include "netns.h"
#include "netstat_text.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using podnetstat::testing::splitLines;
using ::testing::HasSubstr;

TEST(NetCounterMetricsTest, SeriesCarryTheNamespaceLabelsAndTheirOwn) {
  NetnsCounters c;
  c.read = true;
  scanner::InterfaceStats eth;
  eth.name = "eth0";
  eth.rx_bytes = 1000;
  eth.tx_packets = 7;
  eth.rx_drop = 3;
  c.interfaces = {eth};
  c.tcp_retransmitted_segments = 12;
  c.tcp_listen_overflows = 2;
  c.tcp_listen_drops = 4;
  c.udp_receive_errors = 5;
  c.udp6_receive_errors = 6;
  c.udp_receive_buffer_errors = 1;
  NetnsCounters unread;  // its files could not be read: no series
  const std::string text = renderNetCounterMetrics(
      {c, unread},
      {R"(namespace="shop",pod="web-0",netns="cni-1")", R"(namespace="",pod="",netns="x")"});
  const auto ls = splitLines(text);
  const auto has = [&](const std::string& line) {
    return std::find(ls.begin(), ls.end(), line) != ls.end();
  };
  EXPECT_TRUE(has(
      R"(podnetstat_interface_receive_bytes_total{namespace="shop",pod="web-0",netns="cni-1",interface="eth0"} 1000)"));
  EXPECT_TRUE(has(
      R"(podnetstat_interface_transmit_packets_total{namespace="shop",pod="web-0",netns="cni-1",interface="eth0"} 7)"));
  EXPECT_TRUE(has(
      R"(podnetstat_interface_receive_drops_total{namespace="shop",pod="web-0",netns="cni-1",interface="eth0"} 3)"));
  EXPECT_TRUE(has(
      R"(podnetstat_tcp_retransmitted_segments_total{namespace="shop",pod="web-0",netns="cni-1"} 12)"));
  EXPECT_TRUE(has(
      R"(podnetstat_tcp_listen_overflows_total{namespace="shop",pod="web-0",netns="cni-1"} 2)"));
  EXPECT_TRUE(
      has(R"(podnetstat_tcp_listen_drops_total{namespace="shop",pod="web-0",netns="cni-1"} 4)"));
  EXPECT_TRUE(has(
      R"(podnetstat_udp_receive_errors_total{namespace="shop",pod="web-0",netns="cni-1",transport="udp"} 5)"));
  EXPECT_TRUE(has(
      R"(podnetstat_udp_receive_errors_total{namespace="shop",pod="web-0",netns="cni-1",transport="udp6"} 6)"));
  EXPECT_TRUE(has(
      R"(podnetstat_udp_receive_buffer_errors_total{namespace="shop",pod="web-0",netns="cni-1",transport="udp"} 1)"));
  // udp6 buffer errors were not read: no series rather than a made-up 0.
  EXPECT_THAT(text, ::testing::Not(HasSubstr(R"(transport="udp6"} 1)")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr(R"(netns="x")")));

  // Each family once, its series right under its HELP and TYPE, all counters named _total.
  std::map<std::string, int> types;
  std::string family;
  for (const std::string& l : ls) {
    if (l.rfind("# TYPE ", 0) == 0) {
      std::istringstream in(l.substr(7));
      std::string type;
      in >> family >> type;
      EXPECT_EQ(type, "counter");
      EXPECT_TRUE(family.ends_with("_total")) << family;
      ++types[family];
    } else if (l.rfind("# HELP ", 0) != 0) {
      EXPECT_EQ(l.substr(0, l.find('{')), family) << l;
    }
  }
  EXPECT_EQ(types.size(), 13U);
  for (const auto& [name, n] : types) {
    EXPECT_EQ(n, 1) << name;
  }
}

TEST(NetCounterMetricsTest, CountersComeFromTheirFiles) {
  scanner::NetStats stats;
  stats.snmp = {{"TcpRetransSegs", 9}, {"UdpInErrors", 2}, {"UdpRcvbufErrors", 1}};
  stats.snmp6 = {{"Udp6InErrors", 4}, {"Udp6RcvbufErrors", 3}};
  stats.netstat = {{"TcpExtListenOverflows", 8}, {"TcpExtListenDrops", 10}};
  stats.interfaces.emplace_back().name = "lo";
  const NetnsCounters c = netnsCounters(stats);
  EXPECT_TRUE(c.read);
  EXPECT_EQ(c.tcp_retransmitted_segments, 9U);
  EXPECT_EQ(c.udp_receive_errors, 2U);
  EXPECT_EQ(c.udp_receive_buffer_errors, 1U);
  EXPECT_EQ(c.udp6_receive_errors, 4U);
  EXPECT_EQ(c.udp6_receive_buffer_errors, 3U);
  EXPECT_EQ(c.tcp_listen_overflows, 8U);
  EXPECT_EQ(c.tcp_listen_drops, 10U);
  ASSERT_EQ(c.interfaces.size(), 1U);
}

// --- live ---------------------------------------------------------------------------------------

class NetMetricsLiveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PODNETSTAT_SKIP_UNLESS_ROOT();
    a_ = std::make_unique<testing::NetNamespace>("pnsqa");
    b_ = std::make_unique<testing::NetNamespace>("pnsqb");
    veth_ = std::make_unique<testing::VethPair>(*a_, *b_);
    holder_ = std::make_unique<testing::Subprocess>(std::vector<std::string>{"sleep", "120"},
                                                    testing::SubprocessOptions{a_->name(), true});
    const std::string ns_link = "/proc/" + std::to_string(holder_->pid()) + "/ns/net";
    for (int i = 0; i < 100 && inodeOrZero(ns_link) != a_->inode(); ++i) {
      std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(inodeOrZero(ns_link), a_->inode());
    // A receiver in A with the smallest receive buffer the kernel allows, never read: datagrams
    // beyond the first few overflow it (UdpRcvbufErrors, UdpInErrors).
    receiver_ = std::make_unique<testing::OwnedFd>(testing::socketIn(*a_, AF_INET, SOCK_DGRAM));
    ASSERT_GE(receiver_->get(), 0);
    const int small = 1;
    ASSERT_EQ(::setsockopt(receiver_->get(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    sockaddr_in at{};
    at.sin_family = AF_INET;
    at.sin_port = htons(40123);
    ::inet_pton(AF_INET, veth_->addresses().a_v4.c_str(), &at.sin_addr);
    ASSERT_EQ(::bind(receiver_->get(), reinterpret_cast<const sockaddr*>(&at), sizeof at), 0)
        << std::strerror(errno);
    sender_ = std::make_unique<testing::OwnedFd>(testing::socketIn(*b_, AF_INET, SOCK_DGRAM));
    ASSERT_GE(sender_->get(), 0);
  }

  static std::uint64_t inodeOrZero(const std::string& path) {
    try {
      return testing::inodeOf(path);
    } catch (const std::exception&) {
      return 0;
    }
  }

  /// `count` datagrams of 1000 bytes from B to the receiver in A, 2 ms apart.
  void flood(int count) const {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(40123);
    ::inet_pton(AF_INET, veth_->addresses().a_v4.c_str(), &to.sin_addr);
    const std::string payload(1000, 'q');
    for (int i = 0; i < count; ++i) {
      ::sendto(sender_->get(), payload.data(), payload.size(), 0,
               reinterpret_cast<const sockaddr*>(&to), sizeof to);
      std::this_thread::sleep_for(2ms);
    }
    std::this_thread::sleep_for(100ms);
  }

  /// The /metrics text of a fresh scan of A, read as the agent reads it, with A owned by pod
  /// shop/web-0 (its sandbox is the holder process).
  std::string metrics() const {
    const scanner::Roots roots{"/proc", testing::netnsDir()};
    const scanner::Scanner scanner(roots);
    scanner::ScanOptions options;
    options.netns_names = {a_->name()};
    options.cgroups = true;
    auto scan = scanner.scan(options);
    EXPECT_TRUE(scan.ok());
    if (!scan.ok()) {
      return {};
    }
    k8s::CriSnapshot cri;
    cri.endpoint = "unix:///run/containerd/containerd.sock";
    k8s::CriPod web;
    web.uid = "0a1b2c3d-4e5f-4a6b-8c7d-0123456789ac";
    web.namespace_name = "shop";
    web.name = "web-0";
    web.sandbox_id = std::string(64, 'f');
    web.pid = holder_->pid();
    cri.pods = {web};
    PodAttribution pods;
    pods.metadata =
        std::make_shared<k8s::PodMetadata>(k8s::mergePodMetadata(&cri, nullptr, nullptr));
    pods.index = k8s::PodIndex::build(*scan, *pods.metadata, k8s::NodeFiles(roots));
    auto counters = readNetCounters(*scan, scanner);
    const SnapshotPages pages(std::make_shared<const Snapshot>(
        std::move(*scan), "node-1", 1, std::move(pods), std::move(counters)));
    ScanMetrics scan_metrics;
    return metricsPage(&pages, scan_metrics, nullptr);
  }

  /// The value of the series `name{labels}`; -1 when there is none.
  static double value(const std::string& text, const std::string& series) {
    for (const std::string& l : splitLines(text)) {
      if (l.rfind(series + " ", 0) == 0) {
        return std::stod(l.substr(series.size() + 1));
      }
    }
    return -1;
  }

  std::string labels() const {
    return R"(namespace="shop",pod="web-0",netns=")" + a_->name() + "\"";
  }

  std::unique_ptr<testing::NetNamespace> a_;
  std::unique_ptr<testing::NetNamespace> b_;
  std::unique_ptr<testing::VethPair> veth_;
  std::unique_ptr<testing::Subprocess> holder_;
  std::unique_ptr<testing::OwnedFd> receiver_;
  std::unique_ptr<testing::OwnedFd> sender_;
};

TEST_F(NetMetricsLiveTest, CountersOfAPodNamespaceMoveWithItsTraffic) {
  const std::string before = metrics();
  const std::string rx = "podnetstat_interface_receive_packets_total{" + labels() +
                         ",interface=\"" + veth_->interfaceA() + "\"}";
  const std::string rx_bytes = "podnetstat_interface_receive_bytes_total{" + labels() +
                               ",interface=\"" + veth_->interfaceA() + "\"}";
  const std::string lo =
      "podnetstat_interface_transmit_packets_total{" + labels() + ",interface=\"lo\"}";
  const std::string rcvbuf =
      "podnetstat_udp_receive_buffer_errors_total{" + labels() + ",transport=\"udp\"}";
  const std::string in_errors =
      "podnetstat_udp_receive_errors_total{" + labels() + ",transport=\"udp\"}";
  for (const std::string& series :
       {rx, rx_bytes, lo, rcvbuf, in_errors,
        "podnetstat_udp_receive_errors_total{" + labels() + ",transport=\"udp6\"}",
        "podnetstat_tcp_retransmitted_segments_total{" + labels() + "}",
        "podnetstat_tcp_listen_overflows_total{" + labels() + "}",
        "podnetstat_tcp_listen_drops_total{" + labels() + "}"}) {
    EXPECT_GE(value(before, series), 0) << series << " is missing";
  }

  flood(50);
  const std::string after = metrics();
  EXPECT_GE(value(after, rx), value(before, rx) + 50);
  EXPECT_GE(value(after, rx_bytes), value(before, rx_bytes) + 50 * 1000);
  // A 1-byte SO_RCVBUF is raised to the kernel's minimum, which holds a datagram or two.
  EXPECT_GE(value(after, rcvbuf), value(before, rcvbuf) + 40);
  EXPECT_GE(value(after, in_errors), value(before, in_errors) + 40);
}

}  // namespace
}  // namespace podnetstat::agent
