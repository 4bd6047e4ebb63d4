#pragma once

// A small blocking HTTP/1.1 client for loopback use: the tests of the API, probes, scripts.
// One connection, kept alive between requests and reopened when the server closed it; every
// operation has a time limit.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "podnetstat/scanner/result.h"

namespace podnetstat::agent {

struct HttpClientResponse {
  unsigned status = 0;
  unsigned version = 11;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool keep_alive = false;

  /// The value of a header field ("" when absent); `name` in lower case.
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

class HttpClient {
 public:
  HttpClient(std::string host,
             std::uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends one request (no body) and reads the answer; HEAD answers have no body. Extra header
  /// fields are added as given.
  [[nodiscard]] Result<HttpClientResponse> request(
      std::string_view method,
      std::string_view target,
      const std::vector<std::pair<std::string, std::string>>& fields = {});

  [[nodiscard]] Result<HttpClientResponse> get(std::string_view target) {
    return request("GET", target);
  }

  /// Connects now (request() connects on demand).
  [[nodiscard]] Result<Ok> connect();

  /// Whether the connection is open as far as the client knows.
  bool connected() const;

  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace podnetstat::agent
