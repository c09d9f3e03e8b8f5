#pragma once
// API discovery: aggregated (apidiscovery.k8s.io/v2) first, legacy per-group-version fallback;
// cached, refreshed once when a kind is unknown.
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"

namespace deployd::kube {

namespace net = common::net;

class AsyncKubeClient;

struct ApiResource {
  std::string group;
  std::string version;
  std::string kind;
  std::string plural;
  bool namespaced = false;
};

// group/version key: "v1", "apps/v1".
std::string GroupVersion(const std::string& group, const std::string& version);
// "apps/v1" -> {"apps","v1"}; "v1" -> {"","v1"}.
std::pair<std::string, std::string> SplitApiVersion(const std::string& api_version);

// Pure parsers (unit tested).
// Aggregated document (from /api or /apis) -> resources per group-version; stale versions left out.
std::map<std::string, std::vector<ApiResource>> ParseAggregatedDiscovery(const nlohmann::json& doc);
// Legacy APIResourceList -> resources (subresources skipped).
std::vector<ApiResource> ParseResourceList(const nlohmann::json& doc);
// true if the Content-Type names the aggregated format (parameters in any order).
bool IsAggregatedContentType(const std::string& content_type);
// Finds kind in a list (exact, then lower-cased match).
std::optional<ApiResource> FindKind(const std::vector<ApiResource>& resources,
                                    const std::string& kind);

// The API's resources as the engine resolves them: one cache shared by all deployments, filled
// from aggregated discovery (/api and /apis at once) or, where the server has none, from the one
// group-version asked for. Every request carries the caller's impersonation. Resolve throws
// common::Error{kNotFound} `no matches for kind "<Kind>" in version "<g/v>"` after one refresh,
// and ApiError/common::Error for failing discovery calls. Thread-safe; coroutines resume on the
// caller's executor. `client` outlives it.
class AsyncDiscovery {
 public:
  explicit AsyncDiscovery(AsyncKubeClient& client) : client_(client) {}
  net::awaitable<ApiResource> Resolve(std::string api_version, std::string kind,
                                      std::string impersonate_user);

 private:
  std::optional<ApiResource> Cached(const std::string& gv, const std::string& kind);
  net::awaitable<void> Refresh(std::string group, std::string version, std::string user);

  AsyncKubeClient& client_;
  std::mutex mutex_;
  std::map<std::string, std::vector<ApiResource>> by_group_version_;
  std::optional<bool> aggregated_supported_;
};

}  // namespace deployd::kube
