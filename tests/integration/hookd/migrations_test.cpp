// Migrations and the store against a real Postgres.
#include <thread>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "harness.hpp"
#include "hookd/store/migrate.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"

namespace {

using hookdtest::kEncryptionKeyHex;

std::map<std::string, std::vector<std::string>> Columns(pqxx::connection& conn) {
  std::map<std::string, std::vector<std::string>> out;
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec(
      "SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
      "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position");
  for (const auto& r : rows) {
    out[r[0].as<std::string>()].push_back(r[1].as<std::string>() + " " + r[2].as<std::string>() +
                                          (r[3].as<std::string>() == "YES" ? " null" : ""));
  }
  return out;
}

std::set<std::string> Indexes(pqxx::connection& conn) {
  std::set<std::string> out;
  pqxx::read_transaction tx(conn);
  for (const auto& r : tx.exec("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")) {
    out.insert(r[0].as<std::string>());
  }
  return out;
}

TEST(Migrations, ReproduceTheOriginalSchemaAndAreIdempotent) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  pqxx::connection conn(db.Url());
  EXPECT_EQ(hookd::store::SchemaVersion(conn), 0);
  EXPECT_EQ(hookd::store::Migrate(conn), hookd::store::LatestMigrationVersion());
  EXPECT_EQ(hookd::store::Migrate(conn), 0);  // second run: nothing to do
  EXPECT_EQ(hookd::store::SchemaVersion(conn), hookd::store::LatestMigrationVersion());

  auto columns = Columns(conn);
  using V = std::vector<std::string>;
  // The original's final schema after 0001-0009, unchanged but for
  // deployment.github_id, widened to bigint by 0015 (GitHub deployment ids exceed 2^31).
  EXPECT_EQ(columns["apikey"],
            (V{"key character varying", "team character varying",
               "created timestamp with time zone", "expires timestamp with time zone null"}));
  EXPECT_EQ(columns["deployment"],
            (V{"id character varying", "team character varying", "created timestamp with time zone",
               "github_id bigint null", "github_repository character varying null",
               "cluster character varying null", "state character varying null"}));
  EXPECT_EQ(
      columns["deployment_status"],
      (V{"id character varying", "deployment_id character varying", "status character varying",
         "message character varying", "created timestamp with time zone"}));
  EXPECT_EQ(columns["deployment_resource"],
            (V{"id character varying", "deployment_id character varying", "index integer",
               "group character varying", "version character varying", "kind character varying",
               "name character varying", "namespace character varying"}));
  // Plus ours (0011): the pinned GitHub repository ID of an authorised repository.
  EXPECT_EQ(columns["team_repositories"],
            (V{"team character varying", "repository character varying",
               "repository_id character varying null"}));
  EXPECT_EQ(columns["migrations"], (V{"version integer", "created timestamp with time zone"}));

  auto indexes = Indexes(conn);
  for (const char* name :
       {"apikey_team_index", "team_repositories_team", "team_repositories_repository",
        "team_repositories_unique", "deployment_created", "deployment_status_deployment_id",
        "deployment_resource_deployment_id", "deployment_state", "deployment_cluster",
        "deployment_team"}) {
    EXPECT_TRUE(indexes.count(name)) << name;
  }
  EXPECT_FALSE(indexes.count("apikey_team_azure_id_index"));

  pqxx::read_transaction tx(conn);
  auto versions = tx.exec("SELECT version FROM migrations ORDER BY version");
  ASSERT_EQ(static_cast<int>(versions.size()), hookd::store::LatestMigrationVersion());
  for (int i = 0; i < static_cast<int>(versions.size()); ++i) {
    EXPECT_EQ(versions[i][0].as<int>(), i + 1);
  }
}

TEST(Migrations, EmbeddedFilesHaveTheOriginalNames) {
  std::vector<std::string> names;
  for (const auto& m : hookd::store::Migrations()) names.push_back(m.name);
  ASSERT_GE(names.size(), 9u);
  EXPECT_EQ(names[0], "0001-initial-database-schema.sql");
  EXPECT_EQ(names[8], "0009-drop-azure-column.sql");
  for (const auto& m : hookd::store::Migrations()) {
    EXPECT_NE(m.sql.find("START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ WRITE;"),
              std::string::npos);
    EXPECT_NE(m.sql.find("INSERT INTO migrations (version, created)\nVALUES (" +
                         std::to_string(m.version) + ", now());\nCOMMIT;"),
              std::string::npos)
        << m.name;
  }
}

TEST(Migrations, ReplicasStartingTogetherMigrateOnce) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  std::vector<std::thread> threads;
  std::atomic<int> applied{0};
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      try {
        pqxx::connection conn(db.Url());
        applied += hookd::store::Migrate(conn);
      } catch (const std::exception&) {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(applied.load(), hookd::store::LatestMigrationVersion());
}

TEST(Store, ApiKeysAreStoredEncryptedAndRotate) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  {
    pqxx::connection conn(db.Url());
    hookd::store::Migrate(conn);
  }
  hookd::store::ConnectionPool pool(db.Url(), 2);
  const std::string aes = *common::HexDecode(kEncryptionKeyHex);
  hookd::store::Store store(pool, aes);

  try {
    store.ApiKeys("aura");
    FAIL() << "expected not found";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kNotFound);
  }

  // A row written the original's way (hex of nonce||ciphertext) is readable.
  const std::string first = common::RandomBytes(32);
  {
    pqxx::connection conn(db.Url());
    pqxx::work tx(conn);
    tx.exec_params(
        "INSERT INTO apikey (key, team, created, expires) VALUES ($1, 'aura', NOW(), "
        "NOW() + interval '1 day')",
        common::EncryptApiKey(aes, first));
    tx.commit();
  }
  auto keys = store.ApiKeys("aura");
  ASSERT_EQ(keys.size(), 1u);
  EXPECT_EQ(keys[0].key, first);
  EXPECT_GT(keys[0].expires, std::chrono::system_clock::now());

  const std::string second = common::RandomBytes(32);
  store.RotateApiKey("aura", second);
  keys = store.ApiKeys("aura");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].key, second);  // newest expiry first
  EXPECT_GT(keys[0].expires, std::chrono::system_clock::now() + std::chrono::hours(24 * 365 * 4));
  EXPECT_LE(keys[1].expires, std::chrono::system_clock::now());  // the old key expired now
}

TEST(Store, StatusOfUnknownDeploymentIsAFailedPrecondition) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  {
    pqxx::connection conn(db.Url());
    hookd::store::Migrate(conn);
  }
  hookd::store::ConnectionPool pool(db.Url(), 1);
  hookd::store::Store store(pool, *common::HexDecode(kEncryptionKeyHex));
  try {
    store.WriteStatus("nope", pb::success, "x", std::chrono::system_clock::now());
    FAIL() << "expected an error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kFailedPrecondition);
    EXPECT_NE(std::string(e.what()).find("foreign key"), std::string::npos) << e.what();
  }
}

TEST(Store, UnreachableDatabaseIsUnavailable) {
  hookd::store::ConnectionPool pool("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", 1);
  hookd::store::Store store(pool, *common::HexDecode(kEncryptionKeyHex));
  try {
    store.Ping();
    FAIL() << "expected an error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kUnavailable);
  }
}

}  // namespace
