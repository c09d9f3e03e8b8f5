#include "deployd/agent/runner.hpp"

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
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
  if (kind == "CustomResourceDefinition" && api_version.rfind("apiextensions.k8s.io/", 0) == 0) return 1;
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
  std::stable_sort(resources.begin(), resources.end(),
                   [](const nlohmann::json& a, const nlohmann::json& b) {
                     return OrderRank(a) < OrderRank(b);
                   });
  return resources;
}

void RunDeployment(const pb::DeploymentRequest& request, ClusterFactory& clusters,
                   StatusSink& sink, const common::Clock& clock) {
  Reporter report(request, sink, clock);
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
  for (auto& object : OrderForApply(std::move(resources))) {
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
      auto verdict = await(stored);
      record(verdict);
      if (verdict && common::IsErrorState(verdict->state)) break;
      continue;
    }
    applied.push_back(std::move(stored));
  }
  report(pb::DeploymentState::in_progress, kAllSavedMessage);

  // One watcher per resource, all at once (as the original's goroutines).
  std::vector<std::thread> watchers;
  watchers.reserve(applied.size());
  for (const auto& object : applied) {
    watchers.emplace_back([&record, &await, &object] { record(await(object)); });
  }
  for (auto& t : watchers) t.join();

  if (!errors.empty()) {
    report(pb::DeploymentState::failure, FailureSummary(errors.front(), errors.size()));
  } else {
    report(pb::DeploymentState::success, std::string(common::kSuccessMessage));
  }
}

}  // namespace deployd::agent
