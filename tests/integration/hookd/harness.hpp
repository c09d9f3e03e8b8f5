#pragma once
// In-process hookd on a private database, and gRPC clients that speak like the original CLI
// (API-key metadata) and deployd (pre-shared key).
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "deployment.grpc.pb.h"
#include "hookd/app.hpp"
#include "hookd/config.hpp"
#include "support/http_call.hpp"
#include "support/postgres.hpp"
#include "support/process.hpp"

namespace hookdtest {

using testsupport::Call;  // one HTTP request (support/http_call.hpp)
using testsupport::Reply;

inline const std::string kEncryptionKeyHex =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
inline const std::string kDeploydKey = "deployd-secret";

// Defaults of every setting, then the given overrides.
hookd::Config TestConfig(const std::string& database_url, bool cli_auth, bool deployd_auth);

class Hookd {
 public:
  // `timers`: hookd's clock (default the system's), e.g. a testsupport::FakeTimers.
  explicit Hookd(const std::string& database_url, bool cli_auth = true, bool deployd_auth = true,
                 const common::Timers* timers = nullptr);
  ~Hookd();
  std::string Target() const { return "127.0.0.1:" + std::to_string(app_->GrpcPort()); }
  std::shared_ptr<grpc::Channel> Channel();
  hookd::App& App() { return *app_; }

 private:
  std::unique_ptr<hookd::App> app_;
};

// hookd in this process on the test's private database (skipped without one), an API key of the
// team aura (key_) and a pb.Deploy client (deploy_).
class InProcessHookdTest : public ::testing::Test {
 protected:
  void SetUp() override;

  testsupport::TestDatabase db_;
  std::unique_ptr<Hookd> hookd_;
  std::string key_;
  std::unique_ptr<pb::Deploy::Stub> deploy_;
};

// The hookd binary as a child process on the test's private database (skipped without one).
class HookdProcessTest : public ::testing::Test {
 protected:
  void SetUp() override;
  // Starts hookd on free ports with `extra` after its test flags (info logs) and `env` added to
  // its environment, waits for both ports and provisions an API key for the team aura (key_).
  void Start(const std::vector<std::string>& extra = {},
             const std::map<std::string, std::string>& env = {});
  // A channel to its gRPC port, sending messages up to `max_send` bytes.
  std::shared_ptr<grpc::Channel> Channel(std::size_t max_send = 64u << 20) const;

  testsupport::TestDatabase db_;
  std::unique_ptr<testsupport::ChildProcess> hookd_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::string key_;
};

// Adds API-key metadata: timestamp, authorization = hex(HMAC(key, timestamp)), team.
void SignApiKey(grpc::ClientContext& context, const std::string& key, const std::string& team,
                std::chrono::system_clock::time_point at = std::chrono::system_clock::now());

// Stores a key for a team (as the original does: encrypted, valid 5 years). Returns the raw key.
std::string ProvisionKey(const std::string& database_url, const std::string& team);

// A DeploymentRequest with one ConfigMap.
pb::DeploymentRequest ConfigMapRequest(const std::string& team, const std::string& cluster,
                                       const std::string& name);

void SetDeadline(grpc::ClientContext& context, std::chrono::milliseconds in);

// The number the SQL query `sql` (SELECT count(*) ...) answers on the database at `url`.
long long QueryCount(const std::string& url, const std::string& sql);
// Expects a gRPC status with this code and exactly this message.
void ExpectStatus(const grpc::Status& status, grpc::StatusCode code, const std::string& message);

}  // namespace hookdtest
