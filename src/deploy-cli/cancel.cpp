#include "deploy-cli/cancel.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/grpc_error.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "deploy-cli/config.hpp"
#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/log.hpp"

namespace deploy_cli {
namespace {

constexpr const char* kCancelledPrefix = "cancelled by ";

struct CancelArgs {
  std::string reason;
  std::vector<std::string> rest;  // for ParseCommandLine
  std::string error;
};

// Takes --reason VALUE / --reason=VALUE out; everything else is a deployment's flags.
CancelArgs SplitReason(const std::vector<std::string>& args) {
  CancelArgs out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--") {
      out.rest.insert(out.rest.end(), args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      break;
    }
    if (arg == "--reason" || arg == "-reason") {
      if (i + 1 >= args.size()) {
        out.error = "flag needs an argument: --reason";
        return out;
      }
      out.reason = args[++i];
    } else if (arg.rfind("--reason=", 0) == 0) {
      out.reason = arg.substr(9);
    } else {
      out.rest.push_back(arg);
    }
  }
  return out;
}

class Cancellation {
 public:
  Cancellation(Options options, std::string id, std::string reason, const Ports& ports, Logger& log)
      : options_(std::move(options)),
        id_(std::move(id)),
        reason_(std::move(reason)),
        ports_(ports),
        log_(log) {}

  int Execute() {
    deadline_ = ports_.clock.Now() +
                std::chrono::duration_cast<common::SystemTime::duration>(options_.timeout);
    if (options_.team.empty()) {
      throw CliError(ExitCode::kInvocationFailure, "cancel needs the deployment's team (--team)");
    }
    transport_ = ports_.transport_factory(Config());
    log_.SetFields(common::DeploymentFields(id_, options_.team, ""));
    log_.Info(fmt::format("Cancelling deployment {} at NAIS deploy at {}...", id_,
                          options_.deploy_server));
    pb::CancelRequest request;
    request.set_id(id_);
    request.set_team(options_.team);
    request.set_reason(reason_);
    pb::DeploymentStatus answer;
    RpcStatus status;
    for (;;) {
      answer.Clear();
      status = transport_->Cancel(request, deadline_, answer);
      if (!options_.retry || !Retriable(status) || Expired()) break;
      log_.Warn(fmt::format("{} (retrying in {}...)", FormatRpc(status),
                            common::FormatGoDuration(kRetryInterval)));
      Sleep();
    }
    if (!status.Ok()) {
      if (Expired())
        throw CliError(ExitCode::kTimeout, "cancel timed out: context deadline exceeded");
      throw CliError(ExitCode::kNoDeployment, "cancel refused: " + FormatRpc(status));
    }
    if (common::IsFinished(answer.state())) return Final(answer);
    Show(answer);
    log_.Info("Waiting for the cluster's deployd to stop the deployment...");
    return Follow();
  }

 private:
  // The HTTP API signs every request, so it needs the key even without gRPC authentication.
  TransportConfig Config() const {
    return MakeTransportConfig(
        options_, ports_,
        options_.grpc_authentication || options_.deploy_server.rfind("http", 0) == 0);
  }

  bool Expired() const { return ports_.clock.Now() >= deadline_; }
  void Sleep() {
    ports_.sleeper.Sleep(
        std::min<std::chrono::nanoseconds>(kRetryInterval, deadline_ - ports_.clock.Now()));
  }

  void Show(const pb::DeploymentStatus& status) {
    const std::string line =
        fmt::format("Status: {}: {}", common::StateName(status.state()), status.message());
    if (status.state() == pb::failure || status.state() == pb::error) {
      log_.Error(line);
    } else {
      log_.Info(line);
    }
    if (options_.output == "json") {
      nlohmann::json object = {
          {"id", id_}, {"state", common::StateName(status.state())}, {"message", status.message()}};
      if (status.has_time())
        object["time"] = common::FormatRfc3339Nano(common::FromTimestamp(status.time()));
      ports_.out << object.dump() << '\n' << std::flush;
    }
  }

  // The deployment's final status: cancelled (exit 0), or it ended otherwise first.
  int Final(const pb::DeploymentStatus& status) {
    Show(status);
    if (status.message().rfind(kCancelledPrefix, 0) == 0) {
      log_.Info(fmt::format("Deployment {} cancelled.", id_));
      return static_cast<int>(ExitCode::kSuccess);
    }
    throw CliError(ExitCode::kNoDeployment,
                   fmt::format("deployment {} ended ({}) before the cancel reached it", id_,
                               common::StateName(status.state())));
  }

  int Follow() {
    pb::DeploymentRequest request;
    request.set_id(id_);
    request.set_team(options_.team);
    std::set<std::string> shown;
    while (!Expired()) {
      std::unique_ptr<StatusStream> stream;
      RpcStatus open = transport_->OpenStatus(request, deadline_, stream);
      if (!open.Ok()) {
        if (options_.retry && Retriable(open) && !Expired()) {
          log_.Warn(FormatRpc(open));
          Sleep();
          continue;
        }
        if (Expired()) break;
        throw CliError(ExitCode::kUnavailable, FormatRpc(open));
      }
      bool received = false;
      while (!Expired()) {
        pb::DeploymentStatus status;
        const RpcStatus recv = stream->Recv(status);
        if (!recv.Ok()) {
          if (Expired()) break;
          if (options_.retry && Retriable(recv)) {
            log_.Warn(FormatRpc(recv));
            if (!received) Sleep();
            break;
          }
          throw CliError(ExitCode::kUnavailable, FormatRpc(recv));
        }
        received = true;
        // Only the final status matters here; the stream replays the history first.
        if (common::IsFinished(status.state())) return Final(status);
        const std::string key = fmt::format("{}|{}|{}", status.time().seconds(),
                                            status.time().nanos(), status.message());
        if (shown.insert(key).second && status.message().rfind(kCancelledPrefix, 0) == 0) {
          Show(status);
        }
      }
    }
    throw CliError(ExitCode::kTimeout,
                   "cancel timed out: context deadline exceeded before the deployment ended");
  }

  Options options_;
  std::string id_;
  std::string reason_;
  const Ports& ports_;
  Logger& log_;
  common::SystemTime deadline_;
  std::unique_ptr<Transport> transport_;
};

}  // namespace

std::string CancelUsage() {
  return "\nCancel a deployment:\n\n"
         "  deploy cancel <deployment ID> [--reason TEXT] [flags]\n\n"
         "Only the deployment's own team may cancel it (--team, --apikey or the GitHub token, and\n"
         "--deploy-server as for a deployment). A queued deployment that no deployd has received\n"
         "is withdrawn; a running one stops waiting and applies nothing more. What was already\n"
         "applied stays in the cluster. The deployment ends as `failure` with a message that says\n"
         "who cancelled it (a `deploy --wait` following it exits 1). --timeout bounds the wait "
         "for\n"
         "the final status. Exit codes: 0 cancelled, 4 cancel refused or the deployment ended\n"
         "first, 5 status unavailable, 6 invocation failure, 9 timeout.\n";
}

int RunCancel(const std::vector<std::string>& args, const Ports& ports) {
  Logger log(ports.err, ports.clock);
  CancelArgs split = SplitReason(args);
  ParseResult parsed = ParseCommandLine(split.rest, ports.env);
  if (parsed.help) {
    ports.err << Usage() << CancelUsage();
    return 0;
  }
  log.Configure(parsed.options.actions, parsed.options.quiet);
  std::string error = split.error.empty() ? parsed.error : split.error;
  if (error.empty() && parsed.positional.size() != 1) {
    error = parsed.positional.empty()
                ? "cancel needs the ID of the deployment: deploy cancel <deployment ID>"
                : fmt::format("cancel takes one deployment ID, not {}", parsed.positional.size());
  }
  if (error.empty() && parsed.positional.front().size() > 256) {
    error = "a deployment ID is at most 256 characters long";
  }
  if (!error.empty()) {
    ports.err << CancelUsage();
    log.Error(fmt::format("fatal: {}", error));
    return static_cast<int>(ExitCode::kInvocationFailure);
  }
  Cancellation cancellation(std::move(parsed.options), parsed.positional.front(), split.reason,
                            ports, log);
  try {
    return cancellation.Execute();
  } catch (const CliError& e) {
    if (e.Code() == ExitCode::kInvocationFailure) ports.err << CancelUsage();
    log.Error(fmt::format("fatal: {}", e.what()));
    return static_cast<int>(e.Code());
  } catch (const std::exception& e) {
    log.Error(fmt::format("fatal: {}", e.what()));
    return static_cast<int>(ExitCode::kInternalError);
  }
}

}  // namespace deploy_cli
