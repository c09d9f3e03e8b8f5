#pragma once
// Method + path -> endpoint, and the one error boundary of every endpoint.
//
// A pattern is a path of segments: a literal segment, `{name}` (one non-empty segment) or, as the
// last segment only, `{name...}` (the non-empty rest of the path, slashes included). Routes are
// tried in the order they were added; the first whose pattern matches answers. A path that a
// route matches with another method gets 405 with `Allow`; a path no route matches goes to the
// fallback, else 404 `404 page not found`.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hookd/http/message.hpp"

namespace hookd::http {

// The values of a route's `{name}` segments.
using PathParams = std::map<std::string, std::string>;
using Endpoint = std::function<Response(const Request&, const PathParams&)>;
// Answers or declines (nullopt: go on).
using Filter = std::function<std::optional<Response>(const Request&)>;

class Router {
 public:
  // `methods` empty: any method.
  void Add(const std::string& pattern, std::vector<std::string> methods, Endpoint endpoint);
  // Runs before routing for every path that starts with `prefix`; an answer ends the request.
  void AddFilter(const std::string& prefix, Filter filter);
  // Asked for paths no route matches.
  void SetFallback(Filter fallback) { fallback_ = std::move(fallback); }

  // The answer to `request`. Never throws: whatever an endpoint throws is logged (method, path
  // and the exception's message; never headers or the body) and answered
  // 500 `internal server error`.
  Response Handle(const Request& request) const noexcept;

 private:
  struct Route {
    std::vector<std::string> segments;
    std::vector<std::string> methods;
    Endpoint endpoint;
  };
  static std::optional<PathParams> Match(const Route& route, const std::string& path);
  Response Dispatch(const Request& request) const;

  std::vector<Route> routes_;
  std::vector<std::pair<std::string, Filter>> filters_;
  Filter fallback_;
};

}  // namespace hookd::http
