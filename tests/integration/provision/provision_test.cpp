// provision: the original's tool for a team's API key, against a real hookd and Postgres (exact
// messages and exit codes), plus its payload and argument handling with fake ports.
#include "provision/provision.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/hex.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;

constexpr const char* kProvisionKey = "aabbccddeeff00112233445566778899";
constexpr const char* kEncryptionKey =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

// The log lines without their `time="..." ` prefix (the timestamps change).
std::string WithoutTimes(const std::string& log) {
  static const std::regex kTime(R"(time="[^"]*" )");
  return std::regex_replace(log, kTime, "");
}

// The environment of the machine running the tests must not leak in.
std::map<std::string, std::string> CleanEnv(std::map<std::string, std::string> env = {}) {
  for (const char* name :
       {"PROVISION_SERVER", "PROVISION_SECRET", "PROVISION_TEAM", "PROVISION_ROTATE"}) {
    env.emplace(name, "\x01unset");
  }
  return env;
}

class ProvisionTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    db_ = std::make_unique<testsupport::TestDatabase>();
    if (!db_->Available()) return;
    http_port_ = testsupport::FreePort();
    hookd_ = std::make_unique<testsupport::ChildProcess>(std::vector<std::string>{
        BinaryPath("hookd"), "--database-url", db_->Url(), "--listen-address",
        "127.0.0.1:" + std::to_string(http_port_), "--grpc.address", "127.0.0.1:0",
        "--provision-key", kProvisionKey, "--log-level", "info"});
    ready_ = testsupport::WaitForPort(http_port_, 30s);
  }
  static void TearDownTestSuite() {
    if (hookd_) {
      EXPECT_EQ(hookd_->Stop(), 0) << hookd_->Log();
    }
    hookd_.reset();
    db_.reset();
  }
  void SetUp() override {
    REQUIRE_TEST_DATABASE(*db_);
    ASSERT_TRUE(ready_) << hookd_->Log();
  }

  static std::string Server() { return "http://127.0.0.1:" + std::to_string(http_port_); }
  static std::string Url() { return Server() + "/internal/api/v1/provision"; }

  static testsupport::RunResult Provision(std::vector<std::string> args,
                                          std::map<std::string, std::string> env = {}) {
    args.insert(args.begin(), BinaryPath("provision"));
    return testsupport::Run(args, CleanEnv(std::move(env)), 30s);
  }

  // The team's keys as stored by hookd, decrypted, newest first, with whether each is valid.
  static std::vector<std::pair<std::string, bool>> StoredKeys(const std::string& team) {
    pqxx::connection conn(db_->Url());
    pqxx::read_transaction tx(conn);
    auto rows = tx.exec_params(
        "SELECT key, expires > NOW() FROM apikey WHERE team = $1 ORDER BY created DESC", team);
    std::vector<std::pair<std::string, bool>> out;
    const std::string aes = *common::HexDecode(kEncryptionKey);
    for (const auto& row : rows) {
      out.emplace_back(common::HexEncode(common::DecryptApiKey(aes, row[0].as<std::string>())),
                       row[1].as<bool>());
    }
    return out;
  }

  static std::unique_ptr<testsupport::TestDatabase> db_;
  static std::unique_ptr<testsupport::ChildProcess> hookd_;
  static int http_port_;
  static bool ready_;
};

std::unique_ptr<testsupport::TestDatabase> ProvisionTest::db_;
std::unique_ptr<testsupport::ChildProcess> ProvisionTest::hookd_;
int ProvisionTest::http_port_ = 0;
bool ProvisionTest::ready_ = false;

TEST_F(ProvisionTest, NewTeamGetsAKeyThenTheSameKeyThenANewOneOnRotate) {
  auto first = Provision({"--server", Server(), "--team", "aura", "--secret", kProvisionKey});
  ASSERT_EQ(first.exit_code, 0) << first.err << hookd_->Log();
  EXPECT_EQ(WithoutTimes(first.err),
            "level=info msg=\"Submitting provision request to " + Url() +
                "...\"\n"
                "level=info msg=\"201 Created: API key provisioned successfully\"\n");
  ASSERT_TRUE(std::regex_match(first.out, std::regex("[0-9a-f]{64}\n"))) << first.out;
  const std::string key = first.out.substr(0, 64);
  auto stored = StoredKeys("aura");
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].first, key) << "the printed key is the one hookd stored (encrypted)";
  EXPECT_TRUE(stored[0].second);

  auto again = Provision({"--server", Server(), "--team", "aura", "--secret", kProvisionKey});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(WithoutTimes(again.err),
            "level=info msg=\"Submitting provision request to " + Url() +
                "...\"\n"
                "level=info msg=\"200 OK: team exists, returning existing keys\"\n");
  EXPECT_EQ(again.out, key + "\n");

  auto rotated = Provision({"--server=" + Server(), "--team=aura",
                            "--secret=" + std::string(kProvisionKey), "--rotate"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.err;
  EXPECT_EQ(WithoutTimes(rotated.err),
            "level=info msg=\"Submitting provision request to " + Url() +
                "...\"\n"
                "level=info msg=\"201 Created: API key provisioned successfully\"\n");
  ASSERT_EQ(rotated.out.size(), 65u);
  const std::string new_key = rotated.out.substr(0, 64);
  EXPECT_NE(new_key, key);
  stored = StoredKeys("aura");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[0], std::make_pair(new_key, true));
  EXPECT_EQ(stored[1], std::make_pair(key, false)) << "rotation ends the older key at once";
}

TEST_F(ProvisionTest, EnvironmentVariablesFlagsWinOverThemAndTheServerPathIsReplaced) {
  auto result = Provision({"--team", "env-team"}, {{"PROVISION_SERVER", Server()},
                                                   {"PROVISION_SECRET", kProvisionKey},
                                                   {"PROVISION_TEAM", "ignored"},
                                                   {"PROVISION_ROTATE", "false"}});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(StoredKeys("env-team").size(), 1u);
  EXPECT_TRUE(StoredKeys("ignored").empty());

  // A path in --server is replaced by the provisioning path, as in the original.
  auto with_path = Provision(
      {"--server", Server() + "/some/where?x=1", "--team", "path-team", "--secret", kProvisionKey});
  ASSERT_EQ(with_path.exit_code, 0) << with_path.err;
  EXPECT_NE(with_path.err.find("Submitting provision request to " + Url() + "..."),
            std::string::npos)
      << with_path.err;
}

TEST_F(ProvisionTest, RefusalsExitOneWithHookdsMessage) {
  auto result = Provision({"--server", Server(), "--team", "aura", "--secret", "00ff"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(WithoutTimes(result.err),
            "level=info msg=\"Submitting provision request to " + Url() +
                "...\"\n"
                "level=error msg=\"403 Forbidden: failed authentication\"\n");
  EXPECT_EQ(result.out, "");

  // hookd's own validation messages are shown as they are.
  auto bad_team = Provision({"--server", Server(), "--team", "Aura_1", "--secret", kProvisionKey});
  EXPECT_EQ(bad_team.exit_code, 1);
  EXPECT_EQ(WithoutTimes(bad_team.err),
            "level=info msg=\"Submitting provision request to " + Url() +
                "...\"\n"
                "level=error msg=\"400 Bad Request: invalid request: invalid team \\\"Aura_1\\\": "
                "must be a lowercase RFC 1123 label: at most 63 characters, lower case "
                "alphanumeric characters or '-', starting and ending with an alphanumeric "
                "character (e.g. 'my-name', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')\"\n");
  EXPECT_EQ(bad_team.out, "");
}

TEST(ProvisionProcess, HookdWithoutProvisionKeyAnswersNotFound) {
  testsupport::TestDatabase db;
  REQUIRE_TEST_DATABASE(db);
  const int port = testsupport::FreePort();
  testsupport::ChildProcess hookd({BinaryPath("hookd"), "--database-url", db.Url(),
                                   "--listen-address", "127.0.0.1:" + std::to_string(port),
                                   "--grpc.address", "127.0.0.1:0"});
  ASSERT_TRUE(testsupport::WaitForPort(port, 30s)) << hookd.Log();
  const std::string server = "http://127.0.0.1:" + std::to_string(port);
  auto result = testsupport::Run(
      {BinaryPath("provision"), "--server", server, "--team", "aura", "--secret", kProvisionKey},
      CleanEnv(), 30s);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(WithoutTimes(result.err),
            "level=info msg=\"Submitting provision request to " + server +
                "/internal/api/v1/provision...\"\n"
                "level=error msg=\"404 Not Found: 404 page not found\"\n");
  EXPECT_EQ(hookd.Stop(), 0) << hookd.Log();
}

TEST(ProvisionProcess, LocalErrorsExitOneBeforeAnyRequest) {
  const auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), BinaryPath("provision"));
    auto r = testsupport::Run(args, CleanEnv(), 30s);
    EXPECT_EQ(r.out, "");
    return std::make_pair(r.exit_code, WithoutTimes(r.err));
  };
  EXPECT_EQ(run({"--team", "aura", "--secret", "xyz1"}),
            std::make_pair(1, std::string("level=error msg=\"fatal: pre-shared secret must be a "
                                          "hex encoded string: encoding/hex: invalid byte: "
                                          "U+0078 'x'\"\n")));
  EXPECT_EQ(run({"--team", "aura", "--secret", "abc"}),
            std::make_pair(1, std::string("level=error msg=\"fatal: pre-shared secret must be a "
                                          "hex encoded string: encoding/hex: odd length hex "
                                          "string\"\n")));
  EXPECT_EQ(run({"--secret", "ab"}),
            std::make_pair(1, std::string("level=error msg=\"fatal: no team specified (--team or "
                                          "PROVISION_TEAM)\"\n")));
  EXPECT_EQ(run({"--team", "aura"}),
            std::make_pair(1, std::string("level=error msg=\"fatal: no pre-shared secret "
                                          "specified (--secret or PROVISION_SECRET)\"\n")));
  EXPECT_EQ(run({"--server", "localhost:8080", "--team", "aura", "--secret", "ab"}),
            std::make_pair(1, std::string("level=error msg=\"fatal: wrong format of base URL: "
                                          "\\\"localhost:8080\\\": want http://host[:port] or "
                                          "https://host[:port]\"\n")));

  // Nothing listens on port 1: the transport error, exit 1.
  auto refused = testsupport::Run({BinaryPath("provision"), "--server", "http://127.0.0.1:1",
                                   "--team", "aura", "--secret", "ab"},
                                  CleanEnv(), 30s);
  EXPECT_EQ(refused.exit_code, 1);
  const std::string log = WithoutTimes(refused.err);
  EXPECT_EQ(log.rfind("level=info msg=\"Submitting provision request to "
                      "http://127.0.0.1:1/internal/api/v1/provision...\"\n"
                      "level=error msg=\"fatal: ",
                      0),
            0u)
      << log;
}

TEST(ProvisionProcess, HelpAndUsageErrors) {
  auto help = testsupport::Run({BinaryPath("provision"), "--help"}, CleanEnv(), 30s);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_EQ(help.out, provision::Usage());
  EXPECT_EQ(help.out.rfind("provision provisions team API keys.\n", 0), 0u);
  for (const char* flag : {"--team", "--secret", "--server", "--rotate", "PROVISION_SECRET",
                           "/internal/api/v1/provision", "--provision-key"}) {
    EXPECT_NE(help.out.find(flag), std::string::npos) << flag;
  }

  auto unknown = testsupport::Run({BinaryPath("provision"), "--tema", "aura"}, CleanEnv(), 30s);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.err, "unknown flag: --tema\n\n" + provision::Usage());

  auto missing = testsupport::Run({BinaryPath("provision"), "--team"}, CleanEnv(), 30s);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_EQ(missing.err.rfind("flag needs an argument: --team\n", 0), 0u) << missing.err;

  auto bad_bool = testsupport::Run({BinaryPath("provision"), "--rotate=maybe"}, CleanEnv(), 30s);
  EXPECT_EQ(bad_bool.exit_code, 2);
  EXPECT_EQ(bad_bool.err.rfind("invalid argument \"maybe\" for \"--rotate\" flag: "
                               "strconv.ParseBool: parsing \"maybe\": invalid syntax\n",
                               0),
            0u)
      << bad_bool.err;
}

// ---- The library with fake ports: the exact request on the wire. ----

class FixedClock final : public common::Clock {
 public:
  common::SystemTime Now() const override {
    return common::SystemTime(std::chrono::seconds(1700000000));
  }
};

TEST(ProvisionRequest, PayloadAndSignatureAreTheOriginals) {
  EXPECT_EQ(provision::Payload("aura", false, 1700000000),
            "{\n  \"team\": \"aura\",\n  \"rotate\": false,\n  \"timestamp\": 1700000000\n}\n");

  FixedClock clock;
  std::ostringstream out;
  std::ostringstream err;
  std::string sent_base;
  common::HttpRequest sent;
  provision::Ports ports{clock, [](const std::string&) { return std::nullopt; },
                         [&](const std::string& base, const common::HttpRequest& request) {
                           sent_base = base;
                           sent = request;
                           common::HttpResponse response;
                           response.status = 201;
                           response.body = R"({"message":"ok","apiKeys":["k1","k2"]})";
                           return response;
                         },
                         out, err};
  provision::Options options;
  options.server = "https://deploy.example.com:8443/ignored";
  options.team = "aura";
  options.rotate = true;
  options.secret = kProvisionKey;
  EXPECT_EQ(provision::Run(options, ports), 0);
  EXPECT_EQ(sent_base, "https://deploy.example.com:8443");
  EXPECT_EQ(sent.method, "POST");
  EXPECT_EQ(sent.target, "/internal/api/v1/provision");
  EXPECT_EQ(sent.body,
            "{\n  \"team\": \"aura\",\n  \"rotate\": true,\n  \"timestamp\": 1700000000\n}\n");
  std::map<std::string, std::string> headers;
  for (const auto& h : sent.headers) headers[h.name] = h.value;
  EXPECT_EQ(headers["Content-Type"], "application/json");
  EXPECT_EQ(headers["X-NAIS-Signature"],
            common::HexEncode(common::HmacSha256(*common::HexDecode(kProvisionKey), sent.body)));
  EXPECT_EQ(out.str(), "k1\nk2\n");
  EXPECT_EQ(err.str(),
            "time=\"2023-11-14T22:13:20Z\" level=info msg=\"Submitting provision request to "
            "https://deploy.example.com:8443/internal/api/v1/provision...\"\n"
            "time=\"2023-11-14T22:13:20Z\" level=info msg=\"201 Created: ok\"\n");
}

TEST(ProvisionRequest, NonJsonBodiesAreTheMessage) {
  FixedClock clock;
  std::ostringstream out;
  std::ostringstream err;
  provision::Ports ports{clock, [](const std::string&) { return std::nullopt; },
                         [](const std::string&, const common::HttpRequest&) {
                           common::HttpResponse response;
                           response.status = 502;
                           response.body = "Bad gateway from the proxy\n";
                           return response;
                         },
                         out, err};
  provision::Options options;
  options.team = "aura";
  options.secret = "ab";
  EXPECT_EQ(provision::Run(options, ports), 1);
  EXPECT_EQ(out.str(), "");
  EXPECT_NE(err.str().find("level=error msg=\"502 Bad Gateway: Bad gateway from the proxy\"\n"),
            std::string::npos)
      << err.str();
}

}  // namespace
