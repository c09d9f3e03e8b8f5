#include "deploy-cli/manifest/prepare.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/json_path.hpp"
#include "common/limits.hpp"
#include "common/pb_json.hpp"
#include "common/yaml_json.hpp"
#include "deploy-cli/exit_code.hpp"
#include "deploy-cli/manifest/object_meta.hpp"
#include "deploy-cli/template/handlebars.hpp"

namespace deploy_cli {

namespace {

std::string GoErrno(int err) {
  std::string text = std::strerror(err);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

std::string ReplaceNewlines(std::string text) {
  std::string out;
  for (const char c : text) {
    if (c == '\n') {
      out += ": ";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string ReadFileOrThrow(const std::string& path, ExitCode exit_code,
                            const std::string& prefix) {
  // As Go's os.ReadFile: "open <path>: <reason>" or "read <path>: <reason>" (a directory opens
  // but cannot be read).
  auto fail = [&](const char* op, int err) {
    throw CliError(exit_code,
                   fmt::format("{}open file: {} {}: {}", prefix, op, path, GoErrno(err)));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("open", errno);
  std::string text;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail("read", err);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return text;
}

namespace {

// Numbers of the vars file become float64, as json.Unmarshal into map[string]interface{} makes
// them in the original (so they print as raymond prints a float64).
void NumbersToDoubles(nlohmann::json& value) {
  if (value.is_number_integer() || value.is_number_unsigned()) {
    value = value.get<double>();
  } else if (value.is_structured()) {
    for (auto& item : value) NumbersToDoubles(item);
  }
}

}  // namespace

nlohmann::json LoadTemplateVariables(const Options& options, Logger& log) {
  nlohmann::json vars = nlohmann::json::object();
  if (!options.vars_file.empty()) {
    const std::string prefix = "load template variables: " + options.vars_file + ": ";
    const std::string text =
        ReadFileOrThrow(options.vars_file, ExitCode::kInvocationFailure, prefix);
    std::vector<nlohmann::json> docs;
    try {
      docs = common::YamlDocumentsToJson(text);
    } catch (const std::exception& e) {
      throw CliError(ExitCode::kInvocationFailure, prefix + e.what());
    }
    if (!docs.empty()) {
      if (!docs.front().is_object()) {
        // The original's message (ghodss/yaml + encoding/json into TemplateVariables).
        throw CliError(ExitCode::kInvocationFailure,
                       prefix + fmt::format("error unmarshaling JSON: json: cannot unmarshal {} "
                                            "into Go value of type deployclient.TemplateVariables",
                                            common::GoJsonTypeName(docs.front())));
      }
      if (common::JsonDepth(docs.front()) > common::kMaxDocumentDepth) {
        throw CliError(ExitCode::kInvocationFailure, prefix + common::DepthMessage());
      }
      vars = std::move(docs.front());
      NumbersToDoubles(vars);
    }
  }
  for (const std::string& entry : options.vars) {
    const auto eq = entry.find('=');
    std::string key = entry.substr(0, eq);
    nlohmann::json value =
        eq == std::string::npos ? nlohmann::json(true) : nlohmann::json(entry.substr(eq + 1));
    if (auto it = vars.find(key); it != vars.end()) {
      log.Warn(fmt::format("Overwriting template variable '{}'; previous value was '{}'", key,
                           GoFormatV(*it)));
    }
    log.Info(fmt::format("Setting template variable '{}' to '{}'", key, GoFormatV(value)));
    vars[key] = std::move(value);
  }
  return vars;
}

std::vector<std::string> ErrorContext(const std::string& text, int line) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  int number = 1;
  while (start <= text.size()) {
    const auto end = text.find('\n', start);
    const std::string current =
        text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (number >= line - 2 && number <= line + 2) {
      lines.push_back(fmt::format("{:5} | {}", number, current));
      if (number == line) {
        lines.push_back(fmt::format("      | {} <--- error near this line",
                                    std::string(std::max<std::size_t>(current.size(), 1), '^')));
      }
    }
    if (end == std::string::npos || number > line + 2) break;
    start = end + 1;
    ++number;
  }
  return lines;
}

std::vector<nlohmann::json> LoadResourceFile(const std::string& path, const nlohmann::json& vars,
                                             bool strict_vars, Logger* log) {
  std::string text = ReadFileOrThrow(path, ExitCode::kTemplateError, path + ": ");
  if (vars.is_object() && !vars.empty()) {
    try {
      text = RenderTemplate(text, vars, strict_vars);
    } catch (const TemplateError& e) {
      throw CliError(ExitCode::kTemplateError,
                     fmt::format("{}: {}: {}", path,
                                 e.IsParseError() ? "parse template file" : "execute template",
                                 ReplaceNewlines(e.what())));
    }
  }
  try {
    auto documents = common::YamlDocumentsToJson(text);
    // The one depth limit of the whole system, checked once, where the file is known.
    for (const auto& document : documents) {
      if (common::JsonDepth(document) > common::kMaxDocumentDepth) {
        throw CliError(ExitCode::kTemplateError,
                       fmt::format("{}: {}", path, common::DepthMessage()));
      }
    }
    return documents;
  } catch (const CliError&) {
    throw;
  } catch (const std::exception& e) {
    const std::string message = e.what();
    if (log != nullptr) {
      if (const auto pos = message.find("line "); pos != std::string::npos) {
        const int line = std::atoi(message.c_str() + pos + 5);
        if (line > 0) {
          for (const auto& context : ErrorContext(text, line)) log->Error(context);
        }
      }
    }
    throw CliError(ExitCode::kTemplateError, fmt::format("{}: {}", path, message));
  }
}

std::string DetectTeam(const std::vector<nlohmann::json>& documents, std::size_t files,
                       std::size_t* index, bool* from_namespace) {
  for (std::size_t i = 0; i < files && i < documents.size(); ++i) {
    if (index != nullptr) *index = i;
    if (auto team = common::JsonString(documents[i], {"metadata", "labels", "team"});
        !team.empty()) {
      if (from_namespace != nullptr) *from_namespace = false;
      return team;
    }
    if (auto ns = common::JsonString(documents[i], {"metadata", "namespace"}); !ns.empty()) {
      if (from_namespace != nullptr) *from_namespace = true;
      return ns;
    }
  }
  return "";
}

std::string DetectEnvironment(const std::vector<nlohmann::json>& documents, std::size_t files,
                              const std::string& cluster) {
  std::set<std::string> namespaces;
  for (std::size_t i = 0; i < files && i < documents.size(); ++i) {
    namespaces.insert(common::JsonString(documents[i], {"metadata", "namespace"}));
  }
  if (namespaces.size() == 1 && !namespaces.begin()->empty()) {
    return cluster + ":" + *namespaces.begin();
  }
  return cluster;
}

nlohmann::json ImageResource(const std::string& name, const std::string& team,
                             const std::string& image) {
  return nlohmann::json{{"apiVersion", "nais.io/v1"},
                        {"kind", "Image"},
                        {"metadata", {{"name", name}, {"namespace", team}}},
                        {"spec", {{"image", image}}},
                        {"status", nlohmann::json::object()}};
}

std::map<std::string, std::string> EnvironmentAnnotations(const EnvLookup& env) {
  std::map<std::string, std::string> annotations;
  const auto actor = env("GITHUB_ACTOR");
  const auto sha = env("GITHUB_SHA");
  const auto build_url = env("BUILD_URL");
  const auto git_commit = env("GIT_COMMIT");
  if (actor) annotations["deploy.nais.io/github-actor"] = *actor;
  if (sha) annotations["deploy.nais.io/github-sha"] = *sha;
  if (build_url) annotations["deploy.nais.io/build-url"] = *build_url;
  if (git_commit) annotations["deploy.nais.io/git-commit"] = *git_commit;
  annotations["deploy.nais.io/client-version"] = Version();
  std::string run_url;
  const auto server = env("GITHUB_SERVER_URL");
  const auto repository = env("GITHUB_REPOSITORY");
  const auto run_id = env("GITHUB_RUN_ID");
  if (server && repository && run_id) {
    run_url = fmt::format("{}/{}/actions/runs/{}", *server, *repository, *run_id);
    annotations["deploy.nais.io/github-workflow-run-url"] = run_url;
  }
  const std::string commit = sha && !sha->empty() ? *sha : git_commit.value_or("");
  const std::string url = !run_url.empty() ? run_url : build_url.value_or("");
  if (!commit.empty() && !url.empty()) {
    annotations["kubernetes.io/change-cause"] =
        fmt::format("nais deploy: commit {}: {}", commit, url);
  }
  return annotations;
}

nlohmann::json InjectAnnotations(const nlohmann::json& resource,
                                 const std::map<std::string, std::string>& annotations) {
  if (!resource.is_object()) {
    throw std::runtime_error(
        fmt::format("json: cannot unmarshal {} into Go value of type map[string]json.RawMessage",
                    common::GoJsonTypeName(resource)));
  }
  auto meta_it = resource.find("metadata");
  if (meta_it == resource.end()) {
    throw std::runtime_error("error in metadata field: unexpected end of JSON input");
  }
  // Round trip through ObjectMeta: known fields only, omitempty, creationTimestamp always.
  nlohmann::json meta;
  try {
    meta = RoundTripObjectMeta(*meta_it);
  } catch (const ObjectMetaError& e) {
    throw std::runtime_error(std::string("error in metadata field: ") + e.what());
  }
  nlohmann::json merged = meta.value("annotations", nlohmann::json::object());
  for (const auto& [key, value] : annotations) merged[key] = value;
  if (!merged.empty()) meta["annotations"] = merged;
  nlohmann::json result = resource;
  result["metadata"] = std::move(meta);
  return result;
}

pb::DeploymentRequest Prepare(Options& options, const EnvLookup& env, Logger& log,
                              common::SystemTime now, common::SystemTime deadline) {
  const nlohmann::json vars = LoadTemplateVariables(options, log);

  std::vector<nlohmann::json> resources;
  for (const std::string& path : options.resources) {
    auto docs = LoadResourceFile(path, vars, options.strict_vars, &log);
    for (auto& doc : docs) resources.push_back(std::move(doc));
  }

  const std::size_t files = options.resources.size();
  if (options.team.empty()) {
    log.Info("Team not explicitly specified; attempting auto-detection...");
    std::size_t index = 0;
    bool from_namespace = false;
    options.team = DetectTeam(resources, files, &index, &from_namespace);
    if (options.team.empty()) {
      throw CliError(ExitCode::kInvocationFailure,
                     "no team specified, and unable to auto-detect from nais.yaml");
    }
    // The original names the file with the same index as the document.
    log.Info(fmt::format("Detected team \"{}\" {}in \"{}\"", options.team,
                         from_namespace ? "from namespace " : "", options.resources.at(index)));
  }
  if (options.environment.empty()) {
    log.Info("Environment not explicitly specified; attempting auto-detection...");
    options.environment = DetectEnvironment(resources, files, options.cluster);
    log.Info(fmt::format("Detected environment '{}'", options.environment));
  }

  if (!options.workload_image.empty()) {
    std::string name = options.workload_name;
    if (name.empty()) {
      std::vector<std::string> names;
      for (const auto& doc : resources) {
        const std::string api_version = common::JsonString(doc, {"apiVersion"});
        const std::string kind = common::JsonString(doc, {"kind"});
        if (api_version.rfind("nais.io", 0) == 0 && (kind == "Application" || kind == "Naisjob")) {
          names.push_back(common::JsonString(doc, {"metadata", "name"}));
        }
      }
      if (names.size() == 1) {
        name = names.front();
      } else {
        log.Warn(fmt::format(
            "workload-image given but {} workloads (Application/Naisjob) found; specify "
            "--workload-name to create the Image resource",
            names.size()));
      }
    }
    if (!name.empty()) {
      resources.insert(resources.begin(),
                       ImageResource(name, options.team, options.workload_image));
    }
  }

  const auto annotations = EnvironmentAnnotations(env);
  for (std::size_t i = 0; i < resources.size(); ++i) {
    try {
      resources[i] = InjectAnnotations(resources[i], annotations);
    } catch (const std::runtime_error& e) {
      throw CliError(ExitCode::kInternalError,
                     fmt::format("inject annotations in resource {}: {}", i, e.what()));
    }
  }

  pb::DeploymentRequest request;
  try {
    for (const auto& resource : resources) {
      *request.mutable_kubernetes()->add_resources() = common::JsonToStruct(resource);
    }
  } catch (const std::exception& e) {
    throw CliError(ExitCode::kInvocationFailure, e.what());
  }
  request.set_cluster(options.cluster);
  *request.mutable_deadline() = common::ToTimestamp(deadline);
  *request.mutable_time() = common::ToTimestamp(now);
  request.set_gitrefsha(env("GITHUB_SHA").value_or(""));
  request.set_githubenvironment(options.environment);
  request.mutable_repository()->set_owner(options.owner);
  request.mutable_repository()->set_name(options.repository);
  request.set_team(options.team);
  const auto server = env("GITHUB_SERVER_URL");
  const auto repository = env("GITHUB_REPOSITORY");
  const auto run_id = env("GITHUB_RUN_ID");
  if (server && repository && run_id) {
    request.set_triggerurl(fmt::format("{}/{}/actions/runs/{}", *server, *repository, *run_id));
  }
  request.set_deployerusername(env("GITHUB_ACTOR").value_or(""));
  return request;
}

}  // namespace deploy_cli
