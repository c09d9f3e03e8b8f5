#include "deployd/agent/runner.hpp"

#include <algorithm>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deployd/kube/apply.hpp"

namespace deployd::agent {
namespace {

class Reporter {
 public:
  // Statuses carry the request without its manifests: hookd and its subscribers only read the
  // request's ID, and copying (then serialising) every resource into every status made a large
  // deployment cost O(resources^2).
  Reporter(const pb::DeploymentRequest& request, StatusSink& sink, const common::Clock& clock)
      : request_(request), sink_(sink), clock_(clock) {
    request_.clear_kubernetes();
  }

  void operator()(pb::DeploymentState state, const std::string& message) const {
    pb::DeploymentStatus status;
    *status.mutable_request() = request_;
    *status.mutable_time() = common::ToTimestamp(clock_.Now());
    status.set_state(state);
    status.set_message(message);
    spdlog::info("deployment {}: {}: {}", request_.id(), common::StateName(state), message);
    sink_.Report(std::move(status));
  }

  const std::string& Id() const { return request_.id(); }

 private:
  pb::DeploymentRequest request_;
  StatusSink& sink_;
  const common::Clock& clock_;
};

int OrderRank(const nlohmann::json& object) {
  auto kind = object.is_object() ? object.value("kind", "") : "";
  auto api_version = object.is_object() ? object.value("apiVersion", "") : "";
  if (kind == "Namespace" && api_version == "v1") return 0;
  if (kind == "CustomResourceDefinition" && api_version.rfind("apiextensions.k8s.io/", 0) == 0)
    return 1;
  return 2;
}

}  // namespace

std::string TeamServiceAccount(const std::string& team) {
  return fmt::format("system:serviceaccount:{}:serviceuser-{}", team, team);
}

std::string FailureSummary(const std::string& first_error, std::size_t count) {
  return fmt::format("{} (total of {} errors)", first_error, count);
}

std::vector<nlohmann::json> OrderForApply(std::vector<nlohmann::json> resources) {
  std::stable_sort(
      resources.begin(), resources.end(),
      [](const nlohmann::json& a, const nlohmann::json& b) { return OrderRank(a) < OrderRank(b); });
  return resources;
}

namespace {

// "<Kind>/<name>", as rollout verdicts name a resource.
std::string KindSlashName(const nlohmann::json& object) {
  auto ref = kube::RefOf(object);
  return ref.kind + "/" + ref.name;
}

// The verdict for a wait that never got its threads.
Verdict NoThreads(const nlohmann::json& object, const ThreadBudget& budget) {
  if (budget.ShuttingDown()) {
    return Verdict{pb::DeploymentState::failure,
                   fmt::format("{}: deployd is shutting down", KindSlashName(object))};
  }
  return Verdict{pb::DeploymentState::error,
                 fmt::format("timeout while waiting for deployment to succeed; still waiting: a "
                             "free thread to watch {} (--max-rollout-threads)",
                             KindSlashName(object))};
}

// Waits spawned by a flow, all on its executor: counts them and wakes the flow when the last
// one is done.
struct WaitGroup {
  explicit WaitGroup(const net::any_io_executor& ex) : wake(ex) {}
  net::system_timer wake;
  int outstanding = 0;
  std::exception_ptr error;

  void Done(const std::exception_ptr& e) {
    if (e && !error) error = e;
    --outstanding;
    wake.cancel();
  }
  net::awaitable<void> Join() {
    while (outstanding > 0) {
      wake.expires_at(common::SystemTime::max());
      boost::system::error_code ignored;
      co_await wake.async_wait(net::redirect_error(net::use_awaitable, ignored));
    }
  }
};

using RecordFn = std::function<void(const std::optional<Verdict>&)>;

// One wait: its verdict (an exception from it becomes an error verdict) is recorded. `record`
// lives in the flow's frame, which outlives every wait it spawned (it joins them).
net::awaitable<void> RecordWait(net::awaitable<std::optional<Verdict>> wait,
                                const RecordFn* record) {
  std::optional<Verdict> verdict;
  try {
    verdict = co_await std::move(wait);
  } catch (const std::exception& e) {
    verdict = Verdict{pb::DeploymentState::error, e.what()};
  }
  (*record)(verdict);
}

// `report` and `options` live in RunDeploymentAsync's frame, which outlives this call.
net::awaitable<void> Flow(pb::DeploymentRequest request, AsyncClusterFactory& clusters,
                          const Reporter& report, const common::Clock& clock,
                          const RunOptions& options) {
  // Identities first: the team becomes the impersonated user of every Kubernetes call.
  if (auto invalid = common::InvalidLabel("team", request.team())) {
    report(pb::DeploymentState::error, *invalid);
    co_return;
  }
  if (request.cluster() != options.cluster) {
    report(pb::DeploymentState::error,
           fmt::format("deployment request is for cluster {}, but this deployd serves cluster {}",
                       common::Quote(request.cluster()), common::Quote(options.cluster)));
    co_return;
  }
  // An unset deadline is the Unix epoch, i.e. already expired (as in the original).
  const auto deadline = common::FromTimestamp(request.deadline());
  if (!request.has_deadline() || clock.Now() >= deadline) {
    report(pb::DeploymentState::failure, "context deadline exceeded");
    co_return;
  }

  std::vector<nlohmann::json> resources;
  for (int i = 0; i < request.kubernetes().resources_size(); ++i) {
    auto object = common::StructToJson(request.kubernetes().resources(i));
    if (!object.contains("kind") || !object["kind"].is_string() || object["kind"] == "") {
      report(pb::DeploymentState::failure,
             fmt::format("resource {}: decoding payload: Object 'Kind' is missing in '{}'", i + 1,
                         object.dump()));
      co_return;
    }
    resources.push_back(std::move(object));
  }
  request.clear_kubernetes();  // the JSON copies are all that is needed from here on
  if (resources.empty()) {
    report(pb::DeploymentState::failure, "no resources to deploy");
    co_return;
  }

  std::unique_ptr<AsyncTeamCluster> cluster;
  std::string refused;
  try {
    cluster = clusters.ForTeam(request.team());
  } catch (const std::exception& e) {
    refused = e.what();
  }
  if (!cluster) {
    report(pb::DeploymentState::error, refused);
    co_return;
  }

  std::vector<std::string> errors;
  std::vector<nlohmann::json> applied;
  const ProgressFn progress = [&report](const std::string& message) {
    report(pb::DeploymentState::in_progress, message);
  };
  const RecordFn record = [&errors, &report](const std::optional<Verdict>& verdict) {
    if (!verdict) return;
    if (common::IsErrorState(verdict->state)) errors.push_back(verdict->message);
    report(pb::DeploymentState::in_progress, verdict->message);
  };
  const auto given_up = [&options, &request] {
    if (!options.abandoned || !options.abandoned()) return false;
    spdlog::info(
        "deployment {}: given up (another deployd took over the cluster); nothing more "
        "is applied or reported",
        request.id());
    return true;
  };
  auto ordered = OrderForApply(std::move(resources));
  for (auto& object : ordered) {
    if (given_up()) co_return;
    if (!object.contains("metadata") || !object["metadata"].is_object()) {
      object["metadata"] = nlohmann::json::object();
    }
    auto& metadata = object["metadata"];
    if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) {
      metadata["annotations"] = nlohmann::json::object();
    }
    metadata["annotations"][kCorrelationAnnotation] = request.id();
    const auto identifier = kube::Identifier(kube::RefOf(object));
    const bool crd = OrderRank(object) == 1;
    nlohmann::json stored;
    std::string apply_error;
    try {
      stored = co_await cluster->Apply(std::move(object));
    } catch (const std::exception& e) {
      apply_error = e.what();
    }
    if (!apply_error.empty() || stored.is_null()) {
      errors.push_back(fmt::format("{}: {}", identifier, apply_error));
      break;
    }
    report(pb::DeploymentState::in_progress, fmt::format("Successfully applied {}", identifier));
    if (crd) {
      // A CRD must be Established before resources of its kinds can be written.
      std::optional<Verdict> verdict;
      std::string wait_error;
      try {
        verdict = co_await cluster->AwaitRollout(std::move(stored), deadline, progress);
      } catch (const std::exception& e) {
        wait_error = e.what();
      }
      if (!wait_error.empty()) verdict = Verdict{pb::DeploymentState::error, wait_error};
      record(verdict);
      if (verdict && common::IsErrorState(verdict->state)) break;
      continue;
    }
    applied.push_back(std::move(stored));
  }
  ordered.clear();
  if (given_up()) co_return;
  report(pb::DeploymentState::in_progress, kAllSavedMessage);

  // Every wait at once, each a coroutine on this executor. A wait that starts late still judges
  // the whole rollout (its watches were set up before the write).
  const auto executor = co_await net::this_coro::executor;
  WaitGroup group(executor);
  bool stopped = false;
  std::exception_ptr thrown;
  for (auto& object : applied) {
    if (given_up()) {
      stopped = true;
      break;
    }
    try {
      auto wait = cluster->AwaitRollout(std::move(object), deadline, progress);
      ++group.outstanding;
      WaitGroup* joined = &group;  // the frame outlives the waits: Join below
      net::co_spawn(
          executor, RecordWait(std::move(wait), &record),
          net::bind_executor(executor, [joined](const std::exception_ptr& e) { joined->Done(e); }));
    } catch (...) {
      thrown = std::current_exception();
      break;
    }
  }
  applied.clear();
  co_await group.Join();
  if (thrown) std::rethrow_exception(thrown);
  if (group.error) std::rethrow_exception(group.error);
  if (stopped || (options.abandoned && options.abandoned())) co_return;

  if (!errors.empty()) {
    report(pb::DeploymentState::failure, FailureSummary(errors.front(), errors.size()));
  } else {
    report(pb::DeploymentState::success, std::string(common::kSuccessMessage));
  }
}

// ---- blocking clusters --------------------------------------------------------------------------

// The verdict of a wait that runs on a thread, handed to the flow's executor.
struct ThreadResult {
  explicit ThreadResult(const net::any_io_executor& ex) : executor(ex), wake(ex) {}
  net::any_io_executor executor;
  net::system_timer wake;
  std::optional<std::optional<Verdict>> verdict;  // set on the executor
};

net::awaitable<std::optional<Verdict>> Ready(std::optional<Verdict> verdict) { co_return verdict; }

net::awaitable<std::optional<Verdict>> AwaitThread(std::shared_ptr<ThreadResult> result) {
  while (!result->verdict) {
    result->wake.expires_at(common::SystemTime::max());
    boost::system::error_code ignored;
    co_await result->wake.async_wait(net::redirect_error(net::use_awaitable, ignored));
  }
  co_return *result->verdict;
}

// A blocking TeamCluster driven by the flow: Apply runs on the flow's thread, each wait that
// needs threads on one of its own, with slots from the budget for it and the threads it starts.
// Its destructor joins them: nothing throws past a joinable thread.
class BlockingCluster final : public AsyncTeamCluster {
 public:
  BlockingCluster(std::unique_ptr<TeamCluster> inner, ThreadBudget* budget,
                  net::any_io_executor executor)
      : inner_(std::move(inner)), budget_(budget), executor_(std::move(executor)) {}
  ~BlockingCluster() override {
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  BlockingCluster(const BlockingCluster&) = delete;
  BlockingCluster& operator=(const BlockingCluster&) = delete;

  net::awaitable<nlohmann::json> Apply(nlohmann::json object) override {
    co_return inner_->Apply(object);
  }

  // Not a coroutine: the slots are taken and the thread is started when the flow calls it, in
  // the order of the resources, as the original runner did.
  net::awaitable<std::optional<Verdict>> AwaitRollout(nlohmann::json applied,
                                                      common::SystemTime deadline,
                                                      ProgressFn progress) override {
    const int threads = inner_->RolloutThreads(applied);  // may throw: ends the deployment
    if (threads == 0) return Ready(Wait(*inner_, applied, deadline, progress));
    ThreadBudget::Lease lease;
    if (budget_ != nullptr) {
      auto granted = budget_->Acquire(threads + 1, deadline);
      if (!granted) return Ready(NoThreads(applied, *budget_));
      lease = std::move(*granted);
    }
    auto result = std::make_shared<ThreadResult>(executor_);
    auto held = std::make_shared<ThreadBudget::Lease>(std::move(lease));
    auto object = std::make_shared<nlohmann::json>(std::move(applied));
    TeamCluster* inner = inner_.get();
    try {
      StartThreadInto(threads_, [inner, object, deadline, progress, result, held] {
        std::optional<Verdict> verdict;
        try {
          verdict = Wait(*inner, *object, deadline, progress);
        } catch (...) {
          verdict = Verdict{pb::DeploymentState::error, "unknown error"};
        }
        net::post(result->executor, [result, verdict] {
          result->verdict = verdict;
          result->wake.cancel();
        });
      });
    } catch (const std::system_error& e) {
      return Ready(Verdict{pb::DeploymentState::error,
                           fmt::format("{}: cannot start a thread to wait for the rollout: {}",
                                       KindSlashName(*object), e.what())});
    }
    return AwaitThread(result);
  }

 private:
  static std::optional<Verdict> Wait(TeamCluster& inner, const nlohmann::json& object,
                                     common::SystemTime deadline, const ProgressFn& progress) {
    try {
      return inner.AwaitRollout(object, deadline, progress);
    } catch (const std::exception& e) {
      return Verdict{pb::DeploymentState::error, e.what()};
    }
  }

  std::unique_ptr<TeamCluster> inner_;
  ThreadBudget* budget_;
  net::any_io_executor executor_;
  std::vector<std::thread> threads_;
};

class BlockingFactory final : public AsyncClusterFactory {
 public:
  BlockingFactory(ClusterFactory& inner, ThreadBudget* budget, net::any_io_executor executor)
      : inner_(inner), budget_(budget), executor_(std::move(executor)) {}
  std::unique_ptr<AsyncTeamCluster> ForTeam(const std::string& team) override {
    return std::make_unique<BlockingCluster>(inner_.ForTeam(team), budget_, executor_);
  }

 private:
  ClusterFactory& inner_;
  ThreadBudget* budget_;
  net::any_io_executor executor_;
};

}  // namespace

net::awaitable<void> RunDeploymentAsync(pb::DeploymentRequest request,
                                        AsyncClusterFactory& clusters, StatusSink& sink,
                                        const common::Clock& clock, RunOptions options) {
  // The reporter keeps the request without its manifests; they are not copied for it.
  pb::Kubernetes* manifests = request.release_kubernetes();
  const Reporter report(request, sink, clock);
  request.set_allocated_kubernetes(manifests);
  std::string failure;
  try {
    co_await Flow(std::move(request), clusters, report, clock, options);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown error";
  }
  if (failure.empty()) co_return;
  try {
    report(pb::DeploymentState::error,
           fmt::format("deployd could not process the deployment: {}", failure));
  } catch (const std::exception& e) {
    spdlog::error("deployment {}: {}", report.Id(), e.what());
  }
}

void RunDeployment(const pb::DeploymentRequest& request, ClusterFactory& clusters, StatusSink& sink,
                   const common::Clock& clock, const RunOptions& options) {
  net::io_context io(1);
  BlockingFactory factory(clusters, options.threads, io.get_executor());
  net::co_spawn(io, RunDeploymentAsync(request, factory, sink, clock, options), net::detached);
  io.run();
}

}  // namespace deployd::agent
