// The fields of the built-in kinds that kube-sim checks for strict field validation: a tree per
// kind where a key maps to `true` (anything below is accepted) or to an object of the known fields
// below it (applied to each element of a list of objects). Kinds without a tree are not checked.
#include "internal.hpp"

namespace kubesim {
namespace {

Json ObjectMeta() {
  Json m = Json::object();
  for (const char* k :
       {"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
        "annotations", "ownerReferences", "finalizers", "managedFields"}) {
    m[k] = true;
  }
  return m;
}

Json Fields(std::initializer_list<const char*> names) {
  Json m = Json::object();
  for (const char* k : names) m[k] = true;
  return m;
}

Json Container() {
  return Fields({"name",
                 "image",
                 "command",
                 "args",
                 "workingDir",
                 "ports",
                 "envFrom",
                 "env",
                 "resources",
                 "resizePolicy",
                 "restartPolicy",
                 "volumeMounts",
                 "volumeDevices",
                 "livenessProbe",
                 "readinessProbe",
                 "startupProbe",
                 "lifecycle",
                 "terminationMessagePath",
                 "terminationMessagePolicy",
                 "imagePullPolicy",
                 "securityContext",
                 "stdin",
                 "stdinOnce",
                 "tty"});
}

Json PodTemplate() {
  Json spec = Fields({"volumes",
                      "ephemeralContainers",
                      "restartPolicy",
                      "terminationGracePeriodSeconds",
                      "activeDeadlineSeconds",
                      "dnsPolicy",
                      "nodeSelector",
                      "serviceAccountName",
                      "serviceAccount",
                      "automountServiceAccountToken",
                      "nodeName",
                      "hostNetwork",
                      "hostPID",
                      "hostIPC",
                      "shareProcessNamespace",
                      "securityContext",
                      "imagePullSecrets",
                      "hostname",
                      "subdomain",
                      "affinity",
                      "schedulerName",
                      "tolerations",
                      "hostAliases",
                      "priorityClassName",
                      "priority",
                      "dnsConfig",
                      "readinessGates",
                      "runtimeClassName",
                      "enableServiceLinks",
                      "preemptionPolicy",
                      "overhead",
                      "topologySpreadConstraints",
                      "setHostnameAsFQDN",
                      "os",
                      "hostUsers",
                      "schedulingGates",
                      "resourceClaims",
                      "resources"});
  spec["containers"] = Container();
  spec["initContainers"] = Container();
  return Json{{"metadata", ObjectMeta()}, {"spec", spec}};
}

Json Top(std::initializer_list<const char*> names) {
  Json m = Fields(names);
  m["apiVersion"] = true;
  m["kind"] = true;
  m["metadata"] = ObjectMeta();
  return m;
}

Json BuildTree(const std::string& group, const std::string& plural) {
  Json selector = Fields({"matchLabels", "matchExpressions"});
  if (group.empty() && plural == "configmaps") return Top({"data", "binaryData", "immutable"});
  if (group.empty() && plural == "secrets") return Top({"data", "stringData", "type", "immutable"});
  if (group.empty() && plural == "serviceaccounts") {
    return Top({"secrets", "imagePullSecrets", "automountServiceAccountToken"});
  }
  if (group.empty() && plural == "namespaces") {
    Json t = Top({"status"});
    t["spec"] = Fields({"finalizers"});
    return t;
  }
  if (group.empty() && plural == "services") {
    Json t = Top({"status"});
    t["spec"] = Fields({"selector", "clusterIP", "clusterIPs", "type", "externalIPs",
                        "sessionAffinity", "loadBalancerIP", "loadBalancerSourceRanges",
                        "externalName", "externalTrafficPolicy", "healthCheckNodePort",
                        "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
                        "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass",
                        "internalTrafficPolicy", "trafficDistribution"});
    t["spec"]["ports"] =
        Fields({"name", "protocol", "appProtocol", "port", "targetPort", "nodePort"});
    return t;
  }
  if (group == "apps" && plural == "deployments") {
    Json t = Top({"status"});
    t["spec"] = Fields({"replicas", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused",
                        "progressDeadlineSeconds"});
    t["spec"]["selector"] = selector;
    t["spec"]["template"] = PodTemplate();
    return t;
  }
  if (group == "batch" && plural == "jobs") {
    Json t = Top({"status"});
    t["spec"] = Fields({"parallelism", "completions", "activeDeadlineSeconds", "podFailurePolicy",
                        "successPolicy", "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes",
                        "manualSelector", "ttlSecondsAfterFinished", "completionMode", "suspend",
                        "podReplacementPolicy", "managedBy"});
    t["spec"]["selector"] = selector;
    t["spec"]["template"] = PodTemplate();
    return t;
  }
  return nullptr;
}

// `path` is the JSON decoder's form, `smd` structured-merge-diff's (".spec.x[name=\"web\"]").
void Walk(const Json& known, Json& value, const std::string& path, const std::string& smd,
          std::vector<std::string>& unknown, std::vector<std::string>* smd_out, bool prune) {
  if (!known.is_object()) return;
  if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      const Json& e = value[i];
      std::string key = e.is_object() && e.contains("name") && e["name"].is_string()
                            ? "[name=" + e["name"].dump() + "]"
                            : "[" + std::to_string(i) + "]";
      Walk(known, value[i], path + "[" + std::to_string(i) + "]", smd + key, unknown, smd_out,
           prune);
    }
    return;
  }
  if (!value.is_object()) return;
  std::vector<std::string> drop;
  for (auto it = value.begin(); it != value.end(); ++it) {
    std::string child = path.empty() ? it.key() : path + "." + it.key();
    auto k = known.find(it.key());
    if (k == known.end()) {
      unknown.push_back(child);
      if (smd_out != nullptr) smd_out->push_back(smd + "." + it.key());
      drop.push_back(it.key());
    } else {
      Walk(*k, it.value(), child, smd + "." + it.key(), unknown, smd_out, prune);
    }
  }
  if (prune) {
    for (const auto& d : drop) value.erase(d);
  }
}

}  // namespace

bool BuiltinUnknownFields(const ResourceType& rt, Json& object, std::vector<std::string>& unknown,
                          std::vector<std::string>* smd_paths, bool prune) {
  static const std::map<std::string, Json> kTrees = [] {
    std::map<std::string, Json> trees;
    for (const auto& [g, p] :
         std::vector<std::pair<std::string, std::string>>{{"", "configmaps"},
                                                          {"", "secrets"},
                                                          {"", "serviceaccounts"},
                                                          {"", "namespaces"},
                                                          {"", "services"},
                                                          {"apps", "deployments"},
                                                          {"batch", "jobs"}}) {
      trees[g + "/" + p] = BuildTree(g, p);
    }
    return trees;
  }();
  auto it = kTrees.find(rt.group + "/" + rt.plural);
  if (it == kTrees.end()) return false;
  Walk(it->second, object, "", "", unknown, smd_paths, prune);
  return true;
}

}  // namespace kubesim
