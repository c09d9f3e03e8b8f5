#include "hookd/app.hpp"

#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/timers.hpp"
#include "common/uuid.hpp"
#include "hookd/dispatch/dispatcher.hpp"
#include "hookd/dispatch/hub.hpp"
#include "hookd/dispatch/notifier.hpp"
#include "hookd/github/mirror.hpp"
#include "hookd/grpc/jwt.hpp"
#include "hookd/grpc/server.hpp"
#include "hookd/http/cancel.hpp"
#include "hookd/http/console.hpp"
#include "hookd/http/handlers.hpp"
#include "hookd/http/server.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/migrate.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"
#include "hookd/worker_pool.hpp"

namespace hookd {
namespace {
constexpr std::size_t kDatabaseConnections = 4;
constexpr std::size_t kWorkerThreads = 6;
constexpr auto kSweepInterval = std::chrono::seconds(1);
constexpr int kWakeEverySweeps = 30;
}  // namespace

struct App::Impl {
  Impl(Config c, const common::Timers& timers)
      : config(std::move(c)),
        clock(timers),
        pool(config.database_url, kDatabaseConnections, std::chrono::seconds(10), &clock),
        store(pool, config.database_encryption_key),
        dispatcher(store, hub, clusters, clock),
        notifier(config.database_url, dispatcher, origin),
        workers(kWorkerThreads),
        jwks(MakeJwksFetcher(config.github_jwks_url, config.github_jwks_allow_http), clock),
        jwt(jwks, config.github_issuer, "hookd", clock) {
    store.SetOrigin(origin);
    pool.SetObserver(
        [this](bool ok, double seconds) { metrics.ObserveDatabaseQuery(ok, seconds); });
    dispatcher.SetMetrics(&metrics);
    dispatcher.SetStaticClusters(config.clusters);
    dispatcher.SetClusterRedirects(config.cluster_migration_redirect);
    // With --clusters, deployments for clusters nobody knows are rejected at once.
    dispatcher.SetRejectUnknownClusters(!config.clusters.empty());
  }

  static grpcapi::JwksFetcher MakeJwksFetcher(const std::string& url, bool allow_http) {
    try {
      return grpcapi::HttpJwksFetcher(url, allow_http);
    } catch (const std::exception& e) {
      // A bad URL must not stop hookd: JWT authentication then fails with UNAVAILABLE.
      spdlog::error("GitHub JWKS URL: {}", e.what());
      std::string error = e.what();
      return
          [error]() -> std::string { throw common::Error(common::ErrorCode::kUnavailable, error); };
    }
  }

  void SweepLoop() {
    int ticks = 0;
    std::unique_lock lock(mutex);
    while (!stopping) {
      clock.BlockFor(stop_signal, lock, kSweepInterval, [this] { return stopping; });
      if (stopping) break;
      lock.unlock();
      try {
        dispatcher.ExpireQueued();
      } catch (const std::exception& e) {
        spdlog::warn("expiring queued deployments: {}", e.what());
      }
      // A stream whose queue read failed (database down) gets another chance.
      if (++ticks % kWakeEverySweeps == 0) {
        const auto connected = clusters.Connected();
        for (const auto& cluster : connected) clusters.Wake(cluster);
        try {
          // Every 30 s, well within the lease (Store::kPresenceLease).
          store.RenewPresence(connected, clock.Now());
        } catch (const std::exception& e) {
          spdlog::warn("renewing the presence of connected clusters: {}", e.what());
        }
        try {
          // Request keys only matter while a signature is fresh (30 s); keep them 10 minutes.
          store.ForgetRequestKeys(clock.Now() - std::chrono::minutes(10));
        } catch (const std::exception& e) {
          spdlog::warn("forgetting old request keys: {}", e.what());
        }
        try {
          // A client retries a request within minutes; a day covers any pipeline's retries.
          store.ForgetIdempotencyKeys(clock.Now() - std::chrono::hours(24));
        } catch (const std::exception& e) {
          spdlog::warn("forgetting old idempotency keys: {}", e.what());
        }
      }
      lock.lock();
    }
  }

  Config config;
  const common::Timers& clock;
  Metrics metrics;
  store::ConnectionPool pool;
  // Names this process in its NOTIFY payloads, so that it skips its own notifications.
  std::string origin = common::NewUuidV4();
  store::Store store;
  dispatch::StatusHub hub;
  dispatch::ClusterRegistry clusters;
  dispatch::Dispatcher dispatcher;
  http::DispatcherIntake intake{dispatcher};
  http::DispatcherCanceller canceller{dispatcher};
  dispatch::Notifier notifier;
  WorkerPool workers;
  grpcapi::JwksCache jwks;
  grpcapi::JwtVerifier jwt;
  std::unique_ptr<github::Mirror> github;  // with --github-enabled
  std::unique_ptr<grpcapi::GrpcServer> grpc;
  std::unique_ptr<http::Console> console;
  std::unique_ptr<http::Handlers> handlers;
  std::unique_ptr<http::Server> http;
  int grpc_port = 0;
  int http_port = 0;

  std::mutex mutex;
  std::condition_variable stop_signal;
  bool stopping = false;
  std::thread sweeper;
  bool started = false;
};

App::App(Config config, const common::Timers* timers)
    : impl_(std::make_unique<Impl>(std::move(config),
                                   timers != nullptr ? *timers : common::RealTimers())) {}

App::~App() { Stop(); }

void App::Start() {
  auto& c = impl_->config;
  if (c.github_enabled && !impl_->github) {
    // Before the database: a missing or unreadable key stops hookd at once.
    auto key = github::AppKey::FromFile(c.github_key_file);
    github::MirrorOptions options;
    options.api.api_url = c.github_api_url;
    options.api.app_id = c.github_app_id;
    options.api.install_id = c.github_install_id;
    options.database_url = c.database_url;
    options.base_url = c.base_url;
    options.create_wait = c.github_create_timeout;
    options.queue_limit = c.github_queue_limit;
    options.poll_interval = c.github_poll_interval;
    options.retry_base = c.github_retry_base;
    options.retry_cap = c.github_retry_cap;
    options.max_attempts = c.github_max_attempts;
    impl_->github = std::make_unique<github::Mirror>(std::move(options), std::move(key),
                                                     impl_->pool, &impl_->metrics, impl_->clock);
    impl_->dispatcher.SetObserver(impl_->github.get());
    spdlog::info("GitHub deployments and statuses on: {}, App {}, installation {}",
                 c.github_api_url, c.github_app_id, c.github_install_id);
  }
  {
    auto conn = store::ConnectWithRetry(c.database_url, c.database_connect_timeout,
                                        std::chrono::seconds(3));
    int applied = store::Migrate(*conn);
    spdlog::info("database schema at version {} ({} migrations applied now)",
                 store::SchemaVersion(*conn), applied);
  }
  if (impl_->github) impl_->github->Start();
  grpcapi::GrpcOptions options;
  options.address = c.grpc_address;
  options.cli_authentication = c.grpc_cli_authentication;
  options.deployd_authentication = c.grpc_deployd_authentication;
  options.deployd_keys = c.deployd_keys;
  options.keepalive_interval = c.grpc_keepalive_interval;
  options.tls_cert_file = c.grpc_tls_cert_file;
  options.tls_key_file = c.grpc_tls_key_file;
  options.max_message_size = c.max_message_size;
  options.jwt = &impl_->jwt;
  options.metrics = &impl_->metrics;
  impl_->grpc = std::make_unique<grpcapi::GrpcServer>(
      impl_->dispatcher,
      grpcapi::GrpcStores{impl_->store, impl_->store, impl_->store, impl_->store}, impl_->workers,
      options);
  impl_->grpc_port = impl_->grpc->Start();
  impl_->notifier.Start();
  impl_->handlers =
      std::make_unique<http::Handlers>(c,
                                       http::Backends{impl_->store, impl_->store, impl_->store,
                                                      impl_->store, impl_->intake, impl_->clock},
                                       impl_->metrics);
  // Beyond the original: POST /api/v1/cancel (http/cancel.hpp).
  impl_->handlers->AddRoute(
      "/api/v1/cancel", {"POST"}, [this](const http::Request& r, const http::PathParams&) {
        return http::Cancel(r, {impl_->store, impl_->canceller, impl_->clock});
      });
  impl_->console = std::make_unique<http::Console>(
      c, http::ConsoleBackends{impl_->store, impl_->store, impl_->clock,
                               [this] { return impl_->dispatcher.KnownClusters(); }, impl_->hub});
  impl_->handlers->SetConsole(impl_->console.get());
  impl_->handlers->SetReadinessCheck([this]() -> std::string {
    return impl_->notifier.Listening() ? "" : "not listening for notifications of other replicas";
  });
  if (impl_->github) {
    impl_->handlers->SetGithubDeployment([mirror = impl_->github.get()](const std::string& id) {
      return mirror->AwaitDeployment(id);
    });
  }
  impl_->http = std::make_unique<http::Server>(*impl_->handlers, impl_->metrics, c.listen_address,
                                               c.max_message_size);
  try {
    impl_->http_port = impl_->http->Start();
  } catch (const common::Error& e) {
    // As the original: an HTTP listen error is logged and hookd keeps serving gRPC.
    spdlog::error("HTTP server: {}", e.what());
    impl_->http.reset();
  }
  impl_->sweeper = std::thread([this] { impl_->SweepLoop(); });
  impl_->started = true;
}

void App::Stop() {
  if (!impl_->started) return;
  impl_->started = false;
  spdlog::info("shutting down");
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->stop_signal.notify_all();
  if (impl_->sweeper.joinable()) impl_->sweeper.join();
  impl_->notifier.Stop();
  if (impl_->http) impl_->http->Stop(impl_->config.shutdown_grace);
  if (impl_->grpc) impl_->grpc->Shutdown(impl_->config.shutdown_grace);
  impl_->workers.Join();
  if (impl_->github) impl_->github->Stop();
}

int App::GrpcPort() const { return impl_->grpc_port; }
int App::HttpPort() const { return impl_->http_port; }

}  // namespace hookd
