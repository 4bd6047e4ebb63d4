// docs/openapi.json is kept true by this test: real answers of every route of a running agent
// (scanning this machine, plus a namespace full of sockets when root) are validated against the
// document with a small JSON Schema validator (the subset OpenAPI 3.0 documents use here: $ref,
// type, nullable, required, properties, additionalProperties, items, enum, oneOf, allOf,
// minimum/maximum, format date-time). Every path of the document must be exercised, and every
// query parameter it declares must be accepted.

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/agent/render/socket_json.h"

#include "http_client.h"
#include "netns.h"
#include "sockmaker.h"
#include "test_paths.h"

namespace podnetstat::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::filesystem::path specPath() {
  return podnetstat::testing::fixturesDir().parent_path().parent_path() / "docs" / "openapi.json";
}

json loadSpec() {
  std::ifstream in(specPath());
  if (!in) {
    throw std::runtime_error("cannot read " + specPath().string());
  }
  return json::parse(in);
}

/// Validates JSON values against the schemas of an OpenAPI 3.0 document.
class SchemaValidator {
 public:
  explicit SchemaValidator(const json& spec) : spec_(spec) {}

  /// Every violation, as "$.items[3].local.port: ..."; empty when `value` is valid.
  std::vector<std::string> validate(const json& value, const json& schema) const {
    std::vector<std::string> errors;
    check(value, schema, "$", errors);
    return errors;
  }

  /// Follows a local "$ref" ("#/components/...").
  const json& resolve(const json& node) const {
    const json* current = &node;
    while (current->is_object() && current->contains("$ref")) {
      const std::string ref = (*current)["$ref"];
      if (!ref.starts_with("#/")) {
        throw std::runtime_error("only local $ref are supported: " + ref);
      }
      current = &spec_.at(json::json_pointer(ref.substr(1)));
    }
    return *current;
  }

 private:
  static constexpr std::size_t kMaxErrors = 20;

  static bool hasType(const json& value, const std::string& type) {
    static const std::map<std::string, bool (json::*)() const noexcept> kChecks = {
        {"object", &json::is_object}, {"array", &json::is_array},
        {"string", &json::is_string}, {"integer", &json::is_number_integer},
        {"number", &json::is_number}, {"boolean", &json::is_boolean}};
    auto it = kChecks.find(type);
    if (it == kChecks.end()) {
      throw std::runtime_error("unknown schema type " + type);
    }
    return (value.*(it->second))();
  }

  void check(const json& value,
             const json& schema_in,
             const std::string& where,
             std::vector<std::string>& errors) const {
    if (errors.size() >= kMaxErrors) {
      return;
    }
    const json& schema = resolve(schema_in);
    const auto fail = [&](const std::string& what) {
      errors.push_back(where + ": " + what);
    };

    if (value.is_null()) {
      const bool constrained = schema.contains("type") || schema.contains("oneOf") ||
                               schema.contains("allOf") || schema.contains("enum");
      if (constrained && !schema.value("nullable", false)) {
        fail("null where the schema does not allow it");
      }
      return;
    }
    if (schema.contains("allOf")) {
      for (const auto& part : schema["allOf"]) {
        check(value, part, where, errors);
      }
    }
    if (schema.contains("oneOf")) {
      int matches = 0;
      std::string why;
      for (const auto& option : schema["oneOf"]) {
        std::vector<std::string> sub;
        check(value, option, where, sub);
        if (sub.empty()) {
          ++matches;
        } else if (why.empty() || sub.size() < 3) {
          why = sub.front();
        }
      }
      if (matches != 1) {
        fail("matches " + std::to_string(matches) + " of the oneOf schemas (" + why + ")");
      }
    }
    if (schema.contains("type") && !hasType(value, schema["type"])) {
      fail("expected " + schema["type"].get<std::string>() + ", got " + value.dump());
      return;
    }
    if (schema.contains("enum")) {
      const auto& options = schema["enum"];
      if (std::find(options.begin(), options.end(), value) == options.end()) {
        fail(value.dump() + " is not one of " + options.dump());
      }
    }
    if (value.is_number()) {
      if (schema.contains("minimum") && value.get<double>() < schema["minimum"].get<double>()) {
        fail(value.dump() + " is below the minimum");
      }
      if (schema.contains("maximum") && value.get<double>() > schema["maximum"].get<double>()) {
        fail(value.dump() + " is above the maximum");
      }
    }
    if (value.is_string() && schema.value("format", "") == "date-time") {
      static const std::regex kDateTime(
          R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$)");
      if (!std::regex_match(value.get<std::string>(), kDateTime)) {
        fail(value.dump() + " is not an RFC 3339 date-time");
      }
    }
    if (value.is_object()) {
      for (const auto& name : schema.value("required", json::array())) {
        if (!value.contains(name.get<std::string>())) {
          fail("required field " + name.dump() + " is missing");
        }
      }
      const json properties = schema.value("properties", json::object());
      for (const auto& [name, field] : value.items()) {
        const std::string at = where + "." + name;
        if (properties.contains(name)) {
          check(field, properties[name], at, errors);
        } else if (schema.contains("additionalProperties")) {
          const json& extra = schema["additionalProperties"];
          if (extra.is_boolean()) {
            if (!extra.get<bool>()) {
              errors.push_back(at + ": field not in the schema");
            }
          } else {
            check(field, extra, at, errors);
          }
        }
      }
    }
    if (value.is_array() && schema.contains("items")) {
      for (std::size_t i = 0; i < value.size() && errors.size() < kMaxErrors; ++i) {
        check(value[i], schema["items"], where + "[" + std::to_string(i) + "]", errors);
      }
    }
  }

  const json& spec_;
};

/// The spec's path template that matches `path` ("/api/v1/pods/x/sockets" ->
/// "/api/v1/pods/{uid}/sockets"), or "".
std::string matchPath(const json& spec, const std::string& path) {
  for (const auto& [tpl, item] : spec["paths"].items()) {
    const std::string pattern =
        "^" + std::regex_replace(tpl, std::regex(R"(\{[^}]+\})"), "[^/]+") + "$";
    if (std::regex_match(path, std::regex(pattern))) {
      return tpl;
    }
  }
  return "";
}

/// Checks one real answer against the document; returns the path template it matched.
std::string checkAnswer(const json& spec,
                        const SchemaValidator& validator,
                        const std::string& target,
                        const HttpClientResponse& r) {
  const std::string path = target.substr(0, target.find('?'));
  const std::string tpl = matchPath(spec, path);
  if (tpl.empty()) {
    ADD_FAILURE() << target << ": no path of the document matches";
    return "";
  }
  const json& operation = spec["paths"][tpl]["get"];
  const std::string status = std::to_string(r.status);
  if (!operation["responses"].contains(status)) {
    ADD_FAILURE() << target << ": status " << status << " is not documented";
    return tpl;
  }
  const json& response = validator.resolve(operation["responses"][status]);
  std::string type = r.header("content-type");
  type = type.substr(0, type.find(';'));
  if (!response.contains("content") || !response["content"].contains(type)) {
    ADD_FAILURE() << target << ": content type " << type << " is not documented for " << status;
    return tpl;
  }
  if (type == "application/json") {
    const json body = json::parse(r.body, nullptr, false);
    if (body.is_discarded()) {
      ADD_FAILURE() << target << ": the body is not JSON";
      return tpl;
    }
    const auto errors = validator.validate(body, response["content"][type]["schema"]);
    std::ostringstream text;
    for (const auto& e : errors) {
      text << "\n  " << e;
    }
    EXPECT_TRUE(errors.empty()) << target << " (" << status
                                << ") does not match the document:" << text.str();
  }
  return tpl;
}

class OpenApiDocument : public ::testing::Test {
 protected:
  OpenApiDocument() : spec_(loadSpec()), validator_(spec_) {}

  json spec_;
  SchemaValidator validator_;
};

TEST_F(OpenApiDocument, IsOpenApi3WithEveryRoute) {
  EXPECT_THAT(spec_["openapi"].get<std::string>(), ::testing::StartsWith("3."));
  for (const char* path : {"/healthz", "/readyz", "/metrics", "/api/v1/node", "/api/v1/sockets",
                           "/api/v1/netns", "/api/v1/pods", "/api/v1/namespaces/{namespace}/pods",
                           "/api/v1/namespaces/{namespace}/pods/{pod}/sockets",
                           "/api/v1/pods/{uid}/sockets", "/api/v1/listeners"}) {
    EXPECT_TRUE(spec_["paths"].contains(path)) << path;
  }
}

TEST_F(OpenApiDocument, TheValidatorCatchesWrongAnswers) {
  const json& list = validator_.resolve(
      spec_["components"]["responses"]["SocketList"])["content"]["application/json"]["schema"];
  const json good =
      json::parse(R"({"node":"n","resourceVersion":"7","scannedAt":"2024-05-01T12:00:00.123Z",
    "scanDurationMs":1.5,"items":[
    {"transport":"tcp","local":{"ip":"0.0.0.0","port":80},"remote":{"ip":"0.0.0.0","port":0},
     "state":"LISTEN","txQueue":0,"rxQueue":0,
     "timer":{"active":"off","expiresSeconds":0.0,"retransmits":0},"uid":0,"timeout":0,
     "inode":1,"refCount":1,"processes":[{"pid":1,"name":"init","program":"init"}],
     "netns":{"inode":4026531840,"name":null,"names":[]},"pod":null,
     "firstSeen":"2024-05-01T11:59:55.007Z"},
    {"transport":"unix","path":null,"type":"stream","flags":["ACC"],"state":"LISTENING",
     "inode":2,"refCount":2,"processes":[],"netns":{"inode":4026531840,"name":null,"names":[]},
     "pod":{"namespace":null,"name":null,"uid":"u","container":null},
     "firstSeen":"2024-05-01T12:00:00.123Z"}]})");
  EXPECT_THAT(validator_.validate(good, list), ::testing::IsEmpty());

  const auto broken = [&](const std::function<void(json&)>& change) {
    json copy = good;
    change(copy);
    return validator_.validate(copy, list);
  };
  EXPECT_THAT(broken([](json& j) { j.erase("node"); }), ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["items"][0]["local"]["port"] = "80"; }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["items"][0]["local"]["port"] = 70000; }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["items"][0]["surprise"] = 1; }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["items"][0]["netns"] = nullptr; }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["items"][1]["type"] = "socket"; }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["items"][1].erase("flags"); }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["scannedAt"] = "yesterday"; }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) { j["items"][1].erase("firstSeen"); }),
              ::testing::Not(::testing::IsEmpty()));
  EXPECT_THAT(broken([](json& j) {
                j["items"][0]["pod"] = json{{"uid", 1}};
              }),
              ::testing::Not(::testing::IsEmpty()));
}

// The live agent here has no pods; the pod object (with its listener summary) is checked as the
// snapshot renders it, for a pod the kubelet reports and one known only from its cgroup.
TEST_F(OpenApiDocument, PodSummariesMatchTheDocument) {
  const json& schema = spec_["components"]["schemas"]["PodSummary"];
  k8s::Pod pod;
  pod.uid = "5f0c1a2b-0d3e-4c5f-8a9b-0123456789ab";
  pod.namespace_name = "shop";
  pod.name = "web-0";
  pod.ips = {"10.244.1.7"};
  pod.containers.push_back({"3b9e", "nginx", k8s::ContainerKind::Regular, {}, {101}});
  pod.sources = k8s::kSourceKubelet | k8s::kSourceCri;
  PodSocketCounts counts;
  counts.total = 3;
  counts.by_state["LISTEN"] = 3;
  counts.listeners.by_exposure = {1, 2, 0};
  counts.listeners.undeclared = 1;
  std::string text;
  appendPodJson(text, pod, nullptr, counts, 2);
  const json known = json::parse(text);
  EXPECT_THAT(validator_.validate(known, schema), ::testing::IsEmpty()) << text;
  EXPECT_EQ(known["listeners"]["undeclared"], 1);
  EXPECT_EQ(known["lateListeners"], 2);

  k8s::Pod cgroup_only;
  cgroup_only.uid = pod.uid;
  cgroup_only.sources = k8s::kSourceCgroup;
  text.clear();
  appendPodJson(text, cgroup_only, nullptr, counts);
  const json unknown = json::parse(text);
  EXPECT_THAT(validator_.validate(unknown, schema), ::testing::IsEmpty()) << text;
  EXPECT_TRUE(unknown["listeners"]["undeclared"].is_null());

  json broken = known;
  broken["listeners"]["byExposure"].erase("node");
  EXPECT_THAT(validator_.validate(broken, schema), ::testing::Not(::testing::IsEmpty()));
}

/// A running agent (real scanner) on an ephemeral port, with a namespace of sockets when root.
class OpenApiLive : public OpenApiDocument {
 protected:
  void SetUp() override {
    if (podnetstat::testing::liveTestSkipReason().empty()) {
      dir_ = std::make_unique<podnetstat::testing::ScratchDir>("podnetstat-openapi-");
      ns_ = std::make_unique<podnetstat::testing::NetNamespace>("pnso");
      std::filesystem::create_directory(dir_->path() / "u");
      maker_ = std::make_unique<podnetstat::testing::Sockmaker>(
          *ns_, std::vector<std::string>{"--lifetime", "300", "--unix-dir",
                                         (dir_->path() / "u").string()});
    }
    ApiServerOptions options;
    options.listen = {"127.0.0.1", 0};
    options.refresh = 1h;
    options.node_name = "openapi-node";
    // netlink where this process may use it: tcpInfo objects and accept-queue maxima are then
    // real answers the document must describe.
    options.backend = scanner::Backend::Auto;
    options.roots.netns_dir = podnetstat::testing::netnsDir();
    server_ = std::make_unique<ApiServer>(options);
    auto started = server_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!server_->store().current() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(server_->store().current()) << "no snapshot";
  }

  void TearDown() override {
    if (server_) {
      server_->stop(1s);
    }
    server_.reset();
    maker_.reset();
    ns_.reset();
    dir_.reset();
  }

  HttpClientResponse get(const std::string& target) {
    HttpClient client("127.0.0.1", server_->port(), 30s);
    auto r = client.get(target);
    if (!r.ok()) {
      ADD_FAILURE() << target << ": " << r.error().message;
      return {};
    }
    return *r;
  }

  std::unique_ptr<podnetstat::testing::ScratchDir> dir_;
  std::unique_ptr<podnetstat::testing::NetNamespace> ns_;
  std::unique_ptr<podnetstat::testing::Sockmaker> maker_;
  std::unique_ptr<ApiServer> server_;
};

TEST_F(OpenApiLive, RealAnswersOfEveryRouteMatchTheDocument) {
  std::vector<std::pair<std::string, unsigned>> targets = {
      {"/healthz", 200},
      {"/readyz", 200},
      {"/metrics", 200},
      {"/api/v1/node", 200},
      {"/api/v1/node?format=xml", 400},
      {"/api/v1/sockets", 200},
      {"/api/v1/sockets?format=table", 200},
      {"/api/v1/sockets?transport=unix", 200},
      {"/api/v1/sockets?listening=true&transport=tcp,tcp6,udp,udp6", 200},
      {"/api/v1/sockets?port=x", 400},
      {"/api/v1/netns", 200},
      {"/api/v1/netns?x=1", 400},
      {"/api/v1/pods", 200},
      {"/api/v1/pods?format=table", 400},
      {"/api/v1/namespaces/default/pods", 200},
      {"/api/v1/namespaces/default/pods/web-0/sockets", 404},
      {"/api/v1/namespaces/default/pods/web-0/sockets?state=bogus", 400},
      {"/api/v1/pods/6f1d2a3b-0000-4000-8000-000000000000/sockets", 404},
      {"/api/v1/listeners", 200},
      {"/api/v1/listeners?format=table", 200},
      {"/api/v1/listeners?exposure=node,loopback&transport=tcp,unix", 200},
      {"/api/v1/listeners?exposure=cluster", 400},
      {"/api/v1/sockets?tcpInfo=true", 200},
      {"/api/v1/sockets?tcpInfo=true&format=table", 200},
      {"/api/v1/sockets?tcpInfo=yes", 400},
      {"/api/v1/listeners?tcpInfo=true", 200},
  };
  if (ns_) {
    targets.emplace_back("/api/v1/sockets?netns=" + ns_->name(), 200);
    targets.emplace_back("/api/v1/listeners?netns=" + ns_->name(), 200);
  }
  // The netstat views of a namespace this machine always has.
  const std::string host = std::to_string(podnetstat::testing::hostNetnsInode());
  for (const char* view : {"interfaces", "routes", "stats", "groups"}) {
    const std::string base = "/api/v1/netns/" + (ns_ ? ns_->name() : host) + "/" + view;
    targets.emplace_back(base, 200);
    targets.emplace_back(base + "?format=table", 200);
    targets.emplace_back("/api/v1/netns/" + host + "/" + view, 200);
    targets.emplace_back(base + "?format=yaml", 400);
    targets.emplace_back("/api/v1/netns/1/" + std::string(view), 404);
    targets.emplace_back("/api/v1/namespaces/default/pods/web-0/" + std::string(view), 404);
  }
  targets.emplace_back("/api/v1/netns/" + host + "/routes?family=inet6", 200);
  targets.emplace_back("/api/v1/netns/" + host + "/interfaces?all=true&format=table", 200);
  std::set<std::string> covered;
  for (const auto& [target, status] : targets) {
    const auto r = get(target);
    EXPECT_EQ(r.status, status) << target << ": " << r.body.substr(0, 300);
    covered.insert(checkAnswer(spec_, validator_, target, r));
  }
  for (const auto& [tpl, item] : spec_["paths"].items()) {
    EXPECT_TRUE(covered.contains(tpl)) << tpl << " is documented but not exercised";
  }
  if (ns_) {
    const json items = json::parse(get("/api/v1/sockets?netns=" + ns_->name()).body)["items"];
    std::set<std::string> transports;
    for (const auto& s : items) {
      transports.insert(s["transport"]);
    }
    EXPECT_TRUE(transports.contains("unix") && transports.contains("tcp6") &&
                transports.contains("raw"))
        << "the namespace exercises inet and unix shapes";
  }
}

TEST_F(OpenApiLive, EveryDocumentedQueryParameterIsAccepted) {
  for (const auto& [tpl, item] : spec_["paths"].items()) {
    const json& operation = item["get"];
    std::string path = std::regex_replace(tpl, std::regex(R"(\{[^}]+\})"), "x");
    // No such pod or namespace "x", but the parameters were fine.
    const unsigned ok_status =
        tpl.find('{') != std::string::npos && !tpl.ends_with("/pods") ? 404U : 200U;
    for (const auto& p : operation.value("parameters", json::array())) {
      const json& param = validator_.resolve(p);
      if (param["in"] != "query") {
        continue;
      }
      // An array parameter (form style, exploded) is repeated, once per item of its example.
      const json& example = param["example"];
      std::string target = path;
      for (const json& value : example.is_array() ? example : json::array({example})) {
        target += (target == path ? "?" : "&") + param["name"].get<std::string>() + "=" +
                  (value.is_string() ? value.get<std::string>() : value.dump());
      }
      if (param["name"] == "watch") {
        target += "&timeoutSeconds=1";  // a watch ends by its timeout
      }
      const auto r = get(target);
      EXPECT_EQ(r.status, ok_status) << target << ": " << r.body;
      checkAnswer(spec_, validator_, target, r);
    }
    if (tpl.starts_with("/api/")) {
      const auto r = get(path + "?undocumented=1");
      EXPECT_EQ(r.status, 400U) << tpl << " accepts an undocumented parameter";
    }
  }
}

TEST_F(OpenApiDocument, AnswersBeforeTheFirstSnapshotAndAfterAFailureMatchTheDocument) {
  std::atomic<bool> release{false};
  std::atomic<int> scans{0};
  ApiServerOptions options;
  options.listen = {"127.0.0.1", 0};
  options.refresh = 20ms;
  options.node_name = "fake";
  options.scan = [&]() -> Result<scanner::ScanResult> {
    while (!release.load()) {
      std::this_thread::sleep_for(5ms);
    }
    if (scans++ == 0) {
      scanner::ScanResult r;
      r.namespaces.emplace_back();
      r.namespaces.back().is_host = true;
      r.namespaces.back().readable = false;
      r.namespaces.back().error = "permission denied";
      return r;
    }
    return Error{"no proc"};
  };
  ApiServer server(options);

  // Released before `server` is destroyed, even when an assertion returns early: its destructor
  // waits for the scan in progress.
  struct ReleaseOnExit {
    std::atomic<bool>& flag;

    ~ReleaseOnExit() { flag.store(true); }
  } release_on_exit{release};

  ASSERT_TRUE(server.start().ok());
  const auto fetch = [&](const std::string& target, unsigned status) {
    HttpClient client("127.0.0.1", server.port(), 10s);
    auto r = client.get(target);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, status) << target;
    checkAnswer(spec_, validator_, target, *r);
  };
  for (const char* target : {"/readyz", "/api/v1/sockets", "/api/v1/netns", "/api/v1/pods",
                             "/api/v1/namespaces/a/pods"}) {
    fetch(target, 503);
  }
  fetch("/api/v1/node", 200);
  release.store(true);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (scans.load() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  fetch("/api/v1/node", 200);   // lastScan and lastFailure both set
  fetch("/api/v1/netns", 200);  // an unreadable namespace with its error
  server.stop(1s);
}

}  // namespace
}  // namespace podnetstat::agent

namespace podnetstat::agent {
namespace {

TEST_F(OpenApiDocument, AccessControlAnswersOfEveryPathMatchTheDocument) {
  podnetstat::testing::ScratchDir dir("podnetstat-openapi-auth-");
  const auto tokens = dir.path() / "tokens";
  std::ofstream(tokens) << "scrape-token,prometheus,/metrics\n";
  auto authorizer = makeStaticTokenAuthorizer(tokens);
  ASSERT_TRUE(authorizer.ok()) << authorizer.error().message;
  ApiServerOptions options;
  options.listen = {"127.0.0.1", 0};
  options.refresh = 1h;
  options.node_name = "auth";
  options.scan = []() -> Result<scanner::ScanResult> {
    return scanner::ScanResult{};
  };
  options.auth = *authorizer;
  ApiServer server(options);
  ASSERT_TRUE(server.start().ok());

  const auto fetch = [&](const std::string& target, const std::string& token, unsigned status) {
    HttpClient client("127.0.0.1", server.port(), 10s);
    std::vector<std::pair<std::string, std::string>> fields;
    if (!token.empty()) {
      fields.emplace_back("Authorization", "Bearer " + token);
    }
    auto r = client.request("GET", target, fields);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, status) << target;
    checkAnswer(spec_, validator_, target, *r);
    if (status == 401) {
      EXPECT_THAT(r->header("www-authenticate"), ::testing::StartsWith("Bearer"));
    }
  };
  std::vector<std::string> paths;
  for (const auto& [tpl, item] : spec_["paths"].items()) {
    paths.push_back(std::regex_replace(tpl, std::regex(R"(\{[^}]+\})"), "x"));
  }
  ASSERT_GE(paths.size(), 10U);
  for (const auto& path : paths) {
    fetch(path, "", 401);
    fetch(path, "wrong-token", 401);
    if (path != "/metrics") {
      fetch(path, "scrape-token", 403);
    }
  }
  // A token file that cannot be used: no decision, 503.
  std::ofstream(tokens, std::ios::trunc) << "broken\n";
  for (const auto& path : paths) {
    fetch(path, "scrape-token", 503);
  }
  server.stop(1s);
}

}  // namespace
}  // namespace podnetstat::agent
