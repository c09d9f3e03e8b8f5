#pragma once
// The fixture of hookd's HTTP unit tests: the endpoints over in-memory stores
// (support/fake_stores.hpp) and a fake clock, no database. Build() (re)creates the handlers from
// config_ and the fakes.
#include <memory>

#include <gtest/gtest.h>

#include "hookd/config.hpp"
#include "hookd/http/handlers.hpp"
#include "hookd/metrics.hpp"
#include "hookd/store/migrations.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_stores.hpp"

namespace testsupport {

class HttpFakesTest : public ::testing::Test {
 protected:
  void Build() {
    handlers_ = std::make_unique<hookd::http::Handlers>(
        config_,
        hookd::http::Backends{keys_, deployments_, repositories_, schema_, intake_, clock_},
        metrics_);
  }

  FakeClock clock_;
  FakeApiKeyStore keys_{clock_};
  FakeDeploymentStore deployments_;
  FakeTeamRepositoryStore repositories_;
  FakeSchemaStore schema_{hookd::store::LatestMigrationVersion()};
  FakeIntake intake_{clock_};
  hookd::Metrics metrics_;
  hookd::Config config_;
  std::unique_ptr<hookd::http::Handlers> handlers_;
};

}  // namespace testsupport
