#pragma once
// Helpers of the packaging tests: the programs' --help, YAML documents, flags on command lines.
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/yaml_json.hpp"
#include "support/process.hpp"

namespace packaging {

using nlohmann::json;

// The programs whose flags the repository's files name.
inline const std::vector<std::string>& Programs() {
  static const std::vector<std::string> kPrograms{"hookd", "deployd", "deploy", "provision",
                                                  "kube-sim"};
  return kPrograms;
}

// `<program> --help` (stdout and stderr), run once per test binary.
inline const std::string& Help(const std::string& program) {
  static std::map<std::string, std::string> cache;
  auto it = cache.find(program);
  if (it == cache.end()) {
    auto result = testsupport::Run({testsupport::BinaryPath(program), "--help"});
    EXPECT_EQ(result.exit_code, 0) << program << " --help: " << result.err;
    it = cache.emplace(program, result.out + result.err).first;
  }
  return it->second;
}

// Whether `--name` is an option in `program --help` (followed by '=', ',', space, end of line).
inline bool HelpHasFlag(const std::string& program, const std::string& name) {
  const std::string& help = Help(program);
  const std::string needle = "--" + name;
  for (auto pos = help.find(needle); pos != std::string::npos; pos = help.find(needle, pos + 1)) {
    const std::size_t end = pos + needle.size();
    const bool starts = pos == 0 || help[pos - 1] == ' ' || help[pos - 1] == ',';
    const bool ends = end == help.size() || help[end] == '=' || help[end] == ',' ||
                      help[end] == ' ' || help[end] == '\n';
    if (starts && ends) return true;
  }
  return false;
}

// Whether the environment variable `name` is documented in `program --help`.
inline bool HelpHasEnv(const std::string& program, const std::string& name) {
  const std::regex word("(^|[^A-Z0-9_])" + name + "([^A-Z0-9_]|$)");
  return std::regex_search(Help(program), word);
}

// The flag names (without "--" and "=value") of an argument list.
inline std::vector<std::string> FlagNames(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const auto& a : args) {
    if (a.rfind("--", 0) != 0 || a.size() == 2) continue;
    out.push_back(
        a.substr(2, a.find('=') == std::string::npos ? std::string::npos : a.find('=') - 2));
  }
  return out;
}

// The whitespace-separated words of `text`.
inline std::vector<std::string> Words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

inline std::vector<json> YamlDocs(const std::string& text) {
  common::YamlOptions options;
  options.yaml11_booleans = false;
  return common::YamlDocumentsToJson(text, options);
}

inline std::string Source(const std::string& relative) {
  return testsupport::SourceDir() + "/" + relative;
}

// Builds an env lookup from a map (nullopt when absent).
inline std::function<std::optional<std::string>(const std::string&)> EnvOf(
    std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace packaging
