// Pure parts of dispatch: resource parsing and the in-memory hubs.
#include <gtest/gtest.h>

#include "common/error.hpp"
#include "common/pb_json.hpp"
#include "hookd/dispatch/dispatcher.hpp"
#include "hookd/dispatch/hub.hpp"

namespace {

pb::DeploymentRequest WithResources(const std::vector<nlohmann::json>& resources) {
  pb::DeploymentRequest request;
  for (const auto& r : resources)
    *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(r);
  return request;
}

TEST(ParseResources, ExtractsIdentifiers) {
  auto rows = hookd::dispatch::ParseResources(WithResources({
      {{"apiVersion", "apps/v1"},
       {"kind", "Deployment"},
       {"metadata", {{"name", "app"}, {"namespace", "aura"}}}},
      {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "aura"}}}},
  }));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].index, 0);
  EXPECT_EQ(rows[0].group, "apps");
  EXPECT_EQ(rows[0].version, "v1");
  EXPECT_EQ(rows[0].kind, "Deployment");
  EXPECT_EQ(rows[0].name, "app");
  EXPECT_EQ(rows[0].ns, "aura");
  EXPECT_EQ(rows[1].index, 1);
  EXPECT_EQ(rows[1].group, "");
  EXPECT_EQ(rows[1].ns, "");
}

TEST(ParseResources, MissingKindNamesTheResource) {
  try {
    hookd::dispatch::ParseResources(
        WithResources({{{"kind", "ConfigMap"}}, nlohmann::json::object()}));
    FAIL() << "expected an error";
  } catch (const common::Error& e) {
    EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(),
                 "invalid Kubernetes resources in request: resource 2: decoding payload: Object "
                 "'Kind' is missing in '{}'");
  }
}

class RecordingSubscriber : public hookd::dispatch::StatusSubscriber {
 public:
  void OnStatus(const hookd::dispatch::StatusEventPtr& event) override {
    seen.push_back(event->status_id);
  }
  void OnShutdown() override { shutdown = true; }
  std::vector<std::string> seen;
  bool shutdown = false;
};

hookd::dispatch::StatusEventPtr Event(const std::string& deployment, const std::string& id) {
  auto event = std::make_shared<hookd::dispatch::StatusEvent>();
  event->status_id = id;
  event->status.mutable_request()->set_id(deployment);
  return event;
}

TEST(StatusHub, DeliversOnlyToSubscribersOfThatDeployment) {
  hookd::dispatch::StatusHub hub;
  auto a = std::make_shared<RecordingSubscriber>();
  auto b = std::make_shared<RecordingSubscriber>();
  hub.Subscribe("d1", a);
  hub.Subscribe("d2", b);
  hub.Publish(Event("d1", "s1"));
  hub.Publish(Event("d2", "s2"));
  EXPECT_EQ(a->seen, std::vector<std::string>{"s1"});
  EXPECT_EQ(b->seen, std::vector<std::string>{"s2"});
  hub.Unsubscribe("d1", a.get());
  hub.Publish(Event("d1", "s3"));
  EXPECT_EQ(a->seen.size(), 1u);
  EXPECT_EQ(hub.SubscriberCount(), 1u);
  hub.ShutdownAll();
  EXPECT_TRUE(b->shutdown);
}

class FakeConnection : public hookd::dispatch::ClusterConnection {
 public:
  void Wake() override { ++wakes; }
  void Replace() override { replaced = true; }
  void OnShutdown() override {}
  int wakes = 0;
  bool replaced = false;
};

TEST(ClusterRegistry, NewerConnectionReplacesOlder) {
  hookd::dispatch::ClusterRegistry registry;
  auto first = std::make_shared<FakeConnection>();
  auto second = std::make_shared<FakeConnection>();
  EXPECT_FALSE(registry.Wake("dev"));
  registry.Register("dev", first);
  EXPECT_TRUE(registry.Wake("dev"));
  EXPECT_EQ(first->wakes, 1);
  registry.Register("dev", second);
  EXPECT_TRUE(first->replaced);
  registry.Unregister("dev", first.get());  // the old stream ending must not remove the new one
  EXPECT_TRUE(registry.IsConnected("dev"));
  registry.Wake("dev");
  EXPECT_EQ(second->wakes, 1);
  registry.Unregister("dev", second.get());
  EXPECT_FALSE(registry.IsConnected("dev"));
  EXPECT_TRUE(registry.Connected().empty());
}

TEST(ClusterRegistry, RegistrationOnAnotherReplicaReplacesOnlyOlderConnections) {
  using std::chrono::system_clock;
  hookd::dispatch::ClusterRegistry registry;
  auto local = std::make_shared<FakeConnection>();
  const auto t = system_clock::time_point(std::chrono::seconds(1'800'000'000));
  registry.Register("dev", local, t);
  // A late notification of an older registration elsewhere leaves the newer local one alone.
  EXPECT_FALSE(registry.ReplaceOlderThan("dev", t - std::chrono::seconds(1)));
  EXPECT_FALSE(local->replaced);
  EXPECT_FALSE(registry.ReplaceOlderThan("prod", t + std::chrono::seconds(1)));
  EXPECT_TRUE(registry.ReplaceOlderThan("dev", t + std::chrono::seconds(1)));
  EXPECT_TRUE(local->replaced);
  EXPECT_FALSE(registry.IsConnected("dev"));
}

}  // namespace
