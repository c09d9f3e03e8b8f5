#include "common/crypto.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/error.hpp"
#include "common/hex.hpp"

namespace common {
namespace {

constexpr std::size_t kNonceSize = 12;
constexpr std::size_t kTagSize = 16;

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const noexcept { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

const EVP_CIPHER* GcmCipherForKey(std::string_view key) {
  switch (key.size()) {
    case 16:
      return EVP_aes_128_gcm();
    case 24:
      return EVP_aes_192_gcm();
    case 32:
      return EVP_aes_256_gcm();
    default:
      break;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "invalid AES key length " + std::to_string(key.size()) + " bytes: want 16, 24 or 32");
}

const unsigned char* Bytes(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* Bytes(std::string& s) noexcept { return reinterpret_cast<unsigned char*>(s.data()); }

CipherCtx NewCtx() {
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw Error(ErrorCode::kInternal, "EVP_CIPHER_CTX_new failed");
  return ctx;
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  // EVP_EncodeBlock writes a NUL after the text: one byte more, cut off with the resize.
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::optional<std::string> Base64Decode(std::string_view text) {
  // EVP_DecodeBlock alone is too lenient: it skips surrounding blanks, drops trailing '-' and
  // reads '=' anywhere as zero bits. So the shape is checked here, and the padding it decodes as
  // zero bytes is cut off afterwards.
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < text.size() && padding < 3 && text[text.size() - 1 - padding] == '=') ++padding;
  if (padding > 2) return std::nullopt;
  for (std::size_t i = 0; i + padding < text.size(); ++i) {
    const char c = text[i];
    const bool in_alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                             (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!in_alphabet) return std::nullopt;
  }
  if (text.empty()) return std::string();
  std::string out(text.size() / 4 * 3, '\0');
  const int decoded = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (decoded < 0 || static_cast<std::size_t>(decoded) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  std::string standard(text.substr(0, std::min(text.find('='), text.size())));
  for (char& c : standard) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  if (standard.size() % 4 == 1) {  // six bits: no whole byte, but still a Base64 character
    if (!Base64Decode(standard.substr(standard.size() - 1) + "A==")) return std::nullopt;
    standard.pop_back();
  }
  standard.append((4 - standard.size() % 4) % 4, '=');
  return Base64Decode(standard);
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out = Base64Encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> Base64UrlDecodeStrict(std::string_view text) {
  if (text.find_first_of("+/=") != std::string_view::npos || text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  standard.append((4 - standard.size() % 4) % 4, '=');
  auto bytes = Base64Decode(standard);
  // Non-zero unused bits in the last group decode to the same bytes: only the canonical
  // spelling, the one that encodes back to the text, is accepted.
  if (!bytes || Base64UrlEncode(*bytes) != text) return std::nullopt;
  return bytes;
}

std::string HmacSha256(std::string_view key, std::string_view message) {
  std::string out(EVP_MAX_MD_SIZE, '\0');
  unsigned int len = 0;
  // HMAC() with an empty key needs a non-null pointer.
  static const unsigned char kEmpty = 0;
  const unsigned char* key_ptr = key.empty() ? &kEmpty : Bytes(key);
  if (HMAC(EVP_sha256(), key_ptr, static_cast<int>(key.size()), Bytes(message), message.size(),
           Bytes(out), &len) == nullptr) {
    throw Error(ErrorCode::kInternal, "HMAC-SHA256 failed");
  }
  out.resize(len);
  return out;
}

bool ConstantTimeEqual(std::string_view a, std::string_view b) noexcept {
  // Compare over the longer length so the work does not depend on where contents differ.
  const std::size_t n = a.size() > b.size() ? a.size() : b.size();
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const auto y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = static_cast<unsigned char>(diff | (x ^ y));
  }
  return diff == 0;
}

std::string RandomBytes(std::size_t n) {
  std::string out(n, '\0');
  if (n == 0) return out;
  constexpr std::size_t kChunk = 1 << 30;  // RAND_bytes takes an int length
  for (std::size_t done = 0; done < n; done += kChunk) {
    const std::size_t len = n - done < kChunk ? n - done : kChunk;
    if (RAND_bytes(Bytes(out) + done, static_cast<int>(len)) != 1) {
      throw Error(ErrorCode::kInternal, "random number generator failed");
    }
  }
  return out;
}

std::string EncryptApiKey(std::string_view aes_key, std::string_view plaintext) {
  const EVP_CIPHER* cipher = GcmCipherForKey(aes_key);

  std::string nonce(kNonceSize, '\0');
  const auto now_ns =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (int i = 0; i < 8; ++i) {
    nonce[static_cast<std::size_t>(i)] = static_cast<char>((now_ns >> (56 - 8 * i)) & 0xff);
  }
  const std::string random = RandomBytes(4);
  nonce.replace(8, 4, random);

  CipherCtx ctx = NewCtx();
  std::string out = nonce;
  out.resize(kNonceSize + plaintext.size() + kTagSize);
  int len = 0;
  int total = 0;
  if (EVP_EncryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceSize),
                          nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(aes_key), Bytes(nonce)) != 1) {
    throw Error(ErrorCode::kInternal, "AES-GCM initialisation failed");
  }
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx.get(), Bytes(out) + kNonceSize, &len, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1) {
    throw Error(ErrorCode::kInternal, "AES-GCM encryption failed");
  }
  total = len;
  if (EVP_EncryptFinal_ex(ctx.get(), Bytes(out) + kNonceSize + total, &len) != 1) {
    throw Error(ErrorCode::kInternal, "AES-GCM encryption failed");
  }
  total += len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagSize),
                          Bytes(out) + kNonceSize + total) != 1) {
    throw Error(ErrorCode::kInternal, "AES-GCM tag failed");
  }
  out.resize(kNonceSize + static_cast<std::size_t>(total) + kTagSize);
  return HexEncode(out);
}

std::string DecryptApiKey(std::string_view aes_key, std::string_view stored_hex) {
  const EVP_CIPHER* cipher = GcmCipherForKey(aes_key);
  const std::optional<std::string> raw = HexDecode(stored_hex);
  if (!raw) throw Error(ErrorCode::kInvalidArgument, "encrypted API key is not valid hex");
  if (raw->size() <= kNonceSize) {
    throw Error(ErrorCode::kInvalidArgument, "encrypted API key is too short");
  }
  if (raw->size() < kNonceSize + kTagSize) {
    throw Error(ErrorCode::kInvalidArgument, "decrypt API key: message authentication failed");
  }
  const std::string_view data(*raw);
  const std::string_view nonce = data.substr(0, kNonceSize);
  const std::string_view body = data.substr(kNonceSize, data.size() - kNonceSize - kTagSize);
  std::string tag(data.substr(data.size() - kTagSize));

  CipherCtx ctx = NewCtx();
  std::string out(body.size(), '\0');
  int len = 0;
  int total = 0;
  if (EVP_DecryptInit_ex(ctx.get(), cipher, nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(kNonceSize),
                          nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, Bytes(aes_key), Bytes(nonce)) != 1) {
    throw Error(ErrorCode::kInternal, "AES-GCM initialisation failed");
  }
  if (!body.empty() && EVP_DecryptUpdate(ctx.get(), Bytes(out), &len, Bytes(body),
                                         static_cast<int>(body.size())) != 1) {
    throw Error(ErrorCode::kInvalidArgument, "decrypt API key: message authentication failed");
  }
  total = len;
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagSize),
                          tag.data()) != 1) {
    throw Error(ErrorCode::kInternal, "AES-GCM tag failed");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), Bytes(out) + total, &len) != 1) {
    throw Error(ErrorCode::kInvalidArgument, "decrypt API key: message authentication failed");
  }
  total += len;
  out.resize(static_cast<std::size_t>(total));
  return out;
}

}  // namespace common
