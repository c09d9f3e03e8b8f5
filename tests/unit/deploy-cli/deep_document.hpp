#pragma once
// Deeply nested test resources shaped like Argo CD's ApplicationSet CRD, whose
// openAPIV3Schema nests `properties` inside `properties` (the real one reaches 35 levels).
#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace deploy_cli::testing {

// A CustomResourceDefinition exactly `depth` levels deep (the document itself is level 1; objects
// and arrays count alike), depth >= 8. With an odd depth it is a valid structural schema.
inline nlohmann::json ApplicationSetCrd(std::size_t depth) {
  using nlohmann::json;
  static const char* const kNames[] = {"spec",   "generators", "matrix",     "template",
                                       "source", "helm",       "parameters", "values"};
  // The deepest schema: a string with an enum (2 levels), or 3 levels for an even depth.
  json schema = {{"type", "string"}};
  schema["enum"] = depth % 2 == 1 ? json::array({"a", "b"}) : json::array({json::array({"a"})});
  // Above the openAPIV3Schema: document, spec, versions, the version, schema (5 levels); each
  // schema object with its `properties` adds 2.
  const std::size_t wraps = (depth - 5 - (depth % 2 == 1 ? 2 : 3)) / 2;
  for (std::size_t i = 0; i < wraps; ++i) {
    const std::string name = i == 0 ? "deepest" : kNames[i % 8];
    schema = {{"type", "object"}, {"properties", {{name, std::move(schema)}}}};
  }
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata", {{"name", "applicationsets.argoproj.io"}}},
          {"spec",
           {{"group", "argoproj.io"},
            {"names",
             {{"kind", "ApplicationSet"},
              {"listKind", "ApplicationSetList"},
              {"plural", "applicationsets"},
              {"singular", "applicationset"}}},
            {"scope", "Namespaced"},
            {"versions", json::array({{{"name", "v1alpha1"},
                                       {"served", true},
                                       {"storage", true},
                                       {"schema", {{"openAPIV3Schema", std::move(schema)}}}}})}}}};
}

// Block-style YAML of a JSON value (scalars as JSON, which YAML reads alike).
inline void AppendBlockYaml(const nlohmann::json& value, std::size_t indent, std::string& out) {
  const std::string pad(indent, ' ');
  auto item = [&](const nlohmann::json& v) {
    if (v.is_structured() && !v.empty()) {
      out += '\n';
      AppendBlockYaml(v, indent + 2, out);
    } else {
      out += ' ' + v.dump() + '\n';
    }
  };
  if (value.is_object()) {
    for (const auto& [key, v] : value.items()) {
      out += pad + nlohmann::json(key).dump() + ':';
      item(v);
    }
  } else {
    for (const auto& v : value) {
      out += pad + '-';
      item(v);
    }
  }
}

inline std::string ToBlockYaml(const nlohmann::json& value) {
  std::string out;
  AppendBlockYaml(value, 0, out);
  return out;
}

}  // namespace deploy_cli::testing
