#include "common/names.hpp"

#include <fmt/format.h>

#include "common/error.hpp"

namespace common {
namespace {

bool IsAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

bool IsDnsLabel(std::string_view name) {
  if (name.empty() || name.size() > kMaxLabelLength) return false;
  if (!IsAlnum(name.front()) || !IsAlnum(name.back())) return false;
  for (char c : name) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

void AppendEscaped(std::string& out, std::string_view text, bool escape_non_ascii) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      default:
        if (c < 0x20 || c == 0x7f || (escape_non_ascii && c > 0x7f)) {
          out += fmt::format("\\x{:02x}", c);
        } else {
          out += ch;
        }
    }
  }
}

std::string Quote(std::string_view text, std::size_t max) {
  std::string out = "\"";
  AppendEscaped(out, text.substr(0, std::min(text.size(), max)), true);
  if (text.size() > max) out += "...";
  return out + "\"";
}

std::optional<std::string> InvalidLabel(std::string_view what, std::string_view name) {
  if (IsDnsLabel(name)) return std::nullopt;
  return fmt::format("invalid {} {}: {}", what, Quote(name), kLabelRule);
}

void RequireLabel(std::string_view what, std::string_view name) {
  if (auto message = InvalidLabel(what, name)) {
    throw Error(ErrorCode::kInvalidArgument, *message);
  }
}

}  // namespace common
