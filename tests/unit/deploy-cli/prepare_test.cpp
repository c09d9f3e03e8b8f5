#include "deploy-cli/manifest/prepare.hpp"

#include <sstream>

#include <gtest/gtest.h>

#include "common/limits.hpp"
#include "common/pb_json.hpp"
#include "common/yaml_json.hpp"
#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/manifest/object_meta.hpp"
#include "deploy-cli/template/handlebars.hpp"
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
  EXPECT_EQ(message.rfind(
                TestData("bad-template.yaml") + ": parse template file: Parse error on line 2", 0),
            0u)
      << message;
}

TEST_F(PrepareFixture, StrictVarsReportsMissingVariable) {
  options.resources = {TestData("templated.yaml")};
  options.team = "foo";
  options.vars = {"one=1"};
  options.strict_vars = true;
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kTemplateError);
  EXPECT_EQ(message,
            TestData("templated.yaml") + ": execute template: line 4: missing variable \"two\"");
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
  const json resource = {{"kind", "X"},
                         {"metadata", {{"name", "n"}, {"bogus", 1}, {"namespace", ""}}}};
  const json out = InjectAnnotations(resource, {{"a", "b"}});
  EXPECT_EQ(out["metadata"],
            (json{{"name", "n"}, {"creationTimestamp", nullptr}, {"annotations", {{"a", "b"}}}}));
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
  env_values = {{"GITHUB_SHA", "sha1"},
                {"GITHUB_ACTOR", "octocat"},
                {"GITHUB_SERVER_URL", "https://github.com"},
                {"GITHUB_REPOSITORY", "navikt/app"},
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

namespace deploy_cli {
namespace {

using nlohmann::json;
using testing::ScratchFile;

// ---- --vars file errors: exit 6, `load template variables: <path>: ...` -----------------------

std::string YamlError(const std::string& text) {
  try {
    common::YamlDocumentsToJson(text);
  } catch (const std::exception& e) {
    return e.what();
  }
  ADD_FAILURE() << "no YAML error for " << text;
  return "";
}

TEST_F(PrepareFixture, VarsFileErrorsAreInvocationFailures) {
  std::string deep = "{\"x\": {\"a\": 1}}";
  for (int i = 2; i < 513; ++i) deep = "{\"x\": " + deep + "}";
  const struct {
    const char* name;
    std::string content;
    std::string reason;  // after "load template variables: <path>: "
  } cases[] = {
      {"yaml_syntax", "a: [1, 2\nb: 3\n", YamlError("a: [1, 2\nb: 3\n")},
      {"json_syntax", "{\"a\": 1", YamlError("{\"a\": 1")},
      {"top_level_list", "- a\n- b\n",
       "error unmarshaling JSON: json: cannot unmarshal array into Go value of type "
       "deployclient.TemplateVariables"},
      {"top_level_string", "hello\n",
       "error unmarshaling JSON: json: cannot unmarshal string into Go value of type "
       "deployclient.TemplateVariables"},
      {"top_level_number", "42\n",
       "error unmarshaling JSON: json: cannot unmarshal number into Go value of type "
       "deployclient.TemplateVariables"},
      {"top_level_bool", "true\n",
       "error unmarshaling JSON: json: cannot unmarshal bool into Go value of type "
       "deployclient.TemplateVariables"},
      // The YAML reader stops at the limit and says where.
      {"deeper_than_the_limit", deep, YamlError(deep)},
  };
  for (const auto& c : cases) {
    ScratchFile vars(c.content);
    options.resources = {TestData("nais.yaml")};
    options.vars_file = vars.Path();
    std::string message;
    EXPECT_EQ(PrepareFails(&message), ExitCode::kInvocationFailure) << c.name;
    EXPECT_EQ(message, "load template variables: " + vars.Path() + ": " + c.reason) << c.name;
  }
}

TEST_F(PrepareFixture, UnreadableVarsFileIsInvocationFailure) {
  // A directory opens but cannot be read (as root, permissions would not stop a read).
  const std::string dir = TestData("");
  options.resources = {TestData("nais.yaml")};
  options.vars_file = dir;
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kInvocationFailure);
  EXPECT_EQ(message,
            "load template variables: " + dir + ": open file: read " + dir + ": is a directory");
}

TEST_F(PrepareFixture, EmptyOrNullVarsFileGivesNoVariables) {
  for (const char* content : {"", "~\n", "# nothing\n"}) {
    ScratchFile vars(content);
    options.vars_file = vars.Path();
    EXPECT_EQ(LoadTemplateVariables(options, log), json::object()) << content;
  }
}

TEST_F(PrepareFixture, VarsFileNumbersAreFloatsAndLogLinesUsePercentV) {
  // (An unquoted key `n` would be the boolean false for YAML 1.1, as in the original.)
  ScratchFile vars("big: 1000000\nm: {a: 1, b: x}\n");
  options.vars_file = vars.Path();
  options.vars = {"big=2", "m=3"};
  const json v = LoadTemplateVariables(options, log);
  EXPECT_EQ(v["big"], "2");
  const std::string text = log_out.str();
  EXPECT_NE(text.find("Overwriting template variable 'big'; previous value was '1e+06'"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Overwriting template variable 'm'; previous value was 'map[a:1 b:x]'"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Setting template variable 'big' to '2'"), std::string::npos) << text;
  options.vars = {};
  const json floats = LoadTemplateVariables(options, log);
  EXPECT_TRUE(floats["big"].is_number_float());
  EXPECT_EQ(RenderTemplate("{{big}} {{m}}", floats, false), "1000000 map[a:%!s(float64=1) b:x]");
}

// ---- metadata of the wrong type: exit 7 with Go's json message --------------------------------

struct MetaCase {
  const char* name;
  const char* metadata;
  const char* error;
};

const MetaCase kMetaCases[] = {
    {"generation_fraction", R"({"generation": 1.5})",
     "json: cannot unmarshal number 1.5 into Go struct field ObjectMeta.generation of type int64"},
    {"generation_string", R"({"generation": "1"})",
     "json: cannot unmarshal string into Go struct field ObjectMeta.generation of type int64"},
    {"generation_huge", R"({"generation": 1e21})",
     "json: cannot unmarshal number 1e+21 into Go struct field ObjectMeta.generation of type "
     "int64"},
    {"generation_overflow", R"({"generation": 1e20})",
     "json: cannot unmarshal number 100000000000000000000 into Go struct field "
     "ObjectMeta.generation of type int64"},
    {"labels_list", R"({"labels": ["a"]})",
     "json: cannot unmarshal array into Go struct field ObjectMeta.labels of type "
     "map[string]string"},
    {"labels_value_number", R"({"labels": {"a": 1}})",
     "json: cannot unmarshal number into Go struct field ObjectMeta.labels of type string"},
    {"name_number", R"({"name": 5})",
     "json: cannot unmarshal number into Go struct field ObjectMeta.name of type string"},
    {"namespace_object", R"({"namespace": {"x": 1}})",
     "json: cannot unmarshal object into Go struct field ObjectMeta.namespace of type string"},
    {"annotations_value_number", R"({"annotations": {"a": 1}})",
     "json: cannot unmarshal number into Go struct field ObjectMeta.annotations of type string"},
    {"annotations_value_bool", R"({"annotations": {"a": true}})",
     "json: cannot unmarshal bool into Go struct field ObjectMeta.annotations of type string"},
    {"annotations_string", R"({"annotations": "a=b"})",
     "json: cannot unmarshal string into Go struct field ObjectMeta.annotations of type "
     "map[string]string"},
    {"uid_number", R"({"uid": 7})",
     "json: cannot unmarshal number into Go struct field ObjectMeta.uid of type types.UID"},
    {"resource_version_bool", R"({"resourceVersion": false})",
     "json: cannot unmarshal bool into Go struct field ObjectMeta.resourceVersion of type string"},
    {"grace_period_string", R"({"deletionGracePeriodSeconds": "30"})",
     "json: cannot unmarshal string into Go struct field ObjectMeta.deletionGracePeriodSeconds "
     "of type int64"},
    {"finalizers_string", R"({"finalizers": "x"})",
     "json: cannot unmarshal string into Go struct field ObjectMeta.finalizers of type []string"},
    {"finalizers_number_item", R"({"finalizers": [1]})",
     "json: cannot unmarshal number into Go struct field ObjectMeta.finalizers of type string"},
    {"owner_references_object", R"({"ownerReferences": {}})",
     "json: cannot unmarshal object into Go struct field ObjectMeta.ownerReferences of type "
     "[]v1.OwnerReference"},
    {"owner_reference_string", R"({"ownerReferences": ["x"]})",
     "json: cannot unmarshal string into Go struct field ObjectMeta.ownerReferences of type "
     "v1.OwnerReference"},
    {"owner_reference_name_number", R"({"ownerReferences": [{"name": 1}]})",
     "json: cannot unmarshal number into Go struct field OwnerReference.ownerReferences.name of "
     "type string"},
    {"owner_reference_controller_string", R"({"ownerReferences": [{"controller": "yes"}]})",
     "json: cannot unmarshal string into Go struct field OwnerReference.ownerReferences.controller "
     "of type bool"},
    {"managed_fields_operation_number", R"({"managedFields": [{"operation": 1}]})",
     "json: cannot unmarshal number into Go struct field "
     "ManagedFieldsEntry.managedFields.operation "
     "of type v1.ManagedFieldsOperationType"},
    {"managed_fields_time", R"({"managedFields": [{"time": "x"}]})",
     R"(parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006")"},
    {"creation_timestamp_number", R"({"creationTimestamp": 5})",
     "json: cannot unmarshal number into Go struct field ObjectMeta.creationTimestamp of type "
     "string"},
    {"creation_timestamp_words", R"({"creationTimestamp": "yesterday"})",
     R"(parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006")"},
    {"creation_timestamp_date_only", R"({"creationTimestamp": "2024-01-01"})",
     R"(parsing time "2024-01-01" as "2006-01-02T15:04:05Z07:00": cannot parse "" as "T")"},
    {"creation_timestamp_month", R"({"creationTimestamp": "2024-13-01T00:00:00Z"})",
     R"(parsing time "2024-13-01T00:00:00Z": month out of range)"},
    {"creation_timestamp_day", R"({"creationTimestamp": "2023-02-29T00:00:00Z"})",
     R"(parsing time "2023-02-29T00:00:00Z": day out of range)"},
    {"deletion_timestamp_offset", R"({"deletionTimestamp": "2024-01-01T10:00:00+0200"})",
     R"(parsing time "2024-01-01T10:00:00+0200" as "2006-01-02T15:04:05Z07:00": cannot parse "+0200" as "Z07:00")"},
    {"deletion_timestamp_extra", R"({"deletionTimestamp": "2024-01-01T10:00:00Zjunk"})",
     R"(parsing time "2024-01-01T10:00:00Zjunk": extra text: "junk")"},
    {"first_error_in_key_order", R"({"name": 5, "generation": 1.5})",
     "json: cannot unmarshal number 1.5 into Go struct field ObjectMeta.generation of type int64"},
    {"time_error_ends_decoding_at_once", R"({"annotations": {"a": 1}, "creationTimestamp": "x"})",
     R"(parsing time "x" as "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006")"},
    {"keys_match_case_insensitively", R"({"Generation": 1.5})",
     "json: cannot unmarshal number 1.5 into Go struct field ObjectMeta.generation of type int64"},
    {"metadata_list", R"([1])", "json: cannot unmarshal array into Go value of type v1.ObjectMeta"},
    {"metadata_string", R"("x")",
     "json: cannot unmarshal string into Go value of type v1.ObjectMeta"},
};

class MetadataTypeTest : public ::testing::TestWithParam<MetaCase> {};

TEST_P(MetadataTypeTest, FailsWithGoMessage) {
  const MetaCase& c = GetParam();
  const json resource = {{"kind", "ConfigMap"}, {"metadata", json::parse(c.metadata)}};
  try {
    InjectAnnotations(resource, {{"a", "b"}});
    ADD_FAILURE() << "no error for " << c.metadata;
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), std::string("error in metadata field: ") + c.error);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, MetadataTypeTest, ::testing::ValuesIn(kMetaCases),
                         [](const ::testing::TestParamInfo<MetaCase>& c) {
                           return std::string(c.param.name);
                         });

TEST_F(PrepareFixture, MetadataOfTheWrongTypeExitsSeven) {
  ScratchFile resource(
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n"
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n  generation: 1.5\n");
  options.resources = {resource.Path()};
  options.team = "aura";
  std::string message;
  EXPECT_EQ(PrepareFails(&message), ExitCode::kInternalError);
  EXPECT_EQ(message,
            "inject annotations in resource 1: error in metadata field: json: cannot unmarshal "
            "number 1.5 into Go struct field ObjectMeta.generation of type int64");
}

TEST(ObjectMetaTest, RoundTripIsGoDecodeThenMarshal) {
  const struct {
    const char* in;
    const char* out;
  } cases[] = {
      {R"({"name": "a", "Namespace": "ns", "bogus": 1, "generation": 2.0,
           "creationTimestamp": "2024-05-01T10:00:00.123+02:00", "deletionGracePeriodSeconds": 0,
           "labels": {"a": null}, "finalizers": [],
           "ownerReferences": [{"name": "o", "controller": true, "extra": 1}]})",
       R"({"creationTimestamp": "2024-05-01T08:00:00Z", "deletionGracePeriodSeconds": 0,
           "generation": 2, "labels": {"a": ""}, "name": "a", "namespace": "ns",
           "ownerReferences": [{"apiVersion": "", "controller": true, "kind": "", "name": "o",
                                "uid": ""}]})"},
      {R"({"creationTimestamp": "0001-01-01T00:00:00Z", "deletionTimestamp": null,
           "generation": 0, "name": ""})",
       R"({"creationTimestamp": null})"},
      {R"({"deletionTimestamp": "2024-01-01T00:30:00-01:30", "finalizers": ["f", null]})",
       R"({"creationTimestamp": null, "deletionTimestamp": "2024-01-01T02:00:00Z",
           "finalizers": ["f", ""]})"},
      {R"({"managedFields": [{"manager": "m", "fieldsV1": {"f:data": {}},
           "time": "2024-01-01T00:00:00Z", "subresource": ""}]})",
       R"({"creationTimestamp": null, "managedFields": [{"fieldsV1": {"f:data": {}},
           "manager": "m", "time": "2024-01-01T00:00:00Z"}]})"},
      {"null", R"({"creationTimestamp": null})"},
      {R"({"labels": {"a": "1"}, "Labels": {"b": "2"}})",
       R"({"creationTimestamp": null, "labels": {"a": "1", "b": "2"}})"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(RoundTripObjectMeta(json::parse(c.in)), json::parse(c.out)) << c.in;
  }
  EXPECT_EQ(FormatGoRfc3339(0), "1970-01-01T00:00:00Z");
  EXPECT_EQ(ParseGoRfc3339("2024-02-29T23:59:59.5-00:30").seconds, 1709252999);
}

}  // namespace
}  // namespace deploy_cli
