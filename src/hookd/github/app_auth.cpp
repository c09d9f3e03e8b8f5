#include "hookd/github/app_auth.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/crypto.hpp"
#include "common/error.hpp"

namespace hookd::github {
namespace {

const char* const kPrefix = "cannot instantiate Github installation client: ";

EVP_PKEY* Pkey(const std::shared_ptr<void>& key) { return static_cast<EVP_PKEY*>(key.get()); }

}  // namespace

AppKey AppKey::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    throw common::Error(
        common::ErrorCode::kInvalidArgument,
        std::string(kPrefix) + "unable to read key file \"" + path + "\": " + std::strerror(error));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    throw common::Error(
        common::ErrorCode::kInvalidArgument,
        std::string(kPrefix) + "unable to read key file \"" + path + "\": read error");
  }
  return FromPem(text.str(), "key file \"" + path + "\"");
}

AppKey AppKey::FromPem(const std::string& pem, const std::string& origin) {
  AppKey out;
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key =
      bio == nullptr ? nullptr : PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  ERR_clear_error();
  if (key == nullptr || EVP_PKEY_is_a(key, "RSA") != 1) {
    EVP_PKEY_free(key);
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        std::string(kPrefix) + origin + " holds no PEM-encoded RSA private key");
  }
  out.key_ = std::shared_ptr<void>(key, [](void* k) { EVP_PKEY_free(static_cast<EVP_PKEY*>(k)); });
  return out;
}

std::string AppKey::SignRs256(const std::string& input) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t length = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, Pkey(key_)) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, data, input.size()) != 1) {
    ERR_clear_error();
    throw common::Error(common::ErrorCode::kInternal, "RS256 signing failed");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                     input.size()) != 1) {
    ERR_clear_error();
    throw common::Error(common::ErrorCode::kInternal, "RS256 signing failed");
  }
  signature.resize(length);
  return signature;
}

std::string MakeAppJwt(const AppKey& key, const std::string& app_id, common::SystemTime now) {
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  const nlohmann::json claims = {{"iat", seconds - kJwtBackdate.count()},
                                 {"exp", seconds + kJwtLifetime.count()},
                                 {"iss", app_id}};
  const std::string input =
      common::Base64UrlEncode(header.dump()) + "." + common::Base64UrlEncode(claims.dump());
  return input + "." + common::Base64UrlEncode(key.SignRs256(input));
}

std::optional<std::string> TokenCache::Get(common::SystemTime now) const {
  std::lock_guard lock(mutex_);
  if (token_.empty() || now + renew_before_ >= expires_at_) return std::nullopt;
  return token_;
}

void TokenCache::Put(std::string token, common::SystemTime expires_at) {
  std::lock_guard lock(mutex_);
  token_ = std::move(token);
  expires_at_ = expires_at;
}

void TokenCache::Invalidate(const std::string& token) {
  std::lock_guard lock(mutex_);
  if (token_ == token) token_.clear();
}

}  // namespace hookd::github
