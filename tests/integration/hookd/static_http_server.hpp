#pragma once
// A tiny HTTP/1.1 server for tests: answers every request with a fixed status and body (e.g. a
// JWKS document) and counts the requests. One connection at a time; `Connection: close`.
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace hookdtest {

class StaticHttpServer {
 public:
  explicit StaticHttpServer(std::string body, int status = 200)
      : body_(std::move(body)), status_(status) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 16) != 0) {
      throw std::runtime_error("StaticHttpServer: bind/listen failed");
    }
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~StaticHttpServer() {
    stopping_ = true;
    thread_.join();
    close(fd_);
  }
  std::string Url(const std::string& path = "/.well-known/jwks") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int Requests() const { return requests_; }
  void Set(std::string body, int status) {
    std::lock_guard lock(mutex_);
    body_ = std::move(body);
    status_ = status;
  }

 private:
  void Loop() {
    while (!stopping_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int client = accept(fd_, nullptr, nullptr);
      if (client < 0) continue;
      std::string request;
      char buffer[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        pollfd c{client, POLLIN, 0};
        if (poll(&c, 1, 2000) <= 0) break;
        auto n = read(client, buffer, sizeof buffer);
        if (n <= 0) break;
        request.append(buffer, static_cast<std::size_t>(n));
      }
      ++requests_;
      std::string response;
      {
        std::lock_guard lock(mutex_);
        response = "HTTP/1.1 " + std::to_string(status_) +
                   " X\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                   std::to_string(body_.size()) + "\r\n\r\n" + body_;
      }
      std::size_t sent = 0;
      while (sent < response.size()) {
        auto n = write(client, response.data() + sent, response.size() - sent);
        if (n <= 0) break;
        sent += static_cast<std::size_t>(n);
      }
      close(client);
    }
  }

  std::mutex mutex_;
  std::string body_;
  int status_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

}  // namespace hookdtest
