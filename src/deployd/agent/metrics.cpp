#include "deployd/agent/metrics.hpp"

#include <memory>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>
#include <prometheus/text_serializer.h>
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

prometheus::Counter& PlainCounter(prometheus::Registry& registry, const char* name,
                                  const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry).Add({});
}

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      successful_(PlainCounter(*registry_, "deployment_deployd_deploy_successful",
                               "Number of successfully reported statuses")),
      failed_(PlainCounter(*registry_, "deployment_deployd_deploy_failed",
                           "Number of failed statuses")),
      ignored_(PlainCounter(*registry_, "deployment_deployd_deploy_ignored",
                            "Number of ignored statuses")),
      resources_(prometheus::BuildCounter()
                     .Name("deployment_deployd_kubernetes_resources")
                     .Help("Kubernetes resources applied")
                     .Register(*registry_)),
      running_(prometheus::BuildGauge()
                   .Name("deployment_deployd_deployments_running")
                   .Help("Deployments being processed")
                   .Register(*registry_)
                   .Add({})) {}

void Metrics::StatusReported(pb::DeploymentState state) {
  if (common::IsErrorState(state) && state != pb::DeploymentState::inactive) {
    failed_.Increment();
  } else {
    successful_.Increment();
  }
}

void Metrics::ResourceApplied(const std::string& team, const std::string& kind,
                              const std::string& name) {
  resources_.Add({{"kind", kind}, {"name", name}, {"team", team}}).Increment();
}

void Metrics::DeploymentStarted() { running_.Increment(); }
void Metrics::DeploymentFinished() { running_.Decrement(); }

std::string Metrics::Render() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

struct MetricsServer::Impl : std::enable_shared_from_this<MetricsServer::Impl> {
  net::strand<net::any_io_executor> strand;
  tcp::acceptor acceptor{strand};
  std::string path;
  const Metrics& metrics;
  std::function<bool()> healthy;

  Impl(net::any_io_executor executor, std::string p, const Metrics& m, std::function<bool()> h)
      : strand(net::make_strand(std::move(executor))),
        path(std::move(p)),
        metrics(m),
        healthy(std::move(h)) {}

  void Accept() {
    acceptor.async_accept(
        net::make_strand(strand.get_inner_executor()),
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          if (ec) return;  // closed by Stop (or out of descriptors)
          self->Serve(std::move(socket));
          self->Accept();
        });
  }

  // One request per connection, with a timeout, each on a strand of its own.
  struct Session : std::enable_shared_from_this<Session> {
    Session(std::shared_ptr<Impl> server, tcp::socket socket)
        : impl(std::move(server)), stream(std::move(socket)) {}
    std::shared_ptr<Impl> impl;
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
      res = impl->Answer(req);
      stream.expires_after(std::chrono::seconds(10));
      http::async_write(stream, res,
                        [self = shared_from_this()](const boost::system::error_code&, std::size_t) {
                          boost::system::error_code ignored;
                          self->stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
                        });
    }
  };

  void Serve(tcp::socket socket) {
    std::make_shared<Session>(shared_from_this(), std::move(socket))->Start();
  }
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

MetricsServer::MetricsServer(net::any_io_executor executor, const std::string& address,
                             std::string metrics_path, const Metrics& metrics,
                             std::function<bool()> healthy)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(metrics_path), metrics,
                                   std::move(healthy))) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        fmt::format("invalid listen address \"{}\"", address));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->strand);
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
  port_ = impl_->acceptor.local_endpoint().port();
  // Started on the strand: from here on only the strand touches the acceptor.
  net::dispatch(impl_->strand, [impl = impl_] { impl->Accept(); });
}

MetricsServer::~MetricsServer() { Stop(); }

int MetricsServer::Port() const { return port_; }

void MetricsServer::Stop() {
  net::dispatch(impl_->strand, [impl = impl_] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
  });
}

}  // namespace deployd::agent
