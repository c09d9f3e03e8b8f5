// The crash's own words through the whole chain (CLI, hookd with Postgres, deployd, kube-sim's
// crashloop scenario): the final status of a crash-looping Deployment carries the crashed
// instance's last log lines, stored by hookd as deployd sent them, printed line by line by
// `deploy --wait` and shown with their line breaks on the console's deployment page.
#include <regex>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "support/chain.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;

constexpr const char* kManifest = R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: crasher
  namespace: aura
  annotations:
    test.deployd.io/scenario: crashloop
spec:
  replicas: 1
  selector:
    matchLabels: {app: crasher}
  template:
    metadata:
      labels: {app: crasher}
      annotations:
        test.deployd.io/previous-log: "starting crasher v2\n\x1b[31mpanic: <nil> map\x1b[0m\n"
    spec:
      containers:
        - name: app
          image: crasher:2
)";

TEST(CrashLogChain, FinalStatusPageAndCliShowTheCrashedInstancesLastLines) {
  testsupport::TestDatabase db;
  ASSERT_TRUE(db.Available());
  testsupport::Chain chain;
  testsupport::ChainOptions options;
  options.database_url = db.Url();
  options.dir_prefix = "e2e-crashlog";
  options.time_scale = 0.05;
  ASSERT_NO_FATAL_FAILURE(chain.Start(options));
  const std::string manifest = chain.Dir() + "/crasher.yaml";
  testsupport::WriteFile(manifest, kManifest);

  auto result = testsupport::Run(
      {BinaryPath("deploy"), "--resource", manifest, "--cluster", "local", "--deploy-server",
       chain.GrpcAddress(), "--grpc-use-tls=false", "--grpc-authentication=false", "--apikey",
       "20cefcd6bd0e8b8860c4ea90e75d7123019ed7866c61bd09e23821948878a11d", "--wait", "--timeout",
       "60s"},
      {{"GITHUB_STEP_SUMMARY", "\x01unset"},
       {"GITHUB_ACTIONS", "\x01unset"},
       {"GITHUB_SHA", "\x01unset"},
       {"APIKEY", "\x01unset"},
       {"TEAM", "\x01unset"}},
      90s);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err << chain.Logs();

  // What hookd stored.
  pqxx::connection conn(db.Url());
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec(
      "SELECT d.id, s.message FROM deployment d JOIN deployment_status s ON s.deployment_id = d.id "
      "WHERE s.status = 'failure'");
  ASSERT_EQ(rows.size(), 1U) << result.err << chain.Logs();
  const std::string id = rows[0][0].as<std::string>();
  const std::string message = rows[0][1].as<std::string>();
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(message, m,
                        std::regex(R"(^Deployment/crasher: pod (crasher-[a-z0-9]+-[a-z0-9]+) )"
                                   R"(container app: CrashLoopBackOff: )")))
      << message;
  const std::string pod = m[1];
  const std::string tail = "Deployment/crasher: last 2 log lines of container \"app\" in pod " +
                           pod + " (previous instance):\nstarting crasher v2\npanic: <nil> map";
  ASSERT_GE(message.size(), tail.size());
  EXPECT_EQ(message.substr(message.size() - tail.size()), tail) << message;
  EXPECT_NE(message.find(" (total of 1 errors)\n" + tail), std::string::npos) << message;

  // The CLI: one log line per line of the message.
  const std::string output = result.out + result.err;
  EXPECT_NE(output.find("level=error msg=\"    panic: <nil> map\""), std::string::npos) << output;

  // The console: escaped, line breaks kept (pre-wrap).
  auto page = testsupport::Run({"curl", "-s", chain.HttpUrl() + "/deployments/" + id}, {}, 30s);
  ASSERT_EQ(page.exit_code, 0) << page.err;
  EXPECT_NE(page.out.find("(previous instance):\nstarting crasher v2\npanic: &lt;nil&gt; map</p>"),
            std::string::npos)
      << page.out;
  EXPECT_NE(page.out.find("<p class=\"msg\">"), std::string::npos);
  chain.Stop();
}

}  // namespace
