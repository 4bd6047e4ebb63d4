// The command line of kubectl podnetstat: kubectl's flags and netstat's, where they share letters,
// and what each maps to in the agent's query.

#include "podnetstat/agent/plugin/plugin_args.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/agent/plugin/plugin_command.h"

namespace podnetstat::agent::plugin {
namespace {

Result<PluginArgs> parse(std::vector<std::string> args) {
  args.insert(args.begin(), "kubectl-podnetstat");
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  return parsePluginArgs(static_cast<int>(argv.size() - 1), argv.data());
}

PluginArgs ok(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
  return r.ok() ? *r : PluginArgs{};
}

std::string error(std::vector<std::string> args) {
  auto r = parse(std::move(args));
  EXPECT_FALSE(r.ok());
  return r.ok() ? "" : r.error().message;
}

TEST(PluginArgsTest, ThePodWithNetstatFlagsAndANamespace) {
  const PluginArgs a = ok({"web-0", "-n", "shop", "-tlnp"});
  EXPECT_EQ(a.command, PluginCommand::Pod);
  EXPECT_EQ(a.names, std::vector<std::string>{"web-0"});
  EXPECT_EQ(a.namespace_name, "shop");
  EXPECT_EQ(a.netstat.format.mode, ListMode::Servers);
  EXPECT_TRUE(a.netstat.format.programs);
  EXPECT_FALSE(a.netstat.format.unix_block);
  EXPECT_EQ(socketQuery(a.netstat, "json"), "transport=tcp,tcp6&listening=true&format=json");
}

TEST(PluginArgsTest, NIsTheNamespaceAloneAndNetstatsInABundle) {
  EXPECT_EQ(ok({"web-0", "-nshop"}).namespace_name, "shop");
  EXPECT_EQ(ok({"web-0", "-n=shop"}).namespace_name, "shop");
  EXPECT_EQ(ok({"web-0", "--namespace=shop"}).namespace_name, "shop");
  const PluginArgs bundle = ok({"web-0", "-tn"});
  EXPECT_FALSE(bundle.namespace_name.has_value());
  EXPECT_TRUE(bundle.netstat.format.numeric_hosts);
  EXPECT_NE(error({"web-0", "-n"}).find("-n needs a value"), std::string::npos);
}

TEST(PluginArgsTest, OIsTheOutputWithAFormatAndTimersInABundle) {
  EXPECT_EQ(ok({"web-0", "-o", "json"}).output, OutputKind::Json);
  EXPECT_EQ(ok({"web-0", "-oyaml"}).output, OutputKind::Yaml);
  EXPECT_EQ(ok({"web-0", "--output=wide"}).output, OutputKind::Wide);
  const PluginArgs timers = ok({"web-0", "-tanpo"});
  EXPECT_EQ(timers.output, OutputKind::Table);
  EXPECT_TRUE(timers.netstat.format.timers);
  EXPECT_TRUE(ok({"web-0", "--timers"}).netstat.format.timers);
  EXPECT_NE(error({"web-0", "-o", "-t"}).find("--timers"), std::string::npos);
  EXPECT_NE(error({"web-0", "-o=xml"}).find("'xml'"), std::string::npos);
}

TEST(PluginArgsTest, LIsTheSelectorBeforeAWordAndListeningOtherwise) {
  const PluginArgs selector = ok({"-l", "app=web", "-n", "shop", "-t"});
  EXPECT_EQ(selector.selector, "app=web");
  EXPECT_TRUE(selector.names.empty());
  EXPECT_EQ(selector.netstat.format.mode, ListMode::NonServers);
  const PluginArgs listening = ok({"web-0", "-l"});
  EXPECT_FALSE(listening.selector.has_value());
  EXPECT_EQ(listening.netstat.format.mode, ListMode::Servers);
  EXPECT_EQ(ok({"web-0", "-l", "-t"}).netstat.format.mode, ListMode::Servers);
  EXPECT_EQ(ok({"node", "n1", "-l"}).netstat.format.mode, ListMode::Servers);
  // For nodes -l is never a selector, so the node name after it stays a node.
  EXPECT_EQ(ok({"node", "-l", "n1"}).names, std::vector<std::string>{"n1"});
}

TEST(PluginArgsTest, AIsAFamilyListOrAllNamespaces) {
  const PluginArgs family = ok({"web-0", "-A", "inet6", "-a"});
  EXPECT_FALSE(family.all_namespaces);
  EXPECT_EQ(socketQuery(family.netstat, "json"), "transport=tcp6,udp6,udplite6,raw6&format=json");
  const PluginArgs all = ok({"-A", "-l", "app=web"});
  EXPECT_TRUE(all.all_namespaces);
  EXPECT_NE(error({"web-0", "-A"}).find("-A (all namespaces) needs -l"), std::string::npos);
}

TEST(PluginArgsTest, KubectlsOwnFlagsArePassedOn) {
  const PluginArgs a = ok({"web-0", "--context", "prod", "--kubeconfig=/k", "--as",
                           "system:serviceaccount:x:y", "--insecure-skip-tls-verify"});
  EXPECT_EQ(a.kubectl_args, (std::vector<std::string>{"--context=prod", "--kubeconfig=/k",
                                                      "--as=system:serviceaccount:x:y",
                                                      "--insecure-skip-tls-verify"}));
}

TEST(PluginArgsTest, AgentAndFanOutFlags) {
  const PluginArgs a =
      ok({"listeners", "--all-nodes", "--undeclared", "--exposure", "pod,node", "--max-forwards",
          "2", "--timeout", "1500ms", "--agent-namespace", "ops", "--agent-port", "9443",
          "--agent-ca", "/ca.crt", "--agent-server-name", "pns.ops.svc"});
  EXPECT_EQ(a.command, PluginCommand::Listeners);
  EXPECT_TRUE(a.all_nodes);
  EXPECT_EQ(a.max_forwards, 2U);
  EXPECT_EQ(a.timeout, std::chrono::milliseconds(1500));
  EXPECT_EQ(a.agent_namespace, "ops");
  EXPECT_EQ(a.access.port, 9443);
  EXPECT_EQ(a.access.ca_file, "/ca.crt");
  EXPECT_EQ(a.access.server_name, "pns.ops.svc");
  EXPECT_EQ(listenerQuery(a, "json"), "exposure=pod,node&declared=false&format=json");
}

TEST(PluginArgsTest, NetstatsOtherViewsArePerPod) {
  EXPECT_EQ(ok({"web-0", "-i"}).netstat.view, NetView::Interfaces);
  EXPECT_EQ(ok({"web-0", "-rn"}).netstat.view, NetView::Routes);
  EXPECT_NE(error({"node", "n1", "-i"}).find("per pod"), std::string::npos);
  EXPECT_NE(error({"web-0", "-s", "-t"}).find("leave -t/-u out"), std::string::npos);
}

TEST(PluginArgsTest, MistakesAreNamed) {
  EXPECT_NE(error({"web-0", "--bogus"}).find("--bogus"), std::string::npos);
  EXPECT_NE(error({"web-0", "-tz"}).find("-tz"), std::string::npos);
  EXPECT_NE(error({"web-0", "web-1"}).find("one pod at a time"), std::string::npos);
  EXPECT_NE(error({"web-0", "-l", "app=web"}).find("give one of them"), std::string::npos);
  EXPECT_NE(error({"listeners"}).find("--all-nodes"), std::string::npos);
  EXPECT_NE(error({"listeners", "--all-nodes", "--exposure", "pod,cluster"}).find("'cluster'"),
            std::string::npos);
  EXPECT_NE(error({"web-0", "--undeclared"}).find("listeners"), std::string::npos);
  EXPECT_NE(error({"web-0", "--max-forwards", "0"}).find("--max-forwards"), std::string::npos);
  EXPECT_NE(error({"web-0", "-M"}).find("-M"), std::string::npos);  // netstat's, refused by name
  EXPECT_NE(error({}).find("which pod?"), std::string::npos);
}

TEST(PluginArgsTest, HelpAndThePodPrefix) {
  EXPECT_EQ(ok({"--help"}).command, PluginCommand::Help);
  EXPECT_EQ(ok({"web-0", "-h"}).command, PluginCommand::Help);
  EXPECT_EQ(ok({"pod", "node"}).names, std::vector<std::string>{"node"});
  EXPECT_EQ(ok({"pod/web-0"}).names, std::vector<std::string>{"web-0"});
}

}  // namespace
}  // namespace podnetstat::agent::plugin
