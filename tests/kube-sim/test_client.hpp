#pragma once
// A small blocking HTTP(S) client for kube-sim's tests, and a fixture that runs the binary.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "support/process.hpp"

namespace kubesim::testing {

inline constexpr const char* kApplyType = "application/apply-patch+yaml";
inline constexpr const char* kMergeType = "application/merge-patch+json";

struct Response {
  int status = 0;
  std::string body;
  std::multimap<std::string, std::string> headers;  // lower-case names
  std::string Header(const std::string& name) const;
  nlohmann::json Json() const { return nlohmann::json::parse(body); }
};

class Client {
 public:
  // ca_pem empty: plain HTTP.
  Client(std::string host, int port, std::string ca_pem);
  Response Do(const std::string& method, const std::string& target, const std::string& body = "",
              const std::vector<std::pair<std::string, std::string>>& headers = {}) const;

 private:
  std::string host_;
  int port_;
  std::string ca_pem_;
};

// A running kube-sim plus what its kubeconfig says.
class Sim {
 public:
  explicit Sim(std::vector<std::string> extra_args = {});
  std::string kubeconfig_path;
  std::string dir;
  std::string server;  // https://127.0.0.1:port
  int port = 0;
  std::string ca_pem;
  std::string admin_token;
  std::string deployd_token;
  std::unique_ptr<testsupport::ChildProcess> process;

  Client client() const { return Client("127.0.0.1", port, ca_pem); }
  // Request as the admin or deployd user; extra headers appended.
  Response Admin(const std::string& method, const std::string& target, const std::string& body = "",
                 std::vector<std::pair<std::string, std::string>> headers = {}) const;
  // PATCH as the admin with a JSON merge patch.
  Response MergePatch(const std::string& target, const std::string& patch) const {
    return Admin("PATCH", target, patch, {{"Content-Type", kMergeType}});
  }
  Response Deployd(const std::string& method, const std::string& target,
                   const std::string& body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {}) const;
  // kubectl --kubeconfig <file> args...
  testsupport::RunResult Kubectl(const std::vector<std::string>& args,
                                 const std::string& stdin_data = "") const;
};

// A test suite that shares one kube-sim: started before its first test (for the team aura, unless
// the suite's own SetUpTestSuite calls StartSim with others), controllers at 50 times speed, and
// stopped after its last test.
class SharedSimTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { StartSim({"aura"}); }
  static void TearDownTestSuite() { sim_.reset(); }
  static void StartSim(const std::vector<std::string>& teams) {
    std::vector<std::string> args;
    for (const auto& team : teams) {
      args.emplace_back("--team");
      args.push_back(team);
    }
    args.emplace_back("--time-scale");
    args.emplace_back("0.02");
    sim_ = std::make_unique<Sim>(args);
  }
  static Sim& sim() { return *sim_; }

 private:
  inline static std::unique_ptr<Sim> sim_;
};

// One JSON value per non-empty line: the events of a watch response body.
std::vector<nlohmann::json> Lines(const std::string& body);

// A nais.io Application `name` in the namespace aura, annotated with the deployment correlation ID
// `correlation`, of 1 to `max_replicas` replicas.
inline nlohmann::json NaisApplication(const std::string& name, const std::string& correlation,
                                      int max_replicas) {
  return {{"apiVersion", "nais.io/v1alpha1"},
          {"kind", "Application"},
          {"metadata",
           {{"name", name},
            {"namespace", "aura"},
            {"annotations", {{"nais.io/deploymentCorrelationID", correlation}}}}},
          {"spec",
           {{"image", "ghcr.io/example/" + name + ":1"},
            {"replicas", {{"min", 1}, {"max", max_replicas}}}}}};
}

}  // namespace kubesim::testing
