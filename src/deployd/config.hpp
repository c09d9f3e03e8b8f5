#pragma once
// deployd's settings (the original's plus our additions) and their translation to AgentOptions.
#include <string>
#include <vector>

#include "common/config.hpp"
#include "deployd/agent/agent.hpp"

namespace deployd {

std::vector<common::SettingSpec> Settings();

// Validates and converts. Throws common::Error{kInvalidArgument}, e.g.
// `authenticated gRPC calls enabled, but --hookd-key is not specified`.
agent::AgentOptions ToAgentOptions(const common::LayeredConfig& config,
                                   const common::EnvLookup& env, common::SystemTime startup_time);

// The original reads an optional deployd.{yaml,json} from "." or "/etc"; explicit --config wins.
std::string FindConfigFile(const std::string& explicit_path);

}  // namespace deployd
