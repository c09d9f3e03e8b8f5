#pragma once
// hookd's GitHub work, kept in Postgres (migration 0015) so that it survives restarts and is
// shared by replicas:
//   github_deployment  one row per deployment that names a repository: what to create on GitHub,
//                      its GitHub id once created, the phase (create -> statuses -> done, or
//                      skipped), and when to try next (backoff, rate limit).
//   github_status      the statuses owed to GitHub, in the order hookd stored them. A trigger on
//                      deployment_status appends every state change (a status with the same state
//                      as the one before is not queued: GitHub gets it once); it keeps at most
//                      kMaxPendingStatuses unsent rows per deployment by folding later changes
//                      into the newest row (counted in `collapsed`).
// A worker claims one github_deployment row with SELECT ... FOR NO KEY UPDATE SKIP LOCKED and holds
// that transaction (on its own connection) through the GitHub call, so no two workers, in this
// process or another replica, ever work on the same deployment at once: each status is sent once
// and in order. The lock never blocks hookd's own writes (the trigger only reads the row), and
// it is released at once when a worker dies (its connection closes).
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <pqxx/pqxx>

#include "common/time.hpp"
#include "hookd/store/pool.hpp"

namespace hookd::github {

inline constexpr int kMaxPendingStatuses = 16;  // must match migrations/0015-github.sql

struct Registration {
  std::string deployment_id;
  std::string owner;
  std::string repository;
  std::string team;
  std::string ref;
  std::string environment;
  std::string log_url;
};

enum class RegisterResult { kRegistered, kAlreadyRegistered, kQueueFull };

// Short statements on the shared pool.
class QueueStore {
 public:
  // `clock`: the time of every due time it writes.
  QueueStore(store::ConnectionPool& pool, const common::Clock& clock)
      : pool_(pool), clock_(clock) {}
  // Queues the GitHub deployment of `r` and the statuses it already has, unless `limit`
  // deployments are owed GitHub work already. Workers leave the row alone for `hold` (the time
  // the request waits for it) unless they are asked for it by name.
  RegisterResult Register(const Registration& r, std::size_t limit, std::chrono::milliseconds hold);
  // The GitHub deployment id of a deployment, when it has one.
  std::optional<long long> GithubId(const std::string& deployment_id);

 private:
  store::ConnectionPool& pool_;
  const common::Clock& clock_;
};

// A github_deployment row claimed for work: what was registered, and how far the work got.
struct Job : Registration {
  std::string phase;  // "create" or "statuses"
  long long github_id = 0;
  int attempts = 0;        // failures in a row
  std::string last_state;  // the state GitHub got last ("" before the first)
};

struct OwedStatus {
  long long seq = 0;
  std::string state;
  std::string message;
  int collapsed = 0;  // state changes folded into this one to keep the queue bounded
};

// One claimed row: a transaction on the worker's own connection that holds the row lock until
// Commit() (or until it is destroyed, which rolls back and leaves the work owed).
class Claim {
 public:
  // The next due deployment with work (a GitHub deployment to create, or a status owed), oldest
  // next_attempt first; rows other workers hold are skipped. nullptr when there is none.
  // Every time the claim writes is `clock`'s.
  static std::unique_ptr<Claim> Next(pqxx::connection& conn, const common::Clock& clock);
  // The row of `deployment_id` while its GitHub deployment still has to be created, due or not;
  // nullptr when there is none, or another worker holds it for more than half a second.
  static std::unique_ptr<Claim> ForCreation(pqxx::connection& conn,
                                            const std::string& deployment_id,
                                            const common::Clock& clock);

  // How long until the next row with work that no other worker holds is due (zero when one is
  // due now); nullopt when there is none.
  static std::optional<std::chrono::milliseconds> NextDue(pqxx::connection& conn,
                                                          const common::Clock& clock);

  const Job& job() const { return job_; }
  std::optional<OwedStatus> NextStatus();

  // The GitHub deployment exists: its id is stored (also in deployment.github_id) and the
  // statuses follow.
  void Created(long long github_id);
  // No GitHub deployment for this one: its owed statuses are marked with `reason`, unsent.
  void Skip(const std::string& reason);
  // Again after `delay`, one failure more.
  void Retry(std::chrono::milliseconds delay, const std::string& error);
  // Again not before `until` (rate limit); not counted as a failure.
  void Defer(common::SystemTime until, const std::string& error);
  // Status `seq` is done: `result` is the HTTP status when it was posted, or why it was not.
  // `final`: it was the deployment's final state, so nothing more follows. `posted_state`: the
  // state GitHub now has ("" when it was not posted).
  void StatusDone(long long seq, const std::string& result, bool final,
                  const std::string& posted_state = "");
  void Commit();

 private:
  Claim(pqxx::connection& conn, const common::Clock& clock) : tx_(conn), clock_(clock) {}
  static std::unique_ptr<Claim> Take(pqxx::connection& conn, const std::string& sql,
                                     const std::string& deployment_id, const common::Clock& clock);
  pqxx::work tx_;
  const common::Clock& clock_;
  Job job_;
};

}  // namespace hookd::github
