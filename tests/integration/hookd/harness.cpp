#include "harness.hpp"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "common/config.hpp"
#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/pb_json.hpp"
#include "common/time.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"

namespace hookdtest {

hookd::Config TestConfig(const std::string& database_url, bool cli_auth, bool deployd_auth) {
  common::LayeredConfig settings(hookd::HookdSettings());
  settings.Resolve([](const std::string&) { return std::optional<std::string>(); }, "");
  auto config = hookd::BuildConfig(settings);
  config.database_url = database_url;
  config.database_connect_timeout = std::chrono::seconds(5);
  config.grpc_address = "127.0.0.1:0";
  config.listen_address = "127.0.0.1:0";
  config.grpc_cli_authentication = cli_auth;
  config.grpc_deployd_authentication = deployd_auth;
  config.deployd_keys = {{"", kDeploydKey}};
  config.shutdown_grace = std::chrono::seconds(2);
  return config;
}

Hookd::Hookd(const std::string& database_url, bool cli_auth, bool deployd_auth,
             const common::Timers* timers)
    : app_(std::make_unique<hookd::App>(TestConfig(database_url, cli_auth, deployd_auth), timers)) {
  app_->Start();
}

Hookd::~Hookd() { app_->Stop(); }

void InProcessHookdTest::SetUp() {
  if (!db_.Available()) GTEST_SKIP() << "no test database";
  hookd_ = std::make_unique<Hookd>(db_.Url());
  key_ = ProvisionKey(db_.Url(), "aura");
  deploy_ = pb::Deploy::NewStub(hookd_->Channel());
}

void HookdProcessTest::SetUp() {
  if (!db_.Available()) GTEST_SKIP() << "no test database";
}

void HookdProcessTest::Start(const std::vector<std::string>& extra,
                             const std::map<std::string, std::string>& env) {
  grpc_port_ = testsupport::FreePort();
  http_port_ = testsupport::FreePort();
  std::vector<std::string> argv = {testsupport::BinaryPath("hookd"),
                                   "--database-url",
                                   db_.Url(),
                                   "--grpc.address",
                                   "127.0.0.1:" + std::to_string(grpc_port_),
                                   "--listen-address",
                                   "127.0.0.1:" + std::to_string(http_port_),
                                   "--log-level",
                                   "info"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  hookd_ = std::make_unique<testsupport::ChildProcess>(argv, env);
  ASSERT_TRUE(testsupport::WaitForPort(grpc_port_, std::chrono::seconds(60))) << hookd_->Log();
  ASSERT_TRUE(testsupport::WaitForPort(http_port_, std::chrono::seconds(60))) << hookd_->Log();
  key_ = ProvisionKey(db_.Url(), "aura");
}

std::shared_ptr<grpc::Channel> HookdProcessTest::Channel(std::size_t max_send) const {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(static_cast<int>(max_send));
  args.SetMaxReceiveMessageSize(64 << 20);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(grpc_port_),
                                   grpc::InsecureChannelCredentials(), args);
}

std::shared_ptr<grpc::Channel> Hookd::Channel() {
  return grpc::CreateChannel(Target(), grpc::InsecureChannelCredentials());
}

void SignApiKey(grpc::ClientContext& context, const std::string& key, const std::string& team,
                std::chrono::system_clock::time_point at) {
  const std::string timestamp = common::FormatRfc3339Nano(at);
  context.AddMetadata("timestamp", timestamp);
  context.AddMetadata("authorization", common::HexEncode(common::HmacSha256(key, timestamp)));
  context.AddMetadata("team", team);
}

std::string ProvisionKey(const std::string& database_url, const std::string& team) {
  hookd::store::ConnectionPool pool(database_url, 1);
  hookd::store::Store store(pool, *common::HexDecode(kEncryptionKeyHex));
  std::string key = common::RandomBytes(32);
  store.RotateApiKey(team, key);
  return key;
}

pb::DeploymentRequest ConfigMapRequest(const std::string& team, const std::string& cluster,
                                       const std::string& name) {
  pb::DeploymentRequest request;
  request.set_team(team);
  request.set_cluster(cluster);
  request.set_gitrefsha("abc123");
  request.mutable_repository()->set_owner("navikt");
  request.mutable_repository()->set_name("app");
  *request.mutable_time() = common::ToTimestamp(std::chrono::system_clock::now());
  *request.mutable_deadline() =
      common::ToTimestamp(std::chrono::system_clock::now() + std::chrono::minutes(5));
  nlohmann::json cm = {{"apiVersion", "v1"},
                       {"kind", "ConfigMap"},
                       {"metadata", {{"name", name}, {"namespace", team}}},
                       {"data", {{"key", "value"}}}};
  *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(cm);
  return request;
}

void SetDeadline(grpc::ClientContext& context, std::chrono::milliseconds in) {
  context.set_deadline(std::chrono::system_clock::now() + in);
}

long long QueryCount(const std::string& url, const std::string& sql) {
  pqxx::connection conn(url);
  pqxx::nontransaction tx(conn);
  return tx.exec(sql)[0][0].as<long long>();
}

void ExpectStatus(const grpc::Status& status, grpc::StatusCode code, const std::string& message) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

}  // namespace hookdtest
