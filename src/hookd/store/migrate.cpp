#include "hookd/store/migrate.hpp"

#include <algorithm>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/error.hpp"

namespace hookd::store {
namespace {

// Arbitrary constant identifying hookd's migration lock ("hookdmig" in ASCII).
constexpr long long kMigrationLockId = 0x686f6f6b646d6967LL;

int ParseVersion(std::string_view name) {
  int version = 0;
  std::size_t i = 0;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) {
    version = version * 10 + (name[i] - '0');
  }
  if (i == 0 || i >= name.size() || name[i] != '-') {
    throw common::Error(common::ErrorCode::kInternal,
                        "migration file name must start with NNNN-: " + std::string(name));
  }
  return version;
}

}  // namespace

std::vector<Migration> Migrations() {
  std::vector<Migration> out;
  for (const auto& [name, sql] : EmbeddedMigrations()) {
    out.push_back(Migration{ParseVersion(name), std::string(name), sql});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  return out;
}

int LatestMigrationVersion() {
  auto all = Migrations();
  return all.empty() ? 0 : all.back().version;
}

int SchemaVersion(pqxx::connection& conn) {
  pqxx::nontransaction tx(conn);
  auto exists = tx.exec("SELECT to_regclass('public.migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return 0;
  auto result = tx.exec("SELECT COALESCE(MAX(version), 0) FROM migrations");
  return result[0][0].as<int>();
}

int Migrate(pqxx::connection& conn) {
  {
    pqxx::nontransaction tx(conn);
    tx.exec("SELECT pg_advisory_lock(" + std::to_string(kMigrationLockId) + ")");
  }
  auto unlock = [&conn] {
    try {
      pqxx::nontransaction tx(conn);
      tx.exec("SELECT pg_advisory_unlock(" + std::to_string(kMigrationLockId) + ")");
    } catch (const std::exception& e) {
      spdlog::warn("unable to release migration lock: {}", e.what());
    }
  };
  int applied = 0;
  try {
    const int current = SchemaVersion(conn);
    for (const auto& migration : Migrations()) {
      if (migration.version <= current) continue;
      spdlog::info("applying database migration {}", migration.name);
      try {
        pqxx::nontransaction tx(conn);
        tx.exec(std::string(migration.sql));
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const std::exception& e) {
        // The file's own transaction is aborted; end it so the session is usable again.
        try {
          pqxx::nontransaction tx(conn);
          tx.exec("ROLLBACK");
        } catch (const std::exception&) {
        }
        throw common::Error(common::ErrorCode::kUnavailable,
                            "migration " + migration.name + " failed: " + e.what());
      }
      ++applied;
    }
  } catch (const common::Error&) {
    unlock();
    throw;
  } catch (const std::exception& e) {
    unlock();
    throw common::Error(common::ErrorCode::kUnavailable,
                        std::string("database migration failed: ") + e.what());
  }
  unlock();
  return applied;
}

}  // namespace hookd::store
