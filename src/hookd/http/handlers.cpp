#include "hookd/http/handlers.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/limits.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "common/uuid.hpp"
#include "hookd/http/console.hpp"
#include "hookd/store/migrate.hpp"

namespace hookd::http {
namespace {

using nlohmann::json;

constexpr std::int64_t kMaxSkewSeconds = 30;

// Our fix of quirk 11.19: JSON responses say so.
Response Json(int status, const json& body) {
  return Response{status, "application/json", body.dump() + "\n", {}};
}

Response Text(int status, const std::string& body) {
  return Response{status, "text/plain; charset=utf-8", body, {}};
}

Response Empty(int status) { return Response{status, "", "", {}}; }

std::string Header(const Request& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? "" : it->second;
}

bool IsJsonContentType(const Request& r) {
  std::string type = Header(r, "content-type");
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  while (!type.empty() && type.front() == ' ') type.erase(0, 1);
  for (auto& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type == "application/json";
}

std::int64_t NowUnix(const common::Clock& clock) {
  return std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count();
}

// Without overflow for any `ts` (-2^63 and 2^63-1 included): `now` is a present-day time.
bool WithinSkew(std::int64_t ts, std::int64_t now) {
  return ts >= now - kMaxSkewSeconds && ts <= now + kMaxSkewSeconds;
}

// Field lookup as Go's encoding/json does it: exact name first, then case-insensitive.
const json* Field(const json& object, const std::string& name) {
  if (!object.is_object()) return nullptr;
  if (auto it = object.find(name); it != object.end()) return &*it;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key().size() != name.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < name.size() && same; ++i) {
      same = std::tolower(static_cast<unsigned char>(it.key()[i])) ==
             std::tolower(static_cast<unsigned char>(name[i]));
    }
    if (same) return &*it;
  }
  return nullptr;
}

// Typed field reads that fail like a JSON decoder: wrong type -> error.
std::string StringOf(const json& object, const std::string& name) {
  const json* f = Field(object, name);
  if (f == nullptr || f->is_null()) return "";
  if (!f->is_string()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(f->type_name()) + " into field " +
                            name + " of type string");
  }
  return f->get<std::string>();
}

std::int64_t IntOf(const json& object, const std::string& name) {
  const json* f = Field(object, name);
  if (f == nullptr || f->is_null()) return 0;
  if (!f->is_number_integer()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(f->type_name()) + " into field " +
                            name + " of type int64");
  }
  return f->get<std::int64_t>();
}

bool BoolOf(const json& object, const std::string& name) {
  const json* f = Field(object, name);
  if (f == nullptr || f->is_null()) return false;
  if (!f->is_boolean()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(f->type_name()) + " into field " +
                            name + " of type bool");
  }
  return f->get<bool>();
}

// The cheap first look at a signed body, before its signature is checked: one pass over the raw
// bytes that keeps only the top level (scalars as they are; an array as an array of at most one
// null, an object as an empty object), checks the syntax and refuses documents nested deeper than
// a request may be. No DOM of the resources is built, so an unsigned body costs its own size and
// one scan. Errors have the parser's own text (the same as json::parse would give).
class ShallowScan final : public nlohmann::json_sax<json> {
 public:
  explicit ShallowScan(std::size_t max_depth) : max_depth_(max_depth) {}

  bool null() override { return Scalar(nullptr); }
  bool boolean(bool v) override { return Scalar(v); }
  bool number_integer(number_integer_t v) override { return Scalar(v); }
  bool number_unsigned(number_unsigned_t v) override { return Scalar(v); }
  bool number_float(number_float_t v, const string_t&) override { return Scalar(v); }
  bool string(string_t& v) override { return Scalar(v); }
  bool binary(binary_t&) override { return Scalar(nullptr); }
  bool start_object(std::size_t) override { return Open(json::object()); }
  bool start_array(std::size_t) override { return Open(json::array()); }
  bool end_object() override { return Close(); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = e.what();
    return false;
  }

  // The top level of the document; throws Error{kInvalidArgument} with the parser's message.
  json Take(const std::string& body) {
    if (body.empty()) {
      throw common::Error(common::ErrorCode::kInvalidArgument, "unexpected end of JSON input");
    }
    const bool ok = json::sax_parse(body, this);
    if (!ok || !error_.empty()) {
      throw common::Error(common::ErrorCode::kInvalidArgument,
                          error_.empty() ? common::DepthMessage() : error_);
    }
    return std::move(root_);
  }

 private:
  bool Scalar(json value) {
    Element(std::move(value));
    return true;
  }
  bool Open(json empty) {
    if (depth_ == 1) top_array_ = empty.is_array();
    Element(std::move(empty));
    return ++depth_ <= max_depth_;  // false ends sax_parse: too deep
  }
  bool Close() {
    --depth_;
    return true;
  }
  // A value starts at the current depth.
  void Element(json value) {
    if (depth_ == 0) {
      root_ = std::move(value);
    } else if (depth_ == 1) {
      if (root_.is_object()) {
        root_[key_] = std::move(value);  // the last of duplicate keys wins, as in Go
      } else if (root_.empty()) {
        root_.push_back(nullptr);
      }
    } else if (depth_ == 2 && top_array_ && root_.is_object()) {
      json& member = root_[key_];
      if (member.empty()) member.push_back(nullptr);
    }
  }

  std::size_t max_depth_;
  std::size_t depth_ = 0;
  bool top_array_ = false;  // the open top-level member is an array
  std::string key_;
  json root_;
  std::string error_;
};

// The deepest body a signed endpoint accepts: a request object, its resources array, and a
// resource nested as deeply as any resource may be.
constexpr std::size_t kMaxBodyDepth = common::kMaxDocumentDepth + 2;

// ShallowScan of a body that must be a JSON object; a Go-style unmarshal error when it is not.
json ScanObjectBody(const std::string& body, const std::string& go_type) {
  json top = ShallowScan(kMaxBodyDepth).Take(body);
  if (!top.is_object()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "json: cannot unmarshal " + std::string(top.type_name()) +
                            " into Go value of type " + go_type);
  }
  return top;
}

std::vector<std::string> ValidKeys(const std::vector<store::ApiKey>& keys, common::SystemTime now) {
  std::vector<std::string> out;
  for (const auto& k : keys) {
    if (!k.key.empty() && k.expires > now) out.push_back(k.key);
  }
  return out;
}

bool SignedByAny(const std::vector<std::string>& keys, const std::string& body,
                 const std::string& mac) {
  bool ok = false;
  for (const auto& key : keys) ok |= common::ConstantTimeEqual(common::HmacSha256(key, body), mac);
  return ok;
}

// &, <, >, ' and " as HTML entities; `quote` is the entity for the double quote.
std::string EscapeHtml(const std::string& text, const char* quote) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += quote;
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  std::map<std::string, std::string> out;
  auto decode = [](const std::string& s) {
    std::string r;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '+') {
        r += ' ';
      } else if (s[i] == '%' && i + 2 < s.size()) {
        auto byte = common::HexDecode(s.substr(i + 1, 2));
        if (byte) {
          r += *byte;
          i += 2;
        } else {
          r += s[i];
        }
      } else {
        r += s[i];
      }
    }
    return r;
  };
  std::size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    std::string part = query.substr(start, end - start);
    if (!part.empty()) {
      auto eq = part.find('=');
      std::string key = decode(part.substr(0, eq));
      std::string value = eq == std::string::npos ? "" : decode(part.substr(eq + 1));
      out.emplace(std::move(key), std::move(value));  // first value wins, like Go's Get
    }
    start = end + 1;
  }
  return out;
}

std::string HtmlEscape(const std::string& text) { return EscapeHtml(text, "&quot;"); }

std::string RouteLabel(const std::string& p, const std::string& metrics_path) {
  static const char* const kExact[] = {"/healthz",
                                       "/readyz",
                                       "/logs",
                                       "/events",
                                       "/api/v1",
                                       "/api/v1/deploy",
                                       "/api/v1/status",
                                       "/internal/api/v1/provision",
                                       "/internal/api/v1/apikey"};
  if (p == metrics_path) return p;
  for (const char* route : kExact) {
    if (p == route) return p;
  }
  const std::string console = "/internal/api/v1/console/apikey/";
  if (p.rfind(console, 0) == 0) return console + "{team}";
  if (p == "/" || p == "/deployments" || p == "/console/login") return p;
  const std::string deployments = "/deployments/";
  if (p.rfind(deployments, 0) == 0 && p.size() > deployments.size()) {
    const auto slash = p.find('/', deployments.size());
    if (slash == std::string::npos) return deployments + "{id}";
    if (p.substr(slash) == "/events") return deployments + "{id}/events";
  }
  const std::string teams = "/internal/api/v1/team/";
  if (p.rfind(teams, 0) == 0) {
    const auto slash = p.find('/', teams.size());
    if (slash != std::string::npos) {
      const std::string tail = p.substr(slash);
      if (tail == "/repositories") return teams + "{team}/repositories";
      if (tail.rfind("/repositories/", 0) == 0) return teams + "{team}/repositories/{repository}";
    }
  }
  return "other";
}

std::vector<std::pair<std::string, std::string>> PageHeaders() {
  return {{"X-Content-Type-Options", "nosniff"},
          {"Content-Security-Policy",
           "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'"},
          {"Referrer-Policy", "no-referrer"},
          {"X-Frame-Options", "DENY"}};
}

Handlers::Handlers(const Config& config, dispatch::Dispatcher& dispatcher, Metrics& metrics)
    : config_(config), dispatcher_(dispatcher), metrics_(metrics) {}

// X-PSK against every console key, each compared in constant time.
bool Handlers::FrontendKeyValid(const Request& r) const {
  const std::string psk = Header(r, "x-psk");
  bool allowed = false;
  for (const auto& k : config_.frontend_keys) allowed |= common::ConstantTimeEqual(k, psk);
  return allowed;
}

Response Handlers::Handle(const Request& r) {
  const std::string& p = r.path;
  if (p == "/healthz") return Text(200, "ok\n");
  if (p == "/readyz") return Ready();
  if (p == config_.metrics_path) {
    if (r.method != "GET") return Empty(405);
    std::vector<std::string> known;
    try {
      known = dispatcher_.KnownClusters();
    } catch (const std::exception& e) {
      spdlog::debug("metrics: known clusters unavailable: {}", e.what());
    }
    return Response{200,
                    "text/plain; version=0.0.4; charset=utf-8",
                    metrics_.Render(dispatcher_.Clusters().Connected(), known),
                    {}};
  }
  if (p == "/events" || p == "/api/v1") return Empty(410);
  if (p == "/logs") return config_.log_link_formatter.empty() ? Logs(r) : LogRedirect(r);
  if (p == "/api/v1/deploy" || p == "/api/v1/status") {
    if (r.method != "POST") return Empty(405);
    if (!r.body.empty() && !IsJsonContentType(r)) return Empty(415);
    return p == "/api/v1/deploy" ? Deploy(r) : Status(r);
  }
  if (p.rfind("/internal/api/v1/", 0) == 0) {
    if (!r.body.empty() && !IsJsonContentType(r)) return Empty(415);
    if ((p == "/internal/api/v1/provision" || p == "/internal/api/v1/apikey") &&
        !config_.provision_key.empty()) {
      if (r.method != "POST") return Empty(405);
      return Provision(r, p == "/internal/api/v1/apikey");
    }
    const std::string console = "/internal/api/v1/console/apikey/";
    if (p.rfind(console, 0) == 0 && p.size() > console.size() &&
        p.find('/', console.size()) == std::string::npos) {
      if (r.method != "GET" && r.method != "POST") return Empty(405);
      return ConsoleApiKey(r, p.substr(console.size()));
    }
    const std::string teams = "/internal/api/v1/team/";
    if (p.rfind(teams, 0) == 0 && p.size() > teams.size()) {
      return TeamRepositories(r, p.substr(teams.size()));
    }
  }
  if (console_ != nullptr) {
    if (auto page = console_->Handle(r)) return *page;
  }
  return Text(404, "404 page not found\n");
}

Response Handlers::Ready() {
  try {
    const int version = dispatcher_.Store().SchemaVersion();
    if (version < store::LatestMigrationVersion()) {
      return Text(503, "database schema at version " + std::to_string(version) + ", want " +
                           std::to_string(store::LatestMigrationVersion()) + "\n");
    }
    if (readiness_) {
      if (auto reason = readiness_(); !reason.empty()) return Text(503, reason + "\n");
    }
    return Text(200, "ready\n");
  } catch (const std::exception& e) {
    // The reason goes to the log, not to an anonymous caller.
    spdlog::warn("readiness: database unavailable: {}", e.what());
    return Text(503, "database unavailable\n");
  }
}

// Signed with any valid key of `team`: a team without keys fails
// authentication like a wrong signature.
Handlers::Signature Handlers::CheckTeamSignature(const std::string& team, const std::string& body,
                                                 const std::string& mac) {
  std::vector<store::ApiKey> keys;
  try {
    keys = dispatcher_.Store().ApiKeys(team);
  } catch (const common::Error& e) {
    if (e.Code() == common::ErrorCode::kNotFound) return Signature::kInvalid;
    return Signature::kBackendError;
  } catch (const std::exception&) {
    return Signature::kBackendError;
  }
  return SignedByAny(ValidKeys(keys, dispatcher_.Clock().Now()), body, mac) ? Signature::kValid
                                                                            : Signature::kInvalid;
}

Response Handlers::Deploy(const Request& r) {
  std::string correlation = common::NewUuidV4();
  const auto& clock = dispatcher_.Clock();
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

  switch (CheckTeamSignature(team, r.body, *mac)) {
    case Signature::kValid:
      break;
    case Signature::kInvalid:
      return reply(403, "failed authentication");
    case Signature::kBackendError:
      return reply(502, "something wrong happened when communicating with api key service");
  }

  pb::DeploymentRequest request;
  try {
    // Signed: now the whole body, still bounded in depth.
    const json body = common::ParseJsonBounded(r.body, kMaxBodyDepth);
    const auto now = clock.Now();
    *request.mutable_time() = common::ToTimestamp(now);
    *request.mutable_deadline() = common::ToTimestamp(now + dispatch::Dispatcher::kDefaultDeadline);
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
  if (idempotency != r.headers.end() &&
      !dispatch::Dispatcher::ValidIdempotencyKey(idempotency->second)) {
    return reply(400, std::string("invalid idempotency key: it must be ") +
                          dispatch::Dispatcher::kIdempotencyKeyRule);
  }
  pb::DeploymentStatus accepted;
  try {
    // The same signed body again (a replay within the signature's 30 s) creates nothing: it is
    // answered with the deployment the first one created. So does a request with an idempotency
    // key seen before for the team.
    accepted = dispatcher_.Deploy(std::move(request), correlation, common::HexEncode(*mac),
                                  idempotency == r.headers.end() ? "" : idempotency->second);
  } catch (const common::Error& e) {
    if (e.Code() == common::ErrorCode::kInvalidArgument) return reply(400, e.what());
    return reply(503, "database is unavailable; try again later");
  }
  correlation = accepted.request().id();
  if (github_deployment_) github_deployment = github_deployment_(correlation);
  return reply(201, "deployment request accepted and dispatched", accepted.time().seconds());
}

Response Handlers::Status(const Request& r) {
  auto reply = [](int status, const std::string& message, const std::string& state = "") {
    json body = json::object();
    if (!message.empty()) body["message"] = message;
    if (!state.empty()) body["status"] = state;
    return Json(status, body);
  };
  const auto& clock = dispatcher_.Clock();
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
  switch (CheckTeamSignature(team, r.body, *mac)) {
    case Signature::kValid:
      break;
    case Signature::kInvalid:
      return reply(403, "failed authentication");
    case Signature::kBackendError:
      return reply(502, "something wrong happened when communicating with api key service");
  }
  std::vector<store::StatusRow> statuses;
  try {
    // Another team's deployment is answered like one that does not exist (as gRPC Status refuses
    // it): a key of one team learns nothing about the deployments of another.
    auto deployment = dispatcher_.Store().Deployment(id);
    if (deployment && deployment->team == team) statuses = dispatcher_.Store().Statuses(id);
  } catch (const std::exception&) {
    return reply(503, "unable to determine deployment status; database is unavailable");
  }
  if (statuses.empty()) return reply(404, "deployment not found");
  return reply(200, statuses.front().message, statuses.front().state_name);
}

Response Handlers::Provision(const Request& r, bool apikey_only) {
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
  const auto& clock = dispatcher_.Clock();
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
    valid = ValidKeys(dispatcher_.Store().ApiKeys(team), clock.Now());
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
    dispatcher_.Store().RotateApiKey(team, key);
  } catch (const std::exception& e) {
    spdlog::error("rotating API key of team {}: {}", team, e.what());
    return reply(502, "unable to persist API key", {});
  }
  return reply(201, "API key provisioned successfully", {key});
}

Response Handlers::ConsoleApiKey(const Request& r, const std::string& team) {
  if (!FrontendKeyValid(r)) return Text(403, "Unauthorized access: Invalid key");
  if (auto bad_team = common::InvalidLabel("team", team)) {
    return Json(400, json{{"message", *bad_team}});
  }
  if (r.method == "POST") {
    try {
      dispatcher_.Store().RotateApiKey(team, common::RandomBytes(32));
    } catch (const std::exception& e) {
      spdlog::error("rotating API key of team {}: {}", team, e.what());
      return Empty(500);
    }
    return Empty(200);
  }
  std::vector<store::ApiKey> keys;
  try {
    keys = dispatcher_.Store().ApiKeys(team);
  } catch (const common::Error& e) {
    return Empty(e.Code() == common::ErrorCode::kNotFound ? 404 : 502);
  } catch (const std::exception&) {
    return Empty(502);
  }
  const auto now = dispatcher_.Clock().Now();
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

std::string RisonString(const std::string& value) {
  bool bare = !value.empty() && value[0] != '-' && !(value[0] >= '0' && value[0] <= '9') &&
              value.find_first_of(" '!:(),*@$") == std::string::npos;
  if (bare) return value;
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '!') out += '!';
    out += c;
  }
  return out + "'";
}

std::string LogLink(const std::string& formatter, const std::string& delivery_id,
                    std::int64_t unix_seconds, int version, const std::string& cluster,
                    const std::map<std::string, std::string>& cluster_projects) {
  const common::SystemTime ts{std::chrono::seconds(unix_seconds)};
  if (formatter == "GCP") {
    auto project = cluster_projects.find(cluster);
    if (project == cluster_projects.end()) {
      throw common::Error(common::ErrorCode::kInvalidArgument, "unknown cluster " + cluster);
    }
    return "https://console.cloud.google.com/logs/query;query=jsonPayload.correlation_id%3d%22" +
           delivery_id + "%22;timeRange=" + common::FormatRfc3339(ts - std::chrono::hours(2)) +
           "%2f" + common::FormatRfc3339(ts + std::chrono::hours(2)) +
           "?authuser=0&project=" + project->second;
  }
  std::string query;
  if (version == 0) {
    query = "+x_delivery_id:\"" + delivery_id + "\" -level:\"Trace\"";
  } else if (version == 1) {
    query = "+x_correlation_id:\"" + delivery_id + "\" -level:\"Trace\" -level:\"Debug\"";
  } else {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "version '" + delivery_id + "' is not supported");
  }
  std::int64_t day = unix_seconds - (((unix_seconds % 86400) + 86400) % 86400);
  const common::SystemTime from{std::chrono::seconds(day)};
  const std::string app = "(index:" + RisonString("96e648c0-980a-11e9-830a-e17bbd64b4db") +
                          ",query:(language:" + RisonString("lucene") +
                          ",query:" + RisonString(query) + "))";
  const std::string global =
      "(time:(from:" + RisonString(common::FormatRfc3339(from)) +
      ",mode:" + RisonString("absolute") +
      ",to:" + RisonString(common::FormatRfc3339(from + std::chrono::hours(24))) + "))";
  return "https://logs.adeo.no/app/kibana#/discover?_a=" + app + "&_g=" + global;
}

namespace {

// Go's strconv.Atoi, with its error text.
std::optional<std::int64_t> GoAtoi(const std::string& text, std::string& error) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (i == text.size()) {
    error = "strconv.Atoi: parsing \"" + text + "\": invalid syntax";
    return std::nullopt;
  }
  std::uint64_t value = 0;
  bool overflow = false;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      error = "strconv.Atoi: parsing \"" + text + "\": invalid syntax";
      return std::nullopt;
    }
    if (value > (std::uint64_t{1} << 63) / 10) overflow = true;
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::uint64_t{1} << 63)) overflow = true;
  }
  if (overflow || (!negative && value == (std::uint64_t{1} << 63))) {
    error = "strconv.Atoi: parsing \"" + text + "\": value out of range";
    return std::nullopt;
  }
  return negative ? -static_cast<std::int64_t>(value) : static_cast<std::int64_t>(value);
}

// Go's html.EscapeString: the double quote as "&#34;".
std::string GoHtmlEscape(const std::string& text) { return EscapeHtml(text, "&#34;"); }

bool ValidRepository(const std::string& repo) {
  auto slash = repo.find('/');
  return slash != std::string::npos && slash > 0 && slash + 1 < repo.size() &&
         repo.find('/', slash + 1) == std::string::npos &&
         repo.find_first_of(" \t\r\n") == std::string::npos;
}

// The value of query parameter `key`, or "" when absent.
std::string QueryParam(const Request& r, const std::string& key) {
  auto it = r.query.find(key);
  return it == r.query.end() ? std::string() : it->second;
}

// The /logs checks shared by the HTML page and the redirects.
std::optional<Response> InvalidDeliveryId(const std::string& id) {
  if (common::IsUuid(id)) return std::nullopt;
  return Text(400, "delivery_id '" + id + "' is not a well-formed UUID\n");
}

}  // namespace

Response Handlers::LogRedirect(const Request& r) {
  auto get = [&r](const std::string& key) { return QueryParam(r, key); };
  const std::string id = get("delivery_id");
  if (auto invalid = InvalidDeliveryId(id)) return *invalid;
  std::string error;
  const std::string ts_text = get("ts");
  auto ts = GoAtoi(ts_text, error);
  if (!ts) {
    return Text(400, "ts '" + ts_text + "' is not a well-formed unix timestamp: " + error + "\n");
  }
  std::string ignored;
  auto version = GoAtoi(get("v"), ignored);
  std::string url;
  try {
    url = LogLink(config_.log_link_formatter, id, *ts, version ? static_cast<int>(*version) : 0,
                  get("cluster"), config_.google_cluster_projects);
  } catch (const common::Error& e) {
    return Text(400, std::string(e.what()) + "\n");
  }
  Response out{307, "", "", {{"Location", url}}};
  if (r.method == "GET" || r.method == "HEAD") {
    out.content_type = "text/html; charset=utf-8";
    out.body = "<a href=\"" + GoHtmlEscape(url) + "\">Temporary Redirect</a>.\n\n";
  }
  return out;
}

Response Handlers::TeamRepositories(const Request& r, const std::string& rest) {
  if (!FrontendKeyValid(r)) return Text(403, "Unauthorized access: Invalid key");
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return Text(404, "404 page not found\n");
  const std::string team = rest.substr(0, slash);
  const std::string tail = rest.substr(slash);
  const std::string base = "/repositories";
  auto message = [](int status, const std::string& text) {
    return Json(status, json{{"message", text}});
  };
  if (auto bad_team = common::InvalidLabel("team", team)) return message(400, *bad_team);
  try {
    if (tail == base) {
      if (r.method == "GET") {
        return Json(200, json{{"team", team},
                              {"repositories", dispatcher_.Store().TeamRepositories(team)}});
      }
      if (r.method != "POST") return Empty(405);
      std::string repository;
      try {
        json body = ScanObjectBody(r.body, "TeamRepository");
        repository = StringOf(body, "repository");
      } catch (const common::Error& e) {
        return message(400, std::string("unable to unmarshal request body: ") + e.what());
      }
      if (!ValidRepository(repository)) {
        return message(400, "invalid repository \"" + repository + "\": want owner/name");
      }
      const bool added = dispatcher_.Store().AddTeamRepository(team, repository);
      return Json(added ? 201 : 200, json{{"team", team},
                                          {"repository", repository},
                                          {"message", added ? "repository authorized"
                                                            : "repository already authorized"}});
    }
    if (tail.rfind(base + "/", 0) == 0) {
      if (r.method != "DELETE") return Empty(405);
      const std::string repository = tail.substr(base.size() + 1);
      if (!ValidRepository(repository)) {
        return message(400, "invalid repository \"" + repository + "\": want owner/name");
      }
      if (!dispatcher_.Store().RemoveTeamRepository(team, repository)) {
        return message(
            404, "repository \"" + repository + "\" is not authorized by team \"" + team + "\"");
      }
      return Empty(204);
    }
  } catch (const std::exception& e) {
    spdlog::error("team repositories of {}: {}", team, e.what());
    return message(503, "database is unavailable; try again later");
  }
  return Text(404, "404 page not found\n");
}

Response Handlers::Logs(const Request& r) {
  auto get = [&r](const std::string& key) { return QueryParam(r, key); };
  const std::string id = get("delivery_id");
  if (auto invalid = InvalidDeliveryId(id)) return *invalid;
  if (console_ != nullptr) return console_->DeploymentPage(id);
  auto deployment = std::optional<store::DeploymentRow>();
  std::vector<store::StatusRow> statuses;
  std::vector<store::ResourceRow> resources;
  try {
    deployment = dispatcher_.Store().Deployment(id);
    if (deployment) {
      statuses = dispatcher_.Store().Statuses(id);
      resources = dispatcher_.Store().Resources(id);
    }
  } catch (const std::exception&) {
    return Text(503, "database is unavailable; try again later\n");
  }
  if (!deployment) return Text(404, "deployment '" + id + "' not found\n");
  bool finished = !statuses.empty() && common::IsFinished(statuses.front().state);
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Deployment " + id + "</title>\n";
  if (!finished) html += "<meta http-equiv=\"refresh\" content=\"5\">\n";
  html +=
      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
      ".success{color:#070}.failure,.error,.inactive{color:#b00}</style></head><body>\n";
  html += "<h1>Deployment " + HtmlEscape(id) + "</h1>\n<dl>";
  html += "<dt>Team</dt><dd>" + HtmlEscape(deployment->team) + "</dd>";
  html += "<dt>Cluster</dt><dd>" + HtmlEscape(deployment->cluster.value_or("")) + "</dd>";
  html +=
      "<dt>Repository</dt><dd>" + HtmlEscape(deployment->github_repository.value_or("")) + "</dd>";
  html += "<dt>Created</dt><dd>" + common::FormatRfc3339Nano(deployment->created) + "</dd>";
  html += "<dt>State</dt><dd class=\"" + HtmlEscape(deployment->state.value_or("")) + "\">" +
          HtmlEscape(deployment->state.value_or("")) + "</dd></dl>\n";
  html +=
      "<h2>Resources</h2>\n<table><tr><th>#</th><th>Kind</th><th>Namespace</th><th>Name</th>"
      "<th>API version</th></tr>\n";
  for (const auto& res : resources) {
    html += "<tr><td>" + std::to_string(res.index + 1) + "</td><td>" + HtmlEscape(res.kind) +
            "</td><td>" + HtmlEscape(res.ns) + "</td><td>" + HtmlEscape(res.name) + "</td><td>" +
            HtmlEscape(res.group.empty() ? res.version : res.group + "/" + res.version) +
            "</td></tr>\n";
  }
  html +=
      "</table>\n<h2>Status timeline</h2>\n<table><tr><th>Time</th><th>State</th>"
      "<th>Message</th></tr>\n";
  for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
    html += "<tr><td>" + common::FormatRfc3339Nano(it->created) + "</td><td class=\"" +
            HtmlEscape(it->state_name) + "\">" + HtmlEscape(it->state_name) + "</td><td>" +
            HtmlEscape(it->message) + "</td></tr>\n";
  }
  html += "</table>\n";
  if (!finished) html += "<p>This page refreshes every 5 seconds until the deployment ends.</p>\n";
  html += "</body></html>\n";
  return Response{200, "text/html; charset=utf-8", html, PageHeaders()};
}

}  // namespace hookd::http
