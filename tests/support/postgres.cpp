#include "support/postgres.hpp"

#include <cstdlib>
#include <random>
#include <stdexcept>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

namespace testsupport {
namespace {

std::string RandomSuffix() {
  std::random_device rd;
  std::mt19937_64 gen(rd());
  const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string out;
  for (int i = 0; i < 12; ++i) out += alphabet[gen() % 36];
  return out;
}

// Replaces the database name (the path after the last '/', before '?') of a Postgres URL.
std::string WithDatabase(const std::string& url, const std::string& db) {
  auto query = url.find('?');
  std::string base = url.substr(0, query);
  std::string rest = query == std::string::npos ? "" : url.substr(query);
  auto scheme = base.find("://");
  auto slash = base.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (slash == std::string::npos) return base + "/" + db + rest;
  return base.substr(0, slash + 1) + db + rest;
}

}  // namespace

TestDatabase::TestDatabase() {
  const char* url = std::getenv("HOOKD_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    const char* allow = std::getenv("DEPLOY_TESTS_ALLOW_NO_DB");
    if (allow == nullptr || std::string(allow) != "1") {
      ADD_FAILURE()
          << "HOOKD_TEST_DATABASE_URL is not set: run the tests through scripts/test, "
             "which starts a private Postgres (or set DEPLOY_TESTS_ALLOW_NO_DB=1 to skip)";
    }
    return;
  }
  admin_url_ = url;
  name_ = "t_" + RandomSuffix();
  pqxx::connection conn(admin_url_);
  pqxx::nontransaction tx(conn);
  tx.exec("CREATE DATABASE " + name_);
  url_ = WithDatabase(admin_url_, name_);
}

TestDatabase::~TestDatabase() {
  if (name_.empty()) return;
  try {
    pqxx::connection conn(admin_url_);
    pqxx::nontransaction tx(conn);
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // Best effort: the whole cluster is removed at the end of the test run anyway.
  }
}

}  // namespace testsupport
