#pragma once
#include <chrono>
#include <string>
#include <vector>

#include "deployment.pb.h"

namespace deploy_cli {

// Live progress model for terminals: one line per resource of the request, updated from the
// statuses deployd sends ("Successfully applied <group>/<version>, Kind=K, ..., Name=N",
// events "<Kind>/<name> (<reason>): <message>", the final "<identifier>: <error> (total of n
// errors)"), plus an overall line. Pure: rendering to the terminal is the Logger's job.
class ResourceProgress {
 public:
  explicit ResourceProgress(const pb::DeploymentRequest& request);

  void Update(const pb::DeploymentStatus& status);
  std::vector<std::string> Render(std::chrono::milliseconds elapsed) const;

 private:
  struct Entry {
    std::string kind;
    std::string name;
    std::string state = "waiting";  // waiting, applied, rolling out, done, failed
    std::string detail;
  };
  Entry* Find(const std::string& message);

  std::vector<Entry> entries_;
  std::string overall_ = "sending";
  std::string last_message_;
};

}  // namespace deploy_cli
