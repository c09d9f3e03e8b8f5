#include "hookd/worker_pool.hpp"

#include <exception>

#include <spdlog/spdlog.h>

#include "common/asio.hpp"

namespace hookd {

struct WorkerPool::Impl {
  explicit Impl(std::size_t threads) : pool(threads) {}
  common::net::thread_pool pool;
};

WorkerPool::WorkerPool(std::size_t threads) : impl_(std::make_unique<Impl>(threads)) {}

WorkerPool::~WorkerPool() { Join(); }

void WorkerPool::Post(std::function<void()> work) {
  common::net::post(impl_->pool, [work = std::move(work)] {
    try {
      work();
    } catch (const std::exception& e) {
      spdlog::error("background work failed: {}", e.what());
    } catch (...) {
      spdlog::error("background work failed with an unknown exception");
    }
  });
}

void WorkerPool::Join() { impl_->pool.join(); }

}  // namespace hookd
