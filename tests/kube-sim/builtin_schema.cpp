// Schemas of the built-in kinds: OpenAPI v3 trees (refs inlined) with the markers that decide how
// server-side apply owns fields and how a strategic merge patch merges them, as kube-apiserver's
// published OpenAPI declares them: `x-kubernetes-list-type` (map/set/atomic),
// `x-kubernetes-list-map-keys`, `x-kubernetes-map-type: atomic` (LabelSelector, object
// references, ...), `x-kubernetes-patch-strategy` / `x-kubernetes-patch-merge-key`, and the
// `default` of list-map key fields (a port's `protocol`). The trees cover the fields kubectl users
// write; a field they do not describe is handled by the fallback rules of fields.cpp. They are also
// what /openapi/v3 and /openapi/v2 serve, so `kubectl explain` can walk them.
#include <map>
#include <mutex>
#include <utility>

#include "internal.hpp"

namespace kubesim {
namespace {

using Props = std::vector<std::pair<std::string, Json>>;

Json Str() { return Json{{"type", "string"}}; }
Json Int() { return Json{{"type", "integer"}, {"format", "int32"}}; }
Json Int64() { return Json{{"type", "integer"}, {"format", "int64"}}; }
Json Bool() { return Json{{"type", "boolean"}}; }
Json Time() { return Json{{"type", "string"}, {"format", "date-time"}}; }
Json IntOrString() { return Json{{"x-kubernetes-int-or-string", true}}; }
Json Quantity() { return IntOrString(); }
Json Bytes() { return Json{{"type", "string"}, {"format", "byte"}}; }
Json StrMap() { return Json{{"type", "object"}, {"additionalProperties", Str()}}; }
Json MapOf(Json v) { return Json{{"type", "object"}, {"additionalProperties", std::move(v)}}; }
Json AtomicStrMap() {
  Json m = StrMap();
  m["x-kubernetes-map-type"] = "atomic";
  return m;
}
Json Untyped() { return Json{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}; }

Json Obj(const Props& props, std::vector<std::string> required = {}) {
  Json p = Json::object();
  for (const auto& [k, v] : props) p[k] = v;
  Json o{{"type", "object"}, {"properties", p}};
  if (!required.empty()) o["required"] = required;
  return o;
}
Json AtomicObj(const Props& props, std::vector<std::string> required = {}) {
  Json o = Obj(props, std::move(required));
  o["x-kubernetes-map-type"] = "atomic";
  return o;
}
Json Described(Json schema, const char* text) {
  schema["description"] = text;
  return schema;
}
// A list without markers: atomic for server-side apply, replaced by a strategic merge patch.
Json List(Json item) { return Json{{"type", "array"}, {"items", std::move(item)}}; }
Json AtomicList(Json item) {
  Json l = List(std::move(item));
  l["x-kubernetes-list-type"] = "atomic";
  return l;
}
Json SetList(Json item) {
  Json l = List(std::move(item));
  l["x-kubernetes-list-type"] = "set";
  l["x-kubernetes-patch-strategy"] = "merge";
  return l;
}
// An associative list: list-map keys for apply, merge key (and strategy) for patches.
Json MapList(Json item, std::vector<std::string> keys, const std::string& merge_key,
             const std::string& strategy = "merge") {
  Json l = List(std::move(item));
  l["x-kubernetes-list-type"] = "map";
  l["x-kubernetes-list-map-keys"] = keys;
  if (!merge_key.empty()) {
    l["x-kubernetes-patch-merge-key"] = merge_key;
    l["x-kubernetes-patch-strategy"] = strategy;
  }
  return l;
}
Json WithStrategy(Json schema, const char* strategy) {
  schema["x-kubernetes-patch-strategy"] = strategy;
  return schema;
}

Json Conditions(const Props& extra = {}) {
  Props p{{"type", Str()},
          {"status", Str()},
          {"reason", Str()},
          {"message", Str()},
          {"lastTransitionTime", Time()}};
  for (const auto& e : extra) p.push_back(e);
  return MapList(Obj(p, {"type", "status"}), {"type"}, "type");
}

// ---- meta/v1 -----------------------------------------------------------------------------------

Json OwnerReference() {
  return AtomicObj({{"apiVersion", Str()},
                    {"kind", Str()},
                    {"name", Str()},
                    {"uid", Str()},
                    {"controller", Bool()},
                    {"blockOwnerDeletion", Bool()}},
                   {"apiVersion", "kind", "name", "uid"});
}

Json ObjectMeta() {
  Json managed = Obj({{"manager", Str()},
                      {"operation", Str()},
                      {"apiVersion", Str()},
                      {"time", Time()},
                      {"fieldsType", Str()},
                      {"fieldsV1", Untyped()},
                      {"subresource", Str()}});
  return Described(
      Obj({{"name", Str()},
           {"generateName", Str()},
           {"namespace", Str()},
           {"selfLink", Str()},
           {"uid", Str()},
           {"resourceVersion", Str()},
           {"generation", Int64()},
           {"creationTimestamp", Time()},
           {"deletionTimestamp", Time()},
           {"deletionGracePeriodSeconds", Int64()},
           {"labels", StrMap()},
           {"annotations", StrMap()},
           {"ownerReferences", MapList(OwnerReference(), {"uid"}, "uid")},
           {"finalizers", SetList(Str())},
           {"managedFields", AtomicList(managed)}}),
      "ObjectMeta is metadata that all persisted resources must have, which includes all objects "
      "users must create.");
}

Json LabelSelector() {
  Json req = Obj({{"key", Str()}, {"operator", Str()}, {"values", AtomicList(Str())}},
                 {"key", "operator"});
  return AtomicObj({{"matchLabels", StrMap()}, {"matchExpressions", AtomicList(req)}});
}

Json LocalObjectReference() { return AtomicObj({{"name", Str()}}); }
Json ObjectReference() {
  return AtomicObj({{"kind", Str()},
                    {"namespace", Str()},
                    {"name", Str()},
                    {"uid", Str()},
                    {"apiVersion", Str()},
                    {"resourceVersion", Str()},
                    {"fieldPath", Str()}});
}

// ---- core/v1 pod template ----------------------------------------------------------------------

Json KeyToPaths() {
  return AtomicList(Obj({{"key", Str()}, {"path", Str()}, {"mode", Int()}}, {"key", "path"}));
}

Json Volume() {
  Props p{{"name", Str()},
          {"configMap", Obj({{"name", Str()},
                             {"items", KeyToPaths()},
                             {"defaultMode", Int()},
                             {"optional", Bool()}})},
          {"secret", Obj({{"secretName", Str()},
                          {"items", KeyToPaths()},
                          {"defaultMode", Int()},
                          {"optional", Bool()}})},
          {"emptyDir", Obj({{"medium", Str()}, {"sizeLimit", Quantity()}})},
          {"persistentVolumeClaim", Obj({{"claimName", Str()}, {"readOnly", Bool()}})},
          {"hostPath", Obj({{"path", Str()}, {"type", Str()}})},
          {"nfs", Obj({{"server", Str()}, {"path", Str()}, {"readOnly", Bool()}})},
          {"projected", Obj({{"sources", AtomicList(Untyped())}, {"defaultMode", Int()}})},
          {"downwardAPI", Obj({{"items", AtomicList(Untyped())}, {"defaultMode", Int()}})},
          {"csi", Obj({{"driver", Str()},
                       {"readOnly", Bool()},
                       {"fsType", Str()},
                       {"volumeAttributes", StrMap()},
                       {"nodePublishSecretRef", LocalObjectReference()}})},
          {"ephemeral", Obj({{"volumeClaimTemplate", Untyped()}})},
          {"image", Obj({{"reference", Str()}, {"pullPolicy", Str()}})}};
  return Obj(p, {"name"});
}

Json Probe() {
  Json port = IntOrString();
  return Obj(
      {{"exec", Obj({{"command", AtomicList(Str())}})},
       {"httpGet", Obj({{"path", Str()},
                        {"port", port},
                        {"host", Str()},
                        {"scheme", Str()},
                        {"httpHeaders", AtomicList(Obj({{"name", Str()}, {"value", Str()}}))}},
                       {"port"})},
       {"tcpSocket", Obj({{"port", port}, {"host", Str()}}, {"port"})},
       {"grpc", Obj({{"port", Int()}, {"service", Str()}}, {"port"})},
       {"initialDelaySeconds", Int()},
       {"timeoutSeconds", Int()},
       {"periodSeconds", Int()},
       {"successThreshold", Int()},
       {"failureThreshold", Int()},
       {"terminationGracePeriodSeconds", Int64()}});
}

Json LifecycleHandler() {
  Json p = Probe()["properties"];
  return Obj({{"exec", p["exec"]},
              {"httpGet", p["httpGet"]},
              {"tcpSocket", p["tcpSocket"]},
              {"sleep", Obj({{"seconds", Int64()}}, {"seconds"})}});
}

Json SeccompProfile() { return Obj({{"type", Str()}, {"localhostProfile", Str()}}, {"type"}); }
Json SeLinuxOptions() {
  return Obj({{"user", Str()}, {"role", Str()}, {"type", Str()}, {"level", Str()}});
}
Json WindowsOptions() {
  return Obj({{"gmsaCredentialSpecName", Str()},
              {"gmsaCredentialSpec", Str()},
              {"runAsUserName", Str()},
              {"hostProcess", Bool()}});
}

Json SecurityContext() {
  return Obj({{"capabilities", Obj({{"add", AtomicList(Str())}, {"drop", AtomicList(Str())}})},
              {"privileged", Bool()},
              {"seLinuxOptions", SeLinuxOptions()},
              {"windowsOptions", WindowsOptions()},
              {"runAsUser", Int64()},
              {"runAsGroup", Int64()},
              {"runAsNonRoot", Bool()},
              {"readOnlyRootFilesystem", Bool()},
              {"allowPrivilegeEscalation", Bool()},
              {"procMount", Str()},
              {"seccompProfile", SeccompProfile()},
              {"appArmorProfile", Obj({{"type", Str()}, {"localhostProfile", Str()}})}});
}

Json ResourceRequirements() {
  return Obj(
      {{"limits", MapOf(Quantity())},
       {"requests", MapOf(Quantity())},
       {"claims", MapList(Obj({{"name", Str()}, {"request", Str()}}, {"name"}), {"name"}, "")}});
}

Json Container() {
  Json env_source =
      Obj({{"fieldRef", AtomicObj({{"apiVersion", Str()}, {"fieldPath", Str()}}, {"fieldPath"})},
           {"resourceFieldRef",
            AtomicObj({{"containerName", Str()}, {"resource", Str()}, {"divisor", Quantity()}},
                      {"resource"})},
           {"configMapKeyRef",
            AtomicObj({{"name", Str()}, {"key", Str()}, {"optional", Bool()}}, {"key"})},
           {"secretKeyRef",
            AtomicObj({{"name", Str()}, {"key", Str()}, {"optional", Bool()}}, {"key"})}});
  Json env = Obj({{"name", Str()}, {"value", Str()}, {"valueFrom", env_source}}, {"name"});
  Json env_from = Obj({{"prefix", Str()},
                       {"configMapRef", AtomicObj({{"name", Str()}, {"optional", Bool()}})},
                       {"secretRef", AtomicObj({{"name", Str()}, {"optional", Bool()}})}});
  Json protocol = Str();
  protocol["default"] = "TCP";
  Json port = Obj({{"name", Str()},
                   {"hostPort", Int()},
                   {"containerPort", Int()},
                   {"protocol", protocol},
                   {"hostIP", Str()}},
                  {"containerPort"});
  Json mount = Obj({{"name", Str()},
                    {"readOnly", Bool()},
                    {"recursiveReadOnly", Str()},
                    {"mountPath", Str()},
                    {"subPath", Str()},
                    {"mountPropagation", Str()},
                    {"subPathExpr", Str()}},
                   {"name", "mountPath"});
  return Obj(
      {{"name", Str()},
       {"image", Str()},
       {"command", AtomicList(Str())},
       {"args", AtomicList(Str())},
       {"workingDir", Str()},
       {"ports", MapList(port, {"containerPort", "protocol"}, "containerPort")},
       {"envFrom", AtomicList(env_from)},
       {"env", MapList(env, {"name"}, "name")},
       {"resources", ResourceRequirements()},
       {"resizePolicy", AtomicList(Obj({{"resourceName", Str()}, {"restartPolicy", Str()}}))},
       {"restartPolicy", Str()},
       {"volumeMounts", MapList(mount, {"mountPath"}, "mountPath")},
       {"volumeDevices",
        MapList(Obj({{"name", Str()}, {"devicePath", Str()}}), {"devicePath"}, "devicePath")},
       {"livenessProbe", Probe()},
       {"readinessProbe", Probe()},
       {"startupProbe", Probe()},
       {"lifecycle", Obj({{"postStart", LifecycleHandler()},
                          {"preStop", LifecycleHandler()},
                          {"stopSignal", Str()}})},
       {"terminationMessagePath", Str()},
       {"terminationMessagePolicy", Str()},
       {"imagePullPolicy", Str()},
       {"securityContext", SecurityContext()},
       {"stdin", Bool()},
       {"stdinOnce", Bool()},
       {"tty", Bool()}},
      {"name"});
}

Json Affinity() {
  Json term = AtomicObj({{"labelSelector", LabelSelector()},
                         {"namespaces", AtomicList(Str())},
                         {"topologyKey", Str()},
                         {"namespaceSelector", LabelSelector()},
                         {"matchLabelKeys", AtomicList(Str())},
                         {"mismatchLabelKeys", AtomicList(Str())}});
  Json weighted = Obj({{"weight", Int()}, {"podAffinityTerm", term}});
  Json node_term = AtomicObj(
      {{"matchExpressions", AtomicList(Untyped())}, {"matchFields", AtomicList(Untyped())}});
  Json pod_affinity =
      Obj({{"requiredDuringSchedulingIgnoredDuringExecution", AtomicList(term)},
           {"preferredDuringSchedulingIgnoredDuringExecution", AtomicList(weighted)}});
  return Obj(
      {{"nodeAffinity", Obj({{"requiredDuringSchedulingIgnoredDuringExecution",
                              AtomicObj({{"nodeSelectorTerms", AtomicList(node_term)}})},
                             {"preferredDuringSchedulingIgnoredDuringExecution",
                              AtomicList(Obj({{"weight", Int()}, {"preference", node_term}}))}})},
       {"podAffinity", pod_affinity},
       {"podAntiAffinity", pod_affinity}});
}

Json PodSpec() {
  Json toleration = Obj({{"key", Str()},
                         {"operator", Str()},
                         {"value", Str()},
                         {"effect", Str()},
                         {"tolerationSeconds", Int64()}});
  Json spread = Obj({{"maxSkew", Int()},
                     {"topologyKey", Str()},
                     {"whenUnsatisfiable", Str()},
                     {"labelSelector", LabelSelector()},
                     {"minDomains", Int()},
                     {"nodeAffinityPolicy", Str()},
                     {"nodeTaintsPolicy", Str()},
                     {"matchLabelKeys", AtomicList(Str())}},
                    {"maxSkew", "topologyKey", "whenUnsatisfiable"});
  Json pod_security = Obj({{"seLinuxOptions", SeLinuxOptions()},
                           {"windowsOptions", WindowsOptions()},
                           {"runAsUser", Int64()},
                           {"runAsGroup", Int64()},
                           {"runAsNonRoot", Bool()},
                           {"supplementalGroups", AtomicList(Int64())},
                           {"supplementalGroupsPolicy", Str()},
                           {"fsGroup", Int64()},
                           {"sysctls", AtomicList(Obj({{"name", Str()}, {"value", Str()}}))},
                           {"fsGroupChangePolicy", Str()},
                           {"seccompProfile", SeccompProfile()},
                           {"appArmorProfile", Obj({{"type", Str()}, {"localhostProfile", Str()}})},
                           {"seLinuxChangePolicy", Str()}});
  Json name_only = Obj({{"name", Str()}}, {"name"});
  return Obj(
      {{"volumes", MapList(Volume(), {"name"}, "name", "merge,retainKeys")},
       {"initContainers", MapList(Container(), {"name"}, "name")},
       {"containers", MapList(Container(), {"name"}, "name")},
       {"ephemeralContainers", MapList(Container(), {"name"}, "name")},
       {"restartPolicy", Str()},
       {"terminationGracePeriodSeconds", Int64()},
       {"activeDeadlineSeconds", Int64()},
       {"dnsPolicy", Str()},
       {"nodeSelector", AtomicStrMap()},
       {"serviceAccountName", Str()},
       {"serviceAccount", Str()},
       {"automountServiceAccountToken", Bool()},
       {"nodeName", Str()},
       {"hostNetwork", Bool()},
       {"hostPID", Bool()},
       {"hostIPC", Bool()},
       {"shareProcessNamespace", Bool()},
       {"securityContext", pod_security},
       {"imagePullSecrets", MapList(LocalObjectReference(), {"name"}, "name")},
       {"hostname", Str()},
       {"subdomain", Str()},
       {"affinity", Affinity()},
       {"schedulerName", Str()},
       {"tolerations", AtomicList(toleration)},
       {"hostAliases",
        MapList(Obj({{"ip", Str()}, {"hostnames", AtomicList(Str())}}, {"ip"}), {"ip"}, "ip")},
       {"priorityClassName", Str()},
       {"priority", Int()},
       {"dnsConfig", Obj({{"nameservers", AtomicList(Str())},
                          {"searches", AtomicList(Str())},
                          {"options", AtomicList(Obj({{"name", Str()}, {"value", Str()}}))}})},
       {"readinessGates", AtomicList(Obj({{"conditionType", Str()}}, {"conditionType"}))},
       {"runtimeClassName", Str()},
       {"enableServiceLinks", Bool()},
       {"preemptionPolicy", Str()},
       {"overhead", MapOf(Quantity())},
       {"topologySpreadConstraints",
        MapList(spread, {"topologyKey", "whenUnsatisfiable"}, "topologyKey")},
       {"setHostnameAsFQDN", Bool()},
       {"os", Obj({{"name", Str()}}, {"name"})},
       {"hostUsers", Bool()},
       {"schedulingGates", MapList(name_only, {"name"}, "name")},
       {"resourceClaims", MapList(Obj({{"name", Str()},
                                       {"resourceClaimName", Str()},
                                       {"resourceClaimTemplateName", Str()}},
                                      {"name"}),
                                  {"name"}, "name", "merge,retainKeys")},
       {"resources", ResourceRequirements()}},
      {"containers"});
}

Json PodTemplateSpec() { return Obj({{"metadata", ObjectMeta()}, {"spec", PodSpec()}}); }

Json ContainerStatuses() { return AtomicList(Untyped()); }

Json PodStatus() {
  Json ip = Obj({{"ip", Str()}}, {"ip"});
  return Obj(
      {{"phase", Str()},
       {"conditions", Conditions({{"lastProbeTime", Time()}, {"observedGeneration", Int64()}})},
       {"message", Str()},
       {"reason", Str()},
       {"nominatedNodeName", Str()},
       {"hostIP", Str()},
       {"hostIPs", AtomicList(ip)},
       {"podIP", Str()},
       {"podIPs", MapList(ip, {"ip"}, "ip")},
       {"startTime", Time()},
       {"initContainerStatuses", ContainerStatuses()},
       {"containerStatuses", ContainerStatuses()},
       {"ephemeralContainerStatuses", ContainerStatuses()},
       {"qosClass", Str()},
       {"resize", Str()},
       {"observedGeneration", Int64()}});
}

// ---- kinds -------------------------------------------------------------------------------------

Json Kind(const Props& props, const char* description) {
  Props all{{"apiVersion", Str()}, {"kind", Str()}, {"metadata", ObjectMeta()}};
  for (const auto& p : props) all.push_back(p);
  return Described(Obj(all), description);
}

Json WorkloadStatus(const Props& fields) {
  Props p = fields;
  p.emplace_back("observedGeneration", Int64());
  p.emplace_back("conditions", Conditions({{"lastUpdateTime", Time()}}));
  return Obj(p);
}

Json JobSpec() {
  return Obj({{"parallelism", Int()},
              {"completions", Int()},
              {"activeDeadlineSeconds", Int64()},
              {"podFailurePolicy", Obj({{"rules", AtomicList(Untyped())}})},
              {"successPolicy", Obj({{"rules", AtomicList(Untyped())}})},
              {"backoffLimit", Int()},
              {"backoffLimitPerIndex", Int()},
              {"maxFailedIndexes", Int()},
              {"selector", LabelSelector()},
              {"manualSelector", Bool()},
              {"template", PodTemplateSpec()},
              {"ttlSecondsAfterFinished", Int()},
              {"completionMode", Str()},
              {"suspend", Bool()},
              {"podReplacementPolicy", Str()},
              {"managedBy", Str()}},
             {"template"});
}

Json BuildSchema(const std::string& group, const std::string& kind) {
  if (group.empty()) {
    if (kind == "ConfigMap") {
      return Kind({{"immutable", Bool()}, {"data", StrMap()}, {"binaryData", MapOf(Bytes())}},
                  "ConfigMap holds configuration data for pods to consume.");
    }
    if (kind == "Secret") {
      return Kind({{"immutable", Bool()},
                   {"data", MapOf(Bytes())},
                   {"stringData", StrMap()},
                   {"type", Str()}},
                  "Secret holds secret data of a certain type. The total bytes of the values in "
                  "the Data field must be less than MaxSecretSize bytes.");
    }
    if (kind == "ServiceAccount") {
      return Kind({{"secrets", MapList(ObjectReference(), {"name"}, "name")},
                   {"imagePullSecrets", AtomicList(LocalObjectReference())},
                   {"automountServiceAccountToken", Bool()}},
                  "ServiceAccount binds together: * a name, understood by users, and perhaps by "
                  "peripheral systems, for an identity * a principal that can be authenticated and "
                  "authorized * a set of secrets");
    }
    if (kind == "Namespace") {
      return Kind({{"spec", Obj({{"finalizers", AtomicList(Str())}})},
                   {"status", Obj({{"phase", Str()}, {"conditions", Conditions()}})}},
                  "Namespace provides a scope for Names. Use of multiple namespaces is optional.");
    }
    if (kind == "Service") {
      Json protocol = Str();
      protocol["default"] = "TCP";
      Json port = Obj({{"name", Str()},
                       {"protocol", protocol},
                       {"appProtocol", Str()},
                       {"port", Int()},
                       {"targetPort", IntOrString()},
                       {"nodePort", Int()}},
                      {"port"});
      Json spec =
          Obj({{"ports", MapList(port, {"port", "protocol"}, "port")},
               {"selector", AtomicStrMap()},
               {"clusterIP", Str()},
               {"clusterIPs", AtomicList(Str())},
               {"type", Str()},
               {"externalIPs", AtomicList(Str())},
               {"sessionAffinity", Str()},
               {"loadBalancerIP", Str()},
               {"loadBalancerSourceRanges", AtomicList(Str())},
               {"externalName", Str()},
               {"externalTrafficPolicy", Str()},
               {"healthCheckNodePort", Int()},
               {"publishNotReadyAddresses", Bool()},
               {"sessionAffinityConfig", Obj({{"clientIP", Obj({{"timeoutSeconds", Int()}})}})},
               {"ipFamilies", AtomicList(Str())},
               {"ipFamilyPolicy", Str()},
               {"allocateLoadBalancerNodePorts", Bool()},
               {"loadBalancerClass", Str()},
               {"internalTrafficPolicy", Str()},
               {"trafficDistribution", Str()}});
      Json status = Obj({{"loadBalancer", Obj({{"ingress", AtomicList(Untyped())}})},
                         {"conditions", Conditions({{"observedGeneration", Int64()}})}});
      return Kind(
          {{"spec", spec}, {"status", status}},
          "Service is a named abstraction of software service (for example, mysql) "
          "consisting of local port (for example 3306) that the proxy listens on, and the "
          "selector that determines which pods will answer requests sent through the proxy.");
    }
    if (kind == "Pod") {
      return Kind({{"spec", PodSpec()}, {"status", PodStatus()}},
                  "Pod is a collection of containers that can run on a host. This resource is "
                  "created by clients and scheduled onto hosts.");
    }
    if (kind == "PodTemplate") {
      return Kind({{"template", PodTemplateSpec()}},
                  "PodTemplate describes a template for creating copies of a predefined pod.");
    }
    if (kind == "Event") {
      return Kind({{"involvedObject", ObjectReference()},
                   {"reason", Str()},
                   {"message", Str()},
                   {"source", Obj({{"component", Str()}, {"host", Str()}})},
                   {"firstTimestamp", Time()},
                   {"lastTimestamp", Time()},
                   {"count", Int()},
                   {"type", Str()},
                   {"eventTime", Str()},
                   {"series", Obj({{"count", Int()}, {"lastObservedTime", Str()}})},
                   {"action", Str()},
                   {"related", ObjectReference()},
                   {"reportingComponent", Str()},
                   {"reportingInstance", Str()}},
                  "Event is a report of an event somewhere in the cluster.");
    }
    return nullptr;
  }
  if (group == "apps") {
    if (kind == "Deployment") {
      Json strategy = WithStrategy(Obj({{"type", Str()},
                                        {"rollingUpdate", Obj({{"maxUnavailable", IntOrString()},
                                                               {"maxSurge", IntOrString()}})}}),
                                   "retainKeys");
      return Kind({{"spec", Obj({{"replicas", Int()},
                                 {"selector", LabelSelector()},
                                 {"template", PodTemplateSpec()},
                                 {"strategy", strategy},
                                 {"minReadySeconds", Int()},
                                 {"revisionHistoryLimit", Int()},
                                 {"paused", Bool()},
                                 {"progressDeadlineSeconds", Int()}},
                                {"selector", "template"})},
                   {"status", WorkloadStatus({{"replicas", Int()},
                                              {"updatedReplicas", Int()},
                                              {"readyReplicas", Int()},
                                              {"availableReplicas", Int()},
                                              {"unavailableReplicas", Int()},
                                              {"terminatingReplicas", Int()},
                                              {"collisionCount", Int()}})}},
                  "Deployment enables declarative updates for Pods and ReplicaSets.");
    }
    if (kind == "ReplicaSet") {
      return Kind({{"spec", Obj({{"replicas", Int()},
                                 {"minReadySeconds", Int()},
                                 {"selector", LabelSelector()},
                                 {"template", PodTemplateSpec()}},
                                {"selector"})},
                   {"status", WorkloadStatus({{"replicas", Int()},
                                              {"fullyLabeledReplicas", Int()},
                                              {"readyReplicas", Int()},
                                              {"availableReplicas", Int()},
                                              {"terminatingReplicas", Int()}})}},
                  "ReplicaSet ensures that a specified number of pod replicas are running at any "
                  "given time.");
    }
    if (kind == "StatefulSet") {
      Json strategy =
          Obj({{"type", Str()},
               {"rollingUpdate", Obj({{"partition", Int()}, {"maxUnavailable", IntOrString()}})}});
      return Kind({{"spec", Obj({{"replicas", Int()},
                                 {"selector", LabelSelector()},
                                 {"template", PodTemplateSpec()},
                                 {"volumeClaimTemplates", AtomicList(Untyped())},
                                 {"serviceName", Str()},
                                 {"podManagementPolicy", Str()},
                                 {"updateStrategy", strategy},
                                 {"revisionHistoryLimit", Int()},
                                 {"minReadySeconds", Int()},
                                 {"persistentVolumeClaimRetentionPolicy",
                                  Obj({{"whenDeleted", Str()}, {"whenScaled", Str()}})},
                                 {"ordinals", Obj({{"start", Int()}})}},
                                {"selector", "template"})},
                   {"status", WorkloadStatus({{"replicas", Int()},
                                              {"readyReplicas", Int()},
                                              {"currentReplicas", Int()},
                                              {"updatedReplicas", Int()},
                                              {"currentRevision", Str()},
                                              {"updateRevision", Str()},
                                              {"collisionCount", Int()},
                                              {"availableReplicas", Int()}})}},
                  "StatefulSet represents a set of pods with consistent identities.");
    }
    if (kind == "DaemonSet") {
      Json strategy =
          Obj({{"type", Str()},
               {"rollingUpdate",
                Obj({{"maxUnavailable", IntOrString()}, {"maxSurge", IntOrString()}})}});
      return Kind({{"spec", Obj({{"selector", LabelSelector()},
                                 {"template", PodTemplateSpec()},
                                 {"updateStrategy", strategy},
                                 {"minReadySeconds", Int()},
                                 {"revisionHistoryLimit", Int()}},
                                {"selector", "template"})},
                   {"status", WorkloadStatus({{"currentNumberScheduled", Int()},
                                              {"numberMisscheduled", Int()},
                                              {"desiredNumberScheduled", Int()},
                                              {"numberReady", Int()},
                                              {"updatedNumberScheduled", Int()},
                                              {"numberAvailable", Int()},
                                              {"numberUnavailable", Int()},
                                              {"collisionCount", Int()}})}},
                  "DaemonSet represents the configuration of a daemon set.");
    }
    return nullptr;
  }
  if (group == "batch") {
    if (kind == "Job") {
      Json conditions = AtomicList(Untyped());
      conditions["x-kubernetes-patch-merge-key"] = "type";
      conditions["x-kubernetes-patch-strategy"] = "merge";
      Json status = Obj({{"conditions", conditions},
                         {"startTime", Time()},
                         {"completionTime", Time()},
                         {"active", Int()},
                         {"succeeded", Int()},
                         {"failed", Int()},
                         {"terminating", Int()},
                         {"completedIndexes", Str()},
                         {"failedIndexes", Str()},
                         {"uncountedTerminatedPods",
                          Obj({{"succeeded", SetList(Str())}, {"failed", SetList(Str())}})},
                         {"ready", Int()}});
      return Kind({{"spec", JobSpec()}, {"status", status}},
                  "Job represents the configuration of a single job.");
    }
    if (kind == "CronJob") {
      return Kind(
          {{"spec", Obj({{"schedule", Str()},
                         {"timeZone", Str()},
                         {"startingDeadlineSeconds", Int64()},
                         {"concurrencyPolicy", Str()},
                         {"suspend", Bool()},
                         {"jobTemplate", Obj({{"metadata", ObjectMeta()}, {"spec", JobSpec()}})},
                         {"successfulJobsHistoryLimit", Int()},
                         {"failedJobsHistoryLimit", Int()}},
                        {"schedule", "jobTemplate"})},
           {"status", Obj({{"active", AtomicList(ObjectReference())},
                           {"lastScheduleTime", Time()},
                           {"lastSuccessfulTime", Time()}})}},
          "CronJob represents the configuration of a single cron job.");
    }
    return nullptr;
  }
  if (group == "networking.k8s.io") {
    if (kind == "Ingress") {
      return Kind({{"spec", Obj({{"ingressClassName", Str()},
                                 {"defaultBackend", Untyped()},
                                 {"tls", AtomicList(Untyped())},
                                 {"rules", AtomicList(Untyped())}})},
                   {"status", Obj({{"loadBalancer", Obj({{"ingress", AtomicList(Untyped())}})}})}},
                  "Ingress is a collection of rules that allow inbound connections to reach the "
                  "endpoints defined by a backend.");
    }
    if (kind == "NetworkPolicy") {
      return Kind({{"spec", Obj({{"podSelector", LabelSelector()},
                                 {"ingress", AtomicList(Untyped())},
                                 {"egress", AtomicList(Untyped())},
                                 {"policyTypes", AtomicList(Str())}})}},
                  "NetworkPolicy describes what network traffic is allowed for a set of Pods");
    }
    return nullptr;
  }
  if (group == "policy" && kind == "PodDisruptionBudget") {
    return Kind({{"spec", Obj({{"minAvailable", IntOrString()},
                               {"selector", WithStrategy(LabelSelector(), "replace")},
                               {"maxUnavailable", IntOrString()},
                               {"unhealthyPodEvictionPolicy", Str()}})},
                 {"status", Obj({{"observedGeneration", Int64()},
                                 {"disruptedPods", MapOf(Time())},
                                 {"disruptionsAllowed", Int()},
                                 {"currentHealthy", Int()},
                                 {"desiredHealthy", Int()},
                                 {"expectedPods", Int()},
                                 {"conditions", Conditions({{"observedGeneration", Int64()}})}})}},
                "PodDisruptionBudget is an object to define the max disruption that can be caused "
                "to a collection of pods");
  }
  if (group == "autoscaling" && kind == "HorizontalPodAutoscaler") {
    Json rules = Obj({{"stabilizationWindowSeconds", Int()},
                      {"selectPolicy", Str()},
                      {"policies", AtomicList(Untyped())},
                      {"tolerance", Quantity()}});
    return Kind(
        {{"spec",
          Obj({{"scaleTargetRef", Obj({{"kind", Str()}, {"name", Str()}, {"apiVersion", Str()}})},
               {"minReplicas", Int()},
               {"maxReplicas", Int()},
               {"metrics", AtomicList(Untyped())},
               {"behavior", Obj({{"scaleUp", rules}, {"scaleDown", rules}})}})},
         {"status", Obj({{"observedGeneration", Int64()},
                         {"lastScaleTime", Time()},
                         {"currentReplicas", Int()},
                         {"desiredReplicas", Int()},
                         {"currentMetrics", AtomicList(Untyped())},
                         {"conditions", Conditions()}})}},
        "HorizontalPodAutoscaler is the configuration for a horizontal pod autoscaler, "
        "which automatically manages the replica count of any resource implementing the "
        "scale subresource based on the metrics specified.");
  }
  if (group == "rbac.authorization.k8s.io") {
    Json rule = Obj({{"verbs", AtomicList(Str())},
                     {"apiGroups", AtomicList(Str())},
                     {"resources", AtomicList(Str())},
                     {"resourceNames", AtomicList(Str())},
                     {"nonResourceURLs", AtomicList(Str())}},
                    {"verbs"});
    Json subject =
        AtomicObj({{"kind", Str()}, {"apiGroup", Str()}, {"name", Str()}, {"namespace", Str()}});
    Json role_ref = AtomicObj({{"apiGroup", Str()}, {"kind", Str()}, {"name", Str()}});
    if (kind == "Role")
      return Kind({{"rules", AtomicList(rule)}},
                  "Role is a namespaced, logical grouping of PolicyRules.");
    if (kind == "ClusterRole") {
      return Kind(
          {{"rules", AtomicList(rule)},
           {"aggregationRule", Obj({{"clusterRoleSelectors", AtomicList(LabelSelector())}})}},
          "ClusterRole is a cluster level, logical grouping of PolicyRules.");
    }
    if (kind == "RoleBinding" || kind == "ClusterRoleBinding") {
      return Kind({{"subjects", AtomicList(subject)}, {"roleRef", role_ref}},
                  kind == "RoleBinding" ? "RoleBinding references a role, but does not contain it."
                                        : "ClusterRoleBinding references a ClusterRole, but not "
                                          "contain it.");
    }
    return nullptr;
  }
  if (group == "apiextensions.k8s.io" && kind == "CustomResourceDefinition") {
    return Kind({{"spec", Obj({{"group", Str()},
                               {"names", Untyped()},
                               {"scope", Str()},
                               {"versions", AtomicList(Untyped())},
                               {"conversion", Untyped()},
                               {"preserveUnknownFields", Bool()}})},
                 {"status", Obj({{"conditions", Conditions()},
                                 {"acceptedNames", Untyped()},
                                 {"storedVersions", AtomicList(Str())}})}},
                "CustomResourceDefinition represents a resource that should be exposed on the API "
                "server.  Its name MUST be in the format <.spec.name>.<.spec.group>.");
  }
  return nullptr;
}

}  // namespace

const Json* BuiltinSchema(const std::string& group, const std::string& kind) {
  static std::mutex mu;
  static std::map<std::string, Json> cache;
  std::lock_guard lock(mu);
  std::string key = group + "/" + kind;
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, BuildSchema(group, kind)).first;
  return it->second.is_null() ? nullptr : &it->second;
}

const Json& ObjectMetaSchema() {
  static const Json kMeta = ObjectMeta();
  return kMeta;
}

}  // namespace kubesim
