// The hookd binary as the end-to-end test starts it.
#include "support/process.hpp"

#include <gtest/gtest.h>

#include "harness.hpp"

namespace {

using namespace std::chrono_literals;

class HookdBinary : public hookdtest::HookdProcessTest {};

TEST_F(HookdBinary, StartsWithTheE2eCommandLineAndStopsOnSigterm) {
  ASSERT_NO_FATAL_FAILURE(Start({"--grpc.cli-authentication=true",
                                 "--grpc.deployd-authentication=true", "--deployd-keys", "k1,k2"}));
  EXPECT_EQ(hookd_->Stop(), 0) << hookd_->Log();
  const std::string log = hookd_->Log();
  EXPECT_NE(log.find("hookd starting"), std::string::npos) << log;
  // Secrets are redacted in the logged configuration.
  EXPECT_EQ(log.find(db_.Url()), std::string::npos) << log;
  EXPECT_EQ(log.find("k1,k2"), std::string::npos) << log;
}

TEST(HookdProcess, BadValuesExitOneWithAClearMessage) {
  auto bad_key = testsupport::Run({testsupport::BinaryPath("hookd"), "--provision-key", "xyz"});
  EXPECT_EQ(bad_key.exit_code, 1);
  EXPECT_NE(bad_key.err.find("provisioning pre-shared key must be a hex encoded string"),
            std::string::npos)
      << bad_key.err;
  auto bad_bool = testsupport::Run({testsupport::BinaryPath("hookd")},
                                   {{"HOOKD_GRPC_CLI_AUTHENTICATION", "maybe"}});
  EXPECT_EQ(bad_bool.exit_code, 1);
  EXPECT_NE(bad_bool.err.find("grpc.cli-authentication"), std::string::npos) << bad_bool.err;
  auto bad_pairs =
      testsupport::Run({testsupport::BinaryPath("hookd"), "--google-cluster-projects", "dev-gcp"});
  EXPECT_EQ(bad_pairs.exit_code, 1);
  EXPECT_NE(bad_pairs.err.find(
                "unable to parse google cluster projects: invalid key-value pair 'dev-gcp'"),
            std::string::npos)
      << bad_pairs.err;
}

TEST(HookdProcess, UnreachableDatabaseExitsOneAfterTheConnectTimeout) {
  auto result = testsupport::Run(
      {testsupport::BinaryPath("hookd"), "--database-url", "postgresql://postgres@127.0.0.1:1/none",
       "--database-connect-timeout", "1s", "--grpc.address", "127.0.0.1:0"},
      {}, 30s);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE((result.out + result.err).find("Fatal error: unable to connect to database"),
            std::string::npos)
      << result.err;
}

}  // namespace
