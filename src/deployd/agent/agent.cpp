#include "deployd/agent/agent.hpp"

#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "common/state.hpp"
#include "deployd/agent/metrics.hpp"
#include "deployd/agent/runner.hpp"
#include "deployd/agent/status_queue.hpp"
#include "deployd/kube/kube_client.hpp"

namespace deployd::agent {
namespace {

class KubeTeamCluster final : public TeamCluster {
 public:
  KubeTeamCluster(kube::Applier& applier, Metrics& metrics, std::string team)
      : applier_(applier), metrics_(metrics), team_(std::move(team)),
        user_(TeamServiceAccount(team_)) {}

  nlohmann::json Apply(const nlohmann::json& object) override {
    auto result = applier_.Apply(object, user_, team_);
    auto ref = kube::RefOf(object);
    metrics_.ResourceApplied(team_, ref.kind, ref.name);
    return result.object;
  }

 private:
  kube::Applier& applier_;
  Metrics& metrics_;
  std::string team_;
  std::string user_;
};

class KubeClusterFactory final : public ClusterFactory {
 public:
  KubeClusterFactory(kube::Applier& applier, Metrics& metrics) : applier_(applier), metrics_(metrics) {}
  std::unique_ptr<TeamCluster> ForTeam(const std::string& team) override {
    return std::make_unique<KubeTeamCluster>(applier_, metrics_, team);
  }

 private:
  kube::Applier& applier_;
  Metrics& metrics_;
};

class ReporterSink final : public StatusSink {
 public:
  explicit ReporterSink(StatusReporter& reporter) : reporter_(reporter) {}
  void Report(pb::DeploymentStatus status) override { reporter_.Push(std::move(status)); }

 private:
  StatusReporter& reporter_;
};

}  // namespace

struct Agent::Impl {
  AgentOptions options;
  Metrics metrics;
  kube::KubeClient kube;
  kube::Discovery discovery{kube};
  kube::Applier applier;
  KubeClusterFactory clusters{applier, metrics};
  HookdClient hookd;
  StatusReporter reporter;
  ReporterSink sink{reporter};
  common::SystemClock clock;
  std::unique_ptr<MetricsServer> metrics_server;

  std::mutex mutex;
  std::condition_variable work_ready;
  std::deque<pb::DeploymentRequest> pending;
  bool stopping = false;
  std::vector<std::thread> workers;

  explicit Impl(AgentOptions o)
      : options(std::move(o)),
        kube(options.kube),
        applier(kube, discovery, options.apply),
        hookd(options.hookd),
        reporter([this](const pb::DeploymentStatus& s) { return hookd.ReportStatus(s); },
                 options.status_flush_interval,
                 [this](const pb::DeploymentStatus& s, bool) { metrics.StatusReported(s.state()); }) {
    metrics_server = std::make_unique<MetricsServer>(options.metrics_listen_address,
                                                     options.metrics_path, metrics,
                                                     [this] { return hookd.Connected(); });
    int n = std::max(1, options.max_concurrent_deployments);
    for (int i = 0; i < n; ++i) workers.emplace_back([this] { Work(); });
  }

  void Enqueue(pb::DeploymentRequest request) {
    std::lock_guard lock(mutex);
    pending.push_back(std::move(request));
    work_ready.notify_one();
  }

  void Work() {
    for (;;) {
      pb::DeploymentRequest request;
      {
        std::unique_lock lock(mutex);
        work_ready.wait(lock, [this] { return stopping || !pending.empty(); });
        if (stopping) return;
        request = std::move(pending.front());
        pending.pop_front();
      }
      metrics.DeploymentStarted();
      try {
        RunDeployment(request, clusters, sink, clock);
      } catch (const std::exception& e) {
        spdlog::error("deployment {}: unexpected error: {}", request.id(), e.what());
      }
      metrics.DeploymentFinished();
    }
  }

  void StopWorkers() {
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      stopping = true;
      work_ready.notify_all();
    }
    for (auto& t : workers) {
      if (t.joinable()) t.join();
    }
  }
};

Agent::Agent(AgentOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

Agent::~Agent() {
  Stop();
  impl_->StopWorkers();
  impl_->reporter.Stop(std::chrono::seconds(2));
  impl_->metrics_server->Stop();
}

void Agent::Run() {
  impl_->hookd.RunReceiver([this](pb::DeploymentRequest r) { impl_->Enqueue(std::move(r)); });
}

void Agent::Stop() { impl_->hookd.Stop(); }

int Agent::MetricsPort() const { return impl_->metrics_server->Port(); }

}  // namespace deployd::agent
