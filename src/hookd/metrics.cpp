#include "hookd/metrics.hpp"

#include <array>

#include <fmt/format.h>

namespace hookd {
namespace {

const std::vector<double> kHttpBuckets = {.001, .01, .05, .1,  .5, 1,   1.5,
                                          2,    2.5, 3,   3.5, 4,  4.5, 5};
const std::vector<double> kGrpcBuckets = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

std::vector<double> DatabaseBuckets() {
  std::vector<double> out;
  for (int i = 1; i <= 20; ++i) out.push_back(i * 0.005);  // 0.005 ... 0.100
  return out;
}
const std::vector<double> kDatabaseBuckets = DatabaseBuckets();

std::string FormatDouble(double v) { return fmt::format("{}", v); }

std::string GrpcLabels(const std::string& type, const std::string& service,
                       const std::string& method) {
  return "grpc_method=\"" + method + "\",grpc_service=\"" + service + "\",grpc_type=\"" + type +
         "\"";
}

void RenderCounter(std::string& out, const std::string& name, const std::string& help,
                   const std::map<std::string, std::uint64_t>& series) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " counter\n";
  for (const auto& [labels, n] : series) {
    out += name + "{" + labels + "} " + std::to_string(n) + "\n";
  }
}

const std::array<std::array<const char*, 3>, 4> kGrpcMethods = {{
    {"unary", "pb.Deploy", "Deploy"},
    {"server_stream", "pb.Deploy", "Status"},
    {"server_stream", "pb.Dispatch", "Deployments"},
    {"unary", "pb.Dispatch", "ReportStatus"},
}};

}  // namespace

std::string EscapeLabel(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

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

Metrics::Metrics() {
  // Initialised for all methods, as go-grpc-prometheus does.
  for (const auto& [type, service, method] : kGrpcMethods) {
    const std::string labels = GrpcLabels(type, service, method);
    grpc_started_[labels] = 0;
    grpc_received_[labels] = 0;
    grpc_sent_[labels] = 0;
  }
}

void Metrics::Observe(Histogram& h, const std::vector<double>& bounds, double value) {
  if (h.buckets.empty()) h.buckets.assign(bounds.size(), 0);
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (value <= bounds[i]) ++h.buckets[i];
  }
  h.sum += value;
  ++h.count;
}

void Metrics::RenderHistogram(std::string& out, const std::string& name,
                              const std::map<std::string, Histogram>& series,
                              const std::vector<double>& bounds) {
  for (const auto& [labels, h] : series) {
    const std::string sep = labels.empty() ? "" : ",";
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      out += name + "_bucket{" + labels + sep + "le=\"" + FormatDouble(bounds[i]) + "\"} " +
             std::to_string(h.buckets[i]) + "\n";
    }
    out += name + "_bucket{" + labels + sep + "le=\"+Inf\"} " + std::to_string(h.count) + "\n";
    out += name + "_sum{" + labels + "} " + FormatDouble(h.sum) + "\n";
    out += name + "_count{" + labels + "} " + std::to_string(h.count) + "\n";
  }
}

void Metrics::ObserveRequest(const std::string& method, const std::string& path, int code,
                             double seconds) {
  const std::string labels = "code=\"" + std::to_string(code) + "\",method=\"" +
                             EscapeLabel(method) + "\",path=\"" + EscapeLabel(path) +
                             "\",service=\"hookd\"";
  std::lock_guard lock(mutex_);
  ++requests_[labels];
  Observe(durations_[labels], kHttpBuckets, seconds);
}

void Metrics::ObserveDatabaseQuery(bool ok, double seconds) {
  std::lock_guard lock(mutex_);
  Observe(database_[ok ? "status=\"ok\"" : "status=\"error\""], kDatabaseBuckets, seconds);
}

void Metrics::ObserveState(const std::string& deployment_id, const std::string& state,
                           const std::string& repository, const std::string& team,
                           const std::string& cluster, double lead_time_seconds) {
  const std::string labels = "cluster=\"" + EscapeLabel(cluster) + "\",deployment_state=\"" +
                             EscapeLabel(state) + "\",repository=\"" + EscapeLabel(repository) +
                             "\",team=\"" + EscapeLabel(team) + "\"";
  const bool finished =
      state == "success" || state == "inactive" || state == "error" || state == "failure";
  std::lock_guard lock(mutex_);
  ++transitions_[labels];
  if (finished) {
    unfinished_.erase(deployment_id);
  } else {
    unfinished_.insert(deployment_id);
  }
  if (state == "success") {
    auto& summary = lead_time_[labels];
    summary.sum += lead_time_seconds;
    ++summary.count;
  }
}

void Metrics::ObserveRemoteState(const std::string& deployment_id, const std::string& state) {
  if (state != "success" && state != "inactive" && state != "error" && state != "failure") return;
  std::lock_guard lock(mutex_);
  unfinished_.erase(deployment_id);
}

void Metrics::ObserveAuth(const std::string& type, const std::string& error) {
  std::lock_guard lock(mutex_);
  ++auth_["error=\"" + EscapeLabel(error) + "\",type=\"" + EscapeLabel(type) + "\""];
}

void Metrics::ObserveGithubRequest(int status_code, const std::string& repository,
                                   const std::string& team) {
  std::lock_guard lock(mutex_);
  ++github_requests_["repository=\"" + EscapeLabel(repository) + "\",status_code=\"" +
                     std::to_string(status_code) + "\",team=\"" + EscapeLabel(team) + "\""];
}

void Metrics::GithubDropped(const std::string& reason, std::uint64_t count) {
  std::lock_guard lock(mutex_);
  github_dropped_["reason=\"" + EscapeLabel(reason) + "\""] += count;
}

void Metrics::GrpcStarted(const std::string& type, const std::string& service,
                          const std::string& method) {
  std::lock_guard lock(mutex_);
  ++grpc_started_[GrpcLabels(type, service, method)];
}

void Metrics::GrpcReceived(const std::string& type, const std::string& service,
                           const std::string& method) {
  std::lock_guard lock(mutex_);
  ++grpc_received_[GrpcLabels(type, service, method)];
}

void Metrics::GrpcSent(const std::string& type, const std::string& service,
                       const std::string& method) {
  std::lock_guard lock(mutex_);
  ++grpc_sent_[GrpcLabels(type, service, method)];
}

void Metrics::GrpcHandled(const std::string& type, const std::string& service,
                          const std::string& method, int code, double seconds) {
  const std::string labels = GrpcLabels(type, service, method);
  std::lock_guard lock(mutex_);
  ++grpc_handled_["grpc_code=\"" + GrpcCodeName(code) + "\"," + labels];
  Observe(grpc_seconds_[labels], kGrpcBuckets, seconds);
}

std::size_t Metrics::QueueSize() const {
  std::lock_guard lock(mutex_);
  return unfinished_.size();
}

std::string Metrics::Render(const std::vector<std::string>& connected,
                            const std::vector<std::string>& known) const {
  std::string out;
  std::lock_guard lock(mutex_);
  RenderCounter(out, "requests_total",
                "How many HTTP requests processed, partitioned by status code, method and HTTP "
                "path.",
                requests_);
  out +=
      "# HELP request_duration_ms How long it took to process the request, partitioned by "
      "status code, method and HTTP path (seconds).\n# TYPE request_duration_ms histogram\n";
  RenderHistogram(out, "request_duration_ms", durations_, kHttpBuckets);

  out +=
      "# HELP deployment_hookd_database_queries Time to execute database queries (seconds).\n"
      "# TYPE deployment_hookd_database_queries histogram\n";
  RenderHistogram(out, "deployment_hookd_database_queries", database_, kDatabaseBuckets);

  RenderCounter(out, "deployment_hookd_state_transition",
                "Deployment state transitions handled by hookd.", transitions_);

  out +=
      "# HELP deployment_hookd_queue_size Deployments seen by this hookd that are not "
      "finished yet.\n# TYPE deployment_hookd_queue_size gauge\n";
  out += "deployment_hookd_queue_size " + std::to_string(unfinished_.size()) + "\n";

  out +=
      "# HELP deployment_hookd_cluster_status Whether a deployd of the cluster is connected "
      "to this hookd (1) or not (0).\n# TYPE deployment_hookd_cluster_status gauge\n";
  std::map<std::string, int> clusters;
  for (const auto& c : known) clusters[c] = 0;
  for (const auto& c : connected) clusters[c] = 1;
  for (const auto& [c, up] : clusters) {
    out += "deployment_hookd_cluster_status{cluster=\"" + EscapeLabel(c) + "\"} " +
           std::to_string(up) + "\n";
  }

  out +=
      "# HELP deployment_hookd_lead_time_seconds Seconds from the creation of a deployment to "
      "its success.\n# TYPE deployment_hookd_lead_time_seconds summary\n";
  for (const auto& [labels, s] : lead_time_) {
    out += "deployment_hookd_lead_time_seconds_sum{" + labels + "} " + FormatDouble(s.sum) + "\n";
    out += "deployment_hookd_lead_time_seconds_count{" + labels + "} " + std::to_string(s.count) +
           "\n";
  }

  RenderCounter(out, "deployment_hookd_auth_interceptor_requests",
                "Authentication attempts on pb.Deploy, by type and error.", auth_);

  RenderCounter(out, "deployment_hookd_github_requests",
                "GitHub API requests answered, by HTTP status, repository and team.",
                github_requests_);
  RenderCounter(out, "deployment_hookd_github_dropped_total",
                "GitHub deployments and statuses given up or never queued, by reason.",
                github_dropped_);

  RenderCounter(out, "grpc_server_started_total", "Total number of RPCs started on the server.",
                grpc_started_);
  RenderCounter(out, "grpc_server_handled_total",
                "Total number of RPCs completed on the server, regardless of success or failure.",
                grpc_handled_);
  RenderCounter(out, "grpc_server_msg_received_total",
                "Total number of RPC stream messages received on the server.", grpc_received_);
  RenderCounter(out, "grpc_server_msg_sent_total",
                "Total number of gRPC stream messages sent by the server.", grpc_sent_);
  out +=
      "# HELP grpc_server_handling_seconds Histogram of response latency (seconds) of gRPC "
      "that had been application-level handled by the server.\n"
      "# TYPE grpc_server_handling_seconds histogram\n";
  RenderHistogram(out, "grpc_server_handling_seconds", grpc_seconds_, kGrpcBuckets);
  return out;
}

}  // namespace hookd
