#include "hookd/github/api.hpp"

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/limits.hpp"

namespace hookd::github {
namespace {

constexpr std::size_t kMaxResponseBody = std::size_t{1} << 20;
constexpr std::size_t kMaxResponseDepth = 64;
// A token without a readable expiry is used for this long only.
constexpr auto kUnknownTokenLifetime = std::chrono::minutes(10);

common::HttpClientOptions ClientOptions(const ApiOptions& options) {
  common::HttpClientOptions out;
  out.base_url = options.api_url;
  out.user_agent = "nais-deploy-hookd";  // GitHub refuses requests without a User-Agent
  out.connect_timeout =
      std::min<std::chrono::milliseconds>(options.request_timeout, std::chrono::seconds(5));
  out.request_timeout = options.request_timeout;
  out.max_idle_connections = 4;
  out.max_response_body = kMaxResponseBody;
  return out;
}

std::string Dump(const nlohmann::json& value) {
  // Messages come from deployd and users: invalid UTF-8 is replaced, never a reason to throw.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

Api::Api(ApiOptions options, AppKey key, const common::Clock& clock, Observer observer)
    : options_(std::move(options)),
      key_(std::move(key)),
      clock_(clock),
      observer_(std::move(observer)),
      http_(ClientOptions(options_)) {}

common::SystemTime Api::PausedUntil() const {
  std::lock_guard lock(pause_mutex_);
  return paused_until_;
}

Response Api::Send(const std::string& method, const std::string& target,
                   const std::string& authorization, const nlohmann::json& body,
                   const std::string& accept, const Labels& labels, common::HttpCancel* cancel) {
  common::HttpRequest request;
  request.method = method;
  request.target = target;
  request.headers = {
      {"Accept", accept}, {"Authorization", authorization}, {"X-GitHub-Api-Version", "2022-11-28"}};
  if (!body.is_null()) {
    request.headers.push_back({"Content-Type", "application/json"});
    request.body = Dump(body);
  }
  Response out;
  common::HttpResponse reply;
  try {
    reply = http_.Send(request, cancel);
  } catch (const common::Error& e) {
    out.error = e.what();
    return out;
  }
  out.answer.status = reply.status;
  out.answer.retry_after = reply.Header("retry-after");
  out.answer.ratelimit_remaining = reply.Header("x-ratelimit-remaining");
  out.answer.ratelimit_reset = reply.Header("x-ratelimit-reset");
  if (!reply.body.empty()) {
    try {
      out.body = common::ParseJsonBounded(reply.body, kMaxResponseDepth);
    } catch (const common::Error&) {
      out.body = nullptr;
    }
  }
  if (out.body.is_object() && out.body.contains("message") && out.body["message"].is_string()) {
    out.error = out.body["message"].get<std::string>();
  }
  if (observer_) observer_(reply.status, labels);
  if (auto until = RateLimitedUntil(out.answer, clock_.Now())) {
    std::lock_guard lock(pause_mutex_);
    if (*until > paused_until_) {
      paused_until_ = *until;
      spdlog::warn("GitHub rate limit reached (HTTP {}): pausing GitHub requests until {}",
                   reply.status, common::FormatRfc3339(*until));
    }
  }
  return out;
}

std::string Api::Token(const Labels& labels, common::HttpCancel* cancel, Response& failure) {
  if (auto cached = tokens_.Get(clock_.Now())) return *cached;
  std::lock_guard lock(exchange_mutex_);
  if (auto cached = tokens_.Get(clock_.Now())) return *cached;  // another thread renewed it
  const std::string jwt = MakeAppJwt(key_, options_.app_id, clock_.Now());
  Response reply =
      Send("POST", "/app/installations/" + options_.install_id + "/access_tokens", "Bearer " + jwt,
           nlohmann::json::object(), "application/vnd.github+json", labels, cancel);
  const nlohmann::json& body = reply.body;
  if (reply.answer.status != 201 && reply.answer.status != 200) {
    spdlog::warn("GitHub installation token exchange failed: HTTP {}: {}", reply.answer.status,
                 reply.error);
    failure = std::move(reply);
    return "";
  }
  if (!body.is_object() || !body.contains("token") || !body["token"].is_string() ||
      body["token"].get<std::string>().empty()) {
    spdlog::warn("GitHub installation token exchange: the answer carries no token");
    reply.answer.status = 0;  // retried like a transport error
    reply.error = "installation token exchange: the answer carries no token";
    failure = std::move(reply);
    return "";
  }
  std::string token = body["token"].get<std::string>();
  auto expires = clock_.Now() + kUnknownTokenLifetime;
  if (body.contains("expires_at") && body["expires_at"].is_string()) {
    if (auto parsed = common::ParseRfc3339(body["expires_at"].get<std::string>())) {
      expires = *parsed;
    }
  }
  spdlog::debug("GitHub installation token renewed; it expires at {}",
                common::FormatRfc3339(expires));
  tokens_.Put(token, expires);
  return token;
}

Response Api::Call(const std::string& method, const std::string& target, const nlohmann::json& body,
                   const std::string& accept, const Labels& labels, common::HttpCancel* cancel) {
  const auto now = clock_.Now();
  const auto paused = PausedUntil();
  if (paused > now) {
    // Not sent while the rate limit is spent: answered like GitHub would.
    Response held;
    held.answer.status = 429;
    held.answer.retry_after =
        std::to_string(std::chrono::ceil<std::chrono::seconds>(paused - now).count());
    held.error = "rate limit spent; requests paused until " + common::FormatRfc3339(paused);
    return held;
  }
  for (int round = 0;; ++round) {
    Response failure;
    const std::string token = Token(labels, cancel, failure);
    if (token.empty()) return failure;
    Response reply = Send(method, target, "token " + token, body, accept, labels, cancel);
    if (reply.answer.status != 401 || round > 0) return reply;
    spdlog::info("GitHub refused the installation token (401); getting a new one");
    tokens_.Invalidate(token);
  }
}

Response Api::TeamAccess(const std::string& owner, const std::string& repository,
                         const std::string& team, common::HttpCancel* cancel) {
  const Labels labels{owner + "/" + repository, team};
  Response found = Call("GET", "/orgs/" + owner + "/teams/" + team, nullptr,
                        "application/vnd.github+json", labels, cancel);
  if (found.answer.status == 404) found.error = "team does not exist on GitHub";
  if (found.answer.status != 200) return found;
  const nlohmann::json& t = found.body;
  if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer()) {
    found.answer.status = 0;
    found.error = "the team lookup answered without a team id";
    return found;
  }
  const std::string team_id = std::to_string(t["id"].get<long long>());
  std::string target;
  if (t.contains("organization") && t["organization"].is_object() &&
      t["organization"].contains("id") && t["organization"]["id"].is_number_integer()) {
    target = "/organizations/" + std::to_string(t["organization"]["id"].get<long long>()) +
             "/team/" + team_id + "/repos/" + owner + "/" + repository;
  } else {
    target = "/orgs/" + owner + "/teams/" + team + "/repos/" + owner + "/" + repository;
  }
  Response access =
      Call("GET", target, nullptr, "application/vnd.github.v3.repository+json", labels, cancel);
  if (access.answer.status == 404) access.error = "team has no admin access to repository";
  return access;
}

Response Api::CreateDeployment(const std::string& owner, const std::string& repository,
                               const std::string& team, const std::string& ref,
                               const std::string& environment, common::HttpCancel* cancel) {
  nlohmann::json body = {{"ref", ref},
                         {"task", kTaskName},
                         {"auto_merge", false},
                         {"required_contexts", nlohmann::json::array()}};
  if (!environment.empty()) body["environment"] = environment;
  return Call("POST", "/repos/" + owner + "/" + repository + "/deployments", body,
              kDeploymentsAccept, Labels{owner + "/" + repository, team}, cancel);
}

Response Api::CreateStatus(const std::string& owner, const std::string& repository,
                           const std::string& team, long long deployment_id,
                           const std::string& state, const std::string& description,
                           const std::string& log_url, common::HttpCancel* cancel) {
  const nlohmann::json body = {{"state", state},
                               {"description", TruncateUtf8(description, kMaxDescriptionBytes)},
                               {"log_url", log_url}};
  return Call("POST",
              "/repos/" + owner + "/" + repository + "/deployments/" +
                  std::to_string(deployment_id) + "/statuses",
              body, kDeploymentsAccept, Labels{owner + "/" + repository, team}, cancel);
}

}  // namespace hookd::github
