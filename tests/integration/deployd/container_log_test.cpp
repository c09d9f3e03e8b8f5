// The crash's own words, with the deployd binary against the real kube-sim (its crashloop and
// failed-Job scenarios, 20x faster) and a fake hookd: a failure caused by a crashing or failing
// container ends with that container's last log lines, read as the team through pods/log, or with
// why they are not available.
#include <filesystem>
#include <regex>
#include <thread>

#include <gtest/gtest.h>

#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deployd/kube/kube_client.hpp"
#include "deployd/kube/kubeconfig.hpp"
#include "support/fake_hookd.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testsupport::BinaryPath;
using testsupport::ChildProcess;
using testsupport::FakeHookd;

constexpr const char* kTeamUser = "system:serviceaccount:aura:serviceuser-aura";

class ContainerLogs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testsupport::MakeTempDir("deployd-logs");
    const std::string kubeconfig = dir_ + "/kubeconfig";
    sim_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        BinaryPath("kube-sim"), "--listen", "127.0.0.1:0", "--kubeconfig-out", kubeconfig, "--team",
        "aura", "--log-level", "warn", "--time-scale", "0.05"});
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (!std::filesystem::exists(kubeconfig) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    ASSERT_TRUE(std::filesystem::exists(kubeconfig)) << "kube-sim did not start";
    admin_ = std::make_unique<deployd::kube::KubeClient>(
        deployd::kube::LoadKubeconfigFile(kubeconfig, "admin"));
    deployd_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        BinaryPath("deployd"), "--cluster", "local", "--grpc.server", hookd_.Address(),
        "--kubeconfig", kubeconfig, "--metrics-listen-address",
        "127.0.0.1:" + std::to_string(testsupport::FreePort())});
    ASSERT_TRUE(hookd_.WaitConnected(20s)) << deployd_->Log();
  }
  void TearDown() override {
    deployd_.reset();
    admin_.reset();
    sim_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  json Admin(const std::string& method, const std::string& path, const json& body = nullptr) {
    deployd::kube::KubeCall call;
    call.method = method;
    call.path = path;
    if (!body.is_null()) {
      call.body = body.dump();
      call.content_type = "application/json";
    }
    return admin_->CallJson(call);
  }

  // The final status (`<state> <message>`) of a deployment of `resource`.
  std::string Deploy(const std::string& id, const json& resource) {
    pb::DeploymentRequest r;
    r.set_id(id);
    r.set_team("aura");
    r.set_cluster("local");
    *r.mutable_time() = common::ToTimestamp(std::chrono::system_clock::now());
    *r.mutable_deadline() = common::ToTimestamp(std::chrono::system_clock::now() + 60s);
    *r.mutable_kubernetes()->add_resources() = common::JsonToStruct(resource);
    hookd_.Send(r);
    auto statuses = hookd_.WaitFinished(id, 45s);
    if (statuses.empty() || !common::IsFinished(statuses.back().state())) return "<unfinished>";
    return common::StateName(statuses.back().state()) + " " + statuses.back().message();
  }

  // The pods/log requests kube-sim served: `<user> <path>?<query>`.
  std::vector<std::string> LogRequests() {
    std::vector<std::string> out;
    const json served = Admin("GET", "/_sim/requests");  // kept: the loop reads into it
    for (const auto& e : served["items"]) {
      const std::string path = e.value("path", "");
      if (path.size() > 4 && path.compare(path.size() - 4, 4, "/log") == 0) {
        out.push_back(e.value("user", "") + " " + path + "?" + e.value("query", ""));
      }
    }
    return out;
  }

  // A one-replica Deployment whose pods log `log` (this instance) and `previous` (the one before
  // the last restart), with init containers when given.
  static json Deployment(const std::string& name, const std::string& scenario,
                         const std::string& log, const std::string& previous,
                         const json& init = json::array()) {
    json spec = {{"containers", json::array({{{"name", "web"}, {"image", "nginx"}}})}};
    if (!init.empty()) spec["initContainers"] = init;
    return {{"apiVersion", "apps/v1"},
            {"kind", "Deployment"},
            {"metadata",
             {{"name", name},
              {"namespace", "aura"},
              {"annotations", {{"test.deployd.io/scenario", scenario}}}}},
            {"spec",
             {{"replicas", 1},
              {"selector", {{"matchLabels", {{"app", name}}}}},
              {"template",
               {{"metadata",
                 {{"labels", {{"app", name}}},
                  {"annotations",
                   {{"test.deployd.io/log", log}, {"test.deployd.io/previous-log", previous}}}}},
                {"spec", spec}}}}}};
  }

  static json Job(const std::string& name, const std::string& log,
                  const json& init = json::array()) {
    json spec = {{"restartPolicy", "Never"},
                 {"containers", json::array({{{"name", "pi"}, {"image", "perl"}}})}};
    if (!init.empty()) spec["initContainers"] = init;
    return {
        {"apiVersion", "batch/v1"},
        {"kind", "Job"},
        {"metadata",
         {{"name", name},
          {"namespace", "aura"},
          {"annotations", {{"test.deployd.io/scenario", "fail"}}}}},
        {"spec",
         {{"backoffLimit", 0},
          {"template",
           {{"metadata", {{"annotations", {{"test.deployd.io/log", log}}}}}, {"spec", spec}}}}}};
  }

  // The first line of a final message and the rest.
  static std::pair<std::string, std::string> Split(const std::string& message) {
    const auto at = message.find('\n');
    if (at == std::string::npos) return {message, ""};
    return {message.substr(0, at), message.substr(at + 1)};
  }

  static std::string PodIn(const std::string& line, const std::string& pattern) {
    std::smatch m;
    if (!std::regex_search(line, m, std::regex(pattern))) return "<no pod>";
    return m[1];
  }

  std::string dir_;
  FakeHookd hookd_;
  std::unique_ptr<ChildProcess> sim_;
  std::unique_ptr<deployd::kube::KubeClient> admin_;
  std::unique_ptr<ChildProcess> deployd_;
};

// CrashLoopBackOff: the previous instance's last lines, cleaned of their colour codes.
TEST_F(ContainerLogs, CrashLoopEndsWithThePreviousInstancesLastLines) {
  const auto final_status = Deploy(
      "logs-crash",
      Deployment("crash", "crashloop", "current instance: starting\n",
                 "starting crash v2\n\x1b[31mpanic: config key \"DB_URL\" is missing\x1b[0m\n"
                 "goroutine 1 [running]:\n"));
  const auto [first, rest] = Split(final_status);
  const auto pod = PodIn(first, R"(pod (crash-[a-z0-9]+-[a-z0-9]+) container web)");
  EXPECT_TRUE(std::regex_match(
      first, std::regex(R"(failure Deployment/crash: pod crash-[a-z0-9]+-[a-z0-9]+ container web: )"
                        R"(CrashLoopBackOff: .* \(last exit: Error, code 1, 2 restarts\) )"
                        R"(\(total of 1 errors\))")))
      << final_status << "\n"
      << deployd_->Log();
  EXPECT_EQ(rest, "Deployment/crash: last 3 log lines of container \"web\" in pod " + pod +
                      " (previous instance):\n"
                      "starting crash v2\n"
                      "panic: config key \"DB_URL\" is missing\n"
                      "goroutine 1 [running]:");
  EXPECT_EQ(LogRequests(),
            std::vector<std::string>{std::string(kTeamUser) + " /api/v1/namespaces/aura/pods/" +
                                     pod + "/log?container=web&tailLines=20&limitBytes=16384&" +
                                     "previous=true"});
}

// A failed Job: the failed pod's container, this instance (it never restarted).
TEST_F(ContainerLogs, FailedJobEndsWithItsPodsLastLines) {
  const auto final_status =
      Deploy("logs-job", Job("pi", "computing pi to 1000 places\nError: division by zero\n"));
  const auto [first, rest] = Split(final_status);
  EXPECT_EQ(first,
            "failure Job/pi: job failed: BackoffLimitExceeded: Job has reached the specified "
            "backoff limit (total of 1 errors)")
      << final_status << "\n"
      << deployd_->Log();
  const auto pod = PodIn(rest, R"(in pod (pi-[a-z0-9]+):)");
  EXPECT_EQ(rest, "Job/pi: last 2 log lines of container \"pi\" in pod " + pod +
                      ":\ncomputing pi to 1000 places\nError: division by zero");
  const auto requests = LogRequests();
  ASSERT_EQ(requests.size(), 1U) << ::testing::PrintToString(requests);
  EXPECT_EQ(requests[0], std::string(kTeamUser) + " /api/v1/namespaces/aura/pods/" + pod +
                             "/log?container=pi&tailLines=20&limitBytes=16384");
}

// A failed init container: in a Deployment it crash-loops (its previous instance), in a Job its
// failure fails the pod (this instance).
TEST_F(ContainerLogs, FailedInitContainerEndsWithItsLastLines) {
  const json migrate = json::array({{{"name", "migrate"}, {"image", "flyway"}}});
  const auto deployment_status =
      Deploy("logs-init", Deployment("initcrash", "crashloop", "web is never started\n",
                                     "Migrating schema to version 2\n"
                                     "ERROR: relation \"users\" already exists\n",
                                     migrate));
  const auto [first, rest] = Split(deployment_status);
  const auto pod = PodIn(first, R"(pod (initcrash-[a-z0-9]+-[a-z0-9]+) container migrate)");
  EXPECT_TRUE(std::regex_match(
      first, std::regex(R"(failure Deployment/initcrash: pod initcrash-[a-z0-9]+-[a-z0-9]+ )"
                        R"(container migrate: CrashLoopBackOff: .* \(last exit: Error, code 1, )"
                        R"(2 restarts\) \(total of 1 errors\))")))
      << deployment_status << "\n"
      << deployd_->Log();
  EXPECT_EQ(rest, "Deployment/initcrash: last 2 log lines of container \"migrate\" in pod " + pod +
                      " (previous instance):\nMigrating schema to version 2\n"
                      "ERROR: relation \"users\" already exists");

  const auto job_status =
      Deploy("logs-init-job", Job("seed", "loading seed data\nFATAL: seed.sql: no such file\n",
                                  json::array({{{"name", "fetch"}, {"image", "curl"}}})));
  const auto [job_first, job_rest] = Split(job_status);
  EXPECT_EQ(job_first,
            "failure Job/seed: job failed: BackoffLimitExceeded: Job has reached the specified "
            "backoff limit (total of 1 errors)")
      << job_status;
  const auto job_pod = PodIn(job_rest, R"(in pod (seed-[a-z0-9]+):)");
  EXPECT_EQ(job_rest, "Job/seed: last 2 log lines of container \"fetch\" in pod " + job_pod +
                          ":\nloading seed data\nFATAL: seed.sql: no such file");
}

// A team that may not read pods/log: the verdict is the same, the log is explained away.
TEST_F(ContainerLogs, ForbiddenLogSaysWhyItIsNotAvailable) {
  auto rbac = Admin("GET", "/_sim/rbac");
  json rules = json::array();
  for (auto rule : rbac["rules"]) {
    if (rule.value("users", json::array()) == json::array({kTeamUser})) {
      rule["resources"] = json::array({"deployments", "replicasets", "pods", "events", "jobs"});
    }
    rules.push_back(rule);
  }
  Admin("PUT", "/_sim/rbac", {{"rules", rules}});
  const auto final_status =
      Deploy("logs-forbidden", Deployment("secret", "crashloop", "x\n", "password=hunter2\n"));
  const auto [first, rest] = Split(final_status);
  const auto pod = PodIn(first, R"(pod (secret-[a-z0-9]+-[a-z0-9]+) container web)");
  EXPECT_TRUE(std::regex_match(
      first, std::regex(R"(failure Deployment/secret: pod secret-[a-z0-9]+-[a-z0-9]+ container )"
                        R"(web: CrashLoopBackOff: .* \(total of 1 errors\))")))
      << final_status << "\n"
      << deployd_->Log();
  EXPECT_EQ(rest, "Deployment/secret: log of container \"web\" in pod " + pod +
                      " (previous instance): (log not available: pods \"" + pod +
                      "\" is forbidden: User \"" + kTeamUser +
                      "\" cannot get resource \"pods/log\" in API group \"\" in the namespace "
                      "\"aura\")");
}

}  // namespace
