#pragma once
// Writing one manifest as the team: REST mapping, server-side apply or create-or-update, and the
// original's rewriting of strict decoding errors.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "deployd/kube/discovery.hpp"

namespace deployd::kube {

namespace net = common::net;

class AsyncKubeClient;

struct ObjectRef {
  std::string api_version;
  std::string group;
  std::string version;
  std::string kind;
  std::string name;
  std::string namespace_;
};

ObjectRef RefOf(const nlohmann::json& object);
// Go's GroupVersionKind.String(): "apps/v1, Kind=Deployment"; core group "/v1, Kind=ConfigMap".
std::string GvkString(const ObjectRef& ref);
// "<g>/<v>, Kind=<k>[, Namespace=<ns>], Name=<n>".
std::string Identifier(const ObjectRef& ref);

std::string CollectionPath(const ApiResource& resource, const std::string& ns);
std::string ObjectPath(const ApiResource& resource, const std::string& ns, const std::string& name);

// If `message` contains "strict decoding error:" (or the apply variant "error strict decoding
// patch:"), returns the original's multi-line rewrite with the documentation link for `gvk`
// (GvkString form); otherwise returns `message` unchanged.
std::string RewriteStrictDecodingError(const std::string& message, const std::string& gvk);

enum class ApplyMode { kServerSide, kCreateOrUpdate };
// "server-side-apply" | "create-or-update"; throws common::Error{kInvalidArgument} otherwise.
ApplyMode ParseApplyMode(const std::string& text);

struct ApplyOptions {
  ApplyMode mode = ApplyMode::kServerSide;
  bool force = true;
  std::string field_manager = "deployd";
};

struct ApplyResult {
  nlohmann::json object;  // as stored by the API server
  ApiResource resource;
  std::string namespace_;  // effective namespace ("" for cluster-scoped)
  // Just before the write: pods and events of this rollout are not older than this.
  std::chrono::system_clock::time_point applied_at{};
};

// Writes manifests as the team, in two steps so that the caller can prepare the rollout's watches
// between them (their lists then come before the write, and nothing the write causes is missed).
// Errors are common::Error whose message is what the original prints after "<identifier>: ", e.g.
// `creating resource: <api error>`, `unable to discover resource using REST mapper: no matches
// for kind ...`. Thread-safe; `client` and `discovery` outlive it.
class AsyncApplier {
 public:
  AsyncApplier(AsyncKubeClient& client, AsyncDiscovery& discovery, ApplyOptions options)
      : client_(client), discovery_(discovery), options_(std::move(options)) {}

  // The REST mapping of `object` and its effective namespace (`default_namespace` for a namespaced
  // kind without one). Throws `unable to discover resource using REST mapper: ...` or `unable to
  // run kubernetes resource discovery: ...`.
  struct Target {
    ApiResource resource;
    std::string namespace_;
  };
  net::awaitable<Target> Resolve(nlohmann::json object, std::string user,
                                 std::string default_namespace);
  // Writes `object` impersonating `user`: server-side apply (`applying resource: ...`) or the
  // original's create-or-update (`get existing resource: ...`, `creating resource: ...`,
  // `updating resource: ...`), strict decoding errors rewritten as the original did.
  // With `dry_run` the write is sent with dryRun=All: the API server answers with what it would
  // store and changes nothing.
  net::awaitable<ApplyResult> Write(nlohmann::json object, Target target, std::string user,
                                    bool dry_run = false);
  // The live object `name` of `target` as `user`; nullopt when it does not exist (404 Status).
  // Other failures throw `get existing resource: <api error>`.
  net::awaitable<std::optional<nlohmann::json>> Get(Target target, std::string name,
                                                    std::string user);
  // Every object of `target` (its namespace; all of a cluster-scoped kind) matching the label
  // selector, page by page (at most 10000 objects, then `listing <plural>: more than 10000
  // objects`). Failures throw `listing <plural>: <api error>`.
  net::awaitable<std::vector<nlohmann::json>> List(Target target, std::string label_selector,
                                                   std::string user);
  // Deletes `name` (propagationPolicy Background, precondition: its uid is `uid`); an object that
  // is gone already is no error. Failures throw `deleting resource: <api error>`.
  net::awaitable<void> Delete(Target target, std::string name, std::string uid, std::string user);
  // The preferred version of an API group ("v1" for the core group ""), from discovery's group
  // document. Throws `unable to run kubernetes resource discovery: ...`.
  net::awaitable<std::string> PreferredVersion(std::string group, std::string user);

 private:
  AsyncKubeClient& client_;
  AsyncDiscovery& discovery_;
  ApplyOptions options_;
};

}  // namespace deployd::kube
