#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace common {

using SystemTime = std::chrono::system_clock::time_point;

// Go time.RFC3339 in UTC: "2006-01-02T15:04:05Z" (sub-seconds dropped).
std::string FormatRfc3339(SystemTime t);
// Go time.RFC3339Nano in UTC: "2006-01-02T15:04:05.999999999Z" (trailing zeros of the fraction
// dropped, no fraction when zero).
std::string FormatRfc3339Nano(SystemTime t);
// Parses RFC 3339 with optional fraction (up to 9 digits) and "Z" or "+hh:mm"/"-hh:mm" offsets.
// nullopt when malformed.
std::optional<SystemTime> ParseRfc3339(std::string_view text);

// Go time.ParseDuration syntax: "300ms", "-1.5h", "2h45m", "1us", "1µs", "0". nullopt if bad.
std::optional<std::chrono::nanoseconds> ParseGoDuration(std::string_view text);
// Go Duration.String(): "10m0s", "1.5s", "100ms", "0s".
std::string FormatGoDuration(std::chrono::nanoseconds d);

// Time source; inject a fake in tests.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SystemTime Now() const = 0;
};
class SystemClock final : public Clock {
 public:
  SystemTime Now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace common
