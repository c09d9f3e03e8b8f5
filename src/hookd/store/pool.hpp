#pragma once
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace common {
class Timers;
}

namespace hookd::store {

// A small pool of Postgres connections. libpqxx connections are not thread-safe, so each call
// borrows one exclusively. Broken connections are dropped and re-opened on the next use, so hookd
// recovers by itself when Postgres comes back. Call only from worker threads (it blocks).
class ConnectionPool {
 public:
  // `timers` (default: the system's) times the wait for a free connection.
  ConnectionPool(std::string url, std::size_t size,
                 std::chrono::milliseconds acquire_timeout = std::chrono::seconds(10),
                 const common::Timers* timers = nullptr);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs `work` with a borrowed connection. Connection failures (Postgres down, connection lost)
  // are thrown as common::Error{kUnavailable}; other exceptions pass through unchanged.
  void With(const std::function<void(pqxx::connection&)>& work);

  const std::string& Url() const { return url_; }

  // Called after every With(): whether it succeeded and how long it took (metrics).
  // Set before the pool is used.
  void SetObserver(std::function<void(bool ok, double seconds)> observer) {
    observer_ = std::move(observer);
  }

 private:
  std::string url_;
  std::chrono::milliseconds acquire_timeout_;
  const common::Timers& timers_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  std::size_t free_slots_;
  std::function<void(bool ok, double seconds)> observer_;
};

// Thrown by ConnectWithRetry when SIGINT/SIGTERM arrives while it waits between attempts.
struct ShutdownRequested : std::exception {
  const char* what() const noexcept override { return "shutdown requested"; }
};

// Connects to `url`, retrying every `interval` until `timeout` has passed.
// Throws common::Error{kUnavailable} with the last connection error on timeout. Between attempts
// it waits for SIGINT/SIGTERM (which main() blocks in every thread) and throws
// ShutdownRequested when one arrives, so an operator can stop a hookd that waits for its
// database.
std::unique_ptr<pqxx::connection> ConnectWithRetry(const std::string& url,
                                                   std::chrono::nanoseconds timeout,
                                                   std::chrono::nanoseconds interval);

}  // namespace hookd::store
