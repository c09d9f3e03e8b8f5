#pragma once
#include <pqxx/connection>

#include "hookd/store/migrations.hpp"

namespace hookd::store {

// Current schema version (0 when the migrations table does not exist yet).
int SchemaVersion(pqxx::connection& conn);
// Applies every missing migration in order, each as its own transaction (the files wrap
// themselves), while holding a Postgres advisory lock so replicas starting together do not race.
// Returns the number of migrations applied. Throws common::Error{kUnavailable} on failure.
int Migrate(pqxx::connection& conn);

}  // namespace hookd::store
