// The socket object of DESIGN.md: hand-made sockets, string escaping, and `podnetstat list
// --json` on the frozen capture (inodes and owners from its manifest).

#include "podnetstat/agent/render/socket_json.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/render/tcp_info_text.h"

#include "fixture_proc_root.h"
#include "run_podnetstat.h"

namespace podnetstat::agent {
namespace {

using nlohmann::json;
using scanner::ScanResult;
using scanner::Socket;
using scanner::Transport;

std::string jsonQuoted(std::string_view text) {
  std::string out;
  appendJsonString(out, text);
  return out;
}

TEST(JsonStringTest, EscapesWhatRfc8259Requires) {
  EXPECT_EQ(jsonQuoted("plain"), "\"plain\"");
  EXPECT_EQ(jsonQuoted("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(jsonQuoted("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
  EXPECT_EQ(jsonQuoted(std::string_view("\x01\x1f\0", 3)), "\"\\u0001\\u001f\\u0000\"");
  EXPECT_EQ(jsonQuoted("/x\x7f"), "\"/x\x7f\"");  // '/' and DEL need no escape
}

TEST(JsonStringTest, KeepsValidUtf8) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";  // é € 😀
  EXPECT_EQ(jsonQuoted(text), "\"" + text + "\"");
  EXPECT_EQ(json::parse(jsonQuoted(text)).get<std::string>(), text);
}

TEST(JsonStringTest, ReplacesInvalidUtf8) {
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(jsonQuoted("a\xFF"
                       "b"),
            "\"a" + replacement + "b\"");
  EXPECT_EQ(jsonQuoted("\xC3"), "\"" + replacement + "\"");                    // truncated sequence
  EXPECT_EQ(jsonQuoted("\xC0\xAF"), "\"" + replacement + replacement + "\"");  // overlong '/'
  EXPECT_EQ(jsonQuoted("\xED\xA0\x80"), "\"" + replacement + replacement + replacement + "\"");
  EXPECT_EQ(jsonQuoted("\xF4\x90\x80\x80").find("\xF4"), std::string::npos);  // above U+10FFFF
  // Whatever the bytes, the output parses.
  std::string all;
  for (int c = 0; c < 256; ++c) {
    all += static_cast<char>(c);
  }
  EXPECT_TRUE(json::accept(jsonQuoted(all)));
}

json socketJson(const Socket& s, const ScanResult& scan) {
  std::string out;
  appendSocketJson(out, s, scan);
  return json::parse(out);
}

ScanResult oneNamespace() {
  ScanResult scan;
  scanner::NetNamespace ns;
  ns.inode = 4026532345;
  ns.names = {"cni-a", "cni-b"};
  scan.namespaces.push_back(ns);
  scan.processes.push_back({4121, 0, 4026532345, "nginx", "nginx"});
  scan.processes.push_back({4122, 0, 4026532345, "nginx: worker", "nginx"});
  scan.owner_table = {0, 1};
  return scan;
}

TEST(SocketJsonTest, TcpObjectHasEveryField) {
  const ScanResult scan = oneNamespace();
  Socket s;
  s.transport = Transport::Tcp;
  s.local.ip = *scanner::IpAddress::parse("10.244.1.7");
  s.local.port = 8080;
  s.remote.ip = *scanner::IpAddress::parse("0.0.0.0");
  s.state = 10;
  s.tx_queue = 3;
  s.rx_queue = 4;
  s.timer = {2, 719729, 5};
  s.uid = 1000;
  s.timeout = 6;
  s.inode = 48213;
  s.ref_count = 1;
  s.owners_begin = 0;
  s.owners_count = 2;
  const json j = socketJson(s, scan);
  EXPECT_EQ(j["transport"], "tcp");
  EXPECT_EQ(j["local"], json::parse(R"({"ip":"10.244.1.7","port":8080})"));
  EXPECT_EQ(j["remote"], json::parse(R"({"ip":"0.0.0.0","port":0})"));
  EXPECT_EQ(j["state"], "LISTEN");
  EXPECT_EQ(j["txQueue"], 3);
  EXPECT_EQ(j["rxQueue"], 4);
  EXPECT_EQ(j["timer"]["active"], "keepalive");
  EXPECT_DOUBLE_EQ(j["timer"]["expiresSeconds"].get<double>(), 7197.29);
  EXPECT_EQ(j["timer"]["retransmits"], 5);
  EXPECT_EQ(j["uid"], 1000);
  EXPECT_EQ(j["timeout"], 6);
  EXPECT_EQ(j["inode"], 48213);
  EXPECT_EQ(j["refCount"], 1);
  EXPECT_EQ(j["processes"], json::parse(R"([{"pid":4121,"name":"nginx","program":"nginx"},
                                            {"pid":4122,"name":"nginx: worker","program":"nginx"}])"));
  EXPECT_EQ(j["netns"],
            json::parse(R"({"inode":4026532345,"name":"cni-a","names":["cni-a","cni-b"]})"));
  EXPECT_TRUE(j["pod"].is_null());
  EXPECT_FALSE(j.contains("path"));
}

TEST(SocketJsonTest, UnownedSocketInUnnamedNamespace) {
  ScanResult scan;
  scan.namespaces.push_back(scanner::NetNamespace{});
  scan.namespaces[0].inode = 7;
  Socket s;
  s.transport = Transport::Tcp6;
  s.local.ip = *scanner::IpAddress::parse("::ffff:127.0.0.1");
  s.remote.ip.v6 = true;
  s.state = 6;
  s.timer = {3, 5785, 0};
  const json j = socketJson(s, scan);
  EXPECT_EQ(j["local"]["ip"], "::ffff:127.0.0.1");
  EXPECT_EQ(j["remote"]["ip"], "::");
  EXPECT_EQ(j["state"], "TIME_WAIT");
  EXPECT_EQ(j["timer"]["active"], "timewait");
  EXPECT_DOUBLE_EQ(j["timer"]["expiresSeconds"].get<double>(), 57.85);
  EXPECT_EQ(j["processes"], json::array());
  EXPECT_TRUE(j["netns"]["name"].is_null());
  EXPECT_EQ(j["netns"]["names"], json::array());
}

TEST(SocketJsonTest, DatagramStatesAndTimerNames) {
  ScanResult scan;
  Socket s;
  s.transport = Transport::Udp;
  s.state = 7;
  EXPECT_EQ(socketJson(s, scan)["state"], "CLOSE");
  s.state = 1;
  EXPECT_EQ(socketJson(s, scan)["state"], "ESTABLISHED");
  s.state = 2;
  EXPECT_EQ(socketJson(s, scan)["state"], "UNKNOWN(2)");
  s.transport = Transport::Raw6;
  EXPECT_EQ(socketJson(s, scan)["state"], "UNKNOWN(2)");
  EXPECT_EQ(socketJson(s, scan)["timer"]["active"], "off");
  std::string text;
  appendSocketJson(text, s, scan);
  EXPECT_NE(text.find("\"expiresSeconds\":0.00,"), std::string::npos) << text;  // a float
  s.timer.active = 4;
  EXPECT_EQ(socketJson(s, scan)["timer"]["active"], "probe");
  s.timer.active = 9;
  EXPECT_EQ(socketJson(s, scan)["timer"]["active"], "unknown(9)");
  EXPECT_TRUE(socketJson(s, scan)["netns"].is_null());  // no such namespace in the scan
}

TEST(SocketJsonTest, UnixObject) {
  ScanResult scan;
  Socket s;
  s.transport = Transport::Unix;
  s.unix_type = 5;
  s.unix_flags = scanner::kUnixFlagAcceptCon | scanner::kUnixFlagNoSpace;
  s.state = 1;
  s.inode = 99;
  s.ref_count = 2;
  s.unix_path = "/run/with space.sock";
  s.unix_has_path = true;
  json j = socketJson(s, scan);
  EXPECT_EQ(j["transport"], "unix");
  EXPECT_EQ(j["path"], "/run/with space.sock");  // in full: only the table cuts at the blank
  EXPECT_EQ(j["type"], "seqpacket");
  EXPECT_EQ(j["flags"], json::parse(R"(["ACC","N"])"));
  EXPECT_EQ(j["state"], "LISTENING");
  EXPECT_EQ(j["inode"], 99);
  EXPECT_EQ(j["refCount"], 2);
  for (const char* key : {"local", "remote", "txQueue", "rxQueue", "timer", "uid"}) {
    EXPECT_FALSE(j.contains(key)) << key;
  }
  s.unix_has_path = false;
  s.unix_path.clear();
  s.unix_flags = 0;
  s.state = 3;
  s.unix_type = 2;
  j = socketJson(s, scan);
  EXPECT_TRUE(j["path"].is_null());
  EXPECT_EQ(j["flags"], json::array());
  EXPECT_EQ(j["state"], "CONNECTED");
  EXPECT_EQ(j["type"], "dgram");
}

// `podnetstat list --json` on the capture.

class ListJsonTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new podnetstat::testing::TempDir();
    podnetstat::testing::buildFixtureProcRoot(dir_->path());
  }

  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static json listJson(std::vector<std::string> flags) {
    std::vector<std::string> args = {"list",
                                     "--proc-root",
                                     dir_->path().string(),
                                     "--netns-dir",
                                     (dir_->path() / "no-netns-dir").string(),
                                     "--netns-pid",
                                     std::to_string(podnetstat::testing::kHelperPid),
                                     "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    const auto r = podnetstat::testing::runPodnetstat(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    return json::parse(r.out);
  }

  static const json* byInode(const json& list, std::uint64_t inode) {
    for (const json& s : list) {
      if (s["inode"] == inode) {
        return &s;
      }
    }
    return nullptr;
  }

  static podnetstat::testing::TempDir* dir_;
};

podnetstat::testing::TempDir* ListJsonTest::dir_ = nullptr;

TEST_F(ListJsonTest, EverySocketOfTheNamespace) {
  const json all = listJson({"-a"});
  ASSERT_TRUE(all.is_array());
  // Those of `netstat -tuwxUa`: 52 inet rows and 13 unix rows.
  EXPECT_EQ(all.size(), 65U);
  for (const json& s : all) {
    EXPECT_EQ(s["netns"]["inode"], podnetstat::testing::kNsAInode);
  }
}

TEST_F(ListJsonTest, SharedListenerHasBothOwners) {
  const json all = listJson({"-a"});
  const json* s = byInode(all, 143708);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ((*s)["transport"], "tcp");
  EXPECT_EQ((*s)["local"], json::parse(R"({"ip":"127.0.0.1","port":7777})"));
  EXPECT_EQ((*s)["remote"], json::parse(R"({"ip":"0.0.0.0","port":0})"));
  EXPECT_EQ((*s)["state"], "LISTEN");
  EXPECT_EQ(
      (*s)["processes"],
      json::parse(R"([{"pid":24658,"name":"python3","program":"netstat-sample-helper-long-name"},
                                               {"pid":24661,"name":"python3","program":"netstat-sample-helper-long-name"}])"));
  EXPECT_TRUE((*s)["netns"]["name"].is_null());
  EXPECT_TRUE((*s)["pod"].is_null());
}

TEST_F(ListJsonTest, V4MappedKeepsItsForm) {
  const json all = listJson({"-a"});
  const json* s = byInode(all, 143741);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ((*s)["transport"], "tcp6");
  EXPECT_EQ((*s)["local"], json::parse(R"({"ip":"::ffff:127.0.0.1","port":8082})"));
  EXPECT_EQ((*s)["remote"], json::parse(R"({"ip":"::ffff:127.0.0.1","port":49330})"));
  EXPECT_EQ((*s)["state"], "ESTABLISHED");
}

TEST_F(ListJsonTest, TimersAndQueues) {
  const json all = listJson({"-a"});
  const json* keepalive = byInode(all, 143711);
  ASSERT_NE(keepalive, nullptr);
  EXPECT_EQ((*keepalive)["timer"]["active"], "keepalive");
  EXPECT_DOUBLE_EQ((*keepalive)["timer"]["expiresSeconds"].get<double>(), 7197.29);
  const json* stuck = byInode(all, 143714);  // the sender with a full receive window
  ASSERT_NE(stuck, nullptr);
  EXPECT_EQ((*stuck)["txQueue"], 3863438);
  EXPECT_EQ((*stuck)["rxQueue"], 0);
  const json* udp = byInode(all, 144768);  // owned by the uid-4242 child
  ASSERT_NE(udp, nullptr);
  EXPECT_EQ((*udp)["uid"], 4242);
  EXPECT_EQ((*udp)["state"], "CLOSE");
  EXPECT_EQ((*udp)["processes"],
            json::parse(
                R"([{"pid":24662,"name":"python3","program":"netstat-sample-helper-long-name"}])"));
}

TEST_F(ListJsonTest, UnixSockets) {
  const json all = listJson({"-a"});
  const json* abstract = byInode(all, 143769);
  ASSERT_NE(abstract, nullptr);
  EXPECT_EQ((*abstract)["transport"], "unix");
  EXPECT_EQ((*abstract)["path"], "@netstat-sample-abstract");
  EXPECT_EQ((*abstract)["type"], "stream");
  EXPECT_EQ((*abstract)["flags"], json::parse(R"(["ACC"])"));
  EXPECT_EQ((*abstract)["state"], "LISTENING");
  EXPECT_FALSE(abstract->contains("local"));
  const json* unbound = byInode(all, 143776);
  ASSERT_NE(unbound, nullptr);
  EXPECT_TRUE((*unbound)["path"].is_null());
  EXPECT_EQ((*unbound)["state"], "UNCONNECTED");
}

TEST_F(ListJsonTest, SelectionFollowsNetstatFlags) {
  const json tcp_servers = listJson({"-tl"});
  EXPECT_EQ(tcp_servers.size(), 15U);  // the tcp/tcp6 rows of `netstat -tuwlnp`
  for (const json& s : tcp_servers) {
    EXPECT_TRUE(s["transport"] == "tcp" || s["transport"] == "tcp6") << s;
    EXPECT_EQ(s["remote"]["port"], 0) << s;
  }
  EXPECT_EQ(listJson({"-x"}).size(), 8U);  // unix non-servers (5 of the 13 listen)
}

}  // namespace
}  // namespace podnetstat::agent

namespace podnetstat::agent {
namespace {

/// A TcpDetails whose tcp_info attribute is `length` bytes long, with rtt 50 us, rttvar 25 us,
/// cwnd 10, bytes_acked 100001 and pacing_rate 1000 bytes/s where the length reaches them.
std::shared_ptr<const scanner::TcpDetails> detailsOfLength(std::size_t length) {
  auto d = std::make_shared<scanner::TcpDetails>();
  const auto put = [&](scanner::TcpInfoField f, std::uint64_t v) {
    const scanner::TcpInfoLayout at = scanner::tcpInfoLayout(f);
    if (at.offset + at.size <= length) {
      std::memcpy(d->info_bytes.data() + at.offset, &v, at.size);
    }
  };
  put(scanner::TcpInfoField::Rtt, 50);
  put(scanner::TcpInfoField::Rttvar, 25);
  put(scanner::TcpInfoField::SndCwnd, 10);
  put(scanner::TcpInfoField::BytesAcked, 100001);
  put(scanner::TcpInfoField::PacingRate, 1000);
  d->info_length = static_cast<std::uint16_t>(length);
  d->congestion = "cubic";
  d->skmem = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  d->skmem_count = 9;
  return d;
}

json tcpInfoJson(const Socket& s, const ScanResult& scan) {
  std::string out;
  appendSocketJson(out, s, scan, std::nullopt, true);
  return json::parse(out);
}

TEST(SocketJsonTcpInfo, FieldsTheKernelSentWithTheirUnits) {
  const ScanResult scan = oneNamespace();
  Socket s;
  s.state = 1;
  s.tcp = detailsOfLength(scanner::kTcpInfoKnownLength);
  const json t = tcpInfoJson(s, scan)["tcpInfo"];
  EXPECT_EQ(t["rttMs"], 0.05);
  EXPECT_EQ(t["rttVarMs"], 0.025);
  EXPECT_EQ(t["cwnd"], 10);
  EXPECT_EQ(t["bytesAcked"], 100001);
  EXPECT_EQ(t["pacingRateBps"], 8000);  // bits per second, as ss prints it
  EXPECT_EQ(t["congestion"], "cubic");
  EXPECT_EQ(t["memory"]["rmemAlloc"], 1);
  EXPECT_EQ(t["memory"]["drops"], 9);
  EXPECT_TRUE(t.contains("sndWnd"));
}

TEST(SocketJsonTcpInfo, FieldsAnOlderKernelDidNotSendAreAbsent) {
  const ScanResult scan = oneNamespace();
  Socket s;
  s.state = 1;
  s.tcp = detailsOfLength(104);  // ends after total_retrans
  const json t = tcpInfoJson(s, scan)["tcpInfo"];
  EXPECT_EQ(t["cwnd"], 10);
  EXPECT_TRUE(t.contains("totalRetrans"));
  EXPECT_FALSE(t.contains("bytesAcked"));
  EXPECT_FALSE(t.contains("pacingRateBps"));
  EXPECT_FALSE(t.contains("minRttMs"));
  EXPECT_FALSE(t.contains("sndWnd"));
}

TEST(SocketJsonTcpInfo, NullWithoutDetailsAndAbsentUnlessAsked) {
  const ScanResult scan = oneNamespace();
  Socket s;
  s.state = 1;
  EXPECT_TRUE(tcpInfoJson(s, scan)["tcpInfo"].is_null());
  s.tcp = detailsOfLength(scanner::kTcpInfoKnownLength);
  EXPECT_FALSE(socketJson(s, scan).contains("tcpInfo"));
  Socket u;
  u.transport = Transport::Unix;
  EXPECT_FALSE(tcpInfoJson(u, scan).contains("tcpInfo"));  // the unix object has no such field
}

TEST(SocketJsonTcpInfo, ATcpListenerHasItsAcceptQueue) {
  const ScanResult scan = oneNamespace();
  Socket s;
  s.state = static_cast<std::uint8_t>(scanner::TcpState::Listen);
  s.rx_queue = 5;
  EXPECT_EQ(socketJson(s, scan)["acceptQueue"], json({{"length", 5}, {"max", nullptr}}));
  s.accept_queue_max = 4;
  EXPECT_EQ(socketJson(s, scan)["acceptQueue"], json({{"length", 5}, {"max", 4}}));
  s.state = 1;
  EXPECT_FALSE(socketJson(s, scan).contains("acceptQueue"));
  s.state = 7;
  s.transport = Transport::Udp;
  EXPECT_FALSE(socketJson(s, scan).contains("acceptQueue"));
}

}  // namespace
}  // namespace podnetstat::agent

namespace podnetstat::agent {
namespace {

std::string ssLine(const Socket& s) {
  std::string out;
  appendSsTcpInfoLine(out, s);
  return out;
}

TEST(SsTcpInfoLine, WordsInSsOrderOnlyWhenSsPrintsThem) {
  auto d = std::make_shared<scanner::TcpDetails>();
  const auto put = [&](scanner::TcpInfoField f, std::uint32_t v) {
    std::memcpy(d->info_bytes.data() + scanner::tcpInfoLayout(f).offset, &v, 4);
  };
  d->info_length = scanner::kTcpInfoKnownLength;
  d->congestion = "cubic";
  d->info_bytes[5] = 4;     // TCPI_OPT_WSCALE (ts and sack are printed only with -o/-e)
  d->info_bytes[6] = 0x77;  // wscale 7,7
  put(scanner::TcpInfoField::Rto, 204000);
  put(scanner::TcpInfoField::Rtt, 50);
  put(scanner::TcpInfoField::Rttvar, 25);
  put(scanner::TcpInfoField::SndMss, 65483);
  put(scanner::TcpInfoField::SndCwnd, 10);
  put(scanner::TcpInfoField::SndSsthresh, 0x7fffffff);  // unset: ss leaves it out
  put(scanner::TcpInfoField::Reordering, 3);            // the default: left out
  put(scanner::TcpInfoField::Sacked, 4);
  Socket s;
  s.state = 1;
  s.tcp = d;
  EXPECT_EQ(ssLine(s),
            "\t cubic wscale:7,7 rto:204 rtt:0.05/0.025 mss:65483 cwnd:10 send 104772800000bps "
            "sacked:4\n");
  s.state = static_cast<std::uint8_t>(scanner::TcpState::Listen);
  EXPECT_EQ(ssLine(s).find("sacked"), std::string::npos);  // a listener's backlog, not SACKs
  put(scanner::TcpInfoField::Rto, 3000000);
  EXPECT_EQ(ssLine(s).find("rto:"), std::string::npos);  // the initial 3 s
  s.tcp = nullptr;
  EXPECT_EQ(ssLine(s), "");
}

}  // namespace
}  // namespace podnetstat::agent
