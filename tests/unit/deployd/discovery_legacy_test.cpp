// Discovery against an API server without aggregated discovery (kube-api.md 1.4): a tiny local
// HTTP server answers /api and /apis with the legacy documents (plain application/json, whatever
// the Accept header asks for) and serves one APIResourceList per group-version.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "deployd/kube/apply.hpp"
#include "deployd/kube/discovery.hpp"
#include "deployd/kube/kube_client.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = common::net;
using tcp = net::ip::tcp;

// GET <path> -> JSON document; anything else is the plain-text 404 of an unknown path.
const std::map<std::string, std::string>& LegacyDocuments() {
  static const std::map<std::string, std::string> docs = {
      {"/api", R"({"kind":"APIVersions","versions":["v1"]})"},
      {"/apis", R"({"kind":"APIGroupList","apiVersion":"v1","groups":[{"name":"apps",
          "versions":[{"groupVersion":"apps/v1","version":"v1"}],
          "preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}]})"},
      {"/api/v1", R"({"kind":"APIResourceList","groupVersion":"v1","resources":[
          {"name":"configmaps","namespaced":true,"kind":"ConfigMap","verbs":["get","patch"]},
          {"name":"namespaces","namespaced":false,"kind":"Namespace","verbs":["get","patch"]},
          {"name":"namespaces/status","namespaced":false,"kind":"Namespace","verbs":["get"]}]})"},
      {"/apis/apps/v1", R"({"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1",
          "resources":[{"name":"deployments","namespaced":true,"kind":"Deployment","verbs":["get"]},
          {"name":"deployments/status","namespaced":true,"kind":"Deployment","verbs":["get"]}]})"},
  };
  return docs;
}

class LegacyApiServer {
 public:
  LegacyApiServer() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~LegacyApiServer() {
    stopping_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    tcp::socket s(ioc_);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
    for (auto& t : sessions_) t.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // "<path> <Impersonate-User>" of every request, in order.
  std::vector<std::string> Requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) return;
      sessions_.emplace_back([this, s = std::move(socket)]() mutable { Session(std::move(s)); });
    }
  }

  void Session(tcp::socket socket) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(socket, buffer, req, ec);
      if (ec) return;
      std::string target(req.target());
      {
        std::lock_guard lock(mutex_);
        requests_.push_back(target + " " + std::string(req["Impersonate-User"]));
      }
      http::response<http::string_body> res{http::status::ok, 11};
      auto it = LegacyDocuments().find(target);
      if (it == LegacyDocuments().end()) {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "404 page not found\n";
      } else {
        res.set(http::field::content_type, "application/json");
        res.body() = it->second;
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(socket, res, ec);
      if (ec) return;
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  int port_ = acceptor_.local_endpoint().port();
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::thread> sessions_;
  std::mutex mutex_;
  std::vector<std::string> requests_;
};

constexpr const char* kUser = "system:serviceaccount:aura:serviceuser-aura";

class LegacyDiscovery : public ::testing::Test {
 protected:
  deployd::kube::KubeClient MakeClient() {
    deployd::kube::KubeConfig config;
    config.server = server_.Url();
    config.token = "token";
    return deployd::kube::KubeClient(config);
  }
  LegacyApiServer server_;
};

TEST_F(LegacyDiscovery, FallsBackToTheGroupVersionDocumentsAndCachesThem) {
  auto client = MakeClient();
  deployd::kube::Discovery discovery(client);

  auto deployment = discovery.Resolve("apps/v1", "Deployment", kUser);
  EXPECT_EQ(deployment.group, "apps");
  EXPECT_EQ(deployment.version, "v1");
  EXPECT_EQ(deployment.plural, "deployments");
  EXPECT_TRUE(deployment.namespaced);
  auto ns = discovery.Resolve("v1", "Namespace", kUser);
  EXPECT_EQ(ns.plural, "namespaces");
  EXPECT_FALSE(ns.namespaced);
  EXPECT_EQ(deployd::kube::ObjectPath(deployment, "aura", "web"),
            "/apis/apps/v1/namespaces/aura/deployments/web");

  // Asked once whether /api is aggregated, then only the group-versions needed, each once; every
  // request impersonates the team.
  auto again = discovery.Resolve("apps/v1", "Deployment", kUser);
  EXPECT_EQ(again.plural, "deployments");
  EXPECT_EQ(discovery.Resolve("v1", "ConfigMap", kUser).plural, "configmaps");
  EXPECT_EQ(server_.Requests(), std::vector<std::string>({
                                    std::string("/api ") + kUser,
                                    std::string("/apis/apps/v1 ") + kUser,
                                    std::string("/api/v1 ") + kUser,
                                }));
}

TEST_F(LegacyDiscovery, UnknownKindAndUnservedGroupVersionAreClearErrors) {
  auto client = MakeClient();
  deployd::kube::Discovery discovery(client);
  try {
    discovery.Resolve("apps/v1", "Rollout", kUser);
    FAIL() << "expected an error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kNotFound);
    EXPECT_STREQ(e.what(), "no matches for kind \"Rollout\" in version \"apps/v1\"");
  }
  try {
    discovery.Resolve("nais.io/v1alpha1", "Application", kUser);
    FAIL() << "expected an error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kNotFound);
    EXPECT_STREQ(e.what(), "no matches for kind \"Application\" in version \"nais.io/v1alpha1\"");
  }
  // The unserved group-version answered the plain 404 once (one refresh per miss).
  auto requests = server_.Requests();
  EXPECT_EQ(std::count(requests.begin(), requests.end(),
                       std::string("/apis/nais.io/v1alpha1 ") + kUser),
            1);
}

}  // namespace
