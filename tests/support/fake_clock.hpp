#pragma once
// The tests' one fake wall clock: starts at a fixed instant and moves only when told.
#include <chrono>

#include "common/time.hpp"

namespace testsupport {

class FakeClock : public common::Clock {
 public:
  FakeClock() = default;
  explicit FakeClock(common::SystemTime start) : now(start) {}
  common::SystemTime Now() const override { return now; }
  void Advance(std::chrono::nanoseconds d) {
    now += std::chrono::duration_cast<common::SystemTime::duration>(d);
  }
  common::SystemTime now = common::SystemTime(std::chrono::seconds(1'800'000'000));
};

}  // namespace testsupport
