// Decoding of kubectl's protobuf request bodies (`k8s\0` + runtime.Unknown) into the JSON that
// kube-sim stores. Table-driven: each message lists the fields (numbers from k8s.io/api
// generated.proto) kube-sim understands. Go's generated marshalers write every non-pointer field,
// zero or not, so a zero value of a field not in the table is ignored; a non-zero value of an
// unknown field answers 415 (the object would otherwise lose data silently).
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "internal.hpp"

namespace kubesim {

namespace {

enum class PbType {
  kString,
  kBytes,
  kInt,
  kBool,
  kMessage,
  kStringMap,
  kBytesMap,
  kQuantityMap,
  kTime,
  kIntOrString
};

struct PbMessage;

struct PbFieldSpec {
  std::uint64_t num;
  const char* name;
  PbType type;
  const PbMessage* message = nullptr;
  bool repeated = false;
  bool pointer = false;  // Go pointer field: present means set, keep zero values
};

struct PbMessage {
  const char* name;
  std::vector<PbFieldSpec> fields;
};

using RawField = PbWireField;

ApiError Invalid() { return BadRequestError("invalid protobuf body"); }

std::uint64_t Varint(std::string_view data, std::size_t& pos) {
  std::uint64_t out = 0;
  for (int shift = 0; shift < 64 && pos < data.size(); shift += 7) {
    auto b = static_cast<unsigned char>(data[pos++]);
    out |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return out;
  }
  throw Invalid();
}

}  // namespace

std::vector<PbWireField> ParsePbFields(std::string_view data) {
  std::vector<PbWireField> out;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::uint64_t tag = Varint(data, pos);
    PbWireField f;
    f.num = tag >> 3;
    f.wire = static_cast<int>(tag & 7);
    switch (f.wire) {
      case 0:
        f.varint = Varint(data, pos);
        break;
      case 1:
      case 5: {
        std::size_t n = f.wire == 1 ? 8 : 4;
        if (pos + n > data.size()) throw Invalid();
        for (std::size_t i = 0; i < n; ++i)
          f.varint |= static_cast<std::uint64_t>(static_cast<unsigned char>(data[pos + i]))
                      << (8 * i);
        pos += n;
        break;
      }
      case 2: {
        std::uint64_t len = Varint(data, pos);
        if (len > data.size() - pos) throw Invalid();
        f.bytes = data.substr(pos, len);
        pos += len;
        break;
      }
      default:
        throw Invalid();
    }
    if (f.num == 0) throw Invalid();
    out.push_back(f);
  }
  return out;
}

namespace {

bool ValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80)
      n = 0;
    else if ((c >> 5) == 0x6)
      n = 1;
    else if ((c >> 4) == 0xe)
      n = 2;
    else if ((c >> 3) == 0x1e)
      n = 3;
    else
      return false;
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

std::string Text(std::string_view bytes) {
  if (!ValidUtf8(bytes))
    throw BadRequestError("invalid protobuf body: string field is not valid UTF-8");
  return std::string(bytes);
}

bool IsZero(const RawField& f) { return f.wire == 2 ? f.bytes.empty() : f.varint == 0; }

Json Decode(const PbMessage& m, std::string_view data);

// map<string, V> entries: key = 1, value = 2.
std::pair<std::string, Json> MapEntry(const PbFieldSpec& spec, std::string_view data) {
  std::string key;
  Json value = "";
  for (const auto& f : ParsePbFields(data)) {
    if (f.num == 1 && f.wire == 2) key = Text(f.bytes);
    if (f.num != 2 || f.wire != 2) continue;
    if (spec.type == PbType::kStringMap)
      value = Text(f.bytes);
    else if (spec.type == PbType::kBytesMap)
      value = Base64(f.bytes);
    else {  // resource.Quantity: string = 1
      for (const auto& q : ParsePbFields(f.bytes)) {
        if (q.num == 1 && q.wire == 2) value = Text(q.bytes);
      }
    }
  }
  return {key, value};
}

Json TimeValue(std::string_view data) {
  std::int64_t seconds = 0;
  for (const auto& f : ParsePbFields(data)) {
    if (f.num == 1 && f.wire == 0) seconds = static_cast<std::int64_t>(f.varint);
  }
  if (seconds == 0) return nullptr;
  return FormatRfc3339(std::chrono::system_clock::time_point(std::chrono::seconds(seconds)));
}

Json IntOrStringValue(std::string_view data) {
  std::uint64_t type = 0;
  std::int64_t int_val = 0;
  std::string str_val;
  for (const auto& f : ParsePbFields(data)) {
    if (f.num == 1 && f.wire == 0) type = f.varint;
    if (f.num == 2 && f.wire == 0) int_val = static_cast<std::int32_t>(f.varint);
    if (f.num == 3 && f.wire == 2) str_val = Text(f.bytes);
  }
  if (type == 1) return str_val;
  return int_val;
}

void Put(Json& out, const PbFieldSpec& spec, Json value) {
  if (spec.repeated) {
    if (!out.contains(spec.name)) out[spec.name] = Json::array();
    out[spec.name].push_back(std::move(value));
  } else {
    out[spec.name] = std::move(value);
  }
}

Json Decode(const PbMessage& m, std::string_view data) {
  Json out = Json::object();
  for (const auto& f : ParsePbFields(data)) {
    const PbFieldSpec* spec = nullptr;
    for (const auto& s : m.fields) {
      if (s.num == f.num) spec = &s;
    }
    if (spec == nullptr) {
      if (IsZero(f)) continue;
      throw MakeError(415, "UnsupportedMediaType",
                      std::string("kube-sim cannot decode protobuf field ") +
                          std::to_string(f.num) + " of " + m.name +
                          "; send this object as application/json");
    }
    bool want_bytes = spec->type != PbType::kInt && spec->type != PbType::kBool;
    if (want_bytes != (f.wire == 2)) throw Invalid();
    bool keep_zero = spec->pointer || spec->repeated;
    switch (spec->type) {
      case PbType::kString:
        if (f.bytes.empty() && !keep_zero) break;
        Put(out, *spec, Text(f.bytes));
        break;
      case PbType::kBytes:
        if (f.bytes.empty() && !keep_zero) break;
        Put(out, *spec, Base64(f.bytes));
        break;
      case PbType::kInt:
        if (f.varint == 0 && !keep_zero) break;
        Put(out, *spec, static_cast<std::int64_t>(f.varint));
        break;
      case PbType::kBool:
        if (f.varint == 0 && !keep_zero) break;
        Put(out, *spec, f.varint != 0);
        break;
      case PbType::kMessage:
        if (*spec->name == '\0') {  // embedded with `json:",inline"`
          out.update(Decode(*spec->message, f.bytes));
        } else {
          Put(out, *spec, Decode(*spec->message, f.bytes));
        }
        break;
      case PbType::kTime:
        Put(out, *spec, TimeValue(f.bytes));
        break;
      case PbType::kIntOrString:
        Put(out, *spec, IntOrStringValue(f.bytes));
        break;
      case PbType::kStringMap:
      case PbType::kBytesMap:
      case PbType::kQuantityMap: {
        auto [key, value] = MapEntry(*spec, f.bytes);
        if (!out.contains(spec->name)) out[spec->name] = Json::object();
        out[spec->name][key] = std::move(value);
        break;
      }
    }
  }
  return out;
}

using T = PbType;

PbFieldSpec S(std::uint64_t n, const char* name) { return {n, name, T::kString}; }
PbFieldSpec Ss(std::uint64_t n, const char* name) { return {n, name, T::kString, nullptr, true}; }
PbFieldSpec I(std::uint64_t n, const char* name, bool pointer = false) {
  return {n, name, T::kInt, nullptr, false, pointer};
}
PbFieldSpec B(std::uint64_t n, const char* name, bool pointer = false) {
  return {n, name, T::kBool, nullptr, false, pointer};
}
PbFieldSpec M(std::uint64_t n, const char* name, const PbMessage& m) {
  return {n, name, T::kMessage, &m};
}
PbFieldSpec Ms(std::uint64_t n, const char* name, const PbMessage& m) {
  return {n, name, T::kMessage, &m, true};
}
PbFieldSpec Map(std::uint64_t n, const char* name, PbType t = T::kStringMap) {
  return {n, name, t};
}

// A created object's status is all zero values (ignored); anything else answers 415.
const PbMessage kEmptyStatus{"status", {}};

// k8s.io/apimachinery/pkg/apis/meta/v1
const PbMessage kOwnerReference{"OwnerReference",
                                {S(1, "kind"), S(3, "name"), S(4, "uid"), S(5, "apiVersion"),
                                 B(6, "controller", true), B(7, "blockOwnerDeletion", true)}};
const PbMessage kObjectMeta{"ObjectMeta",
                            {S(1, "name"),
                             S(2, "generateName"),
                             S(3, "namespace"),
                             S(4, "selfLink"),
                             S(5, "uid"),
                             S(6, "resourceVersion"),
                             I(7, "generation"),
                             {8, "creationTimestamp", T::kTime},
                             {9, "deletionTimestamp", T::kTime, nullptr, false, true},
                             I(10, "deletionGracePeriodSeconds", true),
                             Map(11, "labels"),
                             Map(12, "annotations"),
                             Ms(13, "ownerReferences", kOwnerReference),
                             Ss(14, "finalizers")}};
const PbMessage kLabelSelectorRequirement{"LabelSelectorRequirement",
                                          {S(1, "key"), S(2, "operator"), Ss(3, "values")}};
const PbMessage kLabelSelector{
    "LabelSelector", {Map(1, "matchLabels"), Ms(2, "matchExpressions", kLabelSelectorRequirement)}};

// k8s.io/api/core/v1
const PbMessage kConfigMap{"ConfigMap",
                           {M(1, "metadata", kObjectMeta), Map(2, "data"),
                            Map(3, "binaryData", T::kBytesMap), B(4, "immutable", true)}};
const PbMessage kSecret{"Secret",
                        {M(1, "metadata", kObjectMeta), Map(2, "data", T::kBytesMap), S(3, "type"),
                         Map(4, "stringData"), B(5, "immutable", true)}};
const PbMessage kNamespaceSpec{"NamespaceSpec", {Ss(1, "finalizers")}};
const PbMessage kNamespaceStatus{"NamespaceStatus", {S(1, "phase")}};
const PbMessage kNamespace{"Namespace",
                           {M(1, "metadata", kObjectMeta), M(2, "spec", kNamespaceSpec),
                            M(3, "status", kNamespaceStatus)}};
const PbMessage kObjectReference{"ObjectReference",
                                 {S(1, "kind"), S(2, "namespace"), S(3, "name"), S(4, "uid"),
                                  S(5, "apiVersion"), S(6, "resourceVersion"), S(7, "fieldPath")}};
const PbMessage kLocalObjectReference{"LocalObjectReference", {S(1, "name")}};
const PbMessage kServiceAccount{
    "ServiceAccount",
    {M(1, "metadata", kObjectMeta), Ms(2, "secrets", kObjectReference),
     Ms(3, "imagePullSecrets", kLocalObjectReference), B(4, "automountServiceAccountToken", true)}};
const PbMessage kContainerPort{
    "ContainerPort",
    {S(1, "name"), I(2, "hostPort"), I(3, "containerPort"), S(4, "protocol"), S(5, "hostIP")}};
const PbMessage kEnvVar{"EnvVar", {S(1, "name"), S(2, "value")}};
const PbMessage kResourceRequirements{
    "ResourceRequirements",
    {Map(1, "limits", T::kQuantityMap), Map(2, "requests", T::kQuantityMap)}};
const PbMessage kContainer{
    "Container",
    {S(1, "name"), S(2, "image"), Ss(3, "command"), Ss(4, "args"), S(5, "workingDir"),
     Ms(6, "ports", kContainerPort), Ms(7, "env", kEnvVar),
     M(8, "resources", kResourceRequirements), S(13, "terminationMessagePath"),
     S(14, "imagePullPolicy"), B(16, "stdin"), B(17, "stdinOnce"), B(18, "tty"),
     S(20, "terminationMessagePolicy")}};
const PbMessage kPodSpec{
    "PodSpec",
    {Ms(2, "containers", kContainer), S(3, "restartPolicy"),
     I(4, "terminationGracePeriodSeconds", true), I(5, "activeDeadlineSeconds", true),
     S(6, "dnsPolicy"), Map(7, "nodeSelector"), S(8, "serviceAccountName"), S(9, "serviceAccount"),
     S(10, "nodeName"), B(11, "hostNetwork"), B(12, "hostPID"), B(13, "hostIPC"),
     Ms(15, "imagePullSecrets", kLocalObjectReference), S(16, "hostname"), S(17, "subdomain"),
     S(19, "schedulerName"), Ms(20, "initContainers", kContainer)}};
const PbMessage kPodTemplateSpec{"PodTemplateSpec",
                                 {M(1, "metadata", kObjectMeta), M(2, "spec", kPodSpec)}};

const PbMessage kPod{
    "Pod", {M(1, "metadata", kObjectMeta), M(2, "spec", kPodSpec), M(3, "status", kEmptyStatus)}};

// k8s.io/api/apps/v1
const PbMessage kRollingUpdateDeployment{
    "RollingUpdateDeployment",
    {{1, "maxUnavailable", T::kIntOrString}, {2, "maxSurge", T::kIntOrString}}};
const PbMessage kDeploymentStrategy{
    "DeploymentStrategy", {S(1, "type"), M(2, "rollingUpdate", kRollingUpdateDeployment)}};
const PbMessage kDeploymentSpec{
    "DeploymentSpec",
    {I(1, "replicas", true), M(2, "selector", kLabelSelector), M(3, "template", kPodTemplateSpec),
     M(4, "strategy", kDeploymentStrategy), I(5, "minReadySeconds"),
     I(6, "revisionHistoryLimit", true), B(7, "paused"), I(9, "progressDeadlineSeconds", true)}};
const PbMessage kDeployment{
    "Deployment",
    {M(1, "metadata", kObjectMeta), M(2, "spec", kDeploymentSpec), M(3, "status", kEmptyStatus)}};

// k8s.io/api/batch/v1
const PbMessage kJobSpec{
    "JobSpec",
    {I(1, "parallelism", true), I(2, "completions", true), I(3, "activeDeadlineSeconds", true),
     M(4, "selector", kLabelSelector), B(5, "manualSelector", true),
     M(6, "template", kPodTemplateSpec), I(7, "backoffLimit", true),
     I(8, "ttlSecondsAfterFinished", true), S(9, "completionMode"), B(10, "suspend", true)}};
const PbMessage kJob{
    "Job", {M(1, "metadata", kObjectMeta), M(2, "spec", kJobSpec), M(3, "status", kEmptyStatus)}};

// k8s.io/api/core/v1 Service
const PbMessage kServicePort{"ServicePort",
                             {S(1, "name"),
                              S(2, "protocol"),
                              I(3, "port"),
                              {4, "targetPort", T::kIntOrString},
                              I(5, "nodePort"),
                              {6, "appProtocol", T::kString, nullptr, false, true}}};
const PbMessage kServiceSpec{
    "ServiceSpec",
    {Ms(1, "ports", kServicePort), Map(2, "selector"), S(3, "clusterIP"), S(4, "type"),
     Ss(5, "externalIPs"), S(7, "sessionAffinity"), S(8, "loadBalancerIP"),
     Ss(9, "loadBalancerSourceRanges"), S(10, "externalName"), S(11, "externalTrafficPolicy"),
     I(12, "healthCheckNodePort"), B(13, "publishNotReadyAddresses")}};
const PbMessage kService{
    "Service",
    {M(1, "metadata", kObjectMeta), M(2, "spec", kServiceSpec), M(3, "status", kEmptyStatus)}};

// k8s.io/api/batch/v1 CronJob
const PbMessage kJobTemplateSpec{"JobTemplateSpec",
                                 {M(1, "metadata", kObjectMeta), M(2, "spec", kJobSpec)}};
const PbMessage kCronJobSpec{"CronJobSpec",
                             {S(1, "schedule"),
                              I(2, "startingDeadlineSeconds", true),
                              S(3, "concurrencyPolicy"),
                              B(4, "suspend", true),
                              M(5, "jobTemplate", kJobTemplateSpec),
                              I(6, "successfulJobsHistoryLimit", true),
                              I(7, "failedJobsHistoryLimit", true),
                              {8, "timeZone", T::kString, nullptr, false, true}}};
const PbMessage kCronJob{
    "CronJob",
    {M(1, "metadata", kObjectMeta), M(2, "spec", kCronJobSpec), M(3, "status", kEmptyStatus)}};

// k8s.io/api/rbac/v1
const PbMessage kPolicyRule{"PolicyRule",
                            {Ss(1, "verbs"), Ss(2, "apiGroups"), Ss(3, "resources"),
                             Ss(4, "resourceNames"), Ss(5, "nonResourceURLs")}};
const PbMessage kRole{"Role", {M(1, "metadata", kObjectMeta), Ms(2, "rules", kPolicyRule)}};
const PbMessage kClusterRole{"ClusterRole",
                             {M(1, "metadata", kObjectMeta), Ms(2, "rules", kPolicyRule)}};
const PbMessage kSubject{"Subject",
                         {S(1, "kind"), S(2, "apiGroup"), S(3, "name"), S(4, "namespace")}};
const PbMessage kRoleRef{"RoleRef", {S(1, "apiGroup"), S(2, "kind"), S(3, "name")}};
const PbMessage kRoleBinding{
    "RoleBinding",
    {M(1, "metadata", kObjectMeta), Ms(2, "subjects", kSubject), M(3, "roleRef", kRoleRef)}};
const PbMessage kClusterRoleBinding{
    "ClusterRoleBinding",
    {M(1, "metadata", kObjectMeta), Ms(2, "subjects", kSubject), M(3, "roleRef", kRoleRef)}};

// k8s.io/api/networking/v1
const PbMessage kServiceBackendPort{"ServiceBackendPort", {S(1, "name"), I(2, "number")}};
const PbMessage kIngressServiceBackend{"IngressServiceBackend",
                                       {S(1, "name"), M(2, "port", kServiceBackendPort)}};
const PbMessage kIngressBackend{"IngressBackend", {M(4, "service", kIngressServiceBackend)}};
const PbMessage kHttpIngressPath{"HTTPIngressPath",
                                 {S(1, "path"),
                                  M(2, "backend", kIngressBackend),
                                  {3, "pathType", T::kString, nullptr, false, true}}};
const PbMessage kHttpIngressRuleValue{"HTTPIngressRuleValue", {Ms(1, "paths", kHttpIngressPath)}};
const PbMessage kIngressRuleValue{"IngressRuleValue", {M(1, "http", kHttpIngressRuleValue)}};
const PbMessage kIngressRule{"IngressRule", {S(1, "host"), M(2, "", kIngressRuleValue)}};
const PbMessage kIngressTls{"IngressTLS", {Ss(1, "hosts"), S(2, "secretName")}};
const PbMessage kIngressSpec{"IngressSpec",
                             {M(1, "defaultBackend", kIngressBackend),
                              Ms(2, "tls", kIngressTls),
                              Ms(3, "rules", kIngressRule),
                              {4, "ingressClassName", T::kString, nullptr, false, true}}};
const PbMessage kIngress{
    "Ingress",
    {M(1, "metadata", kObjectMeta), M(2, "spec", kIngressSpec), M(3, "status", kEmptyStatus)}};

// k8s.io/api/policy/v1
const PbMessage kPdbSpec{"PodDisruptionBudgetSpec",
                         {{1, "minAvailable", T::kIntOrString},
                          M(2, "selector", kLabelSelector),
                          {3, "maxUnavailable", T::kIntOrString},
                          {4, "unhealthyPodEvictionPolicy", T::kString, nullptr, false, true}}};
const PbMessage kPdb{
    "PodDisruptionBudget",
    {M(1, "metadata", kObjectMeta), M(2, "spec", kPdbSpec), M(3, "status", kEmptyStatus)}};

// k8s.io/api/autoscaling/v1
const PbMessage kScaleSpec{"ScaleSpec", {I(1, "replicas")}};
const PbMessage kScaleStatus{"ScaleStatus", {I(1, "replicas"), S(2, "selector")}};
const PbMessage kScale{
    "Scale",
    {M(1, "metadata", kObjectMeta), M(2, "spec", kScaleSpec), M(3, "status", kScaleStatus)}};

// k8s.io/api/autoscaling/v1 HorizontalPodAutoscaler (kubectl autoscale)
const PbMessage kCrossVersionObjectReference{"CrossVersionObjectReference",
                                             {S(1, "kind"), S(2, "name"), S(3, "apiVersion")}};
const PbMessage kHpaSpec{
    "HorizontalPodAutoscalerSpec",
    {M(1, "scaleTargetRef", kCrossVersionObjectReference), I(2, "minReplicas", true),
     I(3, "maxReplicas"), I(4, "targetCPUUtilizationPercentage", true)}};
const PbMessage kHpa{
    "HorizontalPodAutoscaler",
    {M(1, "metadata", kObjectMeta), M(2, "spec", kHpaSpec), M(3, "status", kEmptyStatus)}};

const PbMessage* MessageFor(const std::string& api_version, const std::string& kind) {
  if (api_version == "v1") {
    if (kind == "ConfigMap") return &kConfigMap;
    if (kind == "Secret") return &kSecret;
    if (kind == "Namespace") return &kNamespace;
    if (kind == "ServiceAccount") return &kServiceAccount;
  }
  if (api_version == "v1" && kind == "Service") return &kService;
  if (api_version == "v1" && kind == "Pod") return &kPod;
  if (api_version == "apps/v1" && kind == "Deployment") return &kDeployment;
  if (api_version == "batch/v1" && kind == "Job") return &kJob;
  if (api_version == "batch/v1" && kind == "CronJob") return &kCronJob;
  if (api_version == "rbac.authorization.k8s.io/v1") {
    if (kind == "Role") return &kRole;
    if (kind == "ClusterRole") return &kClusterRole;
    if (kind == "RoleBinding") return &kRoleBinding;
    if (kind == "ClusterRoleBinding") return &kClusterRoleBinding;
  }
  if (api_version == "networking.k8s.io/v1" && kind == "Ingress") return &kIngress;
  if (api_version == "policy/v1" && kind == "PodDisruptionBudget") return &kPdb;
  if (api_version == "autoscaling/v1" && kind == "Scale") return &kScale;
  if (api_version == "autoscaling/v1" && kind == "HorizontalPodAutoscaler") return &kHpa;
  return nullptr;
}

}  // namespace

bool IsValidUtf8(std::string_view text) { return ValidUtf8(text); }

std::optional<Json> DecodeProtobufObject(const std::string& body) {
  if (body.size() < 4 || body.compare(0, 4, std::string("k8s\0", 4)) != 0) throw Invalid();
  // runtime.Unknown: typeMeta = 1 (apiVersion = 1, kind = 2), raw = 2.
  std::string api_version, kind;
  std::string_view raw;
  for (const auto& f : ParsePbFields(std::string_view(body).substr(4))) {
    if (f.wire != 2) continue;
    if (f.num == 2) raw = f.bytes;
    if (f.num != 1) continue;
    for (const auto& t : ParsePbFields(f.bytes)) {
      if (t.num == 1 && t.wire == 2) api_version = Text(t.bytes);
      if (t.num == 2 && t.wire == 2) kind = Text(t.bytes);
    }
  }
  const PbMessage* m = MessageFor(api_version, kind);
  if (m == nullptr) return std::nullopt;
  Json out{{"apiVersion", api_version}, {"kind", kind}};
  out.update(Decode(*m, raw));
  return out;
}

}  // namespace kubesim
