// Defaulting of the built-in kinds as kube-apiserver does it before validation (the
// SetDefaults_* functions of pkg/apis/*/v1 and the admission plugins clients see): pod templates
// and pods, Services (cluster IP, node ports, protocols, target ports), Secrets (stringData,
// type), workloads, Jobs (generated selector) and CronJobs.
#include <random>

#include "internal.hpp"

namespace kubesim {
namespace {

void Def(Json& o, const char* k, const Json& v) {
  if (!o.is_object()) return;
  auto it = o.find(k);
  if (it == o.end() || it->is_null()) o[k] = v;
}

std::mt19937& Rng() {
  static std::mt19937 rng{std::random_device{}()};
  return rng;
}

// Always for ":latest" or no tag, IfNotPresent otherwise (a digest counts as a tag).
std::string PullPolicy(const std::string& image) {
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  if (colon == std::string::npos || (slash != std::string::npos && colon < slash)) return "Always";
  return image.substr(colon + 1) == "latest" ? "Always" : "IfNotPresent";
}

void HandlerDefaults(Json& h) {
  if (!h.is_object() || !h.contains("httpGet") || !h["httpGet"].is_object()) return;
  Def(h["httpGet"], "path", "/");
  Def(h["httpGet"], "scheme", "HTTP");
}

void ProbeDefaults(Json& p) {
  if (!p.is_object()) return;
  Def(p, "timeoutSeconds", 1);
  Def(p, "periodSeconds", 10);
  Def(p, "successThreshold", 1);
  Def(p, "failureThreshold", 3);
  HandlerDefaults(p);
}

void ContainerDefaults(Json& c, bool host_network) {
  if (!c.is_object()) return;
  Def(c, "terminationMessagePath", "/dev/termination-log");
  Def(c, "terminationMessagePolicy", "File");
  if (c.contains("image") && c["image"].is_string())
    Def(c, "imagePullPolicy", PullPolicy(c["image"].get<std::string>()));
  Def(c, "resources", Json::object());
  if (c.contains("ports") && c["ports"].is_array()) {
    for (auto& p : c["ports"]) {
      Def(p, "protocol", "TCP");
      if (host_network && p.is_object() && p.contains("containerPort"))
        Def(p, "hostPort", p["containerPort"]);
    }
  }
  for (const char* probe : {"livenessProbe", "readinessProbe", "startupProbe"}) {
    if (c.contains(probe)) ProbeDefaults(c[probe]);
  }
  if (c.contains("lifecycle") && c["lifecycle"].is_object()) {
    for (const char* h : {"postStart", "preStop"}) {
      if (c["lifecycle"].contains(h)) HandlerDefaults(c["lifecycle"][h]);
    }
  }
  if (c.contains("env") && c["env"].is_array()) {
    for (auto& e : c["env"]) {
      if (e.is_object() && e.contains("valueFrom") && e["valueFrom"].is_object() &&
          e["valueFrom"].contains("fieldRef")) {
        Def(e["valueFrom"]["fieldRef"], "apiVersion", "v1");
      }
    }
  }
}

void VolumeDefaults(Json& v) {
  if (!v.is_object()) return;
  for (const char* source : {"configMap", "secret", "projected", "downwardAPI"}) {
    if (v.contains(source) && v[source].is_object()) Def(v[source], "defaultMode", 420);
  }
}

void PodSpecDefaults(Json& spec) {
  if (!spec.is_object()) return;
  Def(spec, "dnsPolicy", "ClusterFirst");
  Def(spec, "restartPolicy", "Always");
  Def(spec, "terminationGracePeriodSeconds", 30);
  Def(spec, "securityContext", Json::object());
  Def(spec, "schedulerName", "default-scheduler");
  bool host_network = spec.value("hostNetwork", false);
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) ContainerDefaults(c, host_network);
  }
  if (spec.contains("volumes") && spec["volumes"].is_array()) {
    for (auto& v : spec["volumes"]) VolumeDefaults(v);
  }
}

void TemplateDefaults(Json& spec) {
  if (!spec.is_object() || !spec.contains("template") || !spec["template"].is_object()) return;
  Json& tmpl = spec["template"];
  if (tmpl.contains("spec")) PodSpecDefaults(tmpl["spec"]);
}

// What the ServiceAccount, DefaultTolerationSeconds and Priority admission plugins add to a new
// pod, and the status a created pod starts with.
void PodAdmission(Json& pod) {
  Json& spec = pod["spec"];
  Def(spec, "serviceAccountName", "default");
  Def(spec, "serviceAccount", spec["serviceAccountName"]);
  if (spec.value("automountServiceAccountToken", true)) {
    std::string volume = "kube-api-access-" + RandomSuffix();
    bool mounted = false;
    for (const auto& v : spec.value("volumes", Json::array())) {
      mounted = mounted || v.value("name", "").rfind("kube-api-access-", 0) == 0;
    }
    if (!mounted) {
      Json source{
          {"projected",
           {{"defaultMode", 420},
            {"sources",
             {{{"serviceAccountToken", {{"expirationSeconds", 3607}, {"path", "token"}}}},
              {{"configMap",
                {{"name", "kube-root-ca.crt"},
                 {"items", {{{"key", "ca.crt"}, {"path", "ca.crt"}}}}}}},
              {{"downwardAPI",
                {{"items",
                  {{{"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}},
                    {"path", "namespace"}}}}}}}}}}}};
      source["name"] = volume;
      spec["volumes"].push_back(source);
      for (const char* list : {"initContainers", "containers"}) {
        if (!spec.contains(list) || !spec[list].is_array()) continue;
        for (auto& c : spec[list]) {
          c["volumeMounts"].push_back(
              {{"name", volume},
               {"readOnly", true},
               {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"}});
        }
      }
    }
  }
  if (!spec.contains("tolerations")) {
    spec["tolerations"] = Json::array();
    for (const char* key : {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}) {
      spec["tolerations"].push_back({{"key", key},
                                     {"operator", "Exists"},
                                     {"effect", "NoExecute"},
                                     {"tolerationSeconds", 300}});
    }
  }
  Def(spec, "priority", 0);
  Def(spec, "preemptionPolicy", "PreemptLowerPriority");
  if (!pod.contains("status") || pod["status"].is_null() || pod["status"].empty()) {
    bool guaranteed = true, any = false;
    for (const auto& c : spec.value("containers", Json::array())) {
      const Json res = c.value("resources", Json::object());
      any = any || !res.empty();
      guaranteed = guaranteed && res.contains("limits") && !res["limits"].empty();
    }
    pod["status"] = {{"phase", "Pending"},
                     {"qosClass", !any         ? "BestEffort"
                                  : guaranteed ? "Guaranteed"
                                               : "Burstable"}};
  }
}

std::string AllocateClusterIp() {
  for (;;) {
    unsigned a = Rng()() % 256, b = 1 + Rng()() % 254;
    if (a == 0 && (b == 1 || b == 10)) continue;  // kubernetes and kube-dns
    return "10.96." + std::to_string(a) + "." + std::to_string(b);
  }
}

void ServiceDefaults(Json& svc, const Json* old) {
  Json& spec = svc["spec"];
  if (!spec.is_object()) spec = Json::object();
  const Json old_spec = old != nullptr && old->contains("spec") ? (*old)["spec"] : Json::object();
  Def(spec, "type", "ClusterIP");
  Def(spec, "sessionAffinity", "None");
  std::string type = spec.value("type", "ClusterIP");
  if (type != "ExternalName") {
    // An update that leaves the allocated address out keeps it.
    if ((!spec.contains("clusterIP") || spec["clusterIP"] == "") &&
        old_spec.contains("clusterIP")) {
      spec["clusterIP"] = old_spec["clusterIP"];
      if (old_spec.contains("clusterIPs") &&
          (!spec.contains("clusterIPs") || spec["clusterIPs"].empty())) {
        spec["clusterIPs"] = old_spec["clusterIPs"];
      }
    }
    if (!spec.contains("clusterIP") || spec["clusterIP"] == "")
      spec["clusterIP"] = AllocateClusterIp();
    if (!spec.contains("clusterIPs") || spec["clusterIPs"].empty())
      spec["clusterIPs"] = {spec["clusterIP"]};
    Def(spec, "ipFamilies", Json::array({"IPv4"}));
    Def(spec, "ipFamilyPolicy", "SingleStack");
    Def(spec, "internalTrafficPolicy", "Cluster");
  }
  bool node_ports = type == "NodePort" || type == "LoadBalancer";
  if (node_ports) Def(spec, "externalTrafficPolicy", "Cluster");
  if (type == "LoadBalancer") Def(spec, "allocateLoadBalancerNodePorts", true);
  if (spec.value("sessionAffinity", "") == "ClientIP") {
    Def(spec, "sessionAffinityConfig", Json{{"clientIP", {{"timeoutSeconds", 10800}}}});
  }
  if (spec.contains("ports") && spec["ports"].is_array()) {
    for (auto& p : spec["ports"]) {
      if (!p.is_object()) continue;
      Def(p, "protocol", "TCP");
      if (p.contains("port")) Def(p, "targetPort", p["port"]);
      if (!node_ports || (p.contains("nodePort") && p["nodePort"] != 0)) continue;
      for (const auto& o : old_spec.value("ports", Json::array())) {
        if (o.value("port", Json()) == p.value("port", Json()) &&
            o.value("protocol", "TCP") == p["protocol"] && o.contains("nodePort")) {
          p["nodePort"] = o["nodePort"];
        }
      }
      if (!p.contains("nodePort") || p["nodePort"] == 0)
        p["nodePort"] = 30000 + static_cast<int>(Rng()() % 2768);
    }
  }
  if (!svc.contains("status") || !svc["status"].is_object()) svc["status"] = Json::object();
  Def(svc["status"], "loadBalancer", Json::object());
}

std::string Base64Encode(const std::string& in) { return Base64(in); }

void SecretDefaults(Json& secret) {
  if (!secret.contains("type") || secret["type"].is_null() || secret["type"] == "")
    secret["type"] = "Opaque";
  if (secret.contains("stringData")) {
    if (secret["stringData"].is_object()) {
      for (auto it = secret["stringData"].begin(); it != secret["stringData"].end(); ++it) {
        if (it.value().is_string())
          secret["data"][it.key()] = Base64Encode(it.value().get<std::string>());
      }
    }
    secret.erase("stringData");
  }
}

void JobSelector(Json& job, Json& spec) {
  std::string uid = job["metadata"].value("uid", "");
  std::string name = job["metadata"].value("name", "");
  if (uid.empty() || spec.value("manualSelector", false) || spec.contains("selector")) return;
  spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
  Json& labels = spec["template"]["metadata"]["labels"];
  labels["batch.kubernetes.io/controller-uid"] = uid;
  labels["batch.kubernetes.io/job-name"] = name;
  labels["controller-uid"] = uid;
  labels["job-name"] = name;
}

}  // namespace

std::string RandomSuffix() {
  static const char* kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string out;
  for (int i = 0; i < 5; ++i) out.push_back(kAlphabet[Rng()() % 27]);
  return out;
}

void ApplyDefaults(const ResourceType& rt, Json& obj, const Json* old) {
  FillListKeyDefaults(obj, ListRulesOf(rt));
  const std::string key = rt.group + "/" + rt.plural;
  if (key == "/secrets") SecretDefaults(obj);
  if (key == "/services") ServiceDefaults(obj, old);
  if (!obj.contains("spec") || !obj["spec"].is_object()) return;
  Json& spec = obj["spec"];
  if (key == "/pods") {
    PodSpecDefaults(spec);
    Def(spec, "enableServiceLinks", true);
    if (spec.contains("containers") && spec["containers"].is_array()) {
      for (auto& c : spec["containers"]) {
        Json& res = c["resources"];
        if (res.contains("limits") && res["limits"].is_object()) {
          for (auto it = res["limits"].begin(); it != res["limits"].end(); ++it) {
            if (!res.contains("requests") || !res["requests"].contains(it.key()))
              res["requests"][it.key()] = it.value();
          }
        }
      }
    }
    if (old == nullptr) PodAdmission(obj);
  } else if (key == "/podtemplates") {
    TemplateDefaults(obj);
  } else if (key == "apps/deployments") {
    Def(spec, "replicas", 1);
    Def(spec, "progressDeadlineSeconds", 600);
    Def(spec, "revisionHistoryLimit", 10);
    Def(spec, "strategy", Json::object());
    Def(spec["strategy"], "type",
        "RollingUpdate");  // kubectl create deployment sends "strategy":{}
    if (spec["strategy"].value("type", "") == "RollingUpdate") {
      Def(spec["strategy"], "rollingUpdate", Json{{"maxSurge", "25%"}, {"maxUnavailable", "25%"}});
    }
    TemplateDefaults(spec);
  } else if (key == "apps/replicasets") {
    Def(spec, "replicas", 1);
    TemplateDefaults(spec);
  } else if (key == "apps/statefulsets") {
    Def(spec, "replicas", 1);
    Def(spec, "revisionHistoryLimit", 10);
    Def(spec, "podManagementPolicy", "OrderedReady");
    Def(spec, "persistentVolumeClaimRetentionPolicy",
        Json{{"whenDeleted", "Retain"}, {"whenScaled", "Retain"}});
    if (!spec.contains("updateStrategy") || !spec["updateStrategy"].contains("type")) {
      spec["updateStrategy"] = {{"type", "RollingUpdate"}, {"rollingUpdate", {{"partition", 0}}}};
    } else if (spec["updateStrategy"].contains("rollingUpdate")) {
      Def(spec["updateStrategy"]["rollingUpdate"], "partition", 0);
    }
    TemplateDefaults(spec);
  } else if (key == "apps/daemonsets") {
    Def(spec, "revisionHistoryLimit", 10);
    Def(spec, "updateStrategy", Json{{"type", "RollingUpdate"}});
    if (spec["updateStrategy"].value("type", "") == "RollingUpdate") {
      Def(spec["updateStrategy"], "rollingUpdate", Json{{"maxUnavailable", 1}, {"maxSurge", 0}});
    }
    TemplateDefaults(spec);
  } else if (key == "batch/jobs") {
    Def(spec, "backoffLimit", 6);
    Def(spec, "completions", 1);
    Def(spec, "parallelism", 1);
    Def(spec, "completionMode", "NonIndexed");
    Def(spec, "suspend", false);
    Def(spec, "podReplacementPolicy",
        spec.contains("podFailurePolicy") ? "Failed" : "TerminatingOrFailed");
    if (old == nullptr && spec.contains("template") && spec["template"].is_object())
      JobSelector(obj, spec);
    TemplateDefaults(spec);
  } else if (key == "batch/cronjobs") {
    Def(spec, "concurrencyPolicy", "Allow");
    Def(spec, "suspend", false);
    Def(spec, "successfulJobsHistoryLimit", 3);
    Def(spec, "failedJobsHistoryLimit", 1);
    if (spec.contains("jobTemplate") && spec["jobTemplate"].is_object() &&
        spec["jobTemplate"].contains("spec")) {
      TemplateDefaults(spec["jobTemplate"]["spec"]);
    }
  }
}

}  // namespace kubesim
