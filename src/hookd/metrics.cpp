#include "hookd/metrics.hpp"

#include <array>
#include <map>

#include <prometheus/text_serializer.h>

namespace hookd {
namespace {

using prometheus::Labels;

const std::vector<double> kHttpBuckets = {.001, .01, .05, .1,  .5, 1,   1.5,
                                          2,    2.5, 3,   3.5, 4,  4.5, 5};
const std::vector<double> kGrpcBuckets = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

std::vector<double> DatabaseBuckets() {
  std::vector<double> out;
  // 0.005 ... 0.100, computed so that each bound is the nearest double of its decimal.
  for (int i = 1; i <= 20; ++i) out.push_back(i * 5 / 1000.0);
  return out;
}
const std::vector<double> kDatabaseBuckets = DatabaseBuckets();

Labels GrpcLabels(const std::string& type, const std::string& service, const std::string& method) {
  return {{"grpc_method", method}, {"grpc_service", service}, {"grpc_type", type}};
}

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& HistogramFamily(prometheus::Registry& registry,
                                                           const std::string& name,
                                                           const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

const std::array<std::array<const char*, 3>, 4> kGrpcMethods = {{
    {"unary", "pb.Deploy", "Deploy"},
    {"server_stream", "pb.Deploy", "Status"},
    {"server_stream", "pb.Dispatch", "Deployments"},
    {"unary", "pb.Dispatch", "ReportStatus"},
}};

bool Finished(const std::string& state) {
  return state == "success" || state == "inactive" || state == "error" || state == "failure";
}

}  // namespace

std::string GrpcCodeName(int code) {
  static const std::array<const char*, 17> kNames = {
      "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
      "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
      "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
      "DataLoss", "Unauthenticated"};
  if (code < 0 || code >= static_cast<int>(kNames.size()))
    return "Code(" + std::to_string(code) + ")";
  return kNames[static_cast<std::size_t>(code)];
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(CounterFamily(
          *registry_, "requests_total",
          "How many HTTP requests processed, partitioned by status code, method and HTTP path.")),
      durations_(HistogramFamily(*registry_, "request_duration_ms",
                                 "How long it took to process the request, partitioned by status "
                                 "code, method and HTTP path (seconds).")),
      database_(HistogramFamily(*registry_, "deployment_hookd_database_queries",
                                "Time to execute database queries (seconds).")),
      transitions_(CounterFamily(*registry_, "deployment_hookd_state_transition",
                                 "Deployment state transitions handled by hookd.")),
      queue_size_(prometheus::BuildGauge()
                      .Name("deployment_hookd_queue_size")
                      .Help("Deployments seen by this hookd that are not finished yet.")
                      .Register(*registry_)
                      .Add({})),
      lead_time_(prometheus::BuildSummary()
                     .Name("deployment_hookd_lead_time_seconds")
                     .Help("Seconds from the creation of a deployment to its success.")
                     .Register(*registry_)),
      auth_(CounterFamily(*registry_, "deployment_hookd_auth_interceptor_requests",
                          "Authentication attempts on pb.Deploy, by type and error.")),
      github_requests_(
          CounterFamily(*registry_, "deployment_hookd_github_requests",
                        "GitHub API requests answered, by HTTP status, repository and team.")),
      github_dropped_(
          CounterFamily(*registry_, "deployment_hookd_github_dropped_total",
                        "GitHub deployments and statuses given up or never queued, by reason.")),
      grpc_started_(CounterFamily(*registry_, "grpc_server_started_total",
                                  "Total number of RPCs started on the server.")),
      grpc_handled_(CounterFamily(
          *registry_, "grpc_server_handled_total",
          "Total number of RPCs completed on the server, regardless of success or failure.")),
      grpc_received_(CounterFamily(*registry_, "grpc_server_msg_received_total",
                                   "Total number of RPC stream messages received on the server.")),
      grpc_sent_(CounterFamily(*registry_, "grpc_server_msg_sent_total",
                               "Total number of gRPC stream messages sent by the server.")),
      grpc_seconds_(HistogramFamily(*registry_, "grpc_server_handling_seconds",
                                    "Histogram of response latency (seconds) of gRPC that had "
                                    "been application-level handled by the server.")) {
  // Initialised for all methods, as go-grpc-prometheus does.
  for (const auto& [type, service, method] : kGrpcMethods) {
    const Labels labels = GrpcLabels(type, service, method);
    grpc_started_.Add(labels);
    grpc_received_.Add(labels);
    grpc_sent_.Add(labels);
  }
}

void Metrics::ObserveRequest(const std::string& method, const std::string& path, int code,
                             double seconds) {
  const Labels labels = {
      {"code", std::to_string(code)}, {"method", method}, {"path", path}, {"service", "hookd"}};
  requests_.Add(labels).Increment();
  durations_.Add(labels, kHttpBuckets).Observe(seconds);
}

void Metrics::ObserveDatabaseQuery(bool ok, double seconds) {
  database_.Add({{"status", ok ? "ok" : "error"}}, kDatabaseBuckets).Observe(seconds);
}

void Metrics::ObserveState(const std::string& deployment_id, const std::string& state,
                           const std::string& repository, const std::string& team,
                           const std::string& cluster, double lead_time_seconds) {
  const Labels labels = {{"cluster", cluster},
                         {"deployment_state", state},
                         {"repository", repository},
                         {"team", team}};
  transitions_.Add(labels).Increment();
  if (state == "success") {
    lead_time_.Add(labels, prometheus::Summary::Quantiles{}).Observe(lead_time_seconds);
  }
  std::lock_guard lock(mutex_);
  if (Finished(state)) {
    unfinished_.erase(deployment_id);
  } else {
    unfinished_.insert(deployment_id);
  }
  queue_size_.Set(static_cast<double>(unfinished_.size()));
}

void Metrics::ObserveRemoteState(const std::string& deployment_id, const std::string& state) {
  if (!Finished(state)) return;
  std::lock_guard lock(mutex_);
  unfinished_.erase(deployment_id);
  queue_size_.Set(static_cast<double>(unfinished_.size()));
}

void Metrics::ObserveAuth(const std::string& type, const std::string& error) {
  auth_.Add({{"error", error}, {"type", type}}).Increment();
}

void Metrics::ObserveGithubRequest(int status_code, const std::string& repository,
                                   const std::string& team) {
  github_requests_
      .Add({{"repository", repository},
            {"status_code", std::to_string(status_code)},
            {"team", team}})
      .Increment();
}

void Metrics::GithubDropped(const std::string& reason, std::uint64_t count) {
  github_dropped_.Add({{"reason", reason}}).Increment(static_cast<double>(count));
}

void Metrics::GrpcStarted(const std::string& type, const std::string& service,
                          const std::string& method) {
  grpc_started_.Add(GrpcLabels(type, service, method)).Increment();
}

void Metrics::GrpcReceived(const std::string& type, const std::string& service,
                           const std::string& method) {
  grpc_received_.Add(GrpcLabels(type, service, method)).Increment();
}

void Metrics::GrpcSent(const std::string& type, const std::string& service,
                       const std::string& method) {
  grpc_sent_.Add(GrpcLabels(type, service, method)).Increment();
}

void Metrics::GrpcHandled(const std::string& type, const std::string& service,
                          const std::string& method, int code, double seconds) {
  Labels labels = GrpcLabels(type, service, method);
  grpc_seconds_.Add(labels, kGrpcBuckets).Observe(seconds);
  labels.emplace("grpc_code", GrpcCodeName(code));
  grpc_handled_.Add(labels).Increment();
}

std::size_t Metrics::QueueSize() const {
  std::lock_guard lock(mutex_);
  return unfinished_.size();
}

std::string Metrics::Render(const std::vector<std::string>& connected,
                            const std::vector<std::string>& known) const {
  auto families = registry_->Collect();
  // Known at render time only (from the dispatcher), so built here rather than kept.
  prometheus::MetricFamily clusters;
  clusters.name = "deployment_hookd_cluster_status";
  clusters.help = "Whether a deployd of the cluster is connected to this hookd (1) or not (0).";
  clusters.type = prometheus::MetricType::Gauge;
  std::map<std::string, int> up;
  for (const auto& c : known) up[c] = 0;
  for (const auto& c : connected) up[c] = 1;
  for (const auto& [cluster, value] : up) {
    prometheus::ClientMetric metric;
    metric.label.push_back({"cluster", cluster});
    metric.gauge.value = value;
    clusters.metric.push_back(std::move(metric));
  }
  families.push_back(std::move(clusters));
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace hookd
