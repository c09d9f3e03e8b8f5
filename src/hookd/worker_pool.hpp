#pragma once
#include <cstddef>
#include <functional>
#include <memory>

namespace hookd {

// A fixed set of threads for blocking work (Postgres calls). gRPC reactions and I/O handlers
// post work here instead of blocking their own threads.
class WorkerPool {
 public:
  explicit WorkerPool(std::size_t threads);
  ~WorkerPool();  // joins (after running the work already posted)
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `work` on a pool thread. Exceptions escaping `work` are logged and swallowed.
  void Post(std::function<void()> work);
  // Stops accepting work and waits for the threads to finish what was posted.
  void Join();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hookd
