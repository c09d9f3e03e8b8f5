#pragma once
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

#include "hookd/dispatch/dispatcher.hpp"

namespace hookd::dispatch {

// Cross-replica delivery through Postgres LISTEN/NOTIFY. A dedicated connection LISTENs on the
// store's queue and status channels: a queue notification wakes the local deployd stream of that
// cluster, a status notification fans the stored status out to local Status subscribers. Own
// notifications (same origin) are skipped. When the connection is lost it reconnects every
// second; after each (re)connect it re-LISTENs and resyncs (wakes every local stream and re-reads
// the statuses of every subscribed deployment), so nothing missed in between is lost.
class Notifier {
 public:
  // `origin`: this process's store::Store::Origin(), whose own notifications are skipped.
  Notifier(std::string url, Dispatcher& dispatcher, std::string origin);
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Starts the listener thread and waits up to `wait` for the first LISTEN to be in place.
  void Start(std::chrono::milliseconds wait = std::chrono::seconds(5));
  void Stop();
  // Whether the LISTEN connection is up.
  bool Listening() const { return listening_; }

  // Handles one notification (public for tests). Blocking (reads the status).
  void Handle(const std::string& channel, const std::string& payload);

 private:
  void Run();
  bool WaitStopping(std::chrono::milliseconds d);

  std::string url_;
  Dispatcher& dispatcher_;
  std::string origin_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable changed_;
  bool stopping_ = false;
  int wake_fd_ = -1;  // eventfd that interrupts poll() on Stop
  std::atomic<bool> listening_{false};
};

}  // namespace hookd::dispatch
