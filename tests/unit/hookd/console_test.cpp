// The console without a database: resource states derived from deployd's statuses, durations,
// the Content-Security-Policy, the event stream paths, and its pages against in-memory stores
// (tests/support/fake_stores.hpp). The same pages against Postgres: tests/integration/hookd.
#include "hookd/http/console.hpp"

#include <stdexcept>

#include <gtest/gtest.h>

#include "hookd/dispatch/hub.hpp"
#include "support/fake_clock.hpp"
#include "support/fake_stores.hpp"

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

// ---- pages, against in-memory stores

class ConsolePages : public ::testing::Test {
 protected:
  // A deployment of `team` created `minutes` after the clock's start.
  void Add(const std::string& id, const std::string& team, int minutes,
           const std::string& state = "success", const std::string& repository = "navikt/app") {
    hookd::store::DeploymentRow row;
    row.id = id;
    row.team = team;
    row.created = clock_.now + std::chrono::minutes(minutes);
    row.cluster = "dev";
    row.github_repository = repository;
    row.state = state;
    store_.AddDeployment(row, {Resource(0, "apps", "Deployment", "app")});
  }

  hookd::http::Response Get(const std::string& path,
                            std::map<std::string, std::string> query = {}) {
    hookd::http::Request r;
    r.method = "GET";
    r.path = path;
    r.query = std::move(query);
    auto response = console_.Handle(r);
    EXPECT_TRUE(response.has_value()) << path;
    return response.value_or(hookd::http::Response{});
  }

  // The deployment IDs a list page links to, in order.
  static std::vector<std::string> Listed(const std::string& html) {
    std::vector<std::string> ids;
    const std::string marker = "<code>";
    for (auto pos = html.find(marker); pos != std::string::npos; pos = html.find(marker, pos)) {
      pos += marker.size();
      ids.push_back(html.substr(pos, html.find('<', pos) - pos));
    }
    return ids;
  }

  static constexpr const char* kFirst = "11111111-1111-4111-8111-111111111111";
  static constexpr const char* kSecond = "22222222-2222-4222-8222-222222222222";
  static constexpr const char* kThird = "33333333-3333-4333-8333-333333333333";

  hookd::Config config_;
  testsupport::FakeClock clock_;
  testsupport::FakeDeploymentStore store_;
  hookd::dispatch::StatusHub hub_;
  std::vector<std::string> clusters_{"dev", "prod"};
  bool clusters_fail_ = false;
  Console console_{config_, hookd::http::ConsoleBackends{store_, store_, clock_,
                                                         [this] {
                                                           if (clusters_fail_) {
                                                             throw std::runtime_error("down");
                                                           }
                                                           return clusters_;
                                                         },
                                                         hub_}};
};

TEST_F(ConsolePages, ListIsNewestFirstFilteredAndPagedByItsCursor) {
  Add(kFirst, "aura", 1);
  Add(kSecond, "other", 2);
  Add(kThird, "aura", 3, "in_progress");
  const auto all = Get("/deployments");
  EXPECT_EQ(all.status, 200);
  EXPECT_EQ(Listed(all.body), (std::vector<std::string>{kThird, kSecond, kFirst}));
  EXPECT_NE(all.body.find("<option value=\"prod\">"), std::string::npos);

  EXPECT_EQ(Listed(Get("/deployments", {{"team", "aura"}}).body),
            (std::vector<std::string>{kThird, kFirst}));
  EXPECT_EQ(Listed(Get("/", {{"state", "in_progress"}}).body), (std::vector<std::string>{kThird}));

  // One a page: the "Older" link's cursor leads to the next one, and the last page has none.
  std::vector<std::string> visited;
  std::map<std::string, std::string> query{{"limit", "1"}};
  for (int page = 0; page < 4; ++page) {
    const auto listed = Get("/deployments", query);
    ASSERT_EQ(listed.status, 200);
    for (const auto& id : Listed(listed.body)) visited.push_back(id);
    const auto older = listed.body.find("before=");
    if (older == std::string::npos) break;
    const auto end = listed.body.find_first_of("&\"", older);
    std::string cursor = listed.body.substr(older + 7, end - older - 7);
    query["before"] = cursor;
  }
  EXPECT_EQ(visited, (std::vector<std::string>{kThird, kSecond, kFirst}));
}

TEST_F(ConsolePages, ListRejectsBadFiltersWithTheirMessages) {
  const auto state = Get("/deployments", {{"state", "done"}});
  EXPECT_EQ(state.status, 400);
  EXPECT_EQ(state.body,
            "unknown state \"done\": want queued, pending, in_progress, success, failure, error "
            "or inactive\n");
  const auto limit = Get("/deployments", {{"limit", "201"}});
  EXPECT_EQ(limit.status, 400);
  EXPECT_EQ(limit.body, "invalid limit \"201\": want a number from 1 to 200\n");
  const auto cursor = Get("/deployments", {{"before", "12x.abc"}});
  EXPECT_EQ(cursor.status, 400);
  EXPECT_EQ(cursor.body, "invalid cursor \"12x.abc\": want <microseconds>.<deployment ID>\n");
}

TEST_F(ConsolePages, AStoreFailureIsA503AndLostClusterSuggestionsAreNot) {
  Add(kFirst, "aura", 1);
  clusters_fail_ = true;
  const auto list = Get("/deployments");
  EXPECT_EQ(list.status, 200);
  EXPECT_EQ(Listed(list.body), (std::vector<std::string>{kFirst}));

  store_.failure = std::make_exception_ptr(std::runtime_error("connection refused"));
  for (const std::string& path :
       std::vector<std::string>{"/deployments", std::string("/deployments/") + kFirst}) {
    const auto failed = Get(path);
    EXPECT_EQ(failed.status, 503) << path;
    EXPECT_EQ(failed.body, "database is unavailable; try again later\n") << path;
  }
}

TEST_F(ConsolePages, DeploymentPageLinksACommitOnlyWhenItIsOne) {
  Add(kFirst, "aura", 1);
  Add(kSecond, "aura", 2);
  const std::string sha = "0123456789abcdef0123456789abcdef01234567";
  store_.SetCommit(kFirst, "navikt", "app", sha);
  store_.SetCommit(kSecond, "navikt", "app", "main");
  const auto page = Get(std::string("/deployments/") + kFirst);
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("href=\"https://github.com/navikt/app/commit/" + sha + "\""),
            std::string::npos);
  const auto branch = Get(std::string("/deployments/") + kSecond);
  EXPECT_EQ(branch.status, 200);
  EXPECT_EQ(branch.body.find("/commit/"), std::string::npos);

  const std::string unknown = "44444444-4444-4444-8444-444444444444";
  const auto missing = Get("/deployments/" + unknown);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "deployment '" + unknown + "' not found\n");
}

}  // namespace
