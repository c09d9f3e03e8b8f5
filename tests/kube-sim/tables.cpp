// Server-side printing (meta.k8s.io/v1 Table): the columns kube-apiserver's printers give the
// common kinds (priority 1 columns are the ones `kubectl get -o wide` adds), and a custom
// resource's additionalPrinterColumns (JSONPath: fields, [n], [*] and [?(@.k=="v")] filters).
#include <chrono>
#include <ctime>
#include <regex>
#include <sstream>

#include "internal.hpp"

namespace kubesim {
namespace {

using Clock = std::chrono::system_clock;

std::string Human(std::chrono::seconds d) {
  long long s = d.count();
  if (s < 0) s = 0;
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof buf, "%llds", s);
  } else if (s < 600) {
    std::snprintf(buf, sizeof buf, "%lldm%llds", s / 60, s % 60);
  } else if (s < 3 * 3600) {
    std::snprintf(buf, sizeof buf, "%lldm", s / 60);
  } else if (s < 8 * 3600) {
    std::snprintf(buf, sizeof buf, "%lldh%lldm", s / 3600, (s % 3600) / 60);
  } else if (s < 48 * 3600) {
    std::snprintf(buf, sizeof buf, "%lldh", s / 3600);
  } else {
    std::snprintf(buf, sizeof buf, "%lldd", s / 86400);
  }
  return buf;
}

std::string Since(const std::string& timestamp, Clock::time_point now) {
  std::tm tm{};
  if (timestamp.empty() || strptime(timestamp.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr)
    return "<unknown>";
  return Human(
      std::chrono::duration_cast<std::chrono::seconds>(now - Clock::from_time_t(timegm(&tm))));
}

std::string Between(const std::string& start, const std::string& end) {
  std::tm a{}, b{};
  if (strptime(start.c_str(), "%Y-%m-%dT%H:%M:%S", &a) == nullptr ||
      strptime(end.c_str(), "%Y-%m-%dT%H:%M:%S", &b) == nullptr) {
    return "<unknown>";
  }
  return Human(std::chrono::seconds(static_cast<long long>(timegm(&b) - timegm(&a))));
}

std::string Join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// Containers, Images and Selector of a workload (the wide columns).
std::string Containers(const Json& pod_spec, const char* field) {
  std::vector<std::string> out;
  for (const auto& c : pod_spec.value("containers", Json::array()))
    out.push_back(c.value(field, ""));
  return Join(out, ",");
}

std::string SelectorText(const Json& selector) {
  std::vector<std::string> out;
  const Json labels =
      selector.is_object() && selector.contains("matchLabels") ? selector["matchLabels"] : selector;
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.value().is_string()) out.push_back(it.key() + "=" + it.value().get<std::string>());
    }
  }
  for (const auto& e :
       selector.is_object() ? selector.value("matchExpressions", Json::array()) : Json::array()) {
    std::vector<std::string> values = e.value("values", std::vector<std::string>{});
    std::string op = e.value("operator", "");
    std::string key = e.value("key", "");
    if (op == "In") out.push_back(key + " in (" + Join(values, ",") + ")");
    if (op == "NotIn") out.push_back(key + " notin (" + Join(values, ",") + ")");
    if (op == "Exists") out.push_back(key);
    if (op == "DoesNotExist") out.push_back("!" + key);
  }
  return out.empty() ? "<none>" : Join(out, ",");
}

std::string OrNone(const std::string& s) { return s.empty() ? "<none>" : s; }

struct Column {
  std::string name;
  std::string type;
  int priority;
  std::string description;
};

// A JSONPath as CRDs write them, evaluated to the values it selects.
std::vector<Json> JsonPath(const Json& root, const std::string& path) {
  std::vector<Json> cur{root};
  std::size_t i = 0;
  std::string p = path;
  if (!p.empty() && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  while (i < p.size()) {
    std::vector<Json> next;
    if (p[i] == '.') {
      ++i;
      std::size_t end = i;
      while (end < p.size() && p[end] != '.' && p[end] != '[') ++end;
      std::string key = p.substr(i, end - i);
      i = end;
      for (const auto& v : cur) {
        if (v.is_object() && v.contains(key)) next.push_back(v[key]);
      }
    } else if (p[i] == '[') {
      auto close = p.find(']', i);
      if (close == std::string::npos) return {};
      std::string inner = p.substr(i + 1, close - i - 1);
      i = close + 1;
      static const std::regex kFilter(R"re(\?\(@\.([A-Za-z0-9_]+)\s*==\s*["']([^"']*)["']\))re");
      std::smatch m;
      for (const auto& v : cur) {
        if (!v.is_array()) continue;
        if (inner == "*") {
          for (const auto& e : v) next.push_back(e);
        } else if (std::regex_match(inner, m, kFilter)) {
          for (const auto& e : v) {
            if (e.is_object() && e.value(m[1].str(), Json()) == m[2].str()) next.push_back(e);
          }
        } else {
          try {
            long n = std::stol(inner);
            if (n < 0) n += static_cast<long>(v.size());
            if (n >= 0 && static_cast<std::size_t>(n) < v.size())
              next.push_back(v[static_cast<std::size_t>(n)]);
          } catch (const std::exception&) {
          }
        }
      }
    } else {
      return {};
    }
    cur = std::move(next);
  }
  return cur;
}

Json PrinterCell(const Json& obj, const Json& column, Clock::time_point now) {
  auto values = JsonPath(obj, column.value("jsonPath", ""));
  if (values.empty()) return nullptr;
  std::string type = column.value("type", "string");
  if (type == "date")
    return values[0].is_string() ? Json(Since(values[0].get<std::string>(), now)) : Json(nullptr);
  if (values.size() == 1 && (type == "integer" || type == "number" || type == "boolean"))
    return values[0];
  std::vector<std::string> parts;
  for (const auto& v : values) parts.push_back(v.is_string() ? v.get<std::string>() : v.dump());
  return Join(parts, ",");
}

std::string PodStatus(const Json& pod) {
  const Json st = pod.value("status", Json::object());
  std::string reason = st.value("reason", st.value("phase", "Pending"));
  for (const auto& cs : st.value("containerStatuses", Json::array())) {
    const Json state = cs.value("state", Json::object());
    if (state.contains("waiting") && state["waiting"].contains("reason"))
      reason = state["waiting"]["reason"];
    if (state.contains("terminated")) {
      const Json& t = state["terminated"];
      reason = t.contains("reason") ? t["reason"].get<std::string>()
                                    : "ExitCode:" + std::to_string(t.value("exitCode", 0));
    }
  }
  if (pod["metadata"].contains("deletionTimestamp")) reason = "Terminating";
  return reason;
}

}  // namespace

Json TableOf(const ResourceType& rt, const std::vector<Json>& objs, std::uint64_t rv,
             const std::string& include_object) {
  const Clock::time_point now = SimWallNow();
  const std::string key = rt.group + "/" + rt.plural;
  std::vector<Column> cols;
  auto col = [&](const char* name, const char* type = "string", int prio = 0,
                 const char* desc = "") {
    cols.push_back({name, type, prio, desc});
  };
  bool name_first = key != "/events";
  bool crd = key == "apiextensions.k8s.io/customresourcedefinitions";
  if (name_first) col("Name", "string", 0, "Name must be unique within a namespace.");
  const Json printer = rt.printer_columns;
  bool custom = !rt.builtin && printer.is_array() && !printer.empty();
  if (custom) {
    for (const auto& c : printer) {
      cols.push_back({c.value("name", ""), c.value("type", "string"), c.value("priority", 0),
                      c.value("description", "")});
    }
  } else if (key == "apps/deployments") {
    col("Ready");
    col("Up-to-date", "integer");
    col("Available", "integer");
  } else if (key == "apps/replicasets") {
    col("Desired", "integer");
    col("Current", "integer");
    col("Ready", "integer");
  } else if (key == "apps/statefulsets") {
    col("Ready");
  } else if (key == "apps/daemonsets") {
    col("Desired", "integer");
    col("Current", "integer");
    col("Ready", "integer");
    col("Up-to-date", "integer");
    col("Available", "integer");
    col("Node Selector");
  } else if (key == "/pods") {
    col("Ready");
    col("Status");
    col("Restarts");
  } else if (key == "/configmaps") {
    col("Data", "integer");
  } else if (key == "/secrets") {
    col("Type");
    col("Data", "integer");
  } else if (key == "/serviceaccounts") {
    col("Secrets", "integer");
  } else if (key == "/namespaces") {
    col("Status");
  } else if (key == "/services") {
    col("Type");
    col("Cluster-IP");
    col("External-IP");
    col("Port(s)");
  } else if (key == "/endpoints") {
    col("Endpoints");
  } else if (key == "discovery.k8s.io/endpointslices") {
    col("AddressType");
    col("Ports");
    col("Endpoints");
  } else if (key == "autoscaling/horizontalpodautoscalers") {
    col("Reference");
    col("Targets");
    col("MinPods");
    col("MaxPods", "integer");
    col("Replicas", "integer");
  } else if (key == "/nodes") {
    col("Status");
    col("Roles");
  } else if (key == "batch/jobs") {
    col("Status");
    col("Completions");
    col("Duration");
  } else if (key == "batch/cronjobs") {
    col("Schedule");
    col("Timezone");
    col("Suspend", "boolean");
    col("Active", "integer");
    col("Last Schedule");
  } else if (key == "networking.k8s.io/ingresses") {
    col("Class");
    col("Hosts");
    col("Address");
    col("Ports");
  } else if (key == "/events") {
    col("Last Seen");
    col("Type");
    col("Reason");
    col("Object");
    col("Subobject", "string", 1);
    col("Source", "string", 1);
    col("Message");
    col("First Seen", "string", 1);
    col("Count", "integer", 1);
    col("Name", "string", 1);
  }
  if (!custom && key != "/events")
    col("Age", "string", 0,
        "CreationTimestamp is a timestamp representing the server time when this object was "
        "created.");
  bool workload = key == "apps/deployments" || key == "apps/replicasets" ||
                  key == "apps/statefulsets" || key == "apps/daemonsets" || key == "batch/jobs" ||
                  key == "batch/cronjobs";
  if (!custom && workload) {
    col("Containers", "string", 1);
    col("Images", "string", 1);
    if (key != "apps/statefulsets") col("Selector", "string", 1);
  } else if (key == "/pods") {
    col("IP", "string", 1);
    col("Node", "string", 1);
    col("Nominated Node", "string", 1);
    col("Readiness Gates", "string", 1);
  } else if (key == "/services") {
    col("Selector", "string", 1);
  } else if (key == "/nodes") {
    col("Version");
    col("Internal-IP", "string", 1);
    col("External-IP", "string", 1);
    col("OS-Image", "string", 1);
    col("Kernel-Version", "string", 1);
    col("Container-Runtime", "string", 1);
  }

  Json rows = Json::array();
  for (const auto& o : objs) {
    const Json& meta = o["metadata"];
    const Json st = o.value("status", Json::object());
    const Json sp = o.value("spec", Json::object());
    const std::string age = Since(meta.value("creationTimestamp", ""), now);
    Json cells = Json::array();
    if (name_first) cells.push_back(meta.value("name", ""));
    if (custom) {
      for (const auto& c : printer) cells.push_back(PrinterCell(o, c, now));
    } else if (key == "apps/deployments") {
      cells.push_back(std::to_string(st.value("readyReplicas", 0)) + "/" +
                      std::to_string(sp.value("replicas", 1)));
      cells.push_back(st.value("updatedReplicas", 0));
      cells.push_back(st.value("availableReplicas", 0));
    } else if (key == "apps/replicasets") {
      cells.push_back(sp.value("replicas", 1));
      cells.push_back(st.value("replicas", 0));
      cells.push_back(st.value("readyReplicas", 0));
    } else if (key == "apps/statefulsets") {
      cells.push_back(std::to_string(st.value("readyReplicas", 0)) + "/" +
                      std::to_string(sp.value("replicas", 1)));
    } else if (key == "apps/daemonsets") {
      for (const char* f : {"desiredNumberScheduled", "currentNumberScheduled", "numberReady",
                            "updatedNumberScheduled", "numberAvailable"}) {
        cells.push_back(st.value(f, 0));
      }
      Json selector = sp.value("template", Json::object())
                          .value("spec", Json::object())
                          .value("nodeSelector", Json::object());
      cells.push_back(selector.empty() ? "<none>" : SelectorText(selector));
    } else if (key == "/pods") {
      int ready = 0, total = 0, restarts = 0;
      for (const auto& cs : st.value("containerStatuses", Json::array())) {
        total++;
        if (cs.value("ready", false)) ready++;
        restarts += cs.value("restartCount", 0);
      }
      if (total == 0) total = static_cast<int>(sp.value("containers", Json::array()).size());
      cells.push_back(std::to_string(ready) + "/" + std::to_string(total));
      cells.push_back(PodStatus(o));
      cells.push_back(std::to_string(restarts));
    } else if (key == "/configmaps") {
      cells.push_back(o.value("data", Json::object()).size() +
                      o.value("binaryData", Json::object()).size());
    } else if (key == "/secrets") {
      cells.push_back(o.value("type", "Opaque"));
      cells.push_back(o.value("data", Json::object()).size());
    } else if (key == "/serviceaccounts") {
      cells.push_back(o.value("secrets", Json::array()).size());
    } else if (key == "/namespaces") {
      cells.push_back(st.value("phase", "Active"));
    } else if (key == "/services") {
      std::string type = sp.value("type", "ClusterIP");
      cells.push_back(type);
      cells.push_back(OrNone(sp.value("clusterIP", "")));
      std::vector<std::string> external = sp.value("externalIPs", std::vector<std::string>{});
      for (const auto& ing :
           st.value("loadBalancer", Json::object()).value("ingress", Json::array())) {
        external.push_back(ing.value("ip", ing.value("hostname", "")));
      }
      std::string ext = type == "ExternalName" ? sp.value("externalName", "") : Join(external, ",");
      cells.push_back(ext.empty() ? (type == "LoadBalancer" ? "<pending>" : "<none>") : ext);
      std::vector<std::string> ports;
      for (const auto& p : sp.value("ports", Json::array())) {
        std::string port = std::to_string(p.value("port", 0));
        if (p.contains("nodePort")) port += ":" + std::to_string(p.value("nodePort", 0));
        ports.push_back(port + "/" + p.value("protocol", "TCP"));
      }
      cells.push_back(ports.empty() ? "<none>" : Join(ports, ","));
    } else if (key == "/endpoints") {
      // Ports outer, addresses inner; three at most, then " + N more...".
      const Json subsets = o.value("subsets", Json::array());
      std::vector<std::string> eps;
      std::size_t count = 0;
      for (const auto& subset : subsets) {
        const Json addresses = subset.value("addresses", Json::array());
        const Json ports = subset.value("ports", Json::array());
        for (std::size_t i = 0; i < std::max<std::size_t>(ports.size(), 1); ++i) {
          count += addresses.size();
          for (const auto& a : addresses) {
            if (eps.size() == 3) break;
            std::string ip = a.value("ip", "");
            if (ip.find(':') != std::string::npos && !ports.empty()) ip = "[" + ip + "]";
            eps.push_back(ports.empty() ? ip
                                        : ip + ":" + std::to_string(ports[i].value("port", 0)));
          }
        }
      }
      std::string text = Join(eps, ",");
      if (count > eps.size()) text += " + " + std::to_string(count - eps.size()) + " more...";
      cells.push_back(subsets.empty() ? "<none>" : text);
    } else if (key == "discovery.k8s.io/endpointslices") {
      cells.push_back(o.value("addressType", ""));
      auto limited = [](const std::vector<std::string>& all) {
        if (all.empty()) return std::string("<unset>");
        std::vector<std::string> head(
            all.begin(), all.begin() + static_cast<long>(std::min<std::size_t>(all.size(), 3)));
        std::string text = Join(head, ",");
        if (all.size() > 3) text += " + " + std::to_string(all.size() - 3) + " more...";
        return text;
      };
      std::vector<std::string> ports, addresses;
      for (const auto& p : o.value("ports", Json::array()))
        ports.push_back(p.contains("port") ? std::to_string(p.value("port", 0)) : "<unset>");
      for (const auto& e : o.value("endpoints", Json::array())) {
        for (const auto& a : e.value("addresses", Json::array()))
          addresses.push_back(a.get<std::string>());
      }
      cells.push_back(limited(ports));
      cells.push_back(limited(addresses));
    } else if (key == "autoscaling/horizontalpodautoscalers") {
      const Json ref = sp.value("scaleTargetRef", Json::object());
      cells.push_back(ref.value("kind", "") + "/" + ref.value("name", ""));
      // autoscaling/v1 objects carry targetCPUUtilizationPercentage, v2 ones metrics.
      std::vector<std::string> targets;
      if (sp.contains("targetCPUUtilizationPercentage")) {
        Json current = st.value("currentCPUUtilizationPercentage", Json());
        targets.push_back(
            "cpu: " +
            (current.is_number() ? std::to_string(current.get<int>()) + "%" : "<unknown>") + "/" +
            std::to_string(sp.value("targetCPUUtilizationPercentage", 0)) + "%");
      }
      for (const auto& m : sp.value("metrics", Json::array())) {
        const Json res = m.value("resource", m.value("containerResource", Json::object()));
        const Json target = res.value("target", Json::object());
        std::string want =
            target.contains("averageUtilization")
                ? std::to_string(target.value("averageUtilization", 0)) + "%"
                : target.value("averageValue", target.value("value", Json("<unknown>"))).dump();
        if (!want.empty() && want.front() == '"') want = want.substr(1, want.size() - 2);
        if (res.contains("name"))
          targets.push_back(res.value("name", "") + ": <unknown>/" + want);
        else
          targets.push_back("<unknown>/" + want);
      }
      std::string text = targets.empty() ? "<none>" : targets[0];
      if (targets.size() > 1) text += " + " + std::to_string(targets.size() - 1) + " more...";
      cells.push_back(text);
      cells.push_back(sp.contains("minReplicas") ? std::to_string(sp.value("minReplicas", 1))
                                                 : "<unset>");
      cells.push_back(sp.value("maxReplicas", 0));
      cells.push_back(st.value("currentReplicas", 0));
    } else if (key == "/nodes") {
      std::string ready = "Unknown";
      for (const auto& c : st.value("conditions", Json::array())) {
        if (c.value("type", "") == "Ready")
          ready = c.value("status", "") == "True" ? "Ready" : "NotReady";
      }
      if (sp.value("unschedulable", false)) ready += ",SchedulingDisabled";
      cells.push_back(ready);
      std::vector<std::string> roles;
      const Json labels = meta.value("labels", Json::object());
      for (auto it = labels.begin(); it != labels.end(); ++it) {
        if (it.key().rfind("node-role.kubernetes.io/", 0) == 0)
          roles.push_back(it.key().substr(24));
      }
      cells.push_back(roles.empty() ? "<none>" : Join(roles, ","));
    } else if (key == "batch/jobs") {
      std::string status = "Running";
      for (const auto& cond : st.value("conditions", Json::array())) {
        if (cond.value("status", "") != "True") continue;
        std::string type = cond.value("type", "");
        if (type == "Complete" || type == "Failed" || type == "Suspended") status = type;
        if (type == "FailureTarget") status = "FailureTarget";
        if (type == "SuccessCriteriaMet" && status == "Running") status = "SuccessCriteriaMet";
      }
      cells.push_back(status);
      cells.push_back(std::to_string(st.value("succeeded", 0)) + "/" +
                      std::to_string(sp.value("completions", 1)));
      std::string start = st.value("startTime", "");
      std::string end = st.value("completionTime", "");
      cells.push_back(start.empty() ? "" : end.empty() ? Since(start, now) : Between(start, end));
    } else if (key == "batch/cronjobs") {
      cells.push_back(sp.value("schedule", ""));
      cells.push_back(OrNone(sp.value("timeZone", "")));
      cells.push_back(sp.value("suspend", false));
      cells.push_back(st.value("active", Json::array()).size());
      std::string last = st.value("lastScheduleTime", "");
      cells.push_back(last.empty() ? "<none>" : Since(last, now));
    } else if (key == "networking.k8s.io/ingresses") {
      cells.push_back(OrNone(sp.value("ingressClassName", "")));
      std::vector<std::string> hosts;
      for (const auto& r : sp.value("rules", Json::array())) {
        if (r.contains("host")) hosts.push_back(r["host"]);
      }
      cells.push_back(hosts.empty() ? "*" : Join(hosts, ","));
      std::vector<std::string> addresses;
      for (const auto& ing :
           st.value("loadBalancer", Json::object()).value("ingress", Json::array())) {
        addresses.push_back(ing.value("ip", ing.value("hostname", "")));
      }
      cells.push_back(Join(addresses, ","));
      cells.push_back(sp.value("tls", Json::array()).empty() ? "80" : "80, 443");
    } else if (key == "/events") {
      const Json inv = o.value("involvedObject", Json::object());
      std::string last =
          o.value("lastTimestamp", Json()).is_string() ? o["lastTimestamp"].get<std::string>()
          : o.value("eventTime", Json()).is_string()   ? o["eventTime"].get<std::string>()
                                                       : "";
      std::string kind = inv.value("kind", "");
      for (auto& ch : kind) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      cells.push_back(last.empty() ? "<unknown>" : Since(last, now));
      cells.push_back(o.value("type", ""));
      cells.push_back(o.value("reason", ""));
      cells.push_back(kind + "/" + inv.value("name", ""));
      cells.push_back(inv.value("fieldPath", ""));
      Json source = o.value("source", Json::object());
      cells.push_back(source.value("component", o.value("reportingComponent", "")));
      cells.push_back(o.value("message", ""));
      std::string first = o.value("firstTimestamp", Json()).is_string()
                              ? o["firstTimestamp"].get<std::string>()
                              : last;
      cells.push_back(first.empty() ? "<unknown>" : Since(first, now));
      cells.push_back(o.value("count", 1));
      cells.push_back(meta.value("name", ""));
    }
    if (crd) cells.push_back(meta.value("creationTimestamp", ""));
    if (!custom && !crd && key != "/events") cells.push_back(age);
    if (!custom && workload) {
      const Json tmpl = key == "batch/cronjobs" ? sp.value("jobTemplate", Json::object())
                                                      .value("spec", Json::object())
                                                      .value("template", Json::object())
                                                : sp.value("template", Json::object());
      const Json pod_spec = tmpl.value("spec", Json::object());
      cells.push_back(Containers(pod_spec, "name"));
      cells.push_back(Containers(pod_spec, "image"));
      if (key != "apps/statefulsets") {
        Json selector = key == "batch/cronjobs" ? sp.value("jobTemplate", Json::object())
                                                      .value("spec", Json::object())
                                                      .value("selector", Json())
                                                : sp.value("selector", Json());
        cells.push_back(SelectorText(selector));
      }
    } else if (key == "/pods") {
      cells.push_back(OrNone(st.value("podIP", "")));
      cells.push_back(OrNone(sp.value("nodeName", "")));
      cells.push_back(OrNone(st.value("nominatedNodeName", "")));
      cells.push_back("<none>");
    } else if (key == "/services") {
      Json selector = sp.value("selector", Json());
      cells.push_back(selector.is_object() && !selector.empty() ? SelectorText(selector)
                                                                : "<none>");
    } else if (key == "/nodes") {
      const Json info = st.value("nodeInfo", Json::object());
      cells.push_back(info.value("kubeletVersion", ""));
      std::string internal = "<none>", external = "<none>";
      for (const auto& a : st.value("addresses", Json::array())) {
        if (a.value("type", "") == "InternalIP") internal = a.value("address", "");
        if (a.value("type", "") == "ExternalIP") external = a.value("address", "");
      }
      cells.push_back(internal);
      cells.push_back(external);
      cells.push_back(info.value("osImage", ""));
      cells.push_back(info.value("kernelVersion", ""));
      cells.push_back(info.value("containerRuntimeVersion", ""));
    }
    Json row{{"cells", cells}};
    if (include_object == "Object") {
      Json full = o;
      full["apiVersion"] = rt.GroupVersion();
      full["kind"] = rt.kind;
      row["object"] = full;
    } else if (include_object != "None") {
      row["object"] = {
          {"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}};
    }
    rows.push_back(row);
  }
  Json columns = Json::array();
  for (const auto& c : cols) {
    columns.push_back({{"name", c.name},
                       {"type", c.type},
                       {"format", c.name == "Name" && c.priority == 0 ? "name" : ""},
                       {"description", c.description},
                       {"priority", c.priority}});
  }
  return Json{{"kind", "Table"},
              {"apiVersion", "meta.k8s.io/v1"},
              {"metadata", {{"resourceVersion", std::to_string(rv)}}},
              {"columnDefinitions", columns},
              {"rows", rows}};
}

}  // namespace kubesim
