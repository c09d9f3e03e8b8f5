#pragma once
#include <string>
#include <string_view>

namespace common {

// Random RFC 4122 version-4 UUID, lower case, 36 characters.
std::string NewUuidV4();
// 8-4-4-4-12 hex (either case), any version.
bool IsUuid(std::string_view text) noexcept;

}  // namespace common
