#pragma once
// The tests' and benchmarks' one fake hookd as deployd sees it: serves pb.Dispatch on
// 127.0.0.1, hands out the requests it is given on the Deployments stream, and records every
// status deployd reports (with the time it arrived). It can also misbehave on purpose: end
// streams as hookd does when the cluster's deployd connects again, or refuse reports.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "deployment.grpc.pb.h"

namespace testsupport {

class FakeHookd final : public pb::Dispatch::Service {
 public:
  using Clock = std::chrono::steady_clock;
  // A reported status and when it arrived.
  struct Report {
    Clock::time_point at;
    pb::DeploymentStatus status;
  };

  explicit FakeHookd(int port = 0, std::shared_ptr<grpc::ServerCredentials> credentials =
                                       grpc::InsecureServerCredentials());
  ~FakeHookd() override;
  FakeHookd(const FakeHookd&) = delete;
  FakeHookd& operator=(const FakeHookd&) = delete;

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }

  grpc::Status Deployments(grpc::ServerContext* context, const pb::GetDeploymentOpts* opts,
                           grpc::ServerWriter<pb::DeploymentRequest>* writer) override;
  grpc::Status ReportStatus(grpc::ServerContext* context, const pb::DeploymentStatus* status,
                            pb::ReportStatusOpts* reply) override;

  // Queues requests for the Deployments stream (written in order, as fast as deployd reads).
  void Send(pb::DeploymentRequest request);
  void Send(std::vector<pb::DeploymentRequest> requests);

  bool WaitConnected(std::chrono::milliseconds timeout, int connects = 1);
  // Ends the Deployments streams 1..`connection` with hookd's ABORTED "replaced by a newer
  // connection" and waits until they have ended.
  bool ReplaceStreamsUpTo(int connection, std::chrono::milliseconds timeout);
  // The peer (address:port of deployd's channel) of the n-th Deployments stream (from 1).
  std::string StreamPeer(int connection);
  // ReportStatus calls that came from `peer` (accepted or not).
  int ReportsFrom(const std::string& peer);

  // Every accepted status of `id` so far.
  std::vector<pb::DeploymentStatus> StatusesOf(const std::string& id);
  // Every accepted report of `id` so far, with arrival times.
  std::vector<Report> ReportsOf(const std::string& id);
  // Statuses of one deployment until the first finished one (or timeout).
  std::vector<pb::DeploymentStatus> WaitFinished(const std::string& id,
                                                 std::chrono::milliseconds timeout);
  // True once every one of `ids` has a finished status.
  bool WaitAllFinished(const std::vector<std::string>& ids, std::chrono::milliseconds timeout);
  // Waits until a status of `id` whose message contains `text` has arrived.
  bool WaitForMessage(const std::string& id, const std::string& text,
                      std::chrono::milliseconds timeout);

  // The next `n` reports are refused with UNAVAILABLE "database is down".
  void RejectNextReports(int n);
  // Reports with exactly this message are refused with FAILED_PRECONDITION.
  void RejectMessage(std::string message);
  int ReportCalls();
  // What the last Deployments call sent: its authorization metadata ("<none>" without), its
  // cluster and startup time.
  std::string Authorization();
  std::string Cluster();
  common::SystemTime StartupTime();
  // The metadata value `key` of the last Deployments call ("" without).
  std::string StreamMetadata(const std::string& key);

 private:
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  int connects_ = 0;
  int replaced_up_to_ = 0;    // streams 1..n end with ABORTED "replaced by ..."
  int streams_replaced_ = 0;  // ... and have ended
  std::map<int, std::string> stream_peers_;
  std::vector<std::string> status_peers_;
  int report_calls_ = 0;
  int reject_unavailable_ = 0;
  std::string reject_message_;
  std::multimap<std::string, std::string> stream_metadata_;
  std::string cluster_;
  common::SystemTime startup_time_;
  std::deque<pb::DeploymentRequest> pending_;
  std::vector<Report> reports_;
};

// A request of the team aura for the cluster "local", made now, that ends `deadline` from now.
pb::DeploymentRequest AuraRequest(const std::string& id,
                                  const std::vector<nlohmann::json>& resources,
                                  std::chrono::seconds deadline);

}  // namespace testsupport
