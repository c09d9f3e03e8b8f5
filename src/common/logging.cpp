#include "common/logging.hpp"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>

#include "common/error.hpp"
#include "common/names.hpp"

namespace common {
namespace {

// The fields of the line being logged on this thread: LogWith sets them around one synchronous
// spdlog call, whose sink formats on the calling thread.
thread_local const LogFields* current_fields = nullptr;

// Level names as logrus prints them.
std::string_view LevelName(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warning";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "fatal";
    case spdlog::level::off:
    case spdlog::level::n_levels:
      break;
  }
  return "info";
}

std::optional<spdlog::level::level_enum> ParseLevel(std::string level) {
  std::transform(level.begin(), level.end(), level.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn" || level == "warning") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  if (level == "fatal" || level == "panic") return spdlog::level::critical;
  return std::nullopt;
}

// Non-empty fields sorted by key (stable for equal keys), clashing names prefixed as logrus does.
LogFields Prepared(const LogFields& fields) {
  LogFields out;
  for (const auto& [key, value] : fields) {
    if (value.empty()) continue;
    const bool clashes = key == "time" || key == "level" || key == "msg";
    out.emplace_back(clashes ? "fields." + key : key, value);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

class Formatter final : public spdlog::formatter {
 public:
  explicit Formatter(LogFormat format) : format_(format) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    static const LogFields kNone;
    const std::string line = FormatLogLine(format_, msg.time, LevelName(msg.level),
                                           std::string_view(msg.payload.data(), msg.payload.size()),
                                           current_fields != nullptr ? *current_fields : kNone);
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<Formatter>(format_);
  }

 private:
  LogFormat format_;
};

}  // namespace

std::string LogrusValue(std::string_view value) {
  const bool plain = !value.empty() && std::all_of(value.begin(), value.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '/' || c == '@' || c == '^' || c == '+';
  });
  if (plain) return std::string(value);
  std::string out = "\"";
  AppendEscaped(out, value, false);
  out.push_back('"');
  return out;
}

LogFields DeploymentFields(std::string_view id, std::string_view team, std::string_view cluster) {
  return {{"correlation_id", std::string(id)},
          {"delivery_id", std::string(id)},
          {"team", std::string(team)},
          {"cluster", std::string(cluster)}};
}

std::string FormatLogLine(LogFormat format, SystemTime time, std::string_view level,
                          std::string_view message, const LogFields& fields) {
  const LogFields prepared = Prepared(fields);
  if (format == LogFormat::kJson) {
    nlohmann::ordered_json j;
    j["time"] = FormatRfc3339Nano(time);
    j["level"] = level;
    j["msg"] = message;
    for (const auto& [key, value] : prepared) j[key] = value;
    std::string line = j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    line.push_back('\n');
    return line;
  }
  std::string line = "time=";
  line += LogrusValue(FormatRfc3339Nano(time));
  line += " level=";
  line += level;
  line += " msg=";
  line += LogrusValue(message);
  for (const auto& [key, value] : prepared) {
    line.push_back(' ');
    line += key;
    line.push_back('=');
    line += LogrusValue(value);
  }
  line.push_back('\n');
  return line;
}

namespace detail {
void LogWithFields(spdlog::level::level_enum level, const LogFields& fields,
                   std::string_view message) {
  const LogFields* const previous = current_fields;
  current_fields = &fields;
  try {
    spdlog::default_logger_raw()->log(level, spdlog::string_view_t(message.data(), message.size()));
  } catch (...) {
    current_fields = previous;
    throw;
  }
  current_fields = previous;
}
}  // namespace detail

void SetupLogging(const std::string& format, const std::string& level, const std::string& name) {
  std::unique_ptr<spdlog::formatter> formatter;
  if (format == "text") {
    formatter = std::make_unique<Formatter>(LogFormat::kText);
  } else if (format == "json") {
    formatter = std::make_unique<Formatter>(LogFormat::kJson);
  } else {
    throw Error(ErrorCode::kInvalidArgument, "unknown log format \"" + format + "\"");
  }
  const auto parsed = ParseLevel(level);
  if (!parsed) throw Error(ErrorCode::kInvalidArgument, "unknown log level \"" + level + "\"");

  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  sink->set_formatter(std::move(formatter));
  auto logger = std::make_shared<spdlog::logger>(name, std::move(sink));
  logger->set_level(*parsed);
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

}  // namespace common
