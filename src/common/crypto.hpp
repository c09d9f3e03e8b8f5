#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace common {

// Raw 32-byte HMAC-SHA256 of `message` under `key` (both arbitrary bytes).
std::string HmacSha256(std::string_view key, std::string_view message);
// Constant-time equality (length mismatch returns false without early exit on content).
bool ConstantTimeEqual(std::string_view a, std::string_view b) noexcept;
// Cryptographically random bytes (OpenSSL RAND_bytes); throws Error{kInternal} on failure.
std::string RandomBytes(std::size_t n);

// Standard Base64 (RFC 4648 section 4) with padding, through OpenSSL's EVP_EncodeBlock.
std::string Base64Encode(std::string_view bytes);
// Strict inverse of Base64Encode, as Go's base64.StdEncoding.DecodeString: nullopt for a character
// outside the alphabet, a length that is not a multiple of 4, or '=' other than one or two at the
// end. Line breaks are not skipped: a caller that allows them removes them first.
std::optional<std::string> Base64Decode(std::string_view text);
// Lenient URL-safe Base64 for JWT segments (RFC 7515, unpadded): both alphabets accepted, input
// ends at the first '=', a lone trailing character (less than a byte) is ignored.
std::optional<std::string> Base64UrlDecode(std::string_view text);
// URL-safe Base64 without padding (RFC 4648 section 5), as JWTs write it.
std::string Base64UrlEncode(std::string_view bytes);
// Strict inverse of Base64UrlEncode, for tokens that must have one spelling only: nullopt for
// padding, the standard alphabet's '+' and '/', whitespace, a lone character in the last group
// or unused bits that are not zero.
std::optional<std::string> Base64UrlDecodeStrict(std::string_view text);

// API keys at rest, exactly as the original stores them:
// lower-case hex of nonce(12) || AES-GCM ciphertext+tag(16); nonce = 8-byte big-endian Unix
// nanoseconds + 4 random bytes; no AAD; AES-128/192/256 chosen by key length (16/24/32 bytes).
// Throws Error{kInvalidArgument} for a bad key length.
std::string EncryptApiKey(std::string_view aes_key, std::string_view plaintext);
// Inverse of EncryptApiKey. Throws Error{kInvalidArgument} on bad hex, too short input (<= 12
// bytes), bad key length, or authentication failure.
std::string DecryptApiKey(std::string_view aes_key, std::string_view stored_hex);

}  // namespace common
