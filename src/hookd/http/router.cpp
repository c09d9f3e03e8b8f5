#include "hookd/http/router.hpp"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "hookd/http/endpoint_util.hpp"

namespace hookd::http {
namespace {

std::vector<std::string> Split(const std::string& path) {
  std::vector<std::string> out;
  std::size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

bool IsRest(const std::string& segment) {
  return IsParam(segment) && segment.size() > 5 &&
         segment.compare(segment.size() - 4, 4, "...}") == 0;
}

}  // namespace

void Router::Add(const std::string& pattern, std::vector<std::string> methods, Endpoint endpoint) {
  routes_.push_back(Route{Split(pattern), std::move(methods), std::move(endpoint)});
}

void Router::AddFilter(const std::string& prefix, Filter filter) {
  filters_.emplace_back(prefix, std::move(filter));
}

std::optional<PathParams> Router::Match(const Route& route, const std::string& path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  PathParams params;
  std::size_t pos = 1;
  for (std::size_t i = 0; i < route.segments.size(); ++i) {
    const std::string& segment = route.segments[i];
    if (pos > path.size()) return std::nullopt;
    if (IsRest(segment) && i + 1 == route.segments.size()) {
      if (pos == path.size()) return std::nullopt;
      params[segment.substr(1, segment.size() - 5)] = path.substr(pos);
      return params;
    }
    auto end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    const std::string part = path.substr(pos, end - pos);
    if (IsParam(segment)) {
      if (part.empty()) return std::nullopt;
      params[segment.substr(1, segment.size() - 2)] = part;
    } else if (part != segment) {
      return std::nullopt;
    }
    pos = end + 1;
  }
  if (pos <= path.size()) return std::nullopt;  // more path than pattern
  return params;
}

Response Router::Dispatch(const Request& request) const {
  for (const auto& [prefix, filter] : filters_) {
    if (request.path.rfind(prefix, 0) != 0) continue;
    if (auto answer = filter(request)) return *answer;
  }
  std::vector<std::string> allowed;
  for (const auto& route : routes_) {
    auto params = Match(route, request.path);
    if (!params) continue;
    if (route.methods.empty() || std::find(route.methods.begin(), route.methods.end(),
                                           request.method) != route.methods.end()) {
      return route.endpoint(request, *params);
    }
    for (const auto& m : route.methods) {
      if (std::find(allowed.begin(), allowed.end(), m) == allowed.end()) allowed.push_back(m);
    }
  }
  if (!allowed.empty()) return MethodNotAllowed(allowed);
  if (fallback_) {
    if (auto answer = fallback_(request)) return *answer;
  }
  return Text(404, "404 page not found\n");
}

Response Router::Handle(const Request& request) const noexcept {
  try {
    try {
      return Dispatch(request);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unexpected error: {}", request.method, request.path, e.what());
    } catch (...) {
      spdlog::error("{} {}: unexpected error", request.method, request.path);
    }
  } catch (...) {  // logging failed too (out of memory): still an answer
  }
  return Response{500, "text/plain; charset=utf-8", "internal server error\n", {}};
}

}  // namespace hookd::http
