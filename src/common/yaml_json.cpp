#include "common/yaml_json.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "common/error.hpp"

namespace common {
namespace {

constexpr int kMaxDepth = 1000;

std::string Position(const YAML::Mark& mark) {
  const int line = mark.line < 0 ? 1 : mark.line + 1;
  const int column = mark.column < 0 ? 1 : mark.column + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

[[noreturn]] void ThrowAt(const YAML::Mark& mark, const std::string& reason) {
  throw Error(ErrorCode::kInvalidArgument, Position(mark) + ": " + reason);
}

bool IsDigit(char c) noexcept { return c >= '0' && c <= '9'; }

int DigitValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'z') return c - 'a' + 10;
  if (c >= 'A' && c <= 'Z') return c - 'A' + 10;
  return 99;
}

// Go strconv.ParseUint(s, base, 64) for an unsigned digit string with base prefix handling
// as strconv.ParseInt(s, 0, 64) does (0x, 0o, 0b, leading 0 = octal). No sign here.
std::optional<std::uint64_t> ParseGoUnsigned(std::string_view s) {
  if (s.empty()) return std::nullopt;
  int base = 10;
  if (s[0] == '0' && s.size() > 1) {
    const char p = s[1];
    if (p == 'x' || p == 'X') {
      base = 16;
      s.remove_prefix(2);
    } else if (p == 'o' || p == 'O') {
      base = 8;
      s.remove_prefix(2);
    } else if (p == 'b' || p == 'B') {
      base = 2;
      s.remove_prefix(2);
    } else {
      base = 8;
      s.remove_prefix(1);
    }
    if (s.empty()) return std::nullopt;
  }
  std::uint64_t v = 0;
  const auto max = std::numeric_limits<std::uint64_t>::max();
  for (char c : s) {
    const int d = DigitValue(c);
    if (d >= base) return std::nullopt;
    const auto ub = static_cast<std::uint64_t>(base);
    const auto ud = static_cast<std::uint64_t>(d);
    if (v > (max - ud) / ub) return std::nullopt;
    v = v * ub + ud;
  }
  return v;
}

// yaml.v2's float check: yamlStyleFloat ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
// followed by strconv.ParseFloat (out of range is an error there, so such text stays a string).
std::optional<double> ParseYamlFloat(const std::string& s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  // Decimal: digits [. digits] [e [+-] digits], at least one mantissa digit.
  std::size_t j = i;
  std::size_t mantissa = 0;
  while (j < s.size() && IsDigit(s[j])) ++j, ++mantissa;
  if (j < s.size() && s[j] == '.') {
    ++j;
    while (j < s.size() && IsDigit(s[j])) ++j, ++mantissa;
  }
  if (mantissa == 0) return std::nullopt;
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    ++j;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    std::size_t exp_digits = 0;
    while (j < s.size() && IsDigit(s[j])) ++j, ++exp_digits;
    if (exp_digits == 0) return std::nullopt;
  }
  if (j != s.size()) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const double d = std::strtod(s.c_str(), &end);
  if (errno == ERANGE && std::isinf(d)) return std::nullopt;  // Go: out of range -> error
  return d;
}

// Resolution of a plain (unquoted, untagged) scalar as gopkg.in/yaml.v2 does.
nlohmann::json ResolvePlain(const std::string& in, const YamlOptions& options) {
  static const char* const kTrue11[] = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON"};
  static const char* const kFalse11[] = {"n", "N", "no", "No", "NO", "off", "Off", "OFF"};
  if (in.empty() || in == "~" || in == "null" || in == "Null" || in == "NULL") return nullptr;
  if (in == "true" || in == "True" || in == "TRUE") return true;
  if (in == "false" || in == "False" || in == "FALSE") return false;
  if (options.yaml11_booleans) {
    for (const char* t : kTrue11) {
      if (in == t) return true;
    }
    for (const char* f : kFalse11) {
      if (in == f) return false;
    }
  }
  if (in == ".nan" || in == ".NaN" || in == ".NAN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (in == ".inf" || in == ".Inf" || in == ".INF" || in == "+.inf" || in == "+.Inf" ||
      in == "+.INF") {
    return std::numeric_limits<double>::infinity();
  }
  if (in == "-.inf" || in == "-.Inf" || in == "-.INF") {
    return -std::numeric_limits<double>::infinity();
  }
  const char first = in[0];
  if (first == '.') {
    // yaml.v2 tries only strconv.ParseFloat on the text as written (no '_' removal).
    if (const auto d = ParseYamlFloat(in)) return *d;
    return in;
  }
  if (!(IsDigit(first) || first == '+' || first == '-')) return in;

  std::string plain;
  plain.reserve(in.size());
  for (char c : in) {
    if (c != '_') plain.push_back(c);
  }
  if (plain.empty()) return in;
  // strconv.ParseInt(plain, 0, 64)
  {
    std::string_view digits(plain);
    bool neg = false;
    if (digits[0] == '+' || digits[0] == '-') {
      neg = digits[0] == '-';
      digits.remove_prefix(1);
    }
    if (const auto u = ParseGoUnsigned(digits)) {
      constexpr std::uint64_t kLimit = static_cast<std::uint64_t>(1) << 63;
      if (neg && *u <= kLimit) {
        return *u == kLimit ? std::numeric_limits<std::int64_t>::min()
                            : -static_cast<std::int64_t>(*u);
      }
      if (!neg && *u < kLimit) return static_cast<std::int64_t>(*u);
      // strconv.ParseUint(plain, 0, 64): no sign allowed.
      if (!neg && plain[0] != '+') return *u;
    }
  }
  if (const auto d = ParseYamlFloat(plain)) return *d;
  return in;
}

// True when a line in (after_line, up_to_line] (0-based) starts with "---" or "...".
bool HasDocumentMarker(std::string_view text, int after_line, int up_to_line) {
  int line = 0;
  std::size_t pos = 0;
  while (pos <= text.size() && line <= up_to_line) {
    if (line > after_line) {
      const std::string_view rest = text.substr(pos, 3);
      if (rest == "---" || rest == "...") return true;
    }
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
    ++line;
  }
  return false;
}

class Converter {
 public:
  Converter(const YamlOptions& options, std::size_t document)
      : options_(options), document_(document) {}

  nlohmann::json Convert(const YAML::Node& node, int depth) {
    if (++nodes_ > options_.max_nodes) {
      throw Error(ErrorCode::kInvalidArgument,
                  "document " + std::to_string(document_) +
                      ": too many nodes after alias expansion");
    }
    if (depth > kMaxDepth) {
      ThrowAt(node.Mark(), "document nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return nullptr;
      case YAML::NodeType::Scalar:
        return Scalar(node);
      case YAML::NodeType::Sequence: {
        nlohmann::json arr = nlohmann::json::array();
        for (const auto& item : node) arr.push_back(Convert(item, depth + 1));
        return arr;
      }
      case YAML::NodeType::Map:
        return Map(node, depth);
    }
    return nullptr;
  }

 private:
  static bool IsMergeKey(const YAML::Node& key) {
    return key.IsScalar() && key.Tag() == "?" && key.Scalar() == "<<";
  }

  nlohmann::json Scalar(const YAML::Node& node) const {
    const std::string& tag = node.Tag();
    const std::string& value = node.Scalar();
    if (tag == "?") return ResolvePlain(value, options_);
    if (tag == "!" || tag == "tag:yaml.org,2002:str" || tag == "!!str") return value;
    if (tag == "tag:yaml.org,2002:null") return nullptr;
    if (tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:int" ||
        tag == "tag:yaml.org,2002:float") {
      nlohmann::json resolved = ResolvePlain(value, options_);
      const bool ok = (tag == "tag:yaml.org,2002:bool" && resolved.is_boolean()) ||
                      (tag == "tag:yaml.org,2002:int" && resolved.is_number_integer()) ||
                      (tag == "tag:yaml.org,2002:float" && resolved.is_number());
      if (!ok) ThrowAt(node.Mark(), "cannot decode \"" + value + "\" as " + tag.substr(18));
      if (tag == "tag:yaml.org,2002:float") return resolved.get<double>();
      return resolved;
    }
    // Unknown (local) tags: keep the resolved plain value, as yaml.v2 does for !foo.
    return ResolvePlain(value, options_);
  }

  std::string KeyString(const YAML::Node& key, int depth) {
    if (!key.IsScalar() && !key.IsNull()) ThrowAt(key.Mark(), "mapping key must be a scalar");
    const nlohmann::json k = Convert(key, depth + 1);
    if (k.is_string()) return k.get<std::string>();
    if (k.is_null()) return "null";
    if (k.is_boolean()) return k.get<bool>() ? "true" : "false";
    if (k.is_number_integer() || k.is_number_unsigned()) return k.dump();
    return key.Scalar();
  }

  void MergeInto(nlohmann::json& out, const YAML::Node& value, int depth) {
    auto merge_one = [&](const YAML::Node& m) {
      if (!m.IsMap()) ThrowAt(m.Mark(), "map merge requires map or sequence of maps as the value");
      const nlohmann::json merged = Map(m, depth + 1);
      for (const auto& [k, v] : merged.items()) out[k] = v;
    };
    if (value.IsMap()) {
      merge_one(value);
    } else if (value.IsSequence()) {
      // Earlier maps take precedence: apply in reverse order.
      std::vector<YAML::Node> items(value.begin(), value.end());
      for (auto it = items.rbegin(); it != items.rend(); ++it) merge_one(*it);
    } else {
      ThrowAt(value.Mark(), "map merge requires map or sequence of maps as the value");
    }
  }

  nlohmann::json Map(const YAML::Node& node, int depth) {
    nlohmann::json obj = nlohmann::json::object();
    // Merge keys first so that explicit keys override merged ones.
    for (const auto& kv : node) {
      if (IsMergeKey(kv.first)) MergeInto(obj, kv.second, depth);
    }
    for (const auto& kv : node) {
      if (IsMergeKey(kv.first)) continue;
      std::string key = KeyString(kv.first, depth);
      obj[key] = Convert(kv.second, depth + 1);
    }
    return obj;
  }

  const YamlOptions& options_;
  std::size_t document_;
  std::size_t nodes_ = 0;
};

}  // namespace

std::vector<nlohmann::json> YamlDocumentsToJson(std::string_view text, const YamlOptions& options) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    ThrowAt(e.mark, e.msg);
  }
  std::vector<nlohmann::json> out;
  std::size_t index = 0;
  int previous_line = -1;  // line of the previous non-empty document's root node
  for (const auto& doc : docs) {
    ++index;
    if (!doc.IsDefined() || doc.IsNull()) continue;
    const YAML::Mark mark = doc.Mark();
    if (!mark.is_null()) {
      // yaml-cpp silently starts a new document when a block collection ends and unrelated
      // content follows at column 0 ("- a\nb: c"); YAML (and gopkg.in/yaml.v2) reject that.
      if (previous_line >= 0 && !HasDocumentMarker(text, previous_line, mark.line)) {
        ThrowAt(mark, "unexpected content after the end of a document (missing \"---\"?)");
      }
      previous_line = mark.line;
    }
    nlohmann::json j;
    try {
      Converter converter(options, index);
      j = converter.Convert(doc, 0);
    } catch (const YAML::Exception& e) {
      ThrowAt(e.mark, e.msg);
    }
    if (j.is_null()) continue;
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace common
