#pragma once
// hookd's configuration as its command line and environment would build it, for the unit tests.
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/error.hpp"
#include "hookd/config.hpp"
#include "support/fake_env.hpp"

namespace hookdtest {

inline hookd::Config BuildConfig(std::vector<std::string> args,
                                 std::map<std::string, std::string> env = {}) {
  CLI::App app;
  common::LayeredConfig settings(hookd::HookdSettings());
  settings.Bind(app);
  args.insert(args.begin(), "hookd");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), argv.data());
  settings.Resolve(testsupport::FakeEnv(std::move(env)), "");
  return hookd::BuildConfig(settings);
}

// The message of the configuration error, or "" when the configuration is valid.
inline std::string ConfigError(std::vector<std::string> args,
                               std::map<std::string, std::string> env = {}) {
  try {
    BuildConfig(std::move(args), std::move(env));
  } catch (const common::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace hookdtest
