#pragma once
// deployd's Prometheus metrics and the small HTTP server for /metrics and
// /healthz.
#include <functional>
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include "common/asio.hpp"
#include "deployment.pb.h"

namespace deployd::agent {

// deployd's metrics with the original's names, in a prometheus-cpp registry. Thread-safe.
class Metrics {
 public:
  Metrics();
  // Per reported status: error/failure -> deploy_failed, everything else -> deploy_successful.
  void StatusReported(pb::DeploymentState state);
  void ResourceApplied(const std::string& team, const std::string& kind, const std::string& name);
  void DeploymentStarted();
  void DeploymentFinished();
  std::string Render() const;  // Prometheus text exposition format 0.0.4

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Counter& successful_;
  prometheus::Counter& failed_;
  prometheus::Counter& ignored_;
  prometheus::Family<prometheus::Counter>& resources_;
  prometheus::Gauge& running_;
};

// Serves GET <metrics_path>, GET /healthz (always 200) and GET /readyz (200 while `healthy`
// says so, else 503) on `address` ("host:port"; port 0 = any). Runs on `executor` (the engine's
// io_context, on a strand of its own): no thread of its own. `metrics` and `healthy` must stay
// usable until Stop() and until that executor runs no more handlers.
class MetricsServer {
 public:
  MetricsServer(common::net::any_io_executor executor, const std::string& address,
                std::string metrics_path, const Metrics& metrics, std::function<bool()> healthy);
  ~MetricsServer();
  int Port() const;
  // Closes the listener (connections being served end by themselves, within 10 s).
  void Stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace deployd::agent
