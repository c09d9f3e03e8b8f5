#pragma once
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace deploy_cli {

// A template error; `parse` tells parse errors (exit 8 "parse template file: ...") from
// execution errors ("execute template: ...").
class TemplateError : public std::runtime_error {
 public:
  TemplateError(bool parse, const std::string& message)
      : std::runtime_error(message), parse_(parse) {}
  bool IsParseError() const noexcept { return parse_; }

 private:
  bool parse_;
};

// Renders a Handlebars template the way aymerick/raymond v2 does for the original CLI:
// {{x}} (HTML-escaped: & ' < > " -> &amp; &apos; &lt; &gt; &quot;), {{{x}}} and {{& x}} raw,
// paths a.b.c / this / ../x / @index @key @first @last @../index @root, comments {{! }}
// {{!-- --}}, whitespace control {{~ ~}}, block helpers if/unless/each (with `as |x|` /
// `as |x i|`)/with/equal (no {{else}}, as raymond), inline helpers lookup (a string), equal
// (in a subexpression), log. As raymond: a name not found in the current context is looked up
// in the enclosing ones, and parameters of a name that is not a helper are ignored. Missing
// variables render empty; with `strict` they, and parameters given to a non-helper, throw
// TemplateError.
std::string RenderTemplate(std::string_view text, const nlohmann::json& context, bool strict);

// How a value prints (raymond's Str): strings as is, booleans true/false, numbers shortest
// decimal without exponent, arrays concatenated, null empty, objects as Go's fmt.Sprintf("%s")
// of a map: `map[a:%!s(float64=1) b:x]` (sorted keys; %s applied to every element).
std::string Stringify(const nlohmann::json& value);

// Go strconv.FormatFloat(value, format, -1, 64) for format 'f', 'g' or 'e': the shortest digits
// that round-trip ("1000000", "1e+06", "1e+06").
std::string GoFormatFloat(double value, char format);

// Go's fmt %v of a decoded JSON value, as the original's log lines print template variables:
// `1.5`, `1e+06`, `true`, `<nil>`, `[a b]`, `map[a:1 b:x]`.
std::string GoFormatV(const nlohmann::json& value);

}  // namespace deploy_cli
