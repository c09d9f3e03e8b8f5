#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace common {

// Lower-case hex of arbitrary bytes.
std::string HexEncode(std::string_view bytes);
// Accepts upper and lower case. nullopt on odd length or a non-hex character. "" -> "".
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace common
