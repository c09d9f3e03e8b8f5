#pragma once
// One HTTP request and its answer as the endpoints see them: no sockets, no Beast types. The
// server (http/server.hpp) converts from and to the wire.
#include <map>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace hookd::http
