#pragma once
// A cap on threads that wait for rollouts, and the one place they are started. Only the blocking
// front end of the runner uses it (RunDeployment over a blocking TeamCluster gives every wait a
// thread of its own); deployd's engine waits in coroutines and starts no thread per wait.
//
// A wait takes all its slots at once before its first thread starts and gives them back when its
// last thread has ended, so the threads waiting for rollouts never exceed the capacity, and a wait
// never holds slots while it waits for more (no deadlock). Waits are served first come, first
// served.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

namespace deployd::agent {

class ThreadBudget {
 public:
  // `capacity` >= 1 threads may run at once.
  explicit ThreadBudget(int capacity);
  ThreadBudget(const ThreadBudget&) = delete;
  ThreadBudget& operator=(const ThreadBudget&) = delete;

  // Slots held; given back when the lease is destroyed (on any thread).
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();
    int Count() const { return count_; }

   private:
    friend class ThreadBudget;
    Lease(ThreadBudget* budget, int count) : budget_(budget), count_(count) {}
    ThreadBudget* budget_ = nullptr;
    int count_ = 0;
  };

  // Waits until `count` slots are free (more than the capacity counts as the whole capacity;
  // 0 is granted at once), in the order the requests came. nullopt when `deadline` passes first
  // or after Shutdown().
  std::optional<Lease> Acquire(int count, std::chrono::system_clock::time_point deadline);
  // Ends every waiting Acquire (and every later one) with nullopt. Leases stay valid.
  void Shutdown();

  bool ShuttingDown() const;
  // Requests waiting in Acquire now.
  int Waiting() const;
  int Capacity() const { return capacity_; }
  int InUse() const;
  // The most slots that were ever in use at once.
  int PeakInUse() const;

 private:
  void Release(int count);
  void AdvanceLocked();

  const int capacity_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int in_use_ = 0;
  int peak_ = 0;
  int waiting_ = 0;
  bool shutdown_ = false;
  std::uint64_t next_ticket_ = 0;
  std::uint64_t serving_ = 0;          // the ticket whose turn it is
  std::set<std::uint64_t> abandoned_;  // tickets that gave up before their turn
};

// std::thread(fn), from one place, so that tests can make thread creation fail the way a full
// PID cgroup does. Throws std::system_error (EAGAIN: "Resource temporarily unavailable") when
// the system refuses; the caller turns that into an error status, never into std::terminate.
std::thread StartThread(std::function<void()> fn);

// Starts `fn` into `threads` without a window in which a started thread could be dropped
// unjoined: the vector grows before the thread starts. Throws as StartThread (or bad_alloc).
void StartThreadInto(std::vector<std::thread>& threads, std::function<void()> fn);

// Test hook: the next `successes` thread starts work, every later one fails with EAGAIN until
// the hook is called again; -1 turns failures off.
void FailThreadStartsAfterForTest(int successes);

}  // namespace deployd::agent
