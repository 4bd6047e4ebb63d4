// Which agent answers for a node, from `kubectl get pods -o json` of the agent namespace, and
// what kubectl's own messages mean.

#include "podnetstat/agent/plugin/agent_locator.h"

#include <gtest/gtest.h>

#include "podnetstat/agent/plugin/kubectl.h"

namespace podnetstat::agent::plugin {
namespace {

using nlohmann::json;

/// An agent pod as the chart makes it (trimmed to what the plugin reads).
json agentPod(const std::string& name,
              const std::string& node,
              bool ready,
              const std::string& instance = "podnetstat",
              const std::string& created = "2025-01-01T00:00:00Z") {
  json pod = json::parse(R"({
    "kind": "Pod",
    "metadata": {"labels": {"app.kubernetes.io/name": "podnetstat"},
                 "ownerReferences": [{"kind": "DaemonSet", "name": "podnetstat"}]},
    "spec": {"containers": [{"name": "agent",
                             "args": ["serve", "--listen=127.0.0.1:9180"],
                             "ports": [{"name": "api", "containerPort": 9180},
                                       {"name": "health", "containerPort": 9181}]}]},
    "status": {"phase": "Running"}})");
  pod["metadata"]["name"] = name;
  pod["metadata"]["namespace"] = "podnetstat";
  pod["metadata"]["labels"]["app.kubernetes.io/instance"] = instance;
  pod["metadata"]["ownerReferences"][0]["name"] = instance;
  pod["metadata"]["creationTimestamp"] = created;
  pod["spec"]["nodeName"] = node;
  pod["status"]["conditions"] =
      json::array({{{"type", "Ready"}, {"status", ready ? "True" : "False"}}});
  if (!ready) {
    pod["status"]["containerStatuses"] = json::parse(R"([{"name": "agent", "ready": false,
        "state": {"waiting": {"reason": "CreateContainerError",
                              "message": "path \"/var/run/netns\" is mounted on \"/\" but it is not a shared or slave mount"}}}])");
  }
  return pod;
}

std::vector<AgentPod> agents(std::initializer_list<json> pods) {
  json list = {{"kind", "PodList"}, {"items", json::array()}};
  for (const auto& p : pods) {
    list["items"].push_back(p);
  }
  auto parsed = parseAgentPods(list);
  EXPECT_TRUE(parsed.ok());
  return parsed.ok() ? *parsed : std::vector<AgentPod>{};
}

const AgentSearch kSearch{"podnetstat", "app.kubernetes.io/name=podnetstat"};

TEST(AgentLocatorTest, TheReadyAgentOfTheNode) {
  const auto list =
      agents({agentPod("podnetstat-a", "n1", true), agentPod("podnetstat-b", "n2", true)});
  auto a = agentForNode(list, "n2", kSearch);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(a->name, "podnetstat-b");
  EXPECT_EQ(a->api_port, 9180);
  EXPECT_EQ(a->daemonset, "podnetstat");
  EXPECT_FALSE(a->tls);
  EXPECT_EQ(agentNodes(list), (std::vector<std::string>{"n1", "n2"}));
}

TEST(AgentLocatorTest, NoAgentOnTheNodeSaysWhereItLooked) {
  auto a = agentForNode(agents({agentPod("podnetstat-a", "n1", true)}), "n9", kSearch);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("no podnetstat agent runs on node n9"), std::string::npos);
  EXPECT_NE(a.error().message.find("namespace podnetstat"), std::string::npos);
  EXPECT_NE(a.error().message.find("nodeSelector"), std::string::npos);
}

TEST(AgentLocatorTest, AnAgentThatIsNotReadySaysWhy) {
  auto a = agentForNode(agents({agentPod("podnetstat-a", "n1", false)}), "n1", kSearch);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("podnetstat/podnetstat-a, is not Ready"), std::string::npos)
      << a.error().message;
  EXPECT_NE(a.error().message.find("CreateContainerError: path"), std::string::npos)
      << a.error().message;
}

TEST(AgentLocatorTest, DuringARolloutTheNewestReadyOneAndNeverOneBeingDeleted) {
  json old_pod = agentPod("podnetstat-old", "n1", true, "podnetstat", "2025-01-01T00:00:00Z");
  old_pod["metadata"]["deletionTimestamp"] = "2025-01-02T00:00:00Z";
  const auto list =
      agents({old_pod, agentPod("podnetstat-mid", "n1", true, "podnetstat", "2025-01-01T10:00:00Z"),
              agentPod("podnetstat-new", "n1", true, "podnetstat", "2025-01-02T00:00:00Z")});
  auto a = agentForNode(list, "n1", kSearch);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "podnetstat-new");
}

TEST(AgentLocatorTest, TwoReleasesOnANodeAreNamed) {
  auto a = agentForNode(
      agents({agentPod("a-1", "n1", true, "alpha"), agentPod("b-1", "n1", true, "beta")}), "n1",
      kSearch);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("alpha, beta"), std::string::npos) << a.error().message;
  EXPECT_NE(a.error().message.find("--agent-selector"), std::string::npos);
}

TEST(AgentLocatorTest, RemoteModeAndAnotherPort) {
  json pod = agentPod("podnetstat-a", "n1", true);
  pod["spec"]["containers"][0]["args"].push_back("--tls-cert=/etc/podnetstat/tls/tls.crt");
  pod["spec"]["containers"][0]["ports"][0]["containerPort"] = 9443;
  const auto list = agents({pod});
  ASSERT_EQ(list.size(), 1U);
  EXPECT_TRUE(list[0].tls);
  EXPECT_EQ(list[0].api_port, 9443);
}

TEST(AgentLocatorTest, TargetPodsFromAPodOrAList) {
  auto one = parseTargetPods(json::parse(
      R"({"kind":"Pod","metadata":{"name":"web-0","namespace":"shop"},
          "spec":{"nodeName":"n1"},"status":{"phase":"Running"}})"));
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1U);
  EXPECT_EQ((*one)[0].node, "n1");
  auto list = parseTargetPods(json::parse(
      R"({"kind":"PodList","items":[{"metadata":{"name":"a","namespace":"x"},"spec":{},
          "status":{"phase":"Pending"}}]})"));
  ASSERT_TRUE(list.ok());
  EXPECT_EQ((*list)[0].node, "");
  EXPECT_FALSE(parseTargetPods(json::parse(R"({"kind":"Status"})")).ok());
}

TEST(KubectlMessagesTest, APortForwardRefusalNamesTheVerbResourceAndNamespace) {
  const auto f = explainKubectlError(
      "error: error upgrading connection: pods \"podnetstat-x\" is forbidden: User "
      "\"system:serviceaccount:demo:viewer\" cannot create resource \"pods/portforward\" in API "
      "group \"\" in the namespace \"podnetstat\"\n");
  EXPECT_EQ(f.kind, KubectlFailure::Kind::Forbidden);
  EXPECT_EQ(f.verb, "create");
  EXPECT_EQ(f.resource, "pods/portforward");
  EXPECT_EQ(f.namespace_name, "podnetstat");
  EXPECT_EQ(f.user, "system:serviceaccount:demo:viewer");
  const std::string text = describeForbidden(f);
  EXPECT_NE(text.find("may not create pods/portforward in namespace podnetstat"), std::string::npos)
      << text;
}

TEST(KubectlMessagesTest, NotFoundKeepsKubectlsWords) {
  const auto f = explainKubectlError("Error from server (NotFound): pods \"nope\" not found\n");
  EXPECT_EQ(f.kind, KubectlFailure::Kind::NotFound);
  EXPECT_EQ(f.message, "pods \"nope\" not found");
}

TEST(KubectlMessagesTest, ClusterScopedRefusalsAndOtherErrors) {
  const auto f = explainKubectlError(
      "Error from server (Forbidden): pods is forbidden: User \"bob\" cannot list resource "
      "\"pods\" in API group \"\" at the cluster scope\n");
  EXPECT_EQ(f.verb, "list");
  EXPECT_EQ(f.namespace_name, "");
  EXPECT_NE(describeForbidden(f).find("at the cluster scope"), std::string::npos);
  const auto other = explainKubectlError(
      "I1207 warning noise\nerror: unable to connect: dial tcp 10.0.0.1:6443: connection "
      "refused\n");
  EXPECT_EQ(other.kind, KubectlFailure::Kind::Other);
  EXPECT_EQ(other.message, "unable to connect: dial tcp 10.0.0.1:6443: connection refused");
}

TEST(KubectlMessagesTest, TheForwardingLine) {
  EXPECT_EQ(parseForwardingLine("Forwarding from 127.0.0.1:41234 -> 9180"), 41234);
  EXPECT_EQ(parseForwardingLine("Forwarding from 127.0.0.1:5"), 5);
  EXPECT_FALSE(parseForwardingLine("Forwarding from [::1]:41234 -> 9180"));
  EXPECT_FALSE(parseForwardingLine("Forwarding from 127.0.0.1:99999 -> 9180"));
  EXPECT_FALSE(parseForwardingLine("Handling connection for 9180"));
}

}  // namespace
}  // namespace podnetstat::agent::plugin
