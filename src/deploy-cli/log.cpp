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
    EraseProgress();
    switch (level) {
      case LogLevel::kError: out_ << "error: " << message << '\n'; break;
      case LogLevel::kWarn: out_ << "warning: " << message << '\n'; break;
      default: out_ << message << '\n'; break;
    }
    DrawProgress();
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

void Logger::EraseProgress() {
  if (progress_.empty()) return;
  out_ << '\r';
  for (std::size_t i = 1; i < progress_.size(); ++i) out_ << "\033[1A";
  out_ << "\033[J";
}

void Logger::DrawProgress() {
  for (std::size_t i = 0; i < progress_.size(); ++i) {
    if (i > 0) out_ << '\n';
    out_ << progress_[i];
  }
}

void Logger::Progress(const std::vector<std::string>& lines) {
  if (!terminal_ || quiet_) return;
  EraseProgress();
  progress_ = lines;
  DrawProgress();
  out_.flush();
}

}  // namespace deploy_cli
