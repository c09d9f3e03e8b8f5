#include "deploy-cli/progress.hpp"

#include <gtest/gtest.h>

#include "common/pb_json.hpp"
#include "fakes.hpp"

namespace deploy_cli {
namespace {

pb::DeploymentRequest TwoResources() {
  pb::DeploymentRequest request;
  *request.mutable_kubernetes()->add_resources() =
      common::JsonToStruct({{"apiVersion", "nais.io/v1alpha1"},
                            {"kind", "Application"},
                            {"metadata", {{"name", "app"}}}});
  *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(
      {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"metadata", {{"name", "cfg"}}}});
  return request;
}

TEST(ResourceProgressTest, OneLinePerResourceFollowingDeploydMessages) {
  ResourceProgress progress(TwoResources());
  auto lines = progress.Render(std::chrono::milliseconds(0));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "  · Application/app: waiting");
  EXPECT_EQ(lines[1], "  · ConfigMap/cfg: waiting");
  EXPECT_EQ(lines[2], "[0.0s] sending");

  progress.Update(testing::MakeStatus(
      pb::in_progress, "Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=cfg"));
  progress.Update(testing::MakeStatus(
      pb::in_progress, "Pod/app-5d8f7c9b4f-x2x7q (Pulled): Successfully pulled image"));
  lines = progress.Render(std::chrono::milliseconds(1500));
  EXPECT_EQ(lines[0], "  ⏳ Application/app: rolling out ((Pulled): Successfully pulled image)");
  EXPECT_EQ(lines[1], "  ⏳ ConfigMap/cfg: applied");
  EXPECT_EQ(lines[2],
            "[1.5s] in_progress: Pod/app-5d8f7c9b4f-x2x7q (Pulled): Successfully pulled image");

  progress.Update(testing::MakeStatus(
      pb::failure, "Application/app (FailedSynchronization): oops (total of 1 errors)"));
  lines = progress.Render(std::chrono::milliseconds(2000));
  EXPECT_EQ(lines[0].rfind("  ❌ Application/app: failed", 0), 0u) << lines[0];
}

TEST(ResourceProgressTest, SuccessMarksEveryResourceDone) {
  ResourceProgress progress(TwoResources());
  progress.Update(testing::MakeStatus(pb::success, "Deployment completed successfully."));
  const auto lines = progress.Render(std::chrono::milliseconds(0));
  EXPECT_EQ(lines[0], "  ✅ Application/app: done");
  EXPECT_EQ(lines[1], "  ✅ ConfigMap/cfg: done");
}

TEST(ResourceProgressTest, TerminalRunRewritesProgressInPlaceAndEndsWithSummary) {
  testing::Harness h;
  h.terminal = true;
  h.transport.deploys = {testing::MakeStatus(pb::queued, "queued")};
  h.transport.streams = {testing::FakeTransport::Stream{std::deque<testing::FakeTransport::Item>{
      testing::MakeStatus(pb::in_progress,
                          "Successfully applied apps/v1, Kind=Application, Name=testapp"),
      testing::MakeStatus(pb::success, "Deployment completed successfully.")}}};
  EXPECT_EQ(h.Run(testing::Harness::Base({"--wait"})), 0);
  const std::string out = h.err.str();
  EXPECT_EQ(out.find("level="), std::string::npos) << out;  // no logrus lines on a terminal
  EXPECT_NE(out.find("\033[J"), std::string::npos);
  EXPECT_NE(out.find("  ✅ Application/testapp: done\n"), std::string::npos) << out;
  EXPECT_NE(out.find("✅ success after 0.0s: Deployment completed successfully.\n"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace deploy_cli
