#pragma once
// deployd's Prometheus metrics and the small HTTP server for /metrics and
// /healthz.
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>

#include "deployment.pb.h"

namespace deployd::agent {

class Metrics {
 public:
  // Per reported status: error/failure -> deploy_failed, everything else -> deploy_successful.
  void StatusReported(pb::DeploymentState state);
  void ResourceApplied(const std::string& team, const std::string& kind, const std::string& name);
  void DeploymentStarted();
  void DeploymentFinished();
  std::string Render() const;  // Prometheus text exposition format 0.0.4

 private:
  std::atomic<long long> successful_{0};
  std::atomic<long long> failed_{0};
  std::atomic<long long> ignored_{0};
  std::atomic<long long> running_{0};
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, std::string>, long long> resources_;
};

// Serves GET <metrics_path>, GET /healthz (always 200) and GET /readyz (200 while `healthy`
// says so, else 503) on `address` ("host:port"; port 0 = any).
class MetricsServer {
 public:
  MetricsServer(const std::string& address, std::string metrics_path, const Metrics& metrics,
                std::function<bool()> healthy);
  ~MetricsServer();
  int Port() const;
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deployd::agent
