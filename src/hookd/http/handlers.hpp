#pragma once
#include <cstddef>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "hookd/config.hpp"
#include "hookd/dispatch/dispatcher.hpp"

namespace hookd::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without query string, trailing '/' stripped (chi StripSlashes)
  std::map<std::string, std::string> query;
  std::map<std::string, std::string> headers;  // names lower case
  std::string body;
};

struct Response {
  int status = 200;
  std::string content_type;  // empty: no Content-Type header
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Prometheus metrics kept by the HTTP layer (text exposition format).
class Metrics {
 public:
  void ObserveRequest(const std::string& method, const std::string& path, int code,
                      double seconds);
  std::string Render(const std::vector<std::string>& connected_clusters) const;

 private:
  struct Histogram {
    std::vector<std::uint64_t> buckets;
    double sum = 0;
    std::uint64_t count = 0;
  };
  mutable std::mutex mutex_;
  std::map<std::string, std::uint64_t> requests_;  // label set -> count
  std::map<std::string, Histogram> durations_;
};

// Every HTTP endpoint. Blocking (database): the server runs it on worker threads.
class Handlers {
 public:
  Handlers(const Config& config, dispatch::Dispatcher& dispatcher, Metrics& metrics);
  Response Handle(const Request& request);

 private:
  Response Deploy(const Request& request);
  Response Status(const Request& request);
  Response Logs(const Request& request);
  Response Ready();
  Response Provision(const Request& request, bool apikey_only);
  Response ConsoleApiKey(const Request& request, const std::string& team);

  const Config& config_;
  dispatch::Dispatcher& dispatcher_;
  Metrics& metrics_;
};

// URL query string -> map (percent-decoding, '+' as space).
std::map<std::string, std::string> ParseQuery(const std::string& query);
std::string HtmlEscape(const std::string& text);

}  // namespace hookd::http
