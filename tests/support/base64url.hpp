#pragma once
// base64url without padding (RFC 4648 section 5) for the tests' JWTs: OpenSSL's Base64 with the
// URL alphabet swapped in. Independent of hookd's own codec (common/crypto.hpp) on purpose, so
// that the fakes check what hookd produces rather than agree with it.
#include <optional>
#include <string>

#include <openssl/evp.h>

namespace testsupport {

inline std::string Base64UrlEncode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// nullopt for a character outside the URL alphabet, or an impossible length.
inline std::optional<std::string> Base64UrlDecode(std::string text) {
  if (text.size() % 4 == 1) return std::nullopt;
  for (char& c : text) {
    if (c == '+' || c == '/' || c == '=') return std::nullopt;
    c = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  const std::size_t padding = (4 - text.size() % 4) % 4;
  text.append(padding, '=');
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(n) - padding);  // EVP_DecodeBlock counts padding as zeros
  return out;
}

}  // namespace testsupport
