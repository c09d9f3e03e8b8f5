#pragma once
// `deploy cancel <id>`: cancels a deployment of the team (pb.Deploy/Cancel, or POST
// /api/v1/cancel with an http(s):// --deploy-server). The same connection and authentication
// flags and environment variables as a deployment; --reason says why.
#include <string>
#include <vector>

#include "deploy-cli/run.hpp"

namespace deploy_cli {

// The help text of `deploy cancel`, appended to Usage() by `deploy --help`.
std::string CancelUsage();

// `args` are the arguments after `cancel`. Exit code: 0 when the deployment ended cancelled;
// 4 when hookd refused the cancel (unknown deployment, another team's, already finished, a
// deployd that cannot cancel) or the deployment ended otherwise before the cancel reached it;
// 5 when its status could not be followed; 6 for a bad command line; 9 when --timeout passed
// first. A queued deployment is withdrawn at once; for a running one the final status that its
// cluster's deployd reports is awaited (until --timeout).
int RunCancel(const std::vector<std::string>& args, const Ports& ports);

}  // namespace deploy_cli
