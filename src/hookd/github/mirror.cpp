#include "hookd/github/mirror.hpp"

#include <algorithm>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/pb_json.hpp"
#include "common/state.hpp"

namespace hookd::github {
namespace {

// Deployments waiting for the creator; beyond this the pump creates them after create_wait.
constexpr std::size_t kMaxCreateQueue = 256;
// The pump never looks for work more often than this.
constexpr std::chrono::milliseconds kMinIdle{10};

std::string Describe(const Response& r) {
  if (r.answer.status == 0) return r.error.empty() ? "no answer" : r.error;
  return "HTTP " + std::to_string(r.answer.status) + (r.error.empty() ? "" : ": " + r.error);
}

}  // namespace

Mirror::Mirror(MirrorOptions options, AppKey key, store::ConnectionPool& pool, Metrics* metrics,
               const common::Timers& timers)
    : options_(std::move(options)),
      metrics_(metrics),
      clock_(timers),
      api_(options_.api, std::move(key), timers,
           [metrics](int status, const Labels& labels) {
             if (metrics != nullptr) {
               metrics->ObserveGithubRequest(status, labels.repository, labels.team);
             }
           }),
      queue_(pool, timers),
      random_(std::random_device{}()) {}

Mirror::~Mirror() { Stop(); }

void Mirror::Start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  pump_ = std::thread([this] { PumpLoop(); });
  creator_ = std::thread([this] { CreatorLoop(); });
}

void Mirror::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (!started_ || stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  created_.notify_all();
  pump_cancel_.Cancel();
  creator_cancel_.Cancel();
  if (pump_.joinable()) pump_.join();
  if (creator_.joinable()) creator_.join();
}

std::uint64_t Mirror::Random() {
  std::lock_guard lock(random_mutex_);
  return random_();
}

void Mirror::Accepted(const pb::DeploymentRequest& request) {
  const auto& repo = request.repository();
  if (repo.owner().empty() || repo.name().empty()) return;
  const std::string& id = request.id();
  if (!ValidOwner(repo.owner()) || !ValidRepository(repo.name())) {
    spdlog::warn("deployment {}: \"{}/{}\" is not a GitHub repository name; not mirrored to GitHub",
                 id, repo.owner(), repo.name());
    return;
  }
  if (request.gitrefsha().empty()) {
    spdlog::info("deployment {}: no commit ref; not mirrored to GitHub", id);
    return;
  }
  Registration r;
  r.deployment_id = id;
  r.owner = repo.owner();
  r.repository = repo.name();
  r.team = request.team();
  r.ref = request.gitrefsha();
  r.environment = request.githubenvironment();
  r.log_url =
      LogUrl(options_.base_url, id, common::FromTimestamp(request.time()), request.cluster());
  RegisterResult result = RegisterResult::kQueueFull;
  try {
    result = queue_.Register(r, options_.queue_limit, options_.create_wait);
  } catch (const std::exception& e) {
    spdlog::error("deployment {}: unable to queue its GitHub deployment: {}", id, e.what());
    if (metrics_ != nullptr) metrics_->GithubDropped("database");
    return;
  }
  if (result == RegisterResult::kQueueFull) {
    spdlog::error(
        "GitHub queue full: {} deployments owe GitHub work already; deployment {} of {}/{} is not "
        "mirrored to GitHub",
        options_.queue_limit, id, r.owner, r.repository);
    if (metrics_ != nullptr) metrics_->GithubDropped("queue_full");
    return;
  }
  if (result == RegisterResult::kAlreadyRegistered) return;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || to_create_.size() >= kMaxCreateQueue) return;  // the pump creates it later
    const auto now = clock_.Now();
    if (now - last_prune_ > std::chrono::seconds(10)) {
      last_prune_ = now;
      for (auto it = waiters_.begin(); it != waiters_.end();) {
        // Results nobody asked for (gRPC deployments) are kept only briefly.
        if (it->second.registered + options_.create_wait + std::chrono::minutes(1) < now) {
          it = waiters_.erase(it);
        } else {
          ++it;
        }
      }
    }
    waiters_[id] = Waiter{false, nullptr, now};
    to_create_.push_back(id);
  }
  created_.notify_all();
}

void Mirror::StatusStored(const store::StatusRow& /*row*/) {
  {
    std::lock_guard lock(mutex_);
    work_signalled_ = true;
  }
  wake_.notify_all();
}

nlohmann::json Mirror::AwaitDeployment(const std::string& deployment_id) {
  {
    std::unique_lock lock(mutex_);
    if (waiters_.contains(deployment_id)) {
      clock_.BlockFor(created_, lock, options_.create_wait, [&] {
        auto it = waiters_.find(deployment_id);
        return stopping_ || it == waiters_.end() || it->second.done;
      });
      auto it = waiters_.find(deployment_id);
      if (it != waiters_.end()) {
        nlohmann::json deployment = std::move(it->second.deployment);
        waiters_.erase(it);
        if (!deployment.is_null()) return deployment;
      }
    }
  }
  try {
    if (auto github_id = queue_.GithubId(deployment_id)) return {{"id", *github_id}};
  } catch (const std::exception& e) {
    spdlog::warn("deployment {}: reading its GitHub deployment id: {}", deployment_id, e.what());
  }
  return nullptr;
}

void Mirror::Finish(const std::string& deployment_id, nlohmann::json deployment) {
  {
    std::lock_guard lock(mutex_);
    auto it = waiters_.find(deployment_id);
    if (it != waiters_.end()) {
      it->second.done = true;
      it->second.deployment = std::move(deployment);
    }
    work_signalled_ = true;  // its statuses can follow now
  }
  created_.notify_all();
  wake_.notify_all();
}

bool Mirror::SleepFor(std::chrono::nanoseconds span) {
  std::unique_lock lock(mutex_);
  return !clock_.BlockFor(wake_, lock, span, [this] { return stopping_; });
}

std::unique_ptr<pqxx::connection>& Mirror::Connection(std::unique_ptr<pqxx::connection>& conn) {
  if (!conn || !conn->is_open()) conn = std::make_unique<pqxx::connection>(options_.database_url);
  return conn;
}

void Mirror::CreatorLoop() {
  std::unique_ptr<pqxx::connection> conn;
  for (;;) {
    std::string id;
    {
      std::unique_lock lock(mutex_);
      created_.wait(lock, [this] { return stopping_ || !to_create_.empty(); });
      if (stopping_) return;
      id = std::move(to_create_.front());
      to_create_.pop_front();
    }
    nlohmann::json deployment;
    // While the rate limit is spent the pump creates it, once the pause is over.
    if (api_.PausedUntil() <= clock_.Now()) {
      try {
        auto claim = Claim::ForCreation(*Connection(conn), id, clock_);
        if (claim) {
          deployment = Work(*claim, &creator_cancel_);
          claim->Commit();
        }
      } catch (const std::exception& e) {
        deployment = nullptr;
        spdlog::warn("deployment {}: creating its GitHub deployment: {}", id, e.what());
        conn.reset();
      }
    }
    Finish(id, std::move(deployment));
  }
}

void Mirror::PumpLoop() {
  std::unique_ptr<pqxx::connection> conn;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    const auto now = clock_.Now();
    const auto paused = api_.PausedUntil();
    if (paused > now) {
      if (!SleepFor(paused - now)) return;
      continue;
    }
    std::chrono::milliseconds idle = options_.poll_interval;
    try {
      if (auto claim = Claim::Next(*Connection(conn), clock_)) {
        Work(*claim, &pump_cancel_);
        claim->Commit();
        continue;
      }
      if (auto due = Claim::NextDue(*Connection(conn), clock_)) {
        idle = std::max(kMinIdle, std::min(idle, *due));
      }
    } catch (const std::exception& e) {
      spdlog::warn("GitHub work: {}", e.what());
      conn.reset();
    }
    std::unique_lock lock(mutex_);
    clock_.BlockFor(wake_, lock, idle, [this] { return stopping_ || work_signalled_; });
    work_signalled_ = false;
  }
}

nlohmann::json Mirror::Work(Claim& claim, common::HttpCancel* cancel) {
  if (claim.job().phase == "create") return Create(claim, cancel);
  if (auto status = claim.NextStatus()) SendStatus(claim, *status, cancel);
  return nullptr;
}

nlohmann::json Mirror::Create(Claim& claim, common::HttpCancel* cancel) {
  const Job job = claim.job();
  const std::string repository = job.owner + "/" + job.repository;
  Response access = api_.TeamAccess(job.owner, job.repository, job.team, cancel);
  if (Classify(access.answer, clock_.Now()).verdict != Verdict::kDone) {
    if (access.answer.status == 404) {
      spdlog::info("deployment {}: no GitHub deployment in {} for team {}: {}", job.deployment_id,
                   repository, job.team, access.error);
      claim.Skip(access.error);
      return nullptr;
    }
    Failed(claim, access, "checking the access of team " + job.team + " to " + repository, nullptr);
    return nullptr;
  }
  Response created =
      api_.CreateDeployment(job.owner, job.repository, job.team, job.ref, job.environment, cancel);
  if (Classify(created.answer, clock_.Now()).verdict == Verdict::kDone) {
    const nlohmann::json& body = created.body;
    if (body.is_object() && body.contains("id") && body["id"].is_number_integer()) {
      const long long github_id = body["id"].get<long long>();
      claim.Created(github_id);
      spdlog::info("deployment {}: GitHub deployment {} created in {}", job.deployment_id,
                   github_id, repository);
      return body;
    }
    created.answer.status = 0;  // retried like a lost answer
    created.error = "the answer carries no deployment id";
  }
  Failed(claim, created, "creating the GitHub deployment in " + repository, nullptr);
  return nullptr;
}

void Mirror::SendStatus(Claim& claim, const OwedStatus& status, common::HttpCancel* cancel) {
  const Job job = claim.job();
  const auto state = common::ParseStateName(status.state);
  const bool final = state && common::IsFinished(*state);
  if (!state) {
    spdlog::error("deployment {}: state \"{}\" is not a GitHub deployment state; not sent",
                  job.deployment_id, status.state);
    claim.StatusDone(status.seq, "not sent: unknown state", false);
    if (metrics_ != nullptr) metrics_->GithubDropped("rejected");
    CountCollapsed(job, status);
    return;
  }
  if (status.state == job.last_state) {
    // Only after folded changes can two rows in a row have one state: GitHub gets it once.
    claim.StatusDone(status.seq, "not sent: same state as the status before", final);
    CountCollapsed(job, status);
    return;
  }
  Response r = api_.CreateStatus(job.owner, job.repository, job.team, job.github_id, status.state,
                                 status.message, job.log_url, cancel);
  const Decision decision = Classify(r.answer, clock_.Now());
  if (decision.verdict == Verdict::kDone) {
    claim.StatusDone(status.seq, std::to_string(r.answer.status), final, status.state);
    CountCollapsed(job, status);
    spdlog::debug("deployment {}: {} status sent to GitHub deployment {}", job.deployment_id,
                  status.state, job.github_id);
    return;
  }
  if (decision.verdict == Verdict::kRejected && r.answer.status == 404) {
    const std::string reason = "GitHub deployment " + std::to_string(job.github_id) +
                               " not found in " + job.owner + "/" + job.repository;
    spdlog::error("deployment {}: {}; no more statuses are sent", job.deployment_id, reason);
    claim.Skip(reason);
    if (metrics_ != nullptr) metrics_->GithubDropped("rejected");
    CountCollapsed(job, status);
    return;
  }
  Failed(claim, r, "sending the " + status.state + " status", &status);
}

void Mirror::CountCollapsed(const Job& job, const OwedStatus& status) {
  if (status.collapsed <= 0) return;
  spdlog::warn(
      "deployment {}: {} state changes were not sent to GitHub: more than {} were waiting, so "
      "only the latest of them was",
      job.deployment_id, status.collapsed, kMaxPendingStatuses);
  if (metrics_ != nullptr) {
    metrics_->GithubDropped("collapsed", static_cast<std::uint64_t>(status.collapsed));
  }
}

void Mirror::Failed(Claim& claim, const Response& response, const std::string& what,
                    const OwedStatus* status) {
  const Job& job = claim.job();
  const Decision decision = Classify(response.answer, clock_.Now());
  const std::string error = what + ": " + Describe(response);
  std::string reason;
  switch (decision.verdict) {
    case Verdict::kDone:
      return;
    case Verdict::kRateLimited:
      spdlog::info("deployment {}: {}; rate limited until {}", job.deployment_id, error,
                   common::FormatRfc3339(decision.until));
      claim.Defer(decision.until, error);
      return;
    case Verdict::kRetry:
    case Verdict::kUnauthorized:
      if (job.attempts + 1 < options_.max_attempts) {
        const auto delay =
            RetryDelay(job.attempts, options_.retry_base, options_.retry_cap, Random());
        spdlog::warn("deployment {}: {}; retrying in {} ms", job.deployment_id, error,
                     delay.count());
        claim.Retry(delay, error);
        return;
      }
      reason = "gave up after " + std::to_string(job.attempts + 1) + " attempts: " + error;
      break;
    case Verdict::kRejected:
      reason = "GitHub refused it: " + error;
      break;
  }
  spdlog::error("deployment {} ({}/{}): {}", job.deployment_id, job.owner, job.repository, reason);
  if (metrics_ != nullptr) {
    metrics_->GithubDropped(decision.verdict == Verdict::kRejected ? "rejected"
                                                                   : "retries_exhausted");
  }
  if (status == nullptr) {
    claim.Skip(reason);
  } else {
    const auto state = common::ParseStateName(status->state);
    claim.StatusDone(status->seq, "not sent: " + reason, state && common::IsFinished(*state));
    CountCollapsed(job, *status);
  }
}

}  // namespace hookd::github
