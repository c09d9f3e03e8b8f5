#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/time.hpp"
#include "deploy-cli/config.hpp"
#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/log.hpp"
#include "deployment.pb.h"

namespace deploy_cli {

// Reads a whole file; throws CliError(exit_code, "<prefix>open file: open <path>: <reason>").
std::string ReadFileOrThrow(const std::string& path, ExitCode exit_code, const std::string& prefix);

// Spec 5.3 step 1: --vars file (YAML/JSON object; numbers become doubles, as Go's float64) then
// each --var (KEY=VALUE string, bare KEY -> true). Throws CliError exit 6
// `load template variables: <path>: ...` when the file cannot be read or parsed, is not a map or
// nests deeper than common::kMaxDocumentDepth.
nlohmann::json LoadTemplateVariables(const Options& options, Logger& log);

// Spec 5.3 steps 2-3: one resource file -> its documents as JSON (templated only when `vars` is
// a non-empty object). Throws CliError exit 8, also for a document nested deeper than
// common::kMaxDocumentDepth. With `log`, a YAML error also logs the lines
// around the reported line of the (templated) text, the offending one marked.
std::vector<nlohmann::json> LoadResourceFile(const std::string& path, const nlohmann::json& vars,
                                             bool strict_vars, Logger* log = nullptr);

// "   12 | text" lines around `line` (1-based) with a marker under the offending one.
std::vector<std::string> ErrorContext(const std::string& text, int line);

// Spec 5.3 step 4/5 (the original looks at document i for file i, i < number of files).
std::string DetectTeam(const std::vector<nlohmann::json>& documents, std::size_t files,
                       std::size_t* index = nullptr, bool* from_namespace = nullptr);
std::string DetectEnvironment(const std::vector<nlohmann::json>& documents, std::size_t files,
                              const std::string& cluster);

// Spec 5.3 step 6.
nlohmann::json ImageResource(const std::string& name, const std::string& team,
                             const std::string& image);

// Spec 5.3 step 7: the annotations taken from the environment.
std::map<std::string, std::string> EnvironmentAnnotations(const EnvLookup& env);
// Merges annotations into resource.metadata (ObjectMeta round trip, object_meta.hpp). Throws
// std::runtime_error with Go's reason, e.g. `error in metadata field: json: cannot unmarshal ...`
// (caller wraps: `inject annotations in resource <i>: <reason>`).
nlohmann::json InjectAnnotations(const nlohmann::json& resource,
                                 const std::map<std::string, std::string>& annotations);

// Everything the CLI does to a request before sending it. Fills options.team /
// options.environment when auto-detected.
pb::DeploymentRequest Prepare(Options& options, const EnvLookup& env, Logger& log,
                              common::SystemTime now, common::SystemTime deadline);

}  // namespace deploy_cli
