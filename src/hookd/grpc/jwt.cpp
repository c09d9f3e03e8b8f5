#include "hookd/grpc/jwt.hpp"

#include <nlohmann/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/http_client.hpp"

namespace hookd::grpcapi {
namespace {

using nlohmann::json;

int Base64UrlValue(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

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

}  // namespace

std::optional<std::string> Base64UrlDecode(const std::string& text) {
  std::string out;
  unsigned int buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    int v = Base64UrlValue(c);
    if (v < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<unsigned int>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

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
    auto n = Base64UrlDecode(k["n"].get<std::string>());
    auto e = Base64UrlDecode(k["e"].get<std::string>());
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

JwksFetcher HttpJwksFetcher(const std::string& url) {
  auto scheme = url.find("://");
  if (scheme == std::string::npos) {
    throw common::Error(common::ErrorCode::kInvalidArgument, "invalid JWKS URL \"" + url + "\"");
  }
  auto slash = url.find('/', scheme + 3);
  common::HttpClientOptions options;
  options.base_url = url.substr(0, slash);
  options.connect_timeout = std::chrono::seconds(5);
  options.request_timeout = std::chrono::seconds(5);
  options.user_agent = "hookd";
  const std::string target = slash == std::string::npos ? "/" : url.substr(slash);
  auto client = std::make_shared<common::HttpClient>(options);
  return [client, target, url]() {
    common::HttpRequest request;
    request.target = target;
    auto response = client->Send(request);
    if (response.status < 200 || response.status > 299) {
      throw common::Error(common::ErrorCode::kUnavailable,
                          "GET " + url + ": HTTP " + std::to_string(response.status));
    }
    return response.body;
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
  auto first = token.find('.');
  auto second = first == std::string::npos ? std::string::npos : token.find('.', first + 1);
  if (second == std::string::npos || token.find('.', second + 1) != std::string::npos) {
    return invalid("failed to parse token: invalid compact serialization format");
  }
  auto header_raw = Base64UrlDecode(token.substr(0, first));
  auto payload_raw = Base64UrlDecode(token.substr(first + 1, second - first - 1));
  auto signature = Base64UrlDecode(token.substr(second + 1));
  if (!header_raw || !payload_raw || !signature) {
    return invalid("failed to parse token: invalid base64 encoding");
  }
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
  if (exp && now - kSkew >= *exp) {
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
  if (auto it = claims.find("sub"); it != claims.end() && it->is_string()) {
    out.subject = it->get<std::string>();
  }
  result.claims = std::move(out);
  return result;
}

}  // namespace hookd::grpcapi
