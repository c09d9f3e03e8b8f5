#include "hookd/grpc/server.hpp"

#include <atomic>
#include <deque>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <spdlog/spdlog.h>

#include "common/capabilities.hpp"
#include "common/error.hpp"
#include "common/grpc_error.hpp"
#include "common/limits.hpp"
#include "common/logging.hpp"
#include "common/message_size.hpp"
#include "common/names.hpp"
#include "common/pb_json.hpp"
#include "common/pb_parse.hpp"
#include "common/state.hpp"
#include "common/tracing.hpp"
#include "deployment.grpc.pb.h"
#include "hookd/dispatch/cancel.hpp"
#include "hookd/grpc/auth.hpp"
#include "hookd/grpc/deploy_handlers.hpp"
#include "hookd/grpc/deployd_auth.hpp"

namespace hookd::grpcapi {
namespace {

// Spans of a deployment handed to its cluster's deployd: `Queue` (from its creation until now)
// and `Dispatch` (the hand-over), both children of hookd's `Deploy` span (the stored
// traceParent).
void TraceHandOut(const store::QueuedRequest& entry, const std::string& cluster) {
  auto& tracer = common::GlobalTracer();
  if (!tracer.Enabled()) return;
  const auto parent = common::ParseTraceparent(entry.request.traceparent());
  if (!parent) return;
  const auto now = std::chrono::system_clock::now();
  const std::vector<std::pair<std::string, std::string>> attributes = {
      {"deploy.id", entry.request.id()},
      {"deploy.cluster", cluster},
      {"deploy.sent-again", entry.handed_to.empty() ? "false" : "true"}};
  auto queue =
      common::StartSpan("Queue", common::SpanKind::kInternal, parent, std::min(entry.created, now));
  queue.attributes = attributes;
  tracer.End(std::move(queue), now);
  auto dispatch = common::StartSpan("Dispatch", common::SpanKind::kClient, parent, now);
  dispatch.attributes = attributes;
  tracer.End(std::move(dispatch), std::chrono::system_clock::now());
}

Metadata CopyMetadata(const grpc::CallbackServerContext* context) {
  Metadata out;
  for (const auto& [key, value] : context->client_metadata()) {
    out.emplace(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  return out;
}

// What the services share.
struct Shared {
  Shared(dispatch::Dispatcher& d, GrpcStores s, WorkerPool& w, GrpcOptions o)
      : dispatcher(d),
        workers(w),
        options(std::move(o)),
        deployments(s.deployments),
        queue(s.queue),
        intake(d),
        canceller(d),
        deploy(
            DeployBackends{s.api_keys, s.repositories, s.deployments, intake, canceller, d.Clock()},
            DeployAuthOptions{options.cli_authentication, options.jwt, options.metrics}) {}
  dispatch::Dispatcher& dispatcher;
  WorkerPool& workers;
  GrpcOptions options;
  store::DeploymentReader& deployments;
  store::QueueStore& queue;
  http::DispatcherIntake intake;
  http::DispatcherCanceller canceller;
  // pb.Deploy's logic over the storage interfaces (grpc/deploy_handlers.hpp).
  DeployHandlers deploy;

  void Started(const char* type, const char* service, const char* method) {
    if (options.metrics == nullptr) return;
    options.metrics->GrpcStarted(type, service, method);
    options.metrics->GrpcReceived(type, service, method);
  }
  void Sent(const char* type, const char* service, const char* method) {
    if (options.metrics != nullptr) options.metrics->GrpcSent(type, service, method);
  }
  void Handled(const char* type, const char* service, const char* method,
               const grpc::Status& status, std::chrono::steady_clock::time_point started) {
    if (options.metrics == nullptr) return;
    options.metrics->GrpcHandled(
        type, service, method, static_cast<int>(status.error_code()),
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  }
};

// A reactor may be torn down by gRPC (OnDone) while another thread still works with it, and a
// reaction may run inline inside StartWrite/Finish. So: a recursive mutex guards the state, and
// the reactor owns itself through `self_` until OnDone, which hands that last reference to a
// worker thread instead of destroying the object inside a gRPC callback.
template <class Derived>
class SelfOwned : public std::enable_shared_from_this<Derived> {
 protected:
  void Own() { self_ = this->shared_from_this(); }
  void Release(WorkerPool& workers) {
    std::shared_ptr<Derived> self = std::move(self_);
    workers.Post([self = std::move(self)]() mutable { self.reset(); });
  }

 private:
  std::shared_ptr<Derived> self_;
};

bool IsExpired(const grpc::CallbackServerContext* context) {
  return context->IsCancelled() || context->deadline() <= std::chrono::system_clock::now();
}

// Every method is registered raw (bytes in, bytes out): gRPC's generated handlers answer a request
// they cannot parse with UNIMPLEMENTED and no message, and log nothing. Here the size limit and
// the parse are ours, and each refusal says why.
template <class T>
grpc::Status ReadRequest(const grpc::ByteBuffer& buffer, std::size_t max_size, T& out) {
  const std::string type = out.GetDescriptor()->full_name();
  const std::size_t size = buffer.Length();
  if (size > max_size) {
    const bool deployment = std::is_same_v<T, pb::DeploymentRequest>;
    return {grpc::StatusCode::RESOURCE_EXHAUSTED,
            common::TooLargeMessage(deployment ? "deployment request" : type + " message", size,
                                    common::HookdSizeLimit(max_size))};
  }
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) {
    return {grpc::StatusCode::INTERNAL, "hookd could not read the bytes of the " + type};
  }
  std::string bytes;
  bytes.reserve(size);
  for (const auto& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  const auto problem = common::ParseBounded(bytes, out);
  if (!problem) return grpc::Status::OK;
  if (problem->too_deep && std::is_same_v<T, pb::DeploymentRequest>) {
    // Only the resources (google.protobuf.Struct) of a request nest.
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "invalid Kubernetes resources in request: " + common::DepthMessage()};
  }
  return {grpc::StatusCode::INVALID_ARGUMENT,
          "unable to parse the request as " + type + ": " + problem->detail};
}

template <class T>
void WriteMessage(const T& message, grpc::ByteBuffer& out) {
  bool own = false;
  // Serialising an initialised message into a fresh buffer cannot fail.
  (void)grpc::GenericSerialize<grpc::ProtoBufferWriter, T>(message, &out, &own);
}

// A status a client can read: never without a message. What gRPC or a library left empty gets
// one naming the code.
grpc::Status WithText(const grpc::Status& status) {
  if (status.ok() || !status.error_message().empty()) return status;
  return {status.error_code(), std::string("hookd failed with ") +
                                   common::GoCodeName(status.error_code()) +
                                   " and no further explanation"};
}

// Logs a call that ended with an error: `call` is the method ("pb.Deploy/Deploy"), `subject`
// names the deployment (or cluster) when known.
void LogFailure(std::string_view call, const std::string& peer, const std::string& subject,
                const grpc::Status& status) {
  if (status.ok()) return;
  const auto level = status.error_code() == grpc::StatusCode::CANCELLED ? spdlog::level::info
                                                                        : spdlog::level::warn;
  spdlog::log(level, "{} from {}{}{} ended with {}: {}", call, peer, subject.empty() ? "" : " for ",
              subject, common::GoCodeName(status.error_code()), status.error_message());
}

// The write side both server streams share: a queue written one message at a time, and a finish
// that waits for the write in flight. Every member function here expects `mutex_` to be held (it
// is recursive because StartWrite/Finish may run a reaction inline); the derived class owns the
// policy (what to queue, what a completed write means, when to finish).
template <class T>
class QueuedWriteReactor : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 protected:
  QueuedWriteReactor(Shared& shared, const char* service, const char* method, std::string peer)
      : shared_(shared), peer_(std::move(peer)), service_(service), method_(method) {
    shared_.Started("server_stream", service_, method_);
  }

  bool Finishing() const { return finishing_; }

  // Starts writing the front of the queue unless a write is in flight or the stream finishes.
  void MaybeWrite() {
    if (writing_ || finishing_ || queue_.empty()) return;
    writing_ = true;
    write_buffer_.Clear();
    WriteMessage(queue_.front(), write_buffer_);
    this->StartWrite(&write_buffer_);
  }

  // The first status wins; Finish is called now, or once the write in flight completes.
  void FinishOnce(const grpc::Status& status) {
    if (finishing_) return;
    finishing_ = true;
    final_status_ = status;
    if (!writing_) FinishNow();
  }

  // The common part of OnWriteDone: the write in flight is over; finishes when a finish was
  // waiting for it (FinishNow) or the write failed (FinishOnce CANCELLED `closed_message`).
  // Returns true when the stream goes on (the write succeeded and nothing finishes it).
  bool WriteDone(bool ok, const char* closed_message) {
    writing_ = false;
    if (finishing_) {
      FinishNow();
      return false;
    }
    if (!ok) {
      FinishOnce({grpc::StatusCode::CANCELLED, closed_message});
      return false;
    }
    return true;
  }

  void Sent() { shared_.Sent("server_stream", service_, method_); }

  // Who the stream is about, for the log: "deployment <id>", "cluster <name>".
  void SetSubject(std::string subject) { subject_ = std::move(subject); }

  Shared& shared_;
  std::recursive_mutex mutex_;
  std::deque<T> queue_;  // front: being written (while writing) or next to write
  const std::string peer_;

 private:
  void FinishNow() {
    if (finish_called_) return;
    finish_called_ = true;
    final_status_ = WithText(final_status_);
    LogFailure(std::string(service_) + "/" + method_, peer_, subject_, final_status_);
    shared_.Handled("server_stream", service_, method_, final_status_, started_);
    this->Finish(final_status_);
  }

  const char* const service_;
  const char* const method_;
  std::string subject_;
  grpc::ByteBuffer write_buffer_;  // the serialised front of the queue while it is written
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool writing_ = false;
  bool finishing_ = false;
  bool finish_called_ = false;
  grpc::Status final_status_;
};

// ---------------------------------------------------------------------------------------------
// pb.Deploy/Status: subscribes before reading history, sends the newest stored status and then
// every new one, ends after a final status.
class StatusStream final : public QueuedWriteReactor<pb::DeploymentStatus>,
                           public dispatch::StatusSubscriber,
                           public SelfOwned<StatusStream> {
 public:
  StatusStream(Shared& shared, grpc::CallbackServerContext* context,
               const grpc::ByteBuffer& request)
      : QueuedWriteReactor(shared, "pb.Deploy", "Status", context->peer()),
        metadata_(CopyMetadata(context)),
        raw_request_(request) {}

  void Begin() {
    Own();
    shared_.workers.Post([self = shared_from_this()] { self->Prepare(); });
  }

  void OnStatus(const dispatch::StatusEventPtr& event) override {
    std::lock_guard lock(mutex_);
    if (Finishing()) return;
    if (!ready_) {
      pending_.push_back(event);
      if (pending_.size() > shared_.options.status_buffer) Overflow();
      return;
    }
    if (!seen_.insert(event->status_id).second) return;
    Enqueue(event->status);
    MaybeWrite();
  }

  void OnShutdown() override {
    std::lock_guard lock(mutex_);
    FinishOnce({grpc::StatusCode::UNAVAILABLE, "hookd is shutting down"});
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    if (!WriteDone(ok, "status stream closed")) return;
    Sent();
    const bool final_state = common::IsFinished(queue_.front().state());
    queue_.pop_front();
    if (history_left_ > 0) --history_left_;  // history is at the front of the queue
    if (final_state) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    MaybeWrite();
  }

  void OnCancel() override {
    std::lock_guard lock(mutex_);
    FinishOnce({grpc::StatusCode::CANCELLED, "client went away"});
  }

  void OnDone() override {
    bool subscribed = false;
    {
      std::lock_guard lock(mutex_);
      subscribed = subscribed_;
      done_ = true;
    }
    if (subscribed) shared_.dispatcher.Hub().Unsubscribe(request_.id(), this);
    Release(shared_.workers);
  }

 private:
  void Prepare() {
    if (auto read = ReadRequest(raw_request_, shared_.options.max_message_size, request_);
        !read.ok()) {
      return Fail(read);
    }
    raw_request_.Clear();
    const std::string& id = request_.id();
    SetSubject("deployment " + common::Quote(id));
    if (auto admitted = shared_.deploy.AdmitStatus(metadata_, request_, authenticated_team_);
        !admitted.ok()) {
      return Fail(admitted);
    }
    {
      std::lock_guard lock(mutex_);
      if (Finishing()) return;
      subscribed_ = true;
    }
    // Subscribe first, then read history: nothing stored in between can be missed.
    shared_.dispatcher.Hub().Subscribe(id, shared_from_this());
    {
      std::lock_guard lock(mutex_);
      if (done_) {
        shared_.dispatcher.Hub().Unsubscribe(id, this);
        return;
      }
    }
    std::vector<store::StatusRow> history;
    if (auto read = shared_.deploy.StatusHistory(id, authenticated_team_, history); !read.ok()) {
      return Fail(read);
    }
    std::lock_guard lock(mutex_);
    if (Finishing()) return;
    for (const auto& row : history) seen_.insert(row.id);
    // The whole stored history first, oldest first, so that a client that connects late (after
    // the deployment finished, or on a loaded machine) sees every status, without a gap. It is
    // finite (read once from the database) and does not count against status_buffer, which
    // bounds what a slow client lets pile up of the live statuses. `history` is newest first.
    for (std::size_t i = history.size(); i-- > 0;) {
      Enqueue(dispatch::ToWireStatus(history[i]), /*from_history=*/true);
    }
    for (const auto& event : pending_) {
      if (Finishing()) break;
      if (seen_.insert(event->status_id).second) Enqueue(event->status);
    }
    pending_.clear();
    ready_ = true;
    MaybeWrite();
  }

  void Fail(const grpc::Status& status) {
    std::lock_guard lock(mutex_);
    FinishOnce(status);
  }

  void Enqueue(const pb::DeploymentStatus& status, bool from_history = false) {
    if (final_queued_) return;
    queue_.push_back(status);
    if (from_history) ++history_left_;
    if (common::IsFinished(status.state())) final_queued_ = true;
    if (queue_.size() - history_left_ > shared_.options.status_buffer) Overflow();
  }

  void Overflow() {
    spdlog::warn("status stream of deployment {} is too slow; ending it", request_.id());
    FinishOnce({grpc::StatusCode::UNAVAILABLE, "status stream cannot keep up: more than " +
                                                   std::to_string(shared_.options.status_buffer) +
                                                   " statuses waiting; reconnect"});
  }

  const Metadata metadata_;
  grpc::ByteBuffer raw_request_;  // until Prepare parses it into request_
  pb::DeploymentRequest request_;
  std::string authenticated_team_;

  bool done_ = false;
  bool subscribed_ = false;
  bool ready_ = false;
  bool final_queued_ = false;
  std::size_t history_left_ = 0;  // statuses of the stored history still queued (at the front)
  std::vector<dispatch::StatusEventPtr> pending_;  // arrived before history was read
  std::set<std::string> seen_;                     // status IDs already sent or skipped
};

using DeployBase =
    pb::Deploy::WithRawCallbackMethod_Deploy<pb::Deploy::WithRawCallbackMethod_Status<
        pb::Deploy::WithRawCallbackMethod_Cancel<pb::Deploy::Service>>>;

class DeployService final : public DeployBase {
 public:
  explicit DeployService(Shared& shared) : shared_(shared) {}

  grpc::ServerUnaryReactor* Deploy(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* reply) override {
    auto* reactor = context->DefaultReactor();
    shared_.Started("unary", "pb.Deploy", "Deploy");
    shared_.workers.Post([this, context, request, reply, reactor, metadata = CopyMetadata(context),
                          started = std::chrono::steady_clock::now()] {
      pb::DeploymentRequest parsed;
      pb::DeploymentStatus answer;
      auto status = ReadRequest(*request, shared_.options.max_message_size, parsed);
      if (status.ok()) status = shared_.deploy.Deploy(metadata, parsed, IsExpired(context), answer);
      status = WithText(status);
      if (status.ok()) {
        WriteMessage(answer, *reply);
        shared_.Sent("unary", "pb.Deploy", "Deploy");
      } else {
        std::string subject;
        if (!parsed.team().empty() || !parsed.cluster().empty()) {
          subject = "team " + common::Quote(parsed.team()) + " and cluster " +
                    common::Quote(parsed.cluster());
        }
        LogFailure("pb.Deploy/Deploy", context->peer(), subject, status);
      }
      shared_.Handled("unary", "pb.Deploy", "Deploy", status, started);
      reactor->Finish(status);
    });
    return reactor;
  }

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Status(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request) override {
    auto stream = std::make_shared<StatusStream>(shared_, context, *request);
    stream->Begin();
    return stream.get();
  }

  // Beyond the original: authenticated like Deploy; only the deployment's own team may cancel it.
  grpc::ServerUnaryReactor* Cancel(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* reply) override {
    auto* reactor = context->DefaultReactor();
    shared_.Started("unary", "pb.Deploy", "Cancel");
    shared_.workers.Post([this, context, request, reply, reactor, metadata = CopyMetadata(context),
                          started = std::chrono::steady_clock::now()] {
      pb::CancelRequest parsed;
      pb::DeploymentStatus answer;
      auto status = ReadRequest(*request, shared_.options.max_message_size, parsed);
      if (status.ok()) status = shared_.deploy.Cancel(metadata, parsed, IsExpired(context), answer);
      status = WithText(status);
      if (status.ok()) {
        WriteMessage(answer, *reply);
        shared_.Sent("unary", "pb.Deploy", "Cancel");
      } else {
        LogFailure("pb.Deploy/Cancel", context->peer(),
                   "deployment " + common::Quote(parsed.id()) + " and team " +
                       common::Quote(parsed.team()),
                   status);
      }
      shared_.Handled("unary", "pb.Deploy", "Cancel", status, started);
      reactor->Finish(status);
    });
    return reactor;
  }

 private:
  Shared& shared_;
};

// ---------------------------------------------------------------------------------------------
// pb.Dispatch/Deployments: the stream of one deployd. Delivers the cluster's durable queue.
class DispatchStream final : public QueuedWriteReactor<pb::DeploymentRequest>,
                             public dispatch::ClusterConnection,
                             public SelfOwned<DispatchStream> {
 public:
  DispatchStream(Shared& shared, grpc::CallbackServerContext* context,
                 const pb::GetDeploymentOpts& opts)
      : QueuedWriteReactor(shared, "pb.Dispatch", "Deployments", context->peer()),
        metadata_(CopyMetadata(context)),
        cluster_(opts.cluster()),
        startup_(common::FromTimestamp(opts.startuptime())),
        instance_(cluster_ + "@" + common::FormatRfc3339Nano(startup_)),
        deployd_limit_(AnnouncedLimit(metadata_)),
        capabilities_(AnnouncedCapabilities(metadata_)) {
    SetSubject("cluster " + common::Quote(cluster_));
  }

  void Begin() {
    Own();
    identity_ = AuthenticateDeployd(metadata_, shared_.options.deployd_keys,
                                    shared_.options.deployd_authentication);
    auto status = identity_.status;
    if (status.ok()) status = CheckDeploydCluster(identity_, cluster_);
    if (!status.ok()) {
      spdlog::warn("refused a deployd stream for cluster {} from {}: {}", common::Quote(cluster_),
                   peer_, status.error_message());
      std::lock_guard lock(mutex_);
      FinishOnce(status);
      return;
    }
    shared_.workers.Post([self = shared_from_this()] { self->Prepare(); });
  }

  void Wake() override {
    std::lock_guard lock(mutex_);
    if (Finishing()) return;
    if (!ready_ || pumping_) {
      pump_again_ = true;
      return;
    }
    pumping_ = true;
    shared_.workers.Post([self = shared_from_this()] { self->Pump(); });
  }

  void Replace() override {
    spdlog::info("a newer deployd connection for cluster {} replaces the one from {}", cluster_,
                 peer_);
    std::lock_guard lock(mutex_);
    FinishOnce({grpc::StatusCode::ABORTED,
                "replaced by a newer connection for cluster '" + cluster_ + "'"});
  }

  void OnShutdown() override {
    std::lock_guard lock(mutex_);
    FinishOnce({grpc::StatusCode::UNAVAILABLE, "hookd is shutting down"});
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mutex_);
    // A written request is only handed out: it stays queued until deployd confirms it with a
    // status, and the next connection of the cluster gets it again if none comes.
    if (ok && !queue_.empty()) {
      Sent();
      queue_.pop_front();
    }
    if (!WriteDone(ok, "deployment stream closed")) return;
    MaybeWrite();
  }

  void OnCancel() override {
    std::lock_guard lock(mutex_);
    FinishOnce({grpc::StatusCode::CANCELLED, "deployd went away"});
  }

  void OnDone() override {
    bool registered = false;
    {
      std::lock_guard lock(mutex_);
      registered = registered_;
      done_ = true;
    }
    if (registered) {
      shared_.dispatcher.Clusters().Unregister(cluster_, this);
      // Off the gRPC thread: the database. A newer stream of the cluster here keeps the lease.
      // Logged once the lease is given up: from then on new deployments say "not connected".
      shared_.workers.Post([&dispatcher = shared_.dispatcher, &queue = shared_.queue,
                            cluster = cluster_, peer = peer_] {
        if (!dispatcher.Clusters().IsConnected(cluster)) {
          try {
            queue.ReleasePresence(cluster);
          } catch (const std::exception& e) {
            spdlog::warn("releasing the presence of cluster {}: {}", cluster, e.what());
          }
        }
        spdlog::info("deployd for cluster {} disconnected ({})", cluster, peer);
      });
    }
    Release(shared_.workers);
  }

 private:
  void Prepare() {
    {
      std::lock_guard lock(mutex_);
      if (Finishing()) return;
      registered_ = true;
    }
    const auto registered_at = shared_.dispatcher.Clock().Now();
    if (!shared_.dispatcher.Clusters().Register(cluster_, shared_from_this(), registered_at,
                                                identity_.credential)) {
      spdlog::warn("refused a deployd stream for cluster {} from {}: another key holds it",
                   cluster_, peer_);
      std::lock_guard lock(mutex_);
      registered_ = false;
      FinishOnce({grpc::StatusCode::ALREADY_EXISTS,
                  "cluster \"" + cluster_ +
                      "\" is served by a deployd connected with another key; only a connection "
                      "with the same key replaces it"});
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (done_) {
        shared_.dispatcher.Clusters().Unregister(cluster_, this);
        return;
      }
    }
    spdlog::info("deployd for cluster {} connected ({}, started {})", cluster_, peer_,
                 common::FormatRfc3339Nano(startup_));
    try {
      shared_.queue.TouchCluster(cluster_, registered_at, identity_.credential);
      shared_.queue.SetClusterCapabilities(cluster_, capabilities_);
      shared_.dispatcher.InvalidateHistoric(cluster_, startup_, instance_);
    } catch (const std::exception& e) {
      spdlog::error("invalidating historic deployments of cluster {}: {}", cluster_, e.what());
      std::lock_guard lock(mutex_);
      FinishOnce({grpc::StatusCode::UNAVAILABLE, e.what()});
      return;
    }
    {
      std::lock_guard lock(mutex_);
      ready_ = true;
      // Headers now, before any request: deployd (and tests) can tell that the stream is
      // registered, i.e. that new deployments see the cluster as connected.
      if (!Finishing()) StartSendInitialMetadata();
    }
    Wake();
  }

  void Pump() {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        pump_again_ = false;
        if (Finishing()) {
          pumping_ = false;
          return;
        }
      }
      std::vector<store::QueuedRequest> queued;
      std::vector<std::string> too_large;  // per entry of `queued`: why it is not sent
      std::vector<store::PendingCancel> cancels;
      bool cancels_read = false;
      try {
        const auto unconfirmed = shared_.queue.UnconfirmedIds(cluster_);
        std::vector<std::string> fresh;
        {
          std::lock_guard lock(mutex_);
          // Forget what is no longer waiting for confirmation (bounds the set by the backlog).
          std::set<std::string> still(unconfirmed.begin(), unconfirmed.end());
          for (auto it = handed_out_.begin(); it != handed_out_.end();) {
            it = still.count(*it) ? std::next(it) : handed_out_.erase(it);
          }
          for (const auto& id : unconfirmed) {
            if (!handed_out_.count(id)) fresh.push_back(id);
          }
        }
        queued = shared_.queue.QueuedRequests(fresh);
        // A request this deployd cannot receive would break its stream on every attempt until the
        // deadline: it fails at once instead, naming the limit.
        too_large.assign(queued.size(), "");
        for (std::size_t i = 0; i < queued.size(); ++i) {
          if (!queued[i].unreadable.empty()) continue;
          const std::size_t size = queued[i].request.ByteSizeLong();
          if (size <= deployd_limit_.bytes) continue;
          too_large[i] = common::TooLargeMessage(
              "deployment request", size,
              common::DeploydSizeLimit(deployd_limit_.bytes, cluster_, deployd_limit_.announced));
        }
        // Recorded before the write, so that a status racing the write already finds where the
        // request went (that instance confirmed it).
        std::vector<std::string> sending;
        for (std::size_t i = 0; i < queued.size(); ++i) {
          if (queued[i].unreadable.empty() && too_large[i].empty()) {
            sending.push_back(queued[i].deployment_id);
          }
        }
        // Only what was marked is sent: a request withdrawn meanwhile (Cancel) is not.
        const auto marked = shared_.queue.HandOut(sending, instance_);
        const std::set<std::string> sendable(marked.begin(), marked.end());
        for (std::size_t i = 0; i < queued.size(); ++i) {
          if (queued[i].unreadable.empty() && too_large[i].empty() &&
              !sendable.count(queued[i].deployment_id)) {
            queued[i].deployment_id.clear();  // withdrawn: dropped below
          }
        }
        if (CanCancel()) {
          cancels = shared_.queue.PendingCancels(cluster_);
          cancels_read = true;
        }
      } catch (const std::exception& e) {
        queued.clear();
        too_large.clear();
        cancels.clear();
        cancels_read = false;
        // The sweeper wakes every stream periodically, so this is retried.
        spdlog::error("reading the queue of cluster {}: {}", cluster_, e.what());
      }
      // A row that cannot be read fails its own deployment; the others go on.
      for (const auto& entry : queued) {
        if (entry.unreadable.empty()) continue;
        try {
          shared_.dispatcher.FailUnreadable(entry);
        } catch (const std::exception& e) {
          common::LogWith(spdlog::level::err,
                          common::DeploymentFields(entry.deployment_id, "", cluster_),
                          "failing unreadable deployment {}: {}", entry.deployment_id, e.what());
        }
      }
      for (std::size_t i = 0; i < too_large.size(); ++i) {
        if (too_large[i].empty()) continue;
        try {
          shared_.dispatcher.FailUndeliverable(queued[i], too_large[i]);
        } catch (const std::exception& e) {
          common::LogWith(
              spdlog::level::err,
              common::DeploymentFields(queued[i].deployment_id, queued[i].request.team(), cluster_),
              "failing deployment {}: {}", queued[i].deployment_id, e.what());
        }
        queued[i].unreadable = too_large[i];  // not sent below
      }
      const auto now = shared_.dispatcher.Clock().Now();
      std::lock_guard lock(mutex_);
      for (auto& entry : queued) {
        if (!entry.unreadable.empty() || entry.deployment_id.empty()) continue;
        if (entry.deadline <= now) continue;  // the sweeper ends it as `error`
        if (!handed_out_.insert(entry.request.id()).second) continue;
        common::LogWith(
            spdlog::level::info,
            common::DeploymentFields(entry.request.id(), entry.request.team(), cluster_),
            "sending deployment {} to cluster {}{}", entry.request.id(), cluster_,
            entry.handed_to.empty() ? "" : " again (unconfirmed on " + entry.handed_to + ")");
        TraceHandOut(entry, cluster_);
        queue_.push_back(std::move(entry.request));
      }
      // After the requests: a deployment and its cancel in one batch arrive in that order. Each
      // cancel is sent once per stream; the next connection of the cluster gets it again while
      // the deployment has not ended.
      std::set<std::string> still_pending;
      for (const auto& cancel : cancels) {
        still_pending.insert(cancel.deployment_id);
        if (!cancels_sent_.insert(cancel.deployment_id).second) continue;
        common::LogWith(spdlog::level::info,
                        common::DeploymentFields(cancel.deployment_id, cancel.team, cluster_),
                        "sending the cancel of deployment {} to cluster {}", cancel.deployment_id,
                        cluster_);
        pb::DeploymentRequest message;
        message.set_id(cancel.deployment_id);
        message.set_cluster(cluster_);
        message.set_team(cancel.team);
        message.set_cancel(true);
        message.set_cancelledby("team " + cancel.team);
        message.set_cancelreason(cancel.reason);
        queue_.push_back(std::move(message));
      }
      if (cancels_read) {
        for (auto it = cancels_sent_.begin(); it != cancels_sent_.end();) {
          it = still_pending.count(*it) ? std::next(it) : cancels_sent_.erase(it);
        }
      }
      MaybeWrite();
      if (!pump_again_ || Finishing()) {
        pumping_ = false;
        return;
      }
    }
  }

  // What deployd announced with metadata kMaxMessageSizeMetadata; gRPC's default (what an
  // original deployd accepts) when it announced nothing usable.
  struct Limit {
    std::size_t bytes = common::kGrpcDefaultMaxMessageSize;
    bool announced = false;
  };
  static Limit AnnouncedLimit(const Metadata& metadata) {
    auto it = metadata.find(common::kMaxMessageSizeMetadata);
    if (it == metadata.end()) return {};
    auto bytes = common::ParseByteSize(it->second);
    if (!bytes || *bytes == 0) return {};
    return {*bytes, true};
  }

  // What deployd announced with metadata common::kCapabilitiesMetadata (trimmed, as sent).
  static std::string AnnouncedCapabilities(const Metadata& metadata) {
    auto it = metadata.find(common::kCapabilitiesMetadata);
    if (it == metadata.end()) return "";
    std::string out;
    for (char c : it->second.substr(0, 256)) {
      if (c != ' ') out += c;
    }
    return out;
  }
  bool CanCancel() const {
    return ("," + capabilities_ + ",").find(std::string(",") + common::kCancelCapability + ",") !=
           std::string::npos;
  }

  const Metadata metadata_;
  const std::string cluster_;
  const common::SystemTime startup_;
  // The deployd process behind the stream: its cluster and start time (a reconnect of the same
  // process has the same instance; a restarted one a new one).
  const std::string instance_;
  const Limit deployd_limit_;
  const std::string capabilities_;
  DeploydIdentity identity_;

  bool done_ = false;
  bool registered_ = false;
  bool ready_ = false;
  bool pumping_ = false;
  bool pump_again_ = false;
  // IDs written (or being written) on this stream and not yet confirmed: never sent twice on it.
  std::set<std::string> handed_out_;
  // Deployments whose cancel was written on this stream (bounded by the pending cancels).
  std::set<std::string> cancels_sent_;
};

// A server stream refused before it started (its request could not be read).
class RefusedWriteReactor final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RefusedWriteReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

using DispatchBase = pb::Dispatch::WithRawCallbackMethod_Deployments<
    pb::Dispatch::WithRawCallbackMethod_ReportStatus<pb::Dispatch::Service>>;

class DispatchService final : public DispatchBase {
 public:
  explicit DispatchService(Shared& shared) : shared_(shared) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Deployments(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) override {
    pb::GetDeploymentOpts opts;
    if (auto read = WithText(ReadRequest(*request, shared_.options.max_message_size, opts));
        !read.ok()) {
      shared_.Started("server_stream", "pb.Dispatch", "Deployments");
      LogFailure("pb.Dispatch/Deployments", context->peer(), "", read);
      shared_.Handled("server_stream", "pb.Dispatch", "Deployments", read,
                      std::chrono::steady_clock::now());
      return new RefusedWriteReactor(read);
    }
    auto stream = std::make_shared<DispatchStream>(shared_, context, opts);
    stream->Begin();
    return stream.get();
  }

  grpc::ServerUnaryReactor* ReportStatus(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* reply) override {
    auto* reactor = context->DefaultReactor();
    const auto started = std::chrono::steady_clock::now();
    shared_.Started("unary", "pb.Dispatch", "ReportStatus");
    auto identity = AuthenticateDeployd(CopyMetadata(context), shared_.options.deployd_keys,
                                        shared_.options.deployd_authentication);
    if (!identity.status.ok()) {
      LogFailure("pb.Dispatch/ReportStatus", context->peer(), "", identity.status);
      shared_.Handled("unary", "pb.Dispatch", "ReportStatus", identity.status, started);
      reactor->Finish(WithText(identity.status));
      return reactor;
    }
    shared_.workers.Post(
        [this, context, request, reply, reactor, started, identity = std::move(identity)] {
          pb::DeploymentStatus status;
          auto result = ReadRequest(*request, shared_.options.max_message_size, status);
          if (result.ok()) result = Handle(status, identity);
          result = WithText(result);
          if (result.ok()) {
            WriteMessage(pb::ReportStatusOpts(), *reply);
            shared_.Sent("unary", "pb.Dispatch", "ReportStatus");
          } else {
            LogFailure("pb.Dispatch/ReportStatus", context->peer(),
                       status.request().id().empty()
                           ? ""
                           : "deployment " + common::Quote(status.request().id()),
                       result);
          }
          shared_.Handled("unary", "pb.Dispatch", "ReportStatus", result, started);
          reactor->Finish(result);
        });
    return reactor;
  }

 private:
  grpc::Status Handle(const pb::DeploymentStatus& status, const DeploydIdentity& identity) {
    try {
      if (!identity.any_cluster) {
        // A key bound to clusters reports only on deployments of those clusters.
        auto deployment = shared_.deployments.Deployment(status.request().id());
        const std::string cluster = deployment ? deployment->cluster.value_or("") : "";
        if (deployment && !identity.MayServe(cluster)) {
          spdlog::warn(
              "refused a status for deployment {} of cluster {} from a deployd key of "
              "another cluster",
              status.request().id(), cluster);
          return {grpc::StatusCode::PERMISSION_DENIED,
                  "deployment '" + status.request().id() + "' belongs to cluster \"" + cluster +
                      "\", which this deployd key is not valid for"};
        }
      }
      auto time = shared_.dispatcher.Clock().Now();
      if (status.has_time() && (status.time().seconds() != 0 || status.time().nanos() != 0)) {
        time = common::FromTimestamp(status.time());
      }
      shared_.dispatcher.HandleStatus(status.request().id(), status.state(), status.message(),
                                      time);
      return grpc::Status::OK;
    } catch (const common::Error& e) {
      return common::ToGrpcStatus(e);
    } catch (...) {
      return common::CurrentExceptionToGrpcStatus();
    }
  }

  Shared& shared_;
};

// Methods hookd does not serve: gRPC's default answer is UNIMPLEMENTED with no message.
class UnknownMethods final : public grpc::CallbackGenericService {
 public:
  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override {
    class Refusal final : public grpc::ServerGenericBidiReactor {
     public:
      explicit Refusal(const grpc::Status& status) { Finish(status); }
      void OnDone() override { delete this; }
    };
    const grpc::Status status(
        grpc::StatusCode::UNIMPLEMENTED,
        "hookd does not implement " + context->method() +
            " (it serves /pb.Deploy/Deploy, /pb.Deploy/Status, /pb.Deploy/Cancel, "
            "/pb.Dispatch/Deployments, "
            "/pb.Dispatch/ReportStatus and /grpc.health.v1.Health)");
    std::string_view call = context->method();
    if (!call.empty() && call.front() == '/') call.remove_prefix(1);
    LogFailure(call, context->peer(), "", status);
    return new Refusal(status);
  }
};

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw common::Error(common::ErrorCode::kInvalidArgument, "cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

struct GrpcServer::Impl {
  Impl(dispatch::Dispatcher& d, GrpcStores s, WorkerPool& w, GrpcOptions o)
      : shared(d, s, w, std::move(o)), deploy(shared), dispatch(shared) {}
  Shared shared;
  DeployService deploy;
  DispatchService dispatch;
  UnknownMethods unknown;
  std::unique_ptr<grpc::Server> server;
};

GrpcServer::GrpcServer(dispatch::Dispatcher& dispatcher, GrpcStores stores, WorkerPool& workers,
                       GrpcOptions options)
    : impl_(std::make_unique<Impl>(dispatcher, stores, workers, std::move(options))) {}

GrpcServer::~GrpcServer() {
  if (impl_->server) Shutdown(std::chrono::milliseconds(0));
}

int GrpcServer::Start() {
  const auto& options = impl_->shared.options;
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back(
        {ReadWholeFile(options.tls_key_file), ReadWholeFile(options.tls_cert_file)});
    credentials = grpc::SslServerCredentials(ssl);
  }
  int port = 0;
  builder.AddListeningPort(options.address, credentials, &port);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             static_cast<int>(options.keepalive_interval.count()));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Requests up to twice the limit are read and refused with hookd's own message (naming the
  // limit and the setting); beyond that gRPC cuts them off itself ("Received message larger than
  // max"), which the CLI explains.
  builder.SetMaxReceiveMessageSize(common::GrpcChannelLimit(2 * options.max_message_size));
  builder.RegisterService(&impl_->deploy);
  builder.RegisterService(&impl_->dispatch);
  builder.RegisterCallbackGenericService(&impl_->unknown);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port == 0) {
    impl_->server.reset();
    throw common::Error(common::ErrorCode::kUnavailable,
                        "unable to listen for gRPC on " + options.address);
  }
  spdlog::info("gRPC server listening on {} (port {})", options.address, port);
  return port;
}

void GrpcServer::Shutdown(std::chrono::milliseconds grace) {
  if (!impl_->server) return;
  auto* health = impl_->server->GetHealthCheckService();
  if (health != nullptr) health->Shutdown();
  impl_->shared.dispatcher.Clusters().ShutdownAll();
  impl_->shared.dispatcher.Hub().ShutdownAll();
  impl_->server->Shutdown(std::chrono::system_clock::now() + grace);
  impl_->server->Wait();
  impl_->server.reset();
}

}  // namespace hookd::grpcapi
