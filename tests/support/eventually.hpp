#pragma once
// Waiting for another process or thread: polls `condition` every 20 ms until it holds. `limit` is
// a guard against a hung test, not a timing: how soon the condition comes true is up to the
// machine, so it is generous.
#include <chrono>
#include <thread>

namespace testsupport {

template <class F>
bool Eventually(F condition, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

}  // namespace testsupport
