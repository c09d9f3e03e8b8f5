#include "support/fake_hookd.hpp"

#include <algorithm>

#include "common/pb_json.hpp"
#include "common/state.hpp"

namespace testsupport {

using namespace std::chrono_literals;

FakeHookd::FakeHookd(int port, std::shared_ptr<grpc::ServerCredentials> credentials) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), std::move(credentials), &port_);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
}

FakeHookd::~FakeHookd() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    cv_.notify_all();
  }
  server_->Shutdown(std::chrono::system_clock::now() + 2s);
}

grpc::Status FakeHookd::Deployments(grpc::ServerContext* context, const pb::GetDeploymentOpts* opts,
                                    grpc::ServerWriter<pb::DeploymentRequest>* writer) {
  std::unique_lock lock(mutex_);
  stream_metadata_.clear();
  for (const auto& [key, value] : context->client_metadata()) {
    stream_metadata_.emplace(std::string(key.data(), key.size()),
                             std::string(value.data(), value.size()));
  }
  cluster_ = opts->cluster();
  startup_time_ = common::FromTimestamp(opts->startuptime());
  const int connection = ++connects_;
  stream_peers_[connection] = context->peer();
  cv_.notify_all();
  while (!stopping_ && !context->IsCancelled()) {
    if (connection <= replaced_up_to_) {
      // As hookd when the same cluster's deployd connected again.
      ++streams_replaced_;
      cv_.notify_all();
      return {grpc::StatusCode::ABORTED,
              "replaced by a newer connection for cluster '" + opts->cluster() + "'"};
    }
    if (pending_.empty()) {
      cv_.wait_for(lock, 50ms);  // wakes for Send, and to notice a cancelled call
      continue;
    }
    std::vector<pb::DeploymentRequest> batch(pending_.begin(), pending_.end());
    pending_.clear();
    lock.unlock();
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (!writer->Write(batch[i])) {
        lock.lock();
        // The stream broke: batch[i] is lost (as with hookd, whose queue re-sends it only when
        // told to); the rest go back to the front of the queue, in order, for the next stream.
        pending_.insert(pending_.begin(), batch.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                        batch.end());
        return grpc::Status::OK;
      }
    }
    lock.lock();
  }
  return grpc::Status::OK;
}

grpc::Status FakeHookd::ReportStatus(grpc::ServerContext* context,
                                     const pb::DeploymentStatus* status, pb::ReportStatusOpts*) {
  std::lock_guard lock(mutex_);
  status_peers_.push_back(context->peer());
  ++report_calls_;
  if (reject_unavailable_ > 0) {
    --reject_unavailable_;
    return {grpc::StatusCode::UNAVAILABLE, "database is down"};
  }
  if (status->message() == reject_message_) {
    return {grpc::StatusCode::FAILED_PRECONDITION, "violates foreign key constraint"};
  }
  reports_.push_back({Clock::now(), *status});
  cv_.notify_all();
  return grpc::Status::OK;
}

void FakeHookd::Send(pb::DeploymentRequest request) {
  std::lock_guard lock(mutex_);
  pending_.push_back(std::move(request));
  cv_.notify_all();
}

void FakeHookd::Send(std::vector<pb::DeploymentRequest> requests) {
  std::lock_guard lock(mutex_);
  for (auto& r : requests) pending_.push_back(std::move(r));
  cv_.notify_all();
}

bool FakeHookd::WaitConnected(std::chrono::milliseconds timeout, int connects) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [this, connects] { return connects_ >= connects; });
}

bool FakeHookd::ReplaceStreamsUpTo(int connection, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  const int want = streams_replaced_ + (connection - replaced_up_to_);
  replaced_up_to_ = connection;
  return cv_.wait_for(lock, timeout, [this, want] { return streams_replaced_ >= want; });
}

std::string FakeHookd::StreamPeer(int connection) {
  std::lock_guard lock(mutex_);
  return stream_peers_[connection];
}

int FakeHookd::ReportsFrom(const std::string& peer) {
  std::lock_guard lock(mutex_);
  return static_cast<int>(std::count(status_peers_.begin(), status_peers_.end(), peer));
}

std::vector<pb::DeploymentStatus> FakeHookd::StatusesOf(const std::string& id) {
  std::vector<pb::DeploymentStatus> out;
  for (auto& r : ReportsOf(id)) out.push_back(std::move(r.status));
  return out;
}

std::vector<FakeHookd::Report> FakeHookd::ReportsOf(const std::string& id) {
  std::lock_guard lock(mutex_);
  std::vector<Report> out;
  for (const auto& r : reports_) {
    if (r.status.request().id() == id) out.push_back(r);
  }
  return out;
}

std::vector<pb::DeploymentStatus> FakeHookd::WaitFinished(const std::string& id,
                                                          std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  std::vector<pb::DeploymentStatus> out;
  cv_.wait_for(lock, timeout, [&] {
    out.clear();
    for (const auto& r : reports_) {
      if (r.status.request().id() != id) continue;
      out.push_back(r.status);
      if (common::IsFinished(r.status.state())) return true;
    }
    return false;
  });
  return out;
}

bool FakeHookd::WaitAllFinished(const std::vector<std::string>& ids,
                                std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] {
    std::map<std::string, bool> finished;
    for (const auto& r : reports_) {
      if (common::IsFinished(r.status.state())) finished[r.status.request().id()] = true;
    }
    return std::all_of(ids.begin(), ids.end(),
                       [&](const std::string& id) { return finished.count(id) > 0; });
  });
}

bool FakeHookd::WaitForMessage(const std::string& id, const std::string& text,
                               std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] {
    return std::any_of(reports_.begin(), reports_.end(), [&](const Report& r) {
      return r.status.request().id() == id && r.status.message().find(text) != std::string::npos;
    });
  });
}

void FakeHookd::RejectNextReports(int n) {
  std::lock_guard lock(mutex_);
  reject_unavailable_ = n;
}

void FakeHookd::RejectMessage(std::string message) {
  std::lock_guard lock(mutex_);
  reject_message_ = std::move(message);
}

int FakeHookd::ReportCalls() {
  std::lock_guard lock(mutex_);
  return report_calls_;
}

std::string FakeHookd::Authorization() {
  std::lock_guard lock(mutex_);
  auto it = stream_metadata_.find("authorization");
  return it == stream_metadata_.end() ? "<none>" : it->second;
}

std::string FakeHookd::Cluster() {
  std::lock_guard lock(mutex_);
  return cluster_;
}

common::SystemTime FakeHookd::StartupTime() {
  std::lock_guard lock(mutex_);
  return startup_time_;
}

std::string FakeHookd::StreamMetadata(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = stream_metadata_.find(key);
  return it == stream_metadata_.end() ? "" : it->second;
}

pb::DeploymentRequest AuraRequest(const std::string& id,
                                  const std::vector<nlohmann::json>& resources,
                                  std::chrono::seconds deadline) {
  pb::DeploymentRequest r;
  r.set_id(id);
  r.set_team("aura");
  r.set_cluster("local");
  const auto now = std::chrono::system_clock::now();
  *r.mutable_time() = common::ToTimestamp(now);
  *r.mutable_deadline() = common::ToTimestamp(now + deadline);
  for (const auto& object : resources) {
    *r.mutable_kubernetes()->add_resources() = common::JsonToStruct(object);
  }
  return r;
}

}  // namespace testsupport
