#include "podnetstat/scanner/proc_net_parser.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_paths.h"

namespace podnetstat::scanner {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path samples() {
  return testing::fixturesDir() / "netstat-samples";
}

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<Socket> parseCaptured(const std::string& ns_dir, Transport t, ParseCounts* counts) {
  std::vector<Socket> out;
  const ParseCounts c = parseTable(readFile(samples() / ns_dir / transportName(t)), t, out);
  if (counts != nullptr) {
    *counts = c;
  }
  return out;
}

Endpoint endpoint(const json& pair) {
  auto ip = IpAddress::parse(pair.at(0).get<std::string>());
  EXPECT_TRUE(ip.has_value()) << pair;
  return Endpoint{ip.value_or(IpAddress{}), pair.at(1).get<std::uint16_t>()};
}

/// Manifest states are free text; the leading word is the kernel state where there is one.
std::optional<std::uint8_t> expectedState(const std::string& expect) {
  static const std::vector<std::pair<std::string, std::uint8_t>> kPrefixes = {
      {"ESTABLISHED", 1}, {"SYN_SENT", 2},   {"SYN_RECV", 3}, {"FIN_WAIT2", 5},
      {"TIME_WAIT", 6},   {"CLOSE_WAIT", 8}, {"LISTEN", 10},  {"st 07", 7},
      {"st 01", 1},       {"CLOSE(07)", 7},  {"blank", 7},
  };
  for (const auto& [prefix, state] : kPrefixes) {
    if (expect.rfind(prefix, 0) == 0) {
      return state;
    }
  }
  return std::nullopt;
}

/// Sockets the capture's helpers opened, with the /proc file each must appear in.
std::vector<json> manifestSockets() {
  std::vector<json> all;
  for (const char* name : {"manifest_nsA.json", "manifest_nsB.json"}) {
    const json m = json::parse(readFile(samples() / name));
    for (json s : m.at("sockets")) {
      s["ns_dir"] = std::string(name) == "manifest_nsA.json" ? "proc_nsA" : "proc_nsB";
      all.push_back(s);
    }
  }
  // The capture wrote these objects back to back, without newlines between them.
  std::string jsonl = readFile(samples() / "manifest_nsA_accepted.jsonl");
  for (std::size_t pos = 0; (pos = jsonl.find("}{", pos)) != std::string::npos;) {
    jsonl.insert(pos + 1, "\n");
  }
  std::istringstream accepted(jsonl);
  for (std::string line; std::getline(accepted, line);) {
    if (!line.empty()) {
      json s = json::parse(line);
      s["ns_dir"] = "proc_nsA";
      all.push_back(s);
    }
  }
  return all;
}

TEST(ProcNetParser, EveryManifestSocketIsFoundWithItsFields) {
  int checked = 0;
  for (const json& m : manifestSockets()) {
    const std::string file = m.value("proc_file", "");
    const auto transport = transportFromName(file);
    if (!transport || m.value("expect", "") == "absent") {
      continue;  // icmp is not a table we cover; the bound-only socket must be absent
    }
    SCOPED_TRACE(m.value("label", ""));
    const auto rows = parseCaptured(m.at("ns_dir"), *transport, nullptr);
    const std::uint64_t inode = m.value("inode", 0ULL);
    const Socket* found = nullptr;
    for (const Socket& s : rows) {
      if (inode != 0 ? s.inode == inode
                     : (*transport != Transport::Unix && m.contains("local") &&
                        m.at("local").is_array() && s.local == endpoint(m.at("local")))) {
        found = &s;
        break;
      }
    }
    if (inode == 0 && !m.contains("local")) {
      continue;  // the accept-queue entries carry no address in the manifest
    }
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->transport, *transport);
    if (*transport == Transport::Unix) {
      const std::string local = m.at("local").is_string() ? m.at("local").get<std::string>() : "";
      if (!local.empty() && local.front() != '\0') {
        EXPECT_EQ(found->unix_path, local);
      }
    } else {
      EXPECT_EQ(found->local, endpoint(m.at("local")));
      if (m.contains("remote") && m.at("remote").is_array()) {
        EXPECT_EQ(found->remote, endpoint(m.at("remote")));
      }
      if (m.contains("uid")) {
        EXPECT_EQ(found->uid, m.at("uid").get<std::uint32_t>());
      }
      if (auto state = expectedState(m.value("expect", ""))) {
        EXPECT_EQ(found->state, *state) << m.value("expect", "");
      }
    }
    ++checked;
  }
  EXPECT_GE(checked, 60);
}

TEST(ProcNetParser, RealTablesParseWithoutSkips) {
  for (const char* ns : {"proc_nsA", "proc_nsB"}) {
    for (const Transport t : kAllTransports) {
      SCOPED_TRACE(std::string(ns) + "/" + std::string(transportName(t)));
      const std::string text = readFile(samples() / ns / transportName(t));
      const auto lines = std::count(text.begin(), text.end(), '\n');
      ParseCounts counts;
      const auto rows = parseCaptured(ns, t, &counts);
      EXPECT_EQ(counts.skipped, 0U);
      EXPECT_EQ(counts.rows, static_cast<std::uint64_t>(lines - 1));
      EXPECT_EQ(rows.size(), counts.rows);
    }
  }
}

TEST(ProcNetParser, ShortTimeWaitRowKeepsItsTimer) {
  const auto rows = parseCaptured("proc_nsA", Transport::Tcp, nullptr);
  auto it = std::find_if(rows.begin(), rows.end(), [](const Socket& s) { return s.state == 6; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(it->inode, 0U);
  EXPECT_EQ(it->timer.active, 3);
  EXPECT_EQ(it->timer.when_ticks, 0x1699U);  // 57.85 s
  EXPECT_EQ(it->local.ip.toString(), "127.0.0.1");
  EXPECT_EQ(it->remote.port, 8003);
}

TEST(ProcNetParser, SynRecvRequestSockHasNoInode) {
  const auto rows = parseCaptured("proc_nsA", Transport::Tcp, nullptr);
  auto it = std::find_if(rows.begin(), rows.end(), [](const Socket& s) { return s.state == 3; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(it->inode, 0U);
  EXPECT_EQ(it->timer.active, 1);
  EXPECT_EQ(it->timer.retransmits, 1U);
  EXPECT_EQ(it->remote.ip.toString(), "10.200.0.4");
}

TEST(ProcNetParser, QueuesAreTxThenRx) {
  const auto rows = parseCaptured("proc_nsA", Transport::Tcp, nullptr);
  auto sender =
      std::find_if(rows.begin(), rows.end(), [](const Socket& s) { return s.tx_queue == 3863438; });
  EXPECT_NE(sender, rows.end());
  auto backlog = std::find_if(rows.begin(), rows.end(), [](const Socket& s) {
    return s.state == 10 && s.local.port == 8001;
  });
  ASSERT_NE(backlog, rows.end());
  EXPECT_EQ(backlog->rx_queue, 2U);
}

TEST(ProcNetParser, V4MappedAddressStaysIpv6) {
  const auto rows = parseCaptured("proc_nsA", Transport::Tcp6, nullptr);
  auto it = std::find_if(rows.begin(), rows.end(),
                         [](const Socket& s) { return s.local.ip.isV4Mapped(); });
  ASSERT_NE(it, rows.end());
  EXPECT_TRUE(it->local.ip.v6);
  EXPECT_EQ(it->local.ip.toString(), "::ffff:127.0.0.1");
  EXPECT_TRUE(it->local.ip.isLoopback());
}

TEST(ProcNetParser, LongIpv6AddressDecodes) {
  const auto rows = parseCaptured("proc_nsA", Transport::Tcp6, nullptr);
  auto it = std::find_if(rows.begin(), rows.end(), [](const Socket& s) {
    return s.local.ip.toString() == "2001:db8:abcd:1234:5678:9abc:def0:1234";
  });
  EXPECT_NE(it, rows.end());
}

TEST(ProcNetParser, RawPortIsTheProtocol) {
  const auto rows = parseCaptured("proc_nsA", Transport::Raw6, nullptr);
  auto it =
      std::find_if(rows.begin(), rows.end(), [](const Socket& s) { return s.local.port == 58; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(it->rx_queue, 832U);
}

TEST(ProcNetParser, UnixPathsAreKeptVerbatim) {
  const auto rows = parseCaptured("proc_nsA", Transport::Unix, nullptr);
  auto by_inode = [&](std::uint64_t inode) {
    auto it =
        std::find_if(rows.begin(), rows.end(), [&](const Socket& s) { return s.inode == inode; });
    EXPECT_NE(it, rows.end()) << inode;
    return it == rows.end() ? Socket{} : *it;
  };
  EXPECT_EQ(by_inode(143774).unix_path, "/srv/capture/run/with space.sock");
  EXPECT_EQ(by_inode(143769).unix_path, "@netstat-sample-abstract");
  EXPECT_EQ(by_inode(143769).unix_flags, kUnixFlagAcceptCon);
  EXPECT_EQ(by_inode(143770).unix_path, "@abs@with@nuls");
  EXPECT_EQ(by_inode(143771).unix_type, 5);  // SEQPACKET
  const Socket unbound = by_inode(143776);
  EXPECT_FALSE(unbound.unix_has_path);
  EXPECT_EQ(unbound.state, 1);
  EXPECT_EQ(by_inode(143765).state, 3);
  EXPECT_EQ(by_inode(143765).ref_count, 3U);
}

TEST(ProcNetParser, MalformedRowsAreSkippedAndCounted) {
  const std::string text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n"
      "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
      "0 1001 1 0000000000000000 100 0 0 10 0\n"
      "   1: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
      "0 10\n"                              // cut short inside the inode
      "garbage that is not a socket row\n"  // garbage
      "   2: 0100007Z:1F92 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0     0 "
      "1003 1 0000000000000000\n"  // bad hex
      "   3: 00000000000000000000000001000000:1F93 00000000:0000 0A 00000000:00000000 "
      "00:00000000 00000000 0 0 1004 1 0000000000000000\n"  // IPv6 address in the IPv4 table
      "   4: 0100007F:1F94 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
      "0 18446744073709551615 1 0000000000000000 100 0 0 10 0\n";  // 64-bit inode is fine
  std::vector<Socket> out;
  const ParseCounts counts = parseInetTable(text, Transport::Tcp, out);
  EXPECT_EQ(counts.rows, 2U);
  EXPECT_EQ(counts.skipped, 4U);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].inode, 1001U);
  EXPECT_EQ(out[0].local.port, 0x1F90);
  EXPECT_EQ(out[1].inode, 18446744073709551615ULL);
}

TEST(ProcNetParser, EmptyAndHeaderOnlyTablesYieldNothing) {
  std::vector<Socket> out;
  EXPECT_EQ(parseInetTable("", Transport::Udp, out).rows, 0U);
  EXPECT_EQ(parseInetTable("   sl  local_address rem_address\n", Transport::Udp, out).skipped, 0U);
  EXPECT_EQ(parseUnixTable("Num       RefCount Protocol Flags    Type St Inode Path\n", out).rows,
            0U);
  EXPECT_TRUE(out.empty());
}

TEST(ProcNetParser, TruncatedFileKeepsEveryCompleteRow) {
  const std::string text = readFile(samples() / "proc_nsA" / "tcp");
  const std::size_t last_row = text.rfind('\n', text.size() - 2) + 1;
  const std::string cut = text.substr(0, last_row + 60);  // the last row ends inside its timer
  std::vector<Socket> full;
  std::vector<Socket> partial;
  parseInetTable(text, Transport::Tcp, full);
  const ParseCounts counts = parseInetTable(cut, Transport::Tcp, partial);
  EXPECT_EQ(partial.size() + 1, full.size());
  EXPECT_EQ(counts.skipped, 1U);
}

}  // namespace
}  // namespace podnetstat::scanner
