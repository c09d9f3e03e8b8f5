// kube-sim request handling: authentication, RBAC, impersonation, discovery routes, objects
// (create/get/list/update/patch/apply/delete), watch, tables, reviews and the control API.
#include <algorithm>
#include <random>
#include <regex>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "state.hpp"

namespace kubesim {
namespace {

constexpr const char* kJson = "application/json";
constexpr const char* kTableType = "application/json;as=Table;v=v1;g=meta.k8s.io";

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool StartsWith(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path) {
    if (c == '/') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

HttpResponse JsonResponse(int status, const Json& body, const std::string& type = kJson) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("Content-Type", type);
  r.SetHeader("Cache-Control", "no-cache, private");
  r.body = body.dump();
  return r;
}

HttpResponse TextNotFound() {
  HttpResponse r;
  r.status = 404;
  r.SetHeader("Content-Type", "text/plain; charset=utf-8");
  r.SetHeader("X-Content-Type-Options", "nosniff");
  r.body = "404 page not found\n";
  return r;
}

HttpResponse ErrorResponse(const ApiError& e) {
  HttpResponse r = JsonResponse(e.code, e.status);
  for (const auto& [k, v] : e.headers) r.SetHeader(k, v);
  return r;
}

std::string ForbiddenReason(const Identity& who, const Attributes& a) {
  if (!a.resource_request)
    return "User \"" + who.user + "\" cannot " + a.verb + " path \"" + a.path + "\"";
  std::string res = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
  std::string out = "User \"" + who.user + "\" cannot " + a.verb + " resource \"" + res +
                    "\" in API group \"" + a.group + "\"";
  out += a.ns.empty() ? " at the cluster scope" : " in the namespace \"" + a.ns + "\"";
  return out;
}

ApiError ForbiddenError(const Identity& who, const Attributes& a) {
  std::string reason = ForbiddenReason(who, a);
  Json details = Json::object();
  std::string qualified;
  if (a.resource_request) {
    qualified = a.group.empty() ? a.resource : a.resource + "." + a.group;
    if (!a.name.empty()) details["name"] = a.name;
    if (!a.group.empty()) details["group"] = a.group;
    details["kind"] = a.resource;
  }
  std::string msg;
  if (qualified.empty()) {
    msg = "forbidden: " + reason;
  } else if (a.name.empty()) {
    msg = qualified + " is forbidden: " + reason;
  } else {
    msg = qualified + " \"" + a.name + "\" is forbidden: " + reason;
  }
  return MakeError(403, "Forbidden", msg, details);
}

bool MatchUrl(const std::string& pattern, const std::string& path) {
  if (pattern == "*") return true;
  if (!pattern.empty() && pattern.back() == '*')
    return StartsWith(path, pattern.substr(0, pattern.size() - 1));
  return pattern == path;
}

bool AcceptsTable(const HttpRequest& req) {
  std::string accept = req.Header("accept");
  return accept.find("as=Table") != std::string::npos;
}

// One media range of an Accept header: type/subtype and its parameters.
struct MediaRange {
  std::string type;
  std::map<std::string, std::string> params;
};

std::vector<MediaRange> ParseAccept(const std::string& accept) {
  std::vector<MediaRange> out;
  std::stringstream ranges(accept);
  std::string range;
  while (std::getline(ranges, range, ',')) {
    std::stringstream parts(range);
    std::string part;
    MediaRange m;
    bool first = true;
    while (std::getline(parts, part, ';')) {
      auto b = part.find_first_not_of(" \t");
      auto e = part.find_last_not_of(" \t");
      part = b == std::string::npos ? "" : part.substr(b, e - b + 1);
      if (first) {
        m.type = part;
        first = false;
      } else if (auto eq = part.find('='); eq != std::string::npos) {
        m.params[part.substr(0, eq)] = part.substr(eq + 1);
      }
    }
    if (!m.type.empty()) out.push_back(m);
  }
  return out;
}

// Content negotiation of /api and /apis: the first acceptable media range wins, as in
// kube-apiserver. Returns "v2" or "v2beta1" (aggregated), "" (the legacy documents), or
// nullopt when nothing offered is served.
std::optional<std::string> DiscoveryFormat(const HttpRequest& req) {
  std::string accept = req.Header("accept");
  if (accept.empty()) return "";
  for (const auto& m : ParseAccept(accept)) {
    bool json = m.type == "application/json" || m.type == "application/*" || m.type == "*/*";
    if (!json) continue;
    auto as = m.params.find("as");
    if (as == m.params.end()) return "";
    auto g = m.params.find("g");
    auto v = m.params.find("v");
    if (as->second == "APIGroupDiscoveryList" && g != m.params.end() &&
        g->second == "apidiscovery.k8s.io" && v != m.params.end() &&
        (v->second == "v2" || v->second == "v2beta1")) {
      return v->second;
    }
  }
  return std::nullopt;
}

// Accept must allow JSON (or anything).
bool AcceptsJson(const HttpRequest& req) {
  std::string accept = req.Header("accept");
  if (accept.empty()) return true;
  return accept.find("application/json") != std::string::npos ||
         accept.find("*/*") != std::string::npos ||
         accept.find("application/*") != std::string::npos;
}

// ---- selectors ---------------------------------------------------------------------------------

struct LabelRequirement {
  std::string key;
  std::string op;  // "=", "!=", "in", "notin", "exists", "!"
  std::vector<std::string> values;
};

std::string Trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  auto e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

std::vector<std::string> SplitTopLevel(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '(') depth++;
    if (c == ')') depth--;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  if (!cur.empty() || !out.empty()) out.push_back(cur);
  return out;
}

std::vector<LabelRequirement> ParseLabelSelector(const std::string& text) {
  std::vector<LabelRequirement> out;
  static const std::regex kSet(R"(^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$)");
  for (const auto& raw : SplitTopLevel(text)) {
    std::string part = Trim(raw);
    if (part.empty()) continue;
    LabelRequirement r;
    std::smatch m;
    if (std::regex_match(part, m, kSet)) {
      r.key = m[1].str();
      r.op = m[2].str();
      std::stringstream ss(m[3].str());
      std::string v;
      while (std::getline(ss, v, ',')) r.values.push_back(Trim(v));
    } else if (auto p = part.find("!="); p != std::string::npos) {
      r.key = Trim(part.substr(0, p));
      r.op = "!=";
      r.values = {Trim(part.substr(p + 2))};
    } else if (auto q = part.find("=="); q != std::string::npos) {
      r.key = Trim(part.substr(0, q));
      r.op = "=";
      r.values = {Trim(part.substr(q + 2))};
    } else if (auto e = part.find('='); e != std::string::npos) {
      r.key = Trim(part.substr(0, e));
      r.op = "=";
      r.values = {Trim(part.substr(e + 1))};
    } else if (part[0] == '!') {
      r.key = Trim(part.substr(1));
      r.op = "!";
    } else {
      r.key = part;
      r.op = "exists";
    }
    if (r.key.empty()) throw BadRequestError("unable to parse requirement: found '" + part + "'");
    out.push_back(r);
  }
  return out;
}

bool MatchLabels(const std::vector<LabelRequirement>& reqs, const Json& object) {
  const Json* labels = nullptr;
  if (object.contains("metadata") && object["metadata"].contains("labels"))
    labels = &object["metadata"]["labels"];
  for (const auto& r : reqs) {
    bool has = labels != nullptr && labels->contains(r.key);
    std::string val =
        has && (*labels)[r.key].is_string() ? (*labels)[r.key].get<std::string>() : "";
    if (r.op == "=" && (!has || val != r.values[0])) return false;
    if (r.op == "!=" && has && val == r.values[0]) return false;
    if (r.op == "in" && (!has || !Contains(r.values, val))) return false;
    if (r.op == "notin" && has && Contains(r.values, val)) return false;
    if (r.op == "exists" && !has) return false;
    if (r.op == "!" && has) return false;
  }
  return true;
}

struct FieldRequirement {
  std::string field;
  bool negate = false;
  std::string value;
};

std::vector<FieldRequirement> ParseFieldSelector(const std::string& text, const ResourceType& rt) {
  static const std::set<std::string> kCommon{"metadata.name", "metadata.namespace"};
  static const std::set<std::string> kEvent{"involvedObject.kind",
                                            "involvedObject.namespace",
                                            "involvedObject.name",
                                            "involvedObject.uid",
                                            "involvedObject.apiVersion",
                                            "involvedObject.resourceVersion",
                                            "involvedObject.fieldPath",
                                            "reason",
                                            "reportingComponent",
                                            "source",
                                            "type"};
  static const std::set<std::string> kPod{
      "spec.nodeName",    "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
      "spec.hostNetwork", "status.phase",       "status.podIP",       "status.nominatedNodeName"};
  std::vector<FieldRequirement> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) {
    part = Trim(part);
    if (part.empty()) continue;
    FieldRequirement r;
    std::size_t p;
    if ((p = part.find("!=")) != std::string::npos) {
      r.field = part.substr(0, p);
      r.negate = true;
      r.value = part.substr(p + 2);
    } else if ((p = part.find("==")) != std::string::npos) {
      r.field = part.substr(0, p);
      r.value = part.substr(p + 2);
    } else if ((p = part.find('=')) != std::string::npos) {
      r.field = part.substr(0, p);
      r.value = part.substr(p + 1);
    } else {
      throw BadRequestError(
          fmt::format("invalid selector: '{}'; can't understand '{}'", text, part));
    }
    bool ok = kCommon.count(r.field) != 0 ||
              (rt.plural == "events" && kEvent.count(r.field) != 0) ||
              (rt.plural == "pods" && rt.group.empty() && kPod.count(r.field) != 0) ||
              (rt.plural == "namespaces" && r.field == "status.phase") ||
              (rt.plural == "secrets" && r.field == "type") ||
              (rt.plural == "jobs" && r.field == "status.successful") ||
              (rt.plural == "replicasets" && r.field == "status.replicas");
    if (!ok) throw BadRequestError("field label not supported: " + r.field);
    out.push_back(r);
  }
  return out;
}

std::string FieldValue(const Json& object, const std::string& field) {
  if (field == "source") {
    if (object.contains("source") && object["source"].contains("component")) {
      return object["source"]["component"].get<std::string>();
    }
    return "";
  }
  const Json* cur = &object;
  std::stringstream ss(field);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (!cur->is_object() || !cur->contains(part)) return "";
    cur = &(*cur)[part];
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return "";
  return cur->dump();
}

bool MatchFields(const std::vector<FieldRequirement>& reqs, const Json& object) {
  for (const auto& r : reqs) {
    bool eq = FieldValue(object, r.field) == r.value;
    if (eq == r.negate) return false;
  }
  return true;
}

// ---- validation --------------------------------------------------------------------------------

const char* kSubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const char* kLabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const char* kDns1035Msg =
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

std::vector<FieldError> ValidateName(const ResourceType& rt, const std::string& name) {
  static const std::regex kSubdomain(
      R"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)");
  static const std::regex kLabel(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?)");
  static const std::regex kDns1035(R"([a-z]([-a-z0-9]*[a-z0-9])?)");
  std::vector<FieldError> errs;
  if (name.empty()) {
    errs.push_back({"FieldValueRequired", "metadata.name",
                    "Required value: name or generateName is required"});
    return errs;
  }
  if (rt.plural == "namespaces" && rt.group.empty()) {
    if (name.size() > 63)
      errs.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: " + Quote(name) + ": must be no more than 63 characters"});
    if (!std::regex_match(name, kLabel))
      errs.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: " + Quote(name) + ": " + kLabelMsg});
  } else if (rt.plural == "services" && rt.group.empty()) {
    if (name.size() > 63)
      errs.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: " + Quote(name) + ": must be no more than 63 characters"});
    if (!std::regex_match(name, kDns1035))
      errs.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: " + Quote(name) + ": " + kDns1035Msg});
  } else {
    if (name.size() > 253)
      errs.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: " + Quote(name) + ": must be no more than 253 characters"});
    if (!std::regex_match(name, kSubdomain))
      errs.push_back({"FieldValueInvalid", "metadata.name",
                      "Invalid value: " + Quote(name) + ": " + kSubdomainMsg});
  }
  return errs;
}

std::string GoMapString(const Json& labels) {
  // map[string]string{"app":"x"}; a missing map prints as Go's nil map.
  if (!labels.is_object()) return "map[string]string(nil)";
  std::string out = "map[string]string{";
  bool first = true;
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    out += (first ? "" : ", ") + Quote(it.key()) + ":" +
           (it.value().is_string() ? Quote(it.value().get<std::string>()) : it.value().dump());
    first = false;
  }
  return out + "}";
}

std::string GoValue(const Json& v);

// Go's %#v of a v1.LabelSelector (matchExpressions shown in the same style).
std::string GoSelectorString(const Json& selector) {
  std::string out =
      "v1.LabelSelector{MatchLabels:" + GoMapString(selector.value("matchLabels", Json())) +
      ", MatchExpressions:";
  const Json exprs = selector.value("matchExpressions", Json());
  if (!exprs.is_array()) return out + "[]v1.LabelSelectorRequirement(nil)}";
  out += "[]v1.LabelSelectorRequirement{";
  for (std::size_t i = 0; i < exprs.size(); ++i) {
    const Json& e = exprs[i];
    std::string values = "[]string(nil)";
    if (e.contains("values") && e["values"].is_array()) {
      values = "[]string{";
      for (std::size_t j = 0; j < e["values"].size(); ++j)
        values += (j ? ", " : "") + GoValue(e["values"][j]);
      values += "}";
    }
    out += (i ? ", " : "") + std::string("v1.LabelSelectorRequirement{Key:") +
           Quote(e.value("key", "")) + ", Operator:" + Quote(e.value("operator", "")) +
           ", Values:" + values + "}";
  }
  return out + "}}";
}

// Does a LabelSelector (matchLabels + matchExpressions) select these labels?
bool SelectorMatches(const Json& selector, const Json& labels) {
  auto label = [&](const std::string& k) -> const Json* {
    if (!labels.is_object()) return nullptr;
    auto it = labels.find(k);
    return it == labels.end() ? nullptr : &*it;
  };
  const Json match = selector.value("matchLabels", Json::object());
  for (auto it = match.begin(); it != match.end(); ++it) {
    const Json* v = label(it.key());
    if (v == nullptr || *v != it.value()) return false;
  }
  for (const auto& e : selector.value("matchExpressions", Json::array())) {
    const Json* v = label(e.value("key", ""));
    std::string op = e.value("operator", "");
    const Json values = e.value("values", Json::array());
    bool in = v != nullptr && std::find(values.begin(), values.end(), *v) != values.end();
    if (op == "In" && !in) return false;
    if (op == "NotIn" && in) return false;
    if (op == "Exists" && v == nullptr) return false;
    if (op == "DoesNotExist" && v != nullptr) return false;
  }
  return true;
}

std::vector<FieldError> ValidateObject(const ResourceType& rt, const Json& obj, const Json* old) {
  static const std::regex kLabel(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?)");
  std::vector<FieldError> errs = ValidateName(rt, obj["metadata"].value("name", ""));
  if (obj["metadata"].contains("labels")) {
    static const std::regex kLabelValue(R"(^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$)");
    for (auto it = obj["metadata"]["labels"].begin(); it != obj["metadata"]["labels"].end(); ++it) {
      if (!it.value().is_string()) continue;
      std::string v = it.value().get<std::string>();
      std::string field = "metadata.labels";
      if (v.size() > 63)
        errs.push_back({"FieldValueInvalid", field,
                        "Invalid value: " + Quote(v) + ": must be no more than 63 characters"});
      else if (!std::regex_match(v, kLabelValue))
        errs.push_back(
            {"FieldValueInvalid", field,
             "Invalid value: " + Quote(v) +
                 ": a valid label must be an empty string or consist of alphanumeric characters, "
                 "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. "
                 "'MyValue',  or 'my_value',  or '12345', regex used for validation is "
                 "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"});
    }
  }
  bool workload =
      rt.group == "apps" && (rt.plural == "deployments" || rt.plural == "statefulsets" ||
                             rt.plural == "daemonsets" || rt.plural == "replicasets");
  bool job = rt.group == "batch" && rt.plural == "jobs";
  if (workload || job) {
    const Json spec = obj.value("spec", Json::object());
    const Json tmpl = spec.value("template", Json::object());
    if (workload) {
      if (spec.contains("replicas") && spec["replicas"].is_number_integer() &&
          spec["replicas"].get<std::int64_t>() < 0) {
        errs.push_back(
            {"FieldValueInvalid", "spec.replicas",
             "Invalid value: " + spec["replicas"].dump() + ": must be greater than or equal to 0"});
      }
      const Json labels = tmpl.value("metadata", Json::object()).value("labels", Json());
      std::string mismatch =
          "Invalid value: " + GoMapString(labels) + ": `selector` does not match template `labels`";
      if (!spec.contains("selector") || spec["selector"].is_null()) {
        // A nil selector selects nothing, so the template check fails as well (apps/v1 validation).
        errs.push_back({"FieldValueRequired", "spec.selector", "Required value"});
        errs.push_back({"FieldValueInvalid", "spec.template.metadata.labels", mismatch});
      } else {
        const Json& selector = spec["selector"];
        bool empty = selector.value("matchLabels", Json::object()).empty() &&
                     selector.value("matchExpressions", Json::array()).empty();
        if (empty) {
          if (rt.plural == "deployments") {
            errs.push_back({"FieldValueInvalid", "spec.selector",
                            "Invalid value: " + GoSelectorString(selector) +
                                ": empty selector is invalid for deployment"});
          }
        } else if (!SelectorMatches(selector, labels)) {
          errs.push_back({"FieldValueInvalid", "spec.template.metadata.labels", mismatch});
        }
        if (old != nullptr && old->contains("spec") && (*old)["spec"].contains("selector") &&
            (*old)["spec"]["selector"] != selector) {
          errs.push_back({"FieldValueInvalid", "spec.selector",
                          "Invalid value: " + GoSelectorString(selector) + ": field is immutable"});
        }
      }
    }
    const Json pod = tmpl.value("spec", Json::object());
    const Json containers = pod.value("containers", Json::array());
    if (!containers.is_array() || containers.empty()) {
      errs.push_back({"FieldValueRequired", "spec.template.spec.containers", "Required value"});
    } else {
      std::set<std::string> seen;
      for (std::size_t i = 0; i < containers.size(); ++i) {
        std::string base = "spec.template.spec.containers[" + std::to_string(i) + "]";
        std::string cname = containers[i].value("name", "");
        if (cname.empty()) {
          errs.push_back({"FieldValueRequired", base + ".name", "Required value"});
        } else if (!std::regex_match(cname, kLabel) || cname.size() > 63) {
          errs.push_back({"FieldValueInvalid", base + ".name",
                          "Invalid value: " + Quote(cname) + ": " + kLabelMsg});
        } else if (!seen.insert(cname).second) {
          errs.push_back(
              {"FieldValueDuplicate", base + ".name", "Duplicate value: " + Quote(cname)});
        }
        if (containers[i].value("image", "").empty())
          errs.push_back({"FieldValueRequired", base + ".image", "Required value"});
      }
    }
  }
  return errs;
}

// ---- CRD schema validation ---------------------------------------------------------------------

std::string JsonTypeName(const Json& v) {
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer() || v.is_number_unsigned()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_array()) return "array";
  if (v.is_object()) return "object";
  return "null";
}

std::string GoValue(const Json& v) {
  if (v.is_string()) return Quote(v.get<std::string>());
  return v.dump();
}

// Validates `value` against a structural schema. Unknown fields are collected (for pruning and
// strict validation) unless x-kubernetes-preserve-unknown-fields.
void SchemaCheck(const Json& schema, Json& value, const std::string& path,
                 std::vector<FieldError>& errs, std::vector<std::string>& unknown, bool prune) {
  if (!schema.is_object()) return;
  if (value.is_null()) {
    if (!schema.value("nullable", false) && schema.contains("type")) {
      errs.push_back({"FieldValueTypeInvalid", path,
                      "Invalid value: \"null\": " + path + " in body must be of type " +
                          schema["type"].get<std::string>() + ": \"null\""});
    }
    return;
  }
  if (schema.value("x-kubernetes-int-or-string", false)) {
    if (!value.is_string() && !value.is_number_integer()) {
      errs.push_back(
          {"FieldValueTypeInvalid", path,
           "Invalid value: " + Quote(JsonTypeName(value)) + ": " + path +
               " in body must be of type integer-or-string: " + Quote(JsonTypeName(value))});
    }
    return;
  }
  std::string type = schema.value("type", "");
  std::string actual = JsonTypeName(value);
  bool type_ok = type.empty() || type == actual || (type == "number" && actual == "integer");
  if (!type_ok) {
    errs.push_back({"FieldValueTypeInvalid", path,
                    "Invalid value: " + Quote(actual) + ": " + path + " in body must be of type " +
                        type + ": " + Quote(actual)});
    return;
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const auto& e : schema["enum"]) found = found || e == value;
    if (!found) {
      std::string allowed;
      for (const auto& e : schema["enum"]) allowed += (allowed.empty() ? "" : ", ") + GoValue(e);
      errs.push_back({"FieldValueNotSupported", path,
                      "Unsupported value: " + GoValue(value) + ": supported values: " + allowed});
    }
  }
  if (value.is_number() && schema.contains("minimum") &&
      value.get<double>() < schema["minimum"].get<double>()) {
    errs.push_back({"FieldValueInvalid", path,
                    "Invalid value: " + value.dump() + ": " + path +
                        " in body should be greater than or equal to " + schema["minimum"].dump()});
  }
  if (value.is_number() && schema.contains("maximum") &&
      value.get<double>() > schema["maximum"].get<double>()) {
    errs.push_back({"FieldValueInvalid", path,
                    "Invalid value: " + value.dump() + ": " + path +
                        " in body should be less than or equal to " + schema["maximum"].dump()});
  }
  if (value.is_object()) {
    const Json props = schema.value("properties", Json::object());
    if (schema.contains("required")) {
      for (const auto& r : schema["required"]) {
        if (!value.contains(r.get<std::string>())) {
          errs.push_back({"FieldValueRequired",
                          path.empty() ? r.get<std::string>() : path + "." + r.get<std::string>(),
                          "Required value"});
        }
      }
    }
    bool preserve = schema.value("x-kubernetes-preserve-unknown-fields", false);
    std::vector<std::string> drop;
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (path.empty() &&
          (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "metadata"))
        continue;
      std::string child = path.empty() ? it.key() : path + "." + it.key();
      if (props.contains(it.key())) {
        SchemaCheck(props[it.key()], it.value(), child, errs, unknown, prune);
      } else if (schema.contains("additionalProperties") &&
                 schema["additionalProperties"].is_object()) {
        SchemaCheck(schema["additionalProperties"], it.value(), child, errs, unknown, prune);
      } else if (!preserve && !(schema.contains("additionalProperties") &&
                                schema["additionalProperties"] == true)) {
        unknown.push_back(child);
        drop.push_back(it.key());
      }
    }
    if (prune)
      for (const auto& d : drop) value.erase(d);
  }
  if (value.is_array() && schema.contains("items")) {
    for (std::size_t i = 0; i < value.size(); ++i) {
      SchemaCheck(schema["items"], value[i], path + "[" + std::to_string(i) + "]", errs, unknown,
                  prune);
    }
  }
}

}  // namespace

// ---- State -------------------------------------------------------------------------------------

Json* Api::State::Lookup(const ResourceType& rt, const std::string& ns, const std::string& name) {
  auto it = objects.find(Key(rt.group, rt.plural, ns, name));
  return it == objects.end() ? nullptr : &it->second;
}

Json& Api::State::Commit(const ResourceType& rt, Json object, const std::string& type) {
  ++rv;
  object["metadata"]["resourceVersion"] = std::to_string(rv);
  std::string ns = object["metadata"].value("namespace", "");
  std::string key = Key(rt.group, rt.plural, ns, object["metadata"]["name"].get<std::string>());
  Json previous;
  auto it = objects.find(key);
  if (it != objects.end()) previous = it->second;
  Json& stored = objects[key];
  stored = std::move(object);
  history.push_back({rv, rt.group, rt.plural, ns, type, stored, previous});
  while (history.size() > options.history_limit) {
    compacted_rv = history.front().rv;
    history.pop_front();
  }
  cv.notify_all();
  return stored;
}

void Api::State::Remove(const ResourceType& rt, const std::string& ns, const std::string& name) {
  auto it = objects.find(Key(rt.group, rt.plural, ns, name));
  if (it == objects.end()) return;
  ++rv;
  Json last = it->second;
  last["metadata"]["resourceVersion"] = std::to_string(rv);
  history.push_back({rv, rt.group, rt.plural, ns, "DELETED", last, it->second});
  objects.erase(it);
  while (history.size() > options.history_limit) {
    compacted_rv = history.front().rv;
    history.pop_front();
  }
  cv.notify_all();
}

std::vector<Rule> Api::State::BoundRules(const Identity& who) const {
  std::vector<Rule> out;
  const std::string rbac = "rbac.authorization.k8s.io";
  auto strings = [](const Json& obj, const char* field) {
    std::vector<std::string> v;
    if (obj.contains(field) && obj[field].is_array()) {
      for (const auto& s : obj[field]) {
        if (s.is_string()) v.push_back(s.get<std::string>());
      }
    }
    return v;
  };
  auto bound = [&](const Json& binding, const std::string& ns) {
    if (!binding.contains("subjects") || !binding["subjects"].is_array()) return false;
    for (const auto& subject : binding["subjects"]) {
      const std::string kind = subject.value("kind", "");
      const std::string name = subject.value("name", "");
      if (kind == "User" && name == who.user) return true;
      if (kind == "Group" && Contains(who.groups, name)) return true;
      if (kind == "ServiceAccount" &&
          who.user == "system:serviceaccount:" + subject.value("namespace", ns) + ":" + name) {
        return true;
      }
    }
    return false;
  };
  auto grant = [&](const Json& binding, const std::string& ns) {
    const Json ref = binding.value("roleRef", Json::object());
    const std::string kind = ref.value("kind", "");
    const std::string name = ref.value("name", "");
    std::string key;
    if (kind == "ClusterRole") key = Key(rbac, "clusterroles", "", name);
    if (kind == "Role" && !ns.empty()) key = Key(rbac, "roles", ns, name);
    auto role = objects.find(key);
    if (key.empty() || role == objects.end() || !role->second.contains("rules")) return;
    for (const auto& policy : role->second["rules"]) {
      Rule r;
      r.users = {who.user};
      if (!ns.empty()) r.namespaces = {ns};
      r.verbs = strings(policy, "verbs");
      r.api_groups = strings(policy, "apiGroups");
      r.resources = strings(policy, "resources");
      r.resource_names = strings(policy, "resourceNames");
      if (ns.empty()) r.non_resource_urls = strings(policy, "nonResourceURLs");
      out.push_back(std::move(r));
    }
  };
  for (const char* plural : {"clusterrolebindings", "rolebindings"}) {
    const std::string prefix = rbac + "|" + plural + "|";
    for (auto it = objects.lower_bound(prefix);
         it != objects.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      const std::string ns = it->second.value("metadata", Json::object()).value("namespace", "");
      if (bound(it->second, ns)) grant(it->second, ns);
    }
  }
  return out;
}

bool Api::State::Authorize(const Identity& who, const Attributes& a) const {
  auto allows = [&who, &a](const Rule& r) {
    bool subject = Contains(r.users, who.user);
    for (const auto& g : who.groups) subject = subject || Contains(r.groups, g);
    if (!subject) return false;
    if (!(Contains(r.verbs, "*") || Contains(r.verbs, a.verb))) return false;
    if (!a.resource_request) {
      bool ok = false;
      for (const auto& u : r.non_resource_urls) ok = ok || MatchUrl(u, a.path);
      return ok;
    }
    if (!r.namespaces.empty() && (a.ns.empty() || !Contains(r.namespaces, a.ns))) return false;
    if (!(Contains(r.api_groups, "*") || Contains(r.api_groups, a.group))) return false;
    std::string combined = a.subresource.empty() ? a.resource : a.resource + "/" + a.subresource;
    bool res_ok = false;
    for (const auto& res : r.resources) {
      res_ok = res_ok || res == "*" || res == combined || res == a.resource + "/*" ||
               (!a.subresource.empty() && res == "*/" + a.subresource);
    }
    if (!res_ok) return false;
    return r.resource_names.empty() || Contains(r.resource_names, a.name);
  };
  for (const auto& r : rules) {
    if (allows(r)) return true;
  }
  for (const auto& r : BoundRules(who)) {
    if (allows(r)) return true;
  }
  return false;
}

void Api::State::InstallDefaultRbac() {
  rules.clear();
  Rule admin;
  admin.groups = {"system:masters"};
  admin.verbs = {"*"};
  admin.api_groups = {"*"};
  admin.resources = {"*"};
  admin.non_resource_urls = {"*"};
  rules.push_back(admin);
  Rule deployd;
  deployd.users = {"system:serviceaccount:nais-system:deployd"};
  deployd.verbs = {"impersonate"};
  deployd.api_groups = {""};
  deployd.resources = {"serviceaccounts"};
  rules.push_back(deployd);
  for (const auto& team : options.teams) {
    Rule t;
    t.users = {fmt::format("system:serviceaccount:{}:serviceuser-{}", team, team)};
    t.namespaces = {team};
    t.verbs = {"*"};
    t.api_groups = {"*"};
    t.resources = {"*"};
    rules.push_back(t);
  }
  Rule discovery;
  discovery.groups = {"system:authenticated"};
  discovery.verbs = {"get"};
  discovery.non_resource_urls = {"/api",     "/api/*",     "/apis",    "/apis/*",
                                 "/openapi", "/openapi/*", "/version", "/version/",
                                 "/healthz", "/livez",     "/readyz"};
  rules.push_back(discovery);
  Rule reviews;
  reviews.groups = {"system:authenticated"};
  reviews.verbs = {"create"};
  reviews.api_groups = {"authorization.k8s.io", "authentication.k8s.io"};
  reviews.resources = {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"};
  rules.push_back(reviews);
  Rule public_info;
  public_info.groups = {"system:authenticated", "system:unauthenticated"};
  public_info.verbs = {"get"};
  public_info.non_resource_urls = {"/version", "/version/", "/healthz", "/livez", "/readyz"};
  rules.push_back(public_info);
}

namespace {

using State = Api::State;

struct Ctx {
  State& s;
  HttpRequest& req;
  Identity who;
  Attributes attrs;
  const ResourceType* rt = nullptr;
  std::string ns;  // storage namespace ("" for cluster-scoped types)
};

Json Output(const ResourceType& rt, Json obj) {
  obj["apiVersion"] = rt.GroupVersion();
  obj["kind"] = rt.kind;
  return obj;
}

// `decode_protobuf`: kubectl's typed commands (create namespace/configmap/secret/...) send
// protobuf; the kinds protobuf.cpp knows are decoded, others answer 415.
Json ParseBody(const HttpRequest& req, bool decode_protobuf = false) {
  std::string type = req.Header("content-type");
  if (decode_protobuf && type.find("protobuf") != std::string::npos) {
    if (auto decoded = DecodeProtobufObject(req.body)) return *decoded;
    spdlog::warn("kube-sim cannot decode a protobuf {} {}; answering 415", req.method, req.path);
  }
  if (type.find("protobuf") != std::string::npos || type.find("cbor") != std::string::npos) {
    throw MakeError(415, "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types "
                    "include: application/json, application/yaml");
  }
  if (req.body.empty()) throw BadRequestError("the body of the request was empty");
  try {
    auto docs = YamlToJson(req.body);
    if (docs.size() != 1 || !docs[0].is_object()) {
      throw BadRequestError("the body of the request must be a single object");
    }
    return docs[0];
  } catch (const std::invalid_argument& e) {
    throw BadRequestError(std::string("couldn't get version/kind; json parse error: ") + e.what());
  }
}

std::string FieldManagerOf(const HttpRequest& req) {
  std::string m = req.Query("fieldManager");
  if (!m.empty()) return m;
  std::string ua = req.Header("user-agent");
  auto slash = ua.find('/');
  return ua.substr(0, slash);
}

bool DryRun(const HttpRequest& req) {
  if (!req.HasQuery("dryRun")) return false;
  std::string v = req.Query("dryRun");
  if (v != "All") {
    throw MakeError(422, "Invalid",
                    "CreateOptions.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: " +
                        Quote(v) + ": supported values: \"All\"");
  }
  return true;
}

void CheckNamespace(Ctx& c) {
  if (!c.rt->namespaced) return;
  Json* ns = c.s.objects.count(State::Key("", "namespaces", "", c.ns))
                 ? &c.s.objects[State::Key("", "namespaces", "", c.ns)]
                 : nullptr;
  if (ns == nullptr) {
    throw MakeError(404, "NotFound", "namespaces \"" + c.ns + "\" not found",
                    {{"name", c.ns}, {"kind", "namespaces"}});
  }
  if ((*ns)["metadata"].contains("deletionTimestamp")) {
    std::string name = c.attrs.name;
    ApiError e = MakeError(403, "Forbidden",
                           c.rt->QualifiedResource() + " \"" + name +
                               "\" is forbidden: unable to create new content in namespace " +
                               c.ns + " because it is being terminated",
                           {{"name", name},
                            {"group", c.rt->group},
                            {"kind", c.rt->plural},
                            {"causes",
                             {{{"reason", "NamespaceTerminating"},
                               {"message", "namespace " + c.ns + " is being terminated"},
                               {"field", "metadata.namespace"}}}}});
    throw e;
  }
}

// A deleted object whose finalizers are all gone (a Namespace's spec.finalizers count too).
bool Finalized(const ResourceType& rt, const Json& obj) {
  const Json& meta = obj["metadata"];
  if (!meta.contains("deletionTimestamp") || !meta.value("finalizers", Json::array()).empty())
    return false;
  if (rt.group.empty() && rt.plural == "namespaces") {
    return obj.value("spec", Json::object()).value("finalizers", Json::array()).empty();
  }
  return true;
}

bool StatusSubresourceWrite(const Ctx& c) { return c.attrs.subresource == "status"; }

Json Stripped(Json obj) {
  obj["metadata"].erase("resourceVersion");
  obj["metadata"].erase("managedFields");
  return obj;
}

// managedFields without their timestamps: a write that changes nothing else is a no-op.
Json ManagedFieldsWithoutTime(const Json& obj) {
  Json mf = obj.contains("metadata") ? obj["metadata"].value("managedFields", Json::array())
                                     : Json::array();
  if (!mf.is_array()) return Json::array();
  for (auto& e : mf) {
    if (e.is_object()) e.erase("time");
  }
  return mf;
}

// The managedFields an update keeps: the ones the client wrote when it sent a non-empty list that
// differs from the stored one (`[{}]` clears them all), else the stored ones (kube-apiserver's
// field manager decodes the request's managedFields first). Subresource writes always keep them.
Json ManagedFieldsForUpdate(const Json& sent_object, const Json& old, bool subresource) {
  Json stored = old["metadata"].value("managedFields", Json::array());
  const Json sent = sent_object.contains("metadata") && sent_object["metadata"].is_object()
                        ? sent_object["metadata"].value("managedFields", Json())
                        : Json();
  if (subresource || !sent.is_array() || sent.empty()) return stored;
  Json out = Json::array();
  for (const auto& e : sent) {
    if (!e.is_object() || !e.contains("manager") || !e["manager"].is_string()) continue;
    if (!e.contains("fieldsV1") || !e["fieldsV1"].is_object()) continue;
    std::string op = e.value("operation", "");
    if (op != "Apply" && op != "Update") continue;
    Json entry = e;
    entry["fieldsType"] = "FieldsV1";
    out.push_back(entry);
  }
  return out;
}

bool GenerationChanged(const ResourceType& rt, const Json& old, const Json& now) {
  auto get = [](const Json& o, const char* k) { return o.contains(k) ? o[k] : Json(); };
  switch (rt.generation) {
    case GenerationMode::kNone:
      return false;
    case GenerationMode::kSpec:
      return get(old, "spec") != get(now, "spec");
    case GenerationMode::kSpecOrAnnotations:
      return get(old, "spec") != get(now, "spec") ||
             get(old["metadata"], "annotations") != get(now["metadata"], "annotations");
    case GenerationMode::kNonMetadata: {
      Json a = old, b = now;
      a.erase("metadata");
      b.erase("metadata");
      if (rt.status_subresource) {
        a.erase("status");
        b.erase("status");
      }
      return a != b;
    }
  }
  return false;
}

// Sets the managedFields entry of (manager, operation, subresource).
void SetManagerEntry(Json& obj, const std::string& manager, const std::string& operation,
                     const std::string& api_version, const std::string& subresource,
                     const Json& fields) {
  Json& mf = obj["metadata"]["managedFields"];
  if (!mf.is_array()) mf = Json::array();
  Json entry{{"manager", manager},   {"operation", operation},   {"apiVersion", api_version},
             {"time", NowRfc3339()}, {"fieldsType", "FieldsV1"}, {"fieldsV1", fields}};
  if (!subresource.empty()) entry["subresource"] = subresource;
  for (auto& e : mf) {
    if (e.value("manager", "") == manager && e.value("operation", "") == operation &&
        e.value("subresource", "") == subresource) {
      e = entry;
      return;
    }
  }
  mf.push_back(entry);
}

// Drops owned paths that no longer exist, and empty entries.
void PruneManagers(Json& obj, const ListRules& assoc) {
  Json& mf = obj["metadata"]["managedFields"];
  if (!mf.is_array()) return;
  Json all = FieldSet(obj, assoc, true);
  Json out = Json::array();
  for (auto& e : mf) {
    e["fieldsV1"] = FieldSetIntersection(e.value("fieldsV1", Json::object()), all);
    if (!FieldSetEmpty(e["fieldsV1"])) out.push_back(e);
  }
  if (out.empty()) {
    obj["metadata"].erase("managedFields");
  } else {
    mf = out;
  }
}

// An Update-operation write by `manager`: takes the changed fields from everybody else.
void RecordUpdate(const ResourceType& rt, const Json& before, Json& after,
                  const std::string& manager, const std::string& subresource) {
  ListRules assoc = ListRulesOf(rt);
  Json changed = ChangedFields(before, after, assoc, true);
  Json& mf = after["metadata"]["managedFields"];
  Json mine = Json::object();
  if (mf.is_array()) {
    for (auto& e : mf) {
      bool self = e.value("manager", "") == manager && e.value("operation", "") == "Update" &&
                  e.value("subresource", "") == subresource;
      if (self) {
        mine = e.value("fieldsV1", Json::object());
      } else {
        e["fieldsV1"] = FieldSetDifference(e.value("fieldsV1", Json::object()), changed);
      }
    }
  }
  if (!FieldSetEmpty(changed) || !FieldSetEmpty(mine)) {
    SetManagerEntry(after, manager, "Update", rt.GroupVersion(), subresource,
                    FieldSetUnion(mine, changed));
  }
  PruneManagers(after, assoc);
}

// Strict field validation of a built-in kind: Strict fails with 400, Warn drops the unknown
// fields with a Warning header each, Ignore drops them. An apply patch with an unknown field
// fails like kube-apiserver's structured-merge-diff conversion (500, no reason),
// whatever fieldValidation says.
void ValidateBuiltinFields(Ctx& c, Json& obj, bool apply, const std::string& mode,
                           HttpResponse* warnings_to) {
  std::vector<std::string> unknown;
  std::vector<std::string> smd;
  Json copy = obj;
  if (!BuiltinUnknownFields(*c.rt, copy, unknown, &smd, true) || unknown.empty()) return;
  if (apply) {
    std::string what;
    if (smd.size() == 1) {
      what = smd[0] + ": field not declared in schema";
    } else {
      what = "errors:";
      for (const auto& p : smd) what += "\n  " + p + ": field not declared in schema";
    }
    std::string gvk = c.rt->GroupVersion() + ", Kind=" + c.rt->kind;
    if (c.rt->group.empty()) gvk = "/" + gvk;
    const Json& meta = obj.value("metadata", Json::object());
    throw MakeError(500, "",
                    "failed to create typed patch object (" + meta.value("namespace", "") + "/" +
                        meta.value("name", "") + "; " + gvk + "): " + what);
  }
  if (mode == "Strict") {
    std::string list;
    for (const auto& u : unknown)
      list += (list.empty() ? "" : ", ") + std::string("unknown field ") + Quote(u);
    throw BadRequestError(c.rt->kind + " in version " + Quote(c.rt->version) +
                          " cannot be handled as a " + c.rt->kind +
                          ": strict decoding error: " + list);
  }
  if (mode == "Warn" && warnings_to != nullptr) {
    for (const auto& u : unknown) {
      warnings_to->headers.emplace_back("Warning", "299 - " + Quote("unknown field " + Quote(u)));
    }
  }
  obj = copy;
}

std::string FieldValidationMode(const HttpRequest& req) {
  std::string mode = req.Query("fieldValidation");
  return mode == "Strict" || mode == "Ignore" ? mode : "Warn";
}

// Validates against the CRD schema, or the built-in kind's known fields; prunes unknown fields
// (Warn/Ignore), or fails (Strict).
void ValidateCustom(Ctx& c, Json& obj, bool apply, HttpResponse* warnings_to) {
  std::string mode = FieldValidationMode(c.req);
  if (c.rt->builtin) {
    ValidateBuiltinFields(c, obj, apply, mode, warnings_to);
    return;
  }
  if (c.rt->schema.is_null()) return;
  std::vector<FieldError> errs;
  std::vector<std::string> unknown;
  Json copy = obj;
  SchemaCheck(c.rt->schema, copy, "", errs, unknown, true);
  if (!unknown.empty() && mode == "Strict") {
    std::string list;
    for (const auto& u : unknown)
      list += (list.empty() ? "" : ", ") + std::string("unknown field ") + Quote(u);
    if (apply) throw BadRequestError("error strict decoding patch: " + list);
    throw BadRequestError(c.rt->kind + " in version " + Quote(c.rt->version) +
                          " cannot be handled as a " + c.rt->kind +
                          ": strict decoding error: " + list);
  }
  if (!unknown.empty() && mode == "Warn" && warnings_to != nullptr) {
    for (const auto& u : unknown) {
      warnings_to->headers.emplace_back("Warning", "299 - " + Quote("unknown field " + Quote(u)));
    }
  }
  if (!errs.empty()) {
    throw InvalidError(c.rt->QualifiedKind(), c.rt->group, c.rt->kind,
                       obj["metadata"].value("name", ""), errs);
  }
  obj = copy;
}

// Defaults, then validates, as kube-apiserver does after decoding (base64 errors are 400s).
void CheckValid(Ctx& c, Json& obj, const Json* old) {
  CheckBuiltinDecoding(*c.rt, obj);
  ApplyDefaults(*c.rt, obj, old);
  auto errs = ValidateObject(*c.rt, obj, old);
  auto more = ValidateBuiltinKind(*c.rt, obj, old);
  errs.insert(errs.end(), more.begin(), more.end());
  if (!errs.empty()) {
    throw InvalidError(c.rt->QualifiedKind(), c.rt->group, c.rt->kind,
                       obj["metadata"].value("name", ""), errs);
  }
}

// Normalises metadata.namespace/name of a body against the URL.
void FixIdentity(Ctx& c, Json& body, bool apply) {
  if (!body.contains("metadata") || !body["metadata"].is_object())
    body["metadata"] = Json::object();
  Json& meta = body["metadata"];
  if (c.rt->namespaced) {
    std::string bns = meta.value("namespace", "");
    if (!bns.empty() && bns != c.ns) {
      throw BadRequestError(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    meta["namespace"] = c.ns;
  } else {
    meta.erase("namespace");
  }
  if (!c.attrs.name.empty()) {
    std::string bname = meta.value("name", "");
    if (bname.empty() && !apply) {
      meta["name"] = c.attrs.name;
    } else if (bname != c.attrs.name) {
      throw BadRequestError("the name of the object (" + bname +
                            ") does not match the name on the URL (" + c.attrs.name + ")");
    }
  }
}

Json Table(const Ctx& c, const std::vector<Json>& objs, std::uint64_t rv) {
  return TableOf(*c.rt, objs, rv, c.req.Query("includeObject"));
}

HttpResponse ObjectResponse(const Ctx& c, int code, const Json& obj) {
  if (AcceptsTable(c.req)) return JsonResponse(code, Table(c, {obj}, c.s.rv), kTableType);
  return JsonResponse(code, Output(*c.rt, obj));
}

// ---- object operations
// ---------------------------------------------------------------------------

void AfterCommit(Ctx& c, const Json& stored) {
  if (c.rt->group == "apiextensions.k8s.io" && c.rt->plural == "customresourcedefinitions") {
    try {
      c.s.registry.InstallCrd(stored);
    } catch (const std::exception& e) {
      spdlog::warn("CRD {} not installed: {}", stored["metadata"].value("name", ""), e.what());
    }
  }
}

// Sets the established conditions of a CRD.
void CrdStatus(Json& crd) {
  std::string now = NowRfc3339();
  crd["status"] = {{"acceptedNames", crd["spec"]["names"]},
                   {"conditions",
                    {{{"type", "NamesAccepted"},
                      {"status", "True"},
                      {"reason", "NoConflicts"},
                      {"message", "no conflicts found"},
                      {"lastTransitionTime", now}},
                     {{"type", "Established"},
                      {"status", "True"},
                      {"reason", "InitialNamesAccepted"},
                      {"message", "the initial names have been accepted"},
                      {"lastTransitionTime", now}}}},
                   {"storedVersions", Json::array()}};
  for (const auto& v : crd["spec"].value("versions", Json::array())) {
    if (v.value("storage", false)) crd["status"]["storedVersions"].push_back(v["name"]);
  }
}

HttpResponse DoCreate(Ctx& c, Json body, const std::string& manager, bool apply,
                      const Json& apply_set) {
  HttpResponse warnings;
  bool dry = DryRun(c.req);
  FixIdentity(c, body, apply);
  Json& meta = body["metadata"];
  std::string name = meta.value("name", "");
  if (name.empty() && meta.contains("generateName") && meta["generateName"].is_string()) {
    static const char* kAlnum = "bcdfghjklmnpqrstvwxz2456789";
    std::string suffix;
    std::random_device rd;
    for (int i = 0; i < 5; ++i) suffix.push_back(kAlnum[rd() % 27]);
    name = meta["generateName"].get<std::string>() + suffix;
    meta["name"] = name;
  }
  c.attrs.name = name;
  CheckNamespace(c);
  ValidateCustom(c, body, apply, &warnings);
  Json& m = body["metadata"];  // ValidateCustom may have replaced body
  for (const char* k :
       {"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields",
        "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"}) {
    m.erase(k);
  }
  m["uid"] = NewUid();
  m["creationTimestamp"] = NowRfc3339();
  if (c.rt->generation != GenerationMode::kNone) m["generation"] = 1;
  body["apiVersion"] = c.rt->GroupVersion();
  body["kind"] = c.rt->kind;
  if (c.rt->status_subresource) body.erase("status");
  CheckValid(c, body, nullptr);
  if (c.s.Lookup(*c.rt, c.ns, name) != nullptr) throw AlreadyExistsError(*c.rt, name);
  std::string key = c.rt->group + "/" + c.rt->plural;
  if (key == "/namespaces") {
    m["labels"]["kubernetes.io/metadata.name"] = name;
    body["spec"]["finalizers"] = {"kubernetes"};
    body["status"] = {{"phase", "Active"}};
  }
  if (key == "apiextensions.k8s.io/customresourcedefinitions") CrdStatus(body);
  if (apply) {
    SetManagerEntry(body, manager, "Apply", c.rt->GroupVersion(), "", apply_set);
  } else {
    SetManagerEntry(body, manager, "Update", c.rt->GroupVersion(), "",
                    FieldSet(body, ListRulesOf(*c.rt), false));
  }
  PruneManagers(body, ListRulesOf(*c.rt));
  if (dry) {
    HttpResponse r = ObjectResponse(c, 201, body);
    for (auto& h : warnings.headers) r.headers.push_back(h);
    return r;
  }
  Json& stored = c.s.Commit(*c.rt, body, "ADDED");
  AfterCommit(c, stored);
  HttpResponse r = ObjectResponse(c, 201, stored);
  for (auto& h : warnings.headers) r.headers.push_back(h);
  return r;
}

// Persists `next` (a changed copy of `old`) as an update; handles no-ops, generation, finalizers.
HttpResponse FinishUpdate(Ctx& c, const Json& old, Json next, const HttpResponse& warnings) {
  bool dry = DryRun(c.req);
  Json& meta = next["metadata"];
  meta["uid"] = old["metadata"]["uid"];
  meta["creationTimestamp"] = old["metadata"]["creationTimestamp"];
  meta["name"] = old["metadata"]["name"];
  if (old["metadata"].contains("namespace")) meta["namespace"] = old["metadata"]["namespace"];
  if (old["metadata"].contains("deletionTimestamp")) {
    meta["deletionTimestamp"] = old["metadata"]["deletionTimestamp"];
    meta["deletionGracePeriodSeconds"] = old["metadata"]["deletionGracePeriodSeconds"];
  } else {
    meta.erase("deletionTimestamp");
    meta.erase("deletionGracePeriodSeconds");
  }
  next["apiVersion"] = old["apiVersion"];
  next["kind"] = c.rt->kind;
  ApplyDefaults(*c.rt, next, &old);
  if (old["metadata"].contains("generation")) {
    std::int64_t gen = old["metadata"]["generation"].get<std::int64_t>();
    meta["generation"] = GenerationChanged(*c.rt, old, next) ? gen + 1 : gen;
  } else {
    meta.erase("generation");
  }
  meta["resourceVersion"] = old["metadata"]["resourceVersion"];
  if (Stripped(next) == Stripped(old) &&
      ManagedFieldsWithoutTime(next) == ManagedFieldsWithoutTime(old)) {
    HttpResponse r = ObjectResponse(c, 200, old);
    for (auto& h : warnings.headers) r.headers.push_back(h);
    return r;
  }
  if (dry) {
    HttpResponse r = ObjectResponse(c, 200, next);
    for (auto& h : warnings.headers) r.headers.push_back(h);
    return r;
  }
  bool finalize = Finalized(*c.rt, next);
  Json stored = c.s.Commit(*c.rt, next, "MODIFIED");
  AfterCommit(c, stored);
  if (finalize) c.s.Remove(*c.rt, c.ns, stored["metadata"]["name"].get<std::string>());
  HttpResponse r = ObjectResponse(c, 200, stored);
  for (auto& h : warnings.headers) r.headers.push_back(h);
  return r;
}

void CheckResourceVersion(Ctx& c, const Json& body, const Json& old, bool required_for_cr) {
  std::string want = body.contains("metadata") ? body["metadata"].value("resourceVersion", "") : "";
  if (want.empty()) {
    if (required_for_cr && !c.rt->builtin) {
      std::string name = old["metadata"]["name"].get<std::string>();
      throw MakeError(422, "Invalid",
                      c.rt->QualifiedResource() + " \"" + name +
                          "\" is invalid: metadata.resourceVersion: Invalid value: 0: must be "
                          "specified for an update",
                      {{"name", name},
                       {"group", c.rt->group},
                       {"kind", c.rt->kind},
                       {"causes",
                        {{{"reason", "FieldValueInvalid"},
                          {"message", "Invalid value: 0: must be specified for an update"},
                          {"field", "metadata.resourceVersion"}}}}});
    }
    return;
  }
  if (want != old["metadata"].value("resourceVersion", ""))
    throw ConflictError(*c.rt, old["metadata"]["name"].get<std::string>());
}

// A PATCH body as JSON (400 when it is not).
Json ParsePatch(const std::string& body) {
  try {
    return Json::parse(body);
  } catch (const Json::exception& e) {
    throw BadRequestError(std::string("error decoding patch: ") + e.what());
  }
}

// A merge patch is an object; a resourceVersion it names is a precondition on `old`.
void CheckMergePatch(Ctx& c, const Json& patch, const Json& old) {
  if (!patch.is_object()) {
    throw BadRequestError("error decoding patch: the patch must be an object");
  }
  if (patch.contains("metadata") && patch["metadata"].contains("resourceVersion") &&
      !patch["metadata"]["resourceVersion"].is_null()) {
    CheckResourceVersion(c, patch, old, false);
  }
}

// A JSON patch (RFC 6902) applied to `target`; an operation that cannot apply is 422 Invalid.
Json ApplyJsonPatch(const Json& target, const Json& patch) {
  try {
    return target.patch(patch);
  } catch (const Json::exception& e) {
    throw MakeError(
        422, "Invalid",
        std::string("the server rejected our request due to an error in our request: ") + e.what());
  }
}

HttpResponse DoUpdate(Ctx& c) {
  Json body = ParseBody(c.req, true);
  std::string gv = body.value("apiVersion", "");
  if (!gv.empty() && gv != c.rt->GroupVersion()) {
    throw BadRequestError("the API version in the data (" + gv +
                          ") does not match the expected API version (" + c.rt->GroupVersion() +
                          ")");
  }
  FixIdentity(c, body, false);
  Json* existing = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (existing == nullptr) throw NotFoundError(*c.rt, c.attrs.name);
  Json old = *existing;
  CheckResourceVersion(c, body, old, true);
  HttpResponse warnings;
  Json next;
  std::string manager = FieldManagerOf(c.req);
  if (StatusSubresourceWrite(c)) {
    next = old;
    if (body.contains("status"))
      next["status"] = body["status"];
    else
      next.erase("status");
  } else {
    next = body;
    next["metadata"]["managedFields"] =
        ManagedFieldsForUpdate(body, old, !c.attrs.subresource.empty());
    if (c.rt->status_subresource) {
      if (old.contains("status"))
        next["status"] = old["status"];
      else
        next.erase("status");
    }
    ValidateCustom(c, next, false, &warnings);
    CheckValid(c, next, &old);
  }
  RecordUpdate(*c.rt, old, next, manager, c.attrs.subresource);
  return FinishUpdate(c, old, next, warnings);
}

// Does the applied value of an owned leaf differ from the live one? A "." leaf (a keyed list
// element or a map) only differs when it comes or goes; its fields are leaves of their own.
bool LeafDiffers(const Json& applied, const Json& live, const std::vector<std::string>& leaf) {
  const Json* a = ValueAt(applied, leaf);
  const Json* l = ValueAt(live, leaf);
  if (!leaf.empty() && leaf.back() == ".") return (a == nullptr) != (l == nullptr);
  return a == nullptr || l == nullptr || *a != *l;
}

constexpr const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

std::string LastApplied(const Json& obj) {
  const Json& meta = obj["metadata"];
  if (!meta.contains("annotations") || !meta["annotations"].is_object()) return "";
  const Json& a = meta["annotations"];
  return a.contains(kLastApplied) && a[kLastApplied].is_string()
             ? a[kLastApplied].get<std::string>()
             : "";
}

// The fields of the last-applied annotation whose live value is still the one it holds: the
// conflicts kubectl's server-side apply may take over from client-side apply.
Json AllowedConflictsFromLastApplied(const Json& live, const ListRules& lists) {
  Json last;
  try {
    last = Json::parse(LastApplied(live));
  } catch (const Json::exception&) {
    return Json::object();
  }
  if (!last.is_object()) return Json::object();
  FillListKeyDefaults(last, lists);
  Json allowed = Json::object();
  for (const auto& leaf : FieldSetLeaves(FieldSet(last, lists, false))) {
    if (LeafDiffers(last, live, leaf)) continue;
    Json* node = &allowed;
    for (const auto& p : leaf) {
      if (!node->contains(p)) (*node)[p] = Json::object();
      node = &(*node)[p];
    }
  }
  return allowed;
}

bool FieldSetContainsLeaf(const Json& set, const std::vector<std::string>& leaf) {
  const Json* node = &set;
  for (const auto& p : leaf) {
    if (!node->is_object() || !node->contains(p)) return false;
    node = &(*node)[p];
  }
  return true;
}

std::string ConflictManager(const Json& entry) {
  std::string m = Quote(entry.value("manager", ""));
  if (!entry.value("subresource", "").empty())
    m += " with subresource " + Quote(entry["subresource"].get<std::string>());
  if (entry.value("operation", "") == "Update") m += " using " + entry.value("apiVersion", "");
  return m;
}

HttpResponse DoApply(Ctx& c) {
  std::string manager = c.req.Query("fieldManager");
  if (manager.empty()) {
    throw MakeError(422, "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is "
                    "required for apply patch",
                    {{"group", "meta.k8s.io"},
                     {"kind", "PatchOptions"},
                     {"causes",
                      {{{"reason", "FieldValueRequired"},
                        {"message", "Required value: is required for apply patch"},
                        {"field", "fieldManager"}}}}});
  }
  bool force = c.req.Query("force") == "true" || c.req.Query("force") == "1";
  Json applied = ParseBody(c.req);
  std::string gv = applied.value("apiVersion", "");
  if (gv != c.rt->GroupVersion()) {
    throw BadRequestError("Incorrect version specified in apply patch. Specified patch version: " +
                          gv + ", expected: " + c.rt->GroupVersion());
  }
  if (!applied.contains("kind") || !applied["kind"].is_string() ||
      applied["kind"].get<std::string>().empty()) {
    throw BadRequestError("Object 'Kind' is missing in '" + c.req.body + "'");
  }
  if (applied.contains("metadata") && applied["metadata"].contains("managedFields")) {
    throw BadRequestError("metadata.managedFields must be nil");
  }
  FixIdentity(c, applied, true);
  bool status_write = StatusSubresourceWrite(c);
  if (c.rt->status_subresource && !status_write) applied.erase("status");
  HttpResponse warnings;
  ValidateCustom(c, applied, true, &warnings);
  ListRules assoc = ListRulesOf(*c.rt);
  Json applied_set = FieldSet(applied, assoc, status_write);
  // Values are compared and merged with the list-map key defaults filled in (a port without a
  // protocol is the TCP one), while the manager owns only what it sent.
  Json applied_full = applied;
  FillListKeyDefaults(applied_full, assoc);

  Json* existing = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (existing == nullptr) {
    if (status_write) throw NotFoundError(*c.rt, c.attrs.name);
    Attributes create = c.attrs;
    create.verb = "create";
    if (!c.s.Authorize(c.who, create)) throw ForbiddenError(c.who, create);
    return DoCreate(c, applied, manager, true, applied_set);
  }
  Json old = *existing;
  CheckResourceVersion(c, applied, old, false);
  Json next = old;
  Json entries = old["metadata"].value("managedFields", Json::array());
  std::string subresource = status_write ? "status" : "";
  // Conflicts with every other manager.
  std::vector<std::pair<std::size_t, std::vector<std::string>>> conflicts;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const Json& e = entries[i];
    if (e.value("manager", "") == manager && e.value("operation", "") == "Apply" &&
        e.value("subresource", "") == subresource)
      continue;
    Json overlap = FieldSetIntersection(applied_set, e.value("fieldsV1", Json::object()));
    for (const auto& leaf : FieldSetLeaves(overlap)) {
      if (LeafDiffers(applied_full, old, leaf)) conflicts.emplace_back(i, leaf);
    }
  }
  // kubectl's own manager may take over what client-side apply wrote: conflicts on fields that
  // the last-applied annotation holds and that nobody changed since are forgiven (apply is then
  // forced), the others are reported alone.
  if (!conflicts.empty() && !force && manager == "kubectl") {
    Json allowed = AllowedConflictsFromLastApplied(old, assoc);
    std::vector<std::pair<std::size_t, std::vector<std::string>>> rest;
    for (const auto& conflict : conflicts) {
      if (!FieldSetContainsLeaf(allowed, conflict.second)) rest.push_back(conflict);
    }
    if (rest.empty()) force = true;
    conflicts = rest;
  }
  if (!conflicts.empty() && !force) {
    Json causes = Json::array();
    std::map<std::string, std::vector<std::string>> by_manager;
    for (const auto& [i, leaf] : conflicts) {
      std::string m = ConflictManager(entries[i]);
      causes.push_back({{"reason", "FieldManagerConflict"},
                        {"message", "conflict with " + m},
                        {"field", FieldPathString(leaf)}});
      by_manager[m].push_back(FieldPathString(leaf));
    }
    std::string msg;
    if (conflicts.size() == 1) {
      msg = "Apply failed with 1 conflict: conflict with " +
            ConflictManager(entries[conflicts[0].first]) + ": " +
            FieldPathString(conflicts[0].second);
    } else {
      msg = "Apply failed with " + std::to_string(conflicts.size()) + " conflicts: ";
      bool first = true;
      for (const auto& [m, paths] : by_manager) {
        msg += (first ? "" : "\n") + std::string("conflicts with ") + m + ":";
        for (const auto& p : paths) msg += "\n- " + p;
        first = false;
      }
    }
    throw MakeError(409, "Conflict", msg, {{"causes", causes}});
  }
  // Take the conflicting fields from their owners (force).
  Json others = Json::object();
  Json previous_mine = Json::object();
  for (auto& e : entries) {
    bool self = e.value("manager", "") == manager && e.value("operation", "") == "Apply" &&
                e.value("subresource", "") == subresource;
    if (self) {
      previous_mine = e.value("fieldsV1", Json::object());
      continue;
    }
    Json taken = Json::object();
    Json overlap = FieldSetIntersection(applied_set, e.value("fieldsV1", Json::object()));
    for (const auto& leaf : FieldSetLeaves(overlap)) {
      if (LeafDiffers(applied_full, old, leaf)) {
        Json one = Json::object();
        Json* node = &one;
        for (const auto& p : leaf) node = &((*node)[p] = Json::object());
        taken = FieldSetUnion(taken, one);
      }
    }
    e["fieldsV1"] = FieldSetDifference(e.value("fieldsV1", Json::object()), taken);
    others = FieldSetUnion(others, e["fieldsV1"]);
  }
  next["metadata"]["managedFields"] = entries;
  Json merge_body = applied_full;
  merge_body.erase("apiVersion");
  merge_body.erase("kind");
  if (status_write) {
    Json st = merge_body.value("status", Json::object());
    merge_body = Json{{"status", st}};
  }
  ApplyMerge(next, merge_body, assoc);
  Json removed = FieldSetDifference(FieldSetDifference(previous_mine, applied_set), others);
  for (const auto& leaf : FieldSetLeaves(removed)) RemoveAt(next, leaf);
  SetManagerEntry(next, manager, "Apply", c.rt->GroupVersion(), subresource, applied_set);
  PruneManagers(next, assoc);
  // kubectl's server-side apply keeps an existing last-applied annotation in step with what it
  // applied, so that client-side apply still works afterwards.
  if (manager == "kubectl" && !status_write && !LastApplied(old).empty()) {
    Json config = applied;
    if (config.contains("metadata") && config["metadata"].contains("annotations")) {
      config["metadata"]["annotations"].erase(kLastApplied);
    }
    next["metadata"]["annotations"][kLastApplied] = config.dump() + "\n";
  }
  if (!status_write) {
    if (!c.rt->builtin) ValidateCustom(c, next, true, nullptr);
    CheckValid(c, next, &old);
  }
  // A no-op keeps the old managedFields (timestamps) too.
  Json cmp_next = next, cmp_old = old;
  for (auto* o : {&cmp_next, &cmp_old}) {
    for (auto& e : (*o)["metadata"]["managedFields"]) e.erase("time");
  }
  if (cmp_next["metadata"].value("managedFields", Json()) ==
          cmp_old["metadata"].value("managedFields", Json()) &&
      Stripped(next) == Stripped(old)) {
    return ObjectResponse(c, 200, old);
  }
  return FinishUpdate(c, old, next, warnings);
}

HttpResponse DoPatch(Ctx& c) {
  std::string type = c.req.Header("content-type");
  auto semi = type.find(';');
  if (semi != std::string::npos) type = type.substr(0, semi);
  type = Trim(type);
  if (type == "application/apply-patch+yaml" || type == "application/apply-patch+cbor")
    return DoApply(c);
  if (c.req.HasQuery("force")) {
    throw MakeError(422, "Invalid",
                    "PatchOptions.meta.k8s.io \"\" is invalid: force: Forbidden: may not be "
                    "specified for non-apply patch",
                    {{"group", "meta.k8s.io"},
                     {"kind", "PatchOptions"},
                     {"causes",
                      {{{"reason", "FieldValueForbidden"},
                        {"message", "Forbidden: may not be specified for non-apply patch"},
                        {"field", "force"}}}}});
  }
  bool strategic = type == "application/strategic-merge-patch+json" && c.rt->builtin;
  bool merge = type == "application/merge-patch+json" || strategic;
  bool jsonpatch = type == "application/json-patch+json";
  if (!merge && !jsonpatch) {
    std::string accepted =
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml";
    if (c.rt->builtin) accepted += ", application/strategic-merge-patch+json";
    throw MakeError(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: " +
            accepted);
  }
  Json* existing = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (existing == nullptr) throw NotFoundError(*c.rt, c.attrs.name);
  Json old = *existing;
  const Json patch = ParsePatch(c.req.body);
  Json next = old;
  if (merge) {
    CheckMergePatch(c, patch, old);
    if (strategic) {
      StrategicMergePatch(next, patch, BuiltinSchema(c.rt->group, c.rt->kind));
    } else {
      MergePatch(next, patch);
    }
  } else {
    next = ApplyJsonPatch(old, patch);
    // A resourceVersion the patch wrote is a precondition (kubectl's managedFields upgrade
    // replaces it with the one it read).
    std::string want = next.contains("metadata") && next["metadata"].is_object()
                           ? next["metadata"].value("resourceVersion", "")
                           : "";
    if (!want.empty() && want != old["metadata"].value("resourceVersion", ""))
      throw ConflictError(*c.rt, c.attrs.name);
  }
  if (StatusSubresourceWrite(c)) {
    Json only = old;
    if (next.contains("status"))
      only["status"] = next["status"];
    else
      only.erase("status");
    next = only;
  } else if (c.rt->status_subresource) {
    if (old.contains("status"))
      next["status"] = old["status"];
    else
      next.erase("status");
  }
  next["metadata"]["managedFields"] =
      ManagedFieldsForUpdate(next, old, !c.attrs.subresource.empty());
  HttpResponse warnings;
  if (!StatusSubresourceWrite(c)) {
    ValidateCustom(c, next, false, &warnings);
    CheckValid(c, next, &old);
  }
  RecordUpdate(*c.rt, old, next, FieldManagerOf(c.req), c.attrs.subresource);
  return FinishUpdate(c, old, next, warnings);
}

// ---- the scale subresource (autoscaling/v1 Scale) of deployments, replicasets, statefulsets
// -------

// metav1.LabelSelector as a selector string, requirements sorted by key as kube-apiserver prints.
std::string SelectorString(const Json& selector) {
  std::vector<std::pair<std::string, std::string>> reqs;
  if (selector.contains("matchLabels") && selector["matchLabels"].is_object()) {
    for (const auto& [k, v] : selector["matchLabels"].items())
      reqs.emplace_back(k, k + "=" + v.get<std::string>());
  }
  if (selector.contains("matchExpressions") && selector["matchExpressions"].is_array()) {
    for (const auto& e : selector["matchExpressions"]) {
      std::string key = e.value("key", "");
      std::string op = e.value("operator", "");
      std::vector<std::string> values = e.value("values", std::vector<std::string>{});
      std::sort(values.begin(), values.end());
      std::string list;
      for (const auto& v : values) list += (list.empty() ? "" : ",") + v;
      if (op == "In")
        reqs.emplace_back(key, fmt::format("{} in ({})", key, list));
      else if (op == "NotIn")
        reqs.emplace_back(key, fmt::format("{} notin ({})", key, list));
      else if (op == "Exists")
        reqs.emplace_back(key, key);
      else if (op == "DoesNotExist")
        reqs.emplace_back(key, "!" + key);
    }
  }
  std::stable_sort(reqs.begin(), reqs.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  for (const auto& r : reqs) out += (out.empty() ? "" : ",") + r.second;
  return out;
}

Json ScaleOf(const Json& obj) {
  const Json& meta = obj["metadata"];
  Json scale_meta{{"name", meta["name"]},
                  {"uid", meta["uid"]},
                  {"resourceVersion", meta["resourceVersion"]},
                  {"creationTimestamp", meta["creationTimestamp"]}};
  if (meta.contains("namespace")) scale_meta["namespace"] = meta["namespace"];
  Json spec = obj.value("spec", Json::object());
  Json status_in = obj.value("status", Json::object());
  Json status{{"replicas", status_in.value("replicas", 0)}};
  if (spec.contains("selector") && spec["selector"].is_object()) {
    std::string sel = SelectorString(spec["selector"]);
    if (!sel.empty()) status["selector"] = sel;
  }
  Json scale_spec = Json::object();
  if (spec.value("replicas", 0) != 0) scale_spec["replicas"] = spec["replicas"];
  return Json{{"kind", "Scale"},
              {"apiVersion", "autoscaling/v1"},
              {"metadata", scale_meta},
              {"spec", scale_spec},
              {"status", status}};
}

// GET/PUT/PATCH .../{name}/scale: reads or writes spec.replicas through an autoscaling/v1 Scale.
HttpResponse DoScale(Ctx& c) {
  Json* existing = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (existing == nullptr) throw NotFoundError(*c.rt, c.attrs.name);
  Json old = *existing;
  Json scale = ScaleOf(old);
  if (c.attrs.verb == "get") return JsonResponse(200, scale);
  if (c.attrs.verb == "update") {
    Json body = ParseBody(c.req, true);
    // As kube-apiserver's decoder: a body without kind/apiVersion is the type the path expects.
    if (!body.contains("kind") && body.is_object()) body["kind"] = "Scale";
    if (body.value("kind", "") != "Scale") {
      throw BadRequestError("the body of the request must be an autoscaling/v1 Scale, not " +
                            Quote(body.value("kind", "")));
    }
    CheckResourceVersion(c, body, old, false);
    scale = body;
  } else if (c.attrs.verb == "patch") {
    std::string type = c.req.Header("content-type");
    type = Trim(type.substr(0, type.find(';')));
    bool merge =
        type == "application/merge-patch+json" || type == "application/strategic-merge-patch+json";
    if (!merge && type != "application/json-patch+json") {
      throw MakeError(415, "UnsupportedMediaType",
                      "the body of the request was in an unknown format - accepted media types "
                      "include: application/json-patch+json, "
                      "application/merge-patch+json, application/strategic-merge-patch+json");
    }
    const Json patch = ParsePatch(c.req.body);
    if (merge) {
      CheckMergePatch(c, patch, old);
      MergePatch(scale, patch);
    } else {
      scale = ApplyJsonPatch(scale, patch);
    }
  } else {
    throw MakeError(405, "MethodNotAllowed",
                    c.req.method + " is not supported on resources of kind \"" +
                        c.rt->QualifiedResource() + "/scale\"");
  }
  const Json& replicas =
      scale.contains("spec") && scale["spec"].is_object() && scale["spec"].contains("replicas")
          ? scale["spec"]["replicas"]
          : Json(0);
  if (!replicas.is_number_integer())
    throw BadRequestError("spec.replicas of a Scale must be an integer");
  if (replicas.get<std::int64_t>() < 0) {
    throw InvalidError(
        "Scale.autoscaling", "autoscaling", "Scale", c.attrs.name,
        {{"FieldValueInvalid", "spec.replicas",
          "Invalid value: " + replicas.dump() + ": must be greater than or equal to 0"}});
  }
  Json next = old;
  next["spec"]["replicas"] = replicas;
  HttpResponse warnings;
  RecordUpdate(*c.rt, old, next, FieldManagerOf(c.req), "scale");
  HttpResponse r = FinishUpdate(c, old, next, warnings);
  const Json* stored = DryRun(c.req) ? nullptr : c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  return JsonResponse(r.status, ScaleOf(stored != nullptr ? *stored : next));
}

HttpResponse DoDelete(Ctx& c);

// PUT namespaces/<name>/finalize: writes spec.finalizers only; a terminating namespace whose
// finalizers are all gone is removed.
HttpResponse DoFinalize(Ctx& c) {
  Json body = ParseBody(c.req, true);
  Json* existing = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (existing == nullptr) throw NotFoundError(*c.rt, c.attrs.name);
  Json next = *existing;
  Json finalizers = body.value("spec", Json::object()).value("finalizers", Json::array());
  if (finalizers.empty()) {
    next["spec"].erase("finalizers");
  } else {
    next["spec"]["finalizers"] = finalizers;
  }
  Json stored = c.s.ControllerWrite("", "v1", "namespaces", next, FieldManagerOf(c.req), false);
  const Json& meta = stored["metadata"];
  if (meta.contains("deletionTimestamp") && finalizers.empty() &&
      meta.value("finalizers", Json::array()).empty()) {
    c.s.Remove(*c.rt, "", c.attrs.name);
  }
  return ObjectResponse(c, 200, stored);
}

Json DecodeTokenRequestProtobuf(const std::string& body);

// POST serviceaccounts/<name>/token: a TokenRequest answered with a bearer token that
// authenticates as the service account from now on.
HttpResponse DoToken(Ctx& c) {
  Json* sa = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (sa == nullptr) throw NotFoundError(*c.rt, c.attrs.name);
  Json body = c.req.body.empty() ? Json::object()
              : c.req.Header("content-type").find("protobuf") != std::string::npos
                  ? DecodeTokenRequestProtobuf(c.req.body)
                  : ParseBody(c.req, false);
  Json spec = body.contains("spec") && body["spec"].is_object() ? body["spec"] : Json::object();
  std::int64_t seconds =
      spec.contains("expirationSeconds") && spec["expirationSeconds"].is_number_integer()
          ? spec["expirationSeconds"].get<std::int64_t>()
          : 3600;
  if (seconds < 600) {
    throw InvalidError("TokenRequest.authentication.k8s.io", "authentication.k8s.io",
                       "TokenRequest", c.attrs.name,
                       {{"FieldValueInvalid", "spec.expirationSeconds",
                         "Invalid value: " + std::to_string(seconds) +
                             ": may not specify a duration less than 10 minutes"}});
  }
  if (!spec.contains("audiences") || !spec["audiences"].is_array() || spec["audiences"].empty()) {
    spec["audiences"] = Json::array({"https://kubernetes.default.svc.cluster.local"});
  }
  spec["expirationSeconds"] = seconds;
  spec["boundObjectRef"] = spec.value("boundObjectRef", Json());
  std::string token = "kube-sim." + RandomToken(24);
  c.s.tokens[token] =
      Identity{"system:serviceaccount:" + c.ns + ":" + c.attrs.name,
               {"system:serviceaccounts", "system:serviceaccounts:" + c.ns, "system:authenticated"},
               (*sa)["metadata"].value("uid", ""),
               {}};
  auto expires = SimWallNow() + std::chrono::seconds(seconds);
  Json out{{"kind", "TokenRequest"},
           {"apiVersion", "authentication.k8s.io/v1"},
           {"metadata",
            {{"name", c.attrs.name}, {"namespace", c.ns}, {"creationTimestamp", NowRfc3339()}}},
           {"spec", spec},
           {"status", {{"token", token}, {"expirationTimestamp", FormatRfc3339(expires)}}}};
  return JsonResponse(201, out);
}

// The subresources beyond status and scale: pods/log, serviceaccounts/token, pods/binding,
// pods/eviction, namespaces/finalize; the streaming ones (exec, attach, portforward, proxy) need
// a connection upgrade kube-sim does not offer.
HttpResponse DoSubresource(Ctx& c, const Subresource& sr) {
  const std::string res = c.rt->plural + "/" + sr.name;
  if (std::find(sr.verbs.begin(), sr.verbs.end(), c.attrs.verb) == sr.verbs.end()) {
    throw MakeError(405, "MethodNotAllowed",
                    c.req.method + " is not supported on resources of kind \"" + res + "\"",
                    {{"kind", res}});
  }
  if (sr.name == "token") return DoToken(c);
  Json* existing = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (existing == nullptr) throw NotFoundError(*c.rt, c.attrs.name);
  if (sr.name == "log") return PodLog(*existing, c.req);
  if (sr.name == "ephemeralcontainers") return ObjectResponse(c, 200, *existing);
  if (sr.name == "binding") {
    Json binding = ParseBody(c.req, false);
    std::string node = binding.value("target", Json::object()).value("name", "");
    Json pod = *existing;
    if (!pod["spec"].value("nodeName", "").empty()) {
      throw MakeError(409, "Conflict",
                      "Operation cannot be fulfilled on pods/binding \"" + c.attrs.name +
                          "\": pod " + c.attrs.name + " is already assigned to node \"" +
                          pod["spec"]["nodeName"].get<std::string>() + "\"",
                      {{"name", c.attrs.name}, {"kind", "pods/binding"}});
    }
    pod["spec"]["nodeName"] = node;
    c.s.ControllerWrite("", "v1", "pods", pod, FieldManagerOf(c.req), false);
    return JsonResponse(201, Json{{"kind", "Status"},
                                  {"apiVersion", "v1"},
                                  {"metadata", Json::object()},
                                  {"status", "Success"},
                                  {"code", 201}});
  }
  if (sr.name == "eviction") {
    Ctx one = c;
    one.attrs.subresource.clear();
    DoDelete(one);
    return JsonResponse(201, Json{{"kind", "Status"},
                                  {"apiVersion", "v1"},
                                  {"metadata", Json::object()},
                                  {"status", "Success"},
                                  {"code", 201}});
  }
  if (sr.name == "finalize") return DoFinalize(c);
  throw BadRequestError("Upgrade request required");
}

HttpResponse DoDelete(Ctx& c) {
  Json* existing = c.s.Lookup(*c.rt, c.ns, c.attrs.name);
  if (existing == nullptr) throw NotFoundError(*c.rt, c.attrs.name);
  bool dry = DryRun(c.req);
  Json old = *existing;
  if (!c.req.body.empty()) {
    try {
      Json opts = Json::parse(c.req.body);
      if (opts.contains("preconditions")) {
        const Json& pre = opts["preconditions"];
        if (pre.contains("resourceVersion") && pre["resourceVersion"].is_string() &&
            pre["resourceVersion"] != old["metadata"]["resourceVersion"]) {
          throw ConflictError(*c.rt, c.attrs.name);
        }
        if (pre.contains("uid") && pre["uid"].is_string() && pre["uid"] != old["metadata"]["uid"]) {
          throw MakeError(409, "Conflict",
                          "Operation cannot be fulfilled on " + c.rt->QualifiedResource() + " \"" +
                              c.attrs.name + "\": Precondition failed: UID in precondition: " +
                              pre["uid"].get<std::string>() +
                              ", UID in object meta: " + old["metadata"]["uid"].get<std::string>(),
                          {{"name", c.attrs.name}, {"group", c.rt->group}, {"kind", c.rt->plural}});
        }
      }
    } catch (const Json::exception&) {
      // DeleteOptions are optional.
    }
  }
  // propagationPolicy (body or query; orphanDependents is its deprecated form). Background
  // removes the object now and the garbage collector its dependents; Foreground and Orphan keep
  // the object (finalizer foregroundDeletion / orphan) until the collector has dealt with them.
  std::string policy = c.req.Query("propagationPolicy");
  if (!c.req.body.empty()) {
    try {
      Json opts = Json::parse(c.req.body);
      if (opts.is_object() && opts.contains("propagationPolicy") &&
          opts["propagationPolicy"].is_string()) {
        policy = opts["propagationPolicy"].get<std::string>();
      } else if (opts.is_object() && opts.contains("orphanDependents") &&
                 opts["orphanDependents"].is_boolean()) {
        policy = opts["orphanDependents"].get<bool>() ? "Orphan" : "Background";
      }
    } catch (const Json::exception&) {
    }
  }
  if (!policy.empty() && policy != "Background" && policy != "Foreground" && policy != "Orphan") {
    throw MakeError(
        422, "Invalid",
        "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: " +
            Quote(policy) +
            ": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\"",
        {{"group", "meta.k8s.io"},
         {"kind", "DeleteOptions"},
         {"causes",
          {{{"reason", "FieldValueNotSupported"},
            {"message",
             "Unsupported value: " + Quote(policy) +
                 ": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""},
            {"field", "propagationPolicy"}}}}});
  }
  const Json& meta = old["metadata"];
  bool is_namespace = c.rt->group.empty() && c.rt->plural == "namespaces";
  std::string gc_finalizer = policy == "Foreground" ? "foregroundDeletion"
                             : policy == "Orphan"   ? "orphan"
                                                    : "";
  bool keeps = (meta.contains("finalizers") && !meta["finalizers"].empty()) ||
               !gc_finalizer.empty() ||
               (is_namespace &&
                !old.value("spec", Json::object()).value("finalizers", Json::array()).empty());
  if (keeps) {
    Json next = old;
    Json& m = next["metadata"];
    if (!gc_finalizer.empty()) {
      Json finalizers = m.value("finalizers", Json::array());
      if (std::find(finalizers.begin(), finalizers.end(), gc_finalizer) == finalizers.end())
        finalizers.push_back(gc_finalizer);
      m["finalizers"] = finalizers;
    }
    if (!m.contains("deletionTimestamp")) {
      m["deletionTimestamp"] = NowRfc3339();
      m["deletionGracePeriodSeconds"] = 0;
      if (m.contains("generation")) m["generation"] = m["generation"].get<std::int64_t>() + 1;
    }
    if (is_namespace) next["status"]["phase"] = "Terminating";
    if (Stripped(next) == Stripped(old)) return ObjectResponse(c, 200, old);
    if (dry) return ObjectResponse(c, 200, next);
    Json stored = c.s.Commit(*c.rt, next, "MODIFIED");
    return ObjectResponse(c, 200, stored);
  }
  if (dry) return JsonResponse(200, Output(*c.rt, old));
  if (c.rt->group == "apiextensions.k8s.io" && c.rt->plural == "customresourcedefinitions") {
    const Json& spec = old["spec"];
    auto versions = c.s.registry.Versions(spec["group"].get<std::string>(),
                                          spec["names"]["plural"].get<std::string>());
    if (!versions.empty()) {
      std::vector<std::pair<std::string, std::string>> doomed;
      std::string prefix = State::Key(versions[0]->group, versions[0]->plural, "", "");
      prefix = prefix.substr(0, prefix.size() - 2);
      for (const auto& [key, obj] : c.s.objects) {
        if (StartsWith(key, prefix + "|"))
          doomed.emplace_back(obj["metadata"].value("namespace", ""),
                              obj["metadata"]["name"].get<std::string>());
      }
      ResourceType rt = *versions[0];
      for (const auto& [ns, name] : doomed) c.s.Remove(rt, ns, name);
    }
    c.s.registry.RemoveCrd(old);
  }
  c.s.Remove(*c.rt, c.ns, c.attrs.name);
  Json details{{"name", c.attrs.name}, {"kind", c.rt->plural}, {"uid", meta["uid"]}};
  if (!c.rt->group.empty()) details["group"] = c.rt->group;
  return JsonResponse(200, Json{{"kind", "Status"},
                                {"apiVersion", "v1"},
                                {"metadata", Json::object()},
                                {"status", "Success"},
                                {"details", details}});
}

std::vector<Json> Matching(Ctx& c) {
  auto labels = ParseLabelSelector(c.req.Query("labelSelector"));
  auto fields = ParseFieldSelector(c.req.Query("fieldSelector"), *c.rt);
  std::vector<Json> out;
  std::string prefix = c.rt->group + "|" + c.rt->plural + "|";
  for (auto it = c.s.objects.lower_bound(prefix);
       it != c.s.objects.end() && StartsWith(it->first, prefix); ++it) {
    const Json& o = it->second;
    if (!c.ns.empty() && o["metadata"].value("namespace", "") != c.ns) continue;
    if (!MatchLabels(labels, o) || !MatchFields(fields, o)) continue;
    out.push_back(o);
  }
  return out;
}

// A list continue token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<ns>/<name>\u0000"}, like
// the etcd3 store's.
std::string ContinueToken(std::uint64_t rv, const std::string& after) {
  return Base64(
      Json{{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", after + std::string(1, '\0')}}.dump());
}

std::string ItemKey(const Json& o) {
  return o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "");
}

// limit/continue: pages in key order (namespace, name). A continued list reports the first
// page's resourceVersion but reads the current state (kube-sim keeps no snapshots).
HttpResponse DoList(Ctx& c) {
  auto items = Matching(c);
  std::uint64_t list_rv = c.s.rv;
  std::string cont = c.req.Query("continue");
  if (!cont.empty()) {
    Json token;
    try {
      std::string raw = Unbase64(cont);
      token = Json::parse(raw);
      if (!token.is_object() || token.value("v", "") != "meta.k8s.io/v1" ||
          !token["rv"].is_number_unsigned() || !token["start"].is_string()) {
        throw std::invalid_argument("unexpected token");
      }
    } catch (const std::exception&) {
      throw BadRequestError(
          "invalid continue token: continue key is not valid: incorrect encoded start "
          "resourceVersion (version meta.k8s.io/v1)");
    }
    list_rv = token["rv"].get<std::uint64_t>();
    if (list_rv < c.s.compacted_rv) {
      throw MakeError(410, "Expired",
                      "The provided continue parameter is too old to display a consistent list "
                      "result. You can start a new "
                      "list without the continue parameter, or use the continue token in this "
                      "response to retrieve the "
                      "remainder of the results. Continuing with the provided token results in an "
                      "inconsistent list - "
                      "objects that were created, modified, or deleted between the time the first "
                      "chunk was returned and "
                      "now may show up in the list.");
    }
    std::string start = token["start"].get<std::string>();
    items.erase(std::remove_if(items.begin(), items.end(),
                               [&](const Json& o) { return ItemKey(o) < start; }),
                items.end());
  }
  std::int64_t limit = 0;
  if (c.req.HasQuery("limit")) {
    try {
      limit = std::stoll(c.req.Query("limit"));
    } catch (const std::exception&) {
      throw BadRequestError("invalid limit: " + c.req.Query("limit"));
    }
  }
  Json list_meta{{"resourceVersion", std::to_string(list_rv)}};
  if (limit > 0 && items.size() > static_cast<std::size_t>(limit)) {
    std::size_t n = static_cast<std::size_t>(limit);
    list_meta["continue"] = ContinueToken(list_rv, ItemKey(items[n - 1]));
    if (c.req.Query("labelSelector").empty() && c.req.Query("fieldSelector").empty()) {
      list_meta["remainingItemCount"] = items.size() - n;
    }
    items.resize(n);
  }
  if (AcceptsTable(c.req)) {
    Json table = Table(c, items, list_rv);
    table["metadata"] = list_meta;
    return JsonResponse(200, table, kTableType);
  }
  Json arr = Json::array();
  for (auto& o : items) {
    if (c.rt->builtin) {
      o.erase("apiVersion");
      o.erase("kind");
    } else {
      o["apiVersion"] = c.rt->GroupVersion();
    }
    arr.push_back(std::move(o));
  }
  return JsonResponse(200, Json{{"kind", c.rt->kind + "List"},
                                {"apiVersion", c.rt->GroupVersion()},
                                {"metadata", list_meta},
                                {"items", arr}});
}

// ---- watch
// ---------------------------------------------------------------------------------------

struct WatchJob {
  State* s = nullptr;
  ResourceType rt;
  std::string ns;
  std::vector<LabelRequirement> labels;
  std::vector<FieldRequirement> fields;
  bool bookmarks = false;
  bool table = false;
  HttpRequest req;
  std::uint64_t start = 0;
  std::uint64_t wait_for_rv = 0;  // > 0: the requested RV is in the future
  std::vector<Json> initial;
  Json error;  // a Status to send as an ERROR event, then close
  std::chrono::steady_clock::time_point deadline;
  std::uint64_t epoch = 0;          // State::watch_epoch when the watch began
  bool initial_events_end = false;  // sendInitialEvents=true: bookmark after the initial events
};

// Counts the open watches (GET /_sim/state) while a watch streams.
struct OpenWatch {
  explicit OpenWatch(State& s) : s_(s) {
    std::lock_guard lock(s_.mu);
    ++s_.open_watches;
  }
  ~OpenWatch() {
    std::lock_guard lock(s_.mu);
    --s_.open_watches;
  }
  OpenWatch(const OpenWatch&) = delete;
  OpenWatch& operator=(const OpenWatch&) = delete;
  State& s_;
};

// A watch ends when DELETE /_sim/watches dropped all of them, or when its type went away (CRD
// deleted), as kube-apiserver ends them.
bool WatchCancelled(const State& s, const WatchJob& job) {
  return s.watch_epoch != job.epoch ||
         s.registry.Find(job.rt.group, job.rt.version, job.rt.plural) == nullptr;
}

std::string EventLine(const WatchJob& job, const std::string& type, const Json& object) {
  Json obj;
  if (type == "ERROR" || type == "BOOKMARK") {
    obj = object;
  } else if (job.table) {
    Identity none;
    Ctx c{*job.s, const_cast<HttpRequest&>(job.req), none, Attributes{}, &job.rt, job.ns};
    obj = Table(c, {object}, 0);
    obj["metadata"]["resourceVersion"] = object["metadata"].value("resourceVersion", "");
  } else {
    obj = Output(job.rt, object);
  }
  return Json{{"type", type}, {"object", obj}}.dump() + "\n";
}

void RunWatch(const std::shared_ptr<WatchJob>& job, StreamSink& sink) {
  State& s = *job->s;
  OpenWatch open(s);
  for (const auto& o : job->initial) {
    if (!sink.Write(EventLine(*job, "ADDED", o))) return;
  }
  if (job->initial_events_end) {
    // sendInitialEvents: a bookmark marks the end of the initial state.
    Json bm{{"kind", job->rt.kind},
            {"apiVersion", job->rt.GroupVersion()},
            {"metadata",
             {{"resourceVersion", std::to_string(job->start)},
              {"creationTimestamp", nullptr},
              {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
    if (!sink.Write(EventLine(*job, "BOOKMARK", bm))) return;
  }
  if (!job->error.is_null()) {
    sink.Write(EventLine(*job, "ERROR", job->error));
    return;
  }
  std::uint64_t last = job->start;
  if (job->wait_for_rv > 0) {
    std::unique_lock lock(s.mu);
    bool reached = s.cv.wait_for(lock, std::chrono::seconds(3), [&] {
      return s.rv >= job->wait_for_rv || WatchCancelled(s, *job);
    });
    if (WatchCancelled(s, *job)) return;
    if (!reached) {
      Json err = StatusBody(
          504, "Timeout",
          "Timeout: Too large resource version: " + std::to_string(job->wait_for_rv) +
              ", current: " + std::to_string(s.rv),
          {{"causes",
            {{{"reason", "ResourceVersionTooLarge"}, {"message", "Too large resource version"}}}},
           {"retryAfterSeconds", 1}});
      lock.unlock();
      sink.Write(EventLine(*job, "ERROR", err));
      return;
    }
  }
  auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s.options.bookmark_interval_seconds));
  auto last_bookmark = std::chrono::steady_clock::now();
  for (;;) {
    std::vector<std::pair<std::string, Json>> out;
    {
      std::unique_lock lock(s.mu);
      auto now = std::chrono::steady_clock::now();
      if (now >= job->deadline || WatchCancelled(s, *job)) return;
      auto wait = std::min<std::chrono::steady_clock::duration>(job->deadline - now,
                                                                std::chrono::milliseconds(250));
      s.cv.wait_for(lock, wait, [&] { return s.rv > last || WatchCancelled(s, *job); });
      // Dropped: end now. Type removed: deliver the DELETED events first (the next round ends).
      if (s.watch_epoch != job->epoch) return;
      if (!s.history.empty() && s.history.front().rv > last + 1 && last < s.compacted_rv) {
        Json err = StatusBody(410, "Expired",
                              "too old resource version: " + std::to_string(last) + " (" +
                                  std::to_string(s.compacted_rv) + ")");
        lock.unlock();
        sink.Write(EventLine(*job, "ERROR", err));
        return;
      }
      auto it = s.history.end();
      while (it != s.history.begin() && std::prev(it)->rv > last) --it;
      for (; it != s.history.end(); ++it) {
        const WatchEvent& ev = *it;
        if (ev.group != job->rt.group || ev.plural != job->rt.plural) continue;
        if (!job->ns.empty() && ev.ns != job->ns) continue;
        bool now_match = MatchLabels(job->labels, ev.object) && MatchFields(job->fields, ev.object);
        bool was_match = !ev.previous.is_null() && MatchLabels(job->labels, ev.previous) &&
                         MatchFields(job->fields, ev.previous);
        std::string type = ev.type;
        if (ev.type == "MODIFIED") {
          if (now_match && !was_match)
            type = "ADDED";
          else if (!now_match && was_match)
            type = "DELETED";
          else if (!now_match)
            continue;
        } else if (!now_match) {
          continue;
        }
        Json obj = ev.object;
        if (type == "DELETED" && ev.type == "MODIFIED") obj = ev.object;
        out.emplace_back(type, obj);
      }
      last = s.rv;
    }
    for (const auto& [type, obj] : out) {
      if (!sink.Write(EventLine(*job, type, obj))) return;
    }
    if (sink.PeerClosed()) return;
    auto now = std::chrono::steady_clock::now();
    if (job->bookmarks && s.options.bookmark_interval_seconds > 0 &&
        now - last_bookmark >= interval) {
      last_bookmark = now;
      Json bm{{"kind", job->rt.kind},
              {"apiVersion", job->rt.GroupVersion()},
              {"metadata",
               {{"resourceVersion", std::to_string(last)}, {"creationTimestamp", nullptr}}}};
      if (!sink.Write(EventLine(*job, "BOOKMARK", bm))) return;
    }
  }
}

HttpResponse DoWatch(Ctx& c) {
  // The WatchList form (sendInitialEvents) and its rules, as a v1.32 apiserver with the WatchList
  // feature enabled checks them.
  bool has_initial = c.req.HasQuery("sendInitialEvents");
  bool initial = c.req.Query("sendInitialEvents") == "true";
  bool bookmarks =
      c.req.Query("allowWatchBookmarks") == "true" || c.req.Query("allowWatchBookmarks") == "1";
  std::string match = c.req.Query("resourceVersionMatch");
  std::vector<FieldError> errs;
  if (has_initial && match != "NotOlderThan") {
    errs.push_back(
        {"FieldValueForbidden", "resourceVersionMatch",
         "Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"});
  }
  if (!has_initial && !match.empty()) {
    errs.push_back({"FieldValueForbidden", "resourceVersionMatch",
                    "Forbidden: resourceVersionMatch is forbidden for watch unless "
                    "sendInitialEvents is provided"});
  }
  if (initial && !bookmarks) {
    errs.push_back({"FieldValueForbidden", "allowWatchBookmarks",
                    "Forbidden: sendInitialEvents requires setting allowWatchBookmarks to true"});
  }
  if (!errs.empty())
    throw InvalidError("ListOptions.meta.k8s.io", "meta.k8s.io", "ListOptions", "", errs);
  auto job = std::make_shared<WatchJob>();
  job->s = &c.s;
  job->rt = *c.rt;
  job->ns = c.ns;
  job->labels = ParseLabelSelector(c.req.Query("labelSelector"));
  job->fields = ParseFieldSelector(c.req.Query("fieldSelector"), *c.rt);
  job->bookmarks =
      c.req.Query("allowWatchBookmarks") == "true" || c.req.Query("allowWatchBookmarks") == "1";
  job->table = AcceptsTable(c.req);
  job->req = c.req;
  job->epoch = c.s.watch_epoch;
  std::string rv = c.req.Query("resourceVersion");
  if (initial) {
    // NotOlderThan: the current state is at least as new as any resourceVersion asked for.
    job->initial = Matching(c);
    job->start = c.s.rv;
    job->initial_events_end = true;
  } else if (has_initial && (rv.empty() || rv == "0")) {
    job->start = c.s.rv;
  } else if (rv.empty() || rv == "0") {
    job->initial = Matching(c);
    job->start = c.s.rv;
  } else {
    std::uint64_t n = 0;
    try {
      std::size_t used = 0;
      n = std::stoull(rv, &used);
      if (used != rv.size()) throw std::invalid_argument("rv");
    } catch (const std::exception&) {
      throw MakeError(400, "BadRequest", "invalid resource version: " + rv);
    }
    if (n < c.s.compacted_rv) {
      job->error = StatusBody(
          410, "Expired",
          "too old resource version: " + rv + " (" + std::to_string(c.s.compacted_rv) + ")");
    } else if (n > c.s.rv) {
      job->wait_for_rv = n;
    }
    job->start = n;
  }
  double timeout = 1800;
  if (c.req.HasQuery("timeoutSeconds")) {
    try {
      timeout = std::stod(c.req.Query("timeoutSeconds"));
    } catch (const std::exception&) {
      throw BadRequestError("invalid timeoutSeconds");
    }
  }
  job->deadline = std::chrono::steady_clock::now() +
                  std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                      std::chrono::duration<double>(timeout));
  HttpResponse r;
  r.SetHeader("Content-Type", job->table ? kTableType : kJson);
  r.SetHeader("Cache-Control", "no-cache, private");
  r.stream = [job](StreamSink& sink) { RunWatch(job, sink); };
  return r;
}

// ---- reviews
// ---------------------------------------------------------------------------------------

Json UserInfo(const Identity& who) {
  Json u{{"username", who.user}, {"groups", who.groups}};
  if (!who.uid.empty()) u["uid"] = who.uid;
  if (!who.extra.empty()) u["extra"] = who.extra;
  return u;
}

// ---- minimal protobuf decoding (kubectl's typed clients post reviews as protobuf)
// ----------------

// The first length-delimited field `num` (a view into the same data), or "".
std::string_view PbBytes(const std::vector<PbWireField>& fields, std::uint64_t num) {
  for (const auto& f : fields) {
    if (f.num == num) return f.bytes;
  }
  return {};
}

// The same as text.
std::string PbString(const std::vector<PbWireField>& fields, std::uint64_t num) {
  return std::string(PbBytes(fields, num));
}

// Decodes the review kinds from a runtime.Unknown protobuf envelope into JSON.
Json DecodeReviewProtobuf(const ResourceType& rt, const std::string& body) {
  if (body.size() < 4 || body.compare(0, 4, std::string("k8s\0", 4)) != 0)
    throw BadRequestError("invalid protobuf body");
  auto envelope = ParsePbFields(std::string_view(body).substr(4));
  auto raw = ParsePbFields(PbBytes(envelope, 2));
  auto spec = ParsePbFields(PbBytes(raw, 2));
  Json out{{"apiVersion", rt.GroupVersion()}, {"kind", rt.kind}, {"spec", Json::object()}};
  if (rt.plural == "selfsubjectaccessreviews") {
    const std::string_view ra = PbBytes(spec, 1);
    const std::string_view nra = PbBytes(spec, 2);
    bool has_ra = false, has_nra = false;
    for (const auto& f : spec) {
      has_ra = has_ra || f.num == 1;
      has_nra = has_nra || f.num == 2;
    }
    if (has_ra) {
      auto a = ParsePbFields(ra);
      out["spec"]["resourceAttributes"] = {
          {"namespace", PbString(a, 1)}, {"verb", PbString(a, 2)},
          {"group", PbString(a, 3)},     {"version", PbString(a, 4)},
          {"resource", PbString(a, 5)},  {"subresource", PbString(a, 6)},
          {"name", PbString(a, 7)}};
    } else if (has_nra) {
      auto a = ParsePbFields(nra);
      out["spec"]["nonResourceAttributes"] = {{"path", PbString(a, 1)}, {"verb", PbString(a, 2)}};
    }
  } else if (rt.plural == "selfsubjectrulesreviews") {
    out["spec"]["namespace"] = PbString(spec, 1);
  }
  return out;
}

// kubectl create token posts a protobuf TokenRequest: spec.audiences (1), expirationSeconds (4).
Json DecodeTokenRequestProtobuf(const std::string& body) {
  if (body.size() < 4 || body.compare(0, 4, std::string("k8s\0", 4)) != 0)
    throw BadRequestError("invalid protobuf body");
  auto envelope = ParsePbFields(std::string_view(body).substr(4));
  auto raw = ParsePbFields(PbBytes(envelope, 2));
  Json spec = Json::object();
  for (const auto& f : ParsePbFields(PbBytes(raw, 2))) {
    if (f.num == 1) spec["audiences"].push_back(std::string(f.bytes));
    if (f.num == 4) spec["expirationSeconds"] = static_cast<std::int64_t>(f.varint);
  }
  return Json{{"spec", spec}};
}

HttpResponse DoReview(Ctx& c) {
  Json body = c.req.Header("content-type").find("protobuf") != std::string::npos
                  ? DecodeReviewProtobuf(*c.rt, c.req.body)
                  : ParseBody(c.req);
  Json out = Output(*c.rt, body);
  out["metadata"] = {{"creationTimestamp", nullptr}};
  if (c.rt->plural == "bindings") {
    Json* pod =
        c.s.Lookup(*c.s.registry.Find("", "v1", "pods"), c.ns, body["metadata"].value("name", ""));
    if (pod == nullptr)
      throw MakeError(404, "NotFound",
                      "pods \"" + body["metadata"].value("name", "") + "\" not found",
                      {{"name", body["metadata"].value("name", "")}, {"kind", "pods"}});
    Json next = *pod;
    next["spec"]["nodeName"] = body.value("target", Json::object()).value("name", "");
    c.s.ControllerWrite("", "v1", "pods", next, FieldManagerOf(c.req), false);
    return JsonResponse(201, Json{{"kind", "Status"},
                                  {"apiVersion", "v1"},
                                  {"metadata", Json::object()},
                                  {"status", "Success"},
                                  {"code", 201}});
  }
  if (c.rt->plural == "tokenreviews") {
    std::string token = body.value("spec", Json::object()).value("token", "");
    auto it = c.s.tokens.find(token);
    Json status{{"authenticated", it != c.s.tokens.end()}};
    if (it != c.s.tokens.end()) {
      status["user"] = UserInfo(it->second);
      status["audiences"] =
          body.value("spec", Json::object())
              .value("audiences", Json::array({"https://kubernetes.default.svc.cluster.local"}));
    } else {
      status["error"] = "invalid bearer token";
    }
    out["status"] = status;
    return JsonResponse(201, out);
  }
  if (c.rt->plural == "selfsubjectreviews") {
    out["status"] = {{"userInfo", UserInfo(c.who)}};
  } else if (c.rt->plural == "selfsubjectaccessreviews" || c.rt->plural == "subjectaccessreviews" ||
             c.rt->plural == "localsubjectaccessreviews") {
    Attributes a;
    const Json spec = body.value("spec", Json::object());
    Identity subject = c.who;
    if (c.rt->plural != "selfsubjectaccessreviews") {
      subject = Identity{spec.value("user", ""),
                         spec.value("groups", std::vector<std::string>{}),
                         spec.value("uid", ""),
                         {}};
    }
    if (spec.contains("resourceAttributes")) {
      const Json& ra = spec["resourceAttributes"];
      a.resource_request = true;
      a.verb = ra.value("verb", "");
      a.group = ra.value("group", "");
      a.resource = ra.value("resource", "");
      a.subresource = ra.value("subresource", "");
      a.ns = ra.value("namespace", "");
      a.name = ra.value("name", "");
    } else if (spec.contains("nonResourceAttributes")) {
      a.verb = spec["nonResourceAttributes"].value("verb", "");
      a.path = spec["nonResourceAttributes"].value("path", "");
    } else {
      throw InvalidError("SelfSubjectAccessReview.authorization.k8s.io", "authorization.k8s.io",
                         "SelfSubjectAccessReview", "",
                         {{"FieldValueRequired", "spec.resourceAttributes",
                           "Required value: exactly one of nonResourceAttributes or "
                           "resourceAttributes must be specified"}});
    }
    if (c.rt->plural == "localsubjectaccessreviews") a.ns = c.ns;
    bool allowed = c.s.Authorize(subject, a);
    out["status"] = {{"allowed", allowed}};
  } else {
    std::string ns = body.value("spec", Json::object()).value("namespace", "");
    Json resource_rules = Json::array(), non_resource_rules = Json::array();
    std::vector<Rule> all = c.s.rules;
    for (auto& r : c.s.BoundRules(c.who)) all.push_back(std::move(r));
    for (const auto& r : all) {
      bool subject = Contains(r.users, c.who.user);
      for (const auto& g : c.who.groups) subject = subject || Contains(r.groups, g);
      if (!subject) continue;
      if (!r.resources.empty() && (r.namespaces.empty() || Contains(r.namespaces, ns))) {
        Json rr{{"verbs", r.verbs}, {"apiGroups", r.api_groups}, {"resources", r.resources}};
        if (!r.resource_names.empty()) rr["resourceNames"] = r.resource_names;
        resource_rules.push_back(rr);
      }
      if (!r.non_resource_urls.empty())
        non_resource_rules.push_back(
            {{"verbs", r.verbs}, {"nonResourceURLs", r.non_resource_urls}});
    }
    out["status"] = {{"resourceRules", resource_rules},
                     {"nonResourceRules", non_resource_rules},
                     {"incomplete", false}};
  }
  return JsonResponse(201, out);
}

// ---- authentication and impersonation ----------------------------------------------------------

std::string ObjectRefString(const std::string& kind, const std::string& ns, const std::string& name,
                            const std::string& field_path) {
  // Go's %v of a v1.ObjectReference: {Kind Namespace Name UID APIVersion ResourceVersion FieldPath}
  return "{" + kind + " " + ns + " " + name + "    " + field_path + "}";
}

Identity Impersonate(State& s, const HttpRequest& req, const Identity& real) {
  std::string user = req.Header("impersonate-user");
  std::vector<std::string> groups = req.Headers("impersonate-group");
  std::string uid = req.Header("impersonate-uid");
  std::vector<std::pair<std::string, std::string>> extras;
  for (const auto& [k, v] : req.headers) {
    if (StartsWith(k, "impersonate-extra-"))
      extras.emplace_back(PercentDecode(k.substr(18), false), v);
  }
  if (user.empty() && groups.empty() && uid.empty() && extras.empty()) return real;
  std::vector<std::string> refs;
  std::vector<Attributes> checks;
  std::string sa_ns, sa_name;
  if (!user.empty()) {
    Attributes a;
    a.verb = "impersonate";
    a.resource_request = true;
    static const std::regex kSa("^system:serviceaccount:([^:]+):([^:]+)$");
    std::smatch m;
    if (std::regex_match(user, m, kSa)) {
      sa_ns = m[1].str();
      sa_name = m[2].str();
      a.resource = "serviceaccounts";
      a.ns = sa_ns;
      a.name = sa_name;
      refs.push_back(ObjectRefString("ServiceAccount", sa_ns, sa_name, ""));
    } else {
      a.resource = "users";
      a.name = user;
      refs.push_back(ObjectRefString("User", "", user, ""));
    }
    checks.push_back(a);
  }
  for (const auto& g : groups) {
    Attributes a;
    a.verb = "impersonate";
    a.resource_request = true;
    a.resource = "groups";
    a.name = g;
    checks.push_back(a);
    refs.push_back(ObjectRefString("Group", "", g, ""));
  }
  for (const auto& [k, v] : extras) {
    Attributes a;
    a.verb = "impersonate";
    a.resource_request = true;
    a.group = "authentication.k8s.io";
    a.resource = "userextras";
    a.subresource = k;
    a.name = v;
    checks.push_back(a);
    refs.push_back(ObjectRefString("UserExtra", "", v, k));
  }
  if (!uid.empty()) {
    Attributes a;
    a.verb = "impersonate";
    a.resource_request = true;
    a.group = "authentication.k8s.io";
    a.resource = "uids";
    a.name = uid;
    checks.push_back(a);
    refs.push_back(ObjectRefString("UID", "", uid, ""));
  }
  if (user.empty()) {
    std::string list;
    for (const auto& r : refs) list += (list.empty() ? "" : " ") + r;
    throw BadRequestError("requested [" + list + "] without impersonating a user");
  }
  for (const auto& a : checks) {
    if (!s.Authorize(real, a)) throw ForbiddenError(real, a);
  }
  Identity out;
  out.user = user;
  out.uid = uid;
  out.groups = groups;
  if (groups.empty() && !sa_ns.empty()) {
    out.groups = {"system:serviceaccounts", "system:serviceaccounts:" + sa_ns};
  }
  if (user == "system:anonymous") {
    if (!Contains(out.groups, "system:unauthenticated"))
      out.groups.push_back("system:unauthenticated");
  } else if (!Contains(out.groups, "system:authenticated") &&
             !Contains(out.groups, "system:unauthenticated")) {
    out.groups.push_back("system:authenticated");
  }
  for (const auto& [k, v] : extras) out.extra[k].push_back(v);
  return out;
}

std::optional<Identity> Authenticate(State& s, const HttpRequest& req) {
  std::string auth = req.Header("authorization");
  if (auth.empty()) return Identity{"system:anonymous", {"system:unauthenticated"}, "", {}};
  if (auth.size() > 7 && (StartsWith(auth, "Bearer ") || StartsWith(auth, "bearer "))) {
    auto it = s.tokens.find(Trim(auth.substr(7)));
    if (it != s.tokens.end()) return it->second;
  }
  return std::nullopt;
}

ApiError Unauthorized() { return MakeError(401, "Unauthorized", "Unauthorized"); }

std::optional<HttpResponse> InjectedFault(State& s, const HttpRequest& req) {
  for (auto it = s.faults.begin(); it != s.faults.end(); ++it) {
    Fault& f = *it;
    if (!f.method.empty() && f.method != "*" && f.method != req.method) continue;
    if (!MatchUrl(f.path, req.path)) continue;
    std::string reason = f.reason;
    std::string message = f.message;
    if (reason.empty()) {
      switch (f.code) {
        case 429:
          reason = "TooManyRequests";
          break;
        case 409:
          reason = "Conflict";
          break;
        case 500:
          reason = "InternalError";
          break;
        case 503:
          reason = "ServiceUnavailable";
          break;
        case 504:
          reason = "Timeout";
          break;
        default:
          break;
      }
    }
    if (message.empty()) {
      switch (f.code) {
        case 429:
          message = "Too many requests, please try again later.";
          break;
        case 409:
          message =
              "Operation cannot be fulfilled: the object has been modified; please apply your "
              "changes to the latest version and try again";
          break;
        case 500:
          message = "Internal error occurred: injected fault";
          break;
        case 503:
          message = "the server is currently unable to handle the request";
          break;
        default:
          message = "injected fault";
          break;
      }
    }
    Json details;
    if (f.retry_after_seconds > 0) details = {{"retryAfterSeconds", f.retry_after_seconds}};
    HttpResponse r = JsonResponse(f.code, StatusBody(f.code, reason, message, details));
    if (f.retry_after_seconds > 0)
      r.SetHeader("Retry-After", std::to_string(f.retry_after_seconds));
    if (--f.count <= 0) s.faults.erase(it);
    return r;
  }
  return std::nullopt;
}

HttpResponse Discovery(State& s, const HttpRequest& req, const std::vector<std::string>& parts) {
  std::optional<std::string> format = DiscoveryFormat(req);
  bool root = parts.size() == 1;
  if (!format) {
    throw MakeError(406, "NotAcceptable",
                    "only the following media types are accepted: application/json, "
                    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList, "
                    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList");
  }
  auto agg = [&](bool core) {
    Json body = s.registry.Aggregated(core, "apidiscovery.k8s.io/" + *format);
    HttpResponse r = JsonResponse(
        200, body,
        "application/json;g=apidiscovery.k8s.io;v=" + *format + ";as=APIGroupDiscoveryList");
    std::size_t h = std::hash<std::string>{}(r.body);
    std::string etag = "\"" + std::to_string(h) + "\"";
    r.SetHeader("ETag", etag);
    r.SetHeader("Vary", "Accept");
    r.SetHeader("Cache-Control", "public");
    if (req.Header("if-none-match") == etag) {
      r.status = 304;
      r.body.clear();
    }
    return r;
  };
  bool aggregated = root && !format->empty();
  if (parts.size() == 1 && parts[0] == "api")
    return aggregated ? agg(true) : JsonResponse(200, s.registry.CoreVersions());
  if (parts.size() == 1 && parts[0] == "apis")
    return aggregated ? agg(false) : JsonResponse(200, s.registry.GroupList());
  if (parts.size() == 2 && parts[0] == "api") {
    auto l = s.registry.ResourceList("", parts[1]);
    return l ? JsonResponse(200, *l) : TextNotFound();
  }
  if (parts.size() == 2 && parts[0] == "apis") {
    auto g = s.registry.Group(parts[1]);
    if (!g) return TextNotFound();
    (*g)["kind"] = "APIGroup";
    (*g)["apiVersion"] = "v1";
    return JsonResponse(200, *g);
  }
  if (parts.size() == 3 && parts[0] == "apis") {
    auto l = s.registry.ResourceList(parts[1], parts[2]);
    return l ? JsonResponse(200, *l) : TextNotFound();
  }
  return TextNotFound();
}

HttpResponse NonResource(State& s, const HttpRequest& req, const std::vector<std::string>& parts) {
  const std::string& p = req.path;
  if (p == "/version" || p == "/version/") {
    const std::string& v = s.options.git_version;
    auto dot1 = v.find('.');
    auto dot2 = v.find('.', dot1 + 1);
    return JsonResponse(200, Json{{"major", v.substr(1, dot1 - 1)},
                                  {"minor", v.substr(dot1 + 1, dot2 - dot1 - 1)},
                                  {"gitVersion", v},
                                  {"gitCommit", "0000000000000000000000000000000000000000"},
                                  {"gitTreeState", "clean"},
                                  {"buildDate", "2026-01-01T00:00:00Z"},
                                  {"goVersion", "go1.23.6"},
                                  {"compiler", "gc"},
                                  {"platform", "linux/amd64"}});
  }
  bool health = false;
  for (const char* h : {"/healthz", "/livez", "/readyz"}) {
    health = health || p == h || StartsWith(p, std::string(h) + "/");
  }
  if (health) {
    HttpResponse r;
    r.SetHeader("Content-Type", "text/plain; charset=utf-8");
    r.body = "ok";
    return r;
  }
  if (!parts.empty() && (parts[0] == "api" || parts[0] == "apis")) return Discovery(s, req, parts);
  if (p == "/openapi/v3" || p == "/openapi/v3/") return JsonResponse(200, s.registry.OpenApiRoot());
  if (p == "/openapi/v2" || p == "/openapi/v2/") {
    // JSON with the definitions; client-go asks for the protobuf form (gnostic
    // openapi_v2.Document) and gets one with only `swagger` and `info`: kubectl finds no schema
    // in it, so it validates on the server (fieldValidation, announced in OpenAPI v3) and builds
    // client-side patches from its compiled-in types.
    std::string accept = req.Header("accept");
    for (const auto& m : ParseAccept(accept.empty() ? std::string("application/json") : accept)) {
      if (m.type == "application/com.github.proto-openapi.spec.v2@v1.0+protobuf" ||
          m.type == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf") {
        auto field = [](int num, const std::string& bytes) {
          return std::string(1, static_cast<char>(num << 3 | 2)) + static_cast<char>(bytes.size()) +
                 bytes;
        };
        HttpResponse r;
        r.SetHeader("Content-Type", "application/com.github.proto-openapi.spec.v2.v1.0+protobuf");
        r.body =
            field(1, "2.0") + field(2, field(1, "Kubernetes") + field(2, s.options.git_version));
        return r;
      }
      if (m.type == "application/json" || m.type == "*/*" || m.type == "application/*") {
        return JsonResponse(200, s.registry.OpenApiV2());
      }
    }
    throw MakeError(406, "NotAcceptable",
                    "only the following media types are accepted: application/json, "
                    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
  }
  if (StartsWith(p, "/openapi/v3/")) {
    auto doc = s.registry.OpenApiDoc(p.substr(12));
    return doc ? JsonResponse(200, *doc) : TextNotFound();
  }
  if (p == "/") {
    return JsonResponse(200, Json{{"paths",
                                   {"/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2",
                                    "/openapi/v3", "/readyz", "/version"}}});
  }
  return TextNotFound();
}

std::string Lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

HttpResponse Process(State& s, HttpRequest& req, std::unique_lock<std::mutex>& lock,
                     Identity& who_out) {
  (void)lock;
  auto real = Authenticate(s, req);
  if (!real) throw Unauthorized();
  who_out = *real;
  if (auto fault = InjectedFault(s, req)) return *fault;
  Identity who = Impersonate(s, req, *real);
  who_out = who;
  auto parts = SplitPath(req.path);
  bool resource_request =
      (parts.size() >= 3 && parts[0] == "api") || (parts.size() >= 4 && parts[0] == "apis");
  Attributes a;
  if (!resource_request) {
    a.verb = Lower(req.method);
    a.path = req.path;
    if (!s.Authorize(who, a)) throw ForbiddenError(who, a);
    return NonResource(s, req, parts);
  }
  a.resource_request = true;
  std::size_t i = 0;
  if (parts[0] == "api") {
    a.version = parts[1];
    i = 2;
  } else {
    a.group = parts[1];
    a.version = parts[2];
    i = 3;
  }
  std::vector<std::string> rest(parts.begin() + static_cast<std::ptrdiff_t>(i), parts.end());
  if (rest[0] == "namespaces" && rest.size() > 1) {
    a.ns = rest[1];
    if (rest.size() > 2 && rest[2] != "status" && rest[2] != "finalize")
      rest.erase(rest.begin(), rest.begin() + 2);
  }
  a.resource = rest[0];
  if (rest.size() >= 2) a.name = rest[1];
  if (rest.size() >= 3) a.subresource = rest[2];
  bool watch = req.Query("watch") == "1" || req.Query("watch") == "true";
  const std::string& m = req.method;
  if (m == "GET" || m == "HEAD")
    a.verb = a.name.empty() ? (watch ? "watch" : "list") : "get";
  else if (m == "POST")
    a.verb = "create";
  else if (m == "PUT")
    a.verb = "update";
  else if (m == "PATCH")
    a.verb = "patch";
  else if (m == "DELETE")
    a.verb = a.name.empty() ? "deletecollection" : "delete";
  else
    a.verb = Lower(m);
  if (!s.Authorize(who, a)) throw ForbiddenError(who, a);

  const ResourceType* rt = s.registry.Find(a.group, a.version, a.resource);
  if (rt == nullptr || rest.size() > 3) return TextNotFound();
  bool scale = a.subresource == "scale" && rt->scale_subresource && rt->builtin;
  const Subresource* other = nullptr;
  for (const auto& sr : rt->subresources) {
    if (sr.name == a.subresource) other = &sr;
  }
  if (!a.subresource.empty() && !(a.subresource == "status" && rt->status_subresource) && !scale &&
      other == nullptr) {
    return TextNotFound();
  }
  bool is_namespace_object = rt->group.empty() && rt->plural == "namespaces";
  if (!rt->namespaced && !is_namespace_object && !a.ns.empty()) return TextNotFound();
  if (rt->namespaced && a.ns.empty() && !(a.verb == "list" || a.verb == "watch"))
    return TextNotFound();
  if (rt->create_only && a.verb != "create") return TextNotFound();
  if (!AcceptsJson(req)) {
    throw MakeError(406, "NotAcceptable",
                    "only the following media types are accepted: application/json, "
                    "application/yaml, application/vnd.kubernetes.protobuf");
  }
  Ctx c{s, req, who, a, rt, rt->namespaced ? a.ns : ""};
  if (rt->create_only) return DoReview(c);
  if (scale) return DoScale(c);
  if (other != nullptr) return DoSubresource(c, *other);
  if (a.verb == "get") {
    Json* o = s.Lookup(*rt, c.ns, a.name);
    if (o == nullptr) throw NotFoundError(*rt, a.name);
    return ObjectResponse(c, 200, *o);
  }
  if (a.verb == "list") return DoList(c);
  if (a.verb == "watch") return DoWatch(c);
  if (a.verb == "create") {
    if (!a.name.empty()) {
      throw MakeError(
          405, "MethodNotAllowed",
          "POST is not supported on resources of kind \"" + rt->QualifiedResource() + "\"",
          {{"group", rt->group}, {"kind", rt->plural}});
    }
    Json body = ParseBody(req, true);
    std::string gv = body.value("apiVersion", "");
    if (!gv.empty() && gv != rt->GroupVersion()) {
      throw BadRequestError("the API version in the data (" + gv +
                            ") does not match the expected API version (" + rt->GroupVersion() +
                            ")");
    }
    return DoCreate(c, body, FieldManagerOf(req), false, Json());
  }
  if (a.verb == "update") return DoUpdate(c);
  if (a.verb == "patch") return DoPatch(c);
  if (a.verb == "delete") return DoDelete(c);
  if (a.verb == "deletecollection") {
    auto items = Matching(c);
    for (const auto& o : items) {
      Ctx one = c;
      one.attrs.name = o["metadata"]["name"].get<std::string>();
      one.ns = o["metadata"].value("namespace", "");
      DoDelete(one);
    }
    return JsonResponse(200, Json{{"kind", "Status"},
                                  {"apiVersion", "v1"},
                                  {"metadata", Json::object()},
                                  {"status", "Success"}});
  }
  throw MakeError(405, "MethodNotAllowed",
                  m + " is not supported on resources of kind \"" + rt->QualifiedResource() + "\"");
}

// ---- control API (/_sim/...)
// ---------------------------------------------------------------------

Rule RuleFromJson(const Json& j) {
  Rule r;
  auto list = [&](const char* k) {
    return j.contains(k) ? j[k].get<std::vector<std::string>>() : std::vector<std::string>{};
  };
  r.users = list("users");
  r.groups = list("groups");
  r.namespaces = list("namespaces");
  r.verbs = list("verbs");
  r.api_groups = list("apiGroups");
  r.resources = list("resources");
  r.resource_names = list("resourceNames");
  r.non_resource_urls = list("nonResourceURLs");
  return r;
}

Json RuleToJson(const Rule& r) {
  return Json{{"users", r.users},
              {"groups", r.groups},
              {"namespaces", r.namespaces},
              {"verbs", r.verbs},
              {"apiGroups", r.api_groups},
              {"resources", r.resources},
              {"resourceNames", r.resource_names},
              {"nonResourceURLs", r.non_resource_urls}};
}

HttpResponse Control(State& s, HttpRequest& req) {
  auto who = Authenticate(s, req);
  if (!who || who->user == "system:anonymous") throw Unauthorized();
  if (!Contains(who->groups, "system:masters")) {
    Attributes a;
    a.verb = Lower(req.method);
    a.path = req.path;
    throw ForbiddenError(*who, a);
  }
  const std::string& p = req.path;
  const std::string& m = req.method;
  if (p == "/_sim/requests" && m == "GET") {
    std::size_t since = req.HasQuery("since") ? std::stoul(req.Query("since")) : 0;
    Json items = Json::array();
    for (const auto& e : s.request_log) {
      if (e["seq"].get<std::size_t>() >= since) items.push_back(e);
    }
    return JsonResponse(200, Json{{"items", items}, {"next", s.request_seq}});
  }
  if (p == "/_sim/requests" && m == "DELETE") {
    s.request_log.clear();
    return JsonResponse(200, Json::object());
  }
  if (p == "/_sim/faults" && m == "POST") {
    Json j = Json::parse(req.body);
    Fault f;
    f.method = j.value("method", "");
    f.path = j.value("path", "*");
    f.count = j.value("count", 1);
    f.code = j.value("code", 500);
    f.reason = j.value("reason", "");
    f.message = j.value("message", "");
    f.retry_after_seconds = j.value("retryAfterSeconds", f.code == 429 ? 1 : 0);
    s.faults.push_back(f);
    return JsonResponse(201, j);
  }
  if (p == "/_sim/faults" && m == "DELETE") {
    s.faults.clear();
    return JsonResponse(200, Json::object());
  }
  if (p == "/_sim/compact" && m == "POST") {
    s.history.clear();
    s.compacted_rv = s.rv;
    s.cv.notify_all();
    return JsonResponse(200, Json{{"compactedResourceVersion", std::to_string(s.rv)}});
  }
  if (p == "/_sim/rbac" && m == "GET") {
    Json rules = Json::array();
    for (const auto& r : s.rules) rules.push_back(RuleToJson(r));
    return JsonResponse(200, Json{{"rules", rules}});
  }
  if (p == "/_sim/rbac" && m == "POST") {
    s.rules.push_back(RuleFromJson(Json::parse(req.body)));
    return JsonResponse(201, Json::object());
  }
  if (p == "/_sim/rbac" && m == "PUT") {
    s.rules.clear();
    // A named value: iterating `.at()` of the temporary would read it after its destruction.
    const Json body = Json::parse(req.body);
    for (const auto& r : body.at("rules")) s.rules.push_back(RuleFromJson(r));
    return JsonResponse(200, Json::object());
  }
  if (p == "/_sim/rbac/reset" && m == "POST") {
    s.InstallDefaultRbac();
    return JsonResponse(200, Json::object());
  }
  if (p == "/_sim/state" && m == "GET") {
    return JsonResponse(
        200, Json{{"resourceVersion", std::to_string(s.rv)},
                  {"compactedResourceVersion", std::to_string(s.compacted_rv)},
                  {"openWatches", s.open_watches},
                  {"manualClock", s.options.manual_clock},
                  {"clockOffsetSeconds", std::chrono::duration<double>(s.clock_offset).count()}});
  }
  if (p == "/_sim/watches" && m == "DELETE") {
    int dropped = s.open_watches;
    ++s.watch_epoch;
    s.cv.notify_all();
    return JsonResponse(200, Json{{"dropped", dropped}});
  }
  if (p == "/_sim/clock" && m == "POST") {
    Json j = Json::parse(req.body);
    double seconds = j.value("advanceSeconds", 0.0);
    if (seconds < 0) throw BadRequestError("advanceSeconds must not be negative");
    auto by = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(seconds));
    s.clock_offset += by;
    AdvanceSimWallClock(std::chrono::duration_cast<std::chrono::nanoseconds>(by));
    s.cv.notify_all();
    return JsonResponse(
        200, Json{{"clockOffsetSeconds", std::chrono::duration<double>(s.clock_offset).count()}});
  }
  return TextNotFound();
}

}  // namespace

// ---- internal writes for the simulated controllers ---------------------------------------------

Json Api::State::ControllerGet(const std::string& group, const std::string& plural,
                               const std::string& ns, const std::string& name) {
  auto it = objects.find(Key(group, plural, ns, name));
  return it == objects.end() ? Json() : it->second;
}

void Api::State::ControllerDelete(const std::string& group, const std::string& plural,
                                  const std::string& ns, const std::string& name) {
  auto versions = registry.Versions(group, plural);
  if (!versions.empty()) Remove(*versions[0], ns, name);
}

Json Api::State::ControllerWrite(const std::string& group, const std::string& version,
                                 const std::string& plural, Json object, const std::string& manager,
                                 bool status_only) {
  const ResourceType* rt = registry.Find(group, version, plural);
  if (rt == nullptr) return Json();
  Json& meta = object["metadata"];
  std::string ns = rt->namespaced ? meta.value("namespace", "") : "";
  std::string name = meta.value("name", "");
  auto ns_it = objects.find(Key("", "namespaces", "", ns));
  if (rt->namespaced && ns_it == objects.end()) return Json();
  object["apiVersion"] = rt->GroupVersion();
  object["kind"] = rt->kind;
  auto it = objects.find(Key(group, plural, ns, name));
  if (it == objects.end()) {
    if (status_only) return Json();
    // NamespaceLifecycle: no new content in a terminating namespace.
    if (rt->namespaced && ns_it->second["metadata"].contains("deletionTimestamp")) return Json();
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = NowRfc3339();
    if (rt->generation != GenerationMode::kNone) meta["generation"] = 1;
    meta.erase("resourceVersion");
    ApplyDefaults(*rt, object);
    meta.erase("managedFields");
    SetManagerEntry(object, manager, "Update", rt->GroupVersion(), "",
                    FieldSet(object, ListRulesOf(*rt), true));
    return Commit(*rt, object, "ADDED");
  }
  const Json old = it->second;
  Json next;
  if (status_only) {
    next = old;
    if (object.contains("status")) next["status"] = object["status"];
    if (meta.contains("annotations")) next["metadata"]["annotations"] = meta["annotations"];
  } else {
    next = object;
    next["metadata"]["managedFields"] = old["metadata"].value("managedFields", Json::array());
    for (const char* k :
         {"uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"}) {
      if (old["metadata"].contains(k))
        next["metadata"][k] = old["metadata"][k];
      else
        next["metadata"].erase(k);
    }
    if (rt->status_subresource) {
      if (old.contains("status"))
        next["status"] = old["status"];
      else
        next.erase("status");
    }
  }
  if (old["metadata"].contains("generation")) {
    std::int64_t gen = old["metadata"]["generation"].get<std::int64_t>();
    next["metadata"]["generation"] =
        (!status_only && GenerationChanged(*rt, old, next)) ? gen + 1 : gen;
  }
  next["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"];
  if (group.empty() && plural == "pods") AssignPodNetwork(old, next);
  if (Stripped(next) == Stripped(old)) return Json(old);  // unchanged: a copy of what is stored
  RecordUpdate(*rt, old, next, manager, status_only ? "status" : "");
  bool finalize = Finalized(*rt, next);
  Json stored = Commit(*rt, next, "MODIFIED");
  if (finalize) Remove(*rt, ns, name);
  return stored;
}

void Api::State::AssignPodNetwork(const Json& old, Json& next) {
  if (!next.contains("status") || !next["status"].is_object()) return;
  if (next["spec"].value("nodeName", "").empty()) return;
  Json& st = next["status"];
  const Json old_st = old.value("status", Json::object());
  const std::string host = old_st.value("hostIP", "127.0.0.1");  // the Node's InternalIP
  st["hostIP"] = host;
  st["hostIPs"] = {{{"ip", host}}};
  std::string ip = old_st.value("podIP", "");
  bool sandbox = st.value("phase", "Pending") != "Pending";
  for (const auto& cs : st.value("containerStatuses", Json::array())) {
    const Json state = cs.value("state", Json::object());
    if (!state.contains("waiting") || state["waiting"].value("reason", "") != "ContainerCreating")
      sandbox = true;
  }
  if (ip.empty() && next["spec"].value("hostNetwork", false)) ip = host;
  if (ip.empty() && sandbox) {
    std::uint32_t n = 0;
    do {
      n = ++pod_ips + 1;
    } while ((n & 0xff) == 0 || (n & 0xff) == 0xff);
    ip = "10.244." + std::to_string((n >> 8) & 0xff) + "." + std::to_string(n & 0xff);
  }
  if (ip.empty()) return;
  st["podIP"] = ip;
  st["podIPs"] = {{{"ip", ip}}};
}

void Api::State::DeleteObject(const ResourceType& rt, const std::string& ns,
                              const std::string& name, const std::string& policy) {
  auto it = objects.find(Key(rt.group, rt.plural, ns, name));
  if (it == objects.end()) return;
  Json next = it->second;
  Json& meta = next["metadata"];
  Json finalizers = meta.value("finalizers", Json::array());
  std::string add = policy == "Foreground" ? "foregroundDeletion"
                    : policy == "Orphan"   ? "orphan"
                                           : "";
  if (!add.empty() && std::find(finalizers.begin(), finalizers.end(), add) == finalizers.end())
    finalizers.push_back(add);
  bool is_namespace = rt.group.empty() && rt.plural == "namespaces";
  if (finalizers.empty() && !is_namespace) {
    Remove(rt, ns, name);
    return;
  }
  if (meta.contains("deletionTimestamp") && meta.value("finalizers", Json::array()) == finalizers)
    return;
  meta["finalizers"] = finalizers;
  if (finalizers.empty()) meta.erase("finalizers");
  if (!meta.contains("deletionTimestamp")) {
    meta["deletionTimestamp"] = NowRfc3339();
    meta["deletionGracePeriodSeconds"] = 0;
    if (meta.contains("generation"))
      meta["generation"] = meta["generation"].get<std::int64_t>() + 1;
  }
  if (is_namespace) next["status"]["phase"] = "Terminating";
  Commit(rt, next, "MODIFIED");
}

void Api::State::EnsureNamespaceDefaults(const std::string& ns) {
  if (objects.count(Key("", "serviceaccounts", ns, "default")) == 0) {
    ControllerWrite("", "v1", "serviceaccounts",
                    Json{{"metadata", {{"name", "default"}, {"namespace", ns}}}},
                    "kube-controller-manager", false);
  }
  if (!options.ca_pem.empty() &&
      objects.count(Key("", "configmaps", ns, "kube-root-ca.crt")) == 0) {
    ControllerWrite("", "v1", "configmaps",
                    Json{{"metadata",
                          {{"name", "kube-root-ca.crt"},
                           {"namespace", ns},
                           {"annotations",
                            {{"kubernetes.io/description",
                              "Contains a CA bundle that can be used to verify the kube-apiserver "
                              "when using internal endpoints such as the internal service IP or "
                              "kubernetes.default.svc. No other usage is guaranteed across "
                              "distributions of Kubernetes clusters."}}}}},
                         {"data", {{"ca.crt", options.ca_pem}}}},
                    "kube-controller-manager", false);
  }
}

// ---- Api
// -------------------------------------------------------------------------------------------

Api::Api(Options options) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.options = std::move(options);
  s.InstallDefaultRbac();
  std::lock_guard lock(s.mu);
  auto make = [&](const std::string& group, const std::string& version, const std::string& plural,
                  Json obj) {
    const ResourceType* rt = s.registry.Find(group, version, plural);
    Json& meta = obj["metadata"];
    meta["uid"] = NewUid();
    meta["creationTimestamp"] = NowRfc3339();
    if (rt->generation != GenerationMode::kNone) meta["generation"] = 1;
    obj["apiVersion"] = rt->GroupVersion();
    obj["kind"] = rt->kind;
    SetManagerEntry(obj, "kube-apiserver", "Update", rt->GroupVersion(), "",
                    FieldSet(obj, ListRulesOf(*rt), true));
    Json& stored = s.Commit(*rt, obj, "ADDED");
    if (plural == "customresourcedefinitions") s.registry.InstallCrd(stored);
  };
  std::vector<std::string> namespaces{"default", "kube-system", "kube-public", "kube-node-lease",
                                      "nais-system"};
  for (const auto& t : s.options.teams) {
    if (!Contains(namespaces, t)) namespaces.push_back(t);
  }
  for (const auto& ns : namespaces) {
    make("", "v1", "namespaces",
         Json{{"metadata", {{"name", ns}, {"labels", {{"kubernetes.io/metadata.name", ns}}}}},
              {"spec", {{"finalizers", {"kubernetes"}}}},
              {"status", {{"phase", "Active"}}}});
  }
  for (const auto& ns : namespaces) s.EnsureNamespaceDefaults(ns);
  make("", "v1", "services",
       Json{{"metadata",
             {{"name", "kubernetes"},
              {"namespace", "default"},
              {"labels", {{"component", "apiserver"}, {"provider", "kubernetes"}}}}},
            {"spec",
             {{"ports",
               {{{"name", "https"}, {"port", 443}, {"protocol", "TCP"}, {"targetPort", 6443}}}},
              {"clusterIP", "10.96.0.1"},
              {"clusterIPs", {"10.96.0.1"}},
              {"type", "ClusterIP"},
              {"sessionAffinity", "None"},
              {"ipFamilies", {"IPv4"}},
              {"ipFamilyPolicy", "SingleStack"},
              {"internalTrafficPolicy", "Cluster"}}},
            {"status", {{"loadBalancer", Json::object()}}}});
  make("", "v1", "nodes",
       Json{{"metadata",
             {{"name", "kube-sim-node"},
              {"labels",
               {{"kubernetes.io/hostname", "kube-sim-node"},
                {"kubernetes.io/os", "linux"},
                {"kubernetes.io/arch", "amd64"},
                {"beta.kubernetes.io/os", "linux"},
                {"beta.kubernetes.io/arch", "amd64"}}}}},
            {"spec", {{"podCIDR", "10.244.0.0/24"}, {"podCIDRs", {"10.244.0.0/24"}}}},
            {"status",
             {{"capacity",
               {{"cpu", "8"}, {"memory", "32Gi"}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}}},
              {"allocatable",
               {{"cpu", "8"}, {"memory", "32Gi"}, {"pods", "110"}, {"ephemeral-storage", "100Gi"}}},
              {"conditions",
               {{{"type", "Ready"},
                 {"status", "True"},
                 {"reason", "KubeletReady"},
                 {"message", "kubelet is posting ready status"},
                 {"lastHeartbeatTime", NowRfc3339()},
                 {"lastTransitionTime", NowRfc3339()}}}},
              {"addresses",
               {{{"type", "InternalIP"}, {"address", "127.0.0.1"}},
                {{"type", "Hostname"}, {"address", "kube-sim-node"}}}},
              {"nodeInfo",
               {{"kubeletVersion", s.options.git_version},
                {"containerRuntimeVersion", "containerd://1.7.24"},
                {"kernelVersion", "6.1.0"},
                {"osImage", "kube-sim"},
                {"operatingSystem", "linux"},
                {"architecture", "amd64"},
                {"kubeProxyVersion", s.options.git_version},
                {"machineID", ""},
                {"systemUUID", ""},
                {"bootID", ""}}}}}});
  for (const auto& [pc, value] : std::vector<std::pair<std::string, int>>{
           {"system-cluster-critical", 2000000000}, {"system-node-critical", 2000001000}}) {
    make("scheduling.k8s.io", "v1", "priorityclasses",
         Json{{"metadata", {{"name", pc}}},
              {"value", value},
              {"globalDefault", false},
              {"preemptionPolicy", "PreemptLowerPriority"},
              {"description",
               "Used for system critical pods that must run in the cluster, but can be moved to "
               "another node if necessary."}});
  }
  make("", "v1", "serviceaccounts",
       Json{{"metadata", {{"name", "deployd"}, {"namespace", "nais-system"}}}});
  for (const auto& t : s.options.teams) {
    make("", "v1", "serviceaccounts",
         Json{{"metadata", {{"name", "serviceuser-" + t}, {"namespace", t}}}});
  }
  for (const auto& [name, text] : EmbeddedCrds()) {
    for (auto& doc : YamlToJson(text)) {
      CrdStatus(doc);
      make("apiextensions.k8s.io", "v1", "customresourcedefinitions", doc);
    }
  }
}

Api::~Api() = default;

void Api::SetServerAddress(const std::string& host, int port) {
  State& s = *state_;
  std::lock_guard lock(s.mu);
  std::string ip = host == "0.0.0.0" || host == "::" || host.empty() ? "127.0.0.1" : host;
  s.ControllerWrite(
      "", "v1", "endpoints",
      Json{{"metadata",
            {{"name", "kubernetes"},
             {"namespace", "default"},
             {"labels", {{"endpointslice.kubernetes.io/skip-mirror", "true"}}}}},
           {"subsets",
            {{{"addresses", {{{"ip", ip}}}},
              {"ports", {{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}}}}}}},
      "kube-apiserver", false);
  s.ControllerWrite(
      "discovery.k8s.io", "v1", "endpointslices",
      Json{{"metadata",
            {{"name", "kubernetes"},
             {"namespace", "default"},
             {"labels",
              {{"kubernetes.io/service-name", "kubernetes"},
               {"endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io"}}}}},
           {"addressType", ip.find(':') != std::string::npos ? "IPv6" : "IPv4"},
           {"endpoints",
            {{{"addresses", {ip}},
              {"conditions", {{"ready", true}, {"serving", true}, {"terminating", false}}}}}},
           {"ports", {{{"name", "https"}, {"port", port}, {"protocol", "TCP"}}}}},
      "kube-apiserver", false);
}

void Api::AddToken(const std::string& token, Identity identity) {
  std::lock_guard lock(state_->mu);
  state_->tokens[token] = std::move(identity);
}

void Api::StartControllers() {
  state_->controllers = std::make_unique<Controllers>(*state_);
  state_->controllers->Start();
}

HttpResponse Api::Handle(HttpRequest& req) {
  State& s = *state_;
  std::unique_lock lock(s.mu);
  if (StartsWith(req.path, "/_sim/")) {
    try {
      return Control(s, req);
    } catch (const ApiError& e) {
      return ErrorResponse(e);
    } catch (const std::exception& e) {
      return ErrorResponse(BadRequestError(e.what()));
    }
  }
  Identity who;
  HttpResponse res;
  try {
    res = Process(s, req, lock, who);
  } catch (const ApiError& e) {
    res = ErrorResponse(e);
  }
  Json headers = Json::object();
  for (const auto& [k, v] : req.headers) {
    headers[k].push_back(k == "authorization" ? std::string("<redacted>") : v);
  }
  Json entry{
      {"seq", s.request_seq++}, {"time", FormatRfc3339Micro(std::chrono::system_clock::now())},
      {"method", req.method},   {"path", req.path},
      {"query", req.raw_query}, {"headers", headers},
      {"body", req.body},       {"user", who.user},
      {"status", res.status}};
  // Protobuf (or other binary) bodies are logged as base64, so that the log stays valid JSON.
  if (req.Header("content-type").find("protobuf") != std::string::npos || !IsValidUtf8(req.body)) {
    entry["body"] = Base64(req.body);
    entry["bodyEncoding"] = "base64";
  }
  s.request_log.push_back(std::move(entry));
  while (s.request_log.size() > State::kRequestLogLimit) s.request_log.pop_front();
  spdlog::debug("{} {} -> {} ({})", req.method, req.target, res.status, who.user);
  return res;
}

}  // namespace kubesim
