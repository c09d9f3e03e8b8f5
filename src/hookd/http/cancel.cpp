#include "hookd/http/cancel.hpp"

#include <cstdint>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/state.hpp"
#include "hookd/http/endpoint_util.hpp"

namespace hookd::http {
namespace {

using nlohmann::json;

Response Reply(int status, const json& body) {
  return Response{status, "application/json", body.dump() + "\n", {}};
}

Response Message(int status, const std::string& message) {
  return Reply(status, json{{"message", message}});
}

// A string field: absent or null is "", another type is an error naming the field.
std::string StringField(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_string()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        std::string("field ") + name + " must be a string, not " + it->type_name());
  }
  return it->get<std::string>();
}

std::int64_t IntField(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return 0;
  if (!it->is_number_integer()) {
    throw common::Error(
        common::ErrorCode::kInvalidArgument,
        std::string("field ") + name + " must be an integer, not " + it->type_name());
  }
  return it->get<std::int64_t>();
}

int HttpStatusFor(common::ErrorCode code) {
  switch (code) {
    case common::ErrorCode::kInvalidArgument:
      return 400;
    case common::ErrorCode::kPermissionDenied:
      return 403;
    case common::ErrorCode::kNotFound:
      return 404;
    case common::ErrorCode::kFailedPrecondition:
      return 409;
    default:
      return 503;
  }
}

}  // namespace

Response Cancel(const Request& request, const CancelBackends& backends) {
  if (!request.body.empty() && !IsJsonContentType(request)) return Response{415, "", "", {}};
  auto header = request.headers.find("x-nais-signature");
  auto mac = common::HexDecode(header == request.headers.end() ? std::string() : header->second);
  if (!mac) return Message(400, "HMAC digest must be hex encoded");
  std::string id, team, reason;
  std::int64_t timestamp = 0;
  try {
    // A cancel body is flat: nothing in it nests.
    const json body = common::ParseJsonBounded(request.body, 1);
    if (!body.is_object()) {
      throw common::Error(common::ErrorCode::kInvalidArgument,
                          std::string("the body must be a JSON object, not ") + body.type_name());
    }
    id = StringField(body, "deploymentID");
    team = StringField(body, "team");
    reason = StringField(body, "reason");
    timestamp = IntField(body, "timestamp");
  } catch (const common::Error& e) {
    return Message(400, std::string("unable to unmarshal request body: ") + e.what());
  }
  if (id.empty()) return Message(400, "invalid cancel request: no deployment ID specified");
  if (team.empty()) return Message(400, "invalid cancel request: no team specified");
  if (!WithinSkew(timestamp, NowUnix(backends.clock))) {
    return Message(400, "invalid cancel request: request is not within allowed timeframe");
  }
  if (auto bad_team = common::InvalidLabel("team", team)) {
    return Message(400, "invalid cancel request: " + *bad_team);
  }
  if (auto refused =
          CheckTeamSignature(backends.api_keys, backends.clock, team, request.body, *mac)) {
    return Message(refused->status, refused->message);
  }
  pb::DeploymentStatus status;
  try {
    status = backends.canceller.Cancel(id, team, reason);
  } catch (const common::Error& e) {
    const int code = HttpStatusFor(e.Code());
    if (code == 503) {
      spdlog::error("POST /api/v1/cancel of deployment {}: {}", id, e.what());
      return Message(503, "database is unavailable; try again later");
    }
    return Message(code, e.what());
  }
  return Reply(common::IsFinished(status.state()) ? 200 : 202,
               json{{"deploymentID", id},
                    {"status", common::StateName(status.state())},
                    {"message", status.message()}});
}

}  // namespace hookd::http
