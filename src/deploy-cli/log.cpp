#include "deploy-cli/log.hpp"

#include <fmt/format.h>

namespace deploy_cli {

void Logger::Log(LogLevel level, std::string_view message) {
  if (quiet_ && level != LogLevel::kError) return;
  if (level == LogLevel::kDebug) return;
  if (terminal_) {
    EraseProgress();
    switch (level) {
      case LogLevel::kError:
        out_ << "error: " << message << '\n';
        break;
      case LogLevel::kWarn:
        out_ << "warning: " << message << '\n';
        break;
      default:
        out_ << message << '\n';
        break;
    }
    DrawProgress();
    out_.flush();
    return;
  }
  if (actions_) {
    const std::string now = common::FormatRfc3339Nano(clock_.Now());
    switch (level) {
      case LogLevel::kError:
        out_ << "::error::" << message << '\n';
        break;
      case LogLevel::kWarn:
        out_ << "::warn::" << message << '\n';
        break;
      default:
        out_ << '[' << now << "] " << message << '\n';
        break;
    }
  } else {
    const char* name = level == LogLevel::kError  ? "error"
                       : level == LogLevel::kWarn ? "warning"
                                                  : "info";
    out_ << common::FormatLogLine(common::LogFormat::kText, clock_.Now(), name, message, fields_);
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
