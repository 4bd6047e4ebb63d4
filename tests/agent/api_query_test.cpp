#include "podnetstat/agent/api/api_query.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "podnetstat/agent/api/api_server.h"
#include "podnetstat/agent/api/listeners.h"
#include "podnetstat/agent/api/net_views.h"
#include "podnetstat/agent/http/http_server.h"

namespace podnetstat::agent {
namespace {

using std::chrono::milliseconds;

TEST(PercentDecode, DecodesEscapesAndPlusInQueries) {
  EXPECT_EQ(*percentDecode("a%20b%2Fc+d", true), "a b/c d");
  EXPECT_EQ(*percentDecode("a+b", false), "a+b");
  EXPECT_EQ(*percentDecode("%e2%82%AC", false), "\xe2\x82\xac");
}

TEST(PercentDecode, RejectsBrokenEscapes) {
  EXPECT_FALSE(percentDecode("%", true).ok());
  EXPECT_FALSE(percentDecode("%4", true).ok());
  EXPECT_FALSE(percentDecode("%zz", true).ok());
}

TEST(ParseQuery, SplitsAndDecodesPairsInOrder) {
  auto q = parseQuery("transport=tcp%2Cudp&listening&&netns=cni%2D1");
  ASSERT_TRUE(q.ok()) << q.error().message;
  ASSERT_EQ(q->size(), 3U);
  EXPECT_EQ((*q)[0].name, "transport");
  EXPECT_EQ((*q)[0].value, "tcp,udp");
  EXPECT_EQ((*q)[1].name, "listening");
  EXPECT_EQ((*q)[1].value, "");
  EXPECT_EQ((*q)[2].value, "cni-1");
}

TEST(ParseQuery, BadEscapeNamesTheParameter) {
  auto q = parseQuery("port=%G1");
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.error().message.find("'port'"), std::string::npos) << q.error().message;
}

Result<SocketQuery> socketQuery(std::string_view text) {
  auto params = parseQuery(text);
  if (!params) {
    return params.error();
  }
  return parseSocketQuery(*params);
}

void expectErrorNames(std::string_view query, std::string_view param) {
  auto q = socketQuery(query);
  ASSERT_FALSE(q.ok()) << query;
  EXPECT_NE(q.error().message.find("'" + std::string(param) + "'"), std::string::npos)
      << query << " -> " << q.error().message;
}

TEST(ParseSocketQuery, AcceptsEveryFilter) {
  auto q = socketQuery(
      "transport=tcp,udp6&state=LISTEN,established&listening=false&connected=true&port=80&pid=1&"
      "netns=cni-x&namespace=default&pod=web-0&format=table");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->netns, "cni-x");
  EXPECT_EQ(q->k8s_namespace, "default");
  EXPECT_EQ(q->pod, "web-0");
  EXPECT_EQ(q->format, OutputFormat::Table);
  EXPECT_TRUE(q->transports.contains(scanner::Transport::Tcp));
  EXPECT_TRUE(q->transports.contains(scanner::Transport::Udp6));
  EXPECT_FALSE(q->transports.contains(scanner::Transport::Unix));
  EXPECT_FALSE(q->filter.isNoop());
}

TEST(ParseSocketQuery, TcpInfoIsABoolean) {
  EXPECT_FALSE(socketQuery("")->tcp_info);
  EXPECT_TRUE(socketQuery("tcpInfo=true")->tcp_info);
  EXPECT_FALSE(socketQuery("tcpInfo=false")->tcp_info);
  expectErrorNames("tcpInfo=1", "tcpInfo");
  expectErrorNames("tcpInfo=true&tcpInfo=true", "tcpInfo");
}

TEST(ParseSocketQuery, NoParametersIsNoFilter) {
  auto q = socketQuery("");
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->filter.isNoop());
  EXPECT_EQ(q->transports, scanner::TransportSet::all());
  EXPECT_EQ(q->format, OutputFormat::Json);
}

TEST(ParseSocketQuery, TransportAndStateMayRepeat) {
  auto q = socketQuery("transport=tcp&transport=unix&state=LISTEN&state=LISTENING");
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_TRUE(q->transports.contains(scanner::Transport::Unix));
}

TEST(ParseSocketQuery, ErrorsNameTheParameter) {
  expectErrorNames("transport=tcpx", "transport");
  expectErrorNames("transport=tcp,", "transport");
  expectErrorNames("state=LISTENX", "state");
  expectErrorNames("listening=yes", "listening");
  expectErrorNames("connected=", "connected");
  expectErrorNames("port=65536", "port");
  expectErrorNames("port=-1", "port");
  expectErrorNames("port=8o", "port");
  expectErrorNames("pid=0", "pid");
  expectErrorNames("pid=abc", "pid");
  expectErrorNames("format=xml", "format");
  expectErrorNames("netns=", "netns");
  expectErrorNames("port=1&port=2", "port");
  expectErrorNames("bogus=1", "bogus");
}

// One rule for every boolean parameter of every route (docs/openapi.json): `true` or `false`,
// lowercase; every other spelling is refused with the parameter's name.
TEST(BooleanParameters, OneSpellingOnEveryRoute) {
  using Parse = std::function<Result<bool>(const std::string&, const std::string&)>;
  const Parse socket_filter = [](const std::string& name,
                                 const std::string& value) -> Result<bool> {
    auto q = parseSocketQuery({{name, value}});
    if (!q) {
      return q.error();
    }
    return !q->filter.isNoop();
  };
  const std::vector<std::pair<std::string, Parse>> parameters = {
      {"listening", socket_filter},
      {"connected", socket_filter},
      {"declared",
       [](const std::string& name, const std::string& value) -> Result<bool> {
         auto q = parseListenerQuery({{name, value}});
         if (!q) {
           return q.error();
         }
         return q->declared.value();
       }},
      {"all",
       [](const std::string& name, const std::string& value) -> Result<bool> {
         auto q = parseNetViewQuery(NetView::Interfaces, {{name, value}});
         if (!q) {
           return q.error();
         }
         return q->all;
       }},
  };
  for (const auto& [name, parse] : parameters) {
    auto yes = parse(name, "true");
    ASSERT_TRUE(yes.ok()) << name << ": " << yes.error().message;
    EXPECT_TRUE(*yes) << name;
    auto no = parse(name, "false");
    ASSERT_TRUE(no.ok()) << name << ": " << no.error().message;
    if (name == "declared" || name == "all") {
      EXPECT_FALSE(*no) << name;
    }
    for (const char* bad : {"1", "0", "TRUE", "False", "yes", "on", ""}) {
      auto r = parse(name, bad);
      ASSERT_FALSE(r.ok()) << name << "=" << bad << " was accepted";
      EXPECT_NE(r.error().message.find("'" + name + "'"), std::string::npos) << r.error().message;
    }
  }
}

TEST(ParsePlainQuery, OnlyFormatJson) {
  EXPECT_TRUE(parsePlainQuery({}, false).ok());
  EXPECT_TRUE(parsePlainQuery({{"format", "json"}}, false).ok());
  EXPECT_FALSE(parsePlainQuery({{"format", "table"}}, false).ok());
  EXPECT_FALSE(parsePlainQuery({{"port", "1"}}, false).ok());
}

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_EQ(*parseDuration("200ms"), milliseconds(200));
  EXPECT_EQ(*parseDuration("5s"), milliseconds(5000));
  EXPECT_EQ(*parseDuration("1m"), milliseconds(60000));
  EXPECT_EQ(*parseDuration("1m30s"), milliseconds(90000));
  EXPECT_EQ(*parseDuration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*parseDuration("2h"), milliseconds(7'200'000));
}

TEST(ParseDuration, RejectsBadValues) {
  for (const char* bad : {"", "5", "s", "5x", "-1s", "0s", "0.1ms", "25h", "1s5"}) {
    EXPECT_FALSE(parseDuration(bad).ok()) << bad;
  }
}

TEST(ParseListenAddress, AcceptsTheUsualForms) {
  auto a = parseListenAddress("127.0.0.1:9180");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9180);
  a = parseListenAddress("[::1]:0");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->toString(), "[::1]:0");
  a = parseListenAddress(":80");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "0.0.0.0");
  a = parseListenAddress("localhost:1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
}

TEST(ParseListenAddress, RejectsBadForms) {
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "::1:80", "[::1]80",
                          "example.com:80", "1.2.3.4:x"}) {
    EXPECT_FALSE(parseListenAddress(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace podnetstat::agent
