#include "deployd/agent/agent.hpp"

#include <condition_variable>
#include <deque>
#include <map>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <malloc.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deployd/agent/metrics.hpp"
#include "deployd/agent/rollout_watcher.hpp"
#include "deployd/agent/runner.hpp"
#include "deployd/agent/seen_ids.hpp"
#include "deployd/agent/status_queue.hpp"
#include "deployd/agent/thread_budget.hpp"
#include "deployd/kube/kube_client.hpp"

namespace deployd::agent {
namespace {

std::string ObjectKey(const nlohmann::json& object) {
  auto ref = kube::RefOf(object);
  return ref.kind + "/" + ref.namespace_ + "/" + ref.name;
}

class KubeTeamCluster final : public TeamCluster {
 public:
  KubeTeamCluster(kube::Applier& applier, RolloutWatcher& watcher, Metrics& metrics,
                  std::string team)
      : applier_(applier),
        watcher_(watcher),
        metrics_(metrics),
        team_(std::move(team)),
        user_(TeamServiceAccount(team_)) {
    // The runner checked already; the impersonated user is built from nothing else.
    common::RequireLabel("team", team_);
  }

  nlohmann::json Apply(const nlohmann::json& object) override {
    auto result = applier_.Apply(object, user_, team_);
    auto ref = kube::RefOf(object);
    metrics_.ResourceApplied(team_, ref.kind, ref.name);
    auto claim = watcher_.ClaimObject(result.object, CorrelationOf(object));
    std::lock_guard lock(mutex_);
    correlation_id_ = CorrelationOf(object);  // the runner sets it on every resource
    results_[ObjectKey(result.object)] = result;
    claims_[ObjectKey(result.object)] = std::move(claim);
    return result.object;
  }

  int RolloutThreads(const nlohmann::json& applied) override {
    std::lock_guard lock(mutex_);
    auto it = results_.find(ObjectKey(applied));
    return it == results_.end() ? 0 : RolloutWatcher::Threads(it->second);
  }

  std::optional<Verdict> AwaitRollout(
      const nlohmann::json& applied, common::SystemTime deadline,
      const std::function<void(const std::string&)>& progress) override {
    kube::ApplyResult result;
    std::string correlation_id;
    std::shared_ptr<RolloutWatcher::Claim> claim;
    {
      std::lock_guard lock(mutex_);
      correlation_id = correlation_id_;
      claim = claims_[ObjectKey(applied)];
      auto it = results_.find(ObjectKey(applied));
      if (it == results_.end()) return std::nullopt;
      result = it->second;
    }
    return watcher_.Await(result, user_, correlation_id, deadline, progress, claim);
  }

 private:
  static std::string CorrelationOf(const nlohmann::json& object) {
    return object["metadata"]["annotations"].value(kCorrelationAnnotation, "");
  }

  kube::Applier& applier_;
  RolloutWatcher& watcher_;
  Metrics& metrics_;
  std::string team_;
  std::string user_;
  std::string correlation_id_;
  std::mutex mutex_;
  std::map<std::string, kube::ApplyResult> results_;
  std::map<std::string, std::shared_ptr<RolloutWatcher::Claim>> claims_;
};

class KubeClusterFactory final : public ClusterFactory {
 public:
  KubeClusterFactory(kube::Applier& applier, RolloutWatcher& watcher, Metrics& metrics)
      : applier_(applier), watcher_(watcher), metrics_(metrics) {}
  std::unique_ptr<TeamCluster> ForTeam(const std::string& team) override {
    return std::make_unique<KubeTeamCluster>(applier_, watcher_, metrics_, team);
  }

 private:
  kube::Applier& applier_;
  RolloutWatcher& watcher_;
  Metrics& metrics_;
};

}  // namespace

struct Agent::Impl {
  // Statuses of deployments this deployd has given up (another deployd took over the cluster)
  // are dropped, never reported.
  class Sink final : public StatusSink {
   public:
    explicit Sink(Impl& impl) : impl_(impl) {}
    void Report(pb::DeploymentStatus status) override {
      std::lock_guard lock(impl_.mutex);
      auto it = impl_.active.find(status.request().id());
      if (it != impl_.active.end() && it->second) {
        spdlog::debug("deployment {}: status {} not reported: given up", status.request().id(),
                      common::StateName(status.state()));
        return;
      }
      impl_.reporter.Push(std::move(status));
    }

   private:
    Impl& impl_;
  };

  AgentOptions options;
  Metrics metrics;
  kube::KubeClient kube;
  kube::Discovery discovery{kube};
  kube::Applier applier;
  RolloutWatcher watcher;
  KubeClusterFactory clusters{applier, watcher, metrics};
  HookdClient hookd;
  StatusReporter reporter;
  Sink sink{*this};
  common::SystemClock clock;
  std::unique_ptr<MetricsServer> metrics_server;
  ThreadBudget rollout_threads{options.max_rollout_threads};
  RunOptions run_options{options.hookd.cluster, &rollout_threads, nullptr};

  std::mutex mutex;
  std::condition_variable work_ready;
  std::deque<pb::DeploymentRequest> pending;
  // Every deployment ID accepted (bounded, see seen_ids.hpp): a redelivered one is not run again.
  SeenIds seen;
  // Accepted and not yet done (waiting for a worker or running): given up?
  std::map<std::string, bool> active;
  bool stopping = false;
  std::vector<std::thread> workers;

  explicit Impl(AgentOptions o)
      : options(std::move(o)),
        kube(options.kube),
        applier(kube, discovery, options.apply),
        watcher(kube, options.rollout),
        hookd(options.hookd),
        reporter(
            [this](const pb::DeploymentStatus& s) { return hookd.ReportStatus(s); },
            options.status_flush_interval,
            [this](const pb::DeploymentStatus& s, bool) { metrics.StatusReported(s.state()); }) {
    kube.SetRateLimit(options.kube_qps, options.kube_burst);
    metrics_server =
        std::make_unique<MetricsServer>(options.metrics_listen_address, options.metrics_path,
                                        metrics, [this] { return hookd.Connected(); });
    int n = std::max(1, options.max_concurrent_deployments);
    try {
      for (int i = 0; i < n; ++i) StartThreadInto(workers, [this] { Work(); });
    } catch (const std::system_error& e) {
      StopWorkers();  // join the ones that started before anything is destroyed
      throw common::Error(common::ErrorCode::kUnavailable,
                          fmt::format("cannot start {} deployment workers: {}", n, e.what()));
    }
  }

  // From the receiver thread: remembers the ID, confirms the request to hookd at once (before it
  // waits for a worker) and queues it. A request whose ID was accepted before is ignored.
  void Accept(pb::DeploymentRequest request) {
    const auto now = clock.Now();
    const auto deadline = common::FromTimestamp(request.deadline());
    std::lock_guard lock(mutex);
    if (!seen.Insert(request.id(), std::max(deadline, now) + kRememberAfterDeadline, now)) {
      spdlog::info("deployment {}: delivered again; this deployd already has it, ignored",
                   common::Quote(request.id()));
      return;
    }
    active[request.id()] = false;
    pb::DeploymentStatus received;
    *received.mutable_request() = request;
    received.mutable_request()->clear_kubernetes();
    *received.mutable_time() = common::ToTimestamp(now);
    received.set_state(pb::DeploymentState::in_progress);
    received.set_message(kReceivedMessage);
    reporter.Push(std::move(received));
    pending.push_back(std::move(request));
    work_ready.notify_one();
  }

  // hookd replaced this deployd's stream by another deployd's: stop working on every deployment
  // this one has (drop the queued ones, end the running ones' waits, apply nothing more) and
  // report nothing more about them.
  void GiveUp(const std::string& reason) {
    std::set<std::string> ids;
    std::size_t queued = 0;
    std::size_t dropped = 0;
    {
      std::lock_guard lock(mutex);
      queued = pending.size();
      for (const auto& request : pending) {
        ids.insert(request.id());
        active.erase(request.id());
      }
      pending.clear();
      for (auto& [id, given_up] : active) {
        given_up = true;
        ids.insert(id);
      }
      dropped = reporter.DropIf(
          [&ids](const pb::DeploymentStatus& s) { return ids.count(s.request().id()) != 0; });
    }
    watcher.Abandon(ids, "another deployd took over the cluster");
    spdlog::warn(
        "gave up {} deployments ({} not started yet) and dropped {} statuses not yet reported "
        "for them: {}",
        ids.size(), queued, dropped, reason);
  }

  void Work() {
    for (;;) {
      pb::DeploymentRequest request;
      {
        std::unique_lock lock(mutex);
        work_ready.wait(lock, [this] { return stopping || !pending.empty(); });
        if (stopping) return;
        request = std::move(pending.front());
        pending.pop_front();
      }
      metrics.DeploymentStarted();
      RunOptions run = run_options;
      run.abandoned = [this, id = request.id()] {
        std::lock_guard lock(mutex);
        auto it = active.find(id);
        return it != active.end() && it->second;
      };
      try {
        RunDeployment(request, clusters, sink, clock, run);
      } catch (const std::exception& e) {
        spdlog::error("deployment {}: unexpected error: {}", request.id(), e.what());
      }
      {
        std::lock_guard lock(mutex);
        active.erase(request.id());
      }
      metrics.DeploymentFinished();
      malloc_trim(0);  // give the rollout's buffers back to the system (RSS while idle)
    }
  }

  void StopWorkers() {
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      stopping = true;
      work_ready.notify_all();
    }
    for (auto& t : workers) {
      if (t.joinable()) t.join();
    }
  }
};

Agent::Agent(AgentOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Agent::~Agent() {
  Stop();
  impl_->watcher.Shutdown();          // running rollout waits end now, with a status saying why
  impl_->rollout_threads.Shutdown();  // and those still waiting for a thread
  impl_->StopWorkers();
  impl_->reporter.Stop(std::chrono::seconds(2));
  impl_->metrics_server->Stop();
}

void Agent::Run() {
  impl_->hookd.RunReceiver([this](pb::DeploymentRequest r) { impl_->Accept(std::move(r)); },
                           [this](const std::string& reason) { impl_->GiveUp(reason); });
}

void Agent::Stop() { impl_->hookd.Stop(); }

int Agent::MetricsPort() const { return impl_->metrics_server->Port(); }

}  // namespace deployd::agent
