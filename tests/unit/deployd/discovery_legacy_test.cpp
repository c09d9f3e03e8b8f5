// Discovery against an API server without aggregated discovery: a tiny local
// HTTP server answers /api and /apis with the legacy documents (plain application/json, whatever
// the Accept header asks for) and serves one APIResourceList per group-version.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/asio.hpp"
#include "common/error.hpp"
#include "deployd/kube/apply.hpp"
#include "deployd/kube/async_kube_client.hpp"
#include "deployd/kube/discovery.hpp"
#include "support/loopback_http_server.hpp"

namespace {

namespace http = boost::beast::http;

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

// Serves LegacyDocuments() and records "<path> <Impersonate-User>" of every request, in order.
class LegacyApiServer {
 public:
  std::string Url() const { return server_.Url(); }
  std::vector<std::string> Requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  bool Handle(testsupport::LoopbackHttpServer::Socket& socket,
              const testsupport::LoopbackHttpServer::Request& req) {
    std::string target(req.target());
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(target + " " + std::string(req["Impersonate-User"]));
    }
    auto it = LegacyDocuments().find(target);
    if (it == LegacyDocuments().end()) {
      return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::not_found,
                                                    "text/plain; charset=utf-8",
                                                    "404 page not found\n");
    }
    return testsupport::LoopbackHttpServer::Reply(socket, req, http::status::ok, "application/json",
                                                  it->second);
  }

  std::mutex mutex_;
  std::vector<std::string> requests_;
  testsupport::LoopbackHttpServer server_{
      [this](auto& socket, const auto& req) { return Handle(socket, req); }};
};

constexpr const char* kUser = "system:serviceaccount:aura:serviceuser-aura";

class LegacyDiscovery : public ::testing::Test {
 protected:
  // Resolves on the test's io_context, as the engine does on its own.
  deployd::kube::ApiResource Resolve(const std::string& api_version, const std::string& kind) {
    auto result = common::net::co_spawn(ioc_, discovery_.Resolve(api_version, kind, kUser),
                                        common::net::use_future);
    ioc_.restart();
    while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) ioc_.run_one();
    return result.get();
  }
  deployd::kube::KubeConfig Config() const {
    deployd::kube::KubeConfig config;
    config.server = server_.Url();
    config.token = "token";
    return config;
  }
  LegacyApiServer server_;
  common::net::io_context ioc_;
  deployd::kube::AsyncKubeClient client_{ioc_.get_executor(), Config()};
  deployd::kube::AsyncDiscovery discovery_{client_};
};

TEST_F(LegacyDiscovery, FallsBackToTheGroupVersionDocumentsAndCachesThem) {
  auto deployment = Resolve("apps/v1", "Deployment");
  EXPECT_EQ(deployment.group, "apps");
  EXPECT_EQ(deployment.version, "v1");
  EXPECT_EQ(deployment.plural, "deployments");
  EXPECT_TRUE(deployment.namespaced);
  auto ns = Resolve("v1", "Namespace");
  EXPECT_EQ(ns.plural, "namespaces");
  EXPECT_FALSE(ns.namespaced);
  EXPECT_EQ(deployd::kube::ObjectPath(deployment, "aura", "web"),
            "/apis/apps/v1/namespaces/aura/deployments/web");

  // Asked once whether /api is aggregated, then only the group-versions needed, each once; every
  // request impersonates the team.
  auto again = Resolve("apps/v1", "Deployment");
  EXPECT_EQ(again.plural, "deployments");
  EXPECT_EQ(Resolve("v1", "ConfigMap").plural, "configmaps");
  EXPECT_EQ(server_.Requests(), std::vector<std::string>({
                                    std::string("/api ") + kUser,
                                    std::string("/apis/apps/v1 ") + kUser,
                                    std::string("/api/v1 ") + kUser,
                                }));
}

TEST_F(LegacyDiscovery, UnknownKindAndUnservedGroupVersionAreClearErrors) {
  try {
    Resolve("apps/v1", "Rollout");
    FAIL() << "expected an error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kNotFound);
    EXPECT_STREQ(e.what(), "no matches for kind \"Rollout\" in version \"apps/v1\"");
  }
  try {
    Resolve("nais.io/v1alpha1", "Application");
    FAIL() << "expected an error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kNotFound);
    EXPECT_STREQ(e.what(), "no matches for kind \"Application\" in version \"nais.io/v1alpha1\"");
  }
  // The unserved group-version answered the plain 404 once (one refresh per miss).
  auto requests = server_.Requests();
  EXPECT_EQ(
      std::count(requests.begin(), requests.end(), std::string("/apis/nais.io/v1alpha1 ") + kUser),
      1);
}

}  // namespace
