#include "common/config.hpp"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "common/error.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"
#include "common/yaml_json.hpp"

namespace common {
namespace {

std::string JoinComma(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out.push_back(',');
    out += p;
  }
  return out;
}

// Text form of a config-file value: scalars as written (numbers/booleans normalised), lists
// comma-joined.
std::string FileValueText(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      return "";
    case nlohmann::json::value_t::string:
      return v.get<std::string>();
    case nlohmann::json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case nlohmann::json::value_t::array: {
      std::vector<std::string> parts;
      for (const auto& item : v) parts.push_back(FileValueText(item));
      return JoinComma(parts);
    }
    default:
      return v.dump();
  }
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());  // NOLINT(concurrency-mt-unsafe)
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

struct LayeredConfig::Impl {
  struct Entry {
    SettingSpec spec;
    std::string value;
    std::string source = "default";
    CLI::Option* option = nullptr;
  };
  std::map<std::string, Entry> entries;

  Entry& At(const std::string& key) {
    auto it = entries.find(key);
    if (it == entries.end())
      throw std::out_of_range("undeclared configuration key \"" + key + "\"");
    return it->second;
  }
  const Entry& At(const std::string& key) const {
    auto it = entries.find(key);
    if (it == entries.end())
      throw std::out_of_range("undeclared configuration key \"" + key + "\"");
    return it->second;
  }

  // Flattens the config file object into dotted keys; throws on unknown keys.
  void Flatten(const nlohmann::json& obj, const std::string& prefix, const std::string& path,
               std::map<std::string, std::string>& out) const {
    for (const auto& [k, v] : obj.items()) {
      // Keys match case-insensitively, as viper does.
      std::string lower = k;
      for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const std::string key = prefix.empty() ? lower : fmt::format("{}.{}", prefix, lower);
      if (entries.count(key) != 0) {
        out[key] = FileValueText(v);
        continue;
      }
      if (v.is_object()) {
        Flatten(v, key, path, out);
        continue;
      }
      throw Error(ErrorCode::kInvalidArgument,
                  fmt::format("config file {}: unknown key \"{}\"", path, key));
    }
  }
};

LayeredConfig::LayeredConfig(std::vector<SettingSpec> specs) : impl_(std::make_unique<Impl>()) {
  for (auto& spec : specs) {
    Impl::Entry entry;
    entry.value = spec.default_value;
    std::string key = spec.key;
    entry.spec = std::move(spec);
    impl_->entries[key] = std::move(entry);
  }
}

LayeredConfig::~LayeredConfig() = default;

void LayeredConfig::Bind(CLI::App& app) {
  for (auto& [key, entry] : impl_->entries) {
    std::string name = "--" + key;
    for (const auto& alias : entry.spec.flag_aliases) name += ",--" + alias;
    std::string help = entry.spec.help;
    if (!entry.spec.env.empty()) help += " (env " + JoinComma(entry.spec.env) + ")";
    if (entry.spec.boolean) {
      // Never pass a non-const std::string as the 2nd argument: CLI11 would bind it as the
      // option's target variable instead of using it as the description.
      entry.option = app.add_flag(name);
      entry.option->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    } else {
      entry.option = app.add_option(name);
      entry.option->expected(1);
      entry.option->allow_extra_args(false);
      entry.option->multi_option_policy(entry.spec.list ? CLI::MultiOptionPolicy::TakeAll
                                                        : CLI::MultiOptionPolicy::TakeLast);
    }
    entry.option->description(help);
    if (!entry.spec.default_value.empty()) {
      entry.option->default_str(entry.spec.secret ? "***" : entry.spec.default_value);
    }
  }
}

void LayeredConfig::Resolve(const EnvLookup& env, const std::string& config_file) {
  std::map<std::string, std::string> file_values;
  if (!config_file.empty()) {
    std::ifstream in(config_file, std::ios::binary);
    if (!in) {
      throw Error(ErrorCode::kInvalidArgument,
                  "config file " + config_file + ": cannot open: " + std::strerror(errno));
    }
    std::stringstream buffer;
    buffer << in.rdbuf();
    std::vector<nlohmann::json> docs;
    try {
      docs = YamlDocumentsToJson(buffer.str());
    } catch (const Error& e) {
      throw Error(ErrorCode::kInvalidArgument, "config file " + config_file + ": " + e.what());
    }
    if (docs.size() > 1) {
      throw Error(ErrorCode::kInvalidArgument,
                  "config file " + config_file + ": more than one YAML document");
    }
    if (!docs.empty()) {
      if (!docs.front().is_object()) {
        throw Error(ErrorCode::kInvalidArgument,
                    "config file " + config_file + ": top level must be a mapping");
      }
      impl_->Flatten(docs.front(), "", config_file, file_values);
    }
  }

  for (auto& [key, entry] : impl_->entries) {
    // 1. flag given on the command line
    if (entry.option != nullptr && entry.option->count() > 0) {
      const auto& results = entry.option->results();
      if (!results.empty()) {
        entry.value = entry.spec.list ? JoinComma(results) : results.back();
        if (entry.spec.boolean && entry.value.empty()) entry.value = "true";
        entry.source = "flag";
        continue;
      }
    }
    // 2. environment: first non-empty
    bool found = false;
    for (const auto& name : entry.spec.env) {
      if (!env) break;
      const auto value = env(name);
      if (value && !value->empty()) {
        entry.value = *value;
        entry.source = "env:" + name;
        found = true;
        break;
      }
    }
    if (found) continue;
    // 3. config file
    if (auto it = file_values.find(key); it != file_values.end()) {
      entry.value = it->second;
      entry.source = "file";
      continue;
    }
    // 4. default
    entry.value = entry.spec.default_value;
    entry.source = "default";
  }
}

const std::string& LayeredConfig::Get(const std::string& key) const { return impl_->At(key).value; }

bool LayeredConfig::GetBool(const std::string& key) const {
  const std::string& v = Get(key);
  if (v == "1" || v == "t" || v == "T" || v == "TRUE" || v == "true" || v == "True") return true;
  if (v == "0" || v == "f" || v == "F" || v == "FALSE" || v == "false" || v == "False") {
    return false;
  }
  throw Error(ErrorCode::kInvalidArgument,
              "invalid value \"" + v + "\" for " + key + ": want true or false");
}

std::chrono::nanoseconds LayeredConfig::GetDuration(const std::string& key) const {
  const std::string& v = Get(key);
  if (auto d = ParseGoDuration(v)) return *d;
  throw Error(ErrorCode::kInvalidArgument,
              "invalid value \"" + v + "\" for " + key + ": want a duration such as 10s");
}

std::vector<std::string> LayeredConfig::GetList(const std::string& key) const {
  const std::string& v = Get(key);
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= v.size()) {
    std::size_t end = v.find(',', start);
    if (end == std::string::npos) end = v.size();
    std::string part = Trim(std::string_view(v).substr(start, end - start), " \t\n\r");
    if (!part.empty()) out.push_back(std::move(part));
    start = end + 1;
  }
  return out;
}

std::string LayeredConfig::Source(const std::string& key) const { return impl_->At(key).source; }

std::string LayeredConfig::Describe() const {
  std::string out;
  for (const auto& [key, entry] : impl_->entries) {
    if (!out.empty()) out.push_back(' ');
    out += key;
    out.push_back('=');
    out += (entry.spec.secret && !entry.value.empty()) ? "***" : entry.value;
  }
  return out;
}

void LayeredConfig::Set(const std::string& key, const std::string& value) {
  auto& entry = impl_->At(key);
  entry.value = value;
  entry.source = "set";
}

}  // namespace common
