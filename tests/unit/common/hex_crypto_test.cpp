#include <optional>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/names.hpp"

namespace common {
namespace {

constexpr const char* kDefaultEncryptionKey =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
// The apikey row for team aura in the original's README.
constexpr const char* kReadmeStoredKey =
    "1608bf2caf81bb68d50bfb094a8e0d90de2b27260767a64a0103c6255077eb446f4fabcb7ae94514380b4fdc006"
    "bd50dfe2ea73f4b60c0c55891a60f";
constexpr const char* kReadmeApiKey =
    "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d";

std::string Unhex(std::string_view hex) {
  auto v = HexDecode(hex);
  if (!v) throw std::runtime_error("bad hex in test");
  return *v;
}

template <typename F>
std::string ErrorMessage(F&& f, ErrorCode expected_code) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.Code(), expected_code);
    return e.what();
  }
  ADD_FAILURE() << "no common::Error thrown";
  return "";
}

TEST(HexTest, EncodeLowerCase) {
  EXPECT_EQ(HexEncode(""), "");
  EXPECT_EQ(HexEncode(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(HexEncode("hi"), "6869");
}

TEST(HexTest, DecodeBothCases) {
  EXPECT_EQ(HexDecode(""), std::string());
  EXPECT_EQ(HexDecode("0001abff"), std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(HexDecode("0001ABFF"), std::string("\x00\x01\xab\xff", 4));
  EXPECT_EQ(HexDecode("aBcD"), std::string("\xab\xcd"));
}

TEST(HexTest, DecodeRejectsOddLengthAndNonHex) {
  EXPECT_EQ(HexDecode("abc"), std::nullopt);
  EXPECT_EQ(HexDecode("zz"), std::nullopt);
  EXPECT_EQ(HexDecode("0g"), std::nullopt);
  EXPECT_EQ(HexDecode(" 0"), std::nullopt);
  EXPECT_EQ(HexDecode("0x00"), std::nullopt);
}

TEST(HexTest, RoundTripAllBytes) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(HexDecode(HexEncode(all)), all);
}

// RFC 4231 test vectors.
TEST(HmacTest, Rfc4231) {
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  EXPECT_EQ(HexEncode(HmacSha256(Unhex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                                 std::string(50, '\xcd'))),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0c'), "Test With Truncation")).substr(0, 32),
            "a3b6167473100ee06e0c796c2955552b");
  EXPECT_EQ(HexEncode(HmacSha256(std::string(131, '\xaa'),
                                 "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(HexEncode(HmacSha256(
                std::string(131, '\xaa'),
                "This is a test using a larger than block-size key and a larger than block-size "
                "data. The key needs to be hashed before being used by the HMAC algorithm.")),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST(HmacTest, EmptyKeyAndMessage) {
  // Well-known HMAC-SHA256("", "").
  EXPECT_EQ(HexEncode(HmacSha256("", "")),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  EXPECT_EQ(HmacSha256("k", "").size(), 32u);
}

TEST(ConstantTimeEqualTest, Compares) {
  EXPECT_TRUE(ConstantTimeEqual("", ""));
  EXPECT_TRUE(ConstantTimeEqual("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEqual("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEqual("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEqual("", "a"));
  EXPECT_FALSE(ConstantTimeEqual(std::string("a\0", 2), "a"));
  EXPECT_TRUE(ConstantTimeEqual(std::string("\0\xff", 2), std::string("\0\xff", 2)));
}

TEST(RandomBytesTest, LengthAndVariety) {
  EXPECT_EQ(RandomBytes(0), "");
  EXPECT_EQ(RandomBytes(1).size(), 1u);
  EXPECT_EQ(RandomBytes(32).size(), 32u);
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) seen.insert(RandomBytes(16));
  EXPECT_EQ(seen.size(), 20u);
}

TEST(ApiKeyCryptoTest, DecryptsReadmeRow) {
  EXPECT_EQ(std::string(kReadmeStoredKey).size(), 120u);
  const std::string plain = DecryptApiKey(Unhex(kDefaultEncryptionKey), kReadmeStoredKey);
  EXPECT_EQ(HexEncode(plain), kReadmeApiKey);
}

TEST(ApiKeyCryptoTest, DecryptAcceptsUpperCaseHex) {
  std::string upper = kReadmeStoredKey;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(HexEncode(DecryptApiKey(Unhex(kDefaultEncryptionKey), upper)), kReadmeApiKey);
}

TEST(ApiKeyCryptoTest, RoundTripAllKeySizes) {
  const std::string plain = Unhex(kReadmeApiKey);
  for (std::size_t key_len : {16u, 24u, 32u}) {
    const std::string key = RandomBytes(key_len);
    const std::string stored = EncryptApiKey(key, plain);
    EXPECT_EQ(stored.size(), (12 + plain.size() + 16) * 2) << key_len;
    EXPECT_EQ(stored, HexEncode(Unhex(stored))) << "must be lower-case hex";
    EXPECT_EQ(DecryptApiKey(key, stored), plain) << key_len;
  }
}

TEST(ApiKeyCryptoTest, EmptyPlaintextRoundTrips) {
  const std::string key = Unhex(kDefaultEncryptionKey);
  const std::string stored = EncryptApiKey(key, "");
  EXPECT_EQ(stored.size(), 56u);
  EXPECT_EQ(DecryptApiKey(key, stored), "");
}

TEST(ApiKeyCryptoTest, NonceIsTimePrefixedAndUnique) {
  const std::string key = Unhex(kDefaultEncryptionKey);
  const auto before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const std::string a = *HexDecode(EncryptApiKey(key, "same"));
  const std::string b = *HexDecode(EncryptApiKey(key, "same"));
  const auto after = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  EXPECT_NE(a, b);
  std::uint64_t ts = 0;
  for (int i = 0; i < 8; ++i)
    ts = (ts << 8) | static_cast<unsigned char>(a[static_cast<std::size_t>(i)]);
  EXPECT_GE(ts, static_cast<std::uint64_t>(before));
  EXPECT_LE(ts, static_cast<std::uint64_t>(after));
}

TEST(ApiKeyCryptoTest, WrongKeyFailsAuthentication) {
  std::string key = Unhex(kDefaultEncryptionKey);
  key[0] = static_cast<char>(key[0] ^ 1);
  EXPECT_EQ(
      ErrorMessage([&] { DecryptApiKey(key, kReadmeStoredKey); }, ErrorCode::kInvalidArgument),
      "decrypt API key: message authentication failed");
}

TEST(ApiKeyCryptoTest, TamperedCiphertextFailsAuthentication) {
  std::string stored = kReadmeStoredKey;
  stored[40] = stored[40] == '0' ? '1' : '0';
  EXPECT_EQ(ErrorMessage([&] { DecryptApiKey(Unhex(kDefaultEncryptionKey), stored); },
                         ErrorCode::kInvalidArgument),
            "decrypt API key: message authentication failed");
}

TEST(ApiKeyCryptoTest, TruncatedInput) {
  const std::string key = Unhex(kDefaultEncryptionKey);
  const std::string stored = kReadmeStoredKey;
  // 12 bytes or less: too short.
  EXPECT_EQ(
      ErrorMessage([&] { DecryptApiKey(key, stored.substr(0, 24)); }, ErrorCode::kInvalidArgument),
      "encrypted API key is too short");
  EXPECT_EQ(ErrorMessage([&] { DecryptApiKey(key, ""); }, ErrorCode::kInvalidArgument),
            "encrypted API key is too short");
  // More than the nonce but shorter than nonce + tag, and a cut-off tag.
  EXPECT_EQ(
      ErrorMessage([&] { DecryptApiKey(key, stored.substr(0, 26)); }, ErrorCode::kInvalidArgument),
      "decrypt API key: message authentication failed");
  EXPECT_EQ(ErrorMessage([&] { DecryptApiKey(key, stored.substr(0, stored.size() - 2)); },
                         ErrorCode::kInvalidArgument),
            "decrypt API key: message authentication failed");
}

TEST(ApiKeyCryptoTest, BadHex) {
  const std::string key = Unhex(kDefaultEncryptionKey);
  EXPECT_EQ(ErrorMessage([&] { DecryptApiKey(key, "xyz"); }, ErrorCode::kInvalidArgument),
            "encrypted API key is not valid hex");
  EXPECT_EQ(ErrorMessage([&] { DecryptApiKey(key, std::string(kReadmeStoredKey) + "0"); },
                         ErrorCode::kInvalidArgument),
            "encrypted API key is not valid hex");
}

TEST(ApiKeyCryptoTest, BadKeyLength) {
  for (std::size_t len : {0u, 15u, 17u, 31u, 33u, 64u}) {
    const std::string key(len, 'k');
    EXPECT_EQ(ErrorMessage([&] { EncryptApiKey(key, "x"); }, ErrorCode::kInvalidArgument),
              "invalid AES key length " + std::to_string(len) + " bytes: want 16, 24 or 32");
    EXPECT_EQ(
        ErrorMessage([&] { DecryptApiKey(key, kReadmeStoredKey); }, ErrorCode::kInvalidArgument),
        "invalid AES key length " + std::to_string(len) + " bytes: want 16, 24 or 32");
  }
}

// RFC 4648 section 10 test vectors.
TEST(Base64Test, EncodesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Test, DecodeCutsPaddingAndRoundTripsAllBytes) {
  EXPECT_EQ(Base64Decode(""), std::string());
  EXPECT_EQ(Base64Decode("Zg=="), "f");
  EXPECT_EQ(Base64Decode("Zm8="), "fo");
  EXPECT_EQ(Base64Decode("Zm9vYmFy"), "foobar");
  EXPECT_EQ(Base64Decode("/w=="), std::string("\xff"));
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    EXPECT_EQ(Base64Decode(Base64Encode(all.substr(0, n))), all.substr(0, n)) << n;
  }
}

TEST(Base64Test, DecodeRefusesWhatGoRefuses) {
  for (const char* bad : {"Zg", "Zg=", "Z===", "====", "Zg=a", "Z=g=", "Zm9v\n", " Zm9v", "Zm9v-",
                          "Zm-_", "Zm9v!A=="}) {
    EXPECT_EQ(Base64Decode(bad), std::nullopt) << bad;
  }
}

TEST(Base64Test, UrlDecodeReadsJwtSegments) {
  EXPECT_EQ(Base64UrlDecode("eyJleHAiOjF9"), "{\"exp\":1}");
  EXPECT_EQ(Base64UrlDecode("-_8"), std::string("\xfb\xff"));
  EXPECT_EQ(Base64UrlDecode("+/8="), std::string("\xfb\xff"));
  EXPECT_EQ(Base64UrlDecode("Zm9vY"), "foo");  // a lone last character holds no whole byte
  EXPECT_EQ(Base64UrlDecode("Zm9v!"), std::nullopt);
}

TEST(Base64UrlStrict, AcceptsOnlyTheCanonicalUnpaddedEncoding) {
  EXPECT_EQ(Base64UrlDecodeStrict(""), "");
  EXPECT_EQ(Base64UrlDecodeStrict("YQ"), "a");
  EXPECT_EQ(Base64UrlDecodeStrict("YWI"), "ab");
  EXPECT_EQ(Base64UrlDecodeStrict("YWJj"), "abc");
  EXPECT_EQ(Base64UrlDecodeStrict("-_8"), "\xfb\xff");
  for (const char* bad : {"YQ==", "YQ=", "YWI=", "=",  // padding
                          "+/8", "YW+j", "YW/j",       // the standard alphabet
                          "YW Jj", " YWJj", "YWJj\n",  // whitespace
                          "YWJj\t", "YW\rJj", "YR", "YWK",
                          "YWL",         // unused bits not zero: other spellings of "a", "ab"
                          "YWJjZ", "Y",  // a lone character in the last group
                          "YW.j", "YW\xc3\xa9"}) {
    EXPECT_FALSE(Base64UrlDecodeStrict(bad).has_value()) << common::Quote(bad);
  }
}

TEST(Base64UrlStrict, EncodesWithoutPaddingAndRoundTrips) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("a"), "YQ");
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    EXPECT_EQ(Base64UrlDecodeStrict(Base64UrlEncode(all.substr(0, n))), all.substr(0, n));
  }
}

}  // namespace
}  // namespace common
