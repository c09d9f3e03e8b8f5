#include "deploy-cli/manifest/prepare.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "common/pb_json.hpp"
#include "deploy-cli/exit_code.hpp"
#include "fakes.hpp"

namespace deploy_cli {
namespace {

using nlohmann::json;
using testing::TestData;

struct PrepareFixture : ::testing::Test {
  deploy_cli::testing::FakeClock clock;
  std::ostringstream log_out;
  Logger log{log_out, clock};
  std::map<std::string, std::string> env_values;
  EnvLookup env = [this](const std::string& name) -> std::optional<std::string> {
    auto it = env_values.find(name);
    if (it == env_values.end()) return std::nullopt;
    return it->second;
  };
  Options options;

  PrepareFixture() {
    options.cluster = "dev-fss";
    options.apikey = "1234567812345678";
    options.owner = "navikt";
    options.repository = "myrepo";
  }

  pb::DeploymentRequest Prepare() {
    return deploy_cli::Prepare(options, env, log, clock.Now(),
                               clock.Now() + std::chrono::minutes(10));
  }

  ExitCode PrepareFails(std::string* message) {
    try {
      Prepare();
    } catch (const CliError& e) {
      *message = e.what();
      return e.Code();
    }
    ADD_FAILURE() << "Prepare did not fail";
    return ExitCode::kSuccess;
  }
};

TEST_F(PrepareFixture, PrepareJsonDetectsTeamFromLabelAndEnvironmentIsCluster) {
  options.resources = {TestData("alert.json")};
  const auto request = Prepare();
  EXPECT_EQ(request.team(), "aura");
  EXPECT_EQ(request.githubenvironment(), "dev-fss");
  EXPECT_EQ(request.cluster(), "dev-fss");
  EXPECT_NE(log_out.str().find("Detected team \\\"aura\\\" in \\\"" + TestData("alert.json")),
            std::string::npos)
      << log_out.str();
  // Without variables the file is not templated: Prometheus {{ }} survive.
  const json resource = common::StructToJson(request.kubernetes().resources(0));
  EXPECT_EQ(resource["spec"]["alerts"][0]["action"], "Describe {{ $labels.kubernetes_pod_name }}");
}

TEST_F(PrepareFixture, PrepareYamlDetectsTeamAndNamespaceEnvironment) {
  options.resources = {TestData("nais.yaml")};
  const auto request = Prepare();
  EXPECT_EQ(request.team(), "aura");
  EXPECT_EQ(request.githubenvironment(), "dev-fss:nais");
  EXPECT_EQ(request.repository().owner(), "navikt");
  EXPECT_EQ(request.repository().name(), "myrepo");
  EXPECT_EQ(common::FromTimestamp(request.deadline()), clock.Now() + std::chrono::minutes(10));
  EXPECT_EQ(common::FromTimestamp(request.time()), clock.Now());
  EXPECT_EQ(request.id(), "");
}

TEST_F(PrepareFixture, ExplicitTeamAndEnvironmentWin) {
  options.resources = {TestData("nais.yaml")};
  options.team = "other";
  options.environment = "custom";
  const auto request = Prepare();
  EXPECT_EQ(request.team(), "other");
  EXPECT_EQ(request.githubenvironment(), "custom");
}

TEST_F(PrepareFixture, TeamFromNamespaceWhenNoLabel) {
  options.resources = {TestData("configmap.yaml")};
  EXPECT_EQ(Prepare().team(), "aura");
}

TEST_F(PrepareFixture, NoTeamDetectedIsInvocationFailure) {
  options.resources = {TestData("templated.yaml")};
  options.vars = {"one=1"};
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kInvocationFailure);
  EXPECT_EQ(message, "no team specified, and unable to auto-detect from nais.yaml");
}

TEST_F(PrepareFixture, TemplateVariableFromCommandLineAndFile) {
  options.team = "foo";
  options.resources = {TestData("templated.yaml")};
  options.vars_file = TestData("vars.yaml");
  options.vars = {"one=ONE", "two=TWO"};
  const auto request = Prepare();
  const json resource = common::StructToJson(request.kubernetes().resources(0));
  EXPECT_EQ(resource["one"], "ONE");
  EXPECT_EQ(resource["two"], "TWO");
  EXPECT_EQ(resource["three"], "THREE");
  EXPECT_EQ(resource["four"], "FOUR");
}

TEST_F(PrepareFixture, CommandLineVariableOverridesFileWithWarningAndBareKeyIsTrue) {
  options.vars_file = TestData("vars.yaml");
  options.vars = {"three=3", "flag"};
  const json vars = LoadTemplateVariables(options, log);
  EXPECT_EQ(vars["three"], "3");
  EXPECT_EQ(vars["flag"], true);
  EXPECT_NE(log_out.str().find("Overwriting template variable 'three'; previous value was 'THREE'"),
            std::string::npos)
      << log_out.str();
}

TEST_F(PrepareFixture, MissingVarsFileIsInvocationFailure) {
  options.resources = {TestData("nais.yaml")};
  options.vars_file = "/nonexistent/vars.yaml";
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kInvocationFailure);
  EXPECT_EQ(message,
            "load template variables: /nonexistent/vars.yaml: open file: open "
            "/nonexistent/vars.yaml: no such file or directory");
}

TEST_F(PrepareFixture, MissingResourceFileIsTemplateError) {
  options.resources = {"/nonexistent/app.yaml"};
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kTemplateError);
  EXPECT_EQ(message,
            "/nonexistent/app.yaml: open file: open /nonexistent/app.yaml: no such file or "
            "directory");
}

TEST_F(PrepareFixture, YamlSyntaxErrorIsTemplateErrorNamingTheFile) {
  options.resources = {TestData("bad.yaml")};
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kTemplateError);
  EXPECT_EQ(message.rfind(TestData("bad.yaml") + ": ", 0), 0u) << message;
  EXPECT_NE(message.find("line"), std::string::npos) << message;
}

TEST_F(PrepareFixture, YamlErrorLogsTheLinesAroundIt) {
  options.resources = {TestData("bad.yaml")};
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kTemplateError);
  EXPECT_NE(log_out.str().find("msg=\"    2 |   name: x\""), std::string::npos) << log_out.str();
}

TEST(ErrorContextTest, MarksTheLine) {
  const auto lines = ErrorContext("a\nbb\nccc\nd\ne\nf\n", 3);
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "    1 | a");
  EXPECT_EQ(lines[2], "    3 | ccc");
  EXPECT_EQ(lines[3], "      | ^^^ <--- error near this line");
  EXPECT_EQ(lines[5], "    5 | e");
}

TEST_F(PrepareFixture, TemplateParseErrorIsTemplateError) {
  options.resources = {TestData("bad-template.yaml")};
  options.vars = {"x=1"};
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kTemplateError);
  EXPECT_EQ(message.rfind(TestData("bad-template.yaml") + ": parse template file: Parse error on line 2", 0), 0u)
      << message;
}

TEST_F(PrepareFixture, StrictVarsReportsMissingVariable) {
  options.resources = {TestData("templated.yaml")};
  options.team = "foo";
  options.vars = {"one=1"};
  options.strict_vars = true;
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kTemplateError);
  EXPECT_EQ(message, TestData("templated.yaml") +
                         ": execute template: line 4: missing variable \"two\"");
}

TEST_F(PrepareFixture, MultiDocumentParsing) {
  const auto docs = LoadResourceFile(TestData("multi_document.yaml"), json::object(), false);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].dump(), R"({"document":1})");
  EXPECT_EQ(docs[1].dump(), R"({"document":2})");
}

TEST_F(PrepareFixture, MultiDocumentTemplating) {
  const json vars = {{"ingresses", {"https://foo", "https://bar"}}};
  const auto docs = LoadResourceFile(TestData("templating.yaml"), vars, false);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].dump(), R"({"ingresses":["https://foo","https://bar"]})");
  EXPECT_EQ(docs[1].dump(), R"({"ungresses":["https://foo","https://bar"]})");
}

TEST_F(PrepareFixture, InjectAnnotations) {
  env_values = {{"GITHUB_SHA", "shasum"},
                {"GITHUB_SERVER_URL", "http://localhost:1234"},
                {"GITHUB_REPOSITORY", "foo/bar"},
                {"GITHUB_RUN_ID", "4567"}};
  auto annotations = EnvironmentAnnotations(env);
  annotations["foo"] = "bar";
  annotations["yes"] = "no";
  const auto docs = LoadResourceFile(TestData("nais.yaml"), json::object(), false);
  const json out = InjectAnnotations(docs.at(0), annotations);
  const json expected = {
      {"some-annotation", "yes"},
      {"foo", "bar"},
      {"yes", "no"},
      {"deploy.nais.io/client-version", Version()},
      {"deploy.nais.io/github-sha", "shasum"},
      {"deploy.nais.io/github-workflow-run-url", "http://localhost:1234/foo/bar/actions/runs/4567"},
      {"kubernetes.io/change-cause",
       "nais deploy: commit shasum: http://localhost:1234/foo/bar/actions/runs/4567"}};
  EXPECT_EQ(out["metadata"]["annotations"], expected);
  EXPECT_TRUE(out["metadata"].contains("creationTimestamp"));
  EXPECT_TRUE(out["metadata"]["creationTimestamp"].is_null());
  EXPECT_EQ(out["metadata"]["labels"]["team"], "aura");
}

TEST_F(PrepareFixture, InjectionDropsUnknownMetadataKeys) {
  const json resource = {{"kind", "X"}, {"metadata", {{"name", "n"}, {"bogus", 1}, {"namespace", ""}}}};
  const json out = InjectAnnotations(resource, {{"a", "b"}});
  EXPECT_EQ(out["metadata"], (json{{"name", "n"}, {"creationTimestamp", nullptr}, {"annotations", {{"a", "b"}}}}));
}

TEST_F(PrepareFixture, ResourceWithoutMetadataIsInternalError) {
  options.resources = {TestData("no-metadata.yaml")};
  options.team = "aura";
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kInternalError);
  EXPECT_EQ(message,
            "inject annotations in resource 0: error in metadata field: unexpected end of JSON "
            "input");
}

TEST_F(PrepareFixture, BuildUrlAndGitCommitFeedChangeCause) {
  env_values = {{"BUILD_URL", "http://jenkins/1"}, {"GIT_COMMIT", "abc"}, {"GITHUB_ACTOR", "me"}};
  const auto a = EnvironmentAnnotations(env);
  EXPECT_EQ(a.at("deploy.nais.io/build-url"), "http://jenkins/1");
  EXPECT_EQ(a.at("deploy.nais.io/git-commit"), "abc");
  EXPECT_EQ(a.at("deploy.nais.io/github-actor"), "me");
  EXPECT_EQ(a.at("kubernetes.io/change-cause"), "nais deploy: commit abc: http://jenkins/1");
  EXPECT_EQ(a.count("deploy.nais.io/github-workflow-run-url"), 0u);
}

TEST_F(PrepareFixture, RequestCarriesGithubFields) {
  env_values = {{"GITHUB_SHA", "sha1"},         {"GITHUB_ACTOR", "octocat"},
                {"GITHUB_SERVER_URL", "https://github.com"}, {"GITHUB_REPOSITORY", "navikt/app"},
                {"GITHUB_RUN_ID", "99"}};
  options.resources = {TestData("nais.yaml")};
  const auto request = Prepare();
  EXPECT_EQ(request.gitrefsha(), "sha1");
  EXPECT_EQ(request.deployerusername(), "octocat");
  EXPECT_EQ(request.triggerurl(), "https://github.com/navikt/app/actions/runs/99");
}

TEST_F(PrepareFixture, WorkloadImageCreatesImageResourceFirst) {
  options.resources = {TestData("two-apps.yaml")};
  options.workload_image = "ghcr.io/navikt/app:1";
  const auto request = Prepare();
  ASSERT_EQ(request.kubernetes().resources_size(), 3);
  const json image = common::StructToJson(request.kubernetes().resources(0));
  EXPECT_EQ(image["kind"], "Image");
  EXPECT_EQ(image["apiVersion"], "nais.io/v1");
  EXPECT_EQ(image["metadata"]["name"], "app-one");
  EXPECT_EQ(image["metadata"]["namespace"], "aura");
  EXPECT_EQ(image["spec"]["image"], "ghcr.io/navikt/app:1");
}

TEST_F(PrepareFixture, WorkloadNameWithoutResources) {
  options.workload_name = "myapp";
  options.workload_image = "img:2";
  options.team = "aura";
  const auto request = Prepare();
  ASSERT_EQ(request.kubernetes().resources_size(), 1);
  const json image = common::StructToJson(request.kubernetes().resources(0));
  EXPECT_EQ(image["metadata"]["name"], "myapp");
  EXPECT_EQ(request.githubenvironment(), "dev-fss");
}

TEST_F(PrepareFixture, Yaml11BooleansAndNumbersAsDoubles) {
  options.resources = {TestData("nais.yaml")};
  const auto request = Prepare();
  const auto& fields = request.kubernetes().resources(0).fields();
  EXPECT_EQ(fields.at("spec").struct_value().fields().at("port").number_value(), 8080.0);
  // "yes" was quoted in nais.yaml, so it stays a string.
  const json resource = common::StructToJson(request.kubernetes().resources(0));
  EXPECT_EQ(resource["metadata"]["annotations"]["some-annotation"], "yes");
}

}  // namespace
}  // namespace deploy_cli
