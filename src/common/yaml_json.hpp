#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace common {

struct YamlOptions {
  // YAML 1.1 booleans as gopkg.in/yaml.v2: unquoted y/Y/yes/Yes/YES/n/N/no/No/NO/on/On/ON/
  // off/Off/OFF/true/.../false become booleans. With false only true/false (YAML 1.2 core).
  bool yaml11_booleans = true;
  // Cap on the number of nodes produced after alias expansion (YAML bomb protection).
  std::size_t max_nodes = 1'000'000;
};

// Splits a multi-document YAML (or JSON) text and converts each document to JSON. Empty
// documents (only comments/whitespace, or null) are skipped. Plain scalars are typed as YAML
// does (ints, floats, null, booleans per options; everything quoted stays a string).
// Throws Error{kInvalidArgument} with "line L, column C: <reason>" (1-based) on syntax errors,
// and "document N: too many nodes after alias expansion" when max_nodes is exceeded (N counts
// every document from 1, empty ones included). Also rejected with a position: nesting deeper
// than 1000 levels (e.g. a recursive alias), non-scalar mapping keys, and content that starts a
// new document without "---" (yaml-cpp would silently split "- a\nb: c" into two documents).
// Merge keys (<<) are applied as yaml.v2 does; unquoted mapping keys are typed like values, so
// `y: 1` gives {"true": 1} (yaml.v2 quirk).
std::vector<nlohmann::json> YamlDocumentsToJson(std::string_view text, const YamlOptions& = {});

}  // namespace common
