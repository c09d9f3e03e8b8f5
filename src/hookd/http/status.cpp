#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/names.hpp"
#include "hookd/http/endpoint_util.hpp"
#include "hookd/http/endpoints.hpp"

namespace hookd::http {

using nlohmann::json;

Response StatusEndpoint::Handle(const Request& r) const {
  if (!r.body.empty() && !IsJsonContentType(r)) return Empty(415);
  auto reply = [](int status, const std::string& message, const std::string& state = "") {
    json body = json::object();
    if (!message.empty()) body["message"] = message;
    if (!state.empty()) body["status"] = state;
    return Json(status, body);
  };
  const auto& clock = clock_;
  auto mac = common::HexDecode(Header(r, "x-nais-signature"));
  if (!mac) return reply(400, "HMAC digest must be hex encoded");
  std::string id, team;
  std::int64_t timestamp = 0;
  try {
    json body = ScanObjectBody(r.body, "api_v1_status.StatusRequest");
    id = StringOf(body, "deploymentID");
    team = StringOf(body, "team");
    timestamp = IntOf(body, "timestamp");
  } catch (const common::Error& e) {
    return reply(400, std::string("unable to unmarshal request body: ") + e.what());
  }
  if (id.empty()) return reply(400, "invalid status request: no deployment ID specified");
  if (team.empty()) return reply(400, "invalid status request: no team specified");
  if (!WithinSkew(timestamp, NowUnix(clock))) {
    return reply(400, "invalid status request: request is not within allowed timeframe");
  }
  if (auto bad_team = common::InvalidLabel("team", team)) {
    return reply(400, "invalid status request: " + *bad_team);
  }
  if (auto refused = CheckTeamSignature(keys_, clock_, team, r.body, *mac)) {
    return reply(refused->status, refused->message);
  }
  std::vector<store::StatusRow> statuses;
  try {
    // Another team's deployment is answered like one that does not exist (as gRPC Status refuses
    // it): a key of one team learns nothing about the deployments of another.
    auto deployment = deployments_.Deployment(id);
    if (deployment && deployment->team == team) statuses = deployments_.Statuses(id);
  } catch (const std::exception&) {
    return reply(503, "unable to determine deployment status; database is unavailable");
  }
  if (statuses.empty()) return reply(404, "deployment not found");
  return reply(200, statuses.front().message, statuses.front().state_name);
}

}  // namespace hookd::http
