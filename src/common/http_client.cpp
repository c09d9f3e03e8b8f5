// The one HTTP(S) client (Beast + OpenSSL). See http_client.hpp.
//
// Each SyncConnection owns an io_context; a call runs the asynchronous Beast operations on it from
// the calling thread (io_context::run), which gives us tcp_stream timeouts and cancellation from
// other threads (HttpCancel posts a close) while keeping the API blocking.
#include "common/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <deque>

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

#include "common/asio.hpp"  // the one way Asio comes in
#include "common/error.hpp"
#include "common/http_detail.hpp"
#include "common/names.hpp"

namespace common {
namespace {

using namespace http_detail::names;  // NOLINT(google-build-using-namespace)

}  // namespace

namespace http_detail {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

Endpoint ParseBaseUrl(const std::string& url) {
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) throw Error(ErrorCode::kInvalidArgument, fmt::format("invalid URL \"{}\"", url));
  Endpoint e;
  std::string scheme(parsed->scheme());
  if (scheme == "https") {
    e.tls = true;
  } else if (scheme != "http") {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("invalid URL \"{}\": scheme must be http or https", url));
  }
  e.host = std::string(parsed->host_address());
  if (e.host.empty())
    throw Error(ErrorCode::kInvalidArgument, fmt::format("invalid URL \"{}\"", url));
  e.port = parsed->has_port() ? std::string(parsed->port()) : (e.tls ? "443" : "80");
  e.prefix = std::string(parsed->encoded_path());
  while (!e.prefix.empty() && e.prefix.back() == '/') e.prefix.pop_back();
  return e;
}

bool IsIpAddress(const std::string& host) {
  boost::system::error_code ec;
  net::ip::make_address(host, ec);
  return !ec;
}

std::string OpenSslError(const char* what) {
  unsigned long code = ERR_get_error();  // NOLINT(google-runtime-int): OpenSSL type
  char buffer[256] = {};
  if (code != 0) ERR_error_string_n(code, buffer, sizeof(buffer));
  return fmt::format("{}: {}", what, code != 0 ? buffer : "unknown error");
}

}  // namespace http_detail

namespace {

using http_detail::CheckHeader;
using http_detail::CheckRequestHead;
using http_detail::Endpoint;
using http_detail::IEquals;
using http_detail::IsIpAddress;
using http_detail::OpenSslError;
using http_detail::ParseBaseUrl;

// A kept-alive connection with its own io_context.
struct SyncConnection {
  net::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  beast::tcp_stream& Lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  // Runs on the connection's own thread (posted by HttpCancel), between or during operations.
  void Close() {
    if (!secure && !plain) return;
    boost::system::error_code ec;
    Lowest().socket().close(ec);
  }
  // Runs queued operations to completion (tcp_stream timeouts end them when they overrun).
  void Run() {
    ioc.restart();
    ioc.run();
  }
};

template <class Fn>
void WithStream(SyncConnection& c, Fn&& fn) {
  if (c.secure) {
    fn(*c.secure);
  } else {
    fn(*c.plain);
  }
}

}  // namespace

namespace http_detail {

// ---- what may reach the wire ----------------------------------------------------------------
// Everything the caller passes ends up in the request head verbatim. A CR or LF there ends the
// line early and lets the rest become another header (or another request), a NUL truncates it
// in some servers: refuse them before connecting, whoever the caller is.

namespace {

constexpr std::string_view kTokenRule = "must be a token (letters, digits and !#$%&'*+-.^_`|~)";

bool IsTokenChar(char ch) {
  const auto c = static_cast<unsigned char>(ch);
  if (std::isalnum(c) != 0 && c < 0x80) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

bool IsToken(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), IsTokenChar);
}

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// Header values: visible characters, spaces, tabs and obs-text; no CR, LF, NUL or other controls.
bool IsSafeFieldValue(std::string_view value) {
  return std::none_of(value.begin(), value.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return IsControl(c) && c != '\t';
  });
}

// Request targets: no spaces (they end the request line's target) and no controls.
bool IsSafeTarget(std::string_view target) {
  return std::none_of(target.begin(), target.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return IsControl(c) || c == ' ';
  });
}

// Credentials are not repeated in error messages, not even escaped.
bool IsSecretHeader(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  for (std::string_view word : {"auth", "cookie", "token", "secret", "key", "psk", "signature"}) {
    if (lower.find(word) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

void CheckHeader(std::string_view name, std::string_view value) {
  if (!IsToken(name)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("invalid HTTP header name {}: {}", Quote(name), kTokenRule));
  }
  if (!IsSafeFieldValue(value)) {
    throw Error(
        ErrorCode::kInvalidArgument,
        fmt::format("invalid value for HTTP header {}: must not contain CR, LF, NUL or "
                    "other control characters (got {})",
                    Quote(name), IsSecretHeader(name) ? "a value not shown here" : Quote(value)));
  }
}

void CheckRequestHead(std::string_view method, std::string_view target) {
  if (!IsToken(method)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("invalid HTTP method {}: {}", Quote(method), kTokenRule));
  }
  if (!IsSafeTarget(target)) {
    throw Error(ErrorCode::kInvalidArgument,
                fmt::format("invalid HTTP request target {}: must not contain spaces, CR, LF, NUL "
                            "or other control characters",
                            Quote(target)));
  }
}

net::ssl::context MakeTlsContext(const HttpClientOptions& options) {
  ssl::context tls(ssl::context::tls_client);
  tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                  ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (options.insecure_skip_tls_verify) {
    tls.set_verify_mode(ssl::verify_none);
  } else {
    tls.set_verify_mode(ssl::verify_peer);
    if (options.ca_pem.empty()) {
      tls.set_default_verify_paths(ec);
      if (ec)
        throw Error(ErrorCode::kInvalidArgument,
                    "cannot load system CA certificates: " + ec.message());
    } else {
      tls.add_certificate_authority(net::buffer(options.ca_pem), ec);
      if (ec) throw Error(ErrorCode::kInvalidArgument, "invalid CA data: " + ec.message());
    }
  }
  if (!options.client_cert_pem.empty()) {
    tls.use_certificate_chain(net::buffer(options.client_cert_pem), ec);
    if (ec) throw Error(ErrorCode::kInvalidArgument, "invalid client certificate: " + ec.message());
    tls.use_private_key(net::buffer(options.client_key_pem), ssl::context::pem, ec);
    if (ec) throw Error(ErrorCode::kInvalidArgument, "invalid client key: " + ec.message());
  }
  return tls;
}

bool SetServerName(SSL* native, const std::string& name) {
  // SSL_set_tlsext_host_name is a macro with a C cast; call the control function directly.
  return IsIpAddress(name) ||
         SSL_ctrl(native, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(name.c_str())) == 1;
}

http::request<http::string_body> BuildRequest(const HttpRequest& r,
                                              const HttpClientOptions& options,
                                              const Endpoint& endpoint) {
  CheckRequestHead(r.method, r.target);
  CheckHeader("User-Agent", options.user_agent);
  for (const auto& h : r.headers) CheckHeader(h.name, h.value);
  http::request<http::string_body> req;
  req.method_string(r.method);
  req.target(endpoint.prefix + r.target);
  req.version(11);
  req.set(http::field::host, endpoint.host + ":" + endpoint.port);
  req.set(http::field::user_agent, options.user_agent);
  for (const auto& h : r.headers) req.insert(h.name, h.value);
  req.body() = r.body;
  req.keep_alive(true);
  req.prepare_payload();
  return req;
}

HttpResponse ToResponse(const http::response_header<>& h) {
  HttpResponse out;
  out.status = static_cast<int>(h.result_int());
  for (const auto& field : h) {
    out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  return out;
}

}  // namespace http_detail

// ------------------------------------------------------------------------------------------------

void HttpCancel::Cancel() {
  // abort_ only posts to the call's io_context; running it under the lock is what makes Detach
  // wait for it.
  std::lock_guard lock(mutex_);
  cancelled_ = true;
  if (abort_) abort_();
}

bool HttpCancel::Cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

std::uint64_t HttpCancel::Attach(std::function<void()> abort) {
  std::lock_guard lock(mutex_);
  abort_ = std::move(abort);
  attached_id_ = ++next_id_;
  return attached_id_;
}

void HttpCancel::Detach(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  if (attached_id_ != id) return;  // another call attached since (a handle shared by mistake)
  abort_ = nullptr;
  attached_id_ = 0;
}

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return "";
}

std::string UrlEncode(std::string_view text) {
  boost::urls::encoding_opts opts;
  opts.lower_case = false;  // %2F, as Go's url.QueryEscape and kubectl write it
  return boost::urls::encode(text, boost::urls::unreserved_chars, opts);
}

// ------------------------------------------------------------------------------------------------

struct HttpClient::Impl {
  HttpClientOptions options;
  Endpoint endpoint;
  std::string verify_name;
  std::optional<ssl::context> tls;
  std::mutex mutex;
  std::deque<std::unique_ptr<SyncConnection>> idle;

  explicit Impl(HttpClientOptions o)
      : options(std::move(o)), endpoint(ParseBaseUrl(options.base_url)) {
    verify_name = options.tls_server_name.empty() ? endpoint.host : options.tls_server_name;
    if (endpoint.tls) SetUpTls();
  }

  void SetUpTls() { tls.emplace(http_detail::MakeTlsContext(options)); }

  std::string Url(const HttpRequest& r) const {
    return fmt::format("{}{}", options.base_url, r.target);
  }

  [[noreturn]] void Fail(const HttpRequest& r, const boost::system::error_code& ec,
                         std::string_view stage) const {
    if (ec == beast::error::timeout) {
      throw Error(ErrorCode::kDeadlineExceeded, fmt::format("{} {}: timeout", r.method, Url(r)));
    }
    throw Error(ErrorCode::kUnavailable,
                fmt::format("{} {}: {}: {}", r.method, Url(r), stage, ec.message()));
  }

  std::unique_ptr<SyncConnection> TakeIdle() {
    std::lock_guard lock(mutex);
    if (idle.empty()) return nullptr;
    auto c = std::move(idle.back());
    idle.pop_back();
    return c;
  }

  void GiveBack(std::unique_ptr<SyncConnection> c) {
    std::lock_guard lock(mutex);
    if (idle.size() < options.max_idle_connections) idle.push_back(std::move(c));
  }

  // One attempt of a call: its connection with `cancel` attached to it. The destructor body
  // detaches before the members are destroyed (connection last), so however the attempt ends
  // (return, exception, retry) a concurrent Cancel() has either finished posting to this
  // connection's io_context or will never see it: it never reaches a connection that is gone.
  struct Attempt {
    HttpCancel* cancel = nullptr;
    std::uint64_t attachment = 0;
    bool reused = false;
    std::unique_ptr<SyncConnection> connection;  // declared last: destroyed after the detach

    Attempt() = default;
    Attempt(const Attempt&) = delete;
    Attempt& operator=(const Attempt&) = delete;
    ~Attempt() { Detach(); }

    void Attach(HttpCancel* handle) {
      cancel = handle;
      if (cancel == nullptr) return;
      SyncConnection* raw = connection.get();
      // Runs on the cancelling thread, under the handle's lock: only posts. The close itself
      // runs on the calling thread inside SyncConnection::Run (or never, if the call is over).
      attachment = cancel->Attach([raw] { net::post(raw->ioc, [raw] { raw->Close(); }); });
    }
    void Detach() {
      if (cancel != nullptr && attachment != 0) cancel->Detach(attachment);
      attachment = 0;
    }
    bool Cancelled() const { return cancel != nullptr && cancel->Cancelled(); }
    // Detaches; true when the connection may be reused: a Cancel() that reached it left a close
    // queued on its io_context, which would fire in the middle of the next call.
    bool DetachForReuse() {
      Detach();
      return !Cancelled();
    }
  };

  [[noreturn]] void ThrowCancelled(const HttpRequest& r) const {
    throw Error(ErrorCode::kUnavailable, fmt::format("{} {}: cancelled", r.method, Url(r)));
  }

  [[noreturn]] void FailOrCancelled(const HttpRequest& r, const Attempt& a,
                                    const boost::system::error_code& ec,
                                    std::string_view stage) const {
    if (a.Cancelled()) ThrowCancelled(r);
    Fail(r, ec, stage);
  }

  [[noreturn]] void TooLarge(const HttpRequest& r, std::size_t limit) const {
    throw Error(ErrorCode::kFailedPrecondition,
                fmt::format("{} {}: response body is larger than the limit of {} bytes", r.method,
                            Url(r), limit));
  }

  // A new connection for the attempt, cancellable from the start (resolving excepted).
  void Connect(const HttpRequest& r, Attempt& a, HttpCancel* cancel) {
    a.connection = std::make_unique<SyncConnection>();
    SyncConnection* c = a.connection.get();
    tcp::resolver resolver(c->ioc);
    boost::system::error_code ec;
    auto results = resolver.resolve(endpoint.host, endpoint.port, ec);
    if (ec) Fail(r, ec, "resolve");
    c->plain.emplace(c->ioc);
    a.Attach(cancel);
    if (a.Cancelled()) ThrowCancelled(r);
    c->plain->expires_after(options.connect_timeout);
    c->plain->async_connect(
        results, [&ec](const boost::system::error_code& e, const tcp::endpoint&) { ec = e; });
    c->Run();
    if (ec) FailOrCancelled(r, a, ec, "connect");
    c->plain->socket().set_option(tcp::no_delay(true), ec);
    if (!endpoint.tls) return;

    // Only this thread touches the streams (a posted close runs inside Run), so swapping them
    // here is safe.
    c->secure.emplace(std::move(*c->plain), *tls);
    c->plain.reset();
    if (!http_detail::SetServerName(c->secure->native_handle(), verify_name)) {
      throw Error(ErrorCode::kUnavailable, OpenSslError("cannot set TLS server name"));
    }
    if (!options.insecure_skip_tls_verify) {
      c->secure->set_verify_callback(ssl::host_name_verification(verify_name));
    }
    beast::get_lowest_layer(*c->secure).expires_after(options.connect_timeout);
    c->secure->async_handshake(ssl::stream_base::client,
                               [&ec](const boost::system::error_code& e) { ec = e; });
    c->Run();
    if (ec && a.Cancelled()) ThrowCancelled(r);
    if (ec && ec != beast::error::timeout) {
      // Certificate problems are not worth retrying.
      throw Error(ErrorCode::kFailedPrecondition,
                  fmt::format("{} {}: TLS handshake: {}", r.method, Url(r), ec.message()));
    }
    if (ec) Fail(r, ec, "TLS handshake");
  }

  // Refuses (kInvalidArgument) anything that could end a line of the request head early.
  http::request<http::string_body> Build(const HttpRequest& r) const {
    return http_detail::BuildRequest(r, options, endpoint);
  }

  // Runs one asynchronous Beast operation on the connection's stream with a timeout:
  // `op(stream, buffer, handler)` starts it. Returns its error.
  template <class Op>
  static boost::system::error_code RunOp(SyncConnection& c, std::chrono::milliseconds timeout,
                                         Op&& op) {
    boost::system::error_code ec;
    c.Lowest().expires_after(timeout);
    WithStream(c, [&](auto& stream) {
      op(stream, c.buffer, [&ec](const boost::system::error_code& e, std::size_t) { ec = e; });
    });
    c.Run();
    return ec;
  }

  // Writes the request; returns the error (if any) so that the caller can retry on a stale
  // pooled connection.
  static boost::system::error_code Write(SyncConnection& c, http::request<http::string_body>& req,
                                         std::chrono::milliseconds timeout) {
    return RunOp(c, timeout, [&req](auto& stream, auto&, auto handler) {
      http::async_write(stream, req, std::move(handler));
    });
  }

  // One attempt of Send/Stream up to the written request: a pooled connection on the first
  // attempt, else a new one, with `cancel` attached. false when writing to a pooled connection
  // failed (a stale keep-alive connection: the caller tries again on a new one).
  bool OpenAndWrite(const HttpRequest& r, http::request<http::string_body>& req,
                    std::chrono::milliseconds timeout, HttpCancel* cancel, int attempt,
                    Attempt& a) {
    if (attempt == 0) a.connection = TakeIdle();
    a.reused = a.connection != nullptr;
    if (a.reused) {
      a.Attach(cancel);
    } else {
      Connect(r, a, cancel);
    }
    if (a.Cancelled()) ThrowCancelled(r);
    auto ec = Write(*a.connection, req, timeout);
    if (ec && a.reused && !a.Cancelled()) return false;
    if (ec) FailOrCancelled(r, a, ec, "write");
    return true;
  }

  static HttpResponse ToResponse(const http::response_header<>& h) {
    return http_detail::ToResponse(h);
  }

  HttpResponse Send(const HttpRequest& r, HttpCancel* cancel) {
    auto timeout = r.timeout.value_or(options.request_timeout);
    const std::size_t limit = r.max_response_body.value_or(options.max_response_body);
    auto req = Build(r);
    for (int attempt = 0;; ++attempt) {
      Attempt a;
      if (!OpenAndWrite(r, req, timeout, cancel, attempt, a)) continue;  // stale keep-alive
      http::response_parser<http::string_body> parser;
      parser.body_limit(static_cast<std::uint64_t>(limit));
      auto ec = RunOp(*a.connection, timeout, [&parser](auto& stream, auto& buffer, auto handler) {
        http::async_read(stream, buffer, parser, std::move(handler));
      });
      if (ec && a.reused && !parser.got_some() && !a.Cancelled() &&
          (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
           ec == net::error::eof)) {
        continue;
      }
      if (ec == http::error::body_limit) TooLarge(r, limit);
      if (ec) FailOrCancelled(r, a, ec, "read");
      auto res = parser.release();
      HttpResponse out = ToResponse(res.base());
      out.body = std::move(res.body());
      if (a.DetachForReuse() && res.keep_alive()) GiveBack(std::move(a.connection));
      return out;
    }
  }

  HttpResponse Stream(const HttpRequest& r,
                      const std::function<bool(const HttpResponse&)>& on_headers,
                      const std::function<bool(std::string_view)>& on_data, HttpCancel* cancel) {
    auto timeout = r.timeout.value_or(options.request_timeout);
    auto req = Build(r);
    for (int attempt = 0;; ++attempt) {
      Attempt a;
      if (!OpenAndWrite(r, req, timeout, cancel, attempt, a)) continue;  // stale keep-alive
      http::response_parser<http::buffer_body> parser;
      if (r.max_response_body) {
        parser.body_limit(static_cast<std::uint64_t>(*r.max_response_body));
      } else {
        parser.body_limit(boost::none);  // nothing is kept here: on_data decides
      }
      auto ec = RunOp(*a.connection, timeout, [&parser](auto& stream, auto& buffer, auto handler) {
        http::async_read_header(stream, buffer, parser, std::move(handler));
      });
      if (ec && a.reused && !parser.got_some() && !a.Cancelled()) continue;
      if (ec == http::error::body_limit) TooLarge(r, r.max_response_body.value_or(0));
      if (ec) FailOrCancelled(r, a, ec, "read");
      HttpResponse out = ToResponse(parser.get().base());
      if (on_headers && !on_headers(out)) return out;  // connection dropped
      std::vector<char> chunk(std::size_t{16} * 1024);
      while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        ec = RunOp(*a.connection, timeout, [&parser](auto& stream, auto& buffer, auto handler) {
          http::async_read_some(stream, buffer, parser, std::move(handler));
        });
        if (ec == http::error::need_buffer) ec = {};
        std::size_t n = chunk.size() - parser.get().body().size;
        if (n > 0 && !on_data(std::string_view(chunk.data(), n))) return out;
        if (ec == http::error::body_limit) TooLarge(r, r.max_response_body.value_or(0));
        if (ec) {
          if (a.Cancelled()) return out;
          Fail(r, ec, "read");
        }
      }
      if (a.DetachForReuse() && parser.get().keep_alive()) GiveBack(std::move(a.connection));
      return out;
    }
  }
};

HttpClient::HttpClient(HttpClientOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

HttpResponse HttpClient::Send(const HttpRequest& request, HttpCancel* cancel) {
  return impl_->Send(request, cancel);
}

HttpResponse HttpClient::Stream(const HttpRequest& request,
                                const std::function<bool(const HttpResponse&)>& on_headers,
                                const std::function<bool(std::string_view)>& on_data,
                                HttpCancel* cancel) {
  return impl_->Stream(request, on_headers, on_data, cancel);
}

const HttpClientOptions& HttpClient::Options() const { return impl_->options; }

}  // namespace common
