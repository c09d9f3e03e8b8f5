#pragma once
#include <chrono>
#include <cstdint>

namespace common {

// Capped exponential backoff: base * 2^attempt, at most cap. attempt starts at 0.
std::chrono::milliseconds BackoffDelay(int attempt, std::chrono::milliseconds base,
                                       std::chrono::milliseconds cap) noexcept;
// "Full jitter" variant: uniformly in [delay/2, delay], using `random` in [0, 2^64).
std::chrono::milliseconds WithJitter(std::chrono::milliseconds delay,
                                     std::uint64_t random) noexcept;

}  // namespace common
