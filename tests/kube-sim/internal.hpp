#pragma once
// Internal types shared by kube-sim's translation units.
#include <cstdint>
#include <exception>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "kube_sim.hpp"

namespace kubesim {

// How metadata.generation moves for a type.
enum class GenerationMode { kNone, kSpec, kSpecOrAnnotations, kNonMetadata };

// A subresource other than status and scale, as discovery lists it (`kind` empty: the parent's).
struct Subresource {
  std::string name;
  std::vector<std::string> verbs;
  std::string group;
  std::string version;
  std::string kind;
};

struct ResourceType {
  std::string group;
  std::string version;
  std::string plural;
  std::string singular;
  std::string kind;
  bool namespaced = true;
  std::vector<std::string> verbs;
  std::vector<std::string> short_names;
  std::vector<std::string> categories;
  bool status_subresource = false;
  bool scale_subresource = false;
  std::vector<Subresource> subresources;  // log, exec, token, ... (discovery; some are served)
  bool builtin = true;
  bool create_only = false;  // review types (selfsubjectaccessreviews, ...)
  bool storage_version = true;
  GenerationMode generation = GenerationMode::kNone;
  Json schema;           // openAPIV3Schema of a CRD version (null for built-ins)
  Json printer_columns;  // additionalPrinterColumns of a CRD version
  // Built-in associative lists are keyed by "name"; CRD lists are atomic unless declared.
  std::string GroupVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string QualifiedResource() const { return group.empty() ? plural : plural + "." + group; }
  std::string QualifiedKind() const { return group.empty() ? kind : kind + "." + group; }
  std::string PathPrefix() const {
    return group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  }
};

// Every subresource of a type (status and scale included), sorted by name as discovery lists them.
std::vector<Subresource> Subresources(const ResourceType& t);

class Registry {
 public:
  Registry();
  const ResourceType* Find(const std::string& group, const std::string& version,
                           const std::string& plural) const;
  const ResourceType* FindKind(const std::string& group, const std::string& version,
                               const std::string& kind) const;
  // All versions of the resource, storage version first.
  std::vector<const ResourceType*> Versions(const std::string& group,
                                            const std::string& plural) const;
  // Installs or replaces the types of a CRD object; returns an error text on bad CRDs.
  void InstallCrd(const Json& crd);
  void RemoveCrd(const Json& crd);

  // Discovery documents.
  Json CoreVersions() const;                                  // GET /api
  Json GroupList() const;                                     // GET /apis
  std::optional<Json> Group(const std::string& group) const;  // GET /apis/{g}
  std::optional<Json> ResourceList(const std::string& group, const std::string& version) const;
  // Aggregated discovery for /api or /apis; `api_version` apidiscovery.k8s.io/v2 or v2beta1.
  Json Aggregated(bool core, const std::string& api_version) const;
  Json OpenApiV2() const;    // GET /openapi/v2 (Swagger 2.0, JSON)
  Json OpenApiRoot() const;  // GET /openapi/v3
  std::optional<Json> OpenApiDoc(const std::string& key) const;  // "api/v1", "apis/apps/v1"
  std::vector<std::string> GroupOrder() const;
  std::vector<std::string> GroupVersions(const std::string& group) const;  // preferred first

 private:
  // A list: pointers handed out stay valid while CRDs come and go (only a removed type's own
  // entry dies).
  std::list<ResourceType> types_;
  std::vector<std::string> group_order_;
};

// An API error that becomes a Status body.
struct ApiError : std::exception {
  int code = 500;
  Json status;
  std::vector<std::pair<std::string, std::string>> headers;
  const char* what() const noexcept override { return "api error"; }
};

Json StatusBody(int code, const std::string& reason, const std::string& message,
                const Json& details = nullptr);
ApiError MakeError(int code, const std::string& reason, const std::string& message,
                   const Json& details = nullptr);
ApiError NotFoundError(const ResourceType& rt, const std::string& name);
ApiError AlreadyExistsError(const ResourceType& rt, const std::string& name);
ApiError ConflictError(const ResourceType& rt, const std::string& name);
ApiError BadRequestError(const std::string& message);
struct FieldError {
  std::string type;  // "FieldValueRequired", ...
  std::string field;
  std::string body;  // "Required value", "Invalid value: \"x\": detail"
};
ApiError InvalidError(const std::string& qualified_kind, const std::string& group,
                      const std::string& kind, const std::string& name,
                      const std::vector<FieldError>& errors);

// Strict field validation of the built-in kinds (known_fields.cpp): collects the unknown fields
// of `object` as JSON paths ("spec.foo", "spec.template.spec.containers[0].bar") and removes them
// when `prune`; `smd_paths` (optional) gets the same fields in structured-merge-diff form
// (".spec.template.spec.containers[name=\"web\"].bar"). Returns false for kinds it does not
// know (nothing is checked).
bool BuiltinUnknownFields(const ResourceType& rt, Json& object, std::vector<std::string>& unknown,
                          std::vector<std::string>* smd_paths, bool prune);

// kubectl's protobuf request bodies (protobuf.cpp): decodes a `k8s\0` runtime.Unknown envelope of
// ConfigMap, Secret, Namespace, ServiceAccount, Service, Pod (v1), Deployment (apps/v1), Job and
// CronJob (batch/v1), Role/ClusterRole/RoleBinding/ClusterRoleBinding (rbac/v1), Ingress
// (networking/v1), PodDisruptionBudget (policy/v1) and Scale (autoscaling/v1) into the JSON object;
// nullopt for other kinds. Throws ApiError 400 on a malformed body and 415 when a field kube-sim
// does not decode carries a non-zero value.
std::optional<Json> DecodeProtobufObject(const std::string& body);
// One field of a protobuf message as it is on the wire: a varint or fixed-width value in
// `varint`, a length-delimited one in `bytes` (a view into the parsed data).
struct PbWireField {
  std::uint64_t num = 0;
  int wire = 0;
  std::uint64_t varint = 0;
  std::string_view bytes;
};
// The fields of a message in their order; a malformed message is ApiError 400 "invalid protobuf
// body".
std::vector<PbWireField> ParsePbFields(std::string_view data);
bool IsValidUtf8(std::string_view text);

// The nais.io CRDs shipped with kube-sim (generated by embed_files from crds/*.yaml).
std::vector<std::pair<std::string_view, std::string_view>> EmbeddedCrds();

// ---- managed fields (fields.cpp) -------------------------------------------------------------

// The schema of a built-in kind (builtin_schema.cpp): an OpenAPI v3 tree with the real list
// types, list-map keys, atomic maps and patch strategies; nullptr for kinds it does not describe.
const Json* BuiltinSchema(const std::string& group, const std::string& kind);
// ObjectMeta's schema (finalizers a set, ownerReferences a map keyed by uid, ...).
const Json& ObjectMetaSchema();
// Walking an OpenAPI v3 schema (fields.cpp; the merges in smp.cpp walk the same way): the schema
// of field `key` of an object described by `schema` (its `properties`, else its
// `additionalProperties`), and the schema of a list's items; nullptr when not described.
const Json* ChildSchema(const Json* schema, const std::string& key);
const Json* ItemSchema(const Json* schema);

// How lists take part in field ownership and apply merges. A list the schema describes follows
// its markers: `x-kubernetes-list-type: map` (keyed by `x-kubernetes-list-map-keys`, a missing key
// field taking its schema `default`), `set` (elements owned by value), anything else atomic.
// Built-in fields the schema table does not describe: lists of objects that all have a string
// "name" are keyed by name, other lists are atomic. Custom-resource lists without markers are
// atomic.
struct ListRules {
  bool builtin = true;
  const Json* schema = nullptr;  // the kind's schema (CRD openAPIV3Schema or the built-in table)
};
inline ListRules ListRulesOf(const ResourceType& rt) {
  if (rt.builtin) return ListRules{true, BuiltinSchema(rt.group, rt.kind)};
  return ListRules{false, rt.schema.is_null() ? nullptr : &rt.schema};
}
// Fills the missing key fields of list-map elements that have a schema default (a port's
// protocol), as the apiserver's defaulting does before keys are compared.
void FillListKeyDefaults(Json& object, const ListRules& lists);

// Defaulting of built-in kinds (defaults.cpp); `old` is the stored object on updates (allocated
// cluster IPs and node ports are kept), nullptr on create (admission defaults of pods, the
// generated selector of Jobs).
void ApplyDefaults(const ResourceType& rt, Json& obj, const Json* old = nullptr);
// A string quoted as the apiserver's messages quote values (Go's %q for printable text).
inline std::string Quote(const std::string& s) { return Json(s).dump(); }
// Five characters from the apiserver's alphabet for generated names ("web-7d4b9-x7k2p").
std::string RandomSuffix();
// Validation of built-in kinds beyond names and workload selectors (validation.cpp).
std::vector<FieldError> ValidateBuiltinKind(const ResourceType& rt, const Json& obj,
                                            const Json* old);
// Decoding errors of built-in kinds (bad base64 in Secret data): throws ApiError 400.
void CheckBuiltinDecoding(const ResourceType& rt, const Json& obj);

// Server-side printing (tables.cpp): a meta.k8s.io/v1 Table of `objs` with kube-apiserver's
// columns for the kind (CRD additionalPrinterColumns for custom resources); `include_object`
// is the includeObject query (None, Object, or metadata by default).
Json TableOf(const ResourceType& rt, const std::vector<Json>& objs, std::uint64_t rv,
             const std::string& include_object);

// GET pods/<name>/log (podlog.cpp): the pod's simulated container output as text/plain; throws
// ApiError 400 with the kubelet's texts (waiting containers, unknown container, ...).
HttpResponse PodLog(const Json& pod, const HttpRequest& req);

// Strategic merge patch (smp.cpp) of `target` with `patch`, directed by the patch strategies and
// merge keys of `schema` (the kind's schema; lists it does not describe are replaced):
// `$patch: replace|delete|merge`, `$retainKeys`, `$setElementOrder/<list>`,
// `$deleteFromPrimitiveList/<list>`, null deletes. Throws ApiError 400/422 on bad directives.
void StrategicMergePatch(Json& target, const Json& patch, const Json* schema);

// The FieldsV1 set of an object (metadata identity fields, apiVersion/kind, status left out as
// asked), lists keyed as `lists` says.
Json FieldSet(const Json& object, const ListRules& lists, bool include_status);
Json FieldSetUnion(const Json& a, const Json& b);
Json FieldSetDifference(const Json& a, const Json& b);
Json FieldSetIntersection(const Json& a, const Json& b);
bool FieldSetEmpty(const Json& a);
// Leaf paths of a set ("." nodes included), as lists of path elements.
std::vector<std::vector<std::string>> FieldSetLeaves(const Json& set);
// ".spec.template.spec.containers[name=\"web\"].image"
std::string FieldPathString(const std::vector<std::string>& path);
// Value at a path (nullptr json + found=false when missing).
const Json* ValueAt(const Json& object, const std::vector<std::string>& path);
// Removes the value at a path (a "." element removes the whole list element or map).
void RemoveAt(Json& object, const std::vector<std::string>& path);
// Changed leaves between two objects, as a field set.
Json ChangedFields(const Json& before, const Json& after, const ListRules& lists,
                   bool include_status);
// Deep merge of an applied configuration into a live object (maps recursively, keyed lists
// merged by key, sets merged by value, other lists replaced).
void ApplyMerge(Json& live, const Json& applied, const ListRules& lists);
// RFC 7386 merge patch.
void MergePatch(Json& target, const Json& patch);

}  // namespace kubesim
