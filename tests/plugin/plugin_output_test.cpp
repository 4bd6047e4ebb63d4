// What the plugin prints. Its netstat tables are rendered from an agent's JSON: here the JSON of
// `podnetstat list --json` over the frozen capture, whose real net-tools netstat output is in
// tests/fixtures/netstat-samples/replay_nsA; every byte must match it. Then the merged listener
// table and the YAML writer.

#include "podnetstat/agent/plugin/plugin_output.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/agent/cli/list_command.h"
#include "podnetstat/agent/plugin/remote_sockets.h"

#include "../agent/run_podnetstat.h"
#include "fixture_proc_root.h"
#include "test_paths.h"

namespace podnetstat::agent::plugin {
namespace {

using json = nlohmann::ordered_json;
using podnetstat::testing::TempDir;

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

NetstatOptions netstatOptions(std::vector<std::string> flags) {
  flags.insert(flags.begin(), "list");
  std::vector<char*> argv;
  for (auto& f : flags) {
    argv.push_back(f.data());
  }
  argv.push_back(nullptr);
  auto args = parseListArgs(static_cast<int>(argv.size() - 1), argv.data());
  EXPECT_TRUE(args.ok());
  return args.ok() ? args->format : NetstatOptions{};
}

/// The capture's namespace nsA as the API's socket objects: `podnetstat list --json -a`.
class RemoteTableTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    podnetstat::testing::buildFixtureProcRoot(dir_->path() / "proc");
    std::filesystem::create_directories(dir_->path() / "netns");
    const auto r = podnetstat::testing::runPodnetstat(
        {"list", "--proc-root", (dir_->path() / "proc").string(), "--netns-dir",
         (dir_->path() / "netns").string(), "--netns-pid",
         std::to_string(podnetstat::testing::kHelperPid), "--json", "-a"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    items_ = new json(json::parse(r.out));
  }

  static void TearDownTestSuite() {
    delete items_;
    items_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  static void expectNetstat(const std::vector<std::string>& flags, const std::string& file) {
    ASSERT_TRUE(items_ != nullptr && items_->is_array());
    auto sockets = socketsFromJson(*items_);
    ASSERT_TRUE(sockets.ok()) << sockets.error().message;
    const std::string expected =
        readFile(podnetstat::testing::fixturesDir() / "netstat-samples" / "replay_nsA" / file);
    ASSERT_FALSE(expected.empty()) << file;
    EXPECT_EQ(socketTable(*sockets, netstatOptions(flags), false), expected) << file;
  }

  static TempDir* dir_;
  static json* items_;
};

TempDir* RemoteTableTest::dir_ = nullptr;
json* RemoteTableTest::items_ = nullptr;

TEST_F(RemoteTableTest, ServersWithPrograms) {
  expectNetstat({"-tuwlnp"}, "netstat_tuwlnp.out");
}

TEST_F(RemoteTableTest, EveryColumnOfEveryProtocol) {
  expectNetstat({"-tuwxUapeon"}, "netstat_tuwxUapeon.out");
  expectNetstat({"-tuwxUapeonW"}, "netstat_tuwxUapeonW.out");
  expectNetstat({"-tuwxUaneo"}, "netstat_tuwxUaneo.out");
}

TEST_F(RemoteTableTest, NonServersUnixAndOneFamily) {
  expectNetstat({"-tuwn"}, "netstat_tuwn.out");
  expectNetstat({"-xa"}, "netstat_xa.out");
  expectNetstat({"-A", "inet6", "-an"}, "netstat_A_inet6_an.out");
}

TEST_F(RemoteTableTest, ThePodColumnOpensEachRow) {
  ASSERT_TRUE(items_ != nullptr);
  json items = *items_;
  for (auto& item : items) {
    item["pod"] = json::parse(R"({"namespace":"shop","name":"web-0","uid":"u","container":null})");
  }
  items[0]["pod"] = nullptr;
  auto sockets = socketsFromJson(items);
  ASSERT_TRUE(sockets.ok());
  const std::string table = socketTable(*sockets, netstatOptions({"-tan"}), true);
  std::istringstream lines(table);
  std::string title;
  std::string header;
  std::getline(lines, title);
  std::getline(lines, header);
  EXPECT_EQ(title, "Active Internet connections (servers and established)");
  EXPECT_TRUE(header.starts_with("Pod        Proto Recv-Q")) << header;
  for (std::string row; std::getline(lines, row);) {
    EXPECT_TRUE(row.starts_with("shop/web-0 tcp") || row.starts_with("-          tcp")) << row;
  }
}

TEST(RemoteSocketsTest, AMalformedItemIsNamed) {
  auto r =
      socketsFromJson(json::parse(R"([{"transport":"tcp","local":{"ip":"1.2.3.4","port":1}}])"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("item 0: field 'remote' missing"), std::string::npos)
      << r.error().message;
  EXPECT_FALSE(socketsFromJson(json::parse(R"([{"transport":"sctp"}])")).ok());
  EXPECT_FALSE(socketsFromJson(json::object()).ok());
}

json listener(const std::string& node, const std::string& name, int port, bool declared) {
  json row = json::parse(R"J({
    "transport":"tcp","local":{"ip":"0.0.0.0","port":0},"remote":{"ip":"0.0.0.0","port":0},
    "state":"LISTEN","txQueue":0,"rxQueue":0,
    "timer":{"active":"off","expiresSeconds":0.0,"retransmits":0},"uid":0,"timeout":0,
    "inode":7,"refCount":1,"processes":[{"pid":42,"name":"demo","program":"demo"}],
    "netns":{"inode":4026532999,"name":"cni-1","names":["cni-1"]},
    "pod":{"namespace":"shop","name":"","uid":"u","container":{"id":"abc","name":"web"}},
    "exposure":"pod","exposureReason":"pod network namespace, bound to 0.0.0.0 (all addresses)",
    "declared":true,"hostPort":null,"uid0":false})J");
  row["pod"]["name"] = name;
  row["local"]["port"] = port;
  row["declared"] = declared;
  json out = {{"node", node}};
  for (const auto& [k, v] : row.items()) {
    out[k] = v;
  }
  return out;
}

TEST(ListenerTableTest, OneTableWithANodeColumn) {
  const json rows = json::array(
      {listener("node-a", "web-0", 8080, true), listener("node-b", "api-7", 9999, false)});
  auto table = listenerTable(rows, false);
  ASSERT_TRUE(table.ok()) << table.error().message;
  EXPECT_EQ(*table,
            "NODE     NAMESPACE   POD     CONTAINER   PROTO   LOCAL ADDRESS   EXPOSURE   "
            "DECLARED   HOSTPORT   PROGRAM\n"
            "node-a   shop        web-0   web         tcp     0.0.0.0:8080    pod        yes      "
            "  -          42/demo\n"
            "node-b   shop        api-7   web         tcp     0.0.0.0:9999    pod        no       "
            "  -          42/demo\n");
  auto wide = listenerTable(rows, true);
  ASSERT_TRUE(wide.ok());
  EXPECT_NE(wide->find("UID0   NETNS   REASON"), std::string::npos) << *wide;
  EXPECT_NE(wide->find("no     cni-1   pod network namespace, bound to 0.0.0.0 (all addresses)\n"),
            std::string::npos)
      << *wide;
}

TEST(YamlTest, BlockStyleWithQuotesWhereYamlWouldMisread) {
  const json doc = json::parse(R"([
    {"node":"n1","declared":false,"hostPort":null,"port":8080,"ratio":0.5,
     "names":["a","b"],"empty":[],"obj":{},"tricky":["yes","123","","a: b","-x","#c","ok text"],
     "nested":{"k":[{"a":1,"b":[1,2]}]}}])");
  EXPECT_EQ(toYaml(doc),
            "- node: n1\n"
            "  declared: false\n"
            "  hostPort: null\n"
            "  port: 8080\n"
            "  ratio: 0.5\n"
            "  names:\n"
            "  - a\n"
            "  - b\n"
            "  empty: []\n"
            "  obj: {}\n"
            "  tricky:\n"
            "  - \"yes\"\n"
            "  - \"123\"\n"
            "  - \"\"\n"
            "  - \"a: b\"\n"
            "  - \"-x\"\n"
            "  - \"#c\"\n"
            "  - ok text\n"
            "  nested:\n"
            "    k:\n"
            "    - a: 1\n"
            "      b:\n"
            "      - 1\n"
            "      - 2\n");
  EXPECT_EQ(toYaml(json::array()), "[]\n");
  EXPECT_EQ(toJson(json::parse(R"({"a":[1]})")), "{\n    \"a\": [\n        1\n    ]\n}\n");
}

TEST(YamlTest, TimesAndBase60NumbersAreQuotedSoThatYaml11ReadsStrings) {
  // YAML 1.1 (PyYAML) reads these unquoted as a timestamp, a date and 80 (1:20 in base 60).
  const json doc = json::parse(
      R"({"firstSeen":"2026-12-07T05:40:00.123Z","day":"2026-12-07","t":"1:20","pod":"web-0"})");
  EXPECT_EQ(toYaml(doc),
            "firstSeen: \"2026-12-07T05:40:00.123Z\"\n"
            "day: \"2026-12-07\"\n"
            "t: \"1:20\"\n"
            "pod: web-0\n");
}

}  // namespace
}  // namespace podnetstat::agent::plugin
