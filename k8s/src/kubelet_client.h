#pragma once

// The HTTPS implementation of KubeletApi (private to the library). It only moves bytes: one GET
// per call on a fresh connection (the kubelet is asked every few seconds at most), the body of a
// 200 answer handed back as is.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "podnetstat/k8s/https_exchange.h"
#include "podnetstat/k8s/kubelet.h"

namespace podnetstat::k8s {

/// A parsed kubelet URL.
using KubeletUrl = HttpsUrl;

/// Parses "https://host[:port][/prefix]" (or http); nullopt when it is not such a URL.
std::optional<KubeletUrl> parseKubeletUrl(const std::string& url);

class BeastKubeletClient final : public KubeletApi {
 public:
  BeastKubeletClient(KubeletClientOptions options,
                     KubeletUrl url,
                     std::unique_ptr<boost::asio::ssl::context> tls);
  ~BeastKubeletClient() override;

  std::string endpoint() const override { return options_.url; }

  Result<std::string> getPods() override;

 private:
  KubeletClientOptions options_;
  BearerHttpsClient client_;
};

}  // namespace podnetstat::k8s
