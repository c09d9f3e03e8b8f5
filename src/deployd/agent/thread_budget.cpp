#include "deployd/agent/thread_budget.hpp"

#include <algorithm>
#include <atomic>
#include <system_error>
#include <utility>

namespace deployd::agent {
namespace {

std::atomic<int> g_starts_before_failure{-1};  // -1: never fail (test hook)

}  // namespace

ThreadBudget::ThreadBudget(int capacity) : capacity_(std::max(1, capacity)) {}

ThreadBudget::Lease::Lease(Lease&& other) noexcept
    : budget_(std::exchange(other.budget_, nullptr)), count_(std::exchange(other.count_, 0)) {}

ThreadBudget::Lease& ThreadBudget::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (budget_ != nullptr) budget_->Release(count_);
    budget_ = std::exchange(other.budget_, nullptr);
    count_ = std::exchange(other.count_, 0);
  }
  return *this;
}

ThreadBudget::Lease::~Lease() {
  if (budget_ != nullptr) budget_->Release(count_);
}

std::optional<ThreadBudget::Lease> ThreadBudget::Acquire(
    int count, std::chrono::system_clock::time_point deadline) {
  count = std::clamp(count, 0, capacity_);
  std::unique_lock lock(mutex_);
  if (shutdown_) return std::nullopt;
  if (count == 0) return Lease(this, 0);
  const std::uint64_t ticket = next_ticket_++;
  ++waiting_;
  const bool granted = changed_.wait_until(lock, deadline, [&] {
    return shutdown_ || (serving_ == ticket && in_use_ + count <= capacity_);
  });
  --waiting_;
  if (!granted || shutdown_) {
    // Give up our place in the queue; whoever is behind us may go now.
    if (serving_ == ticket) {
      AdvanceLocked();
    } else {
      abandoned_.insert(ticket);
    }
    changed_.notify_all();
    return std::nullopt;
  }
  in_use_ += count;
  peak_ = std::max(peak_, in_use_);
  AdvanceLocked();
  changed_.notify_all();
  return Lease(this, count);
}

void ThreadBudget::AdvanceLocked() {
  ++serving_;
  while (abandoned_.erase(serving_) > 0) ++serving_;
}

void ThreadBudget::Release(int count) {
  std::lock_guard lock(mutex_);
  in_use_ -= count;
  changed_.notify_all();
}

void ThreadBudget::Shutdown() {
  std::lock_guard lock(mutex_);
  shutdown_ = true;
  changed_.notify_all();
}

bool ThreadBudget::ShuttingDown() const {
  std::lock_guard lock(mutex_);
  return shutdown_;
}

int ThreadBudget::Waiting() const {
  std::lock_guard lock(mutex_);
  return waiting_;
}

int ThreadBudget::InUse() const {
  std::lock_guard lock(mutex_);
  return in_use_;
}

int ThreadBudget::PeakInUse() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

std::thread StartThread(std::function<void()> fn) {
  int left = g_starts_before_failure.load();
  while (left >= 0) {
    if (left == 0)
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    if (g_starts_before_failure.compare_exchange_weak(left, left - 1)) break;
  }
  return std::thread(std::move(fn));
}

void StartThreadInto(std::vector<std::thread>& threads, std::function<void()> fn) {
  // Grow first (may throw, before anything runs); push_back then cannot reallocate, so it cannot
  // throw with a started thread in hand.
  if (threads.size() == threads.capacity())
    threads.reserve(std::max<std::size_t>(8, 2 * threads.size()));
  threads.push_back(StartThread(std::move(fn)));
}

void FailThreadStartsAfterForTest(int successes) { g_starts_before_failure.store(successes); }

}  // namespace deployd::agent
