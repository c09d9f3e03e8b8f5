#include "deployd/agent/runner.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "common/tracing.hpp"
#include "deployd/agent/plan.hpp"
#include "deployd/agent/prune.hpp"
#include "deployd/kube/apply.hpp"
#include "deployd/rollout/container_log.hpp"

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
    common::LogWith(spdlog::level::info, Fields(), "deployment {}: {}: {}", request_.id(),
                    common::StateName(state), message);
    sink_.Report(std::move(status));
  }

  const std::string& Id() const { return request_.id(); }
  common::LogFields Fields() const {
    return common::DeploymentFields(request_.id(), request_.team(), request_.cluster());
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

namespace {
common::Error NotSupported() {
  return common::Error(common::ErrorCode::kFailedPrecondition, "not supported by this cluster");
}
}  // namespace

net::awaitable<std::optional<nlohmann::json>> AsyncTeamCluster::Get(nlohmann::json /*ref*/) {
  throw NotSupported();
  co_return std::nullopt;
}
net::awaitable<nlohmann::json> AsyncTeamCluster::Write(nlohmann::json /*object*/,
                                                       bool /*dry_run*/) {
  throw NotSupported();
  co_return nlohmann::json();
}
net::awaitable<std::vector<nlohmann::json>> AsyncTeamCluster::List(std::string /*group*/,
                                                                   std::string /*kind*/,
                                                                   std::string /*ns*/,
                                                                   std::string /*selector*/) {
  throw NotSupported();
  co_return std::vector<nlohmann::json>{};
}
net::awaitable<void> AsyncTeamCluster::Delete(nlohmann::json /*object*/) {
  throw NotSupported();
  co_return;
}

std::string CancelMessage(const std::string& by, std::size_t applied, std::size_t total) {
  return fmt::format("cancelled by {}: {} of {} resources had been applied and stay in the cluster",
                     by, applied, total);
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

common::SystemTime SpanNow() { return std::chrono::system_clock::now(); }

// The spans of one resource: `<Kind>/<name>` (child of `Deploy to Kubernetes`) and its current
// step, `apply` or `wait`. Cheap when tracing is off (End does nothing).
struct ResourceSpans {
  common::SpanData resource;
  common::SpanData step;

  ResourceSpans(const common::SpanData& root, const nlohmann::json& object) {
    const auto text = [&object](const char* key) {
      return object.contains(key) && object[key].is_string() ? object[key].get<std::string>()
                                                             : std::string();
    };
    const nlohmann::json empty = nlohmann::json::object();
    const auto& meta = object.contains("metadata") ? object["metadata"] : empty;
    const auto meta_text = [&meta](const char* key) {
      return meta.is_object() && meta.contains(key) && meta[key].is_string()
                 ? meta[key].get<std::string>()
                 : std::string();
    };
    resource = common::StartSpan(text("kind") + "/" + meta_text("name"),
                                 common::SpanKind::kInternal, common::ContextOf(root), SpanNow());
    resource.attributes = {{"deploy.id", AttributeOf(root, "deploy.id")},
                           {"k8s.kind", text("kind")},
                           {"k8s.name", meta_text("name")},
                           {"k8s.namespace", meta_text("namespace")},
                           {"k8s.apiVersion", text("apiVersion")}};
  }
  void Start(const char* name) {
    step =
        common::StartSpan(name, common::SpanKind::kClient, common::ContextOf(resource), SpanNow());
  }
  // Ends the step; with `last` (or an error) the resource too.
  void End(const std::string& error, bool last) {
    auto& tracer = common::GlobalTracer();
    const auto now = SpanNow();
    step.error = !error.empty();
    step.status_message = error;
    tracer.End(std::move(step), now);
    if (!last && error.empty()) return;
    resource.error = !error.empty();
    resource.status_message = error;
    tracer.End(std::move(resource), now);
  }
  static std::string AttributeOf(const common::SpanData& span, const std::string& key) {
    for (const auto& [k, v] : span.attributes) {
      if (k == key) return v;
    }
    return "";
  }
};

std::string VerdictError(const std::optional<Verdict>& verdict) {
  return verdict && common::IsErrorState(verdict->state) ? verdict->message : "";
}

// One wait: its verdict (an exception from it becomes an error verdict) is recorded. `record`
// lives in the flow's frame, which outlives every wait it spawned (it joins them).
net::awaitable<void> RecordWait(net::awaitable<std::optional<Verdict>> wait, const RecordFn* record,
                                ResourceSpans spans) {
  std::optional<Verdict> verdict;
  try {
    verdict = co_await std::move(wait);
  } catch (const std::exception& e) {
    verdict = Verdict{pb::DeploymentState::error, e.what()};
  }
  spans.End(VerdictError(verdict), true);
  (*record)(verdict);
}

void Annotate(nlohmann::json& object, const std::string& correlation_id) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) {
    object["metadata"] = nlohmann::json::object();
  }
  auto& metadata = object["metadata"];
  if (!metadata.contains("annotations") || !metadata["annotations"].is_object()) {
    metadata["annotations"] = nlohmann::json::object();
  }
  metadata["annotations"][kCorrelationAnnotation] = correlation_id;
}

// A plan: every resource read and dry-run applied as the team, one status per resource, then
// (with a set) what pruning would delete; nothing is written. Ends with success and the counts,
// or failure when a resource was refused.
net::awaitable<void> PlanFlow(std::vector<nlohmann::json> ordered, AsyncTeamCluster& cluster,
                              const Reporter& report, const pb::DeploymentRequest& request,
                              std::optional<ApplySetRef> set) {
  PlanCounts counts;
  std::set<MemberKey> keep;
  const std::vector<std::string> ignored = {kCorrelationAnnotation};
  for (auto& object : ordered) {
    Annotate(object, request.id());
    if (set) LabelMember(object, *set);
    std::string subject = PlanSubject(object);
    std::optional<nlohmann::json> live;
    nlohmann::json planned;
    std::string refused;
    try {
      live = co_await cluster.Get(object);
      planned = co_await cluster.Write(object, true);
    } catch (const std::exception& e) {
      refused = e.what();
    }
    PlanAction action = PlanAction::kRefused;
    std::string detail = refused;
    if (refused.empty()) {
      subject = PlanSubject(planned);
      keep.insert(KeyOf(planned, ""));
      if (!live) {
        action = PlanAction::kCreated;
      } else {
        auto before = Comparable(std::move(*live), ignored);
        auto after = Comparable(std::move(planned), ignored);
        MaskSecretValues(before, after);
        detail = PlanDiff(before, after);
        action = detail.empty() ? PlanAction::kUnchanged : PlanAction::kChanged;
      }
    } else {
      keep.insert(KeyOf(object, request.team()));
    }
    counts.Add(action);
    report(pb::DeploymentState::in_progress, PlanEntryMessage(action, subject, detail));
  }
  if (set) {
    std::vector<nlohmann::json> candidates;
    std::string problem;
    try {
      const auto state = co_await ReadApplySet(cluster, *set);
      candidates = co_await PruneCandidates(cluster, *set, state, keep);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (!problem.empty()) {
      counts.Add(PlanAction::kRefused);
      report(pb::DeploymentState::in_progress,
             PlanEntryMessage(PlanAction::kRefused,
                              fmt::format("Secret {}/{}", set->namespace_, set->name),
                              fmt::format("ApplySet {}: {}", set->name, problem)));
    }
    for (const auto& candidate : candidates) {
      counts.Add(PlanAction::kPruned);
      report(pb::DeploymentState::in_progress,
             PlanEntryMessage(PlanAction::kPruned, PlanSubject(candidate), ""));
    }
  }
  report(counts.refused > 0 ? pb::DeploymentState::failure : pb::DeploymentState::success,
         PlanSummary(counts, set.has_value()));
}

// `report` and `options` live in RunDeploymentAsync's frame, which outlives this call.
net::awaitable<void> Flow(pb::DeploymentRequest request, AsyncClusterFactory& clusters,
                          const Reporter& report, const common::Clock& clock,
                          const RunOptions& options, const common::SpanData& root) {
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

  std::optional<ApplySetRef> set;
  if (request.prune()) {
    std::string invalid;
    try {
      set = ApplySetFor(request);
    } catch (const std::exception& e) {
      invalid = e.what();
    }
    if (!set) {
      report(pb::DeploymentState::failure, invalid);
      co_return;
    }
  }
  if (request.plan()) {
    co_await PlanFlow(OrderForApply(std::move(resources)), *cluster, report, request, set);
    co_return;
  }
  // Pruning: the parent first records what this deployment adds (so that a deployment that
  // stops half-way leaves every member findable), every member is labelled part-of the set.
  ApplySetState recorded;
  std::set<MemberKey> applied_keys;
  if (set) {
    std::set<MemberKey> manifest_keys;
    for (auto& object : resources) {
      LabelMember(object, *set);
      manifest_keys.insert(KeyOf(object, request.team()));
    }
    std::string problem;
    try {
      recorded = Union(co_await ReadApplySet(*cluster, *set), StateOf(manifest_keys, *set));
      co_await WriteApplySet(*cluster, *set, recorded);
    } catch (const std::exception& e) {
      problem = e.what();
    }
    if (!problem.empty()) {
      report(pb::DeploymentState::failure, fmt::format("ApplySet {}: {}", set->name, problem));
      co_return;
    }
  }

  std::vector<std::string> errors;
  std::vector<nlohmann::json> applied;
  std::vector<ResourceSpans> applied_spans;
  const ProgressFn progress = [&report](const std::string& message) {
    report(pb::DeploymentState::in_progress, message);
  };
  std::vector<std::string> logs;  // the failing containers' last lines, for the final message
  const RecordFn record = [&errors, &logs, &report](const std::optional<Verdict>& verdict) {
    if (!verdict) return;
    if (common::IsErrorState(verdict->state)) errors.push_back(verdict->message);
    if (common::IsErrorState(verdict->state) && !verdict->log.empty()) logs.push_back(verdict->log);
    report(pb::DeploymentState::in_progress, verdict->message);
  };
  const auto given_up = [&options, &request] {
    if (!options.abandoned || !options.abandoned()) return false;
    common::LogWith(spdlog::level::info,
                    common::DeploymentFields(request.id(), request.team(), request.cluster()),
                    "deployment {}: given up (another deployd took over the cluster); nothing more "
                    "is applied or reported",
                    request.id());
    return true;
  };
  auto ordered = OrderForApply(std::move(resources));
  // Cancel: how many resources were applied when it came, of how many.
  const std::size_t total = ordered.size();
  std::size_t applied_count = 0;
  const auto cancelled = [&options] {
    return options.cancelled ? options.cancelled() : std::optional<std::string>();
  };
  for (auto& object : ordered) {
    if (given_up()) co_return;
    if (cancelled()) break;
    Annotate(object, request.id());
    const auto identifier = kube::Identifier(kube::RefOf(object));
    const bool crd = OrderRank(object) == 1;
    nlohmann::json stored;
    std::string apply_error;
    ResourceSpans spans(root, object);
    spans.Start("apply");
    try {
      stored = co_await cluster->Apply(std::move(object));
    } catch (const std::exception& e) {
      apply_error = e.what();
    }
    if (!apply_error.empty() || stored.is_null()) {
      spans.End(apply_error.empty() ? "not applied" : apply_error, true);
      errors.push_back(fmt::format("{}: {}", identifier, apply_error));
      break;
    }
    spans.End("", false);
    ++applied_count;
    if (set) applied_keys.insert(KeyOf(stored, ""));
    report(pb::DeploymentState::in_progress, fmt::format("Successfully applied {}", identifier));
    if (crd) {
      // A CRD must be Established before resources of its kinds can be written.
      std::optional<Verdict> verdict;
      std::string wait_error;
      spans.Start("wait");
      try {
        verdict = co_await cluster->AwaitRollout(std::move(stored), deadline, progress);
      } catch (const std::exception& e) {
        wait_error = e.what();
      }
      if (!wait_error.empty()) verdict = Verdict{pb::DeploymentState::error, wait_error};
      spans.End(VerdictError(verdict), true);
      record(verdict);
      if (verdict && common::IsErrorState(verdict->state)) break;
      continue;
    }
    applied.push_back(std::move(stored));
    applied_spans.push_back(std::move(spans));
  }
  ordered.clear();
  if (given_up()) co_return;
  if (auto by = cancelled()) {
    report(pb::DeploymentState::failure, CancelMessage(*by, applied_count, total));
    co_return;
  }
  bool prune_skipped = false;
  if (set && !errors.empty()) {
    prune_skipped = true;
    report(pb::DeploymentState::in_progress, kPruneSkippedMessage);
  } else if (set) {
    // Only objects that carry this set's label, of the kinds and namespaces it records.
    std::string prune_error;
    try {
      auto candidates = co_await PruneCandidates(*cluster, *set, recorded, applied_keys);
      for (auto& candidate : candidates) {
        const auto subject = PlanSubject(candidate);
        co_await cluster->Delete(std::move(candidate));
        report(pb::DeploymentState::in_progress, fmt::format("Pruned {}", subject));
      }
      co_await WriteApplySet(*cluster, *set, StateOf(applied_keys, *set));
    } catch (const std::exception& e) {
      prune_error = e.what();
    }
    if (!prune_error.empty()) {
      errors.push_back(fmt::format("pruning ApplySet {}: {}", set->name, prune_error));
    }
  }
  report(pb::DeploymentState::in_progress, kAllSavedMessage);

  // Every wait at once, each a coroutine on this executor. A wait that starts late still judges
  // the whole rollout (its watches were set up before the write).
  const auto executor = co_await net::this_coro::executor;
  WaitGroup group(executor);
  bool stopped = false;
  std::exception_ptr thrown;
  for (std::size_t i = 0; i < applied.size(); ++i) {
    auto& object = applied[i];
    if (given_up() || cancelled()) {
      stopped = true;
      break;
    }
    try {
      applied_spans[i].Start("wait");
      auto wait = cluster->AwaitRollout(std::move(object), deadline, progress);
      ++group.outstanding;
      WaitGroup* joined = &group;  // the frame outlives the waits: Join below
      net::co_spawn(
          executor, RecordWait(std::move(wait), &record, std::move(applied_spans[i])),
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
  if (options.abandoned && options.abandoned()) co_return;
  if (auto by = cancelled()) {
    report(pb::DeploymentState::failure, CancelMessage(*by, applied_count, total));
    co_return;
  }
  if (stopped) co_return;

  if (!errors.empty()) {
    report(pb::DeploymentState::failure,
           rollout::WithLogs(FailureSummary(errors.front(), errors.size()) +
                                 (prune_skipped ? "; nothing was pruned" : ""),
                             logs));
  } else {
    report(pb::DeploymentState::success, std::string(common::kSuccessMessage));
  }
}

}  // namespace

net::awaitable<void> RunDeploymentAsync(pb::DeploymentRequest request,
                                        AsyncClusterFactory& clusters, StatusSink& sink,
                                        const common::Clock& clock, RunOptions options) {
  // The reporter keeps the request without its manifests; they are not copied for it.
  pb::Kubernetes* manifests = request.release_kubernetes();
  const Reporter report(request, sink, clock);
  request.set_allocated_kubernetes(manifests);
  // Continues hookd's `Deploy` span (traceParent), as the original's deployd does.
  common::SpanData root =
      common::StartSpan("Deploy to Kubernetes", common::SpanKind::kServer,
                        common::ParseTraceparent(request.traceparent()), SpanNow());
  root.attributes = {
      {"deploy.id", request.id()},
      {"deploy.cluster", request.cluster()},
      {"deploy.team", request.team()},
      {"deploy.git-ref-sha", request.gitrefsha()},
      {"deploy.repository", request.repository().owner().empty()
                                ? std::string()
                                : request.repository().owner() + "/" + request.repository().name()},
      {"deploy.deadline", common::FormatRfc3339(common::FromTimestamp(request.deadline()))}};
  std::string failure;
  try {
    co_await Flow(std::move(request), clusters, report, clock, options, root);
  } catch (const std::exception& e) {
    failure = e.what();
  } catch (...) {
    failure = "unknown error";
  }
  root.error = !failure.empty();
  root.status_message = failure;
  common::GlobalTracer().End(std::move(root), SpanNow());
  if (failure.empty()) co_return;
  try {
    report(pb::DeploymentState::error,
           fmt::format("deployd could not process the deployment: {}", failure));
  } catch (const std::exception& e) {
    common::LogWith(spdlog::level::err, report.Fields(), "deployment {}: {}", report.Id(),
                    e.what());
  }
}

}  // namespace deployd::agent
