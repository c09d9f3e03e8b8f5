#pragma once
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "hookd/http/handlers.hpp"

namespace hookd::http {

// Beast HTTP/1.1 server: one coroutine per connection on a small io_context; handlers run on
// their own blocking pool. Bodies over `max_body` get 413; idle connections time out.
class Server {
 public:
  Server(Handlers& handlers, Metrics& metrics, std::string address, std::size_t max_body);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and starts serving; returns the port. Throws common::Error{kUnavailable}.
  int Start();
  // Stops accepting, lets in-flight requests finish up to `grace`, then closes everything.
  void Stop(std::chrono::milliseconds grace);
  // Requests being answered now (released on every path: answer, error, closed connection).
  int InFlight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hookd::http
