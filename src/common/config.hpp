#pragma once
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace common {

// One configuration key of a daemon or the CLI.
struct SettingSpec {
  std::string key;            // e.g. "grpc.address"; the flag is "--grpc.address"
  std::string default_value;  // text form; lists comma-separated
  std::string help;
  std::vector<std::string> env;  // env names in precedence order (prefixed name, then aliases)
  bool secret = false;           // redacted in Describe()
  bool boolean = false;          // "--key" alone means true; "--key=false" allowed
  bool list = false;             // flag may be repeated; uses are joined with "," (else last wins)
  // Further flag names for the same key (without "--"), e.g. "grpc-authentication" next to
  // "grpc.authentication": the original's README spells some flags with dashes.
  std::vector<std::string> flag_aliases;
};

// Environment lookup (injected so tests do not touch the process environment).
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// Layered configuration: flag given on the command line > environment (first non-empty of
// spec.env) > config file (YAML, nested keys: `grpc: {address: x}` or flat `grpc.address: x`;
// unknown keys are an error) > default.
// Bind() registers every key as a CLI11 option on `app`; call Resolve() after app.parse().
class LayeredConfig {
 public:
  explicit LayeredConfig(std::vector<SettingSpec> specs);
  ~LayeredConfig();
  LayeredConfig(const LayeredConfig&) = delete;
  LayeredConfig& operator=(const LayeredConfig&) = delete;

  void Bind(CLI::App& app);
  // config_file: path or "" (none). Throws Error{kInvalidArgument} on unreadable/invalid file or
  // an unknown key in it: `config file <path>: unknown key "<key>"`.
  void Resolve(const EnvLookup& env, const std::string& config_file);

  const std::string& Get(const std::string& key) const;  // throws std::out_of_range if undeclared
  // true/false/1/0 (case-insensitive also t/f/yes/no? no: exactly Go strconv.ParseBool values).
  // Throws Error{kInvalidArgument}: `invalid value "<v>" for <key>: want true or false`.
  bool GetBool(const std::string& key) const;
  // Go duration syntax. Throws `invalid value "<v>" for <key>: want a duration such as 10s`.
  std::chrono::nanoseconds GetDuration(const std::string& key) const;
  // Comma-separated; parts trimmed; empty parts dropped.
  std::vector<std::string> GetList(const std::string& key) const;
  // Where the value came from: "flag", "env:<NAME>", "file", "default" ("set" after Set()).
  std::string Source(const std::string& key) const;
  // "key=value key2=value2 ..." in key order, secrets as "***" when non-empty.
  std::string Describe() const;
  // Overrides a value programmatically (tests).
  void Set(const std::string& key, const std::string& value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace common
