#include "hookd/dispatch/dispatcher.hpp"

#include <algorithm>
#include <set>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "common/tracing.hpp"
#include "common/uuid.hpp"

namespace hookd::dispatch {
namespace {

std::string StringField(const google::protobuf::Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end() || it->second.kind_case() != google::protobuf::Value::kStringValue) {
    return "";
  }
  return it->second.string_value();
}

}  // namespace

std::vector<store::ResourceRow> ParseResources(const pb::DeploymentRequest& request) {
  std::vector<store::ResourceRow> out;
  const auto& resources = request.kubernetes().resources();
  for (int i = 0; i < resources.size(); ++i) {
    const auto& resource = resources.Get(i);
    if (common::StructDepth(resource) > common::kMaxDocumentDepth) {
      throw common::Error(common::ErrorCode::kInvalidArgument,
                          "invalid Kubernetes resources in request: resource " +
                              std::to_string(i + 1) + ": " + common::DepthMessage());
    }
    store::ResourceRow row;
    row.index = i;
    row.kind = StringField(resource, "kind");
    if (row.kind.empty()) {
      throw common::Error(common::ErrorCode::kInvalidArgument,
                          "invalid Kubernetes resources in request: resource " +
                              std::to_string(i + 1) +
                              ": decoding payload: Object 'Kind' is missing in '" +
                              common::StructToJson(resource).dump() + "'");
    }
    const std::string api_version = StringField(resource, "apiVersion");
    auto slash = api_version.find('/');
    if (slash == std::string::npos) {
      row.version = api_version;
    } else {
      row.group = api_version.substr(0, slash);
      row.version = api_version.substr(slash + 1);
    }
    auto metadata = resource.fields().find("metadata");
    if (metadata != resource.fields().end() && metadata->second.has_struct_value()) {
      row.name = StringField(metadata->second.struct_value(), "name");
      row.ns = StringField(metadata->second.struct_value(), "namespace");
    }
    out.push_back(std::move(row));
  }
  return out;
}

pb::DeploymentStatus ToWireStatus(const store::StatusRow& row) {
  pb::DeploymentStatus status;
  status.mutable_request()->set_id(row.deployment_id);
  *status.mutable_time() = common::ToTimestamp(row.created);
  status.set_state(row.state);
  status.set_message(row.message);
  return status;
}

Dispatcher::Dispatcher(store::DispatchStore& store, StatusHub& hub, ClusterRegistry& clusters,
                       const common::Clock& clock)
    : store_(store), hub_(hub), clusters_(clusters), clock_(clock) {}

void Dispatcher::SetStaticClusters(std::vector<std::string> clusters) {
  static_clusters_ = std::move(clusters);
}

void Dispatcher::SetClusterRedirects(std::map<std::string, std::string> redirects) {
  redirects_ = std::move(redirects);
}

std::vector<std::string> Dispatcher::KnownClusters() {
  std::set<std::string> known(static_clusters_.begin(), static_clusters_.end());
  for (auto& c : clusters_.Connected()) known.insert(std::move(c));
  for (auto& c : store_.SeenClusters()) known.insert(std::move(c));
  return {known.begin(), known.end()};
}

namespace {

// hookd's `Deploy` span (accepting a request): continues the client's traceParent and replaces
// it with its own, so that the queue, dispatch and deployd spans become its children. Ended when
// Deploy returns; an exception (a refused request) marks it as an error.
class AcceptSpan {
 public:
  explicit AcceptSpan(pb::DeploymentRequest& request)
      : span_(common::StartSpan("Deploy", common::SpanKind::kServer,
                                common::ParseTraceparent(request.traceparent()),
                                std::chrono::system_clock::now())),
        exceptions_(std::uncaught_exceptions()) {
    span_.attributes = {{"deploy.id", request.id()},
                        {"deploy.cluster", request.cluster()},
                        {"deploy.team", request.team()},
                        {"deploy.git-ref-sha", request.gitrefsha()},
                        {"deploy.repository",
                         request.repository().owner().empty()
                             ? std::string()
                             : request.repository().owner() + "/" + request.repository().name()}};
    request.set_traceparent(common::FormatTraceparent(common::ContextOf(span_)));
  }
  ~AcceptSpan() {
    if (std::uncaught_exceptions() > exceptions_) {
      span_.error = true;
      span_.status_message = "refused";
    }
    common::GlobalTracer().End(std::move(span_), std::chrono::system_clock::now());
  }
  AcceptSpan(const AcceptSpan&) = delete;
  AcceptSpan& operator=(const AcceptSpan&) = delete;

 private:
  common::SpanData span_;
  int exceptions_;
};

}  // namespace

pb::DeploymentStatus Dispatcher::Deploy(pb::DeploymentRequest request, const std::string& id,
                                        const std::string& request_key,
                                        const std::string& idempotency_key) {
  if (!idempotency_key.empty() && !ValidIdempotencyKey(idempotency_key)) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        std::string("invalid idempotency key: it must be ") + kIdempotencyKeyRule);
  }
  // Any client-supplied ID is ignored (as the original does).
  request.set_id(id.empty() ? common::NewUuidV4() : id);
  if (auto it = redirects_.find(request.cluster()); it != redirects_.end()) {
    spdlog::info("redirecting deployment for cluster {} to {}", it->first, it->second);
    request.set_cluster(it->second);
  }
  const AcceptSpan span(request);
  // Names reach headers, paths and queries downstream: only DNS-1123 labels pass.
  common::RequireLabel("team", request.team());
  common::RequireLabel("cluster", request.cluster());
  auto resources = ParseResources(request);
  if (reject_unknown_clusters_) {
    std::vector<std::string> known;
    try {
      known = KnownClusters();
    } catch (const std::exception& e) {
      spdlog::error("reading known clusters: {}", e.what());
      throw common::Error(common::ErrorCode::kUnavailable,
                          "database is unavailable; try again later");
    }
    if (std::find(known.begin(), known.end(), request.cluster()) == known.end()) {
      std::string list;
      for (const auto& c : known) list += (list.empty() ? "" : ", ") + c;
      throw common::Error(common::ErrorCode::kInvalidArgument,
                          "unknown cluster '" + request.cluster() +
                              "'; known clusters: " + (list.empty() ? "(none)" : list));
    }
  }

  const auto now = clock_.Now();
  // Client-set times are bounded: `time` (the creation time shown everywhere) lies within the
  // last kMaxClientHorizon and never in the future; the deadline at most kMaxClientHorizon ahead.
  common::SystemTime created = now;
  if (request.has_time() && (request.time().seconds() != 0 || request.time().nanos() != 0)) {
    created = std::clamp(common::FromTimestamp(request.time()), now - kMaxClientHorizon, now);
  }
  common::SystemTime deadline = now + kDefaultDeadline;
  if (request.has_deadline() &&
      (request.deadline().seconds() != 0 || request.deadline().nanos() != 0)) {
    deadline = std::min(common::FromTimestamp(request.deadline()), now + kMaxClientHorizon);
  }
  *request.mutable_time() = common::ToTimestamp(created);
  *request.mutable_deadline() = common::ToTimestamp(deadline);

  store::StatusRow row;
  try {
    row = store_.CreateDeployment(
        request, resources, created, deadline,
        (request.plan() ? "[plan] " : "") + QueuedMessage(request.cluster(), deadline), request_key,
        idempotency_key);
  } catch (const std::exception& e) {
    common::LogWith(spdlog::level::err,
                    common::DeploymentFields(request.id(), request.team(), request.cluster()),
                    "unable to store deployment {}: {}", request.id(), e.what());
    throw common::Error(common::ErrorCode::kUnavailable,
                        "database is unavailable; try again later");
  }
  if (row.replayed) {
    common::LogWith(spdlog::level::info,
                    common::DeploymentFields(row.deployment_id, request.team(), request.cluster()),
                    "request for team {} replayed{}: answering with deployment {}", request.team(),
                    idempotency_key.empty() ? "" : " (idempotency key " + idempotency_key + ")",
                    row.deployment_id);
    pb::DeploymentStatus reply = ToWireStatus(row);
    request.set_id(row.deployment_id);
    *reply.mutable_request() = std::move(request);
    return reply;
  }
  common::LogWith(spdlog::level::info,
                  common::DeploymentFields(request.id(), request.team(), request.cluster()),
                  "deployment {} for team {} queued for cluster {}", request.id(), request.team(),
                  request.cluster());

  if (metrics_ != nullptr) {
    metrics_->ObserveState(request.id(), row.state_name, row.repository, row.team, row.cluster, 0);
  }
  auto event = std::make_shared<StatusEvent>();
  event->status_id = row.id;
  event->status = ToWireStatus(row);
  hub_.Publish(event);
  clusters_.Wake(request.cluster());
  // A plan changes nothing: it gets no GitHub deployment (and so no GitHub statuses).
  if (observer_ != nullptr && !request.plan()) observer_->Accepted(request);

  pb::DeploymentStatus reply = ToWireStatus(row);
  *reply.mutable_request() = std::move(request);
  return reply;
}

store::StatusRow Dispatcher::HandleStatus(const std::string& deployment_id,
                                          pb::DeploymentState state, const std::string& message,
                                          common::SystemTime time) {
  store::StatusRow row;
  try {
    row = store_.WriteStatus(deployment_id, state, message, time);
  } catch (const common::Error& e) {
    if (e.Code() == common::ErrorCode::kFailedPrecondition) throw;
    throw common::Error(common::ErrorCode::kUnavailable,
                        std::string("write deployment status to database: ") + e.what());
  } catch (const std::exception& e) {
    throw common::Error(common::ErrorCode::kUnavailable,
                        std::string("write deployment status to database: ") + e.what());
  }
  AnnounceStored(row);
  return row;
}

void Dispatcher::AnnounceStored(const store::StatusRow& row) {
  if (metrics_ != nullptr) {
    const double lead =
        std::chrono::duration<double>(clock_.Now() - row.deployment_created).count();
    metrics_->ObserveState(row.deployment_id, row.state_name, row.repository, row.team, row.cluster,
                           lead);
  }
  auto event = std::make_shared<StatusEvent>();
  event->status_id = row.id;
  event->status = ToWireStatus(row);
  hub_.Publish(event);
  if (observer_ != nullptr) observer_->StatusStored(row);
  if (common::IsFinished(row.state)) {
    common::LogWith(
        spdlog::level::info, common::DeploymentFields(row.deployment_id, row.team, row.cluster),
        "Deployment finished: {} {}: {}", row.deployment_id, row.state_name, row.message);
  }
}

void Dispatcher::PublishStored(const std::string& deployment_id, const std::string& status_id) {
  if (!hub_.HasSubscribers(deployment_id)) return;
  auto row = store_.StatusById(status_id);
  if (!row) return;
  auto event = std::make_shared<StatusEvent>();
  event->status_id = row->id;
  event->status = ToWireStatus(*row);
  hub_.Publish(event);
}

void Dispatcher::Resync() {
  for (const auto& id : hub_.SubscribedDeployments()) {
    auto statuses = store_.Statuses(id);  // newest first
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      auto event = std::make_shared<StatusEvent>();
      event->status_id = it->id;
      event->status = ToWireStatus(*it);
      hub_.Publish(event);
    }
  }
  for (const auto& cluster : clusters_.Connected()) clusters_.Wake(cluster);
}

int Dispatcher::InvalidateHistoric(const std::string& cluster, common::SystemTime startup,
                                   const std::string& instance) {
  // Confirmed by an earlier deployd process of the cluster and never finished: that process is
  // gone, and its work with it. What this process confirmed goes on (a reconnect of the same
  // process), and what nobody confirmed is sent again instead.
  auto lost = store_.LostDeployments(cluster, instance);
  // Deployments handed out before the queue kept them (an upgrade from an earlier version).
  for (const auto& deployment : store_.HistoricDeployments(cluster, startup)) {
    lost.push_back(deployment.id);
  }
  int invalidated = 0;
  for (const auto& id : lost) {
    common::LogWith(spdlog::level::info, common::DeploymentFields(id, "", cluster),
                    "invalidating deployment {} of cluster {}: deployd restarted", id, cluster);
    try {
      HandleStatus(id, pb::inactive, std::string(common::kInactiveMessage), clock_.Now());
      ++invalidated;
    } catch (const common::Error& e) {
      if (e.Code() != common::ErrorCode::kFailedPrecondition) throw;
      store_.MarkDelivered(id);  // finished meanwhile: nothing to invalidate
    }
  }
  return invalidated;
}

int Dispatcher::ExpireQueued() {
  auto expired = store_.ExpiredRequests(clock_.Now(), kConfirmedGrace);
  for (const auto& entry : expired) {
    // One deployment that cannot be ended must not keep the others from ending.
    try {
      if (!entry.unreadable.empty()) {
        FailUnreadable(entry);
        continue;
      }
      std::string message;
      if (!entry.confirmed_by.empty()) {
        message = "deadline passed while deployd for cluster '" + entry.cluster +
                  "' was working on the deployment; it reported no final status";
      } else if (!entry.handed_to.empty()) {
        message = "deadline passed before deployd for cluster '" + entry.cluster +
                  "' confirmed the deployment (it was sent, no status came back)";
      } else {
        message = "deadline passed before a deployd for cluster '" + entry.cluster +
                  "' picked up the deployment (cluster offline)";
      }
      HandleStatus(entry.deployment_id, pb::error, message, clock_.Now());
    } catch (const common::Error& e) {
      if (e.Code() == common::ErrorCode::kFailedPrecondition) {
        store_.MarkDelivered(entry.deployment_id);  // another replica ended it first
      } else {
        spdlog::error("ending expired deployment {}: {}", entry.deployment_id, e.what());
      }
    } catch (const std::exception& e) {
      spdlog::error("ending expired deployment {}: {}", entry.deployment_id, e.what());
    }
  }
  return static_cast<int>(expired.size());
}

void Dispatcher::FailUnreadable(const store::QueuedRequest& entry) {
  spdlog::error("queued deployment {} of cluster {} cannot be read: {}", entry.deployment_id,
                entry.cluster, entry.unreadable);
  HandleStatus(entry.deployment_id, pb::error,
               "hookd could not read the queued deployment request: " + entry.unreadable +
                   "; nothing was applied",
               clock_.Now());
}

void Dispatcher::FailUndeliverable(const store::QueuedRequest& entry, const std::string& reason) {
  spdlog::error("queued deployment {} cannot be sent to cluster {}: {}", entry.deployment_id,
                entry.cluster, reason);
  HandleStatus(entry.deployment_id, pb::error, reason + "; nothing was applied", clock_.Now());
}

std::string Dispatcher::QueuedMessage(const std::string& cluster, common::SystemTime deadline) {
  if (clusters_.IsConnected(cluster) || store_.ClusterPresent(cluster, clock_.Now())) {
    return std::string(common::kQueuedMessage);
  }
  return "deployd for cluster '" + cluster + "' is not connected; waiting until " +
         common::FormatRfc3339(deadline);
}

}  // namespace hookd::dispatch
