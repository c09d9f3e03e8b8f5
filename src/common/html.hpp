#pragma once
// The one HTML escaper: &, <, > and the two quotes as entities (the quotes' entities are the
// caller's: the CLI's Handlebars writes &quot; and &apos; as the original's templates do, hookd's
// pages &#34; or &quot; and &#39;).
#include <string>
#include <string_view>

namespace common {

inline std::string EscapeHtml(std::string_view text, std::string_view quote,
                              std::string_view apostrophe) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += quote;
        break;
      case '\'':
        out += apostrophe;
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace common
