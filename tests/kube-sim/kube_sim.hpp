#pragma once
// kube-sim: an imitation of kube-apiserver for tests and the demo.
//
// Layout: http_server.cpp (Beast transport, thread per connection), tls.cpp (generated CA and
// server certificate), registry.cpp (served types, discovery, OpenAPI), api.cpp (auth, RBAC,
// impersonation, objects, watch, control API), fields.cpp (managedFields / server-side apply),
// controllers.cpp (simulated Deployment/Job/naiserator controllers).
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kubesim {

using Json = nlohmann::json;

// ---- transport-neutral HTTP ------------------------------------------------------------------

struct HttpRequest {
  std::string method;
  std::string target;  // raw request target (path?query)
  std::string path;    // percent-decoded path
  std::string raw_query;
  std::vector<std::pair<std::string, std::string>> query;    // decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;

  std::string Header(std::string_view name) const;  // first value or ""
  std::vector<std::string> Headers(std::string_view name) const;
  bool HasQuery(std::string_view name) const;
  std::string Query(std::string_view name) const;  // first value or ""
};

// Receives the chunks of a streamed (watch) response.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // false when the client is gone.
  virtual bool Write(std::string_view data) = 0;
  // true when the peer closed the connection (checked without blocking).
  virtual bool PeerClosed() = 0;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the response is sent with Transfer-Encoding: chunked and `stream` produces the
  // body; `body` is ignored.
  std::function<void(StreamSink&)> stream;

  void SetHeader(const std::string& name, const std::string& value);
};

using Handler = std::function<HttpResponse(HttpRequest&)>;

// ---- TLS material ----------------------------------------------------------------------------

struct TlsMaterial {
  std::string ca_cert_pem;
  std::string server_cert_pem;
  std::string server_key_pem;
};
// A fresh CA and a server certificate for 127.0.0.1/localhost signed by it.
TlsMaterial GenerateTlsMaterial();

// ---- HTTP server -----------------------------------------------------------------------------

class HttpServer {
 public:
  // tls == nullptr: plain HTTP.
  HttpServer(const std::string& host, int port, const TlsMaterial* tls, Handler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;
  int Port() const;
  // Starts the accept thread.
  void Start();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// ---- the API server --------------------------------------------------------------------------

struct Options {
  std::vector<std::string> teams{"aura"};
  double time_scale = 1.0;            // controller delays are multiplied by this
  std::size_t history_limit = 10000;  // watch event history kept (older RVs give 410)
  double bookmark_interval_seconds = 1.0;
  std::string git_version = "v1.32.4";
  // Controllers run on a clock that only POST /_sim/clock moves (no real-time progress).
  bool manual_clock = false;
  // The cluster CA (PEM): the kube-root-ca.crt ConfigMap of every namespace publishes it.
  std::string ca_pem;
};

struct Identity {
  std::string user;
  std::vector<std::string> groups;
  std::string uid;
  std::map<std::string, std::vector<std::string>> extra;
};

class Api {
 public:
  explicit Api(Options options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Registers a bearer token.
  void AddToken(const std::string& token, Identity identity);
  HttpResponse Handle(HttpRequest& request);
  // Starts the simulated controllers (a background thread).
  void StartControllers();
  // The listener's address: the default/kubernetes Endpoints and EndpointSlice point at it.
  void SetServerAddress(const std::string& host, int port);

  struct State;

 private:
  std::unique_ptr<State> state_;
};

// ---- helpers shared by the translation units ---------------------------------------------------

std::string RandomToken(std::size_t bytes);
std::string NewUid();
std::string NowRfc3339();
// The wall clock that timestamps use: the real one moved on by every POST /_sim/clock advance.
std::chrono::system_clock::time_point SimWallNow();
void AdvanceSimWallClock(std::chrono::nanoseconds by);
std::string FormatRfc3339(std::chrono::system_clock::time_point t);
std::string FormatRfc3339Micro(std::chrono::system_clock::time_point t);
std::string Base64(std::string_view data);
// Standard base64 with padding; throws std::invalid_argument on malformed input.
std::string Unbase64(std::string_view data);
std::string PercentDecode(std::string_view text, bool plus_is_space);
// Multi-document YAML (or JSON) to JSON values.
std::vector<Json> YamlToJson(std::string_view text);

// Writes `content` to `path` atomically (temp file + rename).
void WriteFileAtomically(const std::string& path, const std::string& content);

}  // namespace kubesim
