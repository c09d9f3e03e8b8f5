// Prometheus exposition of hookd's metrics.
#include "hookd/metrics.hpp"

#include <gtest/gtest.h>

namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(Metrics, StateTransitionsQueueSizeAndLeadTimeInSeconds) {
  hookd::Metrics m;
  m.ObserveState("d1", "queued", "navikt/app", "aura", "dev", 0);
  m.ObserveState("d2", "queued", "navikt/app", "aura", "dev", 0);
  m.ObserveState("d1", "in_progress", "navikt/app", "aura", "dev", 1);
  EXPECT_EQ(m.QueueSize(), 2u);
  m.ObserveState("d1", "success", "navikt/app", "aura", "dev", 2.5);
  EXPECT_EQ(m.QueueSize(), 1u);
  const auto text = m.Render({"dev"}, {"dev", "prod"});
  const std::string labels =
      "cluster=\"dev\",deployment_state=\"queued\",repository=\"navikt/app\",team=\"aura\"";
  EXPECT_TRUE(Has(text, "# TYPE deployment_hookd_state_transition counter")) << text;
  EXPECT_TRUE(Has(text, "deployment_hookd_state_transition{" + labels + "} 2")) << text;
  EXPECT_TRUE(Has(text, "# TYPE deployment_hookd_queue_size gauge")) << text;
  EXPECT_TRUE(Has(text, "deployment_hookd_queue_size 1")) << text;
  EXPECT_TRUE(Has(text, "deployment_hookd_cluster_status{cluster=\"dev\"} 1")) << text;
  EXPECT_TRUE(Has(text, "deployment_hookd_cluster_status{cluster=\"prod\"} 0")) << text;
  const std::string success =
      "cluster=\"dev\",deployment_state=\"success\",repository=\"navikt/app\",team=\"aura\"";
  EXPECT_TRUE(Has(text, "# TYPE deployment_hookd_lead_time_seconds summary")) << text;
  EXPECT_TRUE(Has(text, "deployment_hookd_lead_time_seconds_sum{" + success + "} 2.5")) << text;
  EXPECT_TRUE(Has(text, "deployment_hookd_lead_time_seconds_count{" + success + "} 1")) << text;
}

TEST(Metrics, AuthDatabaseAndGrpcCounters) {
  hookd::Metrics m;
  m.ObserveAuth("api_key", "");
  m.ObserveAuth("jwt", "repo_not_authorized");
  m.ObserveDatabaseQuery(true, 0.012);
  m.ObserveDatabaseQuery(false, 0.2);
  m.GrpcStarted("unary", "pb.Deploy", "Deploy");
  m.GrpcReceived("unary", "pb.Deploy", "Deploy");
  m.GrpcHandled("unary", "pb.Deploy", "Deploy", 16, 0.02);
  m.GrpcSent("server_stream", "pb.Dispatch", "Deployments");
  const auto text = m.Render({}, {});
  EXPECT_TRUE(
      Has(text, "deployment_hookd_auth_interceptor_requests{error=\"\",type=\"api_key\"} 1"));
  EXPECT_TRUE(Has(text,
                  "deployment_hookd_auth_interceptor_requests{error=\"repo_not_authorized\","
                  "type=\"jwt\"} 1"));
  EXPECT_TRUE(Has(text, "deployment_hookd_database_queries_bucket{status=\"ok\",le=\"0.015\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "deployment_hookd_database_queries_bucket{status=\"ok\",le=\"0.01\"} 0"));
  EXPECT_TRUE(Has(text, "deployment_hookd_database_queries_bucket{status=\"error\",le=\"0.1\"} 0"));
  EXPECT_TRUE(Has(text, "deployment_hookd_database_queries_count{status=\"error\"} 1"));
  const std::string deploy =
      "grpc_method=\"Deploy\",grpc_service=\"pb.Deploy\",grpc_type=\"unary\"";
  EXPECT_TRUE(Has(text, "grpc_server_started_total{" + deploy + "} 1")) << text;
  EXPECT_TRUE(Has(text, "grpc_server_msg_received_total{" + deploy + "} 1"));
  EXPECT_TRUE(
      Has(text, "grpc_server_handled_total{grpc_code=\"Unauthenticated\"," + deploy + "} 1"));
  EXPECT_TRUE(Has(text, "grpc_server_handling_seconds_count{" + deploy + "} 1"));
  // Initialised for every method.
  EXPECT_TRUE(Has(text,
                  "grpc_server_started_total{grpc_method=\"ReportStatus\","
                  "grpc_service=\"pb.Dispatch\",grpc_type=\"unary\"} 0"));
  EXPECT_TRUE(Has(text,
                  "grpc_server_msg_sent_total{grpc_method=\"Deployments\","
                  "grpc_service=\"pb.Dispatch\",grpc_type=\"server_stream\"} 1"));
}

TEST(Metrics, LabelValuesAreEscaped) {
  hookd::Metrics m;
  m.ObserveRequest("GET", "/a\"b\\c\nd", 404, 0.001);
  EXPECT_TRUE(Has(m.Render({}, {}),
                  "requests_total{code=\"404\",method=\"GET\",path=\"/a\\\"b\\\\c\\nd\","
                  "service=\"hookd\"} 1"));
}

}  // namespace
