// The original README's "Running locally" sequence, command for command: the database, hookd
// (which patches the schema), the README's API-key row, deployd, and both `./bin/deploy` command
// lines (gRPC without authentication, then the signed HTTP API with the README's key).
//
// What the test changes, and only that: the private Postgres of the test run instead of
// `docker-compose up` (a database URL for hookd instead of its default DSN), free ports instead
// of 8080/9090/8081/5432 (given to the daemons through their environment variables, so their
// command lines stay as the README has them), and kube-sim's kubeconfig for deployd ($KUBECONFIG).
#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;

// The README's key (the plain API key of team aura) and the statement that stores it. The
// README wraps the statement in `psql ... <<< EOF` followed by the lines and `EOF`, which a shell
// does not read as a here-document (`<<<` passes the word "EOF"); the statement itself is fed to
// psql here as it is written there.
constexpr const char* kReadmeApiKey =
    "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d";
constexpr const char* kReadmeInsert = R"(insert into
    apikey (key, team, created, expires)
    values ('1608bf2caf81bb68d50bfb094a8e0d90de2b27260767a64a0103c6255077eb446f4fabcb7ae94514380b4fdc006bd50dfe2ea73f4b60c0c55891a60f',
            'aura', now(),now()+interval '10 years');
)";

// Host, port and database name of a postgresql:// URL.
struct PgTarget {
  std::string host;
  std::string port;
  std::string database;
};

PgTarget ParsePgUrl(const std::string& url) {
  PgTarget t;
  auto rest = url.substr(url.find("://") + 3);
  rest = rest.substr(rest.find('@') == std::string::npos ? 0 : rest.find('@') + 1);
  const auto slash = rest.find('/');
  const auto hostport = rest.substr(0, slash);
  const auto colon = hostport.rfind(':');
  t.host = hostport.substr(0, colon);
  t.port = colon == std::string::npos ? "5432" : hostport.substr(colon + 1);
  t.database = rest.substr(slash + 1, rest.find('?', slash) - slash - 1);
  return t;
}

TEST(OriginalReadme, RunningLocallyWorksAsWritten) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  const std::string dir = testsupport::MakeTempDir("readme");
  const int http_port = testsupport::FreePort();
  const int grpc_port = testsupport::FreePort();
  const int metrics_port = testsupport::FreePort();
  // Where the README says localhost:9090 / localhost:8080.
  const std::string grpc_server = "localhost:" + std::to_string(grpc_port);
  const std::string http_server = "http://localhost:" + std::to_string(http_port);

  // The Kubernetes cluster `local` (kube-sim, team aura).
  const std::string kubeconfig = dir + "/kubeconfig";
  testsupport::ChildProcess kube_sim({BinaryPath("kube-sim"), "--listen", "127.0.0.1:0",
                                      "--kubeconfig-out", kubeconfig, "--time-scale", "0.02"},
                                     {}, dir + "/kube-sim.log");

  // "run `./bin/hookd`": no flags; the database and ports come from its environment.
  testsupport::ChildProcess hookd(
      {BinaryPath("hookd")},
      {{"HOOKD_DATABASE_URL", db.Url()},
       {"HOOKD_LISTEN_ADDRESS", "127.0.0.1:" + std::to_string(http_port)},
       {"HOOKD_GRPC_ADDRESS", "127.0.0.1:" + std::to_string(grpc_port)}},
      dir + "/hookd.log");
  ASSERT_TRUE(testsupport::WaitForPort(http_port, 30s)) << hookd.Log();
  ASSERT_TRUE(testsupport::WaitForPort(grpc_port, 30s)) << hookd.Log();

  // "When you start hookd, the schema will be patched": the README's row, through psql.
  const auto pg = ParsePgUrl(db.Url());
  auto psql = testsupport::Run({"psql", "-U", "postgres", "-h", pg.host, "-p", pg.port, pg.database,
                                "-v", "ON_ERROR_STOP=1"},
                               {{"PGPASSWORD", "root"}}, 30s, kReadmeInsert);
  ASSERT_EQ(psql.exit_code, 0) << psql.out << psql.err;
  EXPECT_EQ(psql.out, "INSERT 0 1\n");

  // deployd with its defaults (cluster `local`), pointed at hookd and kube-sim.
  testsupport::ChildProcess deployd(
      {BinaryPath("deployd")},
      {{"DEPLOYD_GRPC_SERVER", "127.0.0.1:" + std::to_string(grpc_port)},
       {"DEPLOYD_METRICS_LISTEN_ADDRESS", "127.0.0.1:" + std::to_string(metrics_port)},
       {"KUBECONFIG", kubeconfig}},
      dir + "/deployd.log");

  // The user's resource files: the README names them resource.yaml and res.yaml.
  const std::string example =
      testsupport::ReadFile(testsupport::SourceDir() + "/examples/configmap.yaml");
  testsupport::WriteFile(dir + "/resource.yaml", example);
  testsupport::WriteFile(dir + "/res.yaml", example);
  const std::map<std::string, std::string> ci_env{{"GITHUB_STEP_SUMMARY", "\x01unset"},
                                                  {"GITHUB_ACTIONS", "\x01unset"},
                                                  {"APIKEY", "\x01unset"},
                                                  {"TEAM", "\x01unset"}};
  const auto logs = [&] { return hookd.Log() + deployd.Log() + kube_sim.Log(); };

  // ./bin/deploy --resource resource.yaml --cluster local --apikey 20ce...
  //   --deploy-server localhost:9090 --grpc-authentication=false --grpc-use-tls=false --wait
  auto grpc =
      testsupport::Run({BinaryPath("deploy"), "--resource", dir + "/resource.yaml", "--cluster",
                        "local", "--apikey", kReadmeApiKey, "--deploy-server", grpc_server,
                        "--grpc-authentication=false", "--grpc-use-tls=false", "--wait"},
                       ci_env, 90s);
  EXPECT_EQ(grpc.exit_code, 0) << grpc.out << grpc.err << logs();
  EXPECT_NE((grpc.out + grpc.err).find("success: Deployment completed successfully."),
            std::string::npos)
      << grpc.out << grpc.err;

  // ./bin/deploy --resource res.yaml --cluster local --apikey 20ce...
  //   --deploy-server http://localhost:8080 --wait
  auto http =
      testsupport::Run({BinaryPath("deploy"), "--resource", dir + "/res.yaml", "--cluster", "local",
                        "--apikey", kReadmeApiKey, "--deploy-server", http_server, "--wait"},
                       ci_env, 90s);
  EXPECT_EQ(http.exit_code, 0) << http.out << http.err << logs();
  EXPECT_NE((http.out + http.err).find("success: Deployment completed successfully."),
            std::string::npos)
      << http.out << http.err;

  // Two deployments of team aura to cluster local, both successful, as hookd stored them.
  pqxx::connection conn(db.Url());
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec("SELECT team, cluster, state FROM deployment ORDER BY created");
  ASSERT_EQ(rows.size(), 2u);
  for (const auto& row : rows) {
    EXPECT_EQ(row[0].as<std::string>(), "aura");
    EXPECT_EQ(row[1].as<std::string>(), "local");
    EXPECT_EQ(row[2].as<std::string>(), "success");
  }

  EXPECT_EQ(deployd.Stop(), 0) << deployd.Log();
  EXPECT_EQ(hookd.Stop(), 0) << hookd.Log();
  EXPECT_EQ(kube_sim.Stop(), 0) << kube_sim.Log();
}

// The README's key row is the key the README passes to the CLI: hookd decrypts it with its
// default encryption key, so the signed HTTP API accepts the README's key (checked above); and a
// wrong key is refused, so the second command line really authenticates.
TEST(OriginalReadme, WrongKeyIsRefusedByTheHttpApi) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  const int http_port = testsupport::FreePort();
  testsupport::ChildProcess hookd(
      {BinaryPath("hookd")}, {{"HOOKD_DATABASE_URL", db.Url()},
                              {"HOOKD_LISTEN_ADDRESS", "127.0.0.1:" + std::to_string(http_port)},
                              {"HOOKD_GRPC_ADDRESS", "127.0.0.1:0"}});
  ASSERT_TRUE(testsupport::WaitForPort(http_port, 30s)) << hookd.Log();
  {
    pqxx::connection conn(db.Url());
    pqxx::work tx(conn);
    tx.exec(kReadmeInsert);
    tx.commit();
  }
  const std::string dir = testsupport::MakeTempDir("readme-wrong-key");
  testsupport::WriteFile(dir + "/res.yaml", testsupport::ReadFile(testsupport::SourceDir() +
                                                                  "/examples/configmap.yaml"));
  std::string wrong = kReadmeApiKey;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  auto result = testsupport::Run(
      {BinaryPath("deploy"), "--resource", dir + "/res.yaml", "--cluster", "local", "--apikey",
       wrong, "--deploy-server", "http://localhost:" + std::to_string(http_port), "--wait"},
      {{"GITHUB_STEP_SUMMARY", "\x01unset"}, {"APIKEY", "\x01unset"}, {"TEAM", "\x01unset"}}, 60s);
  EXPECT_EQ(result.exit_code, 4) << result.out << result.err;  // the request was rejected
  EXPECT_NE(result.err.find("level=error msg=\"fatal: PermissionDenied: failed authentication\""),
            std::string::npos)
      << result.out << result.err;
  EXPECT_EQ(hookd.Stop(), 0) << hookd.Log();
}

}  // namespace
