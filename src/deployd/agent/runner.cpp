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

// Joins on every way out of the scope, so that nothing throws past a joinable thread.
struct JoinAll {
  explicit JoinAll(std::vector<std::thread>& t) : threads(t) {}
  std::vector<std::thread>& threads;
  JoinAll(const JoinAll&) = delete;
  JoinAll& operator=(const JoinAll&) = delete;
  ~JoinAll() {
    for (auto& t : threads) {
      if (t.joinable()) t.join();
    }
  }
};

void Run(const pb::DeploymentRequest& request, ClusterFactory& clusters, const Reporter& report,
         const common::Clock& clock, const RunOptions& options) {
  // Identities first: the team becomes the impersonated user of every Kubernetes call.
  if (auto invalid = common::InvalidLabel("team", request.team())) {
    report(pb::DeploymentState::error, *invalid);
    return;
  }
  if (request.cluster() != options.cluster) {
    report(pb::DeploymentState::error,
           fmt::format("deployment request is for cluster {}, but this deployd serves cluster {}",
                       common::Quote(request.cluster()), common::Quote(options.cluster)));
    return;
  }
  // An unset deadline is the Unix epoch, i.e. already expired (as in the original).
  auto deadline = common::FromTimestamp(request.deadline());
  if (!request.has_deadline() || clock.Now() >= deadline) {
    report(pb::DeploymentState::failure, "context deadline exceeded");
    return;
  }

  std::vector<nlohmann::json> resources;
  for (int i = 0; i < request.kubernetes().resources_size(); ++i) {
    auto object = common::StructToJson(request.kubernetes().resources(i));
    if (!object.contains("kind") || !object["kind"].is_string() || object["kind"] == "") {
      report(pb::DeploymentState::failure,
             fmt::format("resource {}: decoding payload: Object 'Kind' is missing in '{}'", i + 1,
                         object.dump()));
      return;
    }
    resources.push_back(std::move(object));
  }
  if (resources.empty()) {
    report(pb::DeploymentState::failure, "no resources to deploy");
    return;
  }

  std::unique_ptr<TeamCluster> cluster;
  try {
    cluster = clusters.ForTeam(request.team());
  } catch (const std::exception& e) {
    report(pb::DeploymentState::error, e.what());
    return;
  }

  std::mutex mutex;  // errors, from the watcher threads
  std::vector<std::string> errors;
  std::vector<nlohmann::json> applied;
  auto progress = [&report](const std::string& message) {
    report(pb::DeploymentState::in_progress, message);
  };
  auto record = [&](const std::optional<Verdict>& verdict) {
    if (!verdict) return;
    {
      std::lock_guard lock(mutex);
      if (common::IsErrorState(verdict->state)) errors.push_back(verdict->message);
    }
    report(pb::DeploymentState::in_progress, verdict->message);
  };
  auto await = [&](const nlohmann::json& object) {
    try {
      return cluster->AwaitRollout(object, deadline, progress);
    } catch (const std::exception& e) {
      return std::optional<Verdict>(Verdict{pb::DeploymentState::error, e.what()});
    }
  };
  // Slots for `count` threads; an empty lease without a budget.
  auto acquire = [&](int count) -> std::optional<ThreadBudget::Lease> {
    if (options.threads == nullptr || count == 0) return ThreadBudget::Lease();
    return options.threads->Acquire(count, deadline);
  };
  // On this thread, with slots for the watch threads the wait starts.
  auto given_up = [&options, &request] {
    if (!options.abandoned || !options.abandoned()) return false;
    spdlog::info(
        "deployment {}: given up (another deployd took over the cluster); nothing more "
        "is applied or reported",
        request.id());
    return true;
  };
  auto await_here = [&](const nlohmann::json& object) -> std::optional<Verdict> {
    auto lease = acquire(cluster->RolloutThreads(object));
    if (!lease) return NoThreads(object, *options.threads);
    return await(object);
  };
  for (auto& object : OrderForApply(std::move(resources))) {
    if (given_up()) return;
    if (!object.contains("metadata") || !object["metadata"].is_object()) {
      object["metadata"] = nlohmann::json::object();
    }
    auto& metadata = object["metadata"];
    if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) {
      metadata["annotations"] = nlohmann::json::object();
    }
    metadata["annotations"][kCorrelationAnnotation] = request.id();
    auto identifier = kube::Identifier(kube::RefOf(object));
    nlohmann::json stored;
    try {
      stored = cluster->Apply(object);
    } catch (const std::exception& e) {
      errors.push_back(fmt::format("{}: {}", identifier, e.what()));
      break;
    }
    report(pb::DeploymentState::in_progress, fmt::format("Successfully applied {}", identifier));
    if (OrderRank(object) == 1) {
      // A CRD must be Established before resources of its kinds can be written.
      auto verdict = await_here(stored);
      record(verdict);
      if (verdict && common::IsErrorState(verdict->state)) break;
      continue;
    }
    applied.push_back(std::move(stored));
  }
  if (given_up()) return;
  report(pb::DeploymentState::in_progress, kAllSavedMessage);

  // One wait per resource, at once as the original's goroutines as far as --max-rollout-threads
  // allows; the others wait their turn. A wait that starts late still judges the whole rollout
  // (it lists the current state and counts pods and events since the resource was applied).
  std::vector<std::thread> waiters;
  JoinAll join_all{waiters};  // after everything the waiters use: joined before it goes
  bool stopped = false;
  for (const auto& object : applied) {
    if (given_up()) {
      stopped = true;
      break;
    }
    const int threads = cluster->RolloutThreads(object);
    if (threads == 0) {  // nothing to wait for: no thread needed
      record(await(object));
      continue;
    }
    auto lease = acquire(threads + 1);  // the waiting thread and the watch threads it starts
    if (!lease) {
      record(NoThreads(object, *options.threads));
      continue;
    }
    auto held = std::make_shared<ThreadBudget::Lease>(std::move(*lease));
    try {
      StartThreadInto(waiters, [&record, &await, &object, held] {
        try {
          record(await(object));
        } catch (const std::exception& e) {
          spdlog::error("waiting for {}: {}", KindSlashName(object), e.what());
        } catch (...) {
          spdlog::error("waiting for {}: unknown exception", KindSlashName(object));
        }
      });
    } catch (const std::system_error& e) {
      record(Verdict{pb::DeploymentState::error,
                     fmt::format("{}: cannot start a thread to wait for the rollout: {}",
                                 KindSlashName(object), e.what())});
    }
  }
  for (auto& t : waiters) t.join();
  if (stopped || (options.abandoned && options.abandoned())) return;

  if (!errors.empty()) {
    report(pb::DeploymentState::failure, FailureSummary(errors.front(), errors.size()));
  } else {
    report(pb::DeploymentState::success, std::string(common::kSuccessMessage));
  }
}

}  // namespace

void RunDeployment(const pb::DeploymentRequest& request, ClusterFactory& clusters, StatusSink& sink,
                   const common::Clock& clock, const RunOptions& options) {
  Reporter report(request, sink, clock);
  try {
    Run(request, clusters, report, clock, options);
  } catch (const std::exception& e) {
    report(pb::DeploymentState::error,
           fmt::format("deployd could not process the deployment: {}", e.what()));
  }
}

}  // namespace deployd::agent
