#pragma once
#include <memory>

#include "hookd/config.hpp"

namespace common {
class Timers;
}

namespace hookd {

// The whole hookd process minus argument parsing and signals: database, migrations, gRPC
// server, queue sweeper, HTTP server. Tests run it in-process, and may give it their clock
// (`timers`, default the system's): the wall time it stamps and judges deadlines by, and the
// waits of its sweeper and its database pool.
class App {
 public:
  explicit App(Config config, const common::Timers* timers = nullptr);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Connects (retrying every 3 s up to database-connect-timeout), migrates, starts listening.
  // Throws common::Error; a gRPC bind failure is kUnavailable with "unable to listen for gRPC".
  void Start();
  // Graceful stop: ends streams, drains in-flight requests up to shutdown-grace.
  void Stop();

  int GrpcPort() const;
  int HttpPort() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hookd
