#include <string>
#include <utility>

#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/uuid.hpp"
#include "hookd/dispatch/rules.hpp"
#include "hookd/http/endpoint_util.hpp"
#include "hookd/http/endpoints.hpp"

namespace hookd::http {

using nlohmann::json;

Response DeployEndpoint::Handle(const Request& r) const {
  if (!r.body.empty() && !IsJsonContentType(r)) return Empty(415);
  std::string correlation = common::NewUuidV4();
  const auto& clock = clock_;
  json github_deployment;
  auto reply = [&](int status, const std::string& message, std::int64_t ts = 0) {
    json body = {{"message", message}, {"correlationID", correlation}};
    if (status == 201) {
      body["logURL"] = config_.base_url + "/logs?delivery_id=" + correlation +
                       "&ts=" + std::to_string(ts) + "&v=1";
      // As the original: the GitHub deployment object, when there is one.
      if (!github_deployment.is_null()) body["githubDeployment"] = github_deployment;
    }
    return Json(status, body);
  };
  auto mac = common::HexDecode(Header(r, "x-nais-signature"));
  if (!mac) return reply(400, "HMAC digest must be hex encoded");
  // Verify before parsing: the scan keeps only the top level; the resources are parsed after the
  // signature over the raw bytes was checked.
  json top;
  std::string cluster, environment, team, owner, repository, ref;
  std::int64_t timestamp = 0;
  try {
    top = ScanObjectBody(r.body, "api_v1_deploy.DeploymentRequest");
    cluster = StringOf(top, "cluster");
    environment = StringOf(top, "environment");
    team = StringOf(top, "team");
    owner = StringOf(top, "owner");
    repository = StringOf(top, "repository");
    ref = StringOf(top, "ref");
    timestamp = IntOf(top, "timestamp");
  } catch (const common::Error& e) {
    return reply(400, std::string("unable to unmarshal request body: ") + e.what());
  }
  const json* resources = Field(top, "resources");
  std::string invalid;
  if (cluster.empty()) {
    invalid = "no cluster specified";
  } else if (environment.empty()) {
    invalid = "no environment specified";
  } else if (team.empty()) {
    invalid = "no team specified";
  } else if (ref.empty()) {
    invalid = "no commit ref specified";
  } else if (resources == nullptr || !resources->is_array()) {
    invalid = "resources field must be a list";
  } else if (resources->empty()) {
    invalid = "resources must contain at least one Kubernetes resource";
  } else if (!WithinSkew(timestamp, NowUnix(clock))) {
    invalid = "request is not within allowed timeframe";
  } else if (auto bad_team = common::InvalidLabel("team", team)) {
    invalid = *bad_team;
  } else if (auto bad_cluster = common::InvalidLabel("cluster", cluster)) {
    invalid = *bad_cluster;
  }
  if (!invalid.empty()) return reply(400, "invalid deployment request: " + invalid);

  if (auto refused = CheckTeamSignature(keys_, clock_, team, r.body, *mac)) {
    return reply(refused->status, refused->message);
  }

  pb::DeploymentRequest request;
  try {
    // Signed: now the whole body, still bounded in depth.
    const json body = common::ParseJsonBounded(r.body, kMaxBodyDepth);
    const auto now = clock.Now();
    *request.mutable_time() = common::ToTimestamp(now);
    *request.mutable_deadline() = common::ToTimestamp(now + dispatch::kDefaultDeadline);
    request.set_cluster(cluster);
    request.set_team(team);
    request.set_gitrefsha(ref);
    request.mutable_repository()->set_owner(owner);
    request.mutable_repository()->set_name(repository);
    request.set_githubenvironment(environment);
    for (const auto& resource : *Field(body, "resources")) {
      *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(resource);
    }
  } catch (const std::exception&) {
    return reply(400, "unable to create deployment message");
  }
  // Optional: the client's name for this logical request (its retries send it again).
  const auto idempotency = r.headers.find("idempotency-key");
  if (idempotency != r.headers.end() && !dispatch::IsValidIdempotencyKey(idempotency->second)) {
    return reply(
        400, std::string("invalid idempotency key: it must be ") + dispatch::kIdempotencyKeyRule);
  }
  pb::DeploymentStatus accepted;
  try {
    // The same signed body again (a replay within the signature's 30 s) creates nothing: it is
    // answered with the deployment the first one created. So does a request with an idempotency
    // key seen before for the team.
    accepted = intake_.Deploy(std::move(request), correlation, common::HexEncode(*mac),
                              idempotency == r.headers.end() ? "" : idempotency->second);
  } catch (const common::Error& e) {
    if (e.Code() == common::ErrorCode::kInvalidArgument) return reply(400, e.what());
    return reply(503, "database is unavailable; try again later");
  }
  correlation = accepted.request().id();
  if (github_deployment_) github_deployment = github_deployment_(correlation);
  return reply(201, "deployment request accepted and dispatched", accepted.time().seconds());
}

}  // namespace hookd::http
