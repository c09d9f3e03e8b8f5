#pragma once
// The whole chain on loopback for end-to-end tests: kube-sim, hookd and deployd as child
// processes, each logging to a file in a fresh temp directory.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/postgres.hpp"
#include "support/process.hpp"

namespace testsupport {

struct ChainOptions {
  std::string database_url;                   // hookd --database-url (e.g. TestDatabase::Url())
  std::string dir_prefix = "chain";           // prefix of the temp directory (logs, kubeconfig)
  std::vector<std::string> teams = {"aura"};  // kube-sim --team (namespace + service account)
  std::optional<double> time_scale;  // kube-sim --time-scale; kube-sim's default when unset
  // CLI and deployd authentication on hookd (--grpc.cli-authentication,
  // --grpc.deployd-authentication, --deployd-keys) and deployd (--grpc.authentication,
  // --hookd-key), both with `deployd_key`.
  bool authentication = false;
  std::string deployd_key = "chain-deployd-psk";
  std::vector<std::string> hookd_flags;    // appended to hookd's command line
  std::vector<std::string> deployd_flags;  // appended to deployd's command line
  bool remove_dir = false;                 // remove the temp directory in Stop()
};

// Usage from a fixture: ASSERT_NO_FATAL_FAILURE(chain_.Start(options)); ... chain_.Stop().
class Chain {
 public:
  Chain() = default;
  ~Chain();  // Stop() when still running
  Chain(const Chain&) = delete;
  Chain& operator=(const Chain&) = delete;

  // Starts kube-sim (waits for its kubeconfig), hookd (waits for its gRPC and HTTP ports) and
  // deployd. Fails the current test fatally (gtest ASSERT) when a step does not come up.
  void Start(const ChainOptions& options);
  // Stops deployd, hookd and kube-sim in that order (SIGTERM), expecting exit code 0 from each.
  // Idempotent.
  void Stop();

  int GrpcPort() const { return grpc_port_; }
  int HttpPort() const { return http_port_; }
  std::string GrpcAddress() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  std::string HttpUrl() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  const std::string& Dir() const { return dir_; }
  const std::string& Kubeconfig() const { return kubeconfig_; }

  // nullptr before Start() reached that process.
  ChildProcess* KubeSim() const { return kube_sim_.get(); }
  ChildProcess* Hookd() const { return hookd_.get(); }
  ChildProcess* Deployd() const { return deployd_.get(); }
  // kill -9 of hookd, then the same hookd again on the same ports and database (its log goes to
  // hookd-<n>.log). Fails the current test fatally when it does not come up.
  void KillAndRestartHookd();
  // Every started process' log, each after a "---- <log path>" line.
  std::string Logs() const;
  // `deploy` to this chain's hookd over gRPC without TLS, for the cluster "local", with the API key
  // `apikey` (--grpc-authentication as the chain was started); callers add the rest.
  std::vector<std::string> CliCommand(const std::string& apikey) const;

 private:
  ChainOptions options_;
  std::string dir_;
  std::string kubeconfig_;
  int grpc_port_ = 0;
  int http_port_ = 0;
  std::unique_ptr<ChildProcess> kube_sim_;
  std::unique_ptr<ChildProcess> hookd_;
  std::vector<std::string> hookd_args_;
  int hookd_starts_ = 0;
  std::unique_ptr<ChildProcess> deployd_;
};

// A Deployment in the team aura that kube-sim never makes ready (its scenario "never").
std::string NeverReadyDeployment(const std::string& name);

// A test with its own database and a chain on it, stopped after the test.
class ChainFixture : public ::testing::Test {
 protected:
  // Starts the chain on the test's database (options.database_url is set here). Fails the test
  // fatally when the database is not available or a process does not come up.
  void StartChainOn(ChainOptions options);
  void TearDown() override { chain_.Stop(); }

  TestDatabase db_;
  Chain chain_;
};

}  // namespace testsupport
