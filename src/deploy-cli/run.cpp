#include "deploy-cli/run.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "common/grpc_error.hpp"
#include "common/hex.hpp"
#include "common/message_size.hpp"
#include "common/pb_json.hpp"
#include "common/state.hpp"
#include "common/tracing.hpp"
#include "common/uuid.hpp"
#include "deploy-cli/cancel.hpp"
#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/log.hpp"
#include "deploy-cli/manifest/prepare.hpp"
#include "deploy-cli/progress.hpp"

namespace deploy_cli {

void RealSleeper::Sleep(std::chrono::nanoseconds duration) {
  if (duration > std::chrono::nanoseconds::zero()) std::this_thread::sleep_for(duration);
}

std::string GoTimeString(common::SystemTime t, bool with_fraction) {
  const auto since_epoch = t.time_since_epoch();
  const auto secs = std::chrono::floor<std::chrono::seconds>(since_epoch);
  const auto nanos =
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  localtime_r(&tt, &tm);
  char date[64];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = date;
  if (with_fraction && nanos != 0) {
    std::string frac = fmt::format("{:09d}", nanos);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  char zone[64];
  std::strftime(zone, sizeof zone, " %z %Z", &tm);
  return out + zone;
}

bool PlanHasChanges(std::string_view summary) {
  if (summary.substr(0, kPlanPrefix.size()) != kPlanPrefix) return false;
  summary.remove_prefix(kPlanPrefix.size());
  // "<n> <what>" parts separated by ", ".
  while (!summary.empty()) {
    const auto comma = summary.find(", ");
    const std::string_view part = summary.substr(0, comma);
    const auto space = part.find(' ');
    if (space != std::string_view::npos) {
      const std::string_view count = part.substr(0, space);
      const std::string_view what = part.substr(space + 1);
      const bool nonzero = !count.empty() && count.find_first_not_of('0') != std::string_view::npos;
      if (nonzero && (what == "created" || what == "changed" || what == "pruned")) return true;
    }
    if (comma == std::string_view::npos) break;
    summary.remove_prefix(comma + 2);
  }
  return false;
}

namespace {

// The markdown job summary appended to $GITHUB_STEP_SUMMARY.
class Summary {
 public:
  explicit Summary(const EnvLookup& env) {
    const auto path = env("GITHUB_STEP_SUMMARY");
    auto enabled = env("NAIS_DEPLOY_SUMMARY").value_or("");
    std::transform(enabled.begin(), enabled.end(), enabled.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (!path || path->empty() || enabled == "false") return;
    // Append only to a file that exists, as os.OpenFile(O_APPEND|O_WRONLY) without O_CREATE.
    if (!std::ifstream(*path).good()) return;
    file_.open(*path, std::ios::app);
  }
  void Line(const std::string& text) {
    if (file_.is_open()) file_ << text << '\n' << std::flush;
  }

 private:
  std::ofstream file_;
};

struct Trace {
  std::string trace_id;
  std::string parent;  // W3C traceparent for the request
};

Trace MakeTrace(const std::string& traceparent) {
  Trace trace;
  // 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>
  if (traceparent.size() == 55 && traceparent[2] == '-' && traceparent[35] == '-' &&
      traceparent[52] == '-' && common::HexDecode(traceparent.substr(3, 32))) {
    trace.trace_id = traceparent.substr(3, 32);
  } else {
    trace.trace_id = common::HexEncode(common::RandomBytes(16));
  }
  trace.parent =
      fmt::format("00-{}-{}-01", trace.trace_id, common::HexEncode(common::RandomBytes(8)));
  return trace;
}

class Deployment {
 public:
  Deployment(Options& options, const Ports& ports, Logger& log)
      : options_(options), ports_(ports), log_(log) {}

  int Execute();
  // The CLI's span (the request, from start to exit), once the trace is known.
  std::optional<common::SpanData>& Span() { return span_; }

 private:
  bool Expired() const { return ports_.clock.Now() >= deadline_; }
  void SleepRetryInterval() {
    const auto remaining = deadline_ - ports_.clock.Now();
    ports_.sleeper.Sleep(std::min<std::chrono::nanoseconds>(kRetryInterval, remaining));
  }
  template <typename Fn>
  RpcStatus RetryUnavailable(Fn&& fn) {
    while (true) {
      RpcStatus status = fn();
      if (!options_.retry || !Retriable(status) || Expired()) return status;
      log_.Warn(fmt::format("{} (retrying in {}...)", FormatRpc(status),
                            common::FormatGoDuration(kRetryInterval)));
      SleepRetryInterval();
      if (Expired()) return {grpc::StatusCode::DEADLINE_EXCEEDED, "context deadline exceeded"};
    }
  }
  void SendDeploymentRequest();
  void LogStatus(const pb::DeploymentStatus& status);
  // --max-message-size in bytes (Validate checked it; the default when --dry-run let it pass).
  std::size_t MaxMessageSize() const {
    try {
      return common::ParseMaxMessageSize(options_.max_message_size);
    } catch (const common::Error&) {
      return common::kDefaultMaxMessageSize;
    }
  }
  // Why the request cannot be sent: larger than --max-message-size.
  std::optional<std::string> SizeProblem() const {
    const std::size_t size = request_.ByteSizeLong();
    const std::size_t limit = MaxMessageSize();
    if (size <= limit) return std::nullopt;
    return common::TooLargeMessage("deployment request", size, common::CliSizeLimit(limit)) +
           "; hookd and deployd have the same setting and must accept the size too";
  }
  // What Status needs of the request: hookd reads its ID (and team); the manifests stay home.
  pb::DeploymentRequest StatusRequest() const {
    pb::DeploymentRequest request = request_;
    request.clear_kubernetes();
    return request;
  }
  // Identity of a status for de-duplication: deployment, time, state and message.
  static std::string StatusKey(const pb::DeploymentStatus& status) {
    return fmt::format("{}|{}.{}|{}|{}", status.request().id(), status.time().seconds(),
                       status.time().nanos(), static_cast<int>(status.state()), status.message());
  }
  std::set<std::string> shown_;
  void FinalSummary(const pb::DeploymentStatus& status);
  int ExitForState(const pb::DeploymentStatus& status);
  [[noreturn]] void Timeout() {
    summary_->Line("❌ timeout");
    throw CliError(ExitCode::kTimeout, "deployment timed out: context deadline exceeded");
  }

  Options& options_;
  const Ports& ports_;
  Logger& log_;
  common::SystemTime start_;
  common::SystemTime deadline_;
  pb::DeploymentRequest request_;
  pb::DeploymentStatus status_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<Summary> summary_;
  std::unique_ptr<ResourceProgress> progress_;
  std::optional<common::SpanData> span_;
};

void Deployment::LogStatus(const pb::DeploymentStatus& status) {
  const bool plan_line = options_.plan && status.message().rfind(kPlanPrefix, 0) == 0;
  if (plan_line && options_.output == "text") {
    // The plan itself goes to standard output: one line per resource (with its diff), then the
    // summary.
    ports_.out << status.message().substr(kPlanPrefix.size()) << '\n' << std::flush;
    if (!common::IsFinished(status.state())) return;
  }
  const std::string line =
      fmt::format("Status: {}: {}", common::StateName(status.state()), status.message());
  if (log_.Terminal()) {
    // Live progress: one line per resource rewritten in place; the final state stays.
    progress_->Update(status);
    const auto elapsed =
        std::chrono::duration_cast<std::chrono::milliseconds>(ports_.clock.Now() - start_);
    if (common::IsFinished(status.state()) || !options_.wait) {
      const auto lines = progress_->Render(elapsed);
      log_.Progress({});
      for (std::size_t i = 0; i + 1 < lines.size(); ++i) log_.Info(lines[i]);
      const char* mark = status.state() == pb::success          ? "✅"
                         : common::IsErrorState(status.state()) ? "❌"
                                                                : "•";
      log_.Log(status.state() == pb::success ? LogLevel::kInfo : LogLevel::kError,
               fmt::format("{} {} after {:.1f}s: {}", mark, common::StateName(status.state()),
                           static_cast<double>(elapsed.count()) / 1000.0, status.message()));
    } else {
      log_.Progress(progress_->Render(elapsed));
    }
  } else {
    // A message of several lines (a failure with a crashed container's last log lines): one log
    // line each, the later ones indented, so that none hides behind quoting as `\n`.
    const bool bad = status.state() == pb::failure || status.state() == pb::error;
    std::size_t start = 0;
    for (bool first = true; start <= line.size(); first = false) {
      auto end = line.find('\n', start);
      if (end == std::string::npos) end = line.size();
      const std::string part = (first ? "" : "    ") + line.substr(start, end - start);
      if (bad) {
        log_.Error(part);
      } else {
        log_.Info(part);
      }
      start = end + 1;
    }
  }
  if (options_.output == "json") {
    nlohmann::json object = {{"id", request_.id()},
                             {"state", common::StateName(status.state())},
                             {"message", status.message()}};
    if (status.has_time())
      object["time"] = common::FormatRfc3339Nano(common::FromTimestamp(status.time()));
    ports_.out << object.dump() << '\n' << std::flush;
  }
}

void Deployment::FinalSummary(const pb::DeploymentStatus& status) {
  const char* emoji = common::IsErrorState(status.state()) ? "❌"
                      : status.state() == pb::success      ? "✅"
                                                           : "❓";
  summary_->Line(fmt::format(
      "* Finished at: {}",
      GoTimeString(status.has_time() ? common::FromTimestamp(status.time()) : ports_.clock.Now())));
  summary_->Line("");
  summary_->Line(fmt::format("{} Final status: *{}* / {}", emoji, common::StateName(status.state()),
                             status.message()));
}

int Deployment::ExitForState(const pb::DeploymentStatus& status) {
  if (options_.plan && options_.detailed_exitcode && status.state() == pb::success &&
      PlanHasChanges(status.message())) {
    log_.Info("The plan has changes (exit code 10).");
    return static_cast<int>(ExitCode::kPlanHasChanges);
  }
  switch (status.state()) {
    case pb::error:
      throw CliError(ExitCode::kDeploymentError, "deployment system encountered an error");
    case pb::failure:
      if (status.message().rfind("cancelled by ", 0) == 0) {
        throw CliError(ExitCode::kDeploymentFailure, "deployment was cancelled");
      }
      throw CliError(ExitCode::kDeploymentFailure, "deployment failed");
    case pb::inactive:
      throw CliError(ExitCode::kDeploymentInactive, "deployment has been stopped");
    default:
      return static_cast<int>(ExitCode::kSuccess);
  }
}

void Deployment::SendDeploymentRequest() {
  log_.Info(
      fmt::format("Sending deployment request to NAIS deploy at {}...", options_.deploy_server));
  const RpcStatus status = RetryUnavailable([this] {
    status_.Clear();
    return transport_->Deploy(request_, deadline_, status_);
  });
  if (!status.Ok()) {
    if (Expired()) {
      throw CliError(ExitCode::kTimeout, "deployment timed out: context deadline exceeded");
    }
    if (status.code == grpc::StatusCode::UNAUTHENTICATED) {
      const std::string suffix = ":" + options_.team;
      const std::string& env = options_.environment;
      if (env.size() < suffix.size() ||
          env.compare(env.size() - suffix.size(), suffix.size(), suffix) != 0) {
        log_.Warn(fmt::format("hint: team \"{}\" does not match namespace in \"{}\"", options_.team,
                              options_.environment));
      }
    }
    std::string message = FormatRpc(status);
    if (status.failure == RpcFailure::kGrpcMessageTooLarge) {
      message += fmt::format(
          "; hookd refused the {}-byte deployment request as larger than its limit, which "
          "hookd's --max-message-size or HOOKD_MAX_MESSAGE_SIZE raises (gRPC's default, and an "
          "older hookd's, is 4 MiB)",
          request_.ByteSizeLong());
    }
    throw CliError(ExitCode::kNoDeployment, message);
  }
  request_.set_id(status_.request().id());
  if (span_) span_->attributes.emplace_back("deploy.id", request_.id());
  // From here on every line is about this deployment: the same fields as hookd's and deployd's.
  log_.SetFields(common::DeploymentFields(request_.id(), request_.team(), request_.cluster()));
  log_.Info(
      fmt::format("Deployment request accepted by NAIS deploy and dispatched to cluster '{}'.",
                  status_.request().cluster()));
}

int Deployment::Execute() {
  start_ = ports_.clock.Now();
  deadline_ = start_ + std::chrono::duration_cast<common::SystemTime::duration>(options_.timeout);
  log_.Info(fmt::format("NAIS deploy {}", Version()));

  if (auto problem = Validate(options_)) {
    if (!options_.dry_run) throw CliError(ExitCode::kInvocationFailure, *problem);
    log_.Warn(*problem);
  }

  request_ = Prepare(options_, ports_.env, log_, start_, deadline_);
  request_.set_plan(options_.plan);
  request_.set_prune(options_.prune);
  request_.set_applyset(options_.applyset);
  if (options_.plan) options_.wait = true;  // the plan is what the statuses carry
  progress_ = std::make_unique<ResourceProgress>(request_);

  // gRPC without authentication sends no credentials, but the HTTP API signs its bodies with a
  // key when there is one.
  TransportConfig config = MakeTransportConfig(options_, ports_, options_.grpc_authentication);
  config.max_message_size = MaxMessageSize();
  // One logical request per run: its retries (RetryUnavailable) send the same key, so a request
  // whose answer was lost creates no second deployment.
  config.idempotency_key =
      options_.idempotency_key.empty() ? common::NewUuidV4() : options_.idempotency_key;
  try {
    transport_ = ports_.transport_factory(config);
  } catch (const CliError&) {
    throw;
  } catch (const std::exception& e) {
    throw CliError(ExitCode::kInvocationFailure,
                   fmt::format("connect to NAIS deploy: {}", e.what()));
  }

  if (options_.print_payload) {
    ports_.out << common::MessageToProtoJson(request_, true) << '\n' << std::flush;
  }
  if (options_.dry_run) {
    if (auto problem = SizeProblem()) log_.Warn(*problem);
    return static_cast<int>(ExitCode::kSuccess);
  }

  const Trace trace = MakeTrace(options_.traceparent);
  request_.set_traceparent(trace.parent);
  span_.emplace();
  span_->trace_id = trace.trace_id;
  span_->span_id = trace.parent.substr(36, 16);
  if (auto parent = common::ParseTraceparent(options_.traceparent)) {
    span_->parent_span_id = parent->span_id;
  }
  span_->name = "deploy";
  span_->kind = common::SpanKind::kClient;
  span_->start = start_;
  span_->attributes = {{"deploy.cluster", request_.cluster()}, {"deploy.team", request_.team()}};
  // Refused here, before anything is sent: exit 4 as when hookd refuses it.
  if (auto problem = SizeProblem()) throw CliError(ExitCode::kNoDeployment, *problem);

  SendDeploymentRequest();

  const std::string trace_url = options_.tracing_dashboard_url + trace.trace_id;
  log_.Info("Deployment information:");
  log_.Info("---");
  log_.Info(fmt::format("id...........: {}", request_.id()));
  log_.Info(fmt::format("traces......: {}", trace_url));
  log_.Info(fmt::format("deadline.....: {}", GoTimeString(deadline_)));
  log_.Info("---");

  summary_ = std::make_unique<Summary>(ports_.env);
  summary_->Line("## 🚀 NAIS deploy");
  summary_->Line("");
  summary_->Line(fmt::format("* Detailed trace: [{}]({})", trace.trace_id, trace_url));
  summary_->Line(fmt::format("* Request ID: {}", request_.id()));
  summary_->Line(fmt::format("* Started at: {}", GoTimeString(ports_.clock.Now(), false)));
  summary_->Line(fmt::format("* Deadline: {}", GoTimeString(deadline_, false)));

  if (common::IsFinished(status_.state()) || !options_.wait) {
    FinalSummary(status_);
    LogStatus(status_);
    return common::IsFinished(status_.state()) ? ExitForState(status_)
                                               : static_cast<int>(ExitCode::kSuccess);
  }

  log_.Info("Waiting for deployment to complete...");
  if (log_.Terminal()) {
    progress_->Update(status_);
    log_.Progress(progress_->Render(
        std::chrono::duration_cast<std::chrono::milliseconds>(ports_.clock.Now() - start_)));
  }
  bool connection_lost = false;
  while (!Expired()) {
    std::unique_ptr<StatusStream> stream;
    RpcStatus open = RetryUnavailable([&] {
      stream.reset();
      RpcStatus result = transport_->OpenStatus(StatusRequest(), deadline_, stream);
      if (!result.Ok()) connection_lost = true;
      return result;
    });
    if (!open.Ok()) {
      if (Expired()) break;
      summary_->Line("❌ lost connection to NAIS deploy");
      throw CliError(ExitCode::kUnavailable,
                     fmt::format("rpc error: code = {} desc = {}", common::GoCodeName(open.code),
                                 DescribeRpc(open)));
    }
    bool received = false;
    while (!Expired()) {
      pb::DeploymentStatus status;
      const RpcStatus recv = stream->Recv(status);
      if (!recv.Ok()) {
        connection_lost = true;
        if (Expired()) break;
        if (options_.retry && Retriable(recv)) {
          log_.Warn(FormatRpc(recv));
          // A stream that breaks before delivering anything is not reopened in a tight loop.
          if (!received) SleepRetryInterval();
          break;
        }
        summary_->Line("❌ lost connection to NAIS deploy");
        throw CliError(ExitCode::kUnavailable, FormatRpc(recv));
      }
      if (connection_lost) {
        log_.Info("Connection to NAIS deploy re-established.");
        connection_lost = false;
      }
      received = true;
      // hookd replays the stored history on every (re)opened stream: each status is shown once.
      if (!shown_.insert(StatusKey(status)).second) continue;
      status_ = status;
      LogStatus(status);
      if (status.state() == pb::inactive) {
        log_.Warn("NAIS deploy has been restarted. Re-sending deployment request...");
        try {
          SendDeploymentRequest();
        } catch (const CliError&) {
          summary_->Line("❌ lost connection to NAIS deploy");
          throw;
        }
        // Deliberate fix: follow the new deployment ID on a new stream.
        log_.Info(fmt::format("Following new deployment ID {}", request_.id()));
        break;
      }
      if (common::IsFinished(status.state())) {
        FinalSummary(status);
        return ExitForState(status);
      }
    }
  }
  Timeout();
}

}  // namespace

namespace {

// --otel-collector-endpoint, else OTEL_EXPORTER_OTLP_ENDPOINT (the daemons' variable).
std::unique_ptr<common::Tracer> MakeTracer(const Options& options, const Ports& ports) {
  common::TracerOptions tracing;
  tracing.endpoint = options.otel_collector_endpoint;
  if (tracing.endpoint.empty()) {
    tracing.endpoint = ports.env("OTEL_EXPORTER_OTLP_ENDPOINT").value_or("");
  }
  tracing.service_name = "deploy";
  return std::make_unique<common::Tracer>(std::move(tracing));
}

// Records the CLI's span; the tracer's destructor exports it before the CLI exits.
void EndSpan(common::Tracer& tracer, std::optional<common::SpanData>& span, int code,
             const std::string& error, common::SystemTime end) {
  if (!span) return;
  span->attributes.emplace_back("deploy.exit-code", std::to_string(code));
  span->error = code != 0;
  span->status_message = error;
  tracer.End(std::move(*span), end);
}

}  // namespace

TransportConfig MakeTransportConfig(const Options& options, const Ports& ports, bool key_required) {
  TransportConfig config;
  config.server = options.deploy_server;
  config.use_tls = options.grpc_use_tls;
  config.authentication = options.grpc_authentication;
  config.team = options.team;
  config.clock = &ports.clock;
  config.sleep = [&sleeper = ports.sleeper](std::chrono::nanoseconds d) { sleeper.Sleep(d); };
  if (options.grpc_authentication && !options.github_token_url.empty() &&
      !options.github_bearer_token.empty()) {
    config.token_url = options.github_token_url;
    config.bearer_token = options.github_bearer_token;
    return config;
  }
  std::string error;
  if (auto key = GoHexDecode(options.apikey, &error)) {
    config.api_key = *key;
  } else if (key_required) {
    throw CliError(ExitCode::kInvocationFailure, "API key must be a hex encoded string: " + error);
  }
  return config;
}

int Run(Options options, const Ports& ports) {
  Logger log(ports.err, ports.clock);
  log.Configure(options.actions, options.quiet, ports.err_is_terminal);
  const auto tracer = MakeTracer(options, ports);
  Deployment deployment(options, ports, log);
  try {
    const int code = deployment.Execute();
    EndSpan(*tracer, deployment.Span(), code, "", ports.clock.Now());
    return code;
  } catch (const CliError& e) {
    log.Progress({});
    if (e.Code() == ExitCode::kInvocationFailure) ports.err << Usage();
    log.Error(fmt::format("fatal: {}", e.what()));
    EndSpan(*tracer, deployment.Span(), static_cast<int>(e.Code()), e.what(), ports.clock.Now());
    return static_cast<int>(e.Code());
  } catch (const std::exception& e) {
    log.Progress({});
    log.Error(fmt::format("fatal: {}", e.what()));
    EndSpan(*tracer, deployment.Span(), static_cast<int>(ExitCode::kInternalError), e.what(),
            ports.clock.Now());
    return static_cast<int>(ExitCode::kInternalError);
  }
}

int RunCommandLine(const std::vector<std::string>& args, const Ports& ports) {
  // The one command besides deploying (an addition): `deploy cancel <id>`.
  if (!args.empty() && args.front() == "cancel") {
    return RunCancel(std::vector<std::string>(args.begin() + 1, args.end()), ports);
  }
  ParseResult parsed = ParseCommandLine(args, ports.env);
  if (parsed.help) {
    ports.err << Usage() << CancelUsage();
    return 0;
  }
  if (!parsed.error.empty()) {
    ports.err << Usage();
    Logger log(ports.err, ports.clock);
    log.Configure(parsed.options.actions, false);
    log.Error(fmt::format("fatal: {}", parsed.error));
    return static_cast<int>(ExitCode::kInvocationFailure);
  }
  if (!parsed.positional.empty()) {
    Logger log(ports.err, ports.clock);
    log.Configure(parsed.options.actions, parsed.options.quiet);
    for (const auto& arg : parsed.positional) {
      log.Warn(fmt::format("ignoring argument \"{}\": the deploy command takes only flags", arg));
    }
  }
  return Run(std::move(parsed.options), ports);
}

}  // namespace deploy_cli
