#include "hookd/github/policy.hpp"

#include <charconv>

#include "common/backoff.hpp"
#include "common/http_client.hpp"

namespace hookd::github {
namespace {

std::optional<long long> Integer(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  long long value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

bool IsAlnum(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

std::optional<common::SystemTime> RateLimitedUntil(const Answer& answer, common::SystemTime now) {
  std::optional<common::SystemTime> until;
  if (auto seconds = Integer(answer.retry_after)) {
    until = now + std::chrono::seconds(std::min<long long>(*seconds, 3600LL * 24));
  } else if (Integer(answer.ratelimit_remaining) == 0LL) {
    if (auto reset = Integer(answer.ratelimit_reset)) {
      until = common::SystemTime(std::chrono::seconds(std::min<long long>(*reset, 1LL << 40)));
      if (*until < now) until = now;
    } else {
      until = now + kDefaultRateLimitPause;
    }
  }
  if (until && *until > now + kMaxPause) until = now + kMaxPause;
  return until;
}

Decision Classify(const Answer& answer, common::SystemTime now) {
  const int status = answer.status;
  if (status >= 200 && status < 300) return {Verdict::kDone, {}};
  if (status == 0 || status == 408 || (status >= 500 && status < 600)) return {Verdict::kRetry, {}};
  if (status == 401) return {Verdict::kUnauthorized, {}};
  if (status == 403 || status == 429) {
    if (auto until = RateLimitedUntil(answer, now)) return {Verdict::kRateLimited, *until};
    if (status == 429) return {Verdict::kRateLimited, now + kDefaultRateLimitPause};
  }
  return {Verdict::kRejected, {}};
}

std::chrono::milliseconds RetryDelay(int attempts, std::chrono::milliseconds base,
                                     std::chrono::milliseconds cap, std::uint64_t random) noexcept {
  return common::WithJitter(common::BackoffDelay(attempts, base, cap), random);
}

std::string TruncateUtf8(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t cut = max_bytes;
  // text[cut] is the first byte left out; while it continues a character, that character
  // started before the cut and is dropped whole (at most 3 continuation bytes in UTF-8).
  for (int i = 0; i < 3 && cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U;
       ++i) {
    --cut;
  }
  if ((static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) cut = max_bytes;  // not UTF-8
  return std::string(text.substr(0, cut));
}

bool ValidOwner(std::string_view owner) noexcept {
  if (owner.empty() || owner.size() > 39) return false;
  for (char c : owner) {
    if (!IsAlnum(c) && c != '-') return false;
  }
  return true;
}

bool ValidRepository(std::string_view name) noexcept {
  if (name.empty() || name.size() > 100 || name == "." || name == "..") return false;
  for (char c : name) {
    if (!IsAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

std::string LogUrl(const std::string& base_url, const std::string& deployment_id,
                   common::SystemTime created, const std::string& cluster) {
  const auto ts =
      std::chrono::duration_cast<std::chrono::seconds>(created.time_since_epoch()).count();
  return base_url + "/logs?delivery_id=" + common::UrlEncode(deployment_id) +
         "&ts=" + std::to_string(ts) + "&v=1&cluster=" + common::UrlEncode(cluster);
}

}  // namespace hookd::github
