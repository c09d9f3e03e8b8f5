#pragma once
#include <stdexcept>
#include <string>

namespace deploy_cli {

// Process exit codes of the original CLI. Pipelines depend on them.
enum class ExitCode : int {
  kSuccess = 0,
  kDeploymentFailure = 1,   // final state failure
  kDeploymentError = 2,     // final state error
  kDeploymentInactive = 3,  // Deploy answered inactive
  kNoDeployment = 4,        // Deploy RPC rejected
  kUnavailable = 5,         // status stream could not be (re)established
  kInvocationFailure = 6,   // bad configuration or input (usage is printed)
  kInternalError = 7,
  kTemplateError = 8,
  kTimeout = 9,
  // Additions (not in the original).
  kPlanHasChanges = 10,  // --plan --detailed-exitcode: the plan creates, changes or prunes
};

// Failure that ends the run with `code`; what() is printed as the `fatal: <message>` line.
class CliError : public std::runtime_error {
 public:
  CliError(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode Code() const noexcept { return code_; }

 private:
  ExitCode code_;
};

}  // namespace deploy_cli
