#include "deploy-cli/run.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "deploy-cli/config.hpp"
#include "deploy-cli/exit_code.hpp"
#include "fakes.hpp"

namespace deploy_cli {
namespace {

using grpc::StatusCode;
using testing::Err;
using testing::FakeTransport;
using testing::Harness;
using testing::MakeStatus;
using testing::ScratchFile;
using testing::TestData;

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(RunTest, ExitCodeZero) { EXPECT_EQ(static_cast<int>(ExitCode::kSuccess), 0); }

TEST(RunTest, SimpleSuccessfulDeploy) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::success, "happy")};
  EXPECT_EQ(h.Run(Harness::Base()), 0) << h.err.str();
  EXPECT_TRUE(h.transport.status_requests.empty());
  ASSERT_EQ(h.transport.deploy_requests.size(), 1u);
  EXPECT_EQ(h.transport.deploy_requests[0].team(), "aura");
  EXPECT_TRUE(Contains(h.err.str(), "Status: success: happy"));
}

TEST(RunTest, SuccessfulDeployWithWait) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "queued")};
  h.transport.streams = {FakeTransport::Stream{std::deque<FakeTransport::Item>{
      MakeStatus(pb::success, "Deployment completed successfully.")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 0) << h.err.str();
  ASSERT_EQ(h.transport.status_requests.size(), 1u);
  EXPECT_EQ(h.transport.status_requests[0].id(), "id-1");
  const std::string log = h.err.str();
  EXPECT_TRUE(Contains(
      log,
      "msg=\"Deployment request accepted by NAIS deploy and dispatched to cluster 'dev-fss'.\""))
      << log;
  EXPECT_TRUE(Contains(log, "msg=\"Status: success: Deployment completed successfully.\""));
  EXPECT_TRUE(Contains(log, "id...........: id-1"));
}

TEST(RunTest, NoWaitLogsQueuedStatusAndExitsZero) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "queued!")};
  EXPECT_EQ(h.Run(Harness::Base()), 0);
  EXPECT_TRUE(h.transport.status_requests.empty());
  EXPECT_TRUE(Contains(h.err.str(), "Status: queued: queued!"));
}

TEST(RunTest, DeployError) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {FakeTransport::Stream{
      std::deque<FakeTransport::Item>{MakeStatus(pb::error, "oops, we errored out")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 2);
  EXPECT_TRUE(Contains(h.err.str(), "level=error msg=\"Status: error: oops, we errored out\""));
  // Once hookd accepted it, every line carries the deployment's fields (as hookd's and deployd's).
  EXPECT_EQ(h.LastErrLine().substr(h.LastErrLine().find("level=")),
            "level=error msg=\"fatal: deployment system encountered an error\" cluster=dev-fss "
            "correlation_id=id-1 delivery_id=id-1 team=aura");
}

TEST(RunTest, DeployFailureExitsOne) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {
      FakeTransport::Stream{std::deque<FakeTransport::Item>{MakeStatus(pb::failure, "it broke")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 1);
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: deployment failed"));
}

TEST(RunTest, DeployAnsweredInactiveExitsThreeWithoutWaiting) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::inactive, "gone")};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 3);
  EXPECT_TRUE(h.transport.status_requests.empty());
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: deployment has been stopped"));
}

TEST(RunTest, DeployPolling) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  std::deque<FakeTransport::Item> items;
  for (int i = 0; i < 5; ++i) items.push_back(MakeStatus(pb::in_progress, "working"));
  items.push_back(MakeStatus(pb::success, "done"));
  h.transport.streams = {FakeTransport::Stream{items}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 0) << h.err.str();
  EXPECT_TRUE(h.sleeper.sleeps.empty());
}

TEST(RunTest, DeployWithStatusRetryFollowsNewIdAfterInactive) {
  Harness h;
  const auto unavailable = Err(StatusCode::UNAVAILABLE, "down");
  const auto internal = Err(StatusCode::INTERNAL, "broken");
  h.transport.deploys = {unavailable, unavailable, unavailable, MakeStatus(pb::queued, "", "id-1"),
                         MakeStatus(pb::queued, "", "id-2")};
  using Items = std::deque<FakeTransport::Item>;
  h.transport.streams = {
      unavailable,
      unavailable,
      Items{MakeStatus(pb::in_progress, "a"), MakeStatus(pb::in_progress, "b"), unavailable},
      unavailable,
      unavailable,
      unavailable,
      internal,
      internal,
      internal,
      Items{internal},
      Items{MakeStatus(pb::inactive, "Deployment has been lost.", "id-1")},
      Items{MakeStatus(pb::success, "done", "id-2")},
  };
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 0) << h.err.str();
  ASSERT_EQ(h.transport.deploy_requests.size(), 5u);
  ASSERT_EQ(h.transport.status_requests.size(), 12u);
  EXPECT_EQ(h.transport.status_requests[10].id(), "id-1");
  // The deliberate fix: the stream after re-sending follows the new ID.
  EXPECT_EQ(h.transport.status_requests[11].id(), "id-2");
  const std::string log = h.err.str();
  EXPECT_TRUE(Contains(log, "Unavailable: down (retrying in 5s...)")) << log;
  EXPECT_TRUE(Contains(log, "Internal: broken (retrying in 5s...)")) << log;
  EXPECT_TRUE(Contains(log, "NAIS deploy has been restarted. Re-sending deployment request..."));
  EXPECT_TRUE(Contains(log, "Connection to NAIS deploy re-established."));
  // 3 Deploy retries + 2 + 3 + 3 Status retries + one pause after the empty broken stream.
  EXPECT_EQ(h.sleeper.sleeps.size(), 12u);
  for (auto s : h.sleeper.sleeps) EXPECT_EQ(s, std::chrono::seconds(5));
}

TEST(RunTest, NoRetryMeansUnavailableDeployIsRejected) {
  Harness h;
  h.transport.deploys = {Err(StatusCode::UNAVAILABLE, "cluster 'dev-fss' is offline")};
  EXPECT_EQ(h.Run(Harness::Base({"--retry=false"})), 4);
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: Unavailable: cluster 'dev-fss' is offline"));
  EXPECT_TRUE(h.sleeper.sleeps.empty());
}

TEST(RunTest, ImmediateTimeout) {
  Harness h;
  h.transport.deploys = {Err(StatusCode::DEADLINE_EXCEEDED, "context deadline exceeded")};
  EXPECT_EQ(h.Run(Harness::Base({"--timeout", "0s"})), 9);
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: deployment timed out: context deadline exceeded"));
}

TEST(RunTest, RetriesStopAtTheDeadline) {
  Harness h;
  for (int i = 0; i < 100; ++i) h.transport.deploys.push_back(Err(StatusCode::UNAVAILABLE, "x"));
  EXPECT_EQ(h.Run(Harness::Base({"--timeout", "12s"})), 9);
  // 5 s + 5 s + the remaining 2 s.
  ASSERT_EQ(h.sleeper.sleeps.size(), 3u);
  EXPECT_EQ(h.sleeper.sleeps[2], std::chrono::seconds(2));
}

TEST(RunTest, WaitTimesOutWhileStreamKeepsBreaking) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  for (int i = 0; i < 100; ++i) {
    h.transport.streams.push_back(FakeTransport::Stream{
        std::deque<FakeTransport::Item>{Err(StatusCode::UNAVAILABLE, "gone")}});
  }
  EXPECT_EQ(h.Run(Harness::Base({"--wait", "--timeout", "1m"})), 9);
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: deployment timed out: context deadline exceeded"));
  EXPECT_EQ(h.transport.status_requests.size(), 12u);
}

TEST(RunTest, RejectedDeployExitsFourWithGoCodeName) {
  Harness h;
  h.transport.deploys = {Err(StatusCode::PERMISSION_DENIED, "failed authentication")};
  EXPECT_EQ(h.Run(Harness::Base()), 4);
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: PermissionDenied: failed authentication"));
}

TEST(RunTest, UnauthenticatedGivesTeamHint) {
  Harness h;
  h.transport.deploys = {Err(StatusCode::UNAUTHENTICATED, "failed authentication")};
  EXPECT_EQ(h.Run(Harness::Base()), 4);
  EXPECT_TRUE(Contains(h.err.str(),
                       "level=warning msg=\"hint: team \\\"aura\\\" does not match namespace in "
                       "\\\"dev-fss:nais\\\"\""))
      << h.err.str();
}

TEST(RunTest, StatusOpenNonRetriableErrorExitsFiveWithRawText) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {Err(StatusCode::PERMISSION_DENIED, "nope")};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 5);
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: rpc error: code = PermissionDenied desc = nope"));
}

TEST(RunTest, RecvNonRetriableErrorExitsFive) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {FakeTransport::Stream{
      std::deque<FakeTransport::Item>{Err(StatusCode::UNKNOWN, "database row not found")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 5);
  EXPECT_TRUE(Contains(h.LastErrLine(), "fatal: Unknown: database row not found"));
}

struct ValidationCase {
  std::vector<std::string> args;
  std::string message;
};

TEST(RunTest, EveryValidationMessageExitsSixWithUsageAndFatalLine) {
  const std::vector<ValidationCase> cases = {
      {{"--cluster", "c", "--apikey", "00"},
       "at least one Kubernetes resource is required to make sense of the deployment"},
      {{"--cluster", "c", "--apikey", "00", "--workload-name", "x"},
       "workload-image is required when using workload-name"},
      {{"--resource", "x.yaml", "--apikey", "00"},
       "cluster required; see reference section in the documentation for available environments"},
      {{"--resource", "x.yaml", "--cluster", "c"}, "Github token or API key required"},
      {{"--resource", "x.yaml", "--cluster", "c", "--apikey", "malformed"},
       "API key must be a hex encoded string"},
      {{"--resource", "x.yaml", "--cluster", "c", "--apikey", "00", "--idempotency-key", "a b"},
       "invalid idempotency key: it must be 1 to 128 characters of letters, digits, '-', '_', "
       "'.' and ':'"},
      {{"--bogus"}, "unknown flag: --bogus"},
  };
  for (const auto& c : cases) {
    Harness h;
    EXPECT_EQ(h.Run(c.args), 6) << c.message;
    EXPECT_TRUE(Contains(h.err.str(), "Usage: deploy [flags]")) << c.message;
    const std::string last = h.LastErrLine();
    EXPECT_EQ(last.substr(last.find("level=")), "level=error msg=\"fatal: " + c.message + "\"")
        << last;
    EXPECT_TRUE(h.transport.deploy_requests.empty());
  }
}

TEST(RunTest, EnvironmentSuppliesFlags) {
  Harness h;
  h.env = {{"RESOURCE", TestData("nais.yaml")},
           {"CLUSTER", "env-cluster"},
           {"APIKEY", "abcd"},
           {"WAIT", "garbage"}};
  h.transport.deploys = {MakeStatus(pb::success, "")};
  EXPECT_EQ(h.Run({"--cluster", "flag-cluster"}), 0) << h.err.str();
  EXPECT_EQ(h.transport.deploy_requests.at(0).cluster(), "flag-cluster");
  EXPECT_EQ(h.transport.config->api_key, std::string("\xab\xcd", 2));
  EXPECT_TRUE(h.transport.status_requests.empty());  // WAIT=garbage -> default false
}

TEST(RunTest, TransportGetsTeamKeyAndSettings) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::success, "")};
  EXPECT_EQ(h.Run(Harness::Base({"--deploy-server", "127.0.0.1:1", "--grpc-use-tls=false"})), 0);
  ASSERT_TRUE(h.transport.config);
  EXPECT_EQ(h.transport.config->server, "127.0.0.1:1");
  EXPECT_FALSE(h.transport.config->use_tls);
  EXPECT_TRUE(h.transport.config->authentication);
  EXPECT_EQ(h.transport.config->team, "aura");
  EXPECT_EQ(h.transport.config->api_key, *common::HexDecode("1234567812345678"));
}

TEST(RunTest, RequestDeadlineIsStartPlusTimeoutAndTraceparentIsSet) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::success, "")};
  const auto start = h.clock.Now();
  EXPECT_EQ(h.Run(Harness::Base({"--timeout", "90s", "--traceparent",
                                 "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"})),
            0);
  const auto& request = h.transport.deploy_requests.at(0);
  EXPECT_EQ(
      request.deadline().seconds(),
      std::chrono::duration_cast<std::chrono::seconds>(start.time_since_epoch()).count() + 90);
  EXPECT_EQ(request.traceparent().substr(0, 36), "00-0123456789abcdef0123456789abcdef-");
  EXPECT_EQ(request.traceparent().size(), 55u);
}

TEST(RunTest, DryRunPrintsPayloadAndSendsNothing) {
  Harness h;
  EXPECT_EQ(h.Run(Harness::Base({"--dry-run", "--print-payload"})), 0) << h.err.str();
  EXPECT_TRUE(h.transport.deploy_requests.empty());
  EXPECT_TRUE(Contains(h.out.str(), "\"cluster\"")) << h.out.str();
  EXPECT_TRUE(Contains(h.out.str(), "\"gitRefSha\"") || Contains(h.out.str(), "\"team\""));
  EXPECT_TRUE(Contains(h.out.str(), "testapp"));
}

TEST(RunTest, DryRunOnlyWarnsAboutValidation) {
  Harness h;
  EXPECT_EQ(h.Run({"--resource", TestData("nais.yaml"), "--dry-run"}), 0) << h.err.str();
  EXPECT_TRUE(Contains(h.err.str(), "level=warning msg=\"cluster required;"));
}

TEST(RunTest, DryRunWithMalformedKeyFailsAtClientCreation) {
  Harness h;
  EXPECT_EQ(h.Run({"--resource", TestData("nais.yaml"), "--dry-run", "--cluster", "c", "--apikey",
                   "malformed"}),
            6);
  EXPECT_TRUE(Contains(h.LastErrLine(),
                       "fatal: API key must be a hex encoded string: encoding/hex: invalid byte: "
                       "U+006D 'm'"))
      << h.LastErrLine();
}

TEST(RunTest, QuietPrintsOnlyErrors) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {FakeTransport::Stream{std::deque<FakeTransport::Item>{
      MakeStatus(pb::in_progress, "x"), MakeStatus(pb::failure, "bad")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait", "--quiet"})), 1);
  const std::string log = h.err.str();
  EXPECT_FALSE(Contains(log, "level=info"));
  EXPECT_TRUE(Contains(log, "level=error msg=\"Status: failure: bad\""));
  EXPECT_TRUE(Contains(log, "fatal: deployment failed"));
}

// A failure with a crashed container's last log lines: each line of the message is a log line.
TEST(RunTest, MultiLineFailurePrintsEveryLine) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {FakeTransport::Stream{std::deque<FakeTransport::Item>{MakeStatus(
      pb::failure,
      "Deployment/web: pod web-1 container web: CrashLoopBackOff (total of 1 errors)\n"
      "Deployment/web: last 2 log lines of container \"web\" in pod web-1 (previous instance):\n"
      "panic: boom\n"
      "exit status 2")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 1);
  const std::string log = h.err.str();
  EXPECT_TRUE(
      Contains(log,
               "level=error msg=\"Status: failure: Deployment/web: pod web-1 container web: "
               "CrashLoopBackOff (total of 1 errors)\""))
      << log;
  EXPECT_TRUE(Contains(log,
                       "level=error msg=\"    Deployment/web: last 2 log lines of container "
                       "\\\"web\\\" in pod web-1 (previous instance):\""))
      << log;
  EXPECT_TRUE(Contains(log, "level=error msg=\"    panic: boom\"")) << log;
  EXPECT_TRUE(Contains(log, "level=error msg=\"    exit status 2\"")) << log;
  EXPECT_FALSE(Contains(log, "\\n")) << log;
}

TEST(RunTest, ActionsLogFormat) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {
      FakeTransport::Stream{std::deque<FakeTransport::Item>{Err(StatusCode::UNAVAILABLE, "blip")}},
      FakeTransport::Stream{std::deque<FakeTransport::Item>{MakeStatus(pb::error, "boom")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait", "--actions"})), 2);
  const std::string log = h.err.str();
  EXPECT_TRUE(Contains(log, "[2023-11-14T22:13:20Z] NAIS deploy ")) << log;
  EXPECT_TRUE(Contains(log, "\n::warn::Unavailable: blip\n")) << log;
  EXPECT_TRUE(Contains(log, "\n::error::Status: error: boom\n")) << log;
  EXPECT_EQ(h.LastErrLine(), "::error::fatal: deployment system encountered an error");
}

TEST(RunTest, JsonOutputPrintsOneObjectPerStatus) {
  Harness h;
  h.transport.deploys = {MakeStatus(pb::queued, "q")};
  h.transport.streams = {FakeTransport::Stream{std::deque<FakeTransport::Item>{
      MakeStatus(pb::in_progress, "x"), MakeStatus(pb::success, "ok")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait", "--output", "json"})), 0);
  EXPECT_EQ(h.out.str(),
            "{\"id\":\"id-1\",\"message\":\"x\",\"state\":\"in_progress\"}\n"
            "{\"id\":\"id-1\",\"message\":\"ok\",\"state\":\"success\"}\n");
}

TEST(RunTest, StepSummaryIsAppended) {
  Harness h;
  const ScratchFile summary("", ".md");
  h.env["GITHUB_STEP_SUMMARY"] = summary.Path();
  h.transport.deploys = {MakeStatus(pb::queued, "")};
  h.transport.streams = {FakeTransport::Stream{std::deque<FakeTransport::Item>{
      MakeStatus(pb::success, "Deployment completed successfully.")}}};
  EXPECT_EQ(h.Run(Harness::Base({"--wait"})), 0);
  const std::string text = summary.Content();
  EXPECT_EQ(text.rfind("## 🚀 NAIS deploy\n\n* Detailed trace: [", 0), 0u) << text;
  EXPECT_TRUE(Contains(text, "* Request ID: id-1\n"));
  EXPECT_TRUE(Contains(text, "* Deadline: "));
  EXPECT_TRUE(Contains(text, "\n✅ Final status: *success* / Deployment completed successfully.\n"));
}

TEST(RunTest, StepSummaryDisabledByEnvironment) {
  Harness h;
  const ScratchFile summary("", ".md");
  h.env["GITHUB_STEP_SUMMARY"] = summary.Path();
  h.env["NAIS_DEPLOY_SUMMARY"] = "FALSE";
  h.transport.deploys = {MakeStatus(pb::success, "")};
  EXPECT_EQ(h.Run(Harness::Base()), 0);
  const std::string text = summary.Content();
  EXPECT_EQ(text, "");
}

TEST(RunTest, HelpExitsZero) {
  Harness h;
  EXPECT_EQ(h.Run({"--help"}), 0);
  EXPECT_TRUE(Contains(h.err.str(), "--deploy-server"));
}

TEST(RunTest, TemplateErrorExitsEight) {
  Harness h;
  EXPECT_EQ(h.Run({"--resource", TestData("bad-template.yaml"), "--cluster", "c", "--apikey", "00",
                   "--var", "x=1"}),
            8);
  EXPECT_TRUE(Contains(h.LastErrLine(), "parse template file: Parse error on line 2"));
}

TEST(RunTest, MissingMetadataExitsSeven) {
  Harness h;
  EXPECT_EQ(h.Run({"--resource", TestData("no-metadata.yaml"), "--cluster", "c", "--apikey", "00",
                   "--team", "aura"}),
            7);
}

}  // namespace
}  // namespace deploy_cli
