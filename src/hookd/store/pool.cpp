#include "hookd/store/pool.hpp"

#include <csignal>
#include <ctime>
#include <thread>

#include <pqxx/pqxx>
#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/timers.hpp"

namespace hookd::store {

ConnectionPool::ConnectionPool(std::string url, std::size_t size,
                               std::chrono::milliseconds acquire_timeout,
                               const common::Timers* timers)
    : url_(std::move(url)),
      acquire_timeout_(acquire_timeout),
      timers_(timers != nullptr ? *timers : common::RealTimers()),
      free_slots_(size) {}

ConnectionPool::~ConnectionPool() = default;

void ConnectionPool::With(const std::function<void(pqxx::connection&)>& work) {
  std::unique_ptr<pqxx::connection> conn;
  {
    std::unique_lock lock(mutex_);
    if (!timers_.BlockFor(available_, lock, acquire_timeout_, [this] { return free_slots_ > 0; })) {
      throw common::Error(common::ErrorCode::kUnavailable,
                          "database is busy: no connection became free in time");
    }
    --free_slots_;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  // Give the slot back on every path; keep the connection only when it is still usable.
  auto release = [this, &conn] {
    std::lock_guard lock(mutex_);
    if (conn && conn->is_open()) idle_.push_back(std::move(conn));
    ++free_slots_;
    available_.notify_one();
  };
  const auto started = std::chrono::steady_clock::now();
  auto observe = [this, started](bool ok) {
    if (observer_) {
      observer_(ok,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    }
  };
  try {
    if (!conn || !conn->is_open()) conn = std::make_unique<pqxx::connection>(url_);
    work(*conn);
  } catch (const pqxx::broken_connection& e) {
    conn.reset();
    release();
    observe(false);
    std::string text = e.what();
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    throw common::Error(common::ErrorCode::kUnavailable, "database connection failed: " + text);
  } catch (const pqxx::sql_error& e) {
    // The server going away mid-session surfaces as an SQL error (e.g. 57P01 "terminating
    // connection due to administrator command"); such a connection is not reused.
    const bool lost = !conn || !conn->is_open() || e.sqlstate().rfind("57P", 0) == 0 ||
                      e.sqlstate().rfind("08", 0) == 0;
    if (lost) conn.reset();
    release();
    observe(false);
    if (lost) {
      std::string text = e.what();
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      throw common::Error(common::ErrorCode::kUnavailable, "database connection failed: " + text);
    }
    throw;
  } catch (...) {
    if (conn && !conn->is_open()) conn.reset();
    release();
    observe(false);
    throw;
  }
  release();
  observe(true);
}

std::unique_ptr<pqxx::connection> ConnectWithRetry(const std::string& url,
                                                   std::chrono::nanoseconds timeout,
                                                   std::chrono::nanoseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    try {
      return std::make_unique<pqxx::connection>(url);
    } catch (const std::exception& e) {
      std::string error = e.what();
      while (!error.empty() && (error.back() == '\n' || error.back() == ' ')) error.pop_back();
      if (std::chrono::steady_clock::now() + interval > deadline) {
        throw common::Error(common::ErrorCode::kUnavailable,
                            "unable to connect to database: " + error);
      }
      spdlog::warn("unable to connect to database: {}; retrying in {} ms", error,
                   std::chrono::duration_cast<std::chrono::milliseconds>(interval).count());
      sigset_t signals;
      sigemptyset(&signals);
      sigaddset(&signals, SIGINT);
      sigaddset(&signals, SIGTERM);
      const auto ns = interval.count();
      timespec wait{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
      if (sigtimedwait(&signals, nullptr, &wait) > 0) throw ShutdownRequested();
    }
  }
}

}  // namespace hookd::store
