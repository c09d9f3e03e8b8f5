#pragma once
// A small blocking HTTP(S) client for kube-sim's tests, and a fixture that runs the binary.
#include <map>
#include <memory>
#include <string>
#include <vector>

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
  Response Deployd(const std::string& method, const std::string& target,
                   const std::string& body = "",
                   std::vector<std::pair<std::string, std::string>> headers = {}) const;
  // kubectl --kubeconfig <file> args...
  testsupport::RunResult Kubectl(const std::vector<std::string>& args,
                                 const std::string& stdin_data = "") const;
};

// One JSON value per non-empty line: the events of a watch response body.
std::vector<nlohmann::json> Lines(const std::string& body);

}  // namespace kubesim::testing
