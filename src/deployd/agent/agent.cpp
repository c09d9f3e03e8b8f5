#include "deployd/agent/agent.hpp"

#include <algorithm>
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
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deployd/agent/metrics.hpp"
#include "deployd/agent/rollout_watcher.hpp"
#include "deployd/agent/runner.hpp"
#include "deployd/agent/seen_ids.hpp"
#include "deployd/agent/status_queue.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/informer.hpp"

// g++ 12 pairs the allocation and deallocation of an inlined Asio coroutine frame wrongly here
// (-Wmismatched-new-delete on awaitable_frame_base::operator delete): a false positive, both come
// from awaitable_frame_base.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace deployd::agent {
namespace {

std::string ObjectKey(const nlohmann::json& object) {
  auto ref = kube::RefOf(object);
  return ref.kind + "/" + ref.namespace_ + "/" + ref.name;
}

// What discovery and a wait's preparation read of a manifest.
nlohmann::json Outline(const nlohmann::json& object) {
  nlohmann::json out = nlohmann::json::object();
  for (const char* key : {"apiVersion", "kind"}) {
    if (object.contains(key)) out[key] = object[key];
  }
  if (auto metadata = object.find("metadata"); metadata != object.end() && metadata->is_object()) {
    for (const char* key : {"name", "namespace"}) {
      if (metadata->contains(key)) out["metadata"][key] = (*metadata)[key];
    }
  }
  if (auto spec = object.find("spec"); spec != object.end() && spec->is_object()) {
    for (const char* key : {"selector", "type"}) {
      if (spec->contains(key)) out["spec"][key] = (*spec)[key];
    }
  }
  return out;
}

// One deployment's view of Kubernetes as its team. Used on the deployment's strand only.
class KubeTeamCluster final : public AsyncTeamCluster {
 public:
  KubeTeamCluster(kube::AsyncApplier& applier, RolloutWatcher& watcher, Metrics& metrics,
                  std::string team)
      : applier_(applier),
        watcher_(watcher),
        metrics_(metrics),
        team_(std::move(team)),
        user_(TeamServiceAccount(team_)) {
    // The runner checked already; the impersonated user is built from nothing else.
    common::RequireLabel("team", team_);
  }

  // Discovery, then the wait's watches (listed before the write), then the write.
  net::awaitable<nlohmann::json> Apply(nlohmann::json object) override {
    const std::string correlation_id = CorrelationOf(object);
    const nlohmann::json outline = Outline(object);
    auto target = co_await applier_.Resolve(outline, user_, team_);
    auto wait = co_await watcher_.Prepare(outline, target, user_, correlation_id);
    auto result = co_await applier_.Write(std::move(object), target, user_);
    auto ref = kube::RefOf(result.object);
    metrics_.ResourceApplied(team_, ref.kind, ref.name);
    const auto key = ObjectKey(result.object);
    auto claim = watcher_.ClaimObject(result.object, correlation_id);
    if (wait && watcher_.Applied(*wait, result, claim)) waits_[key] = std::move(wait);
    claims_[key] = std::move(claim);
    kube::TrimForCache(result.object);  // what the runner keeps of it until its wait
    co_return std::move(result.object);
  }

  net::awaitable<std::optional<Verdict>> AwaitRollout(nlohmann::json applied,
                                                      common::SystemTime deadline,
                                                      ProgressFn progress) override {
    auto it = waits_.find(ObjectKey(applied));
    if (it == waits_.end()) co_return std::nullopt;
    auto wait = std::move(it->second);
    waits_.erase(it);
    co_return co_await RolloutWatcher::Await(std::move(wait), deadline, std::move(progress));
  }

  net::awaitable<std::optional<nlohmann::json>> Get(nlohmann::json ref) override {
    const nlohmann::json outline = Outline(ref);
    auto target = co_await applier_.Resolve(outline, user_, team_);
    co_return co_await applier_.Get(target, kube::RefOf(outline).name, user_);
  }

  net::awaitable<nlohmann::json> Write(nlohmann::json object, bool dry_run) override {
    auto target = co_await applier_.Resolve(Outline(object), user_, team_);
    auto result = co_await applier_.Write(std::move(object), target, user_, dry_run);
    co_return std::move(result.object);
  }

  net::awaitable<std::vector<nlohmann::json>> List(std::string group, std::string kind,
                                                   std::string ns,
                                                   std::string label_selector) override {
    std::string api_version;
    std::optional<kube::AsyncApplier::Target> target;
    bool unknown = false;
    try {
      const std::string version = co_await applier_.PreferredVersion(group, user_);
      api_version = group.empty() ? version : group + "/" + version;
      const nlohmann::json outline = {
          {"apiVersion", api_version}, {"kind", kind}, {"metadata", {{"namespace", ns}}}};
      target = co_await applier_.Resolve(outline, user_, team_);
    } catch (const common::Error& e) {
      if (e.Code() != common::ErrorCode::kNotFound) throw;
      unknown = true;  // no longer served: nothing of it to list
    }
    if (unknown) co_return std::vector<nlohmann::json>{};
    auto items = co_await applier_.List(*target, label_selector, user_);
    for (auto& item : items) {
      item["apiVersion"] = api_version;
      item["kind"] = kind;
    }
    co_return items;
  }

  net::awaitable<void> Delete(nlohmann::json object) override {
    const nlohmann::json outline = Outline(object);
    auto target = co_await applier_.Resolve(outline, user_, team_);
    std::string uid;
    if (object.contains("metadata") && object["metadata"].is_object()) {
      uid = object["metadata"].value("uid", "");
    }
    co_await applier_.Delete(target, kube::RefOf(outline).name, uid, user_);
  }

 private:
  static std::string CorrelationOf(const nlohmann::json& object) {
    return object["metadata"]["annotations"].value(kCorrelationAnnotation, "");
  }

  kube::AsyncApplier& applier_;
  RolloutWatcher& watcher_;
  Metrics& metrics_;
  std::string team_;
  std::string user_;
  std::map<std::string, std::shared_ptr<RolloutWait>> waits_;
  std::map<std::string, std::shared_ptr<RolloutWatcher::Claim>> claims_;
};

class KubeClusterFactory final : public AsyncClusterFactory {
 public:
  KubeClusterFactory(kube::AsyncApplier& applier, RolloutWatcher& watcher, Metrics& metrics)
      : applier_(applier), watcher_(watcher), metrics_(metrics) {}
  std::unique_ptr<AsyncTeamCluster> ForTeam(const std::string& team) override {
    return std::make_unique<KubeTeamCluster>(applier_, watcher_, metrics_, team);
  }

 private:
  kube::AsyncApplier& applier_;
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
        common::LogWith(spdlog::level::debug,
                        common::DeploymentFields(status.request().id(), status.request().team(),
                                                 status.request().cluster()),
                        "deployment {}: status {} not reported: given up", status.request().id(),
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
  // Declared before everything that uses it: destroyed last, after whatever its pending
  // handlers refer to is gone (they only let go of it).
  net::io_context io;
  net::executor_work_guard<net::io_context::executor_type> work;
  kube::AsyncKubeClient kube;
  kube::AsyncDiscovery discovery{kube};
  kube::AsyncApplier applier;
  kube::InformerRegistry informers;
  RolloutWatcher watcher;
  KubeClusterFactory clusters{applier, watcher, metrics};
  HookdClient hookd;
  StatusReporter reporter;
  Sink sink{*this};
  common::SystemClock clock;
  std::unique_ptr<MetricsServer> metrics_server;

  std::mutex mutex;
  std::condition_variable changed;
  std::deque<pb::DeploymentRequest> pending;
  // Every deployment ID accepted (bounded, see seen_ids.hpp): a redelivered one is not run again.
  SeenIds seen;
  // Accepted and not yet done (waiting for its turn or running): given up?
  std::map<std::string, bool> active;
  // Running deployments that were cancelled: who cancelled them ("team <t> (reason: <r>)").
  std::map<std::string, std::string> cancelled;
  int running = 0;
  int io_threads_running = 0;
  bool stopping = false;
  std::vector<std::thread> io_threads;

  explicit Impl(AgentOptions o)
      : options(std::move(o)),
        io(std::max(1, options.threads)),
        work(net::make_work_guard(io)),
        kube(io.get_executor(), options.kube),
        applier(kube, discovery, options.apply),
        informers(io.get_executor(), kube),
        watcher(informers, options.rollout, &kube),
        hookd(options.hookd),
        reporter(
            io.get_executor(),
            [this](const pb::DeploymentStatus& s, std::function<void(RpcResult)> done) {
              hookd.ReportStatusAsync(s, std::move(done));
            },
            options.status_flush_interval,
            [this](const pb::DeploymentStatus& s, bool) { metrics.StatusReported(s.state()); }) {
    kube.SetRateLimit(options.kube_qps, options.kube_burst);
    metrics_server = std::make_unique<MetricsServer>(
        io.get_executor(), options.metrics_listen_address, options.metrics_path, metrics,
        [this] { return hookd.Connected(); });
    const int n = std::max(1, options.threads);
    try {
      // Room first: a thread that started is never dropped unjoined by a failing push_back.
      io_threads.reserve(static_cast<std::size_t>(n));
      for (int i = 0; i < n; ++i) io_threads.emplace_back([this] { RunEngine(); });
    } catch (const std::system_error& e) {
      StopEngine();  // join the ones that started before anything is destroyed
      throw common::Error(common::ErrorCode::kUnavailable,
                          fmt::format("cannot start {} engine threads: {}", n, e.what()));
    } catch (...) {
      StopEngine();
      throw;
    }
    try {
      reporter.Start();
    } catch (...) {
      StopEngine();
      throw;
    }
  }

  // An engine thread. A handler that throws is logged and the thread goes on: nothing throws
  // past it.
  void RunEngine() {
    {
      std::lock_guard lock(mutex);
      ++io_threads_running;
    }
    for (;;) {
      try {
        io.run();
        break;
      } catch (const std::exception& e) {
        spdlog::error("engine: unexpected error: {}", e.what());
      } catch (...) {
        spdlog::error("engine: unexpected error");
      }
    }
    std::lock_guard lock(mutex);
    --io_threads_running;
    changed.notify_all();
  }

  // From the receiver thread: remembers the ID, confirms the request to hookd at once (before it
  // waits for its turn) and queues it. A request whose ID was accepted before is ignored.
  void Accept(pb::DeploymentRequest request) {
    if (request.cancel()) {
      Cancel(request);
      return;
    }
    const auto now = clock.Now();
    const auto deadline = common::FromTimestamp(request.deadline());
    std::unique_lock lock(mutex);
    if (!seen.Insert(request.id(), std::max(deadline, now) + kRememberAfterDeadline, now)) {
      common::LogWith(spdlog::level::info,
                      common::DeploymentFields(request.id(), request.team(), request.cluster()),
                      "deployment {}: delivered again; this deployd already has it, ignored",
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
    StartMore(lock);
  }

  // Starts queued deployments while fewer than --max-concurrent-deployments run, each as a
  // coroutine on a strand of its own. Spawns after letting go of the lock (a deployment's first
  // steps take it).
  template <typename Lock>
  void StartMore(Lock& lock) {
    std::vector<pb::DeploymentRequest> starting;
    while (!stopping && running < std::max(1, options.max_concurrent_deployments) &&
           !pending.empty()) {
      starting.push_back(std::move(pending.front()));
      pending.pop_front();
      ++running;
    }
    lock.unlock();
    for (auto& request : starting) {
      const std::string id = request.id();
      net::co_spawn(net::make_strand(io), RunOne(this, std::move(request)),
                    [this, id](const std::exception_ptr& error) { Finished(id, error); });
    }
  }

  static net::awaitable<void> RunOne(Impl* impl, pb::DeploymentRequest request) {
    impl->metrics.DeploymentStarted();
    RunOptions run{impl->options.hookd.cluster, nullptr, nullptr};
    run.cancelled = [impl, id = request.id()]() -> std::optional<std::string> {
      std::lock_guard lock(impl->mutex);
      auto it = impl->cancelled.find(id);
      if (it == impl->cancelled.end()) return std::nullopt;
      return it->second;
    };
    run.abandoned = [impl, id = request.id()] {
      std::lock_guard lock(impl->mutex);
      auto it = impl->active.find(id);
      return it != impl->active.end() && it->second;
    };
    co_await RunDeploymentAsync(std::move(request), impl->clusters, impl->sink, impl->clock,
                                std::move(run));
    impl->metrics.DeploymentFinished();
  }

  void Finished(const std::string& id, const std::exception_ptr& error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        spdlog::error("deployment {}: unexpected error: {}", id, e.what());
      } catch (...) {
        spdlog::error("deployment {}: unexpected error", id);
      }
    }
    std::unique_lock lock(mutex);
    active.erase(id);
    cancelled.erase(id);
    --running;
    const bool idle = running == 0 && pending.empty();
    changed.notify_all();
    StartMore(lock);           // unlocks
    if (idle) malloc_trim(0);  // give the rollouts' buffers back to the system (RSS while idle)
  }

  // A cancel from hookd (request.cancel): a deployment waiting for its turn ends at once with
  // nothing applied; a running one is marked (its runner applies nothing more and reports the
  // final status) and its waits end now. A cancel of a deployment this deployd does not have (or
  // no longer has) is ignored.
  void Cancel(const pb::DeploymentRequest& message) {
    std::string by = message.cancelledby().empty() ? "hookd" : message.cancelledby();
    if (!message.cancelreason().empty()) by += " (reason: " + message.cancelreason() + ")";
    const auto fields = common::DeploymentFields(message.id(), message.team(), message.cluster());
    {
      std::lock_guard lock(mutex);
      auto waiting = std::find_if(pending.begin(), pending.end(),
                                  [&](const auto& r) { return r.id() == message.id(); });
      if (waiting != pending.end()) {
        pb::DeploymentStatus status;
        *status.mutable_request() = *waiting;
        status.mutable_request()->clear_kubernetes();
        *status.mutable_time() = common::ToTimestamp(clock.Now());
        status.set_state(pb::DeploymentState::failure);
        status.set_message(
            CancelMessage(by, 0, static_cast<std::size_t>(waiting->kubernetes().resources_size())));
        pending.erase(waiting);
        active.erase(message.id());
        reporter.Push(std::move(status));
        common::LogWith(spdlog::level::info, fields,
                        "deployment {}: cancelled by {} before it started", message.id(), by);
        return;
      }
      auto it = active.find(message.id());
      if (it == active.end() || it->second) {
        common::LogWith(spdlog::level::info, fields,
                        "deployment {}: cancel by {} ignored: this deployd is not running it",
                        common::Quote(message.id()), by);
        return;
      }
      if (!cancelled.emplace(message.id(), by).second) return;  // cancelled already
    }
    common::LogWith(spdlog::level::info, fields, "deployment {}: cancelled by {}; stopping it",
                    message.id(), by);
    watcher.Abandon({message.id()}, "cancelled by " + by);
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

  // No new deployment starts; returns when the running ones are done.
  void StopDeployments() {
    std::unique_lock lock(mutex);
    stopping = true;
    changed.wait(lock, [this] { return running == 0; });
  }

  // Lets the engine threads finish what is left (a few seconds at most), then joins them.
  void StopEngine() {
    informers.StopAll();
    work.reset();
    {
      std::unique_lock lock(mutex);
      changed.wait_for(lock, std::chrono::seconds(3), [this] { return io_threads_running == 0; });
    }
    io.stop();
    for (auto& t : io_threads) {
      if (t.joinable()) t.join();
    }
  }
};

Agent::Agent(AgentOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Agent::~Agent() {
  Stop();
  impl_->watcher.Shutdown();  // running rollout waits end now, with a status saying why
  impl_->StopDeployments();
  impl_->reporter.Stop(std::chrono::seconds(2));
  impl_->metrics_server->Stop();
  impl_->StopEngine();
}

void Agent::Run() {
  impl_->hookd.RunReceiver([this](pb::DeploymentRequest r) { impl_->Accept(std::move(r)); },
                           [this](const std::string& reason) { impl_->GiveUp(reason); });
}

void Agent::Stop() { impl_->hookd.Stop(); }

int Agent::MetricsPort() const { return impl_->metrics_server->Port(); }

}  // namespace deployd::agent
