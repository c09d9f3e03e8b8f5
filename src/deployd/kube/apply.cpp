#include "deployd/kube/apply.hpp"

#include <map>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "common/error.hpp"
#include "common/http_client.hpp"
#include "common/json_path.hpp"
#include "common/strings.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/kube_client.hpp"

namespace deployd::kube {
namespace {

using common::Error;
using common::ErrorCode;

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
  ref.api_version = common::JsonString(object, {"apiVersion"});
  auto [group, version] = SplitApiVersion(ref.api_version);
  ref.group = group;
  ref.version = version;
  ref.kind = common::JsonString(object, {"kind"});
  if (object.is_object() && object.contains("metadata")) {
    ref.name = common::JsonString(object, {"metadata", "name"});
    ref.namespace_ = common::JsonString(object, {"metadata", "namespace"});
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
    parts.push_back(common::Trim(
        rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
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
                                                std::string user, bool dry_run) {
  const std::string dry = dry_run ? "&dryRun=All" : "";
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
    call.path = fmt::format("{}?fieldManager={}&fieldValidation=Strict{}{}", path,
                            common::UrlEncode(options_.field_manager),
                            options_.force ? "&force=true" : "", dry);
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
    write.path =
        CollectionPath(result.resource, result.namespace_) + "?fieldValidation=Strict" + dry;
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
  write.path = path + "?fieldValidation=Strict" + dry;
  write.body = object.dump();
  try {
    result.object = co_await client_.CallJson(write);
  } catch (const ApiError& e) {
    failed.emplace(rewrite("updating resource", e));
  }
  if (failed) throw *failed;
  co_return result;
}

net::awaitable<std::optional<nlohmann::json>> AsyncApplier::Get(Target target, std::string name,
                                                                std::string user) {
  KubeCall get;
  get.path = ObjectPath(target.resource, target.namespace_, name);
  get.impersonate_user = std::move(user);
  std::optional<Error> failed;
  std::optional<nlohmann::json> live;
  try {
    live = co_await client_.CallJson(std::move(get));
  } catch (const ApiError& e) {
    if (!e.IsNotFoundObject()) {
      failed.emplace(e.Code(), fmt::format("get existing resource: {}", e.what()));
    }
  }
  if (failed) throw *failed;
  co_return live;
}

net::awaitable<std::vector<nlohmann::json>> AsyncApplier::List(Target target,
                                                               std::string label_selector,
                                                               std::string user) {
  constexpr std::size_t kMaxObjects = 10000;
  std::vector<nlohmann::json> items;
  std::string continue_token;
  std::optional<Error> failed;
  while (true) {
    KubeCall list;
    list.path = fmt::format(
        "{}?labelSelector={}&limit=500{}", CollectionPath(target.resource, target.namespace_),
        common::UrlEncode(label_selector),
        continue_token.empty() ? std::string() : "&continue=" + common::UrlEncode(continue_token));
    list.impersonate_user = user;
    nlohmann::json page;
    try {
      page = co_await client_.CallJson(std::move(list));
    } catch (const ApiError& e) {
      failed.emplace(e.Code(), fmt::format("listing {}: {}", target.resource.plural, e.what()));
    }
    if (failed) throw *failed;
    if (page.contains("items") && page["items"].is_array()) {
      for (auto& item : page["items"]) items.push_back(std::move(item));
    }
    if (items.size() > kMaxObjects) {
      throw Error(ErrorCode::kFailedPrecondition, fmt::format("listing {}: more than {} objects",
                                                              target.resource.plural, kMaxObjects));
    }
    continue_token.clear();
    if (page.contains("metadata") && page["metadata"].is_object()) {
      continue_token = common::JsonString(page, {"metadata", "continue"});
    }
    if (continue_token.empty()) break;
  }
  co_return items;
}

net::awaitable<void> AsyncApplier::Delete(Target target, std::string name, std::string uid,
                                          std::string user) {
  KubeCall del;
  del.method = "DELETE";
  del.path = ObjectPath(target.resource, target.namespace_, name);
  del.impersonate_user = std::move(user);
  del.content_type = "application/json";
  nlohmann::json options = {
      {"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"propagationPolicy", "Background"}};
  if (!uid.empty()) options["preconditions"] = {{"uid", uid}};
  del.body = options.dump();
  std::optional<Error> failed;
  try {
    co_await client_.CallJson(std::move(del));
  } catch (const ApiError& e) {
    if (!e.IsNotFoundObject()) {
      failed.emplace(e.Code(), fmt::format("deleting resource: {}", e.what()));
    }
  }
  if (failed) throw *failed;
}

net::awaitable<std::string> AsyncApplier::PreferredVersion(std::string group, std::string user) {
  if (group.empty()) co_return "v1";
  KubeCall get;
  get.path = "/apis/" + common::UrlEncode(group);
  get.impersonate_user = std::move(user);
  std::optional<Error> failed;
  nlohmann::json doc;
  try {
    doc = co_await client_.CallJson(std::move(get));
  } catch (const ApiError& e) {
    failed.emplace(e.Code(),
                   fmt::format("unable to run kubernetes resource discovery: {}", e.what()));
  }
  if (failed) throw *failed;
  std::string version;
  if (doc.contains("preferredVersion") && doc["preferredVersion"].is_object()) {
    version = common::JsonString(doc, {"preferredVersion", "version"});
  }
  if (version.empty()) {
    throw Error(ErrorCode::kNotFound,
                fmt::format("unable to run kubernetes resource discovery: group {} has no "
                            "preferred version",
                            group));
  }
  co_return version;
}

}  // namespace deployd::kube
