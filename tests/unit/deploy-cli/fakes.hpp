#pragma once
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include <unistd.h>

#include "common/time.hpp"
#include "deploy-cli/run.hpp"
#include "deploy-cli/transport/grpc_transport.hpp"
#include "deploy-cli/transport/transport.hpp"
#include "support/fake_clock.hpp"

namespace deploy_cli::testing {

// Options that pass Validate: one resource, a cluster and a hex API key.
inline Options ValidOptions() {
  Options o;
  o.resources = {"x.yaml"};
  o.cluster = "dev-fss";
  o.apikey = "1234567812345678";
  return o;
}

inline std::string TestData(const std::string& name) {
  return std::string(DEPLOY_CLI_TESTDATA) + "/" + name;
}

// A file with the given content in /tmp, removed at the end of the test.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& content, const std::string& suffix = ".yaml") {
    char name[] = "/tmp/deploy-cli-test-XXXXXX";
    const int fd = mkstemp(name);
    if (fd >= 0) close(fd);
    std::remove(name);
    path_ = std::string(name) + suffix;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::string& Path() const { return path_; }
  // What the file holds now ("" when it is gone).
  std::string Content() const {
    std::ifstream in(path_, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  std::string path_;
};

// The tests' fake clock, started where the CLI's expected outputs were written: 1'700'000'000 s.
class FakeClock : public testsupport::FakeClock {
 public:
  FakeClock() : testsupport::FakeClock(common::SystemTime(std::chrono::seconds(1'700'000'000))) {}
};

class FakeSleeper final : public Sleeper {
 public:
  explicit FakeSleeper(FakeClock& clock) : clock_(clock) {}
  void Sleep(std::chrono::nanoseconds d) override {
    sleeps.push_back(d);
    clock_.Advance(d);
  }
  std::vector<std::chrono::nanoseconds> sleeps;

 private:
  FakeClock& clock_;
};

inline pb::DeploymentStatus MakeStatus(pb::DeploymentState state, const std::string& message,
                                       const std::string& id = "id-1",
                                       const std::string& cluster = "dev-fss") {
  pb::DeploymentStatus status;
  status.set_state(state);
  status.set_message(message);
  status.mutable_request()->set_id(id);
  status.mutable_request()->set_cluster(cluster);
  return status;
}

inline RpcStatus Err(grpc::StatusCode code, const std::string& message = "oops") {
  return RpcStatus{code, message};
}

// Scripted hookd: each Deploy pops one result, each OpenStatus pops one stream (or error).
class FakeTransport final : public Transport {
 public:
  using Item = std::variant<RpcStatus, pb::DeploymentStatus>;
  using Stream = std::variant<RpcStatus, std::deque<Item>>;

  std::deque<Item> deploys;
  std::deque<Stream> streams;
  std::vector<pb::DeploymentRequest> deploy_requests;
  std::vector<pb::DeploymentRequest> status_requests;
  std::optional<TransportConfig> config;

  RpcStatus Deploy(const pb::DeploymentRequest& request, common::SystemTime,
                   pb::DeploymentStatus& response) override {
    deploy_requests.push_back(request);
    if (deploys.empty()) return Err(grpc::StatusCode::UNKNOWN, "fake: no Deploy result left");
    Item item = deploys.front();
    deploys.pop_front();
    if (auto* status = std::get_if<RpcStatus>(&item)) return *status;
    response = std::get<pb::DeploymentStatus>(item);
    return {};
  }

  RpcStatus OpenStatus(const pb::DeploymentRequest& request, common::SystemTime,
                       std::unique_ptr<StatusStream>& stream) override {
    status_requests.push_back(request);
    if (streams.empty()) return Err(grpc::StatusCode::UNKNOWN, "fake: no stream left");
    Stream next = streams.front();
    streams.pop_front();
    if (auto* error = std::get_if<RpcStatus>(&next)) return *error;
    stream = std::make_unique<ScriptedStream>(std::get<std::deque<Item>>(std::move(next)));
    return {};
  }

 private:
  class ScriptedStream final : public StatusStream {
   public:
    explicit ScriptedStream(std::deque<Item> items) : items_(std::move(items)) {}
    RpcStatus Recv(pb::DeploymentStatus& status) override {
      if (items_.empty()) return Err(grpc::StatusCode::UNKNOWN, "fake: stream exhausted");
      Item item = items_.front();
      items_.pop_front();
      if (auto* error = std::get_if<RpcStatus>(&item)) return *error;
      status = std::get<pb::DeploymentStatus>(item);
      return {};
    }

   private:
    std::deque<Item> items_;
  };
};

// Forwards to a FakeTransport owned by the test.
class TransportRef final : public Transport {
 public:
  explicit TransportRef(FakeTransport& fake) : fake_(fake) {}
  RpcStatus Deploy(const pb::DeploymentRequest& r, common::SystemTime d,
                   pb::DeploymentStatus& s) override {
    return fake_.Deploy(r, d, s);
  }
  RpcStatus OpenStatus(const pb::DeploymentRequest& r, common::SystemTime d,
                       std::unique_ptr<StatusStream>& s) override {
    return fake_.OpenStatus(r, d, s);
  }

 private:
  FakeTransport& fake_;
};

// Ports for a CLI run through the real transports (MakeTransport), with no environment variables.
inline Ports RealTransportPorts(const common::Clock& clock, Sleeper& sleeper, std::ostream& out,
                                std::ostream& err) {
  return Ports{clock,
               sleeper,
               [](const std::string&) -> std::optional<std::string> { return std::nullopt; },
               &MakeTransport,
               out,
               err};
}

// A CLI run with fakes for every port.
struct Harness {
  FakeClock clock;
  FakeSleeper sleeper{clock};
  std::map<std::string, std::string> env;
  FakeTransport transport;
  std::ostringstream out;
  std::ostringstream err;
  bool terminal = false;

  Ports MakePorts() {
    return Ports{
        clock,
        sleeper,
        [this](const std::string& name) -> std::optional<std::string> {
          auto it = env.find(name);
          if (it == env.end()) return std::nullopt;
          return it->second;
        },
        [this](const TransportConfig& config) -> std::unique_ptr<Transport> {
          transport.config = config;
          return std::make_unique<TransportRef>(transport);
        },
        out,
        err,
        terminal,
    };
  }

  int Run(const std::vector<std::string>& args) {
    const Ports ports = MakePorts();
    return RunCommandLine(args, ports);
  }

  // Base command line of the original's tests.
  static std::vector<std::string> Base(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--resource", TestData("nais.yaml"), "--cluster", "dev-fss", "--repository", "myrepo",
        "--apikey",   "1234567812345678",    "--owner",   "navikt"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string LastErrLine() const {
    std::string text = err.str();
    if (!text.empty() && text.back() == '\n') text.pop_back();
    const auto nl = text.rfind('\n');
    return nl == std::string::npos ? text : text.substr(nl + 1);
  }
};

}  // namespace deploy_cli::testing
