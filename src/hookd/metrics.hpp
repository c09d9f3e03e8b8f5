#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>

namespace hookd {

// Every Prometheus metric of hookd, with the original's names and labels, kept in a
// prometheus-cpp registry and rendered in the text exposition format. Durations are in seconds
// (also deployment_hookd_lead_time_seconds, which the original filled with nanoseconds).
// Thread-safe.
class Metrics {
 public:
  Metrics();

  // requests_total / request_duration_ms (values in seconds, as the original).
  void ObserveRequest(const std::string& method, const std::string& path, int code, double seconds);
  // deployment_hookd_database_queries{status="ok"|"error" (as the original)}.
  void ObserveDatabaseQuery(bool ok, double seconds);
  // deployment_hookd_state_transition, deployment_hookd_queue_size and, for `success`,
  // deployment_hookd_lead_time_seconds (seconds from deployment creation to success).
  void ObserveState(const std::string& deployment_id, const std::string& state,
                    const std::string& repository, const std::string& team,
                    const std::string& cluster, double lead_time_seconds);
  // A state stored by another replica: a finished one leaves this process's queue-size gauge.
  void ObserveRemoteState(const std::string& deployment_id, const std::string& state);
  // deployment_hookd_auth_interceptor_requests{type,error}.
  void ObserveAuth(const std::string& type, const std::string& error);

  // deployment_hookd_github_requests{status_code,repository,team}: one per answered GitHub call.
  void ObserveGithubRequest(int status_code, const std::string& repository,
                            const std::string& team);
  // deployment_hookd_github_dropped_total{reason}: GitHub work given up or never queued
  // (queue_full, retries_exhausted, rejected, collapsed, database).
  void GithubDropped(const std::string& reason, std::uint64_t count = 1);

  // grpc_server_* (labels grpc_type "unary"|"server_stream", grpc_service "pb.Deploy", method).
  void GrpcStarted(const std::string& type, const std::string& service, const std::string& method);
  void GrpcReceived(const std::string& type, const std::string& service, const std::string& method);
  void GrpcSent(const std::string& type, const std::string& service, const std::string& method);
  // `code`: numeric grpc::StatusCode, rendered with Go's names ("OK", "Unavailable", ...).
  void GrpcHandled(const std::string& type, const std::string& service, const std::string& method,
                   int code, double seconds);

  // `connected`: clusters with a deployd stream here (1); `known`: others known (0).
  std::string Render(const std::vector<std::string>& connected,
                     const std::vector<std::string>& known) const;

  std::size_t QueueSize() const;

 private:
  mutable std::mutex mutex_;  // guards unfinished_ (the families are thread-safe themselves)
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Histogram>& database_;
  prometheus::Family<prometheus::Counter>& transitions_;
  prometheus::Gauge& queue_size_;
  prometheus::Family<prometheus::Summary>& lead_time_;
  prometheus::Family<prometheus::Counter>& auth_;
  prometheus::Family<prometheus::Counter>& github_requests_;
  prometheus::Family<prometheus::Counter>& github_dropped_;
  prometheus::Family<prometheus::Counter>& grpc_started_;
  prometheus::Family<prometheus::Counter>& grpc_handled_;
  prometheus::Family<prometheus::Counter>& grpc_received_;
  prometheus::Family<prometheus::Counter>& grpc_sent_;
  prometheus::Family<prometheus::Histogram>& grpc_seconds_;
  std::set<std::string> unfinished_;
};

// Go's name of a gRPC status code ("OK", "InvalidArgument", ...).
std::string GrpcCodeName(int code);

}  // namespace hookd
