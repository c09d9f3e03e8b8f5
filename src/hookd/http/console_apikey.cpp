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

Response ConsoleApiKeyEndpoint::Handle(const Request& r, const std::string& team) const {
  if (!FrontendKeyValid(config_, r)) return Text(403, "Unauthorized access: Invalid key");
  if (auto bad_team = common::InvalidLabel("team", team)) {
    return Json(400, json{{"message", *bad_team}});
  }
  if (r.method == "POST") {
    try {
      keys_.RotateApiKey(team, common::RandomBytes(32));
    } catch (const std::exception& e) {
      spdlog::error("rotating API key of team {}: {}", team, e.what());
      return Empty(500);
    }
    return Empty(200);
  }
  std::vector<store::ApiKey> keys;
  try {
    keys = keys_.ApiKeys(team);
  } catch (const common::Error& e) {
    return Empty(e.Code() == common::ErrorCode::kNotFound ? 404 : 502);
  } catch (const std::exception&) {
    return Empty(502);
  }
  const auto now = clock_.Now();
  std::vector<store::ApiKey> valid;
  for (const auto& k : keys) {
    if (!k.key.empty() && k.expires > now) valid.push_back(k);
  }
  if (valid.size() != 1) {
    spdlog::error("expected exactly one valid key, got {}", valid.size());
    return Empty(502);
  }
  json body = {{"team", team},
               {"key", common::HexEncode(valid[0].key)},
               {"expires", common::FormatRfc3339Nano(valid[0].expires)},
               {"created", common::FormatRfc3339Nano(valid[0].created)}};
  return Response{200, "application/json", body.dump(), {}};
}

}  // namespace hookd::http
