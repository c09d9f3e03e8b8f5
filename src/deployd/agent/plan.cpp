#include "deployd/agent/plan.hpp"

#include <fmt/format.h>

#include "common/json_path.hpp"
#include "common/line_diff.hpp"

namespace deployd::agent {
namespace {

bool PlainScalar(const std::string& s) {
  if (s.empty() || s.size() > 200) return false;
  static const std::string kReserved[] = {"true", "false", "null", "yes", "no", "on", "off",
                                          "True", "False", "Null", "Yes", "No", "On", "Off",
                                          "TRUE", "FALSE", "NULL", "YES", "NO", "ON", "OFF",
                                          "~",    "y",     "n",    "Y",   "N"};
  for (const auto& r : kReserved) {
    if (s == r) return false;
  }
  const char first = s.front();
  if (std::string_view("-?:,[]{}#&*!|>'\"%@` ").find(first) != std::string_view::npos) return false;
  if (s.back() == ' ' || s.back() == ':') return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  // Anything that might read as a number is quoted.
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (digit(first) || (s.size() > 1 && (first == '+' || first == '.') && digit(s[1]))) {
    return false;
  }
  if (s == ".inf" || s == ".nan" || s == ".Inf" || s == ".NaN") return false;
  if (s.find(": ") != std::string::npos || s.find(" #") != std::string::npos) return false;
  return true;
}

std::string Scalar(const nlohmann::json& value) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    return PlainScalar(s)
               ? s
               : nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  if (value.is_object()) return "{}";
  if (value.is_array()) return "[]";
  return value.dump();
}

bool Nested(const nlohmann::json& value) {
  return (value.is_object() || value.is_array()) && !value.empty();
}

std::string Key(const std::string& key) {
  return PlainScalar(key)
             ? key
             : nlohmann::json(key).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void Emit(const nlohmann::json& value, const std::string& indent, std::vector<std::string>& out);

// `prefix` goes before the first line ("- " of a list item), the rest align under it.
void EmitMap(const nlohmann::json& map, const std::string& indent, const std::string& first_prefix,
             std::vector<std::string>& out) {
  bool first = true;
  for (const auto& [key, value] : map.items()) {
    const std::string lead = first ? first_prefix : indent;
    first = false;
    if (Nested(value)) {
      out.push_back(lead + Key(key) + ":");
      Emit(value, value.is_array() ? indent : indent + "  ", out);
    } else {
      out.push_back(lead + Key(key) + ": " + Scalar(value));
    }
  }
}

void Emit(const nlohmann::json& value, const std::string& indent, std::vector<std::string>& out) {
  if (value.is_object()) {
    EmitMap(value, indent, indent, out);
    return;
  }
  if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_object() && !item.empty()) {
        EmitMap(item, indent + "  ", indent + "- ", out);
      } else if (item.is_array() && !item.empty()) {
        out.push_back(indent + "-");
        Emit(item, indent + "  ", out);
      } else {
        out.push_back(indent + "- " + Scalar(item));
      }
    }
    return;
  }
  out.push_back(indent + Scalar(value));
}

}  // namespace

const char* PlanActionName(PlanAction action) {
  switch (action) {
    case PlanAction::kCreated:
      return "created";
    case PlanAction::kChanged:
      return "changed";
    case PlanAction::kUnchanged:
      return "unchanged";
    case PlanAction::kRefused:
      return "refused";
    case PlanAction::kPruned:
      return "pruned";
  }
  return "unknown";
}

nlohmann::json Comparable(nlohmann::json object,
                          const std::vector<std::string>& ignored_annotations) {
  if (!object.is_object()) return object;
  object.erase("status");
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    for (const char* key : {"managedFields", "resourceVersion", "generation", "uid",
                            "creationTimestamp", "selfLink"}) {
      meta->erase(key);
    }
    if (auto annotations = meta->find("annotations");
        annotations != meta->end() && annotations->is_object()) {
      for (const auto& key : ignored_annotations) annotations->erase(key);
      if (annotations->empty()) meta->erase("annotations");
    }
  }
  return object;
}

void MaskSecretValues(nlohmann::json& live, nlohmann::json& planned) {
  const auto is_secret = [](const nlohmann::json& o) {
    return o.is_object() && common::JsonString(o, {"kind"}) == "Secret" &&
           common::JsonString(o, {"apiVersion"}) == "v1";
  };
  if (!is_secret(planned) && !is_secret(live)) return;
  for (const char* field : {"data", "stringData"}) {
    const bool live_has = live.is_object() && live.contains(field) && live[field].is_object();
    const bool planned_has =
        planned.is_object() && planned.contains(field) && planned[field].is_object();
    if (planned_has) {
      for (auto& [key, value] : planned[field].items()) {
        const bool same = live_has && live[field].contains(key) && live[field][key] == value;
        const bool existed = live_has && live[field].contains(key);
        value = (!existed || same) ? "***" : "*** (changed)";
      }
    }
    if (live_has) {
      for (auto& [key, value] : live[field].items()) value = "***";
    }
  }
}

std::vector<std::string> YamlLines(const nlohmann::json& value) {
  std::vector<std::string> out;
  Emit(value, "", out);
  return out;
}

std::string PlanSubject(const nlohmann::json& object) {
  const std::string kind = common::JsonString(object, {"kind"});
  const std::string name = common::JsonString(object, {"metadata", "name"});
  const std::string ns = common::JsonString(object, {"metadata", "namespace"});
  return ns.empty() ? fmt::format("{} {}", kind, name) : fmt::format("{} {}/{}", kind, ns, name);
}

std::string PlanEntryMessage(PlanAction action, const std::string& subject,
                             const std::string& detail) {
  std::string message = fmt::format("{}{} {}", kPlanPrefix, PlanActionName(action), subject);
  if (!detail.empty()) {
    message += '\n';
    message += detail;
    while (!message.empty() && message.back() == '\n') message.pop_back();
  }
  return message;
}

std::string PlanDiff(const nlohmann::json& live, const nlohmann::json& planned) {
  common::UnifiedDiffOptions options;
  options.from_label = "live";
  options.to_label = "planned";
  options.max_lines = kMaxPlanDiffLines;
  return common::UnifiedDiff(YamlLines(live), YamlLines(planned), options);
}

void PlanCounts::Add(PlanAction action) {
  switch (action) {
    case PlanAction::kCreated:
      ++created;
      break;
    case PlanAction::kChanged:
      ++changed;
      break;
    case PlanAction::kUnchanged:
      ++unchanged;
      break;
    case PlanAction::kRefused:
      ++refused;
      break;
    case PlanAction::kPruned:
      ++pruned;
      break;
  }
}

std::string PlanSummary(const PlanCounts& counts, bool prune) {
  std::string summary =
      fmt::format("{}{} created, {} changed, {} unchanged, {} refused", kPlanPrefix, counts.created,
                  counts.changed, counts.unchanged, counts.refused);
  if (prune) summary += fmt::format(", {} pruned", counts.pruned);
  return summary;
}

}  // namespace deployd::agent
