#include "deployd/kube/discovery.hpp"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/json_path.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/kube_client.hpp"

namespace deployd::kube {
namespace {

constexpr const char* kAggregatedAccept =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

std::string GroupVersion(const std::string& group, const std::string& version) {
  return group.empty() ? version : group + "/" + version;
}

std::pair<std::string, std::string> SplitApiVersion(const std::string& api_version) {
  auto slash = api_version.find('/');
  if (slash == std::string::npos) return {"", api_version};
  return {api_version.substr(0, slash), api_version.substr(slash + 1)};
}

std::map<std::string, std::vector<ApiResource>> ParseAggregatedDiscovery(
    const nlohmann::json& doc) {
  std::map<std::string, std::vector<ApiResource>> out;
  if (!doc.is_object() || !doc.contains("items") || !doc["items"].is_array()) return out;
  for (const auto& item : doc["items"]) {
    std::string group;
    if (item.contains("metadata")) group = common::JsonString(item, {"metadata", "name"});
    if (!item.contains("versions") || !item["versions"].is_array()) continue;
    for (const auto& v : item["versions"]) {
      auto version = common::JsonString(v, {"version"});
      if (version.empty() || common::JsonString(v, {"freshness"}) == "Stale") continue;
      auto& list = out[GroupVersion(group, version)];
      if (!v.contains("resources") || !v["resources"].is_array()) continue;
      for (const auto& r : v["resources"]) {
        ApiResource res;
        res.group = group;
        res.version = version;
        res.plural = common::JsonString(r, {"resource"});
        if (r.contains("responseKind")) res.kind = common::JsonString(r, {"responseKind", "kind"});
        res.namespaced = common::JsonString(r, {"scope"}) == "Namespaced";
        if (!res.plural.empty() && !res.kind.empty()) list.push_back(res);
      }
    }
  }
  return out;
}

std::vector<ApiResource> ParseResourceList(const nlohmann::json& doc) {
  std::vector<ApiResource> out;
  auto [group, version] = SplitApiVersion(common::JsonString(doc, {"groupVersion"}));
  if (!doc.contains("resources") || !doc["resources"].is_array()) return out;
  for (const auto& r : doc["resources"]) {
    ApiResource res;
    res.plural = common::JsonString(r, {"name"});
    if (res.plural.empty() || res.plural.find('/') != std::string::npos) continue;
    res.group = group;
    res.version = version;
    res.kind = common::JsonString(r, {"kind"});
    res.namespaced = r.value("namespaced", false);
    out.push_back(res);
  }
  return out;
}

bool IsAggregatedContentType(const std::string& content_type) {
  std::string ct = Lower(content_type);
  if (ct.rfind("application/json", 0) != 0) return false;
  ct.erase(std::remove(ct.begin(), ct.end(), ' '), ct.end());
  bool g = false;
  bool v = false;
  bool as = false;
  std::size_t pos = ct.find(';');
  while (pos != std::string::npos) {
    auto next = ct.find(';', pos + 1);
    auto param = ct.substr(pos + 1, next == std::string::npos ? std::string::npos : next - pos - 1);
    g = g || param == "g=apidiscovery.k8s.io";
    v = v || param == "v=v2";
    as = as || param == "as=apigroupdiscoverylist";
    pos = next;
  }
  return g && v && as;
}

std::optional<ApiResource> FindKind(const std::vector<ApiResource>& resources,
                                    const std::string& kind) {
  for (const auto& r : resources) {
    if (r.kind == kind) return r;
  }
  auto lower = Lower(kind);
  for (const auto& r : resources) {
    if (Lower(r.kind) == lower) return r;
  }
  return std::nullopt;
}

std::optional<ApiResource> AsyncDiscovery::Cached(const std::string& gv, const std::string& kind) {
  std::lock_guard lock(mutex_);
  auto it = by_group_version_.find(gv);
  if (it == by_group_version_.end()) return std::nullopt;
  return FindKind(it->second, kind);
}

net::awaitable<void> AsyncDiscovery::Refresh(std::string group, std::string version,
                                             std::string user) {
  bool try_aggregated;
  {
    std::lock_guard lock(mutex_);
    try_aggregated = aggregated_supported_.value_or(true);
  }
  if (try_aggregated) {
    std::map<std::string, std::vector<ApiResource>> fresh;
    bool aggregated = true;
    for (const char* path : {"/api", "/apis"}) {
      KubeCall call;
      call.path = path;
      call.accept = kAggregatedAccept;
      call.impersonate_user = user;
      auto response = co_await client_.Call(call);
      if (!IsAggregatedContentType(response.Header("Content-Type"))) {
        aggregated = false;
        break;
      }
      auto doc = nlohmann::json::parse(response.body, nullptr, false);
      for (auto& [gv, list] : ParseAggregatedDiscovery(doc)) fresh[gv] = std::move(list);
    }
    std::lock_guard lock(mutex_);
    aggregated_supported_ = aggregated;
    if (aggregated) {
      by_group_version_ = std::move(fresh);
      co_return;
    }
  }
  // Legacy: fetch just the group-version we need. A plain 404 means "not served".
  auto gv = GroupVersion(group, version);
  KubeCall call;
  call.path = group.empty() ? "/api/" + version : "/apis/" + gv;
  call.impersonate_user = user;
  std::vector<ApiResource> list;
  try {
    list = ParseResourceList(co_await client_.CallJson(call));
  } catch (const ApiError& e) {
    if (e.HttpStatus() != 404) throw;
  }
  std::lock_guard lock(mutex_);
  by_group_version_[gv] = std::move(list);
}

net::awaitable<ApiResource> AsyncDiscovery::Resolve(std::string api_version, std::string kind,
                                                    std::string impersonate_user) {
  auto [group, version] = SplitApiVersion(api_version);
  auto gv = GroupVersion(group, version);
  if (auto hit = Cached(gv, kind)) co_return *hit;
  co_await Refresh(group, version, impersonate_user);
  if (auto hit = Cached(gv, kind)) co_return *hit;
  throw common::Error(common::ErrorCode::kNotFound,
                      fmt::format("no matches for kind \"{}\" in version \"{}\"", kind, gv));
}

}  // namespace deployd::kube
