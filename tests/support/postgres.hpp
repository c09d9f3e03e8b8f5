#pragma once
// A private, empty database per test, on the Postgres the test script started.
#include <string>

namespace testsupport {

// $HOOKD_TEST_DATABASE_URL: the admin URL (e.g. postgresql://postgres@127.0.0.1:PORT/postgres).
// Fails the test (not skip) when unset, unless DEPLOY_TESTS_ALLOW_NO_DB=1, then skips.
class TestDatabase {
 public:
  TestDatabase();   // CREATE DATABASE t_<random>
  ~TestDatabase();  // DROP DATABASE ... WITH (FORCE)
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  bool Available() const { return !url_.empty(); }
  const std::string& Url() const { return url_; }  // URL of the fresh database
  const std::string& Name() const { return name_; }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
};

// Use at the top of a test body: skips/fails as documented above.
#define REQUIRE_TEST_DATABASE(db)                                                       \
  do {                                                                                  \
    if (!(db).Available()) GTEST_SKIP() << "HOOKD_TEST_DATABASE_URL not set (allowed)"; \
  } while (0)

}  // namespace testsupport
