// hookd: the relay server. Parses configuration, sets up logging and signals, runs App.
#include <csignal>
#include <cstring>
#include <memory>
#include <string>

#include <malloc.h>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/tracing.hpp"
#include "hookd/app.hpp"
#include "hookd/config.hpp"
#include "hookd/store/pool.hpp"

namespace {
constexpr int kExitGrpcServe = 114;  // the original's exit code when gRPC cannot serve
}

int main(int argc, char** argv) {
  // Few malloc arenas: with dozens of threads glibc would otherwise keep one arena per thread
  // and hookd's resident memory grows with the thread count rather than with the work.
  mallopt(M_ARENA_MAX, 2);
  auto loaded = hookd::LoadConfig(argc, argv, common::ProcessEnv());
  if (!loaded.config) return loaded.exit_code;
  const auto& config = *loaded.config;
  try {
    common::SetupLogging(config.log_format, config.log_level, "hookd");
  } catch (const common::Error& e) {
    std::fprintf(stderr, "hookd: %s\n", e.what());
    return 1;
  }
  spdlog::info("hookd starting; configuration: {}", loaded.effective);
  common::InstallProtobufLimits();
  try {
    for (const auto& warning : hookd::SecurityWarnings(config)) spdlog::warn("{}", warning);
  } catch (const common::Error& e) {
    spdlog::critical("Fatal error: {}", e.what());
    return 1;
  }

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (!config.otel_endpoint.empty()) {
    common::TracerOptions tracing;
    tracing.endpoint = config.otel_endpoint;
    tracing.service_name = "hookd";
    common::SetGlobalTracer(std::make_unique<common::Tracer>(std::move(tracing)));
    spdlog::info("exporting traces over OTLP/HTTP to {}", config.otel_endpoint);
  }

  hookd::App app(config);
  try {
    app.Start();
  } catch (const hookd::store::ShutdownRequested&) {
    spdlog::info("received a signal while waiting for the database; exiting");
    return 0;
  } catch (const common::Error& e) {
    spdlog::critical("Fatal error: {}", e.what());
    if (std::string(e.what()).rfind("unable to listen for gRPC", 0) == 0) return kExitGrpcServe;
    return 1;
  } catch (const std::exception& e) {
    spdlog::critical("Fatal error: {}", e.what());
    return 1;
  }
  spdlog::info("hookd ready: gRPC on port {}", app.GrpcPort());

  int received = 0;
  sigwait(&signals, &received);
  spdlog::info("received signal {}, shutting down", strsignal(received));
  app.Stop();
  common::SetGlobalTracer(nullptr);  // exports the spans still queued
  spdlog::info("hookd stopped");
  return 0;
}
