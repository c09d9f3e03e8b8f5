#pragma once
// Rules of accepting a deployment that the transports check before they hand it to the
// dispatcher (dispatcher.hpp), kept free of storage types.
#include <algorithm>
#include <chrono>
#include <string>

namespace hookd::dispatch {

// What an idempotency key may be: its rule, as error messages say it.
inline constexpr const char* kIdempotencyKeyRule =
    "1 to 128 characters of letters, digits, '-', '_', '.' and ':'";

inline bool IsValidIdempotencyKey(const std::string& key) {
  if (key.empty() || key.size() > 128) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == ':';
  });
}

// Queue deadline for requests without one (the original's HTTP API used now + 30 min).
inline constexpr std::chrono::minutes kDefaultDeadline{30};

}  // namespace hookd::dispatch
