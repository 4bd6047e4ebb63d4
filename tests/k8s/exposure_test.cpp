// Exposure classification and declared-port matching. The pods come from captured kubelet
// PodLists (tests/fixtures/kubelet) through the same path the agent uses: parse, merge, PodIndex.

#include "podnetstat/k8s/exposure.h"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "podnetstat/k8s/pod_list.h"
#include "podnetstat/k8s/pod_metadata.h"

#include "netns.h"
#include "test_paths.h"

namespace podnetstat::k8s {
namespace {

using scanner::Transport;

constexpr const char* kCoreDnsUid = "23476f2c-61e0-11e9-bc12-02f121c1eeb4";
constexpr const char* kSchedulerUid = "2358fd3b-61e0-11e9-bc12-02f121c1eeb4";
constexpr const char* kNginxUid = "7979cfcd-0751-11e8-a2b8-000c29dea4f6";

scanner::Socket listener(Transport transport, const std::string& ip, std::uint16_t port) {
  scanner::Socket s;
  s.transport = transport;
  s.local = {*scanner::IpAddress::parse(ip), port};
  s.remote = {*scanner::IpAddress::parse(scanner::isIpv6(transport) ? "::" : "0.0.0.0"), 0};
  s.state = static_cast<std::uint8_t>(scanner::isTcp(transport) ? scanner::TcpState::Listen
                                                                : scanner::TcpState::Close);
  return s;
}

scanner::Socket unixListener() {
  scanner::Socket s;
  s.transport = Transport::Unix;
  s.unix_path = "/run/app.sock";
  s.unix_has_path = true;
  s.unix_flags = scanner::kUnixFlagAcceptCon;
  s.state = static_cast<std::uint8_t>(scanner::UnixState::Unconnected);
  return s;
}

/// The pods of a kubelet capture, as the agent's PodIndex lists them (kubelet pods in a live
/// phase are listed even when nothing of them runs here).
class DeclaredPortTest : public ::testing::Test {
 protected:
  void load(const char* fixture) {
    std::ifstream in(testing::fixturesDir() / "kubelet" / fixture);
    std::ostringstream text;
    text << in.rdbuf();
    auto list = parsePodList(text.str());
    ASSERT_TRUE(list.ok()) << list.error().message;
    metadata_ = mergePodMetadata(nullptr, &*list, nullptr);
    index_ = PodIndex::build(
        scan_, metadata_, NodeFiles(scanner::Roots{dir_.path() / "proc", dir_.path() / "netns"}));
  }

  const Pod& pod(const char* uid) {
    const Pod* p = index_.byUid(uid);
    EXPECT_NE(p, nullptr) << uid;
    static const Pod kNone;
    return p == nullptr ? kNone : *p;
  }

  testing::ScratchDir dir_{"pns-exposure-"};
  scanner::ScanResult scan_;
  PodMetadata metadata_;
  PodIndex index_;
};

TEST(ExposureTest, NamesRoundTrip) {
  for (const Exposure e : kAllExposures) {
    EXPECT_EQ(exposureFromName(exposureName(e)), e);
  }
  EXPECT_EQ(exposureName(Exposure::Loopback), "loopback");
  EXPECT_EQ(exposureName(Exposure::Pod), "pod");
  EXPECT_EQ(exposureName(Exposure::Node), "node");
  EXPECT_FALSE(exposureFromName("Pod").has_value());
  EXPECT_FALSE(exposureFromName("cluster").has_value());
  EXPECT_FALSE(exposureFromName("").has_value());
}

TEST(ExposureTest, LoopbackAddressesAndUnixSocketsAreLoopbackInAnyNamespace) {
  for (const bool host : {true, false}) {
    EXPECT_EQ(classifyExposure(listener(Transport::Tcp, "127.0.0.1", 80), host, nullptr).exposure,
              Exposure::Loopback);
    EXPECT_EQ(classifyExposure(listener(Transport::Udp, "127.53.0.9", 53), host, nullptr).exposure,
              Exposure::Loopback);
    EXPECT_EQ(classifyExposure(listener(Transport::Tcp6, "::1", 80), host, nullptr).exposure,
              Exposure::Loopback);
    EXPECT_EQ(
        classifyExposure(listener(Transport::Tcp6, "::ffff:127.0.0.1", 80), host, nullptr).exposure,
        Exposure::Loopback);
    const ExposureVerdict unix = classifyExposure(unixListener(), host, nullptr);
    EXPECT_EQ(unix.exposure, Exposure::Loopback);
    EXPECT_EQ(unix.reason, "unix socket");
  }
  EXPECT_EQ(classifyExposure(listener(Transport::Tcp, "127.0.0.1", 80), true, nullptr).reason,
            "bound to loopback 127.0.0.1");
}

TEST(ExposureTest, TheHostNamespaceOnAnyOtherAddressIsNode) {
  const ExposureVerdict wildcard =
      classifyExposure(listener(Transport::Tcp, "0.0.0.0", 22), true, nullptr);
  EXPECT_EQ(wildcard.exposure, Exposure::Node);
  EXPECT_EQ(wildcard.reason, "host network namespace, bound to 0.0.0.0 (all addresses)");
  EXPECT_EQ(classifyExposure(listener(Transport::Tcp6, "::", 22), true, nullptr).exposure,
            Exposure::Node);
  const ExposureVerdict address =
      classifyExposure(listener(Transport::Udp, "10.0.2.15", 8472), true, nullptr);
  EXPECT_EQ(address.exposure, Exposure::Node);
  EXPECT_EQ(address.reason, "host network namespace, bound to 10.0.2.15");
  // Not 127/8: a link-local or v4-mapped non-loopback address reaches beyond the node's loopback.
  EXPECT_EQ(classifyExposure(listener(Transport::Tcp6, "fe80::1", 9), true, nullptr).exposure,
            Exposure::Node);
  EXPECT_EQ(
      classifyExposure(listener(Transport::Tcp6, "::ffff:10.0.2.15", 9), true, nullptr).exposure,
      Exposure::Node);
}

TEST_F(DeclaredPortTest, APodNamespaceOnTheWildcardOrItsIpIsPod) {
  load("podlist_init_container_running.json");
  const Pod& coredns = pod(kCoreDnsUid);
  const ExposureVerdict wildcard =
      classifyExposure(listener(Transport::Udp, "0.0.0.0", 53), false, &coredns);
  EXPECT_EQ(wildcard.exposure, Exposure::Pod);
  EXPECT_EQ(wildcard.reason, "pod network namespace, bound to 0.0.0.0 (all addresses)");
  const ExposureVerdict pod_ip =
      classifyExposure(listener(Transport::Tcp, "192.168.253.58", 9153), false, &coredns);
  EXPECT_EQ(pod_ip.exposure, Exposure::Pod);
  EXPECT_EQ(pod_ip.reason, "pod network namespace, bound to pod IP 192.168.253.58");
  const ExposureVerdict other =
      classifyExposure(listener(Transport::Tcp, "169.254.20.10", 53), false, &coredns);
  EXPECT_EQ(other.exposure, Exposure::Pod);
  EXPECT_EQ(other.reason, "pod network namespace, bound to 169.254.20.10");
  const ExposureVerdict no_pod =
      classifyExposure(listener(Transport::Tcp6, "::", 80), false, nullptr);
  EXPECT_EQ(no_pod.exposure, Exposure::Pod);
  EXPECT_EQ(no_pod.reason, "network namespace of no known pod, bound to :: (all addresses)");
}

TEST_F(DeclaredPortTest, MatchesPortAndProtocolAgainstTheContainerPorts) {
  load("podlist_init_container_running.json");
  const Pod& coredns = pod(kCoreDnsUid);
  // containerPorts: dns 53/UDP, dns-tcp 53/TCP, metrics 9153/TCP.
  for (const auto& [transport, port] :
       {std::pair{Transport::Udp, 53}, std::pair{Transport::Tcp, 53},
        std::pair{Transport::Tcp, 9153}, std::pair{Transport::Udp6, 53},
        std::pair{Transport::Tcp6, 9153}}) {
    const PortDeclaration d = findDeclaredPort(
        listener(transport, "0.0.0.0", static_cast<std::uint16_t>(port)), &coredns);
    EXPECT_EQ(d.declared, true) << scanner::transportName(transport) << " " << port;
    EXPECT_EQ(d.container, "coredns");
    EXPECT_EQ(d.host_port, 0);
  }
  // The port with the other protocol, an undeclared port, and what a spec cannot declare.
  EXPECT_EQ(findDeclaredPort(listener(Transport::Udp, "0.0.0.0", 9153), &coredns).declared, false);
  EXPECT_EQ(findDeclaredPort(listener(Transport::Tcp, "127.0.0.1", 8080), &coredns).declared,
            false);
  EXPECT_EQ(findDeclaredPort(listener(Transport::UdpLite, "0.0.0.0", 53), &coredns).declared,
            false);
  EXPECT_EQ(findDeclaredPort(listener(Transport::Raw, "0.0.0.0", 1), &coredns).declared, false);
  EXPECT_EQ(findDeclaredPort(listener(Transport::Tcp, "0.0.0.0", 8080), &coredns).container, "");
  // A pod without ports declares nothing; unix sockets have no port to declare.
  EXPECT_EQ(
      findDeclaredPort(listener(Transport::Tcp, "0.0.0.0", 10251), &pod(kSchedulerUid)).declared,
      false);
  EXPECT_FALSE(findDeclaredPort(unixListener(), &coredns).declared.has_value());
}

TEST_F(DeclaredPortTest, HostPortsOfTheSpecAreReported) {
  load("podlist_null_pod.json");
  const Pod& nginx = pod(kNginxUid);
  const PortDeclaration https = findDeclaredPort(listener(Transport::Tcp, "0.0.0.0", 443), &nginx);
  EXPECT_EQ(https.declared, true);
  EXPECT_EQ(https.host_port, 443);
  EXPECT_EQ(https.container, "nginx");
  EXPECT_EQ(findDeclaredPort(listener(Transport::Tcp6, "::", 80), &nginx).host_port, 80);
  EXPECT_EQ(findDeclaredPort(listener(Transport::Udp, "0.0.0.0", 80), &nginx).host_port, 0);
}

TEST_F(DeclaredPortTest, UnknownWithoutAPodOrWithoutTheKubeletsSpec) {
  load("podlist_init_container_running.json");
  EXPECT_FALSE(
      findDeclaredPort(listener(Transport::Tcp, "0.0.0.0", 53), nullptr).declared.has_value());
  // The same pod known only from CRI and cgroups: no spec, so nothing is known about its ports.
  Pod cri_only = pod(kCoreDnsUid);
  cri_only.sources = kSourceCri | kSourceCgroup;
  EXPECT_FALSE(
      findDeclaredPort(listener(Transport::Tcp, "0.0.0.0", 53), &cri_only).declared.has_value());
  EXPECT_FALSE(
      findDeclaredPort(listener(Transport::Tcp, "0.0.0.0", 8080), &cri_only).declared.has_value());
}

}  // namespace
}  // namespace podnetstat::k8s
