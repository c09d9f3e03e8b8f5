// Served types, discovery (legacy and aggregated), OpenAPI v3 documents, Status helpers.
#include <algorithm>
#include <functional>
#include <regex>

#include "internal.hpp"

namespace kubesim {
namespace {

const std::vector<std::string> kAllVerbs{"create", "delete", "deletecollection", "get",
                                         "list",   "patch",  "update",           "watch"};

ResourceType T(std::string group, std::string version, std::string plural, std::string singular,
               std::string kind, bool namespaced, std::vector<std::string> short_names,
               std::vector<std::string> categories, bool status, GenerationMode gen) {
  ResourceType t;
  t.group = std::move(group);
  t.version = std::move(version);
  t.plural = std::move(plural);
  t.singular = std::move(singular);
  t.kind = std::move(kind);
  t.namespaced = namespaced;
  t.verbs = kAllVerbs;
  t.short_names = std::move(short_names);
  t.categories = std::move(categories);
  t.status_subresource = status;
  t.generation = gen;
  return t;
}

ResourceType Review(std::string group, std::string plural, std::string kind) {
  ResourceType t;
  t.group = std::move(group);
  t.version = "v1";
  t.plural = std::move(plural);
  t.kind = std::move(kind);
  t.singular = t.kind;
  for (auto& c : t.singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  t.namespaced = false;
  t.verbs = {"create"};
  t.create_only = true;
  return t;
}

// Kubernetes version priority: GA > beta > alpha, then by numbers, descending.
int VersionRank(const std::string& v, int& major, int& minor) {
  static const std::regex re(R"(^v(\d+)(?:(alpha|beta)(\d+))?$)");
  std::smatch m;
  major = 0;
  minor = 0;
  if (!std::regex_match(v, m, re)) return 0;
  major = std::stoi(m[1].str());
  if (!m[2].matched) return 3;
  minor = std::stoi(m[3].str());
  return m[2].str() == "beta" ? 2 : 1;
}

bool VersionLess(const std::string& a, const std::string& b) {  // a preferred over b
  int amaj = 0, amin = 0, bmaj = 0, bmin = 0;
  int ar = VersionRank(a, amaj, amin);
  int br = VersionRank(b, bmaj, bmin);
  if (ar != br) return ar > br;
  if (amaj != bmaj) return amaj > bmaj;
  if (amin != bmin) return amin > bmin;
  return a < b;
}

std::string HashHex(const std::string& s) {
  std::size_t h = std::hash<std::string>{}(s);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%016zX", h);
  return buf;
}

}  // namespace

std::vector<Subresource> Subresources(const ResourceType& t) {
  std::vector<Subresource> out = t.subresources;
  if (t.scale_subresource)
    out.push_back({"scale", {"get", "patch", "update"}, "autoscaling", "v1", "Scale"});
  if (t.status_subresource) out.push_back({"status", {"get", "patch", "update"}, "", "", ""});
  std::sort(out.begin(), out.end(),
            [](const Subresource& a, const Subresource& b) { return a.name < b.name; });
  return out;
}

Registry::Registry() {
  using G = GenerationMode;
  auto& t = types_;
  const std::vector<std::string> read_only{"get", "list"};
  const std::vector<std::string> no_collection{"create", "delete", "get",  "list",
                                               "patch",  "update", "watch"};
  auto sub = [&](const std::string& name, std::vector<std::string> verbs,
                 const std::string& group = "", const std::string& version = "",
                 const std::string& kind = "") {
    t.back().subresources.push_back({name, std::move(verbs), group, version, kind});
  };
  // The core group (the resources a v1.32 cluster lists, alphabetical as kube-apiserver serves
  // them).
  t.push_back(Review("", "bindings", "Binding"));
  t.back().version = "v1";
  t.back().namespaced = true;
  t.push_back(T("", "v1", "componentstatuses", "componentstatus", "ComponentStatus", false, {"cs"},
                {}, false, G::kNone));
  t.back().verbs = read_only;
  t.push_back(
      T("", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}, {}, false, G::kNone));
  t.push_back(
      T("", "v1", "endpoints", "endpoints", "Endpoints", true, {"ep"}, {}, false, G::kNone));
  t.push_back(T("", "v1", "events", "event", "Event", true, {"ev"}, {}, false, G::kNone));
  t.push_back(T("", "v1", "limitranges", "limitrange", "LimitRange", true, {"limits"}, {}, false,
                G::kNone));
  t.push_back(
      T("", "v1", "namespaces", "namespace", "Namespace", false, {"ns"}, {}, true, G::kNone));
  t.back().verbs = no_collection;
  sub("finalize", {"update"});
  t.push_back(T("", "v1", "nodes", "node", "Node", false, {"no"}, {}, true, G::kNone));
  sub("proxy", {"create", "delete", "get", "patch", "update"}, "", "", "NodeProxyOptions");
  t.push_back(T("", "v1", "persistentvolumeclaims", "persistentvolumeclaim",
                "PersistentVolumeClaim", true, {"pvc"}, {}, true, G::kNone));
  t.push_back(T("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", false,
                {"pv"}, {}, true, G::kNone));
  t.push_back(T("", "v1", "pods", "pod", "Pod", true, {"po"}, {"all"}, true, G::kNone));
  sub("attach", {"create", "get"}, "", "", "PodAttachOptions");
  sub("binding", {"create"}, "", "", "Binding");
  sub("ephemeralcontainers", {"get", "patch", "update"});
  sub("eviction", {"create"}, "policy", "v1", "Eviction");
  sub("exec", {"create", "get"}, "", "", "PodExecOptions");
  sub("log", {"get"});
  sub("portforward", {"create", "get"}, "", "", "PodPortForwardOptions");
  sub("proxy", {"create", "delete", "get", "patch", "update"}, "", "", "PodProxyOptions");
  t.push_back(
      T("", "v1", "podtemplates", "podtemplate", "PodTemplate", true, {}, {}, false, G::kNone));
  t.push_back(T("", "v1", "replicationcontrollers", "replicationcontroller",
                "ReplicationController", true, {"rc"}, {"all"}, true, G::kSpec));
  t.back().scale_subresource = true;
  t.push_back(T("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, {"quota"}, {},
                true, G::kNone));
  t.push_back(T("", "v1", "secrets", "secret", "Secret", true, {}, {}, false, G::kNone));
  t.push_back(T("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, {"sa"}, {},
                false, G::kNone));
  sub("token", {"create"}, "authentication.k8s.io", "v1", "TokenRequest");
  t.push_back(
      T("", "v1", "services", "service", "Service", true, {"svc"}, {"all"}, true, G::kNone));
  sub("proxy", {"create", "delete", "get", "patch", "update"}, "", "", "ServiceProxyOptions");
  // Named groups.
  t.push_back(T("apiregistration.k8s.io", "v1", "apiservices", "apiservice", "APIService", false,
                {}, {"api-extensions"}, true, G::kSpec));
  t.push_back(T("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision",
                true, {}, {}, false, G::kNone));
  t.push_back(T("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, {"ds"}, {"all"}, true,
                G::kSpec));
  t.push_back(T("apps", "v1", "deployments", "deployment", "Deployment", true, {"deploy"}, {"all"},
                true, G::kSpecOrAnnotations));
  t.back().scale_subresource = true;
  t.push_back(T("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, {"rs"}, {"all"},
                true, G::kSpec));
  t.back().scale_subresource = true;
  t.push_back(T("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, {"sts"}, {"all"},
                true, G::kSpec));
  t.back().scale_subresource = true;
  t.push_back(
      T("events.k8s.io", "v1", "events", "event", "Event", true, {"ev"}, {}, false, G::kNone));
  t.push_back(Review("authentication.k8s.io", "selfsubjectreviews", "SelfSubjectReview"));
  t.push_back(Review("authentication.k8s.io", "tokenreviews", "TokenReview"));
  t.push_back(
      Review("authorization.k8s.io", "localsubjectaccessreviews", "LocalSubjectAccessReview"));
  t.back().namespaced = true;
  t.push_back(
      Review("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview"));
  t.push_back(Review("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview"));
  t.push_back(Review("authorization.k8s.io", "subjectaccessreviews", "SubjectAccessReview"));
  t.push_back(T("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler",
                "HorizontalPodAutoscaler", true, {"hpa"}, {"all"}, true, G::kSpec));
  t.push_back(T("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler",
                "HorizontalPodAutoscaler", true, {"hpa"}, {"all"}, true, G::kSpec));
  t.back().storage_version = false;
  t.push_back(
      T("batch", "v1", "cronjobs", "cronjob", "CronJob", true, {"cj"}, {"all"}, true, G::kSpec));
  t.push_back(T("batch", "v1", "jobs", "job", "Job", true, {}, {"all"}, true, G::kSpec));
  t.push_back(T("certificates.k8s.io", "v1", "certificatesigningrequests",
                "certificatesigningrequest", "CertificateSigningRequest", false, {"csr"}, {}, true,
                G::kNone));
  sub("approval", {"get", "patch", "update"});
  t.push_back(T("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", false,
                {}, {}, false, G::kSpec));
  t.push_back(T("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, {"ing"}, {},
                true, G::kSpec));
  t.push_back(T("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy",
                true, {"netpol"}, {}, false, G::kSpec));
  t.push_back(T("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget",
                "PodDisruptionBudget", true, {"pdb"}, {}, true, G::kSpec));
  t.push_back(T("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
                "ClusterRoleBinding", false, {}, {}, false, G::kNone));
  t.push_back(T("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole",
                false, {}, {}, false, G::kNone));
  t.push_back(T("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding",
                true, {}, {}, false, G::kNone));
  t.push_back(
      T("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true, {}, {}, false, G::kNone));
  t.push_back(T("storage.k8s.io", "v1", "csidrivers", "csidriver", "CSIDriver", false, {}, {},
                false, G::kSpec));
  t.push_back(
      T("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", false, {}, {}, false, G::kNone));
  t.push_back(T("storage.k8s.io", "v1", "csistoragecapacities", "csistoragecapacity",
                "CSIStorageCapacity", true, {}, {}, false, G::kNone));
  t.push_back(T("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false,
                {"sc"}, {}, false, G::kNone));
  t.push_back(T("storage.k8s.io", "v1", "volumeattachments", "volumeattachment", "VolumeAttachment",
                false, {}, {}, true, G::kSpec));
  t.push_back(T("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
                "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", false, {},
                {"api-extensions"}, false, G::kNone));
  t.push_back(T("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
                "validatingadmissionpolicy", "ValidatingAdmissionPolicy", false, {},
                {"api-extensions"}, true, G::kSpec));
  t.push_back(T("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
                "validatingadmissionpolicybinding", "ValidatingAdmissionPolicyBinding", false, {},
                {"api-extensions"}, false, G::kSpec));
  t.push_back(T("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
                "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", false, {},
                {"api-extensions"}, false, G::kNone));
  t.push_back(T("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                "customresourcedefinition", "CustomResourceDefinition", false, {"crd", "crds"},
                {"api-extensions"}, true, G::kSpec));
  t.push_back(T("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass",
                false, {"pc"}, {}, false, G::kNone));
  t.push_back(
      T("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, {}, {}, false, G::kNone));
  t.push_back(T("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", false, {},
                {}, false, G::kNone));
  t.push_back(T("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true,
                {}, {}, false, G::kNone));
  t.push_back(T("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "flowschema", "FlowSchema",
                false, {}, {}, true, G::kSpec));
  t.push_back(T("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations",
                "prioritylevelconfiguration", "PriorityLevelConfiguration", false, {}, {}, true,
                G::kSpec));
  // kube-apiserver's order of the built-in groups in /apis.
  group_order_ = {"apiregistration.k8s.io",
                  "apps",
                  "events.k8s.io",
                  "authentication.k8s.io",
                  "authorization.k8s.io",
                  "autoscaling",
                  "batch",
                  "certificates.k8s.io",
                  "networking.k8s.io",
                  "policy",
                  "rbac.authorization.k8s.io",
                  "storage.k8s.io",
                  "admissionregistration.k8s.io",
                  "apiextensions.k8s.io",
                  "scheduling.k8s.io",
                  "coordination.k8s.io",
                  "node.k8s.io",
                  "discovery.k8s.io",
                  "flowcontrol.apiserver.k8s.io"};
}

const ResourceType* Registry::Find(const std::string& group, const std::string& version,
                                   const std::string& plural) const {
  for (const auto& t : types_) {
    if (t.group == group && t.version == version && t.plural == plural) return &t;
  }
  return nullptr;
}

const ResourceType* Registry::FindKind(const std::string& group, const std::string& version,
                                       const std::string& kind) const {
  for (const auto& t : types_) {
    if (t.group == group && t.version == version && t.kind == kind) return &t;
  }
  return nullptr;
}

std::vector<const ResourceType*> Registry::Versions(const std::string& group,
                                                    const std::string& plural) const {
  std::vector<const ResourceType*> out;
  for (const auto& t : types_) {
    if (t.group == group && t.plural == plural) {
      if (t.storage_version) {
        out.insert(out.begin(), &t);
      } else {
        out.push_back(&t);
      }
    }
  }
  return out;
}

void Registry::InstallCrd(const Json& crd) {
  RemoveCrd(crd);
  const Json& spec = crd.at("spec");
  std::string group = spec.at("group").get<std::string>();
  const Json& names = spec.at("names");
  for (const auto& v : spec.value("versions", Json::array())) {
    if (!v.value("served", true)) continue;
    ResourceType t;
    t.group = group;
    t.version = v.at("name").get<std::string>();
    t.plural = names.at("plural").get<std::string>();
    t.singular = names.value("singular", "");
    if (t.singular.empty()) {
      t.singular = names.value("kind", "");
      for (auto& c : t.singular) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    t.kind = names.at("kind").get<std::string>();
    t.namespaced = spec.value("scope", "Namespaced") == "Namespaced";
    t.verbs = kAllVerbs;
    if (names.contains("shortNames"))
      t.short_names = names["shortNames"].get<std::vector<std::string>>();
    if (names.contains("categories"))
      t.categories = names["categories"].get<std::vector<std::string>>();
    t.status_subresource = v.contains("subresources") && v["subresources"].contains("status");
    t.scale_subresource = v.contains("subresources") && v["subresources"].contains("scale");
    t.builtin = false;
    t.storage_version = v.value("storage", false);
    t.generation = GenerationMode::kNonMetadata;
    if (v.contains("schema") && v["schema"].contains("openAPIV3Schema")) {
      t.schema = v["schema"]["openAPIV3Schema"];
    }
    if (v.contains("additionalPrinterColumns")) t.printer_columns = v["additionalPrinterColumns"];
    types_.push_back(std::move(t));
  }
  if (std::find(group_order_.begin(), group_order_.end(), group) == group_order_.end()) {
    group_order_.push_back(group);
  }
}

void Registry::RemoveCrd(const Json& crd) {
  const Json& spec = crd.at("spec");
  std::string group = spec.at("group").get<std::string>();
  std::string plural = spec.at("names").at("plural").get<std::string>();
  types_.remove_if(
      [&](const ResourceType& t) { return !t.builtin && t.group == group && t.plural == plural; });
  bool any = std::any_of(types_.begin(), types_.end(),
                         [&](const ResourceType& t) { return t.group == group; });
  if (!any)
    group_order_.erase(std::remove(group_order_.begin(), group_order_.end(), group),
                       group_order_.end());
}

std::vector<std::string> Registry::GroupOrder() const { return group_order_; }

std::vector<std::string> Registry::GroupVersions(const std::string& group) const {
  std::vector<std::string> out;
  for (const auto& t : types_) {
    if (t.group == group && std::find(out.begin(), out.end(), t.version) == out.end()) {
      out.push_back(t.version);
    }
  }
  std::sort(out.begin(), out.end(), VersionLess);
  return out;
}

Json Registry::CoreVersions() const {
  return Json{{"kind", "APIVersions"},
              {"versions", {"v1"}},
              {"serverAddressByClientCIDRs",
               {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", "127.0.0.1:6443"}}}}};
}

std::optional<Json> Registry::Group(const std::string& group) const {
  auto versions = GroupVersions(group);
  if (versions.empty() || group.empty()) return std::nullopt;
  Json g{{"name", group}, {"versions", Json::array()}};
  for (const auto& v : versions) {
    g["versions"].push_back({{"groupVersion", group + "/" + v}, {"version", v}});
  }
  g["preferredVersion"] = g["versions"][0];
  return g;
}

Json Registry::GroupList() const {
  Json out{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", Json::array()}};
  for (const auto& g : group_order_) {
    auto j = Group(g);
    if (j) out["groups"].push_back(*j);
  }
  return out;
}

std::optional<Json> Registry::ResourceList(const std::string& group,
                                           const std::string& version) const {
  Json resources = Json::array();
  for (const auto& t : types_) {
    if (t.group != group || t.version != version) continue;
    Json r{{"name", t.plural},
           {"singularName", t.singular},
           {"namespaced", t.namespaced},
           {"kind", t.kind},
           {"verbs", t.verbs}};
    if (!t.short_names.empty()) r["shortNames"] = t.short_names;
    if (!t.categories.empty()) r["categories"] = t.categories;
    resources.push_back(r);
    for (const auto& sr : Subresources(t)) {
      Json entry{
          {"name", t.plural + "/" + sr.name}, {"singularName", ""}, {"namespaced", t.namespaced}};
      if (!sr.group.empty() || !sr.version.empty()) {
        entry["group"] = sr.group;
        entry["version"] = sr.version;
      }
      entry["kind"] = sr.kind.empty() ? t.kind : sr.kind;
      entry["verbs"] = sr.verbs;
      resources.push_back(entry);
    }
  }
  if (resources.empty()) return std::nullopt;
  std::string gv = group.empty() ? version : group + "/" + version;
  return Json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", gv},
              {"resources", resources}};
}

Json Registry::Aggregated(bool core, const std::string& api_version) const {
  Json items = Json::array();
  std::vector<std::string> groups = core ? std::vector<std::string>{""} : group_order_;
  for (const auto& g : groups) {
    Json item{{"metadata", {{"creationTimestamp", nullptr}}}, {"versions", Json::array()}};
    if (!g.empty()) item["metadata"]["name"] = g;
    for (const auto& v : GroupVersions(g)) {
      Json resources = Json::array();
      for (const auto& t : types_) {
        if (t.group != g || t.version != v) continue;
        Json r{{"resource", t.plural},
               {"responseKind", {{"group", t.group}, {"version", t.version}, {"kind", t.kind}}},
               {"scope", t.namespaced ? "Namespaced" : "Cluster"},
               {"singularResource", t.singular},
               {"verbs", t.verbs}};
        if (!t.short_names.empty()) r["shortNames"] = t.short_names;
        if (!t.categories.empty()) r["categories"] = t.categories;
        Json subs = Json::array();
        for (const auto& sr : Subresources(t)) {
          Json kind{{"group", sr.group.empty() && sr.version.empty() ? t.group : sr.group},
                    {"version", sr.group.empty() && sr.version.empty() ? t.version : sr.version},
                    {"kind", sr.kind.empty() ? t.kind : sr.kind}};
          subs.push_back({{"subresource", sr.name}, {"responseKind", kind}, {"verbs", sr.verbs}});
        }
        if (!subs.empty()) r["subresources"] = subs;
        resources.push_back(r);
      }
      item["versions"].push_back(
          {{"version", v}, {"resources", resources}, {"freshness", "Current"}});
    }
    if (!item["versions"].empty()) items.push_back(item);
  }
  return Json{{"kind", "APIGroupDiscoveryList"},
              {"apiVersion", api_version},
              {"metadata", Json::object()},
              {"items", items}};
}

std::optional<Json> Registry::OpenApiDoc(const std::string& key) const {
  std::string group, version;
  if (key.rfind("api/", 0) == 0) {
    version = key.substr(4);
  } else if (key.rfind("apis/", 0) == 0) {
    auto rest = key.substr(5);
    auto slash = rest.find('/');
    if (slash == std::string::npos) return std::nullopt;
    group = rest.substr(0, slash);
    version = rest.substr(slash + 1);
  } else {
    return std::nullopt;
  }
  Json paths = Json::object();
  Json schemas = Json::object();
  bool any = false;
  for (const auto& t : types_) {
    if (t.group != group || t.version != version) continue;
    any = true;
    Json gvk{{"group", t.group}, {"version", t.version}, {"kind", t.kind}};
    std::string schema_name =
        (t.group.empty() ? "io.k8s.api.core." : "io.k8s.sim." + t.group + ".") + t.version + "." +
        t.kind;
    Json schema = t.schema.is_null()
                      ? Json{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}
                      : t.schema;
    // Built-in kinds the schema table describes: the real structure (for `kubectl explain`).
    // The patch operations carry no request body, so kubectl computes its client-side patches
    // from its compiled-in types, as it would for a kind whose schema it cannot use.
    if (const Json* builtin = t.builtin ? BuiltinSchema(t.group, t.kind) : nullptr)
      schema = *builtin;
    schema["x-kubernetes-group-version-kind"] = Json::array({gvk});
    schemas[schema_name] = schema;
    Json ref{{"$ref", "#/components/schemas/" + schema_name}};
    Json ok{
        {"200", {{"description", "OK"}, {"content", {{"application/json", {{"schema", ref}}}}}}}};
    auto param = [](const char* name) {
      return Json{
          {"name", name}, {"in", "query"}, {"schema", {{"type", "string"}, {"uniqueItems", true}}}};
    };
    std::string base =
        t.PathPrefix() + (t.namespaced ? "/namespaces/{namespace}/" : "/") + t.plural;
    if (t.create_only) {
      paths[base] = {
          {"post",
           {{"operationId", "create" + t.kind},
            {"x-kubernetes-action", "post"},
            {"x-kubernetes-group-version-kind", gvk},
            {"parameters", {param("dryRun"), param("fieldManager"), param("fieldValidation")}},
            {"responses", ok}}}};
      continue;
    }
    Json write_params =
        Json::array({param("dryRun"), param("fieldManager"), param("fieldValidation")});
    Json patch_params = write_params;
    patch_params.push_back({{"name", "force"},
                            {"in", "query"},
                            {"schema", {{"type", "boolean"}, {"uniqueItems", true}}}});
    paths[base] = {{"get",
                    {{"operationId", "list" + t.kind},
                     {"x-kubernetes-action", "list"},
                     {"x-kubernetes-group-version-kind", gvk},
                     {"responses", ok}}},
                   {"post",
                    {{"operationId", "create" + t.kind},
                     {"x-kubernetes-action", "post"},
                     {"x-kubernetes-group-version-kind", gvk},
                     {"parameters", write_params},
                     {"responses", ok}}}};
    Json item{{"get",
               {{"operationId", "read" + t.kind},
                {"x-kubernetes-action", "get"},
                {"x-kubernetes-group-version-kind", gvk},
                {"responses", ok}}},
              {"put",
               {{"operationId", "replace" + t.kind},
                {"x-kubernetes-action", "put"},
                {"x-kubernetes-group-version-kind", gvk},
                {"parameters", write_params},
                {"responses", ok}}},
              {"patch",
               {{"operationId", "patch" + t.kind},
                {"x-kubernetes-action", "patch"},
                {"x-kubernetes-group-version-kind", gvk},
                {"parameters", patch_params},
                {"responses", ok}}},
              {"delete",
               {{"operationId", "delete" + t.kind},
                {"x-kubernetes-action", "delete"},
                {"x-kubernetes-group-version-kind", gvk},
                {"responses", ok}}},
              {"parameters",
               {{{"name", "name"},
                 {"in", "path"},
                 {"required", true},
                 {"schema", {{"type", "string"}}}}}}};
    paths[base + "/{name}"] = item;
    if (t.status_subresource) paths[base + "/{name}/status"] = item;
  }
  if (!any) return std::nullopt;
  return Json{{"openapi", "3.0.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.4"}}},
              {"paths", paths},
              {"components", {{"schemas", schemas}}}};
}

namespace {

// An OpenAPI v3 schema in Swagger 2.0 terms (int-or-string is a string format there).
Json SchemaToV2(const Json& schema) {
  if (!schema.is_object()) return schema;
  Json out = Json::object();
  for (auto it = schema.begin(); it != schema.end(); ++it) {
    if (it.key() == "x-kubernetes-int-or-string") {
      out["type"] = "string";
      out["format"] = "int-or-string";
    } else if (it.key() == "properties" && it.value().is_object()) {
      Json props = Json::object();
      for (auto p = it.value().begin(); p != it.value().end(); ++p)
        props[p.key()] = SchemaToV2(p.value());
      out["properties"] = props;
    } else if ((it.key() == "items" || it.key() == "additionalProperties") &&
               it.value().is_object()) {
      out[it.key()] = SchemaToV2(it.value());
    } else {
      out[it.key()] = it.value();
    }
  }
  return out;
}

}  // namespace

Json Registry::OpenApiV2() const {
  Json definitions = Json::object();
  Json paths = Json::object();
  const Json patch_types =
      Json::array({"application/json-patch+json", "application/merge-patch+json",
                   "application/strategic-merge-patch+json", "application/apply-patch+yaml"});
  for (const auto& [g, v] : [&] {
         std::vector<std::pair<std::string, std::string>> gvs{{"", "v1"}};
         for (const auto& group : group_order_) {
           for (const auto& version : GroupVersions(group)) gvs.emplace_back(group, version);
         }
         return gvs;
       }()) {
    auto doc = OpenApiDoc(g.empty() ? "api/" + v : "apis/" + g + "/" + v);
    if (!doc) continue;
    for (auto it = (*doc)["components"]["schemas"].begin();
         it != (*doc)["components"]["schemas"].end(); ++it) {
      definitions[it.key()] = SchemaToV2(it.value());
    }
    for (auto it = (*doc)["paths"].begin(); it != (*doc)["paths"].end(); ++it) {
      Json item = Json::object();
      for (auto op = it.value().begin(); op != it.value().end(); ++op) {
        if (op.key() == "parameters") continue;
        Json o = op.value();
        o.erase("responses");
        o["responses"] = {{"200", {{"description", "OK"}}}};
        o["produces"] = {"application/json", "application/yaml"};
        o["consumes"] = op.key() == "patch" ? patch_types : Json::array({"*/*"});
        item[op.key()] = o;
      }
      paths[it.key()] = item;
    }
  }
  return Json{{"swagger", "2.0"},
              {"info", {{"title", "Kubernetes"}, {"version", "v1.32.4"}}},
              {"paths", paths},
              {"definitions", definitions}};
}

Json Registry::OpenApiRoot() const {
  Json paths = Json::object();
  std::vector<std::pair<std::string, std::string>> gvs{{"", "v1"}};
  for (const auto& g : group_order_) {
    for (const auto& v : GroupVersions(g)) gvs.emplace_back(g, v);
  }
  for (const auto& [g, v] : gvs) {
    std::string key = g.empty() ? "api/" + v : "apis/" + g + "/" + v;
    auto doc = OpenApiDoc(key);
    if (!doc) continue;
    paths[key] = {{"serverRelativeURL", "/openapi/v3/" + key + "?hash=" + HashHex(doc->dump())}};
  }
  return Json{{"paths", paths}};
}

// ---- Status helpers ---------------------------------------------------------------------------

Json StatusBody(int code, const std::string& reason, const std::string& message,
                const Json& details) {
  Json s = Json::object();
  s["kind"] = "Status";
  s["apiVersion"] = "v1";
  s["metadata"] = Json::object();
  s["status"] = "Failure";
  s["message"] = message;
  if (!reason.empty()) s["reason"] = reason;
  if (!details.is_null()) s["details"] = details;
  s["code"] = code;
  return s;
}

ApiError MakeError(int code, const std::string& reason, const std::string& message,
                   const Json& details) {
  ApiError e;
  e.code = code;
  e.status = StatusBody(code, reason, message, details);
  return e;
}

namespace {
Json Details(const ResourceType& rt, const std::string& name) {
  Json d = Json::object();
  if (!name.empty()) d["name"] = name;
  if (!rt.group.empty()) d["group"] = rt.group;
  d["kind"] = rt.plural;
  return d;
}
}  // namespace

ApiError NotFoundError(const ResourceType& rt, const std::string& name) {
  return MakeError(404, "NotFound", rt.QualifiedResource() + " \"" + name + "\" not found",
                   Details(rt, name));
}

ApiError AlreadyExistsError(const ResourceType& rt, const std::string& name) {
  return MakeError(409, "AlreadyExists",
                   rt.QualifiedResource() + " \"" + name + "\" already exists", Details(rt, name));
}

ApiError ConflictError(const ResourceType& rt, const std::string& name) {
  return MakeError(409, "Conflict",
                   "Operation cannot be fulfilled on " + rt.QualifiedResource() + " \"" + name +
                       "\": the object has been modified; please apply your changes to the "
                       "latest version and try again",
                   Details(rt, name));
}

ApiError BadRequestError(const std::string& message) {
  return MakeError(400, "BadRequest", message);
}

ApiError InvalidError(const std::string& qualified_kind, const std::string& group,
                      const std::string& kind, const std::string& name,
                      const std::vector<FieldError>& errors) {
  std::vector<std::string> texts;
  Json causes = Json::array();
  for (const auto& e : errors) {
    std::string text = e.field + ": " + e.body;
    if (std::find(texts.begin(), texts.end(), text) == texts.end()) texts.push_back(text);
    causes.push_back({{"reason", e.type}, {"message", e.body}, {"field", e.field}});
  }
  std::string joined;
  if (texts.size() == 1) {
    joined = texts[0];
  } else {
    joined = "[";
    for (std::size_t i = 0; i < texts.size(); ++i) joined += (i ? ", " : "") + texts[i];
    joined += "]";
  }
  Json details = Json::object();
  details["name"] = name;
  if (!group.empty()) details["group"] = group;
  details["kind"] = kind;
  details["causes"] = causes;
  return MakeError(422, "Invalid", qualified_kind + " \"" + name + "\" is invalid: " + joined,
                   details);
}

}  // namespace kubesim
