#include "deployd/agent/metrics.hpp"

#include <memory>
#include <thread>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "common/state.hpp"

namespace deployd::agent {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = common::net;
using tcp = net::ip::tcp;

std::string EscapeLabel(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

void Metrics::StatusReported(pb::DeploymentState state) {
  if (common::IsErrorState(state) && state != pb::DeploymentState::inactive) {
    ++failed_;
  } else {
    ++successful_;
  }
}

void Metrics::ResourceApplied(const std::string& team, const std::string& kind,
                              const std::string& name) {
  std::lock_guard lock(mutex_);
  ++resources_[{team, kind, name}];
}

void Metrics::DeploymentStarted() { ++running_; }
void Metrics::DeploymentFinished() { --running_; }

std::string Metrics::Render() const {
  std::string out;
  auto counter = [&out](const char* name, const char* help, long long value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} counter\n{0} {2}\n", name, help, value);
  };
  counter("deployment_deployd_deploy_successful", "Number of successfully reported statuses",
          successful_.load());
  counter("deployment_deployd_deploy_failed", "Number of failed statuses", failed_.load());
  counter("deployment_deployd_deploy_ignored", "Number of ignored statuses", ignored_.load());
  out +=
      "# HELP deployment_deployd_kubernetes_resources Kubernetes resources applied\n"
      "# TYPE deployment_deployd_kubernetes_resources counter\n";
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, value] : resources_) {
      out += fmt::format(
          "deployment_deployd_kubernetes_resources{{kind=\"{}\",name=\"{}\",team=\"{}\"}} {}\n",
          EscapeLabel(std::get<1>(key)), EscapeLabel(std::get<2>(key)),
          EscapeLabel(std::get<0>(key)), value);
    }
  }
  out += fmt::format(
      "# HELP deployment_deployd_deployments_running Deployments being processed\n"
      "# TYPE deployment_deployd_deployments_running gauge\ndeployment_deployd_deployments_running "
      "{}\n",
      running_.load());
  return out;
}

struct MetricsServer::Impl {
  net::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::string path;
  const Metrics& metrics;
  std::function<bool()> healthy;
  std::thread thread;

  Impl(std::string p, const Metrics& m, std::function<bool()> h)
      : path(std::move(p)), metrics(m), healthy(std::move(h)) {}

  void Accept() {
    acceptor.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
      if (ec) return;
      Serve(std::move(socket));
      Accept();
    });
  }

  // One request per connection, with a timeout, all on the server's single thread.
  struct Session : std::enable_shared_from_this<Session> {
    Session(Impl& server, tcp::socket socket) : impl(server), stream(std::move(socket)) {}
    Impl& impl;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::response<http::string_body> res;

    void Start() {
      stream.expires_after(std::chrono::seconds(10));
      http::async_read(
          stream, buffer, req,
          [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
            if (!ec) self->Respond();
          });
    }
    void Respond() {
      res = impl.Answer(req);
      stream.expires_after(std::chrono::seconds(10));
      http::async_write(stream, res,
                        [self = shared_from_this()](const boost::system::error_code&, std::size_t) {
                          boost::system::error_code ignored;
                          self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        });
    }
  };

  void Serve(tcp::socket socket) { std::make_shared<Session>(*this, std::move(socket))->Start(); }

  http::response<http::string_body> Answer(const http::request<http::string_body>& req) {
    http::response<http::string_body> res;
    res.version(req.version());
    res.keep_alive(false);
    std::string target(req.target());
    auto q = target.find('?');
    if (q != std::string::npos) target.resize(q);
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      res.result(http::status::method_not_allowed);
    } else if (target == path) {
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      res.body() = metrics.Render();
    } else if (target == "/healthz") {
      // Liveness: the process serves. Losing hookd is readiness, not a reason for a restart.
      res.result(http::status::ok);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "ok\n";
    } else if (target == "/readyz") {
      bool ok = !healthy || healthy();
      res.result(ok ? http::status::ok : http::status::service_unavailable);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = ok ? "ok\n" : "not connected to hookd\n";
    } else {
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      res.body() = "404 page not found\n";
    }
    res.prepare_payload();
    return res;
  }
};

MetricsServer::MetricsServer(const std::string& address, std::string metrics_path,
                             const Metrics& metrics, std::function<bool()> healthy)
    : impl_(std::make_unique<Impl>(std::move(metrics_path), metrics, std::move(healthy))) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        fmt::format("invalid listen address \"{}\"", address));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(host, address.substr(colon + 1), ec);
  if (ec || results.empty()) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        fmt::format("invalid listen address \"{}\": {}", address, ec.message()));
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(net::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint, ec);
  if (ec) {
    throw common::Error(common::ErrorCode::kUnavailable,
                        fmt::format("listen on {}: {}", address, ec.message()));
  }
  impl_->acceptor.listen();
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

MetricsServer::~MetricsServer() { Stop(); }

int MetricsServer::Port() const { return impl_->acceptor.local_endpoint().port(); }

void MetricsServer::Stop() {
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace deployd::agent
