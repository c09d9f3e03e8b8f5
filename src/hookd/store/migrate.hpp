#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pqxx/connection>

namespace hookd::store {

// The SQL files of migrations/, embedded at build time (name, content), sorted by name.
std::vector<std::pair<std::string_view, std::string_view>> EmbeddedMigrations();

struct Migration {
  int version = 0;
  std::string name;
  std::string_view sql;
};
// EmbeddedMigrations() with versions parsed from the "NNNN-" prefix, ascending.
std::vector<Migration> Migrations();

// Current schema version (0 when the migrations table does not exist yet).
int SchemaVersion(pqxx::connection& conn);
// Newest version known to this binary.
int LatestMigrationVersion();

// Applies every missing migration in order, each as its own transaction (the files wrap
// themselves), while holding a Postgres advisory lock so replicas starting together do not race.
// Returns the number of migrations applied. Throws common::Error{kUnavailable} on failure.
int Migrate(pqxx::connection& conn);

}  // namespace hookd::store
