// The deployd binary against the real kube-sim (HTTPS, tokens, impersonation, request log) and an
// in-process fake hookd serving pb.Dispatch.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <filesystem>
#include <thread>

#include "common/error.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deployd/kube/kube_client.hpp"
#include "deployd/kube/kubeconfig.hpp"
#include "deployment.grpc.pb.h"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using testsupport::BinaryPath;
using testsupport::ChildProcess;

// ---- fake hookd -------------------------------------------------------------------------------

class FakeHookd final : public pb::Dispatch::Service {
 public:
  FakeHookd() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(this);
    server_ = builder.BuildAndStart();
  }
  ~FakeHookd() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      cv_.notify_all();
    }
    server_->Shutdown(std::chrono::system_clock::now() + 2s);
  }
  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  grpc::Status Deployments(grpc::ServerContext* context, const pb::GetDeploymentOpts* opts,
                           grpc::ServerWriter<pb::DeploymentRequest>* writer) override {
    std::unique_lock lock(mutex_);
    auto auth = context->client_metadata().find("authorization");
    authorization_ = auth == context->client_metadata().end()
                         ? "<none>"
                         : std::string(auth->second.data(), auth->second.size());
    cluster_ = opts->cluster();
    startup_time_ = common::FromTimestamp(opts->startuptime());
    ++connects_;
    cv_.notify_all();
    while (!stopping_ && !context->IsCancelled()) {
      if (pending_.empty()) {
        cv_.wait_for(lock, 50ms);
        continue;
      }
      auto request = pending_.front();
      pending_.pop_front();
      lock.unlock();
      bool ok = writer->Write(request);
      lock.lock();
      if (!ok) break;
    }
    return grpc::Status::OK;
  }

  grpc::Status ReportStatus(grpc::ServerContext*, const pb::DeploymentStatus* status,
                            pb::ReportStatusOpts*) override {
    std::lock_guard lock(mutex_);
    statuses_.push_back(*status);
    cv_.notify_all();
    return grpc::Status::OK;
  }

  bool WaitConnected(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return connects_ > 0; });
  }
  void Send(pb::DeploymentRequest request) {
    std::lock_guard lock(mutex_);
    pending_.push_back(std::move(request));
    cv_.notify_all();
  }
  // Statuses of one deployment until the first finished one (or timeout).
  std::vector<pb::DeploymentStatus> WaitFinished(const std::string& id,
                                                 std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    std::vector<pb::DeploymentStatus> out;
    cv_.wait_for(lock, timeout, [&] {
      out.clear();
      for (const auto& s : statuses_) {
        if (s.request().id() != id) continue;
        out.push_back(s);
        if (common::IsFinished(s.state())) return true;
      }
      return false;
    });
    return out;
  }
  std::string Authorization() {
    std::lock_guard lock(mutex_);
    return authorization_;
  }
  std::string Cluster() {
    std::lock_guard lock(mutex_);
    return cluster_;
  }
  common::SystemTime StartupTime() {
    std::lock_guard lock(mutex_);
    return startup_time_;
  }

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int connects_ = 0;
  std::string authorization_;
  std::string cluster_;
  common::SystemTime startup_time_;
  std::deque<pb::DeploymentRequest> pending_;
  std::vector<pb::DeploymentStatus> statuses_;
};

// ---- kube-sim ---------------------------------------------------------------------------------

class KubeSim {
 public:
  KubeSim() : dir_(testsupport::MakeTempDir("deployd-it")), kubeconfig_(dir_ + "/kubeconfig") {
    process_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        BinaryPath("kube-sim"), "--listen", "127.0.0.1:0", "--kubeconfig-out", kubeconfig_,
        "--team", "aura", "--log-level", "warn"});
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!std::filesystem::exists(kubeconfig_) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    if (!std::filesystem::exists(kubeconfig_)) throw std::runtime_error("kube-sim did not start");
    admin_ = std::make_unique<deployd::kube::KubeClient>(
        deployd::kube::LoadKubeconfigFile(kubeconfig_, "admin"));
  }
  const std::string& Kubeconfig() const { return kubeconfig_; }
  const std::string& Dir() const { return dir_; }
  deployd::kube::KubeClient& Admin() { return *admin_; }

  nlohmann::json Requests() {
    deployd::kube::KubeCall call;
    call.path = "/_sim/requests";
    return admin_->CallJson(call)["items"];
  }
  void ClearRequests() {
    deployd::kube::KubeCall call;
    call.method = "DELETE";
    call.path = "/_sim/requests";
    admin_->Call(call);
  }

 private:
  std::string dir_;
  std::string kubeconfig_;
  std::unique_ptr<ChildProcess> process_;
  std::unique_ptr<deployd::kube::KubeClient> admin_;
};

// ---- helpers ----------------------------------------------------------------------------------

std::unique_ptr<ChildProcess> StartDeployd(const KubeSim& sim, const FakeHookd& hookd,
                                           std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {BinaryPath("deployd"),
                                   "--cluster",
                                   "local",
                                   "--grpc.server",
                                   hookd.Address(),
                                   "--kubeconfig",
                                   sim.Kubeconfig(),
                                   "--metrics-listen-address",
                                   "127.0.0.1:" + std::to_string(testsupport::FreePort())};
  for (auto& e : extra) argv.push_back(std::move(e));
  return std::make_unique<ChildProcess>(argv);
}

pb::DeploymentRequest Request(const std::string& id, const std::vector<std::string>& resources,
                              std::chrono::seconds deadline = 60s) {
  pb::DeploymentRequest r;
  r.set_id(id);
  r.set_team("aura");
  r.set_cluster("local");
  *r.mutable_time() = common::ToTimestamp(std::chrono::system_clock::now());
  *r.mutable_deadline() = common::ToTimestamp(std::chrono::system_clock::now() + deadline);
  for (const auto& text : resources) {
    *r.mutable_kubernetes()->add_resources() = common::JsonToStruct(nlohmann::json::parse(text));
  }
  return r;
}

std::vector<std::string> Lines(const std::vector<pb::DeploymentStatus>& statuses) {
  std::vector<std::string> out;
  for (const auto& s : statuses) out.push_back(common::StateName(s.state()) + " " + s.message());
  return out;
}

std::string Final(const std::vector<pb::DeploymentStatus>& statuses) {
  return statuses.empty() ? "<none>" : Lines(statuses).back();
}

constexpr const char* kTeamUser = "system:serviceaccount:aura:serviceuser-aura";

class DeploydIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    deployd_ = StartDeployd(sim_, hookd_, ExtraFlags());
    ASSERT_TRUE(hookd_.WaitConnected(20s)) << deployd_->Log();
  }
  virtual std::vector<std::string> ExtraFlags() { return {}; }

  std::vector<pb::DeploymentStatus> Deploy(const std::string& id,
                                           const std::vector<std::string>& resources,
                                           std::chrono::seconds deadline = 60s) {
    hookd_.Send(Request(id, resources, deadline));
    return hookd_.WaitFinished(id, 30s);
  }

  KubeSim sim_;
  FakeHookd hookd_;
  std::unique_ptr<ChildProcess> deployd_;
};

// ---- tests ------------------------------------------------------------------------------------

TEST_F(DeploydIntegration, AppliesConfigMapAsTheTeamAndReportsSuccess) {
  auto started = std::chrono::system_clock::now();
  auto statuses = Deploy("configmap-1", {R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"foo","namespace":"aura"},"data":{"key":"value"}})"});
  EXPECT_EQ(Lines(statuses),
            std::vector<std::string>({
                "in_progress Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=foo",
                "in_progress All resources saved to Kubernetes; waiting for completion",
                "success Deployment completed successfully.",
            }))
      << deployd_->Log();
  EXPECT_EQ(hookd_.Cluster(), "local");
  EXPECT_LE(hookd_.StartupTime(), started) << "startupTime is the process start";
  EXPECT_EQ(hookd_.Authorization(), "<none>");

  deployd::kube::KubeCall get;
  get.path = "/api/v1/namespaces/aura/configmaps/foo";
  auto stored = sim_.Admin().CallJson(get);
  EXPECT_EQ(stored["data"]["key"], "value");
  EXPECT_EQ(stored["metadata"]["annotations"]["nais.io/deploymentCorrelationID"], "configmap-1");
  bool by_deployd = false;
  for (const auto& f : stored["metadata"]["managedFields"]) {
    if (f.value("manager", "") == "deployd" && f.value("operation", "") == "Apply") by_deployd = true;
  }
  EXPECT_TRUE(by_deployd) << stored.dump();

  // Every call deployd made impersonated the team (discovery included).
  int calls = 0;
  for (const auto& entry : sim_.Requests()) {
    if (entry["path"].get<std::string>().rfind("/_sim", 0) == 0) continue;
    if (entry.value("user", "") == "system:admin") continue;
    ++calls;
    ASSERT_TRUE(entry["headers"].contains("impersonate-user")) << entry.dump();
    EXPECT_EQ(entry["headers"]["impersonate-user"][0], kTeamUser) << entry.dump();
    EXPECT_EQ(entry["user"], kTeamUser) << entry.dump();
    if (entry["method"] == "PATCH") {
      EXPECT_NE(entry["query"].get<std::string>().find("fieldManager=deployd"), std::string::npos);
      EXPECT_NE(entry["query"].get<std::string>().find("fieldValidation=Strict"), std::string::npos);
      EXPECT_EQ(entry["headers"]["content-type"][0], "application/apply-patch+yaml");
    }
  }
  EXPECT_GE(calls, 2) << "discovery and apply";
}

TEST_F(DeploydIntegration, ForbiddenNamespaceFailsWithTheApiServerMessage) {
  auto statuses = Deploy("unauthorized-1", {R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"foo","namespace":"not-aura"}})"});
  EXPECT_EQ(Final(statuses),
            "failure /v1, Kind=ConfigMap, Namespace=not-aura, Name=foo: applying resource: "
            "configmaps \"foo\" is forbidden: User \"system:serviceaccount:aura:serviceuser-aura\" "
            "cannot patch resource \"configmaps\" in API group \"\" in the namespace \"not-aura\" "
            "(total of 1 errors)")
      << deployd_->Log();
  ASSERT_GE(statuses.size(), 2U);
  EXPECT_EQ(Lines(statuses)[statuses.size() - 2],
            "in_progress All resources saved to Kubernetes; waiting for completion");
}

TEST_F(DeploydIntegration, StopsAtTheFirstFailingResource) {
  auto statuses = Deploy("stop-1", {
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a","namespace":"aura"}})",
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"b","namespace":"not-aura"}})",
      R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"aura"}})"});
  auto lines = Lines(statuses);
  ASSERT_EQ(lines.size(), 3U) << deployd_->Log();
  EXPECT_EQ(lines[0], "in_progress Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=a");
  EXPECT_EQ(lines[1], "in_progress All resources saved to Kubernetes; waiting for completion");
  EXPECT_EQ(lines[2].rfind("failure /v1, Kind=ConfigMap, Namespace=not-aura, Name=b: ", 0), 0U);
  deployd::kube::KubeCall get;
  get.path = "/api/v1/namespaces/aura/configmaps/c";
  EXPECT_THROW(sim_.Admin().Call(get), deployd::kube::ApiError);
}

TEST_F(DeploydIntegration, UnknownKindIsAClearErrorAndNothingIsWritten) {
  sim_.ClearRequests();
  auto statuses = Deploy("unknown-1", {R"({"apiVersion":"example.com/v1","kind":"Gizmo",
      "metadata":{"name":"g","namespace":"aura"}})"});
  EXPECT_EQ(Final(statuses),
            "failure example.com/v1, Kind=Gizmo, Namespace=aura, Name=g: unable to discover "
            "resource using REST mapper: no matches for kind \"Gizmo\" in version "
            "\"example.com/v1\" (total of 1 errors)")
      << deployd_->Log();
  for (const auto& entry : sim_.Requests()) {
    EXPECT_EQ(entry["method"], "GET") << entry.dump();
  }
}

TEST_F(DeploydIntegration, ExpiredDeadline) {
  auto statuses = Deploy("expired-1", {R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"late","namespace":"aura"}})"}, -1s);
  EXPECT_EQ(Lines(statuses), std::vector<std::string>({"failure context deadline exceeded"}));
}

// The original's create-or-update strategy, with its exact messages (original.md 12.1).
class DeploydCreateOrUpdate : public DeploydIntegration {
 protected:
  std::vector<std::string> ExtraFlags() override { return {"--apply-mode", "create-or-update"}; }
};

TEST_F(DeploydCreateOrUpdate, ApplicationUnauthorized) {
  auto statuses = Deploy("application-unauthorized", {R"({"apiVersion":"nais.io/v1alpha1",
      "kind":"Application","metadata":{"name":"myapplication-unauthorized","namespace":"not-aura"},
      "spec":{"image":"nginx"}})"});
  EXPECT_EQ(Final(statuses),
            "failure nais.io/v1alpha1, Kind=Application, Namespace=not-aura, "
            "Name=myapplication-unauthorized: get existing resource: applications.nais.io "
            "\"myapplication-unauthorized\" is forbidden: User "
            "\"system:serviceaccount:aura:serviceuser-aura\" cannot get resource \"applications\" "
            "in API group \"nais.io\" in the namespace \"not-aura\" (total of 1 errors)")
      << deployd_->Log();
}

TEST_F(DeploydCreateOrUpdate, CreatesThenUpdatesConfigMap) {
  const char* v1 = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cu","namespace":"aura"},"data":{"v":"1"}})";
  const char* v2 = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cu","namespace":"aura"},"data":{"v":"2"}})";
  EXPECT_EQ(Final(Deploy("cu-1", {v1})), "success Deployment completed successfully.");
  EXPECT_EQ(Final(Deploy("cu-2", {v2})), "success Deployment completed successfully.");
  deployd::kube::KubeCall get;
  get.path = "/api/v1/namespaces/aura/configmaps/cu";
  auto stored = sim_.Admin().CallJson(get);
  EXPECT_EQ(stored["data"]["v"], "2");
  EXPECT_EQ(stored["metadata"]["annotations"]["nais.io/deploymentCorrelationID"], "cu-2");
}

TEST_F(DeploydCreateOrUpdate, ApplicationUnknownFieldsCreate) {
  auto statuses = Deploy("unknown-fields", {R"({"apiVersion":"nais.io/v1alpha1","kind":"Application",
      "metadata":{"name":"myapplication-unknown-fields","namespace":"aura"},
      "spec":{"image":"nginx","nestedField":{"a":1},"unknownField":"x"}})"});
  EXPECT_EQ(Final(statuses),
            "failure nais.io/v1alpha1, Kind=Application, Namespace=aura, "
            "Name=myapplication-unknown-fields: creating resource: strict decoding error:\n"
            "| ⚠️ unknown field \"spec.nestedField\"\n"
            "| ⚠️ unknown field \"spec.unknownField\"\n"
            "| The fields might be misspelled, incorrectly indented, or unsupported. Fields are "
            "case sensitive.\n"
            "| Please verify your resource against the reference documentation at "
            "https://doc.nais.io/workloads/application/reference/application-spec/ (total of 1 "
            "errors)")
      << deployd_->Log();
}

class DeploydAuthenticated : public DeploydIntegration {
 protected:
  std::vector<std::string> ExtraFlags() override {
    return {"--grpc.authentication=true", "--hookd-key", "s3cret"};
  }
};

TEST_F(DeploydAuthenticated, SendsThePreSharedKey) {
  EXPECT_EQ(hookd_.Authorization(), "s3cret");
  auto statuses = Deploy("auth-1", {R"({"apiVersion":"v1","kind":"ConfigMap",
      "metadata":{"name":"auth","namespace":"aura"}})"});
  EXPECT_EQ(Final(statuses), "success Deployment completed successfully.");
}

TEST_F(DeploydIntegration, ExitsZeroOnSigterm) {
  EXPECT_EQ(deployd_->Stop(), 0) << deployd_->Log();
}

TEST(DeploydProcess, AuthenticationWithoutKeyIsFatal) {
  auto result = testsupport::Run({BinaryPath("deployd"), "--grpc.authentication=true"},
                                 {{"DEPLOYD_HOOKD_KEY", "\x01unset"}, {"HOOKD_KEY", "\x01unset"}},
                                 20s);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("authenticated gRPC calls enabled, but --hookd-key is not specified"),
            std::string::npos)
      << result.err;
}

TEST(DeploydProcess, KeyFromEnvironment) {
  KubeSim sim;
  FakeHookd hookd;
  auto deployd = std::make_unique<ChildProcess>(
      std::vector<std::string>{BinaryPath("deployd"), "--grpc.server", hookd.Address(),
                               "--kubeconfig", sim.Kubeconfig(), "--metrics-listen-address",
                               "127.0.0.1:0"},
      std::map<std::string, std::string>{{"DEPLOYD_GRPC_AUTHENTICATION", "true"},
                                         {"HOOKD_KEY", "from-env"}});
  ASSERT_TRUE(hookd.WaitConnected(20s)) << deployd->Log();
  EXPECT_EQ(hookd.Authorization(), "from-env");
}

}  // namespace
