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
// paths a.b.c / this / ../x / @index @key @first @last, comments {{! }} {{!-- --}},
// whitespace control {{~ ~}}, block helpers if/unless/each (with `as |x|` / `as |x i|`)/with,
// inline helpers lookup, equal (also as block), log. Missing variables render empty, or throw
// TemplateError when `strict` is true.
std::string RenderTemplate(std::string_view text, const nlohmann::json& context, bool strict);

// How a value prints: strings as is, booleans true/false, numbers shortest decimal without
// exponent, arrays concatenated, null/objects empty.
std::string Stringify(const nlohmann::json& value);

}  // namespace deploy_cli
