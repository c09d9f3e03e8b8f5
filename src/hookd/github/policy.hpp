#pragma once
// The pure rules of hookd's GitHub work: how an answer of the GitHub API is handled (done, retried
// with backoff, paused for the rate limit, or given up), how long to wait, and how a status is
// written. No I/O, no clock of their own: tests call them with fixed times.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/time.hpp"

namespace hookd::github {

// The parts of a GitHub API response that decide what happens next.
struct Answer {
  int status = 0;                   // HTTP status; 0 when no response arrived (transport error)
  std::string retry_after;          // Retry-After (seconds)
  std::string ratelimit_remaining;  // X-RateLimit-Remaining
  std::string ratelimit_reset;      // X-RateLimit-Reset (Unix seconds)
};

enum class Verdict {
  kDone,          // 2xx
  kRetry,         // no response, 408, 5xx: again after a backoff
  kRateLimited,   // 403/429 for the rate limit: again at Decision::until, not counted as a failure
  kUnauthorized,  // 401: the installation token is no longer accepted; get a new one and retry
  kRejected,      // any other answer: GitHub will not accept this request; give it up
};

struct Decision {
  Verdict verdict = Verdict::kDone;
  common::SystemTime until{};  // kRateLimited: not before this time
};

// No pause is longer than this, whatever the headers say (GitHub's reset is at most an hour away).
inline constexpr std::chrono::hours kMaxPause{1};
// A 429 without Retry-After or reset: GitHub asks to wait at least a minute.
inline constexpr std::chrono::seconds kDefaultRateLimitPause{60};

// When the answer says the rate limit is used up: `Retry-After: <seconds>` (secondary limits) or
// `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset: <Unix seconds>` (primary limit), on any
// status (a 201 can spend the last request). nullopt when neither applies. At most now + kMaxPause.
std::optional<common::SystemTime> RateLimitedUntil(const Answer& answer, common::SystemTime now);

Decision Classify(const Answer& answer, common::SystemTime now);

// Delay before retry number `attempts + 1`: base * 2^attempts capped at `cap`, jittered into
// [delay/2, delay] with `random` (uniform in [0, 2^64)).
std::chrono::milliseconds RetryDelay(int attempts, std::chrono::milliseconds base,
                                     std::chrono::milliseconds cap, std::uint64_t random) noexcept;

// GitHub's limit for a deployment status description (bytes).
inline constexpr std::size_t kMaxDescriptionBytes = 140;
// The longest prefix of `text` of at most `max_bytes` bytes that does not end inside a UTF-8
// character (a sequence cut at the limit is dropped whole).
std::string TruncateUtf8(std::string_view text, std::size_t max_bytes);

// GitHub account names (letters, digits, '-', at most 39) and repository names (letters, digits,
// '-', '_', '.', at most 100, not "." or ".."): only such names are put into API paths.
bool ValidOwner(std::string_view owner) noexcept;
bool ValidRepository(std::string_view name) noexcept;

// The status's log_url: hookd's deployment page, as the HTTP API's logURL plus the cluster
// (`<base>/logs?delivery_id=<id>&ts=<created, Unix seconds>&v=1&cluster=<cluster>`).
std::string LogUrl(const std::string& base_url, const std::string& deployment_id,
                   common::SystemTime created, const std::string& cluster);

}  // namespace hookd::github
