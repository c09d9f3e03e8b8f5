#pragma once
// The migrations this binary carries, without database types (store/migrate.hpp applies them).
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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

// Newest version known to this binary.
int LatestMigrationVersion();

}  // namespace hookd::store
