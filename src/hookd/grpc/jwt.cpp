#include "hookd/grpc/jwt.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/http_client.hpp"

namespace hookd::grpcapi {
namespace {

using nlohmann::json;

std::shared_ptr<void> RsaPublicKey(const std::string& n, const std::string& e) {
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
  if (bn_n != nullptr && bn_e != nullptr && bld != nullptr && ctx != nullptr &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1 &&
      (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  }
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  EVP_PKEY_CTX_free(ctx);
  BN_free(bn_n);
  BN_free(bn_e);
  if (pkey == nullptr) return nullptr;
  return std::shared_ptr<void>(pkey, [](void* p) { EVP_PKEY_free(static_cast<EVP_PKEY*>(p)); });
}

bool VerifyWith(void* key, const std::string& input, const std::string& signature) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return false;
  bool ok =
      EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, static_cast<EVP_PKEY*>(key)) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                       input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

// NumericDate claim: absent -> nullopt; present but not a number -> throws.
std::optional<common::SystemTime> NumericDate(const json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        std::string("failed to parse \"") + name + "\": not a number");
  }
  const double seconds = it->get<double>();
  return common::SystemTime(std::chrono::duration_cast<common::SystemTime::duration>(
      std::chrono::duration<double>(seconds)));
}

constexpr std::chrono::seconds kJwksTimeout{5};
// GitHub repository IDs are 64-bit integers; the token carries them as decimal strings.
constexpr std::size_t kMaxRepositoryIdDigits = 20;

bool IsDecimal(const std::string& text) {
  if (text.empty() || text.size() > kMaxRepositoryIdDigits) return false;
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

JwkSet JwkSet::Parse(const std::string& text) {
  JwkSet set;
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        std::string("invalid JWKS: ") + e.what());
  }
  if (!doc.is_object() || !doc.contains("keys") || !doc["keys"].is_array()) {
    throw common::Error(common::ErrorCode::kInvalidArgument, "invalid JWKS: no \"keys\" array");
  }
  for (const auto& k : doc["keys"]) {
    if (!k.is_object() || k.value("kty", "") != "RSA") continue;
    if (!k.contains("n") || !k.contains("e") || !k["n"].is_string() || !k["e"].is_string())
      continue;
    auto n = common::Base64UrlDecodeStrict(k["n"].get<std::string>());
    auto e = common::Base64UrlDecodeStrict(k["e"].get<std::string>());
    if (!n || !e || n->empty() || e->empty()) continue;
    auto key = RsaPublicKey(*n, *e);
    if (!key) continue;
    std::string kid = k.contains("kid") && k["kid"].is_string() ? k["kid"].get<std::string>() : "";
    set.keys_[kid] = std::move(key);
  }
  return set;
}

bool JwkSet::HasKey(const std::string& kid) const {
  return kid.empty() ? !keys_.empty() : keys_.count(kid) > 0;
}

bool JwkSet::VerifyRs256(const std::string& kid, const std::string& signing_input,
                         const std::string& signature) const {
  if (kid.empty()) {
    for (const auto& [id, key] : keys_) {
      if (VerifyWith(key.get(), signing_input, signature)) return true;
    }
    return false;
  }
  auto it = keys_.find(kid);
  return it != keys_.end() && VerifyWith(it->second.get(), signing_input, signature);
}

JwksFetcher HttpJwksFetcher(const std::string& url, bool allow_http) {
  const bool https = url.rfind("https://", 0) == 0;
  const bool http = url.rfind("http://", 0) == 0;
  if (!https && !http) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid JWKS URL \"" + url + "\": want an https:// URL");
  }
  // Whoever can change the keys in transit can mint tokens for any repository.
  if (http && !allow_http) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "invalid JWKS URL \"" + url +
                            "\": the keys must be fetched over https:// (http:// only with "
                            "github-jwks-allow-http)");
  }
  auto slash = url.find('/', url.find("://") + 3);
  common::HttpClientOptions options;
  options.base_url = url.substr(0, slash);
  options.connect_timeout = kJwksTimeout;
  options.request_timeout = kJwksTimeout;
  options.user_agent = "hookd";
  const std::string target = slash == std::string::npos ? "/" : url.substr(slash);
  auto client = std::make_shared<common::HttpClient>(options);
  return [client, target, url]() {
    common::HttpRequest request;
    request.target = target;
    // Streamed, so that an oversized body is refused as it arrives instead of being buffered
    // whole; Stream's timeout is per read, so the whole transfer gets its own deadline too.
    const auto deadline = std::chrono::steady_clock::now() + kJwksTimeout;
    std::string body;
    bool too_large = false;
    bool too_slow = false;
    int status = 0;
    client->Stream(
        request,
        [&](const common::HttpResponse& head) {
          status = head.status;
          if (status < 200 || status > 299) return false;
          const std::string length = head.Header("Content-Length");
          unsigned long long announced = 0;
          auto [end, error] =
              std::from_chars(length.data(), length.data() + length.size(), announced);
          if (error == std::errc() && end == length.data() + length.size() &&
              announced > kMaxJwksBytes) {
            too_large = true;
            return false;
          }
          return true;
        },
        [&](std::string_view data) {
          if (data.size() > kMaxJwksBytes - body.size()) {
            too_large = true;
            return false;
          }
          body.append(data);
          if (std::chrono::steady_clock::now() > deadline) {
            too_slow = true;
            return false;
          }
          return true;
        });
    if (status < 200 || status > 299) {
      throw common::Error(common::ErrorCode::kUnavailable,
                          "GET " + url + ": HTTP " + std::to_string(status));
    }
    if (too_large) {
      throw common::Error(
          common::ErrorCode::kUnavailable,
          "GET " + url + ": JWKS response larger than " + std::to_string(kMaxJwksBytes) + " bytes");
    }
    if (too_slow) {
      throw common::Error(common::ErrorCode::kDeadlineExceeded, "GET " + url + ": timeout");
    }
    return body;
  };
}

JwksCache::JwksCache(JwksFetcher fetcher, const common::Clock& clock)
    : fetcher_(std::move(fetcher)), clock_(clock) {}

std::shared_ptr<const JwkSet> JwksCache::Keys(const std::string& kid) {
  std::lock_guard lock(mutex_);
  const auto now = clock_.Now();
  bool refresh = !keys_ || now - fetched_ >= kRefreshInterval;
  if (keys_ && !keys_->HasKey(kid) && now - fetched_ >= kUnknownKidInterval) refresh = true;
  // After a failure, wait a little before trying again.
  if (refresh && !last_error_.empty() && now - last_attempt_ < kRetryInterval) refresh = false;
  if (refresh) {
    last_attempt_ = now;
    try {
      auto fresh = std::make_shared<JwkSet>(JwkSet::Parse(fetcher_()));
      keys_ = std::move(fresh);
      fetched_ = now;
      last_error_.clear();
    } catch (const std::exception& e) {
      last_error_ = e.what();
      spdlog::error("fetching GitHub JWKS: {}", last_error_);
    }
  }
  if (!keys_) {
    throw common::Error(common::ErrorCode::kUnavailable, "GitHub JWKS unavailable: " + last_error_);
  }
  return keys_;
}

JwtVerifier::JwtVerifier(JwksCache& jwks, std::string issuer, std::string audience,
                         const common::Clock& clock)
    : jwks_(jwks), issuer_(std::move(issuer)), audience_(std::move(audience)), clock_(clock) {}

JwtResult JwtVerifier::Verify(const std::string& token) const {
  JwtResult result;
  auto invalid = [&result](std::string error) {
    result.failure = JwtFailure::kInvalid;
    result.error = std::move(error);
    return result;
  };
  // Compact serialization: header.payload.signature, nothing more or less.
  if (std::count(token.begin(), token.end(), '.') != 2) {
    return invalid(
        "failed to parse token: invalid compact serialization format: invalid number of segments");
  }
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  auto header_raw = common::Base64UrlDecodeStrict(token.substr(0, first));
  if (!header_raw) return invalid("failed to parse token: invalid base64url in the header");
  auto payload_raw = common::Base64UrlDecodeStrict(token.substr(first + 1, second - first - 1));
  if (!payload_raw) return invalid("failed to parse token: invalid base64url in the payload");
  auto signature = common::Base64UrlDecodeStrict(token.substr(second + 1));
  if (!signature) return invalid("failed to parse token: invalid base64url in the signature");
  json header, claims;
  try {
    header = json::parse(*header_raw);
    claims = json::parse(*payload_raw);
  } catch (const json::parse_error&) {
    return invalid("failed to parse token: invalid JSON");
  }
  if (!header.is_object() || !claims.is_object()) {
    return invalid("failed to parse token: invalid JSON");
  }
  const std::string alg = header.value("alg", "");
  if (alg != "RS256") return invalid("unsupported signature algorithm \"" + alg + "\"");
  const std::string kid =
      header.contains("kid") && header["kid"].is_string() ? header["kid"].get<std::string>() : "";
  std::shared_ptr<const JwkSet> keys;
  try {
    keys = jwks_.Keys(kid);
  } catch (const std::exception& e) {
    result.failure = JwtFailure::kUnavailable;
    result.error = e.what();
    return result;
  }
  if (!keys->VerifyRs256(kid, token.substr(0, second), *signature)) {
    return invalid("could not verify message using any of the signatures or keys");
  }
  const auto now = clock_.Now();
  std::optional<common::SystemTime> exp, nbf, iat;
  try {
    exp = NumericDate(claims, "exp");
    nbf = NumericDate(claims, "nbf");
    iat = NumericDate(claims, "iat");
  } catch (const common::Error& e) {
    return invalid(e.what());
  }
  // A token without an expiry would be valid forever.
  if (!exp) return invalid("\"exp\" not satisfied: required claim not found");
  if (now - kSkew >= *exp) {
    result.failure = JwtFailure::kExpired;
    result.error = "\"exp\" not satisfied";
    return result;
  }
  if (nbf && now + kSkew < *nbf) return invalid("\"nbf\" not satisfied");
  if (iat && now + kSkew < *iat) return invalid("\"iat\" not satisfied");
  if (!claims.contains("iss") || !claims["iss"].is_string() ||
      claims["iss"].get<std::string>() != issuer_) {
    return invalid("\"iss\" not satisfied: values do not match");
  }
  bool audience_ok = false;
  if (auto it = claims.find("aud"); it != claims.end()) {
    if (it->is_string()) {
      audience_ok = it->get<std::string>() == audience_;
    } else if (it->is_array()) {
      for (const auto& a : *it) audience_ok |= a.is_string() && a.get<std::string>() == audience_;
    }
  }
  if (!audience_ok) return invalid("\"aud\" not satisfied");
  JwtClaims out;
  if (auto it = claims.find("repository"); it != claims.end() && it->is_string()) {
    out.repository = it->get<std::string>();
  }
  if (auto it = claims.find("repository_id"); it != claims.end() && !it->is_null()) {
    if (it->is_string() && IsDecimal(it->get<std::string>())) {
      out.repository_id = it->get<std::string>();
    } else if (it->is_number_unsigned()) {
      out.repository_id = std::to_string(it->get<std::uint64_t>());
    } else {
      return invalid("\"repository_id\" not satisfied: want a decimal string");
    }
  }
  if (auto it = claims.find("sub"); it != claims.end() && it->is_string()) {
    out.subject = it->get<std::string>();
  }
  result.claims = std::move(out);
  return result;
}

}  // namespace hookd::grpcapi
