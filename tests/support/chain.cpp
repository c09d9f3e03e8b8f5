#include "support/chain.hpp"

#include <filesystem>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <signal.h>

namespace testsupport {

using namespace std::chrono_literals;

Chain::~Chain() { Stop(); }

void Chain::Start(const ChainOptions& options) {
  options_ = options;
  dir_ = MakeTempDir(options_.dir_prefix);
  kubeconfig_ = dir_ + "/kubeconfig";

  std::vector<std::string> kube_sim_args{BinaryPath("kube-sim"), "--listen", "127.0.0.1:0",
                                         "--kubeconfig-out", kubeconfig_};
  for (const auto& team : options_.teams)
    kube_sim_args.insert(kube_sim_args.end(), {"--team", team});
  if (options_.time_scale) {
    std::ostringstream scale;
    scale << *options_.time_scale;
    kube_sim_args.insert(kube_sim_args.end(), {"--time-scale", scale.str()});
  }
  kube_sim_ = std::make_unique<ChildProcess>(kube_sim_args, std::map<std::string, std::string>{},
                                             dir_ + "/kube-sim.log");
  for (int i = 0; i < 500 && !std::filesystem::exists(kubeconfig_); ++i) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(std::filesystem::exists(kubeconfig_)) << kube_sim_->Log();

  grpc_port_ = FreePort();
  http_port_ = FreePort();
  std::vector<std::string> hookd_args{BinaryPath("hookd"),
                                      "--database-url",
                                      options_.database_url,
                                      "--grpc.address",
                                      GrpcAddress(),
                                      "--listen-address",
                                      "127.0.0.1:" + std::to_string(http_port_)};
  if (options_.authentication) {
    hookd_args.insert(hookd_args.end(),
                      {"--grpc.cli-authentication=true", "--grpc.deployd-authentication=true",
                       "--deployd-keys", options_.deployd_key});
  }
  hookd_args.insert(hookd_args.end(), options_.hookd_flags.begin(), options_.hookd_flags.end());
  hookd_args_ = hookd_args;
  hookd_starts_ = 1;
  hookd_ = std::make_unique<ChildProcess>(hookd_args, std::map<std::string, std::string>{},
                                          dir_ + "/hookd.log");
  ASSERT_TRUE(WaitForPort(grpc_port_, 30s)) << hookd_->Log();
  ASSERT_TRUE(WaitForPort(http_port_, 30s)) << hookd_->Log();

  const int deployd_metrics_port = FreePort();
  std::vector<std::string> deployd_args{BinaryPath("deployd"),
                                        "--cluster",
                                        "local",
                                        "--grpc.server",
                                        GrpcAddress(),
                                        "--kubeconfig",
                                        kubeconfig_,
                                        "--metrics-listen-address",
                                        "127.0.0.1:" + std::to_string(deployd_metrics_port)};
  if (options_.authentication) {
    deployd_args.insert(deployd_args.end(),
                        {"--grpc.authentication=true", "--hookd-key", options_.deployd_key});
  }
  deployd_args.insert(deployd_args.end(), options_.deployd_flags.begin(),
                      options_.deployd_flags.end());
  deployd_ = std::make_unique<ChildProcess>(deployd_args, std::map<std::string, std::string>{},
                                            dir_ + "/deployd.log");
  // Its metrics listener is up once deployd has started (signals are handled from then on, so a
  // test that ends at once still sees it exit cleanly on SIGTERM); it connects to hookd by itself.
  ASSERT_TRUE(WaitForPort(deployd_metrics_port, 60s)) << deployd_->Log();
}

void Chain::KillAndRestartHookd() {
  ASSERT_NE(hookd_, nullptr);
  ASSERT_EQ(kill(hookd_->Pid(), SIGKILL), 0);
  ASSERT_EQ(hookd_->Wait(30s), 128 + SIGKILL) << hookd_->Log();
  ++hookd_starts_;
  hookd_ =
      std::make_unique<ChildProcess>(hookd_args_, std::map<std::string, std::string>{},
                                     dir_ + "/hookd-" + std::to_string(hookd_starts_) + ".log");
  ASSERT_TRUE(WaitForPort(grpc_port_, 60s)) << hookd_->Log();
  ASSERT_TRUE(WaitForPort(http_port_, 60s)) << hookd_->Log();
}

void Chain::Stop() {
  // Reverse order; every daemon must exit cleanly on SIGTERM.
  for (auto* process : {&deployd_, &hookd_, &kube_sim_}) {
    if (*process == nullptr) continue;
    EXPECT_EQ((*process)->Stop(), 0) << (*process)->LogPath() << ":\n" << (*process)->Log();
    process->reset();
  }
  if (options_.remove_dir && !dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    dir_.clear();
  }
}

std::string Chain::Logs() const {
  std::string out;
  for (const auto* p : {kube_sim_.get(), hookd_.get(), deployd_.get()}) {
    if (p != nullptr) out += "---- " + p->LogPath() + "\n" + p->Log();
  }
  return out;
}

std::vector<std::string> Chain::CliCommand(const std::string& apikey) const {
  return {BinaryPath("deploy"),
          "--cluster",
          "local",
          "--deploy-server",
          GrpcAddress(),
          "--grpc-use-tls=false",
          options_.authentication ? "--grpc-authentication=true" : "--grpc-authentication=false",
          "--apikey",
          apikey};
}

std::string NeverReadyDeployment(const std::string& name) {
  return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: " + name +
         "\n  namespace: aura\n  annotations:\n    test.deployd.io/scenario: never\nspec:\n"
         "  replicas: 1\n  selector:\n    matchLabels:\n      app: " +
         name + "\n  template:\n    metadata:\n      labels:\n        app: " + name +
         "\n    spec:\n      containers:\n        - name: app\n          image: example/app:1\n";
}

void ChainFixture::StartChainOn(ChainOptions options) {
  ASSERT_TRUE(db_.Available()) << "no test database";
  options.database_url = db_.Url();
  ASSERT_NO_FATAL_FAILURE(chain_.Start(options));
}

}  // namespace testsupport
