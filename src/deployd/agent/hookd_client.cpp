#include "deployd/agent/hookd_client.hpp"

#include <condition_variable>
#include <random>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include "common/backoff.hpp"
#include "common/capabilities.hpp"
#include "common/logging.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "deployment.grpc.pb.h"

namespace deployd::agent {

namespace {

// One ReportStatus in flight on the completion queue (the tag is its address).
struct StatusCall {
  grpc::ClientContext context;
  pb::ReportStatusOpts reply;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::ReportStatusOpts>> reader;
  std::function<void(RpcResult)> done;
};

}  // namespace

struct HookdClient::Impl {
  HookdOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::Dispatch::Stub> stub;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  grpc::ClientContext* active = nullptr;
  // Status reports: one completion queue and the one thread that takes their outcomes from it,
  // for the client's life, whatever the number of reports in flight.
  grpc::CompletionQueue reports;
  std::set<StatusCall*> in_flight;  // under `mutex`
  std::thread reports_thread;

  explicit Impl(HookdOptions o) : options(std::move(o)) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, static_cast<int>(options.keepalive.count()));
    args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 250);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    args.SetMaxReceiveMessageSize(common::GrpcChannelLimit(options.max_message_size));
    auto creds = options.use_tls ? grpc::SslCredentials(grpc::SslCredentialsOptions())
                                 : grpc::InsecureChannelCredentials();
    channel = grpc::CreateCustomChannel(options.server, creds, args);
    stub = pb::Dispatch::NewStub(channel);
    reports_thread = std::thread([this] { TakeReports(); });  // throws std::system_error
  }

  ~Impl() {
    {
      std::lock_guard lock(mutex);
      for (auto* call : in_flight) call->context.TryCancel();
    }
    reports.Shutdown();
    reports_thread.join();
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // The completion thread: hands every finished report's outcome to its callback. Nothing
  // throws past it.
  void TakeReports() {
    void* tag = nullptr;
    bool ok = false;
    while (reports.Next(&tag, &ok)) {
      std::unique_ptr<StatusCall> call(static_cast<StatusCall*>(tag));
      {
        std::lock_guard lock(mutex);
        in_flight.erase(call.get());
      }
      try {
        call->done(
            RpcResult{static_cast<int>(call->status.error_code()), call->status.error_message()});
      } catch (const std::exception& e) {
        spdlog::error("status report: unexpected error: {}", e.what());
      } catch (...) {
        spdlog::error("status report: unexpected error");
      }
    }
  }

  void Prepare(grpc::ClientContext& context) const {
    if (options.authentication) context.AddMetadata("authorization", options.key);
  }
};

bool IsReplaced(int code, const std::string& message) {
  return code == static_cast<int>(grpc::StatusCode::ABORTED) &&
         message.find(kReplacedMessage) != std::string::npos;
}

HookdClient::HookdClient(HookdOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
HookdClient::~HookdClient() { Stop(); }

bool HookdClient::Connected() const {
  return connected_.load() && impl_->channel->GetState(false) == GRPC_CHANNEL_READY;
}

void HookdClient::Stop() {
  std::lock_guard lock(impl_->mutex);
  impl_->stopping = true;
  if (impl_->active != nullptr) impl_->active->TryCancel();
  impl_->wake.notify_all();
}

void HookdClient::RunReceiver(const std::function<void(pb::DeploymentRequest)>& on_request,
                              const std::function<void(const std::string&)>& on_replaced) {
  std::mt19937_64 random{std::random_device{}()};
  int failures = 0;
  int replacements = 0;  // in a row
  for (;;) {
    grpc::ClientContext context;
    impl_->Prepare(context);
    // hookd fails a deployment larger than this at once, naming the limit, instead of sending it
    // (gRPC here would refuse it and end the stream on every attempt).
    context.AddMetadata(common::kMaxMessageSizeMetadata,
                        std::to_string(impl_->options.max_message_size));
    // This deployd understands cancels on the stream (DeploymentRequest.cancel); hookd sends them
    // to no deployd that did not say so.
    context.AddMetadata(common::kCapabilitiesMetadata, common::kCancelCapability);
    // Wait for the channel to (re)connect, governed by gRPC's reconnect backoff (capped at 2 s,
    // with jitter), instead of failing fast while hookd is away.
    context.set_wait_for_ready(true);
    {
      std::lock_guard lock(impl_->mutex);
      if (impl_->stopping) return;
      impl_->active = &context;
    }
    pb::GetDeploymentOpts opts;
    opts.set_cluster(impl_->options.cluster);
    *opts.mutable_startuptime() = common::ToTimestamp(impl_->options.startup_time);
    spdlog::info("connecting to hookd at {} as cluster {}", impl_->options.server,
                 impl_->options.cluster);
    auto reader = impl_->stub->Deployments(&context, opts);
    pb::DeploymentRequest request;
    bool got_any = false;
    connected_ = true;
    while (reader->Read(&request)) {
      got_any = true;
      failures = 0;
      replacements = 0;
      // Quoted: the request is checked later, and a team may hold anything until then.
      common::LogWith(spdlog::level::info,
                      common::DeploymentFields(request.id(), request.team(), request.cluster()),
                      "received deployment request {} for team {} in cluster {}",
                      common::Quote(request.id()), common::Quote(request.team()),
                      common::Quote(request.cluster()));
      on_request(request);
    }
    connected_ = false;
    auto status = reader->Finish();
    {
      std::lock_guard lock(impl_->mutex);
      impl_->active = nullptr;
      if (impl_->stopping) return;
    }
    std::chrono::milliseconds delay{};
    if (IsReplaced(static_cast<int>(status.error_code()), status.error_message())) {
      ++replacements;
      failures = 0;
      delay =
          common::WithJitter(common::BackoffDelay(replacements - 1, impl_->options.replaced_backoff,
                                                  impl_->options.replaced_backoff_cap),
                             random());
      spdlog::warn(
          "another deployd took over cluster {}: hookd ended this deployd's stream ({}); this "
          "deployd stops the deployments it had and connects again in {} ms",
          common::Quote(impl_->options.cluster), status.error_message(), delay.count());
      if (on_replaced) on_replaced(status.error_message());
    } else {
      if (!got_any) ++failures;
      spdlog::warn("deployment stream from hookd ended: {} ({})", status.error_message(),
                   static_cast<int>(status.error_code()));
      delay = common::WithJitter(
          common::BackoffDelay(std::max(failures - 1, 0), impl_->options.backoff_base,
                               impl_->options.backoff_cap),
          random());
    }
    const common::Timers& timers =
        impl_->options.timers != nullptr ? *impl_->options.timers : common::RealTimers();
    std::unique_lock lock(impl_->mutex);
    timers.BlockFor(impl_->wake, lock, delay, [this] { return impl_->stopping; });
  }
}

void HookdClient::ReportStatusAsync(const pb::DeploymentStatus& status,
                                    std::function<void(RpcResult)> done) {
  auto call = std::make_unique<StatusCall>();
  impl_->Prepare(call->context);
  call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  call->done = std::move(done);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->in_flight.insert(call.get());
  }
  call->reader = impl_->stub->AsyncReportStatus(&call->context, status, &impl_->reports);
  StatusCall* tag = call.release();  // TakeReports owns it from here
  tag->reader->Finish(&tag->reply, &tag->status, tag);
}

RpcResult HookdClient::ReportStatus(const pb::DeploymentStatus& status) {
  grpc::ClientContext context;
  impl_->Prepare(context);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::ReportStatusOpts reply;
  auto result = impl_->stub->ReportStatus(&context, status, &reply);
  return RpcResult{static_cast<int>(result.error_code()), result.error_message()};
}

}  // namespace deployd::agent
