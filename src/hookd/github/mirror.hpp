#pragma once
// Mirrors deployments to GitHub (--github-enabled): every deployment that names a repository gets
// a GitHub deployment (after the original's team-access check), and every state change of it a
// GitHub deployment status, in order, each once. The work is queued in Postgres (queue.hpp) and
// done by two threads with their own database connections: the creator makes GitHub deployments
// right after hookd accepted them (the HTTP API waits a short time for it, see AwaitDeployment),
// the pump sends owed statuses and retries everything that failed. GitHub being slow, failing or
// rate-limiting never slows or fails a deployment: the work waits in the queue.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>
#include <pqxx/connection>

#include "common/http_client.hpp"
#include "common/time.hpp"
#include "common/timers.hpp"
#include "hookd/dispatch/observer.hpp"
#include "hookd/github/api.hpp"
#include "hookd/github/queue.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/pool.hpp"

namespace hookd::github {

struct MirrorOptions {
  ApiOptions api;
  std::string database_url;
  std::string base_url;  // hookd's public URL, for the statuses' log_url
  // How long the HTTP API's 201 waits for the GitHub deployment.
  std::chrono::milliseconds create_wait{std::chrono::seconds(3)};
  // At most this many deployments owe GitHub work; more are not mirrored (logged and counted).
  std::size_t queue_limit = 10000;
  // The pump looks for work this often when nothing woke it (statuses stored by other replicas).
  std::chrono::milliseconds poll_interval{std::chrono::seconds(1)};
  // Backoff after failures (no answer, 5xx): retry_base * 2^failures, at most retry_cap, jittered.
  std::chrono::milliseconds retry_base{std::chrono::seconds(1)};
  std::chrono::milliseconds retry_cap{std::chrono::minutes(5)};
  // Failures in a row after which a GitHub deployment or status is given up.
  int max_attempts = 20;
};

class Mirror final : public dispatch::DeploymentObserver {
 public:
  // `timers`: the clock of due times, rate limits and every wait.
  Mirror(MirrorOptions options, AppKey key, store::ConnectionPool& pool, Metrics* metrics,
         const common::Timers& timers);
  ~Mirror() override;
  Mirror(const Mirror&) = delete;
  Mirror& operator=(const Mirror&) = delete;

  void Start();
  // Ends both threads; a GitHub call in flight is cancelled (its work stays owed).
  void Stop();

  // Queues the GitHub work of a new deployment with owner, repository and ref. Never throws.
  void Accepted(const pb::DeploymentRequest& request) override;
  // Wakes the pump.
  void StatusStored(const store::StatusRow& row) override;

  // The GitHub deployment of `deployment_id` as GitHub returned it, waiting up to create_wait
  // for it when this process is creating it; `{"id": <id>}` when only its id is known; null
  // when there is none (yet). Blocking (database).
  nlohmann::json AwaitDeployment(const std::string& deployment_id);

 private:
  struct Waiter {
    bool done = false;
    nlohmann::json deployment;
    common::SystemTime registered;
  };

  void PumpLoop();
  void CreatorLoop();
  // Does the GitHub work of one claimed row; returns the created deployment (creation only).
  nlohmann::json Work(Claim& claim, common::HttpCancel* cancel);
  nlohmann::json Create(Claim& claim, common::HttpCancel* cancel);
  void SendStatus(Claim& claim, const OwedStatus& status, common::HttpCancel* cancel);
  // A failed call: retried with backoff, deferred for the rate limit, or given up.
  // `status`: the status it was for (nullptr: the creation of the GitHub deployment).
  void Failed(Claim& claim, const Response& response, const std::string& what,
              const OwedStatus* status);
  // Logs and counts the state changes folded into `status` (once, when it is done).
  void CountCollapsed(const Job& job, const OwedStatus& status);
  void Finish(const std::string& deployment_id, nlohmann::json deployment);
  // Waits `span` or until Stop(); false when stopping.
  bool SleepFor(std::chrono::nanoseconds span);
  std::unique_ptr<pqxx::connection>& Connection(std::unique_ptr<pqxx::connection>& conn);
  std::uint64_t Random();

  MirrorOptions options_;
  Metrics* metrics_;
  const common::Timers& clock_;
  Api api_;
  QueueStore queue_;

  std::mutex mutex_;
  std::condition_variable wake_;     // pump
  std::condition_variable created_;  // creator queue and waiters
  bool stopping_ = false;
  bool started_ = false;
  bool work_signalled_ = false;
  std::deque<std::string> to_create_;
  std::map<std::string, Waiter> waiters_;
  common::SystemTime last_prune_{};
  common::HttpCancel pump_cancel_;
  common::HttpCancel creator_cancel_;
  std::thread pump_;
  std::thread creator_;
  std::mutex random_mutex_;
  std::mt19937_64 random_;
};

}  // namespace hookd::github
