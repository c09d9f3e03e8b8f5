#pragma once
// The tests' one deployd stand-in for hookd: a pb.Dispatch client holding the Deployments stream
// open in a thread, reporting statuses when told (hookd's unit and integration tests).
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "common/pb_json.hpp"
#include "deployment.grpc.pb.h"

namespace testsupport {

class FakeDeployd {
 public:
  // Returns once hookd registered the stream (it sends headers then) or ended it. `metadata` is
  // sent on the stream, e.g. {"max-message-size", "65536"} as our deployd announces its limit.
  FakeDeployd(const std::shared_ptr<grpc::Channel>& channel, std::string cluster, std::string key,
              std::chrono::system_clock::time_point startup = std::chrono::system_clock::now(),
              const std::multimap<std::string, std::string>& metadata = {})
      : stub_(pb::Dispatch::NewStub(channel)), cluster_(std::move(cluster)), key_(std::move(key)) {
    if (!key_.empty()) context_.AddMetadata("authorization", key_);
    for (const auto& [name, value] : metadata) context_.AddMetadata(name, value);
    pb::GetDeploymentOpts opts;
    opts.set_cluster(cluster_);
    *opts.mutable_startuptime() = common::ToTimestamp(startup);
    reader_ = stub_->Deployments(&context_, opts);
    reader_->WaitForInitialMetadata();
    thread_ = std::thread([this] {
      pb::DeploymentRequest request;
      while (reader_->Read(&request)) {
        std::lock_guard lock(mutex_);
        received_.push_back(request);
        changed_.notify_all();
      }
      auto status = reader_->Finish();
      std::lock_guard lock(mutex_);
      final_ = status;
      changed_.notify_all();
    });
  }
  ~FakeDeployd() {
    context_.TryCancel();
    thread_.join();
  }

  // Next received request, or nullopt after `timeout` / when the stream ended.
  std::optional<pb::DeploymentRequest> Next(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return !received_.empty() || final_.has_value(); });
    if (received_.empty()) return std::nullopt;
    auto out = received_.front();
    received_.pop_front();
    return out;
  }
  // Final status of the stream (waits up to `timeout`).
  std::optional<grpc::Status> Ended(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    changed_.wait_for(lock, timeout, [this] { return final_.has_value(); });
    return final_;
  }

  grpc::Status Report(const std::string& id, pb::DeploymentState state, const std::string& message,
                      const std::string& key_override = "\x01") {
    grpc::ClientContext context;
    const std::string& key = key_override == "\x01" ? key_ : key_override;
    if (!key.empty()) context.AddMetadata("authorization", key);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    pb::DeploymentStatus status;
    status.mutable_request()->set_id(id);
    status.set_state(state);
    status.set_message(message);
    *status.mutable_time() = common::ToTimestamp(std::chrono::system_clock::now());
    pb::ReportStatusOpts reply;
    return stub_->ReportStatus(&context, status, &reply);
  }

 private:
  std::unique_ptr<pb::Dispatch::Stub> stub_;
  std::string cluster_;
  std::string key_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReader<pb::DeploymentRequest>> reader_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<pb::DeploymentRequest> received_;
  std::optional<grpc::Status> final_;
};

}  // namespace testsupport
