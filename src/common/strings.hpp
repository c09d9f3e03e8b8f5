#pragma once
#include <string>
#include <string_view>

namespace common {

// The ASCII white space that Go's strings.TrimSpace removes.
inline constexpr std::string_view kAsciiSpace = " \t\n\v\f\r";

// `s` without the leading and trailing characters that are in `chars`.
inline std::string Trim(std::string_view s, std::string_view chars = kAsciiSpace) {
  const auto begin = s.find_first_not_of(chars);
  if (begin == std::string_view::npos) return "";
  const auto end = s.find_last_not_of(chars);
  return std::string(s.substr(begin, end - begin + 1));
}

}  // namespace common
