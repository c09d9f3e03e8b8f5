#include "deployd/kube/apply.hpp"

#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/http_client.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/kube_client.hpp"

namespace deployd::kube {
namespace {

using common::Error;
using common::ErrorCode;

std::string Str(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key) || !j[key].is_string()) return "";
  return j[key].get<std::string>();
}

std::string Trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\n\r");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t\n\r");
  return s.substr(b, e - b + 1);
}

const std::map<std::string, std::string>& DocumentationLinks() {
  static const std::map<std::string, std::string> links = {
      {"aiven.io/v1alpha1, Kind=OpenSearch",
       "https://doc.nais.io/persistence/opensearch/how-to/create/"},
      {"aiven.io/v1alpha1, Kind=Redis", "https://doc.nais.io/persistence/redis/"},
      {"aiven.io/v1alpha1, Kind=ServiceIntegration",
       "https://doc.nais.io/persistence/opensearch/how-to/create/#serviceintegration"},
      {"kafka.nais.io/v1, Kind=Topic", "https://doc.nais.io/persistence/kafka/how-to/create/"},
      {"monitoring.coreos.com/v1, Kind=PrometheusRule",
       "https://doc.nais.io/observability/alerting/reference/prometheusrule/"},
      {"nais.io/v1alpha1, Kind=Application",
       "https://doc.nais.io/workloads/application/reference/application-spec/"},
      {"nais.io/v1, Kind=Naisjob", "https://doc.nais.io/workloads/job/reference/naisjob-spec/"},
      {"unleash.nais.io/v1, Kind=ApiToken",
       "https://doc.nais.io/services/feature-toggling/?h=#creating-a-new-api-token"},
  };
  return links;
}

}  // namespace

ObjectRef RefOf(const nlohmann::json& object) {
  ObjectRef ref;
  ref.api_version = Str(object, "apiVersion");
  auto [group, version] = SplitApiVersion(ref.api_version);
  ref.group = group;
  ref.version = version;
  ref.kind = Str(object, "kind");
  if (object.is_object() && object.contains("metadata")) {
    ref.name = Str(object["metadata"], "name");
    ref.namespace_ = Str(object["metadata"], "namespace");
  }
  return ref;
}

std::string GvkString(const ObjectRef& ref) {
  return fmt::format("{}/{}, Kind={}", ref.group, ref.version, ref.kind);
}

std::string Identifier(const ObjectRef& ref) {
  if (ref.namespace_.empty()) return fmt::format("{}, Name={}", GvkString(ref), ref.name);
  return fmt::format("{}, Namespace={}, Name={}", GvkString(ref), ref.namespace_, ref.name);
}

std::string CollectionPath(const ApiResource& resource, const std::string& ns) {
  std::string prefix = resource.group.empty()
                           ? "/api/" + resource.version
                           : fmt::format("/apis/{}/{}", resource.group, resource.version);
  if (resource.namespaced) {
    return fmt::format("{}/namespaces/{}/{}", prefix, common::UrlEncode(ns), resource.plural);
  }
  return fmt::format("{}/{}", prefix, resource.plural);
}

std::string ObjectPath(const ApiResource& resource, const std::string& ns,
                       const std::string& name) {
  return CollectionPath(resource, ns) + "/" + common::UrlEncode(name);
}

std::string RewriteStrictDecodingError(const std::string& message, const std::string& gvk) {
  std::size_t pos = std::string::npos;
  std::size_t marker_len = 0;
  for (std::string marker : {"strict decoding error:", "error strict decoding patch:"}) {
    pos = message.find(marker);
    if (pos != std::string::npos) {
      marker_len = marker.size();
      break;
    }
  }
  if (pos == std::string::npos) return message;
  std::vector<std::string> parts;
  std::string rest = message.substr(pos + marker_len);
  std::size_t start = 0;
  while (true) {
    auto comma = rest.find(',', start);
    parts.push_back(
        Trim(rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::string out = "strict decoding error:\n";
  for (const auto& p : parts) out += "| ⚠️ " + p + "\n";
  out += fmt::format(
      "| The field{} might be misspelled, incorrectly indented, or unsupported. Fields are case "
      "sensitive.\n",
      parts.size() > 1 ? "s" : "");
  out += "| Please verify your resource against the reference documentation";
  auto link = DocumentationLinks().find(gvk);
  if (link != DocumentationLinks().end()) out += " at " + link->second;
  return out;
}

ApplyMode ParseApplyMode(const std::string& text) {
  if (text == "server-side-apply") return ApplyMode::kServerSide;
  if (text == "create-or-update") return ApplyMode::kCreateOrUpdate;
  throw Error(
      ErrorCode::kInvalidArgument,
      fmt::format("invalid apply mode \"{}\": want server-side-apply or create-or-update", text));
}

// ---- AsyncApplier -----------------------------------------------------------------------------

net::awaitable<AsyncApplier::Target> AsyncApplier::Resolve(nlohmann::json object, std::string user,
                                                           std::string default_namespace) {
  auto ref = RefOf(object);
  Target target;
  // (No co_await in a handler: the error is carried out of it.)
  std::optional<Error> failed;
  try {
    target.resource = co_await discovery_.Resolve(ref.api_version, ref.kind, user);
  } catch (const ApiError& e) {
    failed.emplace(e.Code(),
                   fmt::format("unable to run kubernetes resource discovery: {}", e.what()));
  } catch (const Error& e) {
    failed.emplace(e.Code(),
                   e.Code() == ErrorCode::kNotFound
                       ? fmt::format("unable to discover resource using REST mapper: {}", e.what())
                       : fmt::format("unable to run kubernetes resource discovery: {}", e.what()));
  }
  if (failed) throw *failed;
  target.namespace_ = target.resource.namespaced
                          ? (ref.namespace_.empty() ? default_namespace : ref.namespace_)
                          : "";
  co_return target;
}

net::awaitable<ApplyResult> AsyncApplier::Write(nlohmann::json object, Target target,
                                                std::string user) {
  auto ref = RefOf(object);
  auto gvk = GvkString(ref);
  ApplyResult result;
  result.resource = target.resource;
  result.namespace_ = target.namespace_;
  auto path = ObjectPath(result.resource, result.namespace_, ref.name);
  if (object.contains("metadata") && object["metadata"].is_object()) {
    object["metadata"].erase("managedFields");
    if (!result.resource.namespaced) object["metadata"].erase("namespace");
  }
  result.applied_at = std::chrono::system_clock::now();
  std::optional<Error> failed;
  auto rewrite = [&gvk](const std::string& step, const ApiError& e) {
    return Error(e.Code(), fmt::format("{}: {}", step, RewriteStrictDecodingError(e.what(), gvk)));
  };

  if (options_.mode == ApplyMode::kServerSide) {
    KubeCall call;
    call.method = "PATCH";
    call.path =
        fmt::format("{}?fieldManager={}&fieldValidation=Strict{}", path,
                    common::UrlEncode(options_.field_manager), options_.force ? "&force=true" : "");
    call.impersonate_user = user;
    call.content_type = "application/apply-patch+yaml";
    call.body = object.dump();
    object = nlohmann::json();
    try {
      result.object = co_await client_.CallJson(std::move(call));
    } catch (const ApiError& e) {
      failed.emplace(rewrite("applying resource", e));
    }
    if (failed) throw *failed;
    co_return result;
  }

  // create-or-update, as the original: GET, then POST or PUT with the live resourceVersion.
  KubeCall get;
  get.path = path;
  get.impersonate_user = user;
  nlohmann::json existing;
  bool found = true;
  try {
    existing = co_await client_.CallJson(get);
  } catch (const ApiError& e) {
    if (!e.IsNotFoundObject()) {
      failed.emplace(e.Code(), fmt::format("get existing resource: {}", e.what()));
    }
    found = false;
  }
  if (failed) throw *failed;
  KubeCall write;
  write.impersonate_user = user;
  write.content_type = "application/json";
  if (!found) {
    write.method = "POST";
    write.path = CollectionPath(result.resource, result.namespace_) + "?fieldValidation=Strict";
    write.body = object.dump();
    try {
      result.object = co_await client_.CallJson(write);
    } catch (const ApiError& e) {
      failed.emplace(rewrite("creating resource", e));
    }
    if (failed) throw *failed;
    co_return result;
  }
  if (existing.contains("metadata") && existing["metadata"].contains("resourceVersion")) {
    object["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"];
  }
  write.method = "PUT";
  write.path = path + "?fieldValidation=Strict";
  write.body = object.dump();
  try {
    result.object = co_await client_.CallJson(write);
  } catch (const ApiError& e) {
    failed.emplace(rewrite("updating resource", e));
  }
  if (failed) throw *failed;
  co_return result;
}

}  // namespace deployd::kube
