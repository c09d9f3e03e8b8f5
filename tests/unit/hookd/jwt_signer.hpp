#pragma once
// Test helper: an RSA key pair that signs RS256 JWTs and publishes itself as a JWKS document.
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "support/base64url.hpp"

namespace hookdtest {

inline std::string Base64Url(const std::string& bytes) {
  return testsupport::Base64UrlEncode(bytes);
}

class RsaSigner {
 public:
  explicit RsaSigner(std::string kid) : kid_(std::move(kid)) {
    key_.reset(EVP_RSA_gen(2048));
    if (!key_) throw std::runtime_error("RSA key generation failed");
  }

  const std::string& Kid() const { return kid_; }

  nlohmann::json Jwk() const {
    BIGNUM* n = nullptr;
    BIGNUM* e = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_N, &n);
    EVP_PKEY_get_bn_param(key_.get(), OSSL_PKEY_PARAM_RSA_E, &e);
    auto bytes = [](BIGNUM* b) {
      std::string out(static_cast<std::size_t>(BN_num_bytes(b)), '\0');
      BN_bn2bin(b, reinterpret_cast<unsigned char*>(out.data()));
      return out;
    };
    nlohmann::json jwk = {{"kty", "RSA"}, {"alg", "RS256"},           {"use", "sig"},
                          {"kid", kid_},  {"n", Base64Url(bytes(n))}, {"e", Base64Url(bytes(e))}};
    BN_free(n);
    BN_free(e);
    return jwk;
  }

  std::string Jwks() const { return nlohmann::json{{"keys", {Jwk()}}}.dump(); }

  // header {"alg":"RS256","typ":"JWT","kid":kid} unless `header` is given.
  std::string Sign(const nlohmann::json& claims, nlohmann::json header = nullptr) const {
    if (header.is_null()) header = {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", kid_}};
    return SignSegments(Base64Url(header.dump()), Base64Url(claims.dump()));
  }

  // "<header>.<payload>.<signature>" with the segments used as given (even when they are not
  // canonical base64url) and a valid signature over them.
  std::string SignSegments(const std::string& header, const std::string& payload) const {
    const std::string input = header + "." + payload;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::size_t length = 0;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key_.get());
    EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::string signature(length, '\0');
    EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    EVP_MD_CTX_free(ctx);
    signature.resize(length);
    return input + "." + Base64Url(signature);
  }

 private:
  struct Free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  std::string kid_;
  std::unique_ptr<EVP_PKEY, Free> key_;
};

// Claims of a GitHub Actions token issued at `now` (seconds since the epoch).
inline nlohmann::json GitHubClaims(long long now, const std::string& issuer,
                                   const std::string& repository = "navikt/app") {
  nlohmann::json claims = {
      {"iss", issuer},   {"aud", "hookd"},  {"sub", "repo:" + repository + ":ref:refs/heads/main"},
      {"iat", now - 10}, {"nbf", now - 10}, {"exp", now + 300}};
  if (!repository.empty()) claims["repository"] = repository;
  return claims;
}

}  // namespace hookdtest
