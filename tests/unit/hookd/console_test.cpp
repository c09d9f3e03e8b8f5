// The console's pure parts: resource states derived from deployd's statuses, durations, the
// Content-Security-Policy and the event stream paths.
#include "hookd/http/console.hpp"

#include <gtest/gtest.h>

namespace {

using hookd::http::Console;
using hookd::http::DeriveResourceStates;
using hookd::http::FormatDuration;
using hookd::store::ResourceRow;
using hookd::store::StatusRow;

ResourceRow Resource(int index, const std::string& group, const std::string& kind,
                     const std::string& name, const std::string& ns = "aura") {
  ResourceRow r;
  r.index = index;
  r.group = group;
  r.version = "v1";
  r.kind = kind;
  r.name = name;
  r.ns = ns;
  return r;
}

// Statuses oldest first in, newest first out (as Store::Statuses returns them).
std::vector<StatusRow> Newest(const std::vector<std::pair<pb::DeploymentState, std::string>>& in) {
  std::vector<StatusRow> out;
  for (const auto& [state, message] : in) {
    StatusRow s;
    s.state = state;
    s.state_name = pb::DeploymentState_Name(state);
    s.message = message;
    out.insert(out.begin(), s);
  }
  return out;
}

std::map<std::string, std::pair<std::string, std::string>> ByName(
    const std::vector<hookd::http::ResourceState>& states) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  for (const auto& s : states) out[s.resource.name] = {s.state, s.reason};
  return out;
}

TEST(ConsoleResources, AppliedWaitingReadyAndFailedFromDeploydMessages) {
  const std::vector<ResourceRow> resources = {
      Resource(0, "", "ConfigMap", "settings"), Resource(1, "apps", "Deployment", "web"),
      Resource(2, "batch", "Job", "migrate"), Resource(3, "apps", "StatefulSet", "db")};
  auto statuses = Newest({
      {pb::queued, "deployd for cluster 'dev' is connected"},
      {pb::in_progress, "Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=settings"},
      {pb::in_progress, "Successfully applied apps/v1, Kind=Deployment, Namespace=aura, Name=web"},
      {pb::in_progress, "Successfully applied batch/v1, Kind=Job, Namespace=aura, Name=migrate"},
      {pb::in_progress, "All resources saved to Kubernetes; waiting for completion"},
      {pb::in_progress, "Deployment/web: 1 of 3 updated replicas are available"},
      {pb::in_progress, "Job/migrate: job \"migrate\" completed"},
  });
  auto states = ByName(DeriveResourceStates(resources, statuses, "in_progress"));
  EXPECT_EQ(states["settings"], std::make_pair(std::string("applied"), std::string()));
  EXPECT_EQ(states["web"], std::make_pair(std::string("waiting"),
                                          std::string("1 of 3 updated replicas are available")));
  EXPECT_EQ(states["migrate"],
            std::make_pair(std::string("ready"), std::string("job \"migrate\" completed")));
  EXPECT_EQ(states["db"].first, "pending");

  // The rollout of `web` fails: the final status names it first.
  auto failed = Newest({
      {pb::in_progress, "Successfully applied apps/v1, Kind=Deployment, Namespace=aura, Name=web"},
      {pb::failure,
       "Deployment/web: deployment \"web\" exceeded its progress deadline (total of 1 errors)"},
  });
  auto after = ByName(DeriveResourceStates(resources, failed, "failure"));
  EXPECT_EQ(after["web"], std::make_pair(std::string("failed"),
                                         std::string("deployment \"web\" exceeded its progress "
                                                     "deadline")));
  EXPECT_EQ(after["settings"].first, "pending");
}

TEST(ConsoleResources, ApplyErrorsAndSuccess) {
  const std::vector<ResourceRow> resources = {Resource(0, "", "ConfigMap", "a"),
                                              Resource(1, "", "Secret", "b")};
  auto apply_error =
      Newest({{pb::in_progress, "Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=a"},
              {pb::failure,
               "/v1, Kind=Secret, Namespace=aura, Name=b: secrets \"b\" is forbidden: nope "
               "(total of 1 errors)"}});
  auto states = ByName(DeriveResourceStates(resources, apply_error, "failure"));
  EXPECT_EQ(states["a"].first, "applied");
  EXPECT_EQ(states["b"],
            std::make_pair(std::string("failed"), std::string("secrets \"b\" is forbidden: nope")));

  auto success =
      Newest({{pb::in_progress, "Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=a"},
              {pb::success, "Deployment completed successfully."}});
  auto done = ByName(DeriveResourceStates(resources, success, "success"));
  EXPECT_EQ(done["a"].first, "ready");
  EXPECT_EQ(done["b"].first, "ready");

  // Another namespace's resource of the same kind and name is not this one.
  auto other = Newest(
      {{pb::in_progress, "Successfully applied /v1, Kind=ConfigMap, Namespace=other, Name=a"}});
  EXPECT_EQ(ByName(DeriveResourceStates(resources, other, "in_progress"))["a"].first, "pending");
}

TEST(ConsoleFormat, Durations) {
  using std::chrono::milliseconds;
  EXPECT_EQ(FormatDuration(milliseconds(-5)), "0ms");
  EXPECT_EQ(FormatDuration(milliseconds(850)), "850ms");
  EXPECT_EQ(FormatDuration(milliseconds(12'400)), "12s");
  EXPECT_EQ(FormatDuration(milliseconds(185'000)), "3m 05s");
  EXPECT_EQ(FormatDuration(milliseconds(7'380'000)), "2h 03m");
  EXPECT_EQ(FormatDuration(milliseconds(352'800'000)), "4d 02h");
}

TEST(ConsoleFormat, PolicyAllowsOnlyHashedInlineAssets) {
  const std::string& csp = hookd::http::ConsoleContentSecurityPolicy();
  EXPECT_EQ(csp.rfind("default-src 'none'; script-src 'sha256-", 0), 0U) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  EXPECT_NE(csp.find("; style-src 'sha256-"), std::string::npos);
  EXPECT_NE(csp.find("; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; "
                     "frame-ancestors 'none'"),
            std::string::npos);
}

TEST(ConsoleFormat, EventStreamPaths) {
  EXPECT_EQ(Console::EventsPath("/deployments/abc/events"), "abc");
  EXPECT_EQ(Console::EventsPath("/deployments//events"), std::nullopt);
  EXPECT_EQ(Console::EventsPath("/deployments/a/b/events"), std::nullopt);
  EXPECT_EQ(Console::EventsPath("/deployments/abc"), std::nullopt);
}

}  // namespace
