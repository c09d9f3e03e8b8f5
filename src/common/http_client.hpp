#pragma once
// The one HTTP(S) client of the project (Beast + OpenSSL), used by deployd's Kubernetes client and
// by the CLI. Blocking API: every call runs on the calling thread, on a connection that it owns
// for the duration of the call (each connection has its own io_context), so the client is safe to
// share between threads. Idle connections are kept alive in a small pool and reused.
// An async/coroutine front end can later wrap the same Connection type.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace common {

struct HttpClientOptions {
  // Scheme, host and port: "https://127.0.0.1:6443" or "http://localhost:8080". A path prefix
  // ("https://host/prefix") is prepended to every request target.
  std::string base_url;
  // TLS (https only). Verification is on unless insecure_skip_tls_verify.
  std::string ca_pem;           // trusted CAs in PEM; empty = the system's default CA paths
  std::string client_cert_pem;  // client certificate chain (PEM), optional
  std::string client_key_pem;   // its private key (PEM), required with client_cert_pem
  std::string tls_server_name;  // SNI and name to verify; default = host of base_url
  bool insecure_skip_tls_verify = false;
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(10)};
  // Whole-request deadline for Send(); idle (between reads) deadline for Stream().
  std::chrono::milliseconds request_timeout{std::chrono::seconds(30)};
  std::size_t max_idle_connections = 8;
  std::string user_agent = "deploy";
  // Largest response body Send() reads; a larger one (announced or as it arrives) fails with
  // kFailedPrecondition (`<METHOD> <url>: response body is larger than the limit of <N> bytes`)
  // instead of growing without bound. Callers that expect small answers set a smaller one.
  // Stream() hands the body over in 16 KiB pieces and keeps none of it, so it is limited only
  // when HttpRequest::max_response_body is set.
  static constexpr std::size_t kDefaultMaxResponseBody = std::size_t{64} * 1024 * 1024;
  std::size_t max_response_body = kDefaultMaxResponseBody;
};

struct HttpHeader {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, e.g. "/api/v1/namespaces?watch=1"
  std::vector<HttpHeader> headers;
  std::string body;
  std::optional<std::chrono::milliseconds> timeout;  // overrides options.request_timeout
  std::optional<std::size_t> max_response_body;      // overrides options.max_response_body
};

struct HttpResponse {
  int status = 0;
  std::vector<HttpHeader> headers;
  std::string body;  // empty for Stream()
  // First value of the header (case-insensitive name), or "" when absent.
  std::string Header(std::string_view name) const;
};

// Lets another thread abort a running Stream() or Send(). One handle may serve a sequence of
// calls (a watch loop); once cancelled it stays cancelled. Cancel() may be called at any time,
// from any thread, as often as wanted, also while a call is finishing: a call detaches from the
// handle before it lets go of its connection, and Detach waits for a running Cancel().
class HttpCancel {
 public:
  void Cancel();
  bool Cancelled() const;

 private:
  friend class HttpClient;
  friend class AsyncHttpClient;
  // Makes Cancel() call `abort` (under the handle's lock) until Detach(id). Returns the id.
  std::uint64_t Attach(std::function<void()> abort);
  // Removes the abort attached as `id` (if still attached). When Detach returns, that abort is
  // not running and never runs again.
  void Detach(std::uint64_t id);
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  std::uint64_t next_id_ = 0;
  std::uint64_t attached_id_ = 0;
  std::function<void()> abort_;
};

// Transport failures throw common::Error: kDeadlineExceeded for timeouts (`<METHOD> <url>:
// timeout`), kFailedPrecondition for TLS handshake failures (`<METHOD> <url>: TLS handshake:
// <reason>`, e.g. certificate verify failed) and for bodies over the limit (`<METHOD> <url>:
// response body is larger than the limit of <N> bytes`), kUnavailable for everything else
// (`<METHOD> <url>: <stage>: <reason>`, `<METHOD> <url>: cancelled`), kInvalidArgument for bad
// options (`invalid URL "<x>"`, `invalid CA data: ...`) and for requests that could smuggle
// another header or request onto the wire, refused before anything is sent, whatever the
// caller passed (values are shown escaped, credentials not at all):
//   `invalid HTTP method "<m>": must be a token (letters, digits and !#$%&'*+-.^_`|~)`
//   `invalid HTTP request target "<t>": must not contain spaces, CR, LF, NUL or other control
//    characters`
//   `invalid HTTP header name "<n>": must be a token (letters, digits and !#$%&'*+-.^_`|~)`
//   `invalid value for HTTP header "<name>": must not contain CR, LF, NUL or other control
//    characters (got "<escaped value>")`
// HTTP error statuses are *not* exceptions.
class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  HttpResponse Send(const HttpRequest& request, HttpCancel* cancel = nullptr);

  // Sends the request and hands the body to on_data as it arrives (chunked transfer is decoded).
  // on_headers is called once with the status and headers before any data; returning false from
  // either callback ends the call early (the connection is then closed, not reused).
  // Returns the response with an empty body.
  HttpResponse Stream(const HttpRequest& request,
                      const std::function<bool(const HttpResponse&)>& on_headers,
                      const std::function<bool(std::string_view)>& on_data,
                      HttpCancel* cancel = nullptr);

  const HttpClientOptions& Options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a query parameter value (RFC 3986 unreserved characters kept).
std::string UrlEncode(std::string_view text);

}  // namespace common
