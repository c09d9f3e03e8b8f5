#include <exception>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "hookd/http/endpoint_util.hpp"
#include "hookd/http/endpoints.hpp"
#include "hookd/store/migrations.hpp"

namespace hookd::http {

Response ReadinessEndpoint::Handle(const Request& /*request*/) const {
  try {
    const int version = schema_.SchemaVersion();
    if (version < store::LatestMigrationVersion()) {
      return Text(503, "database schema at version " + std::to_string(version) + ", want " +
                           std::to_string(store::LatestMigrationVersion()) + "\n");
    }
    if (check_) {
      if (auto reason = check_(); !reason.empty()) return Text(503, reason + "\n");
    }
    return Text(200, "ready\n");
  } catch (const std::exception& e) {
    // The reason goes to the log, not to an anonymous caller.
    spdlog::warn("readiness: database unavailable: {}", e.what());
    return Text(503, "database unavailable\n");
  }
}

Response MetricsEndpoint::Handle(const Request& /*request*/) const {
  std::vector<std::string> known;
  try {
    known = intake_.KnownClusters();
  } catch (const std::exception& e) {
    spdlog::debug("metrics: known clusters unavailable: {}", e.what());
  }
  return Response{200,
                  "text/plain; version=0.0.4; charset=utf-8",
                  metrics_.Render(intake_.ConnectedClusters(), known),
                  {}};
}

}  // namespace hookd::http
