#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace common {

struct YamlOptions {
  // YAML 1.1 booleans as gopkg.in/yaml.v2: unquoted y/Y/yes/Yes/YES/n/N/no/No/NO/on/On/ON/
  // off/Off/OFF/true/.../false become booleans. With false only true/false (YAML 1.2 core).
  bool yaml11_booleans = true;
  // Cap on the number of nodes (keys included) in one document after alias expansion (YAML bomb
  // protection).
  std::size_t max_nodes = 1'000'000;
};

// Splits a multi-document YAML (or JSON) text and converts each document to JSON the way the
// original CLI did with gopkg.in/yaml.v2 (a port of libyaml, YAML 1.1) followed by its JSON
// conversion. Our own scanner and parser follow libyaml's token rules and error messages; the
// conversion follows yaml.v2's decoding into untyped values:
//  - Plain scalars are typed as yaml.v2 does: YAML 1.1 booleans (per options), ~/null/empty as
//    null, ints in decimal, 0x, 0o, leading-0 octal and 0b with `_` separators, beyond int64 an
//    unsigned integer, beyond that a float; floats ([-+]?(.d+|d+(.d*)?)([eE][-+]?d+)?, .inf,
//    .nan). Timestamps stay strings. Quoted and block scalars are strings.
//  - Tags: !!str, !!int, !!float, !!bool, !!null, !!timestamp convert or fail ("cannot decode
//    !!str `abc` as a !!int"); !!binary is base64-decoded (bytes that are not UTF-8 become
//    U+FFFD); any other tag, local (!Ref) or not, leaves the scalar's text as a string; tags on
//    collections are ignored.
//  - Merge keys (<<, a mapping or a sequence of mappings, earlier ones winning) apply where they
//    stand: keys after `<<` override merged ones, keys before it are overridden (yaml.v2's order).
//  - Mapping keys become strings as the original's JSON conversion made them: `y: 1` gives
//    {"true": 1}, 1e3 gives "1000", 1.5 gives "1.5" (floats with float32 precision, .inf as
//    ".inf"). Null keys, integer keys beyond int64, and collections as keys are errors.
//  - A float that is a whole number fitting 64 bits becomes an integer (the original's JSON
//    printed 1e3 as 1000); .inf and .nan values are errors, as JSON cannot hold them.
// Deliberate differences from the original (each would otherwise deploy something unintended):
//  - a key given twice in one mapping is refused: "mapping key "a" already defined at line K";
//  - a quoted "<<" key is refused (the original re-read it as a merge key);
//  - in block context, a line of a multi-line quoted scalar less indented than its block is
//    refused (libyaml joins it, hiding an unclosed quote);
//  - empty and null documents are skipped (the original passed them on as null);
//  - max_nodes and common::kMaxDocumentDepth replace yaml.v2's alias-ratio heuristic.
// Throws Error{kInvalidArgument}. Messages start with "line L, column C: " (1-based, columns in
// characters) except "document N: too many nodes after alias expansion" (N counts every document
// from 1, empty ones included). Syntax errors read "<problem>" or "<problem> (<context> at line K,
// column M)"; when the input ends inside a construct (an unclosed quote or bracket) or a key lacks
// its ':', the position is where the construct starts: "<context>: <problem>".
std::vector<nlohmann::json> YamlDocumentsToJson(std::string_view text, const YamlOptions& = {});

}  // namespace common
