#include "hookd/dispatch/notifier.hpp"

#include <deque>
#include <utility>

#include <poll.h>
#include <pqxx/pqxx>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "hookd/store/store.hpp"

namespace hookd::dispatch {
namespace {

constexpr auto kReconnectInterval = std::chrono::seconds(1);

// Collects notifications; they are handled after get_notifs() returns, in arrival order.
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const std::string& channel,
           std::deque<std::pair<std::string, std::string>>& inbox)
      : pqxx::notification_receiver(conn, channel), inbox_(inbox) {}
  void operator()(const std::string& payload, int /*backend_pid*/) override {
    inbox_.emplace_back(channel(), payload);
  }

 private:
  std::deque<std::pair<std::string, std::string>>& inbox_;
};

}  // namespace

Notifier::Notifier(std::string url, Dispatcher& dispatcher, std::string origin)
    : url_(std::move(url)), dispatcher_(dispatcher), origin_(std::move(origin)) {}

Notifier::~Notifier() { Stop(); }

void Notifier::Start(std::chrono::milliseconds wait) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { Run(); });
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, wait, [this] { return listening_.load() || stopping_; });
}

void Notifier::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  std::uint64_t one = 1;
  if (write(wake_fd_, &one, sizeof one) < 0) spdlog::debug("notifier wake failed");
  thread_.join();
  close(wake_fd_);
  wake_fd_ = -1;
}

bool Notifier::WaitStopping(std::chrono::milliseconds d) {
  std::unique_lock lock(mutex_);
  return changed_.wait_for(lock, d, [this] { return stopping_; });
}

void Notifier::Handle(const std::string& channel, const std::string& payload) {
  const auto bar = payload.find('|');
  if (bar == std::string::npos) return;
  if (payload.compare(0, bar, origin_) == 0) return;  // our own
  const std::string rest = payload.substr(bar + 1);
  if (channel == store::Store::kQueueChannel) {
    dispatcher_.Clusters().Wake(rest);
    return;
  }
  if (channel == store::Store::kStatusChannel) {
    const auto second = rest.find('|');
    if (second == std::string::npos) return;
    const auto third = rest.find('|', second + 1);
    const std::string deployment = rest.substr(0, second);
    const std::string status = rest.substr(
        second + 1, third == std::string::npos ? std::string::npos : third - second - 1);
    if (third != std::string::npos)
      dispatcher_.ObserveRemoteState(deployment, rest.substr(third + 1));
    dispatcher_.PublishStored(deployment, status);
    return;
  }
  if (channel == store::Store::kClusterChannel) {
    const auto second = rest.find('|');
    if (second == std::string::npos) return;
    long long micros = 0;
    try {
      micros = std::stoll(rest.substr(0, second));
    } catch (const std::exception&) {
      return;
    }
    const auto third = rest.find('|', second + 1);
    const std::string cluster = rest.substr(
        second + 1, third == std::string::npos ? std::string::npos : third - second - 1);
    const std::string credential = third == std::string::npos ? "" : rest.substr(third + 1);
    if (dispatcher_.Clusters().ReplaceOlderThan(
            cluster,
            common::SystemTime(std::chrono::duration_cast<common::SystemTime::duration>(
                std::chrono::microseconds(micros))),
            credential)) {
      spdlog::info("deployd for cluster {} connected to another replica; ended the stream here",
                   cluster);
    }
  }
}

void Notifier::Run() {
  bool first = true;
  while (!WaitStopping(first ? std::chrono::milliseconds(0) : kReconnectInterval)) {
    first = false;
    try {
      pqxx::connection conn(url_);
      std::deque<std::pair<std::string, std::string>> inbox;
      Receiver queue(conn, store::Store::kQueueChannel, inbox);
      Receiver status(conn, store::Store::kStatusChannel, inbox);
      Receiver cluster(conn, store::Store::kClusterChannel, inbox);
      conn.get_notifs();  // LISTEN is sent lazily by some libpqxx versions; make sure it ran
      {
        std::lock_guard lock(mutex_);
        listening_ = true;
      }
      changed_.notify_all();
      spdlog::info("listening for notifications of other hookd replicas");
      // Anything that happened while we were not listening is picked up now.
      dispatcher_.Resync();
      for (;;) {
        pollfd fds[2] = {{conn.sock(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
        const int ready = poll(fds, 2, 1000);
        if (ready < 0 && errno != EINTR) break;
        {
          std::lock_guard lock(mutex_);
          if (stopping_) break;
        }
        conn.get_notifs();
        if (!conn.is_open()) throw pqxx::broken_connection("notification connection closed");
        while (!inbox.empty()) {
          auto [channel, payload] = std::move(inbox.front());
          inbox.pop_front();
          try {
            Handle(channel, payload);
          } catch (const std::exception& e) {
            spdlog::warn("handling notification {} {}: {}", channel, payload, e.what());
          }
        }
      }
      listening_ = false;
    } catch (const std::exception& e) {
      if (listening_) {
        spdlog::warn("notification connection lost: {}", e.what());
      } else {
        spdlog::debug("notification connection: {}", e.what());
      }
      listening_ = false;
    }
  }
  listening_ = false;
}

}  // namespace hookd::dispatch
