// `deploy cancel <id>` with a scripted transport: the request it sends, the exit codes, and what
// it prints.
#include "deploy-cli/cancel.hpp"

#include <deque>

#include <gtest/gtest.h>

#include "fakes.hpp"

namespace deploy_cli {
namespace {

using testing::Harness;

// Answers Cancel with `answer` (or `refusal`), then Status streams from the harness' fake.
class CancelTransport final : public Transport {
 public:
  CancelTransport(testing::FakeTransport& streams, std::vector<pb::CancelRequest>& sent,
                  RpcStatus refusal, pb::DeploymentStatus answer)
      : streams_(streams), sent_(sent), refusal_(std::move(refusal)), answer_(std::move(answer)) {}
  RpcStatus Deploy(const pb::DeploymentRequest&, common::SystemTime,
                   pb::DeploymentStatus&) override {
    return {grpc::StatusCode::INTERNAL, "no Deploy in a cancel"};
  }
  RpcStatus OpenStatus(const pb::DeploymentRequest& r, common::SystemTime d,
                       std::unique_ptr<StatusStream>& s) override {
    return streams_.OpenStatus(r, d, s);
  }
  RpcStatus Cancel(const pb::CancelRequest& request, common::SystemTime,
                   pb::DeploymentStatus& response) override {
    sent_.push_back(request);
    if (!refusal_.Ok()) return refusal_;
    response = answer_;
    return {};
  }

 private:
  testing::FakeTransport& streams_;
  std::vector<pb::CancelRequest>& sent_;
  RpcStatus refusal_;
  pb::DeploymentStatus answer_;
};

pb::DeploymentStatus Status(pb::DeploymentState state, const std::string& message) {
  pb::DeploymentStatus status;
  status.mutable_request()->set_id("d-1");
  status.set_state(state);
  status.set_message(message);
  return status;
}

struct CancelRun {
  Harness h;
  std::vector<pb::CancelRequest> sent;
  RpcStatus refusal;
  pb::DeploymentStatus answer;

  int Run(const std::vector<std::string>& args) {
    Ports ports = h.MakePorts();
    ports.transport_factory = [this](const TransportConfig&) -> std::unique_ptr<Transport> {
      return std::make_unique<CancelTransport>(h.transport, sent, refusal, answer);
    };
    std::vector<std::string> all = {"cancel"};
    all.insert(all.end(), args.begin(), args.end());
    return RunCommandLine(all, ports);
  }
};

const std::vector<std::string> kFlags = {"--team", "aura",     "--apikey",
                                         "00ff",   "--reason", "wrong image"};

std::vector<std::string> With(std::vector<std::string> args) {
  args.insert(args.end(), kFlags.begin(), kFlags.end());
  return args;
}

TEST(CancelCli, AWithdrawnDeploymentExitsZeroAndSendsIdTeamAndReason) {
  CancelRun run;
  run.answer = Status(pb::failure,
                      "cancelled by team aura (reason: wrong image) before it was sent to the "
                      "cluster");
  EXPECT_EQ(run.Run(With({"d-1"})), 0) << run.h.err.str();
  ASSERT_EQ(run.sent.size(), 1U);
  EXPECT_EQ(run.sent[0].id(), "d-1");
  EXPECT_EQ(run.sent[0].team(), "aura");
  EXPECT_EQ(run.sent[0].reason(), "wrong image");
  EXPECT_NE(run.h.err.str().find("before it was sent to the cluster"), std::string::npos);
  EXPECT_NE(run.h.LastErrLine().find("Deployment d-1 cancelled."), std::string::npos)
      << run.h.err.str();
}

TEST(CancelCli, ARunningDeploymentIsFollowedUntilItsFinalStatus) {
  CancelRun run;
  run.answer = Status(pb::in_progress, "cancel requested by team aura (reason: wrong image)");
  run.h.transport.streams.push_back(std::deque<testing::FakeTransport::Item>{
      Status(pb::in_progress, "Successfully applied Deployment/app"),
      Status(pb::failure,
             "cancelled by team aura (reason: wrong image): 1 of 2 resources had been applied "
             "and stay in the cluster")});
  EXPECT_EQ(run.Run(With({"d-1"})), 0) << run.h.err.str();
  ASSERT_EQ(run.h.transport.status_requests.size(), 1U);
  EXPECT_EQ(run.h.transport.status_requests[0].id(), "d-1");
  EXPECT_NE(run.h.err.str().find("1 of 2 resources had been applied"), std::string::npos);
}

TEST(CancelCli, ADeploymentThatEndedOtherwiseFirstExitsFour) {
  CancelRun run;
  run.answer = Status(pb::in_progress, "cancel requested by team aura");
  run.h.transport.streams.push_back(std::deque<testing::FakeTransport::Item>{
      Status(pb::success, "Deployment completed successfully.")});
  EXPECT_EQ(run.Run(With({"d-1"})), 4);
  EXPECT_NE(run.h.LastErrLine().find("fatal: deployment d-1 ended (success) before the cancel "
                                     "reached it"),
            std::string::npos)
      << run.h.err.str();
}

TEST(CancelCli, ARefusalExitsFourWithHookdsMessage) {
  CancelRun run;
  run.refusal = {grpc::StatusCode::NOT_FOUND, "deployment 'd-1' not found"};
  EXPECT_EQ(run.Run(With({"d-1"})), 4);
  EXPECT_NE(run.h.LastErrLine().find("fatal: cancel refused: NotFound: deployment 'd-1' not found"),
            std::string::npos)
      << run.h.err.str();
}

TEST(CancelCli, BadCommandLinesExitSix) {
  CancelRun none;
  EXPECT_EQ(none.Run(With({})), 6);
  EXPECT_NE(none.h.LastErrLine().find(
                "fatal: cancel needs the ID of the deployment: deploy cancel <deployment ID>"),
            std::string::npos)
      << none.h.err.str();
  EXPECT_TRUE(none.sent.empty());

  CancelRun two;
  EXPECT_EQ(two.Run(With({"a", "b"})), 6);
  EXPECT_NE(two.h.LastErrLine().find("fatal: cancel takes one deployment ID, not 2"),
            std::string::npos);

  CancelRun no_team;
  EXPECT_EQ(no_team.Run({"d-1", "--apikey", "00"}), 6);
  EXPECT_NE(no_team.h.LastErrLine().find("fatal: cancel needs the deployment's team (--team)"),
            std::string::npos)
      << no_team.h.err.str();

  CancelRun dangling;
  EXPECT_EQ(dangling.Run({"d-1", "--reason"}), 6);
  EXPECT_NE(dangling.h.LastErrLine().find("fatal: flag needs an argument: --reason"),
            std::string::npos);
}

TEST(CancelCli, HelpDocumentsCancel) {
  Harness h;
  EXPECT_EQ(h.Run({"--help"}), 0);
  EXPECT_NE(h.err.str().find("deploy cancel <deployment ID> [--reason TEXT] [flags]"),
            std::string::npos);
  EXPECT_NE(CancelUsage().find("What was already\napplied stays in the cluster."),
            std::string::npos);
}

}  // namespace
}  // namespace deploy_cli
