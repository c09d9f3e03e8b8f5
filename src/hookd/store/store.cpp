#include "hookd/store/store.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "common/state.hpp"
#include "common/uuid.hpp"
#include "hookd/store/migrate.hpp"

namespace hookd::store {
namespace {

// Timestamps cross the wire as RFC 3339 text (Postgres parses it) and come back as integer
// microseconds since the epoch, so no time zone or locale setting of the session matters.
std::string Ts(common::SystemTime t) { return common::FormatRfc3339Nano(t); }

const char* const kMicros = "(EXTRACT(EPOCH FROM {}) * 1000000)::bigint";

std::string Micros(const std::string& column) {
  std::string out = kMicros;
  return out.replace(out.find("{}"), 2, column);
}

common::SystemTime FromMicros(const pqxx::field& f) {
  return common::SystemTime(std::chrono::duration_cast<common::SystemTime::duration>(
      std::chrono::microseconds(f.as<long long>())));
}

std::optional<std::string> OptString(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

const std::string kDeploymentColumns =
    "id, team, " + Micros("created") + ", github_id, github_repository, cluster, state";

DeploymentRow ToDeployment(const pqxx::row& r) {
  DeploymentRow d;
  d.id = r[0].as<std::string>();
  d.team = r[1].as<std::string>();
  d.created = FromMicros(r[2]);
  if (!r[3].is_null()) d.github_id = r[3].as<long long>();
  d.github_repository = OptString(r[4]);
  d.cluster = OptString(r[5]);
  d.state = OptString(r[6]);
  return d;
}

const std::string kStatusColumns = "id, deployment_id, status, message, " + Micros("created");

StatusRow ToStatus(const pqxx::row& r) {
  StatusRow s;
  s.id = r[0].as<std::string>();
  s.deployment_id = r[1].as<std::string>();
  s.state_name = r[2].as<std::string>();
  // The original maps unknown names to value 0 (success); we keep that for compatibility.
  s.state = common::ParseStateName(s.state_name).value_or(pb::success);
  s.message = r[3].as<std::string>();
  s.created = FromMicros(r[4]);
  return s;
}

const std::string kQueueColumns = "encode(request, 'hex'), " + Micros("deadline") + ", " +
                                  Micros("created") +
                                  ", deployment_id, cluster, COALESCE(handed_to, ''), "
                                  "COALESCE(confirmed_by, '')";

QueuedRequest ToQueued(const pqxx::row& r) {
  QueuedRequest q;
  q.deadline = FromMicros(r[1]);
  q.created = FromMicros(r[2]);
  q.deployment_id = r[3].as<std::string>();
  q.cluster = r[4].as<std::string>();
  q.handed_to = r[5].as<std::string>();
  q.confirmed_by = r[6].as<std::string>();
  auto bytes = common::HexDecode(r[0].as<std::string>()).value_or("");
  if (!q.request.ParseFromString(bytes)) {
    q.request.Clear();
    q.unreadable = "the stored request is not a readable pb.DeploymentRequest (" +
                   std::to_string(bytes.size()) + " bytes)";
  } else if (q.request.id() != q.deployment_id) {
    q.request.Clear();
    q.unreadable = "the stored request belongs to another deployment";
  }
  return q;
}

// One statement: the status, the deployment's state, and the notification for other replicas.
StatusRow InsertStatus(pqxx::transaction_base& tx, const std::string& origin,
                       const std::string& deployment_id, pb::DeploymentState state,
                       const std::string& message, common::SystemTime created) {
  StatusRow s;
  s.id = common::NewUuidV4();
  s.deployment_id = deployment_id;
  s.state = state;
  s.state_name = common::StateName(state);
  s.message = message;
  // Stored with microsecond precision: keep the in-memory copy identical to what reads return.
  s.created = std::chrono::time_point_cast<std::chrono::microseconds>(created);
  static const std::string kSql =
      "WITH s AS (INSERT INTO deployment_status (id, deployment_id, status, message, created)"
      " VALUES ($1, $2, $3, $4, $5::timestamptz)),"
      " u AS (UPDATE deployment SET state = $3 WHERE id = $2 RETURNING team,"
      " COALESCE(github_repository, '') AS repository, COALESCE(cluster, '') AS cluster, " +
      Micros("created") +
      " AS created)"
      " SELECT u.team, u.repository, u.cluster, u.created, pg_notify($6, $7) FROM u";
  auto row = tx.exec_params(kSql, s.id, deployment_id, s.state_name, message, Ts(s.created),
                            Store::kStatusChannel,
                            origin + "|" + deployment_id + "|" + s.id + "|" + s.state_name);
  if (!row.empty()) {
    s.team = row[0][0].as<std::string>();
    s.repository = row[0][1].as<std::string>();
    s.cluster = row[0][2].as<std::string>();
    s.deployment_created = FromMicros(row[0][3]);
  }
  return s;
}

// Postgres text[] literal of `items`.
std::string TextArray(const std::vector<std::string>& items) {
  std::string array = "{";
  for (const auto& item : items) {
    if (array.size() > 1) array += ',';
    array += '"';
    for (char c : item) {
      if (c == '"' || c == '\\') array += '\\';
      array += c;
    }
    array += '"';
  }
  return array + "}";
}

}  // namespace

Store::Store(ConnectionPool& pool, std::string encryption_key)
    : pool_(pool), encryption_key_(std::move(encryption_key)) {}

std::vector<ApiKey> Store::ApiKeys(const std::string& team) {
  std::vector<ApiKey> keys;
  bool any = false;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result = tx.exec_params("SELECT key, team, " + Micros("created") + ", " +
                                     Micros("COALESCE(expires, 'epoch'::timestamptz)") +
                                     " FROM apikey WHERE team = $1 ORDER BY expires DESC",
                                 team);
    any = !result.empty();
    for (const auto& row : result) {
      try {
        ApiKey key;
        key.key = common::DecryptApiKey(encryption_key_, row[0].as<std::string>());
        key.team = row[1].as<std::string>();
        key.created = FromMicros(row[2]);
        key.expires = FromMicros(row[3]);
        keys.push_back(std::move(key));
      } catch (const common::Error& e) {
        spdlog::warn("unable to decrypt an API key of team {}: {}", team, e.what());
      }
    }
  });
  if (!any) throw common::Error(common::ErrorCode::kNotFound, "database row not found");
  return keys;
}

void Store::RotateApiKey(const std::string& team, const std::string& key) {
  const std::string stored = common::EncryptApiKey(encryption_key_, key);
  pool_.With([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec_params("UPDATE apikey SET expires = NOW() WHERE expires > NOW() AND team = $1", team);
    tx.exec_params(
        "INSERT INTO apikey (key, team, created, expires) "
        "VALUES ($1, $2, NOW(), NOW() + MAKE_INTERVAL(years := 5))",
        stored, team);
    tx.commit();
  });
}

StatusRow Store::CreateDeployment(const pb::DeploymentRequest& request,
                                  const std::vector<ResourceRow>& resources,
                                  common::SystemTime created, common::SystemTime deadline,
                                  const std::string& queued_message, const std::string& request_key,
                                  const std::string& idempotency_key) {
  std::string repository;
  if (request.has_repository() && !request.repository().owner().empty() &&
      !request.repository().name().empty()) {
    repository = request.repository().owner() + "/" + request.repository().name();
  }
  std::string payload;
  request.SerializeToString(&payload);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : resources) {
    rows.push_back({{"id", common::NewUuidV4()},
                    {"idx", r.index},
                    {"grp", r.group},
                    {"version", r.version},
                    {"kind", r.kind},
                    {"name", r.name},
                    {"ns", r.ns}});
  }
  StatusRow status;
  status.id = common::NewUuidV4();
  status.deployment_id = request.id();
  status.state = pb::queued;
  status.state_name = common::StateName(pb::queued);
  status.message = queued_message;
  status.created = std::chrono::time_point_cast<std::chrono::microseconds>(created);
  status.team = request.team();
  status.repository = repository;
  status.cluster = request.cluster();
  status.deployment_created = status.created;
  // One statement (one round trip, atomic): the deployment, its resources, the queue entry, the
  // `queued` status and the notifications. Foreign keys are checked at the end of the statement.
  static const std::string kSql =
      "WITH d AS ("
      " INSERT INTO deployment (id, team, created, github_id, github_repository, cluster, state)"
      " VALUES ($1, $2, $3::timestamptz, NULL, NULLIF($4, ''), $5, $11)"
      " ON CONFLICT (id) DO UPDATE SET github_id = EXCLUDED.github_id,"
      " github_repository = EXCLUDED.github_repository, state = EXCLUDED.state RETURNING id),"
      " r AS (INSERT INTO deployment_resource (id, deployment_id, \"index\", \"group\", version,"
      " kind, name, namespace) SELECT x.id, $1, x.idx, x.grp, x.version, x.kind, x.name, x.ns"
      " FROM jsonb_to_recordset($6::jsonb) AS x(id text, idx int, grp text, version text,"
      " kind text, name text, ns text)),"
      " q AS (INSERT INTO deployment_queue (deployment_id, cluster, request, deadline, created)"
      " VALUES ($1, $5, decode($7, 'hex'), $8::timestamptz, $3::timestamptz)),"
      " s AS (INSERT INTO deployment_status (id, deployment_id, status, message, created)"
      " VALUES ($9, $1, $11, $10, $12::timestamptz)),"
      // A request key (when given) in the same statement: a second request with the same key
      // violates the primary key and the whole statement writes nothing.
      " k AS (INSERT INTO deployment_request_key (team, key, deployment_id, created)"
      " SELECT $2, $17::text, $1, $3::timestamptz WHERE $17::text <> ''),"
      // The client's idempotency key, likewise: a retry with the same key writes nothing.
      " i AS (INSERT INTO deployment_idempotency_key (team, key, deployment_id, created)"
      " SELECT $2, $18::text, $1, $3::timestamptz WHERE $18::text <> '')"
      " SELECT pg_notify($13, $14), pg_notify($15, $16)";
  bool replayed = false;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    try {
      tx.exec_params(kSql, request.id(), request.team(), Ts(created), repository, request.cluster(),
                     rows.dump(), common::HexEncode(payload), Ts(deadline), status.id,
                     queued_message, status.state_name, Ts(status.created), kQueueChannel,
                     origin_ + "|" + request.cluster(), kStatusChannel,
                     origin_ + "|" + request.id() + "|" + status.id + "|" + status.state_name,
                     request_key, idempotency_key);
    } catch (const pqxx::unique_violation&) {
      if (request_key.empty() && idempotency_key.empty()) throw;
      replayed = true;
    }
  });
  if (!replayed) return status;
  std::string first_id;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    auto result = tx.exec_params(
        "SELECT deployment_id FROM deployment_idempotency_key WHERE team = $1 AND key = $2"
        " UNION ALL"
        " SELECT deployment_id FROM deployment_request_key WHERE team = $1 AND key = $3",
        request.team(), idempotency_key, request_key);
    if (!result.empty()) first_id = result[0][0].as<std::string>();
  });
  if (first_id.empty()) {
    throw common::Error(common::ErrorCode::kUnavailable, "request key vanished; try again");
  }
  auto statuses = Statuses(first_id);  // newest first
  if (statuses.empty()) {
    throw common::Error(common::ErrorCode::kUnavailable, "replayed deployment has no status");
  }
  StatusRow first = statuses.back();
  first.replayed = true;
  first.team = request.team();
  first.cluster = request.cluster();
  first.repository = repository;
  first.deployment_created = first.created;
  return first;
}

int Store::ForgetRequestKeys(common::SystemTime before) {
  int removed = 0;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    removed = static_cast<int>(
        tx.exec_params("DELETE FROM deployment_request_key WHERE created < $1::timestamptz",
                       Ts(before))
            .affected_rows());
  });
  return removed;
}

int Store::ForgetIdempotencyKeys(common::SystemTime before) {
  int removed = 0;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    removed = static_cast<int>(
        tx.exec_params("DELETE FROM deployment_idempotency_key WHERE created < $1::timestamptz",
                       Ts(before))
            .affected_rows());
  });
  return removed;
}

StatusRow Store::WriteStatus(const std::string& deployment_id, pb::DeploymentState state,
                             const std::string& message, common::SystemTime created) {
  StatusRow status;
  try {
    pool_.With([&](pqxx::connection& conn) {
      pqxx::work tx(conn);
      // The row lock orders concurrent writers (two replicas, a deployd and the sweeper): the
      // second sees the first one's final state and is refused.
      auto current = tx.exec_params(
          "SELECT COALESCE(state, '') FROM deployment WHERE id = $1 FOR UPDATE", deployment_id);
      if (!current.empty()) {
        const std::string state_name = current[0][0].as<std::string>();
        const auto parsed = common::ParseStateName(state_name);
        if (parsed && common::IsFinished(*parsed)) {
          throw common::Error(common::ErrorCode::kFailedPrecondition,
                              "deployment " + deployment_id + " has already finished (" +
                                  state_name + "); later statuses are refused");
        }
      }
      status = InsertStatus(tx, origin_, deployment_id, state, message, created);
      if (common::IsFinished(state)) {
        tx.exec_params("DELETE FROM deployment_queue WHERE deployment_id = $1", deployment_id);
      } else {
        tx.exec_params(
            "UPDATE deployment_queue SET confirmed_by = COALESCE(handed_to, ''), confirmed = "
            "$2::timestamptz WHERE deployment_id = $1 AND confirmed IS NULL",
            deployment_id, Ts(created));
      }
      tx.commit();
    });
  } catch (const pqxx::foreign_key_violation& e) {
    std::string text = e.what();
    while (!text.empty() && text.back() == '\n') text.pop_back();
    throw common::Error(common::ErrorCode::kFailedPrecondition, text);
  }
  return status;
}

std::optional<DeploymentRow> Store::Deployment(const std::string& id) {
  std::optional<DeploymentRow> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result =
        tx.exec_params("SELECT " + kDeploymentColumns + " FROM deployment WHERE id = $1", id);
    if (!result.empty()) out = ToDeployment(result[0]);
  });
  return out;
}

std::vector<ListedDeployment> Store::ListDeployments(const DeploymentFilter& filter) {
  // The cursor's time as a timestamptz, exact to the microsecond.
  const std::string cursor = "('epoch'::timestamptz + $5::bigint * interval '1 microsecond')";
  std::vector<ListedDeployment> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result = tx.exec_params(
        "SELECT " + kDeploymentColumns + ", (SELECT " + Micros("max(s.created)") +
            " FROM deployment_status s WHERE s.deployment_id = deployment.id) FROM deployment"
            " WHERE ($1 = '' OR team = $1) AND ($2 = '' OR cluster = $2)"
            " AND ($3 = '' OR state = $3) AND ($4 = '' OR github_repository = $4)"
            " AND ($5::bigint IS NULL OR (created <= " +
            cursor + " AND (created < " + cursor +
            " OR id < $6))) ORDER BY created DESC, id DESC LIMIT $7",
        filter.team, filter.cluster, filter.state, filter.repository, filter.before_micros,
        filter.before_id, filter.limit);
    for (const auto& r : result) {
      ListedDeployment row{ToDeployment(r), std::nullopt};
      if (!r[7].is_null()) row.last_status = FromMicros(r[7]);
      out.push_back(std::move(row));
    }
  });
  return out;
}

std::optional<DeploymentCommit> Store::DeploymentWithCommit(const std::string& id) {
  std::optional<DeploymentCommit> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result = tx.exec_params("SELECT d.*, g.owner, g.repository, g.ref FROM (SELECT " +
                                     kDeploymentColumns +
                                     " FROM deployment WHERE id = $1) d"
                                     " LEFT JOIN github_deployment g ON g.deployment_id = d.id",
                                 id);
    if (result.empty()) return;
    const auto& r = result[0];
    out = DeploymentCommit{ToDeployment(r), OptString(r[7]), OptString(r[8]), OptString(r[9])};
  });
  return out;
}

std::vector<ResourceRow> Store::Resources(const std::string& deployment_id) {
  std::vector<ResourceRow> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result = tx.exec_params(
        "SELECT \"index\", \"group\", version, kind, name, namespace FROM deployment_resource "
        "WHERE deployment_id = $1 ORDER BY \"index\" ASC",
        deployment_id);
    for (const auto& r : result) {
      out.push_back(ResourceRow{r[0].as<int>(), r[1].as<std::string>(), r[2].as<std::string>(),
                                r[3].as<std::string>(), r[4].as<std::string>(),
                                r[5].as<std::string>()});
    }
  });
  return out;
}

std::vector<StatusRow> Store::Statuses(const std::string& deployment_id) {
  std::vector<StatusRow> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result = tx.exec_params("SELECT " + kStatusColumns +
                                     " FROM deployment_status WHERE deployment_id = $1 "
                                     "ORDER BY created DESC, id DESC",
                                 deployment_id);
    for (const auto& r : result) out.push_back(ToStatus(r));
  });
  return out;
}

std::vector<DeploymentRow> Store::HistoricDeployments(const std::string& cluster,
                                                      common::SystemTime before) {
  std::vector<DeploymentRow> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result =
        tx.exec_params("SELECT " + kDeploymentColumns +
                           " FROM deployment WHERE cluster = $1 AND created < $2::timestamptz "
                           "AND (state = 'in_progress' OR state = 'queued') "
                           "AND NOT EXISTS (SELECT 1 FROM deployment_queue q WHERE q.deployment_id "
                           "= deployment.id)",
                       cluster, Ts(before));
    for (const auto& r : result) out.push_back(ToDeployment(r));
  });
  return out;
}

std::vector<std::string> Store::UnconfirmedIds(const std::string& cluster) {
  std::vector<std::string> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    auto result = tx.exec_params(
        "SELECT deployment_id FROM deployment_queue WHERE cluster = $1 AND confirmed IS NULL "
        "ORDER BY created ASC, deployment_id ASC",
        cluster);
    for (const auto& r : result) out.push_back(r[0].as<std::string>());
  });
  return out;
}

std::vector<QueuedRequest> Store::QueuedRequests(const std::vector<std::string>& deployment_ids) {
  std::vector<QueuedRequest> out;
  if (deployment_ids.empty()) return out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    auto result = tx.exec_params("SELECT " + kQueueColumns +
                                     " FROM deployment_queue WHERE deployment_id = "
                                     "ANY($1::text[]) ORDER BY created ASC, deployment_id ASC",
                                 TextArray(deployment_ids));
    for (const auto& r : result) out.push_back(ToQueued(r));
  });
  return out;
}

void Store::MarkHandedOut(const std::vector<std::string>& deployment_ids,
                          const std::string& instance) {
  if (deployment_ids.empty()) return;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    tx.exec_params(
        "UPDATE deployment_queue SET handed_to = $2, handed_out = now() WHERE deployment_id = "
        "ANY($1::text[]) AND confirmed IS NULL",
        TextArray(deployment_ids), instance);
  });
}

bool Store::MarkDelivered(const std::string& deployment_id) {
  bool removed = false;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    auto result =
        tx.exec_params("DELETE FROM deployment_queue WHERE deployment_id = $1", deployment_id);
    removed = result.affected_rows() > 0;
    tx.commit();
  });
  return removed;
}

std::vector<QueuedRequest> Store::ExpiredRequests(common::SystemTime now,
                                                  std::chrono::seconds grace) {
  std::vector<QueuedRequest> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    auto result = tx.exec_params(
        "SELECT " + kQueueColumns +
            " FROM deployment_queue WHERE (confirmed IS NULL AND deadline - LEAST(interval "
            "'30 seconds', GREATEST(deadline - created, interval '0 seconds') / 10) <= "
            "$1::timestamptz) OR (confirmed IS NOT NULL AND deadline + $2 * interval '1 second' "
            "<= $1::timestamptz) ORDER BY deadline ASC LIMIT 1000",
        Ts(now), static_cast<long>(grace.count()));
    for (const auto& r : result) out.push_back(ToQueued(r));
  });
  return out;
}

std::vector<std::string> Store::LostDeployments(const std::string& cluster,
                                                const std::string& instance) {
  std::vector<std::string> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    auto result = tx.exec_params(
        "SELECT deployment_id FROM deployment_queue WHERE cluster = $1 AND confirmed IS NOT "
        "NULL AND confirmed_by <> $2 ORDER BY created ASC",
        cluster, instance);
    for (const auto& r : result) out.push_back(r[0].as<std::string>());
  });
  return out;
}

void Store::TouchCluster(const std::string& cluster, common::SystemTime now,
                         const std::string& credential) {
  pool_.With([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO cluster (name, last_seen, connected_to, connected_until) "
        "VALUES ($1, $2::timestamptz, $3, $4::timestamptz) "
        "ON CONFLICT (name) DO UPDATE SET last_seen = EXCLUDED.last_seen, "
        "connected_to = EXCLUDED.connected_to, connected_until = EXCLUDED.connected_until",
        cluster, Ts(now), origin_, Ts(now + kPresenceLease));
    const auto micros =
        std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
    tx.exec_params("SELECT pg_notify($1, $2)", kClusterChannel,
                   origin_ + "|" + std::to_string(micros) + "|" + cluster + "|" + credential);
    tx.commit();
  });
}

void Store::RenewPresence(const std::vector<std::string>& clusters, common::SystemTime now) {
  if (clusters.empty()) return;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    tx.exec_params(
        "UPDATE cluster SET connected_to = $1, connected_until = $2::timestamptz "
        "WHERE name = ANY($3::text[])",
        origin_, Ts(now + kPresenceLease), TextArray(clusters));
  });
}

void Store::ReleasePresence(const std::string& cluster) {
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    tx.exec_params(
        "UPDATE cluster SET connected_to = NULL, connected_until = NULL "
        "WHERE name = $1 AND connected_to = $2",
        cluster, origin_);
  });
}

bool Store::ClusterPresent(const std::string& cluster, common::SystemTime now) {
  bool present = false;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    present = !tx.exec_params(
                     "SELECT 1 FROM cluster WHERE name = $1 AND connected_until > "
                     "$2::timestamptz",
                     cluster, Ts(now))
                   .empty();
  });
  return present;
}

std::vector<std::string> Store::SeenClusters() {
  std::vector<std::string> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    for (const auto& r : tx.exec("SELECT name FROM cluster ORDER BY name")) {
      out.push_back(r[0].as<std::string>());
    }
  });
  return out;
}

std::optional<StatusRow> Store::StatusById(const std::string& status_id) {
  std::optional<StatusRow> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto result = tx.exec_params(
        "SELECT " + kStatusColumns + " FROM deployment_status WHERE id = $1", status_id);
    if (!result.empty()) out = ToStatus(result[0]);
  });
  return out;
}

bool Store::RepositoryAuthorized(const std::string& team, const std::string& repository) {
  bool found = false;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    found = !tx.exec_params("SELECT 1 FROM team_repositories WHERE team = $1 AND repository = $2",
                            team, repository)
                 .empty();
  });
  return found;
}

std::vector<std::string> Store::TeamRepositories(const std::string& team) {
  std::vector<std::string> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    for (const auto& r : tx.exec_params("SELECT repository FROM team_repositories WHERE team = $1 "
                                        "ORDER BY repository",
                                        team)) {
      out.push_back(r[0].as<std::string>());
    }
  });
  return out;
}

bool Store::AddTeamRepository(const std::string& team, const std::string& repository) {
  bool added = false;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    added = tx.exec_params(
                  "INSERT INTO team_repositories (team, repository) VALUES ($1, $2) "
                  "ON CONFLICT DO NOTHING",
                  team, repository)
                .affected_rows() > 0;
    tx.commit();
  });
  return added;
}

bool Store::RemoveTeamRepository(const std::string& team, const std::string& repository) {
  bool removed = false;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::work tx(conn);
    removed = tx.exec_params("DELETE FROM team_repositories WHERE team = $1 AND repository = $2",
                             team, repository)
                  .affected_rows() > 0;
    tx.commit();
  });
  return removed;
}

int Store::SchemaVersion() {
  int version = 0;
  pool_.With([&](pqxx::connection& conn) { version = store::SchemaVersion(conn); });
  return version;
}

void Store::Ping() {
  pool_.With([](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    tx.exec("SELECT 1");
  });
}

std::optional<std::string> Store::AuthorizeRepository(const std::string& team,
                                                      const std::string& repository,
                                                      const std::string& repository_id) {
  std::optional<std::string> out;
  pool_.With([&](pqxx::connection& conn) {
    out.reset();
    pqxx::work tx(conn);
    const std::string select =
        "SELECT COALESCE(repository_id, '') FROM team_repositories WHERE team = $1 AND "
        "repository = $2";
    auto rows = tx.exec_params(select, team, repository);
    if (rows.empty()) return;
    out = rows[0][0].as<std::string>();
    if (!out->empty() || repository_id.empty()) return;
    // Only a row that is still unpinned is updated; when another authentication pinned it
    // meanwhile, this one re-reads what it pinned (a new statement sees the committed row).
    if (tx.exec_params("UPDATE team_repositories SET repository_id = $3 WHERE team = $1 AND "
                       "repository = $2 AND repository_id IS NULL",
                       team, repository, repository_id)
            .affected_rows() > 0) {
      out = repository_id;
      spdlog::info("team {}: repository {} pinned to repository_id {} (first authentication)", team,
                   repository, repository_id);
    } else {
      rows = tx.exec_params(select, team, repository);
      if (rows.empty()) {
        out.reset();
      } else {
        out = rows[0][0].as<std::string>();
      }
    }
    tx.commit();
  });
  return out;
}

std::vector<std::string> Store::HandOut(const std::vector<std::string>& deployment_ids,
                                        const std::string& instance) {
  std::vector<std::string> marked;
  if (deployment_ids.empty()) return marked;
  pool_.With([&](pqxx::connection& conn) {
    marked.clear();
    pqxx::nontransaction tx(conn);
    auto rows = tx.exec_params(
        "UPDATE deployment_queue SET handed_to = $2, handed_out = now() WHERE deployment_id = "
        "ANY($1::text[]) AND confirmed IS NULL RETURNING deployment_id",
        TextArray(deployment_ids), instance);
    for (const auto& r : rows) marked.push_back(r[0].as<std::string>());
  });
  return marked;
}

CancelOutcome Store::CancelDeployment(const std::string& id, const std::string& team,
                                      const std::string& reason,
                                      pb::DeploymentState withdrawn_state,
                                      const std::string& withdrawn_message,
                                      common::SystemTime now) {
  CancelOutcome out;
  pool_.With([&](pqxx::connection& conn) {
    out = CancelOutcome{};
    pqxx::work tx(conn);
    // The row lock orders the cancel with status writers (WriteStatus locks it too).
    auto deployment = tx.exec_params(
        "SELECT team, COALESCE(cluster, ''), COALESCE(state, '') FROM deployment WHERE id = $1 "
        "FOR UPDATE",
        id);
    if (deployment.empty()) {
      throw common::Error(common::ErrorCode::kNotFound, "deployment '" + id + "' not found");
    }
    if (deployment[0][0].as<std::string>() != team) {
      throw common::Error(common::ErrorCode::kPermissionDenied,
                          "deployment '" + id + "' does not belong to team \"" + team +
                              "\"; only its own team may cancel it");
    }
    out.cluster = deployment[0][1].as<std::string>();
    out.state = deployment[0][2].as<std::string>();
    if (const auto state = common::ParseStateName(out.state); state && common::IsFinished(*state)) {
      throw common::Error(common::ErrorCode::kFailedPrecondition,
                          "deployment '" + id + "' has already finished (" + out.state +
                              "); there is nothing to cancel");
    }
    // The queue row lock orders the cancel with a hand-out (HandOut's UPDATE): one that comes
    // later finds no row and marks nothing, so the request is never sent.
    auto queued = tx.exec_params(
        "SELECT handed_to IS NULL FROM deployment_queue WHERE deployment_id = $1 FOR UPDATE", id);
    if (!queued.empty() && queued[0][0].as<bool>()) {
      tx.exec_params("DELETE FROM deployment_queue WHERE deployment_id = $1", id);
      out.withdrawn = true;
      out.status = InsertStatus(tx, origin_, id, withdrawn_state, withdrawn_message, now);
      tx.commit();
      return;
    }
    auto capabilities =
        tx.exec_params("SELECT capabilities FROM cluster WHERE name = $1", out.cluster);
    bool can_cancel = false;
    if (!capabilities.empty()) {
      const std::string list = "," + capabilities[0][0].as<std::string>() + ",";
      can_cancel = list.find(",cancel,") != std::string::npos;
    }
    if (!can_cancel) {
      throw common::Error(
          common::ErrorCode::kFailedPrecondition,
          "cluster \"" + out.cluster + "\"'s deployd cannot cancel a running deployment");
    }
    out.already_requested =
        tx.exec_params(
              "INSERT INTO deployment_cancel (deployment_id, team, reason, created) "
              "VALUES ($1, $2, $3, $4::timestamptz) ON CONFLICT (deployment_id) DO NOTHING",
              id, team, reason, Ts(now))
            .affected_rows() == 0;
    // The replica holding the cluster's deployd stream looks at its queue and pending cancels.
    tx.exec_params("SELECT pg_notify($1, $2)", kQueueChannel, origin_ + "|" + out.cluster);
    tx.commit();
  });
  return out;
}

std::vector<PendingCancel> Store::PendingCancels(const std::string& cluster) {
  std::vector<PendingCancel> out;
  pool_.With([&](pqxx::connection& conn) {
    out.clear();
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT c.deployment_id, c.team, c.reason FROM deployment_cancel c "
        "JOIN deployment d ON d.id = c.deployment_id WHERE d.cluster = $1 AND "
        "COALESCE(d.state, '') NOT IN ('success', 'error', 'failure', 'inactive') "
        "ORDER BY c.created ASC, c.deployment_id ASC",
        cluster);
    for (const auto& r : rows) {
      out.push_back(
          PendingCancel{r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>()});
    }
  });
  return out;
}

void Store::SetClusterCapabilities(const std::string& cluster, const std::string& capabilities) {
  pool_.With([&](pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    tx.exec_params("UPDATE cluster SET capabilities = $2 WHERE name = $1", cluster, capabilities);
  });
}

}  // namespace hookd::store
