#include "common/uuid.hpp"

#include "common/crypto.hpp"
#include "common/hex.hpp"

namespace common {

std::string NewUuidV4() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((static_cast<unsigned char>(b[6]) & 0x0f) | 0x40);
  b[8] = static_cast<char>((static_cast<unsigned char>(b[8]) & 0x3f) | 0x80);
  const std::string h = HexEncode(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) +
         "-" + h.substr(20, 12);
}

bool IsUuid(std::string_view text) noexcept {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
      continue;
    }
    const bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (!hex) return false;
  }
  return true;
}

}  // namespace common
