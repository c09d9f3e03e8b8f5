#include "deploy-cli/log.hpp"

#include <fmt/format.h>

namespace deploy_cli {

std::string LogrusValue(std::string_view value) {
  bool needs_quoting = value.empty();
  for (const char c : value) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '.' || c == '_' || c == '/' || c == '@' || c == '^' ||
                       c == '+';
    if (!plain) {
      needs_quoting = true;
      break;
    }
  }
  if (!needs_quoting) return std::string(value);
  std::string out = "\"";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (u < 0x20 || u == 0x7f) {
          out += fmt::format("\\x{:02x}", u);
        } else {
          out += c;  // printable ASCII and UTF-8 bytes pass through
        }
    }
  }
  out += '"';
  return out;
}

void Logger::Log(LogLevel level, std::string_view message) {
  if (quiet_ && level != LogLevel::kError) return;
  if (level == LogLevel::kDebug) return;
  if (terminal_) {
    if (!progress_.empty()) out_ << "\r\033[K";
    switch (level) {
      case LogLevel::kError: out_ << "error: " << message << '\n'; break;
      case LogLevel::kWarn: out_ << "warning: " << message << '\n'; break;
      default: out_ << message << '\n'; break;
    }
    if (!progress_.empty()) out_ << progress_;
    out_.flush();
    return;
  }
  const std::string now = common::FormatRfc3339Nano(clock_.Now());
  if (actions_) {
    switch (level) {
      case LogLevel::kError: out_ << "::error::" << message << '\n'; break;
      case LogLevel::kWarn: out_ << "::warn::" << message << '\n'; break;
      default: out_ << '[' << now << "] " << message << '\n'; break;
    }
  } else {
    const char* name = level == LogLevel::kError  ? "error"
                       : level == LogLevel::kWarn ? "warning"
                                                  : "info";
    out_ << "time=\"" << now << "\" level=" << name << " msg=" << LogrusValue(message) << '\n';
  }
  out_.flush();
}

void Logger::Progress(std::string_view line) {
  if (!terminal_ || quiet_) return;
  out_ << "\r\033[K" << line;
  progress_ = std::string(line);
  out_.flush();
}

}  // namespace deploy_cli
