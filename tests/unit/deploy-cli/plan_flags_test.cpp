// --plan, --detailed-exitcode, --prune and --applyset: parsing, validation, help text, and how a
// plan's summary decides exit code 10.
#include <gtest/gtest.h>

#include "deploy-cli/config.hpp"
#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/run.hpp"
#include "fakes.hpp"
#include "support/fake_env.hpp"

namespace deploy_cli {
namespace {

using testsupport::FakeEnv;

TEST(PlanFlagsTest, FlagsAndEnvironment) {
  const auto r = ParseCommandLine({"--plan", "--detailed-exitcode", "--prune", "--applyset", "s1"},
                                  FakeEnv({}));
  ASSERT_TRUE(r.error.empty()) << r.error;
  EXPECT_TRUE(r.options.plan);
  EXPECT_TRUE(r.options.detailed_exitcode);
  EXPECT_TRUE(r.options.prune);
  EXPECT_EQ(r.options.applyset, "s1");
  const auto e = ParseCommandLine({}, FakeEnv({{"PLAN", "true"},
                                               {"DETAILED_EXITCODE", "1"},
                                               {"PRUNE", "t"},
                                               {"APPLYSET", "from-env"}}));
  EXPECT_TRUE(e.options.plan);
  EXPECT_TRUE(e.options.detailed_exitcode);
  EXPECT_TRUE(e.options.prune);
  EXPECT_EQ(e.options.applyset, "from-env");
  const auto d = ParseCommandLine({}, FakeEnv({}));
  EXPECT_FALSE(d.options.plan);
  EXPECT_FALSE(d.options.prune);
  EXPECT_EQ(d.options.applyset, "");
}

TEST(PlanFlagsTest, Validation) {
  Options o = testing::ValidOptions();
  o.detailed_exitcode = true;
  EXPECT_EQ(Validate(o), "--detailed-exitcode requires --plan");
  o.plan = true;
  EXPECT_EQ(Validate(o), std::nullopt);
  o = testing::ValidOptions();
  o.applyset = "my-set";
  EXPECT_EQ(Validate(o), "--applyset requires --prune");
  o.prune = true;
  EXPECT_EQ(Validate(o), std::nullopt);
  o.applyset = "My Set";
  EXPECT_EQ(Validate(o),
            "invalid ApplySet name \"My Set\": must be a lowercase RFC 1123 subdomain: at most "
            "253 characters, lower case alphanumeric characters, '-' or '.', starting and ending "
            "with an alphanumeric character");
}

TEST(PlanFlagsTest, HelpDocumentsTheFlagsAndExitCode) {
  const std::string usage = Usage();
  for (const char* text :
       {"--plan ", "(env PLAN)", "--detailed-exitcode ", "(env DETAILED_EXITCODE)", "--prune ",
        "(env PRUNE)", "--applyset string", "(env APPLYSET)", "10 the plan has changes"}) {
    EXPECT_NE(usage.find(text), std::string::npos) << text << "\n" << usage;
  }
  EXPECT_EQ(static_cast<int>(ExitCode::kPlanHasChanges), 10);
}

TEST(PlanFlagsTest, PlanHasChanges) {
  EXPECT_FALSE(PlanHasChanges("plan: 0 created, 0 changed, 3 unchanged, 0 refused"));
  EXPECT_TRUE(PlanHasChanges("plan: 1 created, 0 changed, 0 unchanged, 0 refused"));
  EXPECT_TRUE(PlanHasChanges("plan: 0 created, 2 changed, 0 unchanged, 0 refused"));
  EXPECT_TRUE(PlanHasChanges("plan: 0 created, 0 changed, 1 unchanged, 0 refused, 1 pruned"));
  EXPECT_FALSE(PlanHasChanges("plan: 0 created, 0 changed, 1 unchanged, 0 refused, 0 pruned"));
  EXPECT_FALSE(PlanHasChanges("Deployment completed successfully."));
  EXPECT_FALSE(PlanHasChanges("plan: 00 created"));
  EXPECT_FALSE(PlanHasChanges(""));
}

}  // namespace
}  // namespace deploy_cli
