// kubectl podnetstat over many nodes: real agents (`podnetstat serve` on the frozen capture, each
// with its own node name) on loopback stand in for the nodes, and tests/plugin/fake_kubectl.sh
// for kubectl: it answers `get pods` with the agents' pods and `port-forward` with the Forwarding
// line of a node's loopback agent. Besides three good nodes: one whose port-forward never says it
// listens (timeout), one where RBAC refuses port-forward, one whose agent is not Ready, and one
// named by the user that runs no agent. Checked: the merge (NODE column, order, one JSON array),
// partial failure (the others printed, the failed ones on stderr, exit 1), the bound on
// port-forwards at once, and that no port-forward is left after a run, a failure or SIGINT.

#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/plugin/child_process.h"

#include "fixture_proc_root.h"
#include "http_client.h"
#include "serve_process.h"

namespace podnetstat::agent::plugin {
namespace {

using json = nlohmann::ordered_json;
using podnetstat::testing::ScratchDir;
using podnetstat::testing::ServeProcess;
using podnetstat::testing::TempDir;

const std::string kAgentNamespace = "podnetstat-fake-" + std::to_string(getpid());
const std::vector<std::string> kGoodNodes = {"node-a", "node-b", "node-c"};

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void writeFile(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

json agentPod(const std::string& node, bool ready) {
  json pod = json::parse(R"({"kind":"Pod","metadata":{"labels":{}},"spec":{"containers":[{
      "name":"agent","args":["serve"],"ports":[{"name":"api","containerPort":9180}]}]},
      "status":{"phase":"Running"}})");
  pod["metadata"]["name"] = "podnetstat-" + node;
  pod["metadata"]["namespace"] = kAgentNamespace;
  pod["metadata"]["labels"]["app.kubernetes.io/instance"] = "podnetstat";
  pod["spec"]["nodeName"] = node;
  pod["status"]["conditions"] =
      json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
  return pod;
}

/// Processes whose environment carries `marker` (the fake kubectl and what it started), but
/// `except`.
std::vector<pid_t> processesWith(const std::string& marker, pid_t except) {
  std::vector<pid_t> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) {
      continue;
    }
    const pid_t pid = std::stoi(name);
    if (pid == except || pid == getpid()) {
      continue;
    }
    const std::string env = readFile(entry.path() / "environ");
    if (env.find(marker) != std::string::npos) {
      // A zombie is a leftover too: its parent did not reap it.
      found.push_back(pid);
    }
  }
  return found;
}

struct PluginRun {
  ChildOutput output;
  double seconds = 0;
  std::vector<pid_t> left;  // processes of the run still there afterwards
};

class PluginFanOutTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fixture_ = new TempDir();
    podnetstat::testing::buildFixtureProcRoot(fixture_->path() / "proc");
    // serve reads every namespace and the host's through PID 1: here the peer's (nsB).
    std::filesystem::create_directory_symlink(std::to_string(podnetstat::testing::kPeerPid),
                                              fixture_->path() / "proc" / "1");
    std::filesystem::create_directories(fixture_->path() / "netns");
    agents_ = new std::map<std::string, std::unique_ptr<ServeProcess>>();
    for (const auto& node : kGoodNodes) {
      (*agents_)[node] = std::make_unique<ServeProcess>(std::vector<std::string>{
          "--proc-root", (fixture_->path() / "proc").string(), "--netns-dir",
          (fixture_->path() / "netns").string(), "--node-name", node, "--refresh", "60s"});
    }
  }

  static void TearDownTestSuite() {
    delete agents_;
    agents_ = nullptr;
    delete fixture_;
    fixture_ = nullptr;
  }

  void SetUp() override {
    json pods = {{"kind", "PodList"}, {"items", json::array()}};
    for (const auto& node : kGoodNodes) {
      pods["items"].push_back(agentPod(node, true));
      writeFile(dir_.path() / ("forward-podnetstat-" + node),
                "port " + std::to_string((*agents_)[node]->port()));
    }
    pods["items"].push_back(agentPod("node-d", true));
    writeFile(dir_.path() / "forward-podnetstat-node-d", "hang");
    pods["items"].push_back(agentPod("node-e", true));
    writeFile(dir_.path() / "forward-podnetstat-node-e", "forbidden");
    pods["items"].push_back(agentPod("node-g", false));
    writeFile(dir_.path() / ("pods-" + kAgentNamespace + ".json"), pods.dump());
  }

  /// The agent's own answer to `target`.
  static json agentJson(const std::string& node, const std::string& target) {
    agent::HttpClient client("127.0.0.1", (*agents_)[node]->port(), std::chrono::seconds(10));
    auto r = client.get(target);
    EXPECT_TRUE(r.ok() && r->status == 200);
    return r.ok() ? json::parse(r->body) : json();
  }

  /// kubectl-podnetstat ARGS with the fake kubectl; `during` runs while it does.
  PluginRun run(std::vector<std::string> args, const std::function<void(pid_t)>& during = nullptr) {
    args.insert(args.begin(), PODNETSTAT_PLUGIN_BINARY);
    args.insert(args.end(), {"--agent-namespace", kAgentNamespace, "--context=fake"});
    const std::string marker = "FAKE_KUBECTL_DIR=" + dir_.path().string();
    setenv("KUBECTL", PODNETSTAT_FAKE_KUBECTL, 1);
    setenv("FAKE_KUBECTL_DIR", dir_.path().c_str(), 1);
    const auto started = Clock::now();
    auto child = ChildProcess::start(args);
    unsetenv("KUBECTL");
    unsetenv("FAKE_KUBECTL_DIR");
    PluginRun r;
    if (!child.ok()) {
      ADD_FAILURE() << child.error().message;
      return r;
    }
    if (during) {
      during((*child)->pid());
    }
    r.output = (*child)->finish(Clock::now() + std::chrono::seconds(60));
    r.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    r.left = processesWith(marker, -1);
    return r;
  }

  std::vector<int> concurrency() {
    std::vector<int> out;
    std::istringstream in(readFile(dir_.path() / "concurrency"));
    for (int n = 0; in >> n;) {
      out.push_back(n);
    }
    return out;
  }

  std::size_t liveForwards() {
    std::error_code ec;
    std::size_t n = 0;
    for (std::filesystem::directory_iterator it(dir_.path() / "live", ec), end; !ec && it != end;
         it.increment(ec)) {
      ++n;
    }
    return n;
  }

  void interruptMidRun(int sig);

  ScratchDir dir_{"pns-fake-kubectl-"};
  static TempDir* fixture_;
  static std::map<std::string, std::unique_ptr<ServeProcess>>* agents_;
};

TempDir* PluginFanOutTest::fixture_ = nullptr;
std::map<std::string, std::unique_ptr<ServeProcess>>* PluginFanOutTest::agents_ = nullptr;

TEST_F(PluginFanOutTest, ListenersOfEveryNodeMergeIntoOneArrayWithTheFailedNodesOnStderr) {
  const PluginRun r =
      run({"listeners", "--all-nodes", "-o", "json", "--max-forwards", "2", "--timeout", "2s"});
  EXPECT_EQ(r.output.exit.code, 1) << "a node failed: the exit status says so";
  const json rows = json::parse(r.output.out, nullptr, false);
  ASSERT_TRUE(rows.is_array()) << r.output.out;

  // Every good node's listeners, in node order, each with its node, as its agent answers them.
  json expected = json::array();
  for (const auto& node : kGoodNodes) {
    const json own = agentJson(node, "/api/v1/listeners");
    for (const json& item : own["items"]) {
      json row = {{"node", node}};
      for (const auto& [k, v] : item.items()) {
        row[k] = v;
      }
      expected.push_back(row);
    }
  }
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(rows, expected);

  const std::string& err = r.output.err;
  EXPECT_NE(err.find("error: node node-d: kubectl port-forward -n " + kAgentNamespace +
                     " pod/podnetstat-node-d: no \"Forwarding from\" line in time"),
            std::string::npos)
      << err;
  EXPECT_NE(
      err.find("error: node node-e: kubectl port-forward -n " + kAgentNamespace +
               " pod/podnetstat-node-e: forbidden: user \"system:serviceaccount:test:viewer\" "
               "may not create pods/portforward in namespace " +
               kAgentNamespace),
      std::string::npos)
      << err;
  EXPECT_NE(err.find("error: node node-g: the podnetstat agent on node node-g"), std::string::npos)
      << err;
  EXPECT_EQ(err.find("node-a"), std::string::npos) << err;

  // At most two port-forwards at once, and two did run at once.
  const auto counts = concurrency();
  ASSERT_FALSE(counts.empty());
  EXPECT_EQ(*std::max_element(counts.begin(), counts.end()), 2)
      << readFile(dir_.path() / "concurrency");
  // The hanging node cost its timeout, not more: five forwards, two at a time.
  EXPECT_LT(r.seconds, 10.0);
  EXPECT_TRUE(r.left.empty()) << r.left.size() << " processes of the fake kubectl left";
  EXPECT_EQ(liveForwards(), 0U);
  // kubectl's own flags went to every kubectl call.
  EXPECT_NE(readFile(dir_.path() / "calls").find("--context=fake port-forward"), std::string::npos);
}

TEST_F(PluginFanOutTest, TheTableHasANodeColumnInNodeOrderWhateverOrderTheyWereNamed) {
  const PluginRun r = run({"listeners", "node-c", "node-a", "node-b", "--max-forwards", "3"});
  EXPECT_EQ(r.output.exit.code, 0) << r.output.err;
  EXPECT_EQ(r.output.err, "");
  std::istringstream lines(r.output.out);
  std::string header;
  std::getline(lines, header);
  EXPECT_TRUE(header.starts_with("NODE     NAMESPACE   POD   CONTAINER   PROTO")) << header;
  std::vector<std::string> order;
  std::map<std::string, std::size_t> per_node;
  for (std::string line; std::getline(lines, line);) {
    const std::string node = line.substr(0, line.find(' '));
    if (order.empty() || order.back() != node) {
      order.push_back(node);
    }
    ++per_node[node];
  }
  EXPECT_EQ(order, kGoodNodes) << r.output.out;
  for (const auto& node : kGoodNodes) {
    EXPECT_EQ(per_node[node], agentJson(node, "/api/v1/listeners")["items"].size()) << node;
  }
  EXPECT_TRUE(r.left.empty());
}

TEST_F(PluginFanOutTest, ANodeWithoutAnAgentFailsAloneWithAClearError) {
  const PluginRun r = run({"listeners", "node-a", "node-f", "--undeclared", "-o", "yaml"});
  EXPECT_EQ(r.output.exit.code, 1);
  EXPECT_NE(r.output.err.find("error: node node-f: no podnetstat agent runs on node node-f: no "
                              "pod of namespace " +
                              kAgentNamespace),
            std::string::npos)
      << r.output.err;
  // The capture has no pods, so nothing is known to be undeclared: an empty list, not an error.
  EXPECT_EQ(r.output.out, "[]\n");
  EXPECT_NE(readFile(dir_.path() / "calls")
                .find("port-forward -n " + kAgentNamespace + " pod/podnetstat-node-a"),
            std::string::npos);
  EXPECT_TRUE(r.left.empty());
}

TEST_F(PluginFanOutTest, TheSocketsOfANodeAsNetstatWithAPodColumnOrTheAgentsOwnTable) {
  const PluginRun r = run({"node", "node-b", "-tan"});
  EXPECT_EQ(r.output.exit.code, 0) << r.output.err;
  const std::size_t tcp = agentJson("node-b", "/api/v1/sockets?transport=tcp,tcp6")["items"].size();
  ASSERT_GT(tcp, 0U);
  std::istringstream lines(r.output.out);
  std::string title;
  std::string header;
  std::getline(lines, title);
  std::getline(lines, header);
  EXPECT_EQ(title, "Active Internet connections (servers and established)");
  EXPECT_TRUE(header.starts_with("Pod Proto Recv-Q Send-Q Local Address")) << header;
  std::size_t rows = 0;
  for (std::string line; std::getline(lines, line); ++rows) {
    EXPECT_TRUE(line.starts_with("-   tcp")) << line;
  }
  EXPECT_EQ(rows, tcp);

  const PluginRun wide = run({"node", "node-b", "-tl", "-o", "wide"});
  EXPECT_EQ(wide.output.exit.code, 0) << wide.output.err;
  agent::HttpClient client("127.0.0.1", (*agents_)["node-b"]->port(), std::chrono::seconds(10));
  auto own = client.get("/api/v1/sockets?transport=tcp,tcp6&listening=true&format=table");
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(wide.output.out, own->body);
  EXPECT_TRUE(r.left.empty());
  EXPECT_TRUE(wide.left.empty());
}

/// Runs the plugin over every node, the hanging node's port-forward among them, and sends `sig`
/// while that port-forward runs.
void PluginFanOutTest::interruptMidRun(int sig) {
  std::size_t live_at_signal = 0;
  const PluginRun r = run(
      {"listeners", "--all-nodes", "--timeout", "60s", "--max-forwards", "6"}, [&](pid_t plugin) {
        // The hanging node's forward stays; wait for it, then signal.
        const auto deadline = Clock::now() + std::chrono::seconds(20);
        while (Clock::now() < deadline &&
               readFile(dir_.path() / "calls").find("podnetstat-node-d") == std::string::npos) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        live_at_signal = liveForwards();
        kill(plugin, sig);
      });
  EXPECT_GE(live_at_signal, 1U) << "a port-forward was running when the signal came";
  EXPECT_EQ(r.output.exit.code, 128 + sig);
  EXPECT_LT(r.seconds, 15.0) << "the plugin did not wait for its 60 s timeout";
  EXPECT_TRUE(r.left.empty()) << r.left.size() << " processes of the fake kubectl left";
  EXPECT_EQ(liveForwards(), 0U) << "every port-forward ended by SIGTERM, not killed";
}

TEST_F(PluginFanOutTest, SigintEndsEveryPortForwardAndThePlugin) {
  interruptMidRun(SIGINT);
}

TEST_F(PluginFanOutTest, SigtermEndsEveryPortForwardAndThePlugin) {
  interruptMidRun(SIGTERM);
}

}  // namespace
}  // namespace podnetstat::agent::plugin
