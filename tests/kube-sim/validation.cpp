// Validation of the common mistakes in built-in kinds, with kube-apiserver's field paths and
// texts (pkg/apis/core/validation and friends): pod specs (restart policy per kind, container
// ports and port names, image pull policy, volumes and volume mounts), Services (type, ports,
// target ports, the immutable cluster IP), ConfigMap and Secret keys, Secret types, immutable
// ConfigMaps/Secrets, Deployment strategies. Decoding errors (Secret/ConfigMap base64) are 400s.
#include <algorithm>
#include <optional>
#include <regex>
#include <set>

#include "internal.hpp"

namespace kubesim {
namespace {

std::string GoValue(const Json& v) {
  return v.is_string() ? Quote(v.get<std::string>()) : v.dump();
}

void Add(std::vector<FieldError>& errs, const char* type, const std::string& field,
         const std::string& body) {
  errs.push_back({type, field, body});
}

void NotSupported(std::vector<FieldError>& errs, const std::string& field, const Json& value,
                  const std::vector<std::string>& allowed) {
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + Quote(a);
  Add(errs, "FieldValueNotSupported", field,
      "Unsupported value: " + GoValue(value) + ": supported values: " + list);
}

const char* kPortRange = "must be between 1 and 65535, inclusive";
const char* kDns1123Label =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const char* kConfigKey =
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', "
    " "
    "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

// IANA_SVC_NAME (validation.IsValidPortName): one message per broken rule.
std::vector<std::string> PortNameErrors(const std::string& name) {
  static const std::regex kCharset("^[-a-z0-9]+$");
  static const std::regex kLetter("[a-z]");
  std::vector<std::string> out;
  if (name.size() > 15) out.emplace_back("must be no more than 15 characters");
  if (!std::regex_match(name, kCharset)) {
    out.emplace_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  }
  if (!std::regex_search(name, kLetter)) out.emplace_back("must contain at least one letter (a-z)");
  if (name.find("--") != std::string::npos)
    out.emplace_back("must not contain consecutive hyphens");
  if (!name.empty() && (name.front() == '-' || name.back() == '-')) {
    out.emplace_back("must not begin or end with a hyphen");
  }
  return out;
}

bool ValidPort(const Json& v) {
  return v.is_number_integer() && v.get<std::int64_t>() >= 1 && v.get<std::int64_t>() <= 65535;
}

void ConfigKeys(std::vector<FieldError>& errs, const Json& obj, const char* field) {
  static const std::regex kKey("[-._a-zA-Z0-9]+");
  if (!obj.contains(field) || !obj[field].is_object()) return;
  for (auto it = obj[field].begin(); it != obj[field].end(); ++it) {
    const std::string& key = it.key();
    std::string path = std::string(field) + "[" + key + "]";
    std::string bad = "Invalid value: " + Quote(key) + ": ";
    if (key.size() > 253)
      Add(errs, "FieldValueInvalid", path, bad + "must be no more than 253 characters");
    if (!std::regex_match(key, kKey)) Add(errs, "FieldValueInvalid", path, bad + kConfigKey);
    if (key == ".")
      Add(errs, "FieldValueInvalid", path, bad + "must not be '.'");
    else if (key == "..")
      Add(errs, "FieldValueInvalid", path, bad + "must not be '..'");
    else if (key.rfind("..", 0) == 0)
      Add(errs, "FieldValueInvalid", path, bad + "must not start with '..'");
  }
}

void Immutable(std::vector<FieldError>& errs, const Json& obj, const Json* old,
               std::initializer_list<const char*> fields) {
  if (old == nullptr || !old->value("immutable", false)) return;
  if (!obj.value("immutable", false)) {
    Add(errs, "FieldValueForbidden", "immutable",
        "Forbidden: field is immutable when `immutable` is set");
  }
  for (const char* f : fields) {
    if (obj.value(f, Json()) != old->value(f, Json())) {
      Add(errs, "FieldValueForbidden", f, "Forbidden: field is immutable when `immutable` is set");
    }
  }
}

void ValidateContainers(std::vector<FieldError>& errs, const Json& spec, const std::string& prefix,
                        const char* list, const std::set<std::string>& volumes,
                        bool names_and_images) {
  const Json containers = spec.value(list, Json::array());
  if (!containers.is_array()) return;
  for (std::size_t i = 0; i < containers.size(); ++i) {
    const Json& c = containers[i];
    if (!c.is_object()) continue;
    std::string base = prefix + "." + list + "[" + std::to_string(i) + "]";
    if (names_and_images) {
      if (c.value("name", "").empty())
        Add(errs, "FieldValueRequired", base + ".name", "Required value");
      if (std::string(list) != "ephemeralContainers" && c.value("image", "").empty()) {
        Add(errs, "FieldValueRequired", base + ".image", "Required value");
      }
    }
    std::set<std::string> port_names;
    const Json ports = c.value("ports", Json::array());
    for (std::size_t j = 0; j < ports.size() && ports.is_array(); ++j) {
      const Json& p = ports[j];
      std::string pp = base + ".ports[" + std::to_string(j) + "]";
      if (p.contains("name") && p["name"].is_string() && !p["name"].get<std::string>().empty()) {
        std::string name = p["name"].get<std::string>();
        for (const auto& msg : PortNameErrors(name))
          Add(errs, "FieldValueInvalid", pp + ".name",
              "Invalid value: " + Quote(name) + ": " + msg);
        if (!port_names.insert(name).second)
          Add(errs, "FieldValueDuplicate", pp + ".name", "Duplicate value: " + Quote(name));
      }
      if (!p.contains("containerPort") || p["containerPort"] == 0) {
        Add(errs, "FieldValueRequired", pp + ".containerPort", "Required value");
      } else if (!ValidPort(p["containerPort"])) {
        Add(errs, "FieldValueInvalid", pp + ".containerPort",
            "Invalid value: " + p["containerPort"].dump() + ": " + kPortRange);
      }
      if (p.contains("hostPort") && p["hostPort"] != 0 && !ValidPort(p["hostPort"])) {
        Add(errs, "FieldValueInvalid", pp + ".hostPort",
            "Invalid value: " + p["hostPort"].dump() + ": " + kPortRange);
      }
      if (p.contains("protocol")) {
        const Json& proto = p["protocol"];
        if (proto != "TCP" && proto != "UDP" && proto != "SCTP")
          NotSupported(errs, pp + ".protocol", proto, {"SCTP", "TCP", "UDP"});
      }
    }
    std::set<std::string> mount_paths;
    const Json mounts = c.value("volumeMounts", Json::array());
    for (std::size_t j = 0; j < mounts.size() && mounts.is_array(); ++j) {
      const Json& m = mounts[j];
      std::string mp = base + ".volumeMounts[" + std::to_string(j) + "]";
      std::string name = m.value("name", "");
      if (name.empty()) {
        Add(errs, "FieldValueRequired", mp + ".name", "Required value");
      } else if (volumes.count(name) == 0) {
        Add(errs, "FieldValueNotFound", mp + ".name", "Not found: " + Quote(name));
      }
      std::string path = m.value("mountPath", "");
      if (path.empty()) {
        Add(errs, "FieldValueRequired", mp + ".mountPath", "Required value");
      } else if (!mount_paths.insert(path).second) {
        Add(errs, "FieldValueInvalid", mp + ".mountPath",
            "Invalid value: " + Quote(path) + ": must be unique");
      }
    }
    if (c.contains("imagePullPolicy")) {
      const Json& policy = c["imagePullPolicy"];
      if (policy != "Always" && policy != "IfNotPresent" && policy != "Never") {
        NotSupported(errs, base + ".imagePullPolicy", policy, {"Always", "IfNotPresent", "Never"});
      }
    }
  }
}

// `restart`: the restart policies the owning kind allows.
void ValidatePodSpec(std::vector<FieldError>& errs, const Json& spec, const std::string& prefix,
                     const std::vector<std::string>& restart, bool names_and_images) {
  static const std::regex kLabel("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  std::set<std::string> volumes;
  const Json vols = spec.value("volumes", Json::array());
  for (std::size_t i = 0; i < vols.size() && vols.is_array(); ++i) {
    const Json& v = vols[i];
    std::string vp = prefix + ".volumes[" + std::to_string(i) + "]";
    std::string name = v.value("name", "");
    if (name.empty()) {
      Add(errs, "FieldValueRequired", vp + ".name", "Required value");
    } else if (!std::regex_match(name, kLabel) || name.size() > 63) {
      Add(errs, "FieldValueInvalid", vp + ".name",
          "Invalid value: " + Quote(name) + ": " + kDns1123Label);
    } else if (!volumes.insert(name).second) {
      Add(errs, "FieldValueDuplicate", vp + ".name", "Duplicate value: " + Quote(name));
    }
    bool source = false;
    for (auto it = v.begin(); it != v.end() && v.is_object(); ++it)
      source = source || it.key() != "name";
    if (!source) Add(errs, "FieldValueRequired", vp, "Required value: must specify a volume type");
  }
  ValidateContainers(errs, spec, prefix, "initContainers", volumes, names_and_images);
  ValidateContainers(errs, spec, prefix, "containers", volumes, names_and_images);
  if (spec.contains("restartPolicy")) {
    const Json& policy = spec["restartPolicy"];
    if (std::find(restart.begin(), restart.end(),
                  policy.is_string() ? policy.get<std::string>() : "") == restart.end()) {
      NotSupported(errs, prefix + ".restartPolicy", policy, restart);
    }
  }
  if (spec.contains("dnsPolicy")) {
    const Json& dns = spec["dnsPolicy"];
    if (dns != "ClusterFirstWithHostNet" && dns != "ClusterFirst" && dns != "Default" &&
        dns != "None") {
      NotSupported(errs, prefix + ".dnsPolicy", dns,
                   {"ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"});
    }
  }
}

void ValidateService(std::vector<FieldError>& errs, const Json& svc, const Json* old) {
  static const std::regex kLabel("[a-z0-9]([-a-z0-9]*[a-z0-9])?");
  const Json spec = svc.value("spec", Json::object());
  const Json& type = spec.contains("type") ? spec["type"] : Json("ClusterIP");
  if (type != "ClusterIP" && type != "ExternalName" && type != "LoadBalancer" &&
      type != "NodePort") {
    NotSupported(errs, "spec.type", type,
                 {"ClusterIP", "ExternalName", "LoadBalancer", "NodePort"});
  }
  const Json ports = spec.value("ports", Json::array());
  bool headless = spec.value("clusterIP", "") == "None";
  if (type != "ExternalName" && !headless && (!ports.is_array() || ports.empty())) {
    Add(errs, "FieldValueRequired", "spec.ports", "Required value");
  }
  std::set<std::string> names;
  for (std::size_t i = 0; i < ports.size() && ports.is_array(); ++i) {
    const Json& p = ports[i];
    std::string pp = "spec.ports[" + std::to_string(i) + "]";
    std::string name = p.value("name", "");
    if (name.empty()) {
      if (ports.size() > 1) Add(errs, "FieldValueRequired", pp + ".name", "Required value");
    } else {
      if (!std::regex_match(name, kLabel) || name.size() > 63) {
        Add(errs, "FieldValueInvalid", pp + ".name",
            "Invalid value: " + Quote(name) + ": " + kDns1123Label);
      }
      if (!names.insert(name).second)
        Add(errs, "FieldValueDuplicate", pp + ".name", "Duplicate value: " + Quote(name));
    }
    if (!ValidPort(p.value("port", Json(0)))) {
      Add(errs, "FieldValueInvalid", pp + ".port",
          "Invalid value: " + p.value("port", Json(0)).dump() + ": " + kPortRange);
    }
    if (p.contains("protocol")) {
      const Json& proto = p["protocol"];
      if (proto != "TCP" && proto != "UDP" && proto != "SCTP")
        NotSupported(errs, pp + ".protocol", proto, {"SCTP", "TCP", "UDP"});
    }
    if (p.contains("targetPort")) {
      const Json& target = p["targetPort"];
      if (target.is_string()) {
        for (const auto& msg : PortNameErrors(target.get<std::string>())) {
          Add(errs, "FieldValueInvalid", pp + ".targetPort",
              "Invalid value: " + Quote(target.get<std::string>()) + ": " + msg);
        }
      } else if (!ValidPort(target)) {
        Add(errs, "FieldValueInvalid", pp + ".targetPort",
            "Invalid value: " + target.dump() + ": " + kPortRange);
      }
    }
    if (p.contains("nodePort") && p["nodePort"] != 0) {
      const Json& np = p["nodePort"];
      if (!np.is_number_integer() || np.get<std::int64_t>() < 30000 ||
          np.get<std::int64_t>() > 32767) {
        Add(errs, "FieldValueInvalid", pp + ".nodePort",
            "Invalid value: " + np.dump() +
                ": provided port is not in the valid range. The range of valid ports is "
                "30000-32767");
      }
    }
  }
  if (old != nullptr && old->contains("spec")) {
    std::string before = (*old)["spec"].value("clusterIP", "");
    std::string now = spec.value("clusterIP", "");
    if (!before.empty() && before != "None" && !now.empty() && now != before &&
        type != "ExternalName") {
      std::string list = "[]string{";
      const Json ips = spec.value("clusterIPs", Json::array({now}));
      for (std::size_t i = 0; i < ips.size(); ++i) list += (i ? ", " : "") + GoValue(ips[i]);
      Add(errs, "FieldValueInvalid", "spec.clusterIPs[0]",
          "Invalid value: " + list + "}: may not change once set");
    }
  }
}

void ValidateSecret(std::vector<FieldError>& errs, const Json& secret, const Json* old) {
  ConfigKeys(errs, secret, "data");
  std::string type = secret.value("type", "Opaque");
  const Json data = secret.value("data", Json::object());
  auto require = [&](const char* key) {
    if (!data.contains(key))
      Add(errs, "FieldValueRequired", std::string("data[") + key + "]", "Required value");
  };
  if (type == "kubernetes.io/tls") {
    require("tls.crt");
    require("tls.key");
  } else if (type == "kubernetes.io/dockerconfigjson") {
    require(".dockerconfigjson");
  } else if (type == "kubernetes.io/dockercfg") {
    require(".dockercfg");
  } else if (type == "kubernetes.io/ssh-auth") {
    require("ssh-privatekey");
  }
  if (old != nullptr && old->value("type", "Opaque") != type) {
    Add(errs, "FieldValueInvalid", "type",
        "Invalid value: " + Quote(type) + ": field is immutable");
  }
  Immutable(errs, secret, old, {"data"});
}

// Go's base64.StdEncoding: the offset of the first bad byte (line breaks are skipped).
std::optional<std::size_t> Base64Error(const std::string& s) {
  auto valid = [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '+' || ch == '/';
  };
  std::size_t i = 0;
  for (;;) {
    std::size_t got = 0;
    while (got < 4) {
      while (i < s.size() && (s[i] == '\n' || s[i] == '\r')) ++i;
      if (i == s.size()) {
        if (got == 0) return std::nullopt;
        return i - got;
      }
      char ch = s[i];
      if (ch == '=') {
        if (got < 2) return i;
        // "xx==" or "xxx=": the rest must be padding, then the end.
        std::size_t need = 4 - got;
        for (std::size_t k = 0; k < need; ++k) {
          while (i < s.size() && (s[i] == '\n' || s[i] == '\r')) ++i;
          if (i == s.size()) return i;
          if (s[i] != '=') return i;
          ++i;
        }
        while (i < s.size() && (s[i] == '\n' || s[i] == '\r')) ++i;
        if (i < s.size()) return i;
        return std::nullopt;
      }
      if (!valid(ch)) return i;
      ++i;
      ++got;
    }
  }
}

void CheckBase64(const ResourceType& rt, const Json& obj, const char* field) {
  if (!obj.contains(field) || !obj[field].is_object()) return;
  for (auto it = obj[field].begin(); it != obj[field].end(); ++it) {
    if (!it.value().is_string()) continue;
    if (auto at = Base64Error(it.value().get<std::string>())) {
      throw BadRequestError(rt.kind + " in version " + Quote(rt.version) +
                            " cannot be handled as a " + rt.kind +
                            ": illegal base64 data at input byte " + std::to_string(*at));
    }
  }
}

}  // namespace

void CheckBuiltinDecoding(const ResourceType& rt, const Json& obj) {
  if (!rt.builtin || !rt.group.empty()) return;
  if (rt.plural == "secrets") CheckBase64(rt, obj, "data");
  if (rt.plural == "configmaps") CheckBase64(rt, obj, "binaryData");
}

std::vector<FieldError> ValidateBuiltinKind(const ResourceType& rt, const Json& obj,
                                            const Json* old) {
  std::vector<FieldError> errs;
  if (!rt.builtin) return errs;
  const std::string key = rt.group + "/" + rt.plural;
  const Json spec = obj.value("spec", Json::object());
  auto template_spec = [](const Json& s) {
    return s.value("template", Json::object()).value("spec", Json::object());
  };
  if (key == "/configmaps") {
    ConfigKeys(errs, obj, "data");
    ConfigKeys(errs, obj, "binaryData");
    const Json data = obj.value("data", Json::object());
    const Json binary = obj.value("binaryData", Json::object());
    for (auto it = data.begin(); it != data.end() && data.is_object(); ++it) {
      if (binary.is_object() && binary.contains(it.key())) {
        Add(errs, "FieldValueInvalid", "data[" + it.key() + "]",
            "Invalid value: " + Quote(it.key()) + ": duplicate of key present in binaryData");
      }
    }
    Immutable(errs, obj, old, {"data", "binaryData"});
  } else if (key == "/secrets") {
    ValidateSecret(errs, obj, old);
  } else if (key == "/services") {
    ValidateService(errs, obj, old);
  } else if (key == "/pods") {
    ValidatePodSpec(errs, spec, "spec", {"Always", "OnFailure", "Never"}, true);
  } else if (key == "apps/deployments" || key == "apps/replicasets" || key == "apps/statefulsets" ||
             key == "apps/daemonsets") {
    ValidatePodSpec(errs, template_spec(spec), "spec.template.spec", {"Always"}, false);
    if (key == "apps/deployments" && spec.contains("strategy") && spec["strategy"].is_object()) {
      const Json& strategy = spec["strategy"];
      const Json& type = strategy.contains("type") ? strategy["type"] : Json("RollingUpdate");
      if (type != "Recreate" && type != "RollingUpdate") {
        NotSupported(errs, "spec.strategy.type", type, {"Recreate", "RollingUpdate"});
      } else if (type == "Recreate" && strategy.contains("rollingUpdate") &&
                 !strategy["rollingUpdate"].is_null()) {
        Add(errs, "FieldValueForbidden", "spec.strategy.rollingUpdate",
            "Forbidden: may not be specified when strategy `type` is 'Recreate'");
      }
    }
  } else if (key == "batch/jobs") {
    ValidatePodSpec(errs, template_spec(spec), "spec.template.spec", {"OnFailure", "Never"}, false);
  } else if (key == "batch/cronjobs") {
    const Json job = spec.value("jobTemplate", Json::object()).value("spec", Json::object());
    ValidatePodSpec(errs, template_spec(job), "spec.jobTemplate.spec.template.spec",
                    {"OnFailure", "Never"}, true);
  }
  return errs;
}

}  // namespace kubesim
