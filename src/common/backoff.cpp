#include "common/backoff.hpp"

namespace common {

std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap) noexcept {
  if (base.count() <= 0) return std::chrono::milliseconds(0);
  if (cap < base) return cap.count() < 0 ? std::chrono::milliseconds(0) : cap;
  if (attempt < 0) attempt = 0;
  auto delay = base.count();
  for (int i = 0; i < attempt; ++i) {
    if (delay >= cap.count() / 2) return cap;  // doubling would reach or exceed the cap
    delay *= 2;
  }
  return std::chrono::milliseconds(delay < cap.count() ? delay : cap.count());
}

std::chrono::milliseconds WithJitter(std::chrono::milliseconds delay,
                                     std::uint64_t random) noexcept {
  if (delay.count() <= 0) return std::chrono::milliseconds(0);
  const auto d = static_cast<std::uint64_t>(delay.count());
  const std::uint64_t low = d / 2;
  const std::uint64_t span = d - low + 1;  // values in [low, d]
  return std::chrono::milliseconds(static_cast<std::int64_t>(low + random % span));
}

}  // namespace common
