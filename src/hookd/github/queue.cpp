#include "hookd/github/queue.hpp"

#include <algorithm>

#include "common/time.hpp"

namespace hookd::github {
namespace {

// Times are the process's clock (injected, so tests move it by hand), never the database's: due
// times are compared with the clock that waits for them. Replicas' clocks agree to NTP's accuracy.
std::string Ts(common::SystemTime t) { return common::FormatRfc3339Nano(t); }

const std::string kJobColumns =
    "g.deployment_id, g.owner, g.repository, g.team, g.ref, g.environment, g.log_url, g.phase, "
    "COALESCE(g.github_id, 0), g.attempts, COALESCE(g.last_state, '')";

// Due rows first by next_attempt: a deployment that just got a status sent goes to the back, so
// one busy deployment does not starve the others.
const std::string kNextSql =
    "SELECT " + kJobColumns +
    " FROM github_deployment g"
    " WHERE g.phase IN ('create', 'statuses') AND g.next_attempt <= $1::timestamptz"
    " AND (g.phase = 'create' OR EXISTS (SELECT 1 FROM github_status s"
    " WHERE s.deployment_id = g.deployment_id AND s.posted IS NULL))"
    " ORDER BY g.next_attempt LIMIT 1 FOR NO KEY UPDATE OF g SKIP LOCKED";

// Waits (briefly) for the row: other workers' NextDue lock it for an instant.
const std::string kForCreationSql = "SELECT " + kJobColumns +
                                    " FROM github_deployment g"
                                    " WHERE g.deployment_id = $1 AND g.phase = 'create'"
                                    " FOR NO KEY UPDATE OF g";
// SQLSTATE lock_not_available: the row stayed locked longer than lock_timeout.
const char* const kLockNotAvailable = "55P03";

}  // namespace

RegisterResult QueueStore::Register(const Registration& r, std::size_t limit,
                                    std::chrono::milliseconds hold) {
  RegisterResult result = RegisterResult::kRegistered;
  pool_.With([&](pqxx::connection& conn) {
    const auto now = clock_.Now();  // once a connection is had: the hold starts now
    pqxx::work tx(conn);
    // The deployment's row lock orders this with WriteStatus: a status stored before it is copied
    // below, one stored after it finds the github_deployment row (the trigger queues it).
    tx.exec_params("SELECT 1 FROM deployment WHERE id = $1 FOR UPDATE", r.deployment_id);
    auto inserted = tx.exec_params(
        "INSERT INTO github_deployment (deployment_id, owner, repository, team, ref, environment,"
        " log_url, phase, next_attempt, created)"
        " SELECT $1, $2, $3, $4, $5, $6, $7, 'create',"
        " $8::timestamptz, $10::timestamptz"
        " WHERE (SELECT count(*) FROM (SELECT 1 FROM github_deployment"
        " WHERE phase IN ('create', 'statuses') LIMIT $9) AS active) < $9"
        " ON CONFLICT (deployment_id) DO NOTHING RETURNING 1",
        r.deployment_id, r.owner, r.repository, r.team, r.ref, r.environment, r.log_url,
        Ts(now + hold), static_cast<long long>(limit), Ts(now));
    if (inserted.empty()) {
      auto exists = tx.exec_params("SELECT 1 FROM github_deployment WHERE deployment_id = $1",
                                   r.deployment_id);
      result = exists.empty() ? RegisterResult::kQueueFull : RegisterResult::kAlreadyRegistered;
      tx.commit();
      return;
    }
    // The statuses stored so far (normally just `queued`), state changes only.
    tx.exec_params(
        "INSERT INTO github_status (deployment_id, status_id, state, message, created)"
        " SELECT deployment_id, id, status, message, created FROM ("
        "  SELECT deployment_id, id, status, message, created,"
        "   lag(status) OVER (ORDER BY created, id) AS previous"
        "  FROM deployment_status WHERE deployment_id = $1) s"
        " WHERE s.previous IS DISTINCT FROM s.status ORDER BY s.created, s.id",
        r.deployment_id);
    tx.commit();
  });
  return result;
}

std::optional<long long> QueueStore::GithubId(const std::string& deployment_id) {
  std::optional<long long> out;
  pool_.With([&](pqxx::connection& conn) {
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params("SELECT github_id FROM deployment WHERE id = $1", deployment_id);
    if (!rows.empty() && !rows[0][0].is_null()) out = rows[0][0].as<long long>();
  });
  return out;
}

std::unique_ptr<Claim> Claim::Next(pqxx::connection& conn, const common::Clock& clock) {
  return Take(conn, kNextSql, "", clock);
}

std::optional<std::chrono::milliseconds> Claim::NextDue(pqxx::connection& conn,
                                                        const common::Clock& clock) {
  // Rows that other workers hold are skipped (their work is theirs): locking the first free row
  // for the length of this statement is the only way to see which rows are free.
  pqxx::work tx(conn);
  auto rows = tx.exec_params(
      "SELECT GREATEST(0, EXTRACT(EPOCH FROM (g.next_attempt - $1::timestamptz)) * 1000)"
      "::bigint FROM github_deployment g"
      " WHERE g.phase IN ('create', 'statuses')"
      " AND (g.phase = 'create' OR EXISTS (SELECT 1 FROM github_status s"
      " WHERE s.deployment_id = g.deployment_id AND s.posted IS NULL))"
      " ORDER BY g.next_attempt LIMIT 1 FOR NO KEY UPDATE OF g SKIP LOCKED",
      Ts(clock.Now()));
  tx.commit();
  if (rows.empty() || rows[0][0].is_null()) return std::nullopt;
  return std::chrono::milliseconds(rows[0][0].as<long long>());
}

std::unique_ptr<Claim> Claim::ForCreation(pqxx::connection& conn, const std::string& deployment_id,
                                          const common::Clock& clock) {
  return Take(conn, kForCreationSql, deployment_id, clock);
}

std::unique_ptr<Claim> Claim::Take(pqxx::connection& conn, const std::string& sql,
                                   const std::string& deployment_id, const common::Clock& clock) {
  std::unique_ptr<Claim> claim(new Claim(conn, clock));
  pqxx::result rows;
  if (deployment_id.empty()) {
    rows = claim->tx_.exec_params(sql, Ts(clock.Now()));
  } else {
    // Held longer than this, the row is another worker's (it is creating it).
    claim->tx_.exec("SET LOCAL lock_timeout = '500ms'");
    try {
      rows = claim->tx_.exec_params(sql, deployment_id);
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == kLockNotAvailable) return nullptr;
      throw;
    }
  }
  if (rows.empty()) {
    claim->tx_.commit();
    return nullptr;
  }
  const auto& r = rows[0];
  Job& job = claim->job_;
  job.deployment_id = r[0].as<std::string>();
  job.owner = r[1].as<std::string>();
  job.repository = r[2].as<std::string>();
  job.team = r[3].as<std::string>();
  job.ref = r[4].as<std::string>();
  job.environment = r[5].as<std::string>();
  job.log_url = r[6].as<std::string>();
  job.phase = r[7].as<std::string>();
  job.github_id = r[8].as<long long>();
  job.attempts = r[9].as<int>();
  job.last_state = r[10].as<std::string>();
  return claim;
}

std::optional<OwedStatus> Claim::NextStatus() {
  auto rows = tx_.exec_params(
      "SELECT seq, state, message, collapsed FROM github_status"
      " WHERE deployment_id = $1 AND posted IS NULL ORDER BY seq LIMIT 1",
      job_.deployment_id);
  if (rows.empty()) return std::nullopt;
  OwedStatus s;
  s.seq = rows[0][0].as<long long>();
  s.state = rows[0][1].as<std::string>();
  s.message = rows[0][2].as<std::string>();
  s.collapsed = rows[0][3].as<int>();
  return s;
}

void Claim::Created(long long github_id) {
  tx_.exec_params(
      "UPDATE github_deployment SET phase = 'statuses', github_id = $2, attempts = 0,"
      " next_attempt = $3::timestamptz, last_error = '' WHERE deployment_id = $1",
      job_.deployment_id, github_id, Ts(clock_.Now()));
  tx_.exec_params("UPDATE deployment SET github_id = $2 WHERE id = $1", job_.deployment_id,
                  github_id);
  job_.phase = "statuses";
  job_.github_id = github_id;
  job_.attempts = 0;
}

void Claim::Skip(const std::string& reason) {
  tx_.exec_params(
      "UPDATE github_deployment SET phase = 'skipped', last_error = $2 WHERE deployment_id = $1",
      job_.deployment_id, reason);
  tx_.exec_params(
      "UPDATE github_status SET posted = $3::timestamptz, result = $2"
      " WHERE deployment_id = $1 AND posted IS NULL",
      job_.deployment_id, "not sent: " + reason, Ts(clock_.Now()));
}

void Claim::Retry(std::chrono::milliseconds delay, const std::string& error) {
  tx_.exec_params(
      "UPDATE github_deployment SET attempts = attempts + 1,"
      " next_attempt = $2::timestamptz, last_error = $3 WHERE deployment_id = $1",
      job_.deployment_id, Ts(clock_.Now() + delay), error);
}

void Claim::Defer(common::SystemTime until, const std::string& error) {
  tx_.exec_params(
      "UPDATE github_deployment SET next_attempt = $2::timestamptz, last_error = $3"
      " WHERE deployment_id = $1",
      job_.deployment_id, Ts(std::max(clock_.Now(), until)), error);
}

void Claim::StatusDone(long long seq, const std::string& result, bool final,
                       const std::string& posted_state) {
  const std::string now = Ts(clock_.Now());
  tx_.exec_params("UPDATE github_status SET posted = $3::timestamptz, result = $2 WHERE seq = $1",
                  seq, result, now);
  tx_.exec_params(
      "UPDATE github_deployment SET attempts = 0, next_attempt = $4::timestamptz,"
      " last_error = '', phase = CASE WHEN $2 THEN 'done' ELSE phase END,"
      " last_state = COALESCE(NULLIF($3, ''), last_state) WHERE deployment_id = $1",
      job_.deployment_id, final, posted_state, now);
  job_.attempts = 0;
  if (!posted_state.empty()) job_.last_state = posted_state;
}

void Claim::Commit() { tx_.commit(); }

}  // namespace hookd::github
