// Simulated controllers: Deployment -> ReplicaSet -> Pods with events, Job, and the
// naiserator imitation for Application/Naisjob; garbage collection, namespace lifecycle, the
// scheduler/kubelet of bare pods, endpoints and endpointslices. One thread follows the watch
// history and runs timed steps; every step runs with the state mutex held. The scenario comes
// from the annotation `test.deployd.io/scenario` (Deployment/Job/Application); delays are
// `--time-scale` seconds.
#include <algorithm>
#include <functional>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "state.hpp"

namespace kubesim {
namespace {

constexpr const char* kScenario = "test.deployd.io/scenario";
constexpr const char* kDeploymentScenario = "test.deployd.io/deployment-scenario";
constexpr const char* kCorrelation = "nais.io/deploymentCorrelationID";
constexpr const char* kFinalizer = "naiserator.nais.io/finalizer";
constexpr const char* kAlphabet = "bcdfghjklmnpqrstvwxz2456789";

std::string SafeHash(const std::string& text, std::size_t length) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  std::string out;
  for (std::size_t i = 0; i < length; ++i) {
    out.push_back(kAlphabet[h % 27]);
    h /= 27;
    if (h == 0) h = 0x9e3779b97f4a7c15ULL + i;
  }
  return out;
}

// A value without null fields: the pod template as the Go types see it (kubectl sends
// `creationTimestamp: null` inside templates), so that equal templates hash alike.
Json WithoutNulls(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (!it.value().is_null()) out[it.key()] = WithoutNulls(it.value());
    }
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const auto& e : v) out.push_back(WithoutNulls(e));
    return out;
  }
  return v;
}

std::string Annotation(const Json& obj, const char* key) {
  const Json& meta = obj["metadata"];
  if (meta.contains("annotations") && meta["annotations"].contains(key) &&
      meta["annotations"][key].is_string()) {
    return meta["annotations"][key].get<std::string>();
  }
  return "";
}

std::string NameOf(const Json& o) { return o["metadata"].value("name", ""); }
std::string NsOf(const Json& o) { return o["metadata"].value("namespace", ""); }

Json OwnerRef(const Json& owner) {
  return Json{
      {"apiVersion", owner["apiVersion"]}, {"kind", owner["kind"]}, {"name", NameOf(owner)},
      {"uid", owner["metadata"]["uid"]},   {"controller", true},    {"blockOwnerDeletion", true}};
}

Json Condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message, bool update_time) {
  std::string now = NowRfc3339();
  Json c{{"type", type},
         {"status", status},
         {"lastTransitionTime", now},
         {"reason", reason},
         {"message", message}};
  if (update_time) c["lastUpdateTime"] = now;
  return c;
}

// The status of a container that has not started: waiting for `reason` (ContainerCreating,
// PodInitializing), not ready, never restarted.
Json WaitingContainer(const Json& container, const std::string& reason) {
  return {{"name", container.value("name", "")},
          {"image", container.value("image", "")},
          {"ready", false},
          {"started", false},
          {"restartCount", 0},
          {"state", {{"waiting", {{"reason", reason}}}}}};
}

// The statuses of all the containers of `spec`, each waiting for `reason`.
Json WaitingContainers(const Json& spec, const std::string& reason) {
  Json statuses = Json::array();
  for (const auto& c : spec.value("containers", Json::array())) {
    statuses.push_back(WaitingContainer(c, reason));
  }
  return statuses;
}

}  // namespace

struct Controllers::Impl {
  explicit Impl(Api::State& s) : state(s) {}
  Api::State& state;
  std::thread thread;
  std::uint64_t last = 0;
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>> timers;
  std::map<std::string, std::int64_t> deployment_generation;  // rollout started for generation
  std::set<std::string> jobs_started;
  std::map<std::string, std::string> nais_inflight;     // key -> hash being synchronised
  std::map<std::string, std::string> awaiting_rollout;  // deployment key -> application key
  std::set<std::string> rs_populated;                   // ns/name: the Deployment created its pods
  // ns/service -> the pods its Endpoints were last built from, so that a pod event resyncs only
  // the Services that select the pod now or listed it before.
  std::map<std::string, std::set<std::string>> service_pods;
  std::map<std::string, std::int64_t> rs_generation;  // ns/name -> generation last reconciled

  std::chrono::steady_clock::duration Delay(double units) const {
    return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(units * state.options.time_scale));
  }
  void After(double units, std::function<void()> fn) {
    timers.emplace(state.SimSteady() + Delay(units), std::move(fn));
  }

  // ---- helpers ----
  void Event(const Json& involved, const std::string& type, const std::string& reason,
             const std::string& message, const std::string& component,
             const Json& annotations = Json()) {
    std::string ns = NsOf(involved);
    auto now = SimWallNow();
    std::string ts = FormatRfc3339(now);
    Json inv{{"kind", involved["kind"]},
             {"namespace", ns},
             {"name", NameOf(involved)},
             {"uid", involved["metadata"]["uid"]},
             {"apiVersion", involved["apiVersion"]},
             {"resourceVersion", involved["metadata"].value("resourceVersion", "")}};
    if (component == "naiserator") {
      // naiserator deduplicates by message for the same involved object.
      std::string prefix = Api::State::Key("", "events", ns, "");
      for (auto it = state.objects.lower_bound(prefix);
           it != state.objects.end() && it->first.rfind(prefix, 0) == 0; ++it) {
        const Json& e = it->second;
        if (e["involvedObject"].value("uid", "") == inv["uid"] &&
            e.value("message", "") == message &&
            e.value("reportingComponent", "") == "naiserator") {
          Json next = e;
          next["count"] = e.value("count", 1) + 1;
          next["lastTimestamp"] = ts;
          next["reason"] = reason;
          next["action"] = reason;
          next["type"] = type;
          if (!annotations.is_null()) next["metadata"]["annotations"] = annotations;
          state.ControllerWrite("", "v1", "events", next, "naiserator", false);
          return;
        }
      }
    }
    auto ns_count =
        std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
    char hex[32];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(ns_count));
    Json ev{
        {"metadata", {{"name", NameOf(involved) + "." + hex + RandomSuffix()}, {"namespace", ns}}},
        {"involvedObject", inv},
        {"reason", reason},
        {"message", message},
        {"source", {{"component", component}}},
        {"firstTimestamp", ts},
        {"lastTimestamp", ts},
        {"count", 1},
        {"type", type},
        {"eventTime", nullptr},
        {"reportingComponent", component},
        {"reportingInstance", component}};
    if (component == "naiserator") {
      ev["metadata"]["name"] = "naiserator-event-" + RandomSuffix();
      ev["metadata"]["labels"] = {{"app", NameOf(involved)}, {"team", ns}};
      ev["action"] = reason;
      ev["eventTime"] = FormatRfc3339Micro(now);
    }
    if (!annotations.is_null()) ev["metadata"]["annotations"] = annotations;
    state.ControllerWrite("", "v1", "events", ev, component, false);
  }

  std::vector<Json> Owned(const std::string& group, const std::string& plural,
                          const std::string& ns, const std::string& owner_uid) {
    std::vector<Json> out;
    std::string prefix = Api::State::Key(group, plural, ns, "");
    for (auto it = state.objects.lower_bound(prefix);
         it != state.objects.end() && it->first.rfind(prefix, 0) == 0; ++it) {
      // By reference: a copy of every object per reconcile made a namespace of a thousand
      // Deployments quadratic in memory traffic.
      const Json& object = it->second;
      const auto metadata = object.find("metadata");
      if (metadata == object.end()) continue;
      const auto refs = metadata->find("ownerReferences");
      if (refs == metadata->end() || !refs->is_array()) continue;
      for (const auto& ref : *refs) {
        const auto uid = ref.find("uid");
        if (uid != ref.end() && uid->is_string() &&
            uid->get_ref<const std::string&>() == owner_uid) {
          out.push_back(object);
          break;
        }
      }
    }
    return out;
  }

  // ---- Deployment controller ----
  std::string DeploymentScenario(const Json& d) {
    std::string s = Annotation(d, kScenario);
    if (s.empty() && d["spec"].contains("template")) {
      const Json& t = d["spec"]["template"];
      if (t.contains("metadata") && t["metadata"].contains("annotations") &&
          t["metadata"]["annotations"].contains(kScenario)) {
        s = t["metadata"]["annotations"][kScenario].get<std::string>();
      }
    }
    return s.empty() ? "success" : s;
  }

  Json CurrentDeployment(const std::string& ns, const std::string& name, std::int64_t gen) {
    Json d = state.ControllerGet("apps", "deployments", ns, name);
    if (d.is_null() || d["metadata"].value("generation", std::int64_t{0}) != gen) return Json();
    if (d["metadata"].contains("deletionTimestamp")) return Json();
    return d;
  }

  void WriteDeploymentStatus(Json d, const Json& status) {
    d["status"] = status;
    state.ControllerWrite("apps", "v1", "deployments", d, "kube-controller-manager", true);
  }

  void OnDeployment(const Json& d) {
    if (d["metadata"].contains("deletionTimestamp")) return;
    std::string key = NsOf(d) + "/" + NameOf(d);
    std::int64_t gen = d["metadata"].value("generation", std::int64_t{1});
    auto it = deployment_generation.find(key);
    if (it != deployment_generation.end() && it->second == gen) {
      CheckApplicationRollout(d);
      return;
    }
    deployment_generation[key] = gen;
    std::string scenario = DeploymentScenario(d);
    if (scenario == "never") return;
    if (d["spec"].value("paused", false)) {
      DeploymentPaused(d);
      return;
    }
    double first = scenario == "slow" ? 10 : 1;
    std::string ns = NsOf(d), name = NameOf(d);
    After(first, [this, ns, name, gen, scenario] { DeploymentStep1(ns, name, gen, scenario); });
  }

  void DeploymentStep1(const std::string& ns, const std::string& name, std::int64_t gen,
                       const std::string& scenario) {
    Json d = CurrentDeployment(ns, name, gen);
    if (d.is_null()) return;
    const Json& spec = d["spec"];
    std::int64_t replicas = spec.value("replicas", std::int64_t{1});
    std::string hash = SafeHash(WithoutNulls(spec["template"]).dump(), 10);
    std::string rs_name = name + "-" + hash;
    auto old_sets = Owned("apps", "replicasets", ns, d["metadata"]["uid"].get<std::string>());
    int max_rev = 0;
    int revision = 0;
    std::int64_t old_pods = 0;
    std::string history;
    for (const auto& rs : old_sets) {
      int rev = std::atoi(Annotation(rs, "deployment.kubernetes.io/revision").c_str());
      max_rev = std::max(max_rev, rev);
      if (NameOf(rs) == rs_name) {
        revision = rev;
        history = Annotation(rs, "deployment.kubernetes.io/revision-history");
      } else {
        old_pods += rs.value("status", Json::object()).value("replicas", std::int64_t{0});
      }
    }
    bool existing = revision != 0;
    if (!existing) {
      revision = max_rev + 1;
    } else if (revision != max_rev) {
      // An older ReplicaSet taken back (rollout undo): it becomes the newest revision and keeps
      // the numbers it had in its revision history.
      history = (history.empty() ? "" : history + ",") + std::to_string(revision);
      revision = max_rev + 1;
    }
    Json labels =
        spec["template"].value("metadata", Json::object()).value("labels", Json::object());
    labels["pod-template-hash"] = hash;
    Json tmpl = spec["template"];
    tmpl["metadata"]["labels"] = labels;
    Json selector = spec.value("selector", Json::object());
    selector["matchLabels"]["pod-template-hash"] = hash;
    Json rs{{"metadata",
             {{"name", rs_name},
              {"namespace", ns},
              {"labels", labels},
              {"annotations",
               {{"deployment.kubernetes.io/revision", std::to_string(revision)},
                {"deployment.kubernetes.io/desired-replicas", std::to_string(replicas)}}},
              {"ownerReferences", {OwnerRef(d)}}}},
            {"spec", {{"replicas", replicas}, {"selector", selector}, {"template", tmpl}}}};
    if (!history.empty())
      rs["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] = history;
    std::string cause = Annotation(d, "kubernetes.io/change-cause");
    if (!cause.empty()) rs["metadata"]["annotations"]["kubernetes.io/change-cause"] = cause;
    Json stored_rs =
        state.ControllerWrite("apps", "v1", "replicasets", rs, "kube-controller-manager", false);
    if (stored_rs.is_null()) return;
    Json status_rs = stored_rs;
    status_rs["status"] = {{"replicas", 0},
                           {"observedGeneration", stored_rs["metadata"]["generation"]}};
    state.ControllerWrite("apps", "v1", "replicasets", status_rs, "kube-controller-manager", true);

    d["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = std::to_string(revision);
    Json prev = d.value("status", Json::object());
    std::int64_t available = prev.value("availableReplicas", std::int64_t{0});
    Json conditions = Json::array();
    conditions.push_back(available > 0
                             ? Condition("Available", "True", "MinimumReplicasAvailable",
                                         "Deployment has minimum availability.", true)
                             : Condition("Available", "False", "MinimumReplicasUnavailable",
                                         "Deployment does not have minimum availability.", true));
    conditions.push_back(revision == 1
                             ? Condition("Progressing", "True", "NewReplicaSetCreated",
                                         "Created new replica set \"" + rs_name + "\"", true)
                             : Condition("Progressing", "True", "ReplicaSetUpdated",
                                         "ReplicaSet \"" + rs_name + "\" is progressing.", true));
    Json status{{"observedGeneration", gen},      {"replicas", old_pods},
                {"updatedReplicas", 0},           {"readyReplicas", available},
                {"availableReplicas", available}, {"unavailableReplicas", replicas},
                {"conditions", conditions}};
    WriteDeploymentStatus(d, status);
    Event(d, "Normal", "ScalingReplicaSet",
          "Scaled up replica set " + rs_name + " from 0 to " + std::to_string(replicas),
          "deployment-controller");
    After(1, [this, ns, name, gen, scenario, rs_name] {
      DeploymentStep2(ns, name, gen, scenario, rs_name);
    });
  }

  std::vector<Json> PodsOf(const std::string& ns, const std::string& rs_uid) {
    return Owned("", "pods", ns, rs_uid);
  }

  void DeploymentStep2(const std::string& ns, const std::string& name, std::int64_t gen,
                       const std::string& scenario, const std::string& rs_name) {
    Json d = CurrentDeployment(ns, name, gen);
    Json rs = state.ControllerGet("apps", "replicasets", ns, rs_name);
    if (d.is_null() || rs.is_null()) return;
    std::int64_t replicas = d["spec"].value("replicas", std::int64_t{1});
    rs_populated.insert(ns + "/" + rs_name);
    auto pods = PodsOf(ns, rs["metadata"]["uid"].get<std::string>());
    for (auto i = static_cast<std::int64_t>(pods.size()); i < replicas; ++i) {
      Json tmpl = rs["spec"]["template"];
      Json pod{{"metadata",
                {{"name", rs_name + "-" + RandomSuffix()},
                 {"namespace", ns},
                 {"labels", tmpl["metadata"]["labels"]},
                 {"ownerReferences", {OwnerRef(rs)}}}},
               {"spec", tmpl.value("spec", Json::object())}};
      if (tmpl["metadata"].contains("annotations"))
        pod["metadata"]["annotations"] = tmpl["metadata"]["annotations"];
      pod["spec"]["nodeName"] = scenario == "unschedulable" ? "" : "kube-sim-node";
      if (scenario == "unschedulable") pod["spec"].erase("nodeName");
      Json stored = state.ControllerWrite("", "v1", "pods", pod, "kube-controller-manager", false);
      if (stored.is_null()) return;
      Json st{{"phase", "Pending"}, {"qosClass", "BestEffort"}};
      if (scenario == "unschedulable") {
        st["conditions"] = {
            Condition("PodScheduled", "False", "Unschedulable",
                      "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are "
                      "available: 1 No preemption victims found for incoming pod.",
                      false)};
      } else {
        st["conditions"] = {Condition("PodScheduled", "True", "", "", false)};
        st["conditions"][0].erase("reason");
        st["conditions"][0].erase("message");
        Json cs = WaitingContainers(stored["spec"], "ContainerCreating");
        st["containerStatuses"] = cs;
      }
      Json with_status = stored;
      with_status["status"] = st;
      state.ControllerWrite("", "v1", "pods", with_status, "kubelet", true);
      Event(rs, "Normal", "SuccessfulCreate", "Created pod: " + NameOf(stored),
            "replicaset-controller");
      if (scenario == "unschedulable") {
        Event(stored, "Warning", "FailedScheduling",
              "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 "
              "No preemption victims found for incoming pod.",
              "default-scheduler");
      } else {
        Event(stored, "Normal", "Scheduled",
              "Successfully assigned " + ns + "/" + NameOf(stored) + " to kube-sim-node",
              "default-scheduler");
      }
    }
    Json status = d["status"];
    status["updatedReplicas"] = replicas;
    status["replicas"] = status.value("replicas", std::int64_t{0}) + replicas;
    status["unavailableReplicas"] = replicas;
    WriteDeploymentStatus(d, status);
    double deadline =
        static_cast<double>(d["spec"].value("progressDeadlineSeconds", std::int64_t{600}));
    if (scenario != "success" && scenario != "slow") {
      After(deadline,
            [this, ns, name, gen, rs_name] { DeploymentDeadline(ns, name, gen, rs_name); });
    }
    After(1, [this, ns, name, gen, scenario, rs_name] {
      DeploymentStep3(ns, name, gen, scenario, rs_name, 1);
    });
  }

  void SetPods(const std::string& ns, const Json& rs,
               const std::function<void(Json& pod, const Json& container, Json& cs)>& fn,
               const std::string& phase, bool ready) {
    for (auto pod : PodsOf(ns, rs["metadata"]["uid"].get<std::string>())) {
      Json st = pod.value("status", Json::object());
      st["phase"] = phase;
      Json cs = Json::array();
      for (const auto& c : pod["spec"].value("containers", Json::array())) {
        Json one{{"name", c.value("name", "")},
                 {"image", c.value("image", "")},
                 {"ready", ready},
                 {"started", ready},
                 {"restartCount", 0}};
        for (const auto& old : st.value("containerStatuses", Json::array())) {
          if (old.value("name", "") == one["name"])
            one["restartCount"] = old.value("restartCount", 0);
        }
        fn(pod, c, one);
        cs.push_back(one);
      }
      st["containerStatuses"] = cs;
      st["conditions"] = {Condition("PodScheduled", "True", "", "", false),
                          Condition("Ready", ready ? "True" : "False", "", "", false)};
      for (auto& c : st["conditions"]) {
        c.erase("reason");
        c.erase("message");
      }
      if (ready) st["startTime"] = NowRfc3339();
      pod["status"] = st;
      state.ControllerWrite("", "v1", "pods", pod, "kubelet", true);
    }
  }

  // Container `c` of `pod` has exited with an error and waits to be restarted, as the kubelet
  // reports it in the container's status `cs` and in an event.
  void CrashLoopBackOff(const Json& pod, const Json& c, Json& cs) {
    const std::string name = c.value("name", "");
    const std::string pod_ref = NameOf(pod) + "_" + NsOf(pod) + "(" +
                                pod.value("metadata", Json::object()).value("uid", "") + ")";
    cs["state"] = {
        {"waiting",
         {{"reason", "CrashLoopBackOff"},
          {"message", "back-off 10s restarting failed container=" + name + " pod=" + pod_ref}}}};
    cs["lastState"] = {{"terminated",
                        {{"exitCode", 1},
                         {"reason", "Error"},
                         {"startedAt", NowRfc3339()},
                         {"finishedAt", NowRfc3339()}}}};
    Event(pod, "Warning", "BackOff",
          "Back-off restarting failed container " + name + " in pod " + pod_ref, "kubelet");
  }

  // The crashloop scenario of a pod with init containers: the first one crashes and is restarted
  // (Init:CrashLoopBackOff), the others and the containers wait (PodInitializing).
  void CrashFirstInitContainer(const std::string& ns, const Json& rs) {
    for (auto pod : PodsOf(ns, rs["metadata"]["uid"].get<std::string>())) {
      Json st = pod.value("status", Json::object());
      st["phase"] = "Pending";
      int restarts = 0;
      for (const auto& old : st.value("initContainerStatuses", Json::array())) {
        restarts = std::max(restarts, old.value("restartCount", 0));
      }
      Json init = Json::array();
      bool first = true;
      for (const auto& c : pod["spec"].value("initContainers", Json::array())) {
        Json one = WaitingContainer(c, "PodInitializing");
        if (first) {
          one["restartCount"] = restarts + 1;
          CrashLoopBackOff(pod, c, one);
        }
        first = false;
        init.push_back(one);
      }
      Json cs = WaitingContainers(pod["spec"], "PodInitializing");
      st["initContainerStatuses"] = init;
      st["containerStatuses"] = cs;
      pod["status"] = st;
      state.ControllerWrite("", "v1", "pods", pod, "kubelet", true);
    }
  }

  void DeploymentStep3(const std::string& ns, const std::string& name, std::int64_t gen,
                       const std::string& scenario, const std::string& rs_name, int round) {
    Json d = CurrentDeployment(ns, name, gen);
    Json rs = state.ControllerGet("apps", "replicasets", ns, rs_name);
    if (d.is_null() || rs.is_null()) return;
    std::int64_t replicas = d["spec"].value("replicas", std::int64_t{1});
    auto pods = PodsOf(ns, rs["metadata"]["uid"].get<std::string>());
    if (scenario == "success" || scenario == "slow") {
      for (const auto& pod : pods) {
        for (const auto& c : pod["spec"].value("containers", Json::array())) {
          std::string image = c.value("image", "");
          Event(pod, "Normal", "Pulling", "Pulling image \"" + image + "\"", "kubelet");
          Event(pod, "Normal", "Pulled",
                "Successfully pulled image \"" + image + "\" in 1.2s (1.2s including waiting)",
                "kubelet");
          Event(pod, "Normal", "Created", "Created container " + c.value("name", ""), "kubelet");
          Event(pod, "Normal", "Started", "Started container " + c.value("name", ""), "kubelet");
        }
      }
      SetPods(
          ns, rs,
          [](Json&, const Json&, Json& cs) {
            cs["state"] = {{"running", {{"startedAt", NowRfc3339()}}}};
          },
          "Running", true);
      Json rs_status = rs;
      rs_status["status"] = {{"replicas", replicas},
                             {"readyReplicas", replicas},
                             {"availableReplicas", replicas},
                             {"fullyLabeledReplicas", replicas},
                             {"observedGeneration", rs["metadata"]["generation"]}};
      state.ControllerWrite("apps", "v1", "replicasets", rs_status, "kube-controller-manager",
                            true);
      // Scale the old ReplicaSets down.
      for (auto old : Owned("apps", "replicasets", ns, d["metadata"]["uid"].get<std::string>())) {
        if (NameOf(old) == rs_name) continue;
        for (const auto& pod : PodsOf(ns, old["metadata"]["uid"].get<std::string>())) {
          state.ControllerDelete("", "pods", ns, NameOf(pod));
        }
        if (old["spec"].value("replicas", std::int64_t{0}) != 0) {
          old["spec"]["replicas"] = 0;
          Json stored = state.ControllerWrite("apps", "v1", "replicasets", old,
                                              "kube-controller-manager", false);
          stored["status"] = {{"replicas", 0},
                              {"observedGeneration", stored["metadata"]["generation"]}};
          state.ControllerWrite("apps", "v1", "replicasets", stored, "kube-controller-manager",
                                true);
          Event(d, "Normal", "ScalingReplicaSet",
                "Scaled down replica set " + NameOf(old) + " from " +
                    std::to_string(old.value("status", Json::object()).value("replicas", 0)) +
                    " to 0",
                "deployment-controller");
        }
      }
      Json status{
          {"observedGeneration", gen},
          {"replicas", replicas},
          {"updatedReplicas", replicas},
          {"readyReplicas", replicas},
          {"availableReplicas", replicas},
          {"conditions",
           {Condition("Available", "True", "MinimumReplicasAvailable",
                      "Deployment has minimum availability.", true),
            Condition("Progressing", "True", "NewReplicaSetAvailable",
                      "ReplicaSet \"" + rs_name + "\" has successfully progressed.", true)}}};
      WriteDeploymentStatus(d, status);
      return;
    }
    const bool has_init = !rs["spec"]["template"]
                               .value("spec", Json::object())
                               .value("initContainers", Json::array())
                               .empty();
    if (scenario == "crashloop" && has_init) {
      CrashFirstInitContainer(ns, rs);
    } else if (scenario == "crashloop") {
      SetPods(
          ns, rs,
          [&](Json& pod, const Json& c, Json& cs) {
            cs["restartCount"] = cs.value("restartCount", 0) + 1;
            CrashLoopBackOff(pod, c, cs);
          },
          "Running", false);
    } else if (scenario == "imagepull") {
      SetPods(
          ns, rs,
          [&](Json& pod, const Json& c, Json& cs) {
            std::string image = c.value("image", "");
            if (round == 1) {
              cs["state"] = {
                  {"waiting",
                   {{"reason", "ErrImagePull"},
                    {"message",
                     "rpc error: code = NotFound desc = failed to pull and unpack image \"" +
                         image + "\": not found"}}}};
              Event(pod, "Normal", "Pulling", "Pulling image \"" + image + "\"", "kubelet");
              Event(pod, "Warning", "Failed",
                    "Failed to pull image \"" + image +
                        "\": rpc error: code = NotFound desc = failed to pull and unpack image \"" +
                        image + "\": not found",
                    "kubelet");
              Event(pod, "Warning", "Failed", "Error: ErrImagePull", "kubelet");
            } else {
              cs["state"] = {{"waiting",
                              {{"reason", "ImagePullBackOff"},
                               {"message", "Back-off pulling image \"" + image + "\""}}}};
              Event(pod, "Normal", "BackOff", "Back-off pulling image \"" + image + "\"",
                    "kubelet");
              Event(pod, "Warning", "Failed", "Error: ImagePullBackOff", "kubelet");
            }
          },
          "Pending", false);
    } else if (scenario == "configerror") {
      SetPods(
          ns, rs,
          [&](Json& pod, const Json& c, Json& cs) {
            std::string cm = name + "-config";
            for (const auto& ef : c.value("envFrom", Json::array())) {
              if (ef.contains("configMapRef")) cm = ef["configMapRef"].value("name", cm);
            }
            cs["state"] = {{"waiting",
                            {{"reason", "CreateContainerConfigError"},
                             {"message", "configmap \"" + cm + "\" not found"}}}};
            if (round == 1)
              Event(pod, "Warning", "Failed", "Error: configmap \"" + cm + "\" not found",
                    "kubelet");
          },
          "Pending", false);
    } else {
      return;  // unschedulable and unknown scenarios: pods stay as they are
    }
    if (round < 50)
      After(round == 1 ? 1 : 3, [this, ns, name, gen, scenario, rs_name, round] {
        DeploymentStep3(ns, name, gen, scenario, rs_name, round + 1);
      });
  }

  void DeploymentDeadline(const std::string& ns, const std::string& name, std::int64_t gen,
                          const std::string& rs_name) {
    Json d = CurrentDeployment(ns, name, gen);
    if (d.is_null()) return;
    Json status = d.value("status", Json::object());
    Json conditions = Json::array();
    for (const auto& c : status.value("conditions", Json::array())) {
      if (c.value("type", "") != "Progressing") conditions.push_back(c);
    }
    conditions.push_back(Condition("Progressing", "False", "ProgressDeadlineExceeded",
                                   "ReplicaSet \"" + rs_name + "\" has timed out progressing.",
                                   true));
    status["conditions"] = conditions;
    WriteDeploymentStatus(d, status);
  }

  // ---- StatefulSet / DaemonSet: complete after one step (scenario never: no status) ----
  void OnSimpleWorkload(const std::string& plural, const Json& o) {
    std::int64_t gen = o["metadata"].value("generation", std::int64_t{1});
    if (o.value("status", Json::object()).value("observedGeneration", std::int64_t{0}) >= gen)
      return;
    if (Annotation(o, kScenario) == "never" || o["metadata"].contains("deletionTimestamp")) return;
    std::string key = plural + "/" + NsOf(o) + "/" + NameOf(o);
    auto it = deployment_generation.find(key);
    if (it != deployment_generation.end() && it->second == gen) return;
    deployment_generation[key] = gen;
    std::string ns = NsOf(o), name = NameOf(o);
    After(1, [this, plural, ns, name, gen] {
      Json w = state.ControllerGet("apps", plural, ns, name);
      if (w.is_null() || w["metadata"].value("generation", std::int64_t{0}) != gen) return;
      std::string revision =
          name + "-" + SafeHash(w["spec"].value("template", Json::object()).dump(), 10);
      if (plural == "statefulsets") {
        std::int64_t n = w["spec"].value("replicas", std::int64_t{1});
        w["status"] = {{"observedGeneration", gen},   {"replicas", n},
                       {"readyReplicas", n},          {"currentReplicas", n},
                       {"updatedReplicas", n},        {"availableReplicas", n},
                       {"currentRevision", revision}, {"updateRevision", revision},
                       {"collisionCount", 0}};
      } else {
        w["status"] = {{"observedGeneration", gen},   {"desiredNumberScheduled", 1},
                       {"currentNumberScheduled", 1}, {"numberReady", 1},
                       {"updatedNumberScheduled", 1}, {"numberAvailable", 1},
                       {"numberMisscheduled", 0}};
      }
      state.ControllerWrite("apps", "v1", plural, w, "kube-controller-manager", true);
    });
  }

  // ---- Job controller ----
  void OnJob(const Json& job) {
    std::string key = NsOf(job) + "/" + NameOf(job) + "/" + job["metadata"].value("uid", "");
    if (jobs_started.count(key) != 0 ||
        (job.contains("status") && job["status"].contains("startTime")))
      return;
    jobs_started.insert(key);
    std::string scenario = Annotation(job, kScenario);
    if (scenario == "never") return;
    std::string ns = NsOf(job), name = NameOf(job);
    std::string uid = job["metadata"]["uid"];
    After(1, [this, ns, name, uid, scenario] { JobStart(ns, name, uid, scenario); });
  }

  Json CurrentJob(const std::string& ns, const std::string& name, const std::string& uid) {
    Json j = state.ControllerGet("batch", "jobs", ns, name);
    if (j.is_null() || j["metadata"].value("uid", "") != uid) return Json();
    return j;
  }

  void JobStart(const std::string& ns, const std::string& name, const std::string& uid,
                const std::string& scenario) {
    Json job = CurrentJob(ns, name, uid);
    if (job.is_null()) return;
    Json tmpl = job["spec"].value("template", Json::object());
    Json labels = tmpl.value("metadata", Json::object()).value("labels", Json::object());
    labels["batch.kubernetes.io/job-name"] = name;
    labels["job-name"] = name;
    labels["batch.kubernetes.io/controller-uid"] = uid;
    labels["controller-uid"] = uid;
    Json pod{{"metadata",
              {{"name", name + "-" + RandomSuffix()},
               {"namespace", ns},
               {"labels", labels},
               {"ownerReferences", {OwnerRef(job)}}}},
             {"spec", tmpl.value("spec", Json::object())}};
    pod["spec"]["nodeName"] = "kube-sim-node";
    if (tmpl.contains("metadata") && tmpl["metadata"].contains("annotations"))
      pod["metadata"]["annotations"] = tmpl["metadata"]["annotations"];
    Json stored = state.ControllerWrite("", "v1", "pods", pod, "kube-controller-manager", false);
    if (!stored.is_null()) {
      // With init containers the pod starts with the first of them (the rest and the containers
      // wait); without, the containers run.
      const Json init_specs = stored["spec"].value("initContainers", Json::array());
      const bool initializing = !init_specs.empty();
      Json init = Json::array();
      for (const auto& c : init_specs) {
        Json state_of = init.empty() ? Json{{"running", {{"startedAt", NowRfc3339()}}}}
                                     : Json{{"waiting", {{"reason", "PodInitializing"}}}};
        init.push_back({{"name", c.value("name", "")},
                        {"image", c.value("image", "")},
                        {"ready", false},
                        {"started", init.empty()},
                        {"restartCount", 0},
                        {"state", state_of}});
      }
      Json statuses = Json::array();
      for (const auto& c : stored["spec"].value("containers", Json::array())) {
        statuses.push_back(
            {{"name", c.value("name", "")},
             {"image", c.value("image", "")},
             {"ready", !initializing},
             {"started", !initializing},
             {"restartCount", 0},
             {"state", initializing ? Json{{"waiting", {{"reason", "PodInitializing"}}}}
                                    : Json{{"running", {{"startedAt", NowRfc3339()}}}}}});
      }
      stored["status"] = {{"phase", initializing ? "Pending" : "Running"},
                          {"startTime", NowRfc3339()},
                          {"containerStatuses", statuses}};
      if (initializing) stored["status"]["initContainerStatuses"] = init;
      state.ControllerWrite("", "v1", "pods", stored, "kubelet", true);
      Event(job, "Normal", "SuccessfulCreate", "Created pod: " + NameOf(stored), "job-controller");
    }
    job["status"] = {{"startTime", NowRfc3339()},
                     {"active", 1},
                     {"ready", 0},
                     {"terminating", 0},
                     {"uncountedTerminatedPods", Json::object()}};
    state.ControllerWrite("batch", "v1", "jobs", job, "kube-controller-manager", true);
    After(1, [this, ns, name, uid, scenario] { JobFinish(ns, name, uid, scenario); });
  }

  void JobFinish(const std::string& ns, const std::string& name, const std::string& uid,
                 const std::string& scenario) {
    Json job = CurrentJob(ns, name, uid);
    if (job.is_null()) return;
    bool fail = scenario == "fail" || scenario == "failure" || scenario == "jobfailure" ||
                scenario == "crashloop";
    // A container's state once it ran to its end.
    auto terminated = [fail](const Json& pod) {
      return Json{{"terminated",
                   {{"exitCode", fail ? 1 : 0},
                    {"reason", fail ? "Error" : "Completed"},
                    {"startedAt", pod["status"].value("startTime", NowRfc3339())},
                    {"finishedAt", NowRfc3339()}}}};
    };
    for (auto pod : Owned("", "pods", ns, uid)) {
      pod["status"]["phase"] = fail ? "Failed" : "Succeeded";
      if (pod["status"].contains("initContainerStatuses")) {
        // A failure is the first init container's (the containers never start); a success ran
        // them all.
        for (auto& cs : pod["status"]["initContainerStatuses"]) {
          cs["started"] = false;
          cs["state"] = terminated(pod);
          if (fail) break;
        }
        if (fail) {
          state.ControllerWrite("", "v1", "pods", pod, "kubelet", true);
          continue;
        }
      }
      for (auto& cs : pod["status"]["containerStatuses"]) {
        cs["ready"] = false;
        cs["started"] = false;
        cs["state"] = terminated(pod);
      }
      state.ControllerWrite("", "v1", "pods", pod, "kubelet", true);
    }
    Json st = job["status"];
    st["active"] = 0;
    st["ready"] = 0;
    std::string now = NowRfc3339();
    auto cond = [&](const char* type, const char* reason, const char* message) {
      return Json{{"type", type},         {"status", "True"},
                  {"lastProbeTime", now}, {"lastTransitionTime", now},
                  {"reason", reason},     {"message", message}};
    };
    if (fail) {
      st["failed"] = job["spec"].value("backoffLimit", 6) + 1;
      st["conditions"] = {
          cond("FailureTarget", "BackoffLimitExceeded",
               "Job has reached the specified backoff limit"),
          cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")};
      Event(job, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit",
            "job-controller");
    } else {
      st["succeeded"] = job["spec"].value("completions", 1);
      st["completionTime"] = now;
      st["conditions"] = {
          cond("SuccessCriteriaMet", "CompletionsReached",
               "Reached expected number of succeeded pods"),
          cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods")};
      Event(job, "Normal", "Completed", "Job completed", "job-controller");
    }
    job["status"] = st;
    state.ControllerWrite("batch", "v1", "jobs", job, "kube-controller-manager", true);
  }

  // ---- naiserator imitation ----
  static std::string NaisHash(const Json& o) {
    Json labels = Json::object();
    const Json all = o["metadata"].value("labels", Json::object());
    for (auto it = all.begin(); it != all.end(); ++it) {
      if (it.key().rfind("nais.io/", 0) != 0) labels[it.key()] = it.value();
    }
    Json input{{"spec", o.value("spec", Json())},
               {"labels", labels},
               {"changeCause", Annotation(o, "kubernetes.io/change-cause")}};
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : input.dump()) {
      h ^= c;
      h *= 1099511628211ULL;
    }
    char buf[24];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }

  void OnNais(const std::string& version, const std::string& plural, Json o) {
    std::string key = plural + "/" + NsOf(o) + "/" + NameOf(o);
    Json& meta = o["metadata"];
    Json finalizers = meta.value("finalizers", Json::array());
    bool has_finalizer =
        std::find(finalizers.begin(), finalizers.end(), kFinalizer) != finalizers.end();
    if (meta.contains("deletionTimestamp")) {
      if (has_finalizer) {
        Json kept = Json::array();
        for (const auto& f : finalizers)
          if (f != kFinalizer) kept.push_back(f);
        meta["finalizers"] = kept;
        state.ControllerWrite("nais.io", version, plural, o, "naiserator", false);
      }
      return;
    }
    if (!has_finalizer || !meta.contains("labels") || meta["labels"].value("team", "") != NsOf(o)) {
      if (!has_finalizer) finalizers.push_back(kFinalizer);
      meta["finalizers"] = finalizers;
      meta["labels"]["team"] = NsOf(o);
      state.ControllerWrite("nais.io", version, plural, o, "naiserator", false);
      return;  // the MODIFIED event brings us back
    }
    std::string hash = NaisHash(o);
    if (o.value("status", Json::object()).value("synchronizationHash", "") == hash) return;
    if (nais_inflight[key] == hash) return;
    nais_inflight[key] = hash;
    std::string ns = NsOf(o), name = NameOf(o);
    After(1,
          [this, version, plural, ns, name, hash] { NaisSync(version, plural, ns, name, hash); });
  }

  void NaisStatus(const std::string& version, const std::string& plural, Json o,
                  const std::string& state_name, const std::string& message,
                  const std::string& hash, bool set_correlation) {
    Json st = o.value("status", Json::object());
    st["synchronizationState"] = state_name;
    if (!hash.empty()) {
      st["synchronizationHash"] = hash;
      st["synchronizationTime"] =
          std::chrono::duration_cast<std::chrono::nanoseconds>(SimWallNow().time_since_epoch())
              .count();
    }
    if (set_correlation) st["correlationID"] = Annotation(o, kCorrelation);
    st["conditions"] = {{{"type", "SynchronizationState"},
                         {"status", "True"},
                         {"reason", state_name},
                         {"message", message},
                         {"lastTransitionTime", NowRfc3339()}}};
    o["status"] = st;
    state.ControllerWrite("nais.io", version, plural, o, "naiserator", true);
  }

  Json NaisEventAnnotations(const Json& o) {
    std::string id = Annotation(o, kCorrelation);
    return id.empty() ? Json() : Json{{kCorrelation, id}};
  }

  void NaisSync(const std::string& version, const std::string& plural, const std::string& ns,
                const std::string& name, const std::string& hash) {
    Json o = state.ControllerGet("nais.io", plural, ns, name);
    std::string key = plural + "/" + ns + "/" + name;
    if (o.is_null() || NaisHash(o) != hash) return;
    o["apiVersion"] = "nais.io/" + version;
    std::string scenario = Annotation(o, kScenario);
    Json ann = NaisEventAnnotations(o);
    if (scenario == "failgenerate") {
      std::string msg =
          "generating resources: simulated failure (test.deployd.io/scenario=failgenerate)";
      NaisStatus(version, plural, o, "FailedGenerate", msg, "", false);
      Event(o, "Warning", "FailedGenerate", msg, "naiserator", ann);
      return;
    }
    if (scenario == "failsync") {
      std::string msg =
          "persisting resources to Kubernetes: simulated failure "
          "(test.deployd.io/scenario=failsync)";
      NaisStatus(version, plural, o, "FailedSynchronization", msg, hash, true);
      Event(o, "Warning", "FailedSynchronization", msg, "naiserator", ann);
      return;
    }
    NaisStatus(version, plural, o, "Synchronized",
               "Successfully synchronized all application resources.", hash, true);
    Event(o, "Normal", "Synchronized", "Deployment has been processed; waiting for completion...",
          "naiserator", ann);
    if (plural == "naisjobs") {
      Event(o, "Normal", "RolloutComplete", "No support for monitoring CronJobs", "naiserator",
            ann);
      Json fresh = state.ControllerGet("nais.io", plural, ns, name);
      NaisStatus(version, plural, fresh, "RolloutComplete", "Successfully deployed.", "", false);
      return;
    }
    // Application: write the Deployment, then watch it complete.
    Json spec = o.value("spec", Json::object());
    std::int64_t replicas = 2;
    if (spec.contains("replicas") && spec["replicas"].contains("min") &&
        spec["replicas"]["min"].is_number_integer()) {
      replicas = spec["replicas"]["min"].get<std::int64_t>();
    }
    Json container{{"name", name}, {"image", spec.value("image", "")}};
    if (spec.contains("port"))
      container["ports"] = {
          {{"name", "http"}, {"containerPort", spec["port"]}, {"protocol", "TCP"}}};
    Json annotations{{kCorrelation, Annotation(o, kCorrelation)}};
    std::string dep_scenario = Annotation(o, kDeploymentScenario);
    if (!dep_scenario.empty()) annotations[kScenario] = dep_scenario;
    Json existing = state.ControllerGet("apps", "deployments", ns, name);
    Json d{{"metadata",
            {{"name", name},
             {"namespace", ns},
             {"labels", {{"app", name}, {"team", ns}}},
             {"annotations", annotations},
             {"ownerReferences", {OwnerRef(o)}}}},
           {"spec",
            {{"replicas", replicas},
             {"progressDeadlineSeconds", 300},
             {"revisionHistoryLimit", 10},
             {"selector", {{"matchLabels", {{"app", name}}}}},
             {"template",
              {{"metadata", {{"labels", {{"app", name}, {"team", ns}}}}},
               {"spec", {{"containers", {container}}}}}}}}};
    if (!existing.is_null()) {
      const Json old_annotations = existing["metadata"].value("annotations", Json::object());
      for (auto it = old_annotations.begin(); it != old_annotations.end(); ++it) {
        if (!d["metadata"]["annotations"].contains(it.key()) && it.key() != kScenario)
          d["metadata"]["annotations"][it.key()] = it.value();
      }
      d["spec"]["template"]["metadata"]["annotations"]["nais.io/synchronizationHash"] = hash;
    } else {
      d["spec"]["template"]["metadata"]["annotations"]["nais.io/synchronizationHash"] = hash;
    }
    Json stored = state.ControllerWrite("apps", "v1", "deployments", d, "naiserator", false);
    if (stored.is_null()) return;
    awaiting_rollout[ns + "/" + name] = key + "|" + version + "|" + hash;
    CheckApplicationRollout(stored);
  }

  void CheckApplicationRollout(const Json& d) {
    auto it = awaiting_rollout.find(NsOf(d) + "/" + NameOf(d));
    if (it == awaiting_rollout.end()) return;
    const Json st = d.value("status", Json::object());
    std::int64_t want = d["spec"].value("replicas", std::int64_t{1});
    bool complete = st.value("observedGeneration", std::int64_t{0}) >=
                        d["metadata"].value("generation", std::int64_t{1}) &&
                    st.value("updatedReplicas", std::int64_t{-1}) == want &&
                    st.value("replicas", std::int64_t{-1}) == want &&
                    st.value("availableReplicas", std::int64_t{-1}) == want;
    if (!complete) return;
    std::string value = it->second;
    awaiting_rollout.erase(it);
    auto p1 = value.find('|');
    auto p2 = value.find('|', p1 + 1);
    std::string key = value.substr(0, p1);
    std::string version = value.substr(p1 + 1, p2 - p1 - 1);
    std::string hash = value.substr(p2 + 1);
    Json o = state.ControllerGet("nais.io", "applications", NsOf(d), NameOf(d));
    if (o.is_null() || o.value("status", Json::object()).value("synchronizationHash", "") != hash)
      return;
    o["apiVersion"] = "nais.io/" + version;
    Event(o, "Normal", "RolloutComplete", "Rollout has completed", "naiserator",
          NaisEventAnnotations(o));
    Json fresh = state.ControllerGet("nais.io", "applications", NsOf(d), NameOf(d));
    NaisStatus(version, "applications", fresh, "RolloutComplete", "Successfully deployed.", "",
               false);
  }

  // ---- paused Deployments ----
  void DeploymentPaused(Json d) {
    Json status = d.value("status", Json::object());
    Json conditions = Json::array();
    for (const auto& c : status.value("conditions", Json::array())) {
      if (c.value("type", "") != "Progressing") conditions.push_back(c);
    }
    conditions.push_back(
        Condition("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", true));
    status["conditions"] = conditions;
    status["observedGeneration"] = d["metadata"].value("generation", std::int64_t{1});
    WriteDeploymentStatus(d, status);
  }

  // ---- ReplicaSet controller: the pod count follows spec.replicas ----
  // A Deployment's ReplicaSet gets its first pods from the Deployment controller (with the
  // scenario's states); afterwards, and for ReplicaSets of their own, deleted pods are replaced
  // and surplus pods (newest first) deleted.
  void OnReplicaSet(const Json& rs) {
    if (rs["metadata"].contains("deletionTimestamp")) return;
    std::string key = NsOf(rs) + "/" + NameOf(rs);
    std::int64_t gen = rs["metadata"].value("generation", std::int64_t{1});
    auto it = rs_generation.find(key);
    if (it != rs_generation.end() && it->second == gen) return;
    rs_generation[key] = gen;
    std::string ns = NsOf(rs), name = NameOf(rs);
    After(1, [this, ns, name] { ReconcileReplicaSet(ns, name); });
  }

  std::string OwnerDeploymentScenario(const Json& rs) {
    for (const auto& ref : rs["metadata"].value("ownerReferences", Json::array())) {
      if (ref.value("kind", "") != "Deployment") continue;
      Json d = state.ControllerGet("apps", "deployments", NsOf(rs), ref.value("name", ""));
      return d.is_null() ? "success" : DeploymentScenario(d);
    }
    return "";
  }

  void ReconcileReplicaSet(const std::string& ns, const std::string& name) {
    Json rs = state.ControllerGet("apps", "replicasets", ns, name);
    if (rs.is_null() || rs["metadata"].contains("deletionTimestamp")) return;
    std::int64_t want = rs["spec"].value("replicas", std::int64_t{1});
    std::vector<Json> pods;
    for (const auto& p : PodsOf(ns, rs["metadata"]["uid"].get<std::string>())) {
      if (!p["metadata"].contains("deletionTimestamp")) pods.push_back(p);
    }
    std::string scenario = OwnerDeploymentScenario(rs);
    bool standalone = scenario.empty();
    auto have = static_cast<std::int64_t>(pods.size());
    if (have > want) {
      std::sort(pods.begin(), pods.end(), [](const Json& a, const Json& b) {
        return a["metadata"].value("creationTimestamp", "") + NameOf(a) >
               b["metadata"].value("creationTimestamp", "") + NameOf(b);
      });
      for (std::int64_t i = 0; i < have - want; ++i) {
        const Json& pod = pods[static_cast<std::size_t>(i)];
        state.ControllerDelete("", "pods", ns, NameOf(pod));
        Event(rs, "Normal", "SuccessfulDelete", "Deleted pod: " + NameOf(pod),
              "replicaset-controller");
      }
    } else if (have < want && (standalone || rs_populated.count(ns + "/" + name) != 0)) {
      const Json tmpl = rs["spec"].value("template", Json::object());
      for (std::int64_t i = have; i < want; ++i) {
        Json pod{
            {"metadata",
             {{"name", name + "-" + RandomSuffix()},
              {"namespace", ns},
              {"labels", tmpl.value("metadata", Json::object()).value("labels", Json::object())},
              {"ownerReferences", {OwnerRef(rs)}}}},
            {"spec", tmpl.value("spec", Json::object())}};
        if (tmpl.contains("metadata") && tmpl["metadata"].contains("annotations"))
          pod["metadata"]["annotations"] = tmpl["metadata"]["annotations"];
        pod["spec"]["nodeName"] = "kube-sim-node";
        Json stored =
            state.ControllerWrite("", "v1", "pods", pod, "kube-controller-manager", false);
        if (stored.is_null()) return;
        Json cs = WaitingContainers(stored["spec"], "ContainerCreating");
        stored["status"] = {{"phase", "Pending"},
                            {"qosClass", "BestEffort"},
                            {"containerStatuses", cs},
                            {"conditions", {Condition("PodScheduled", "True", "", "", false)}}};
        stored["status"]["conditions"][0].erase("reason");
        stored["status"]["conditions"][0].erase("message");
        state.ControllerWrite("", "v1", "pods", stored, "kubelet", true);
        Event(rs, "Normal", "SuccessfulCreate", "Created pod: " + NameOf(stored),
              "replicaset-controller");
        Event(stored, "Normal", "Scheduled",
              "Successfully assigned " + ns + "/" + NameOf(stored) + " to kube-sim-node",
              "default-scheduler");
      }
      if (standalone || scenario == "success" || scenario == "slow") {
        After(1, [this, ns, name] {
          Json fresh = state.ControllerGet("apps", "replicasets", ns, name);
          if (fresh.is_null()) return;
          SetPods(
              ns, fresh,
              [](Json&, const Json&, Json& cs) {
                cs["state"] = {{"running", {{"startedAt", NowRfc3339()}}}};
              },
              "Running", true);
          ReplicaSetStatus(ns, name);
        });
      }
    }
    ReplicaSetStatus(ns, name);
  }

  void ReplicaSetStatus(const std::string& ns, const std::string& name) {
    Json rs = state.ControllerGet("apps", "replicasets", ns, name);
    if (rs.is_null()) return;
    std::int64_t count = 0, ready = 0;
    for (const auto& p : PodsOf(ns, rs["metadata"]["uid"].get<std::string>())) {
      if (p["metadata"].contains("deletionTimestamp")) continue;
      ++count;
      bool all_ready = true;
      for (const auto& cs :
           p.value("status", Json::object()).value("containerStatuses", Json::array())) {
        all_ready = all_ready && cs.value("ready", false);
      }
      if (all_ready && p.value("status", Json::object()).value("phase", "") == "Running") ++ready;
    }
    rs["status"] = {{"replicas", count},
                    {"fullyLabeledReplicas", count},
                    {"readyReplicas", ready},
                    {"availableReplicas", ready},
                    {"observedGeneration", rs["metadata"].value("generation", std::int64_t{1})}};
    state.ControllerWrite("apps", "v1", "replicasets", rs, "kube-controller-manager", true);
  }

  // ---- scheduler and kubelet for pods nobody else runs (kubectl run, a bare pod manifest) ----
  void OnBarePod(const Json& pod) {
    const Json& meta = pod["metadata"];
    if (meta.contains("deletionTimestamp") || !meta.value("ownerReferences", Json::array()).empty())
      return;
    if (!pod["spec"].value("nodeName", "").empty() ||
        pod.value("status", Json::object()).contains("startTime"))
      return;
    std::string ns = NsOf(pod), name = NameOf(pod), uid = meta.value("uid", "");
    After(1, [this, ns, name, uid] {
      Json p = state.ControllerGet("", "pods", ns, name);
      if (p.is_null() || p["metadata"].value("uid", "") != uid ||
          p["metadata"].contains("deletionTimestamp"))
        return;
      if (!p["spec"].value("nodeName", "").empty()) return;
      p["spec"]["nodeName"] = "kube-sim-node";
      Json bound = state.ControllerWrite("", "v1", "pods", p, "kube-scheduler", false);
      if (bound.is_null()) return;
      Event(bound, "Normal", "Scheduled",
            "Successfully assigned " + ns + "/" + name + " to kube-sim-node", "default-scheduler");
      Json cs = Json::array();
      for (const auto& c : bound["spec"].value("containers", Json::array())) {
        cs.push_back({{"name", c.value("name", "")},
                      {"image", c.value("image", "")},
                      {"ready", true},
                      {"started", true},
                      {"restartCount", 0},
                      {"state", {{"running", {{"startedAt", NowRfc3339()}}}}}});
        Event(bound, "Normal", "Started", "Started container " + c.value("name", ""), "kubelet");
      }
      Json conditions = Json::array();
      for (const char* type : {"PodReadyToStartContainers", "Initialized", "Ready",
                               "ContainersReady", "PodScheduled"}) {
        Json c = Condition(type, "True", "", "", false);
        c.erase("reason");
        c.erase("message");
        conditions.push_back(c);
      }
      bound["status"] = {
          {"phase", "Running"},
          {"qosClass", bound.value("status", Json::object()).value("qosClass", "BestEffort")},
          {"startTime", NowRfc3339()},
          {"containerStatuses", cs},
          {"conditions", conditions}};
      state.ControllerWrite("", "v1", "pods", bound, "kubelet", true);
    });
  }

  // ---- endpoints and endpointslice controllers ----
  // A port of a pod that a Service port targets (number, or a container port's name); 0 if none.
  static std::int64_t TargetPort(const Json& pod, const Json& service_port) {
    const Json target = service_port.value("targetPort", service_port.value("port", Json(0)));
    if (target.is_number_integer()) return target.get<std::int64_t>();
    if (!target.is_string()) return 0;
    for (const auto& c : pod["spec"].value("containers", Json::array())) {
      for (const auto& p : c.value("ports", Json::array())) {
        if (p.value("name", "") == target.get<std::string>() &&
            p.value("protocol", "TCP") == service_port.value("protocol", "TCP"))
          return p.value("containerPort", std::int64_t{0});
      }
    }
    return 0;
  }

  static bool PodReady(const Json& pod) {
    if (pod["metadata"].contains("deletionTimestamp")) return false;
    for (const auto& c : pod.value("status", Json::object()).value("conditions", Json::array())) {
      if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
    }
    return false;
  }

  // Endpoints and one EndpointSlice per set of resolved ports for every Service with a selector
  // in `ns`, from the pods that match it and have an IP (ready ones as addresses, others as
  // notReadyAddresses / ready=false).
  static bool Selects(const Json& selector, const Json& pod) {
    const auto metadata = pod.find("metadata");
    if (metadata == pod.end()) return false;
    const auto labels = metadata->find("labels");
    if (labels == metadata->end() || !labels->is_object()) return false;
    for (const auto& [k, v] : selector.items()) {
      const auto label = labels->find(k);
      if (label == labels->end() || *label != v) return false;
    }
    return true;
  }

  // A pod changed: the Services of its namespace that select it or listed it.
  void SyncEndpointsForPod(const std::string& ns, const Json& pod) {
    std::set<std::string> names;
    const std::string pod_name = NameOf(pod);
    std::string prefix = Api::State::Key("", "services", ns, "");
    for (auto it = state.objects.lower_bound(prefix);
         it != state.objects.end() && it->first.rfind(prefix, 0) == 0; ++it) {
      const Json& svc = it->second;
      const std::string name = NameOf(svc);
      const Json* selector = nullptr;
      if (const auto spec = svc.find("spec"); spec != svc.end() && spec->is_object()) {
        if (const auto found = spec->find("selector"); found != spec->end()) selector = &*found;
      }
      bool selects = selector != nullptr && selector->is_object() && !selector->empty() &&
                     Selects(*selector, pod);
      auto listed = service_pods.find(fmt::format("{}/{}", ns, name));
      if (selects || (listed != service_pods.end() && listed->second.count(pod_name) != 0)) {
        names.insert(name);
      }
    }
    if (!names.empty()) SyncEndpoints(ns, &names);
  }

  void SyncEndpoints(const std::string& ns, const std::set<std::string>* only = nullptr) {
    auto ns_obj = state.ControllerGet("", "namespaces", "", ns);
    if (ns_obj.is_null() || ns_obj["metadata"].contains("deletionTimestamp")) return;
    // Pointers into the store (nothing below writes to it before the last use): copying every
    // pod on every pod event made large namespaces quadratic.
    std::vector<const Json*> services, pods;
    for (const char* plural : {"services", "pods"}) {
      std::string prefix = Api::State::Key("", plural, ns, "");
      for (auto it = state.objects.lower_bound(prefix);
           it != state.objects.end() && it->first.rfind(prefix, 0) == 0; ++it) {
        if (std::string(plural) == "pods") {
          pods.push_back(&it->second);
        } else if (only == nullptr || only->count(NameOf(it->second)) != 0) {
          services.push_back(&it->second);
        }
      }
      if (services.empty()) return;  // no Service here: nothing to publish
    }
    for (const Json* service : services) {
      const Json& svc = *service;
      const Json spec = svc.value("spec", Json::object());
      const Json selector = spec.value("selector", Json::object());
      if (!selector.is_object() || selector.empty() || spec.value("type", "") == "ExternalName")
        continue;
      if (svc["metadata"].contains("deletionTimestamp")) continue;
      bool publish_not_ready = spec.value("publishNotReadyAddresses", false);
      // Resolved ports (as JSON) -> the pods serving them.
      std::map<std::string, std::pair<Json, std::vector<Json>>> groups;
      std::set<std::string>& listed = service_pods[ns + "/" + NameOf(svc)];
      listed.clear();
      for (const Json* pod_in_store : pods) {
        const Json& pod = *pod_in_store;
        if (!Selects(selector, pod)) continue;
        const Json st = pod.value("status", Json::object());
        if (st.value("podIP", "").empty() || pod["metadata"].contains("deletionTimestamp"))
          continue;
        if (st.value("phase", "") == "Succeeded" || st.value("phase", "") == "Failed") continue;
        Json ports = Json::array();
        for (const auto& sp : spec.value("ports", Json::array())) {
          std::int64_t port = TargetPort(pod, sp);
          if (port == 0) continue;
          Json p{{"port", port}, {"protocol", sp.value("protocol", "TCP")}};
          if (sp.contains("name") && !sp["name"].get<std::string>().empty()) p["name"] = sp["name"];
          ports.push_back(p);
        }
        auto& g = groups[ports.dump()];
        g.first = ports;
        g.second.push_back(pod);
        listed.insert(NameOf(pod));
      }
      const std::string name = NameOf(svc);
      Json labels = svc["metadata"].value("labels", Json::object());
      if (spec.value("clusterIP", "") == "None") labels["service.kubernetes.io/headless"] = "";
      // Endpoints (named as the Service).
      Json subsets = Json::array();
      for (auto& [key, g] : groups) {
        Json ready = Json::array(), not_ready = Json::array();
        std::sort(g.second.begin(), g.second.end(), [](const Json& a, const Json& b) {
          return a["status"].value("podIP", "") < b["status"].value("podIP", "");
        });
        for (const auto& pod : g.second) {
          Json addr{{"ip", pod["status"]["podIP"]},
                    {"nodeName", pod["spec"].value("nodeName", "")},
                    {"targetRef",
                     {{"kind", "Pod"},
                      {"namespace", ns},
                      {"name", NameOf(pod)},
                      {"uid", pod["metadata"]["uid"]}}}};
          (PodReady(pod) || publish_not_ready ? ready : not_ready).push_back(addr);
        }
        Json subset = Json::object();
        if (!ready.empty()) subset["addresses"] = ready;
        if (!not_ready.empty()) subset["notReadyAddresses"] = not_ready;
        if (!g.first.empty()) {
          subset["ports"] = g.first;
          subsets.push_back(subset);
        }
      }
      Json ep = state.ControllerGet("", "endpoints", ns, name);
      if (ep.is_null()) ep = {{"metadata", {{"name", name}, {"namespace", ns}}}};
      if (labels.empty())
        ep["metadata"].erase("labels");
      else
        ep["metadata"]["labels"] = labels;
      if (subsets.empty())
        ep.erase("subsets");
      else
        ep["subsets"] = subsets;
      state.ControllerWrite("", "v1", "endpoints", ep, "endpoint-controller", false);

      // EndpointSlices, labelled with the Service and owned by it.
      Json slice_labels = labels;
      slice_labels.erase("service.kubernetes.io/headless");
      slice_labels["kubernetes.io/service-name"] = name;
      slice_labels["endpointslice.kubernetes.io/managed-by"] = "endpointslice-controller.k8s.io";
      if (spec.value("clusterIP", "") == "None")
        slice_labels["service.kubernetes.io/headless"] = "";
      std::vector<Json> existing;
      std::string prefix = Api::State::Key("discovery.k8s.io", "endpointslices", ns, "");
      for (auto it = state.objects.lower_bound(prefix);
           it != state.objects.end() && it->first.rfind(prefix, 0) == 0; ++it) {
        const Json l = it->second["metadata"].value("labels", Json::object());
        if (l.value("kubernetes.io/service-name", "") == name &&
            l.value("endpointslice.kubernetes.io/managed-by", "") ==
                "endpointslice-controller.k8s.io")
          existing.push_back(it->second);
      }
      std::vector<std::pair<Json, Json>> wanted;  // ports, endpoints
      for (auto& [key, g] : groups) {
        Json endpoints = Json::array(), ports = Json::array();
        for (const auto& pod : g.second) {
          bool ready = PodReady(pod);
          endpoints.push_back({{"addresses", {pod["status"]["podIP"]}},
                               {"conditions",
                                {{"ready", ready || publish_not_ready},
                                 {"serving", ready},
                                 {"terminating", false}}},
                               {"nodeName", pod["spec"].value("nodeName", "")},
                               {"targetRef",
                                {{"kind", "Pod"},
                                 {"namespace", ns},
                                 {"name", NameOf(pod)},
                                 {"uid", pod["metadata"]["uid"]}}}});
        }
        for (Json p : g.first) {
          if (!p.contains("name")) p["name"] = "";
          ports.push_back(p);
        }
        wanted.emplace_back(ports, endpoints);
      }
      if (wanted.empty()) wanted.emplace_back(Json(), Json());  // the placeholder slice
      std::vector<bool> used(existing.size(), false);
      for (const auto& [ports, endpoints] : wanted) {
        Json slice;
        for (std::size_t i = 0; i < existing.size() && slice.is_null(); ++i) {
          if (!used[i] && existing[i].value("ports", Json()) == ports) {
            used[i] = true;
            slice = existing[i];
          }
        }
        for (std::size_t i = 0; i < existing.size() && slice.is_null(); ++i) {
          if (!used[i]) {
            used[i] = true;
            slice = existing[i];
          }
        }
        if (slice.is_null()) {
          slice = {{"metadata",
                    {{"name", name + "-" + RandomSuffix()},
                     {"generateName", name + "-"},
                     {"namespace", ns},
                     {"ownerReferences",
                      {{{"apiVersion", "v1"},
                        {"kind", "Service"},
                        {"name", name},
                        {"uid", svc["metadata"]["uid"]},
                        {"controller", true},
                        {"blockOwnerDeletion", true}}}}}},
                   {"addressType", "IPv4"}};
        }
        slice["metadata"]["labels"] = slice_labels;
        if (endpoints.is_null())
          slice.erase("endpoints");
        else
          slice["endpoints"] = endpoints;
        if (ports.is_null())
          slice.erase("ports");
        else
          slice["ports"] = ports;
        state.ControllerWrite("discovery.k8s.io", "v1", "endpointslices", slice,
                              "endpointslice-controller", false);
      }
      for (std::size_t i = 0; i < existing.size(); ++i) {
        if (!used[i])
          state.ControllerDelete("discovery.k8s.io", "endpointslices", ns, NameOf(existing[i]));
      }
    }
  }

  // ---- garbage collector (ownerReferences) ----
  struct ObjectRef {
    const ResourceType* rt = nullptr;
    std::string ns;
    std::string name;
    Json object;
  };

  // Every stored object whose ownerReferences name `uid`.
  std::vector<ObjectRef> Dependents(const std::string& uid) {
    std::vector<ObjectRef> out;
    for (const auto& [key, obj] : state.objects) {
      for (const auto& ref : obj["metadata"].value("ownerReferences", Json::array())) {
        if (ref.value("uid", "") != uid) continue;
        auto p1 = key.find('|');
        auto p2 = key.find('|', p1 + 1);
        auto versions = state.registry.Versions(key.substr(0, p1), key.substr(p1 + 1, p2 - p1 - 1));
        if (!versions.empty()) out.push_back({versions[0], NsOf(obj), NameOf(obj), obj});
        break;
      }
    }
    return out;
  }

  bool Exists(const std::string& uid) {
    for (const auto& [key, obj] : state.objects) {
      if (obj["metadata"].value("uid", "") == uid) return true;
    }
    return false;
  }

  void WithoutOwner(ObjectRef& d, const std::string& uid) {
    Json refs = Json::array();
    for (const auto& ref : d.object["metadata"].value("ownerReferences", Json::array())) {
      if (ref.value("uid", "") != uid) refs.push_back(ref);
    }
    Json next = d.object;
    if (refs.empty()) {
      next["metadata"].erase("ownerReferences");
    } else {
      next["metadata"]["ownerReferences"] = refs;
    }
    state.ControllerWrite(d.rt->group, d.rt->version, d.rt->plural, next, "kube-controller-manager",
                          false);
  }

  Json WithoutFinalizer(Json o, const std::string& finalizer) {
    Json kept = Json::array();
    for (const auto& f : o["metadata"].value("finalizers", Json::array())) {
      if (f != finalizer) kept.push_back(f);
    }
    if (kept.empty()) {
      o["metadata"].erase("finalizers");
    } else {
      o["metadata"]["finalizers"] = kept;
    }
    return o;
  }

  void WriteBack(const std::string& group, const std::string& plural, Json o) {
    auto versions = state.registry.Versions(group, plural);
    if (!versions.empty())
      state.ControllerWrite(group, versions[0]->version, plural, std::move(o),
                            "kube-controller-manager", false);
  }

  // The owner is gone: dependents with no other live owner are deleted (background), the others
  // lose the dangling reference.
  void CollectGarbage(const Json& owner) {
    std::string uid = owner["metadata"].value("uid", "");
    for (auto& d : Dependents(uid)) {
      bool other_owner = false;
      for (const auto& ref : d.object["metadata"].value("ownerReferences", Json::array())) {
        if (ref.value("uid", "") != uid && Exists(ref.value("uid", ""))) other_owner = true;
      }
      if (other_owner) {
        WithoutOwner(d, uid);
      } else if (!d.object["metadata"].contains("deletionTimestamp")) {
        state.DeleteObject(*d.rt, d.ns, d.name, "Background");
      }
    }
  }

  // Foreground deletion: the owner waits (finalizer foregroundDeletion) until its dependents,
  // deleted in the foreground as well, are gone.
  void ForegroundDelete(const WatchEvent& ev) {
    Json current = state.ControllerGet(ev.group, ev.plural, ev.ns, NameOf(ev.object));
    if (current.is_null() || !current["metadata"].contains("deletionTimestamp")) return;
    std::string uid = current["metadata"].value("uid", "");
    auto deps = Dependents(uid);
    for (auto& d : deps) {
      if (!d.object["metadata"].contains("deletionTimestamp"))
        state.DeleteObject(*d.rt, d.ns, d.name, "Foreground");
    }
    if (!Dependents(uid).empty()) return;
    WriteBack(ev.group, ev.plural, WithoutFinalizer(current, "foregroundDeletion"));
  }

  // Orphan deletion: the dependents lose their reference, then the owner goes.
  void OrphanDependents(const WatchEvent& ev) {
    Json current = state.ControllerGet(ev.group, ev.plural, ev.ns, NameOf(ev.object));
    if (current.is_null() || !current["metadata"].contains("deletionTimestamp")) return;
    std::string uid = current["metadata"].value("uid", "");
    for (auto& d : Dependents(uid)) WithoutOwner(d, uid);
    WriteBack(ev.group, ev.plural, WithoutFinalizer(current, "orphan"));
  }

  // A dependent went away: owners deleting in the foreground may be done.
  void RecheckForegroundOwners(const Json& dependent) {
    for (const auto& ref : dependent["metadata"].value("ownerReferences", Json::array())) {
      std::string uid = ref.value("uid", "");
      for (const auto& [key, obj] : state.objects) {
        if (obj["metadata"].value("uid", "") != uid ||
            !obj["metadata"].contains("deletionTimestamp"))
          continue;
        const Json finalizers = obj["metadata"].value("finalizers", Json::array());
        if (std::find(finalizers.begin(), finalizers.end(), "foregroundDeletion") ==
            finalizers.end())
          continue;
        auto p1 = key.find('|');
        auto p2 = key.find('|', p1 + 1);
        WatchEvent owner{0,         key.substr(0, p1), key.substr(p1 + 1, p2 - p1 - 1),
                         NsOf(obj), "MODIFIED",        obj,
                         Json()};
        ForegroundDelete(owner);
        break;
      }
    }
  }

  // ---- namespace controller ----
  // A terminating namespace: its content is deleted; when nothing is left its "kubernetes"
  // finalizer is removed and the namespace goes. Until then its conditions say what remains.
  void NamespaceCleanup(const std::string& ns) {
    Json nso = state.ControllerGet("", "namespaces", "", ns);
    if (nso.is_null() || !nso["metadata"].contains("deletionTimestamp")) return;
    std::vector<std::tuple<const ResourceType*, std::string, bool>> content;
    for (const auto& [key, obj] : state.objects) {
      if (obj["metadata"].value("namespace", "") != ns) continue;
      auto p1 = key.find('|');
      auto p2 = key.find('|', p1 + 1);
      auto versions = state.registry.Versions(key.substr(0, p1), key.substr(p1 + 1, p2 - p1 - 1));
      if (!versions.empty())
        content.emplace_back(versions[0], NameOf(obj),
                             obj["metadata"].contains("deletionTimestamp"));
    }
    for (const auto& [rt, name, deleting] : content) {
      if (!deleting) state.DeleteObject(*rt, ns, name, "Background");
    }
    std::map<std::string, int> remaining;
    std::map<std::string, int> finalizers;
    for (const auto& [key, obj] : state.objects) {
      if (obj["metadata"].value("namespace", "") != ns) continue;
      auto p1 = key.find('|');
      auto p2 = key.find('|', p1 + 1);
      std::string group = key.substr(0, p1), plural = key.substr(p1 + 1, p2 - p1 - 1);
      remaining[group.empty() ? plural : fmt::format("{}.{}", plural, group)]++;
      for (const auto& f : obj["metadata"].value("finalizers", Json::array()))
        finalizers[f.get<std::string>()]++;
    }
    if (remaining.empty()) {
      nso["spec"].erase("finalizers");
      Json stored =
          state.ControllerWrite("", "v1", "namespaces", nso, "kube-controller-manager", false);
      if (!stored.is_null() && stored["metadata"].value("finalizers", Json::array()).empty()) {
        state.Remove(*state.registry.Find("", "v1", "namespaces"), "", ns);
      }
      return;
    }
    std::string now = NowRfc3339();
    std::string content_msg = "Some resources are remaining:";
    for (const auto& [r, n] : remaining)
      content_msg += " " + r + " has " + std::to_string(n) + " resource instances,";
    content_msg.pop_back();
    auto cond = [&](const char* type, const char* status, const char* reason,
                    const std::string& message) {
      return Json{{"type", type},
                  {"status", status},
                  {"lastTransitionTime", now},
                  {"reason", reason},
                  {"message", message}};
    };
    Json conditions = Json::array(
        {cond("NamespaceDeletionDiscoveryFailure", "False", "ResourcesDiscovered",
              "All resources successfully discovered"),
         cond("NamespaceDeletionGroupVersionParsingFailure", "False", "ParsedGroupVersions",
              "All legacy kube types successfully parsed"),
         cond("NamespaceDeletionContentFailure", "False", "ContentDeleted",
              "All content successfully deleted, may be waiting on finalization"),
         cond("NamespaceContentRemaining", "True", "SomeResourcesRemain", content_msg)});
    if (!finalizers.empty()) {
      std::string msg = "Some content in the namespace has finalizers remaining:";
      for (const auto& [f, n] : finalizers)
        msg += " " + f + " in " + std::to_string(n) + " resource instances,";
      msg.pop_back();
      conditions.push_back(
          cond("NamespaceFinalizersRemaining", "True", "SomeFinalizersRemain", msg));
    }
    // Unchanged conditions (apart from their time) are not written again.
    Json old = nso["status"].value("conditions", Json::array());
    bool same = old.size() == conditions.size();
    for (std::size_t i = 0; same && i < old.size(); ++i) {
      same = old[i].value("message", "") == conditions[i]["message"] &&
             old[i].value("type", "") == conditions[i]["type"];
    }
    if (same) return;
    nso["status"]["conditions"] = conditions;
    state.ControllerWrite("", "v1", "namespaces", nso, "kube-controller-manager", true);
  }

  // ---- loop ----
  void Handle(const WatchEvent& ev) {
    const Json& meta = ev.object["metadata"];
    if (ev.type == "DELETED") {
      if (ev.group == "nais.io")
        nais_inflight.erase(ev.plural + "/" + ev.ns + "/" + meta.value("name", ""));
      if (ev.group == "apps" && ev.plural == "deployments")
        deployment_generation.erase(ev.ns + "/" + meta.value("name", ""));
      if (ev.group == "apps" && ev.plural == "replicasets") {
        rs_generation.erase(ev.ns + "/" + meta.value("name", ""));
        rs_populated.erase(ev.ns + "/" + meta.value("name", ""));
      }
      CollectGarbage(ev.object);
      RecheckForegroundOwners(ev.object);
      if (ev.group.empty() && ev.plural == "pods") {
        for (const auto& ref : meta.value("ownerReferences", Json::array())) {
          if (ref.value("kind", "") != "ReplicaSet") continue;
          std::string ns = ev.ns, name = ref.value("name", "");
          After(1, [this, ns, name] { ReconcileReplicaSet(ns, name); });
        }
      }
      if (ev.group.empty() && ev.plural == "services" &&
          !ev.object.value("spec", Json::object()).value("selector", Json::object()).empty())
        state.ControllerDelete("", "endpoints", ev.ns, meta.value("name", ""));
      if (ev.group.empty() && ev.plural == "pods" && !ev.ns.empty())
        SyncEndpointsForPod(ev.ns, ev.object);
      if (ev.group.empty() && ev.plural == "services")
        service_pods.erase(ev.ns + "/" + meta.value("name", ""));
      if (!ev.ns.empty()) NamespaceCleanup(ev.ns);
      return;
    }
    if (meta.contains("deletionTimestamp")) {
      const Json finalizers = meta.value("finalizers", Json::array());
      if (std::find(finalizers.begin(), finalizers.end(), "foregroundDeletion") != finalizers.end())
        ForegroundDelete(ev);
      if (std::find(finalizers.begin(), finalizers.end(), "orphan") != finalizers.end())
        OrphanDependents(ev);
      if (ev.group.empty() && ev.plural == "namespaces") NamespaceCleanup(meta.value("name", ""));
    }
    if (ev.group.empty() && ev.plural == "pods") SyncEndpointsForPod(ev.ns, ev.object);
    if (ev.group.empty() && ev.plural == "services") {
      const std::set<std::string> name{meta.value("name", "")};
      SyncEndpoints(ev.ns, &name);
    }
    if (ev.group.empty() && ev.plural == "pods" && ev.type == "ADDED") OnBarePod(ev.object);
    if (ev.group == "apps" && ev.plural == "replicasets") OnReplicaSet(ev.object);
    if (ev.group.empty() && ev.plural == "namespaces" &&
        !ev.object["metadata"].contains("deletionTimestamp")) {
      state.EnsureNamespaceDefaults(ev.object["metadata"].value("name", ""));
    }
    if (ev.group == "apps" && ev.plural == "deployments")
      OnDeployment(ev.object);
    else if (ev.group == "apps" && (ev.plural == "statefulsets" || ev.plural == "daemonsets"))
      OnSimpleWorkload(ev.plural, ev.object);
    else if (ev.group == "batch" && ev.plural == "jobs")
      OnJob(ev.object);
    else if (ev.group == "nais.io" && (ev.plural == "applications" || ev.plural == "naisjobs")) {
      std::string version = ev.object.value("apiVersion", "nais.io/v1");
      version = version.substr(version.find('/') + 1);
      OnNais(version, ev.plural, ev.object);
    }
  }

  void Run() {
    std::unique_lock lock(state.mu);
    last = state.rv;
    for (;;) {
      auto now = state.SimSteady();
      while (!timers.empty() && timers.begin()->first <= now) {
        auto fn = std::move(timers.begin()->second);
        timers.erase(timers.begin());
        try {
          fn();
        } catch (const std::exception& e) {
          spdlog::warn("controller step failed: {}", e.what());
        }
      }
      std::vector<WatchEvent> events;
      auto it = state.history.end();
      while (it != state.history.begin() && std::prev(it)->rv > last) --it;
      for (; it != state.history.end(); ++it) events.push_back(*it);
      last = state.rv;
      for (const auto& ev : events) {
        try {
          Handle(ev);
        } catch (const std::exception& e) {
          spdlog::warn("controller failed on {} {}: {}", ev.plural,
                       ev.object["metadata"].value("name", ""), e.what());
        }
      }
      if (!events.empty()) continue;
      // Sleep (real time) until the next timer is due on the simulated clock, a write, or a clock
      // advance (which notifies the condition variable).
      auto sim_now = state.SimSteady();
      auto wait = std::chrono::steady_clock::duration(std::chrono::milliseconds(500));
      if (!timers.empty() && !state.options.manual_clock)
        wait = std::min(wait, timers.begin()->first - sim_now);
      std::uint64_t seen = last;
      auto offset = state.clock_offset;
      state.cv.wait_for(lock, wait,
                        [&] { return state.rv > seen || state.clock_offset != offset; });
    }
  }
};

Controllers::Controllers(Api::State& state) : impl_(std::make_unique<Impl>(state)) {}
Controllers::~Controllers() {
  if (impl_->thread.joinable()) impl_->thread.detach();
}
void Controllers::Start() { impl_->thread = std::thread(&Impl::Run, impl_.get()); }

}  // namespace kubesim
