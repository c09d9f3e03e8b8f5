#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/names.hpp"
#include "hookd/http/endpoint_util.hpp"
#include "hookd/http/endpoints.hpp"

namespace hookd::http {

using nlohmann::json;

Response ProvisionEndpoint::Handle(const Request& r) const {
  const bool apikey_only = mode_ == Mode::kApiKey;
  auto reply = [](int status, const std::string& message, const std::vector<std::string>& keys) {
    json body = json::object();
    if (!message.empty()) body["message"] = message;
    if (!keys.empty()) {
      json list = json::array();
      for (const auto& k : keys) list.push_back(common::HexEncode(k));
      body["apiKeys"] = list;
    }
    return Json(status, body);
  };
  auto mac = common::HexDecode(Header(r, "x-nais-signature"));
  if (!mac) return reply(400, "HMAC digest must be hex encoded", {});
  std::string team;
  bool rotate = false;
  std::int64_t timestamp = 0;
  try {
    json body = ScanObjectBody(r.body, "api_v1_provision.Request");
    team = StringOf(body, "team");
    rotate = BoolOf(body, "rotate");
    timestamp = IntOf(body, "timestamp");
  } catch (const common::Error& e) {
    return reply(400, std::string("unable to unmarshal request body: ") + e.what(), {});
  }
  const auto& clock = clock_;
  if (team.empty()) return reply(400, "invalid request: no team specified", {});
  if (!WithinSkew(timestamp, NowUnix(clock))) {
    return reply(400, "invalid request: request is not within allowed timeframe", {});
  }
  if (auto bad_team = common::InvalidLabel("team", team)) {
    return reply(400, "invalid request: " + *bad_team, {});
  }
  if (!common::ConstantTimeEqual(common::HmacSha256(config_.provision_key, r.body), *mac)) {
    return reply(403, "failed authentication", {});
  }
  std::vector<std::string> valid;
  bool found = true;
  try {
    valid = ValidKeys(keys_.ApiKeys(team), clock.Now());
  } catch (const common::Error& e) {
    if (e.Code() != common::ErrorCode::kNotFound) {
      return reply(502, "unable to communicate with team API key backend", {});
    }
    found = false;
  } catch (const std::exception&) {
    return reply(502, "unable to communicate with team API key backend", {});
  }
  if (apikey_only) {
    if (!found) return reply(404, "no api key found for team", {});
    if (valid.empty()) return reply(404, "no valid keys for team found", {});
    return reply(200, "", valid);
  }
  if (!found) rotate = true;
  if (!rotate && !valid.empty()) return reply(200, "team exists, returning existing keys", valid);
  std::string key;
  try {
    key = common::RandomBytes(32);
  } catch (const std::exception&) {
    return reply(500, "unable to generate API key", {});
  }
  try {
    keys_.RotateApiKey(team, key);
  } catch (const std::exception& e) {
    spdlog::error("rotating API key of team {}: {}", team, e.what());
    return reply(502, "unable to persist API key", {});
  }
  return reply(201, "API key provisioned successfully", {key});
}

}  // namespace hookd::http
