#include "deploy-cli/transport/github_token.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/http_client.hpp"

namespace deploy_cli {

std::optional<common::SystemTime> JwtExpiry(const std::string& jwt) {
  const auto first = jwt.find('.');
  if (first == std::string::npos) return std::nullopt;
  const auto second = jwt.find('.', first + 1);
  if (second == std::string::npos) return std::nullopt;
  const auto payload =
      common::Base64UrlDecode(std::string_view(jwt).substr(first + 1, second - first - 1));
  if (!payload) return std::nullopt;
  const auto claims = nlohmann::json::parse(*payload, nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number())
    return std::nullopt;
  return common::SystemTime(std::chrono::seconds(claims["exp"].get<std::int64_t>()));
}

GithubTokenSource::GithubTokenSource(std::string token_url, std::string bearer_token,
                                     const common::Clock& clock)
    : bearer_(std::move(bearer_token)), clock_(clock) {
  const auto scheme_end = token_url.find("://");
  const auto path_start = token_url.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  common::HttpClientOptions options;
  options.base_url = path_start == std::string::npos ? token_url : token_url.substr(0, path_start);
  target_ = path_start == std::string::npos ? "/" : token_url.substr(path_start);
  target_ += target_.find('?') == std::string::npos ? "?audience=hookd" : "&audience=hookd";
  client_ = std::make_unique<common::HttpClient>(options);
}

GithubTokenSource::~GithubTokenSource() = default;

std::string GithubTokenSource::Token() {
  std::lock_guard lock(mutex_);
  if (!token_.empty() && clock_.Now() < renew_at_) return token_;
  common::HttpRequest request;
  request.target = target_;
  request.headers.push_back({"Authorization", "bearer " + bearer_});
  request.headers.push_back({"Accept", "application/json"});
  const common::HttpResponse response = client_->Send(request);
  if (response.status < 200 || response.status > 299) {
    throw common::Error(common::ErrorCode::kUnauthenticated,
                        fmt::format("get GitHub token: HTTP status {}", response.status));
  }
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (!body.is_object() || !body.contains("value") || !body["value"].is_string()) {
    throw common::Error(common::ErrorCode::kUnauthenticated,
                        "get GitHub token: response has no token value");
  }
  token_ = body["value"].get<std::string>();
  const auto expiry = JwtExpiry(token_);
  // Unknown expiry: fetch again for every call.
  renew_at_ = expiry ? *expiry - std::chrono::minutes(1) : clock_.Now();
  return token_;
}

}  // namespace deploy_cli
