// The one HTTP(S) client (Beast + OpenSSL). See http_client.hpp.
//
// Each Connection owns an io_context; a call runs the asynchronous Beast operations on it from the
// calling thread (io_context::run), which gives us tcp_stream timeouts and cancellation from other
// threads (HttpCancel posts a close) while keeping the API blocking.
#include "common/http_client.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <cctype>
#include <deque>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include "common/asio.hpp"  // first: the one way Asio comes in

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url/parse.hpp>
#include <fmt/format.h>

#include "common/error.hpp"

namespace common {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;  // path prefix without trailing slash
};

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
  if (e.host.empty()) throw Error(ErrorCode::kInvalidArgument, fmt::format("invalid URL \"{}\"", url));
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

// A kept-alive connection with its own io_context.
struct Connection {
  net::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;
  beast::flat_buffer buffer;

  beast::tcp_stream& Lowest() { return secure ? beast::get_lowest_layer(*secure) : *plain; }
  void Close() {
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
void WithStream(Connection& c, Fn&& fn) {
  if (c.secure) {
    fn(*c.secure);
  } else {
    fn(*c.plain);
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------------

void HttpCancel::Cancel() {
  std::lock_guard lock(mutex_);  // abort_ only posts, so calling it under the lock is fine
  cancelled_ = true;
  if (abort_) abort_();
}

bool HttpCancel::Cancelled() const {
  std::lock_guard lock(mutex_);
  return cancelled_;
}

void HttpCancel::Attach(std::function<void()> abort) {
  std::lock_guard lock(mutex_);
  abort_ = std::move(abort);
}

void HttpCancel::Detach() {
  std::lock_guard lock(mutex_);
  abort_ = nullptr;
}

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& h : headers) {
    if (IEquals(h.name, name)) return h.value;
  }
  return "";
}

std::string UrlEncode(std::string_view text) {
  std::string out;
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(ch);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------

struct HttpClient::Impl {
  HttpClientOptions options;
  Endpoint endpoint;
  std::string verify_name;
  std::optional<ssl::context> tls;
  std::mutex mutex;
  std::deque<std::unique_ptr<Connection>> idle;

  explicit Impl(HttpClientOptions o) : options(std::move(o)), endpoint(ParseBaseUrl(options.base_url)) {
    verify_name = options.tls_server_name.empty() ? endpoint.host : options.tls_server_name;
    if (endpoint.tls) SetUpTls();
  }

  void SetUpTls() {
    tls.emplace(ssl::context::tls_client);
    tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    if (options.insecure_skip_tls_verify) {
      tls->set_verify_mode(ssl::verify_none);
    } else {
      tls->set_verify_mode(ssl::verify_peer);
      if (options.ca_pem.empty()) {
        tls->set_default_verify_paths(ec);
        if (ec) throw Error(ErrorCode::kInvalidArgument, "cannot load system CA certificates: " + ec.message());
      } else {
        tls->add_certificate_authority(net::buffer(options.ca_pem), ec);
        if (ec) throw Error(ErrorCode::kInvalidArgument, "invalid CA data: " + ec.message());
      }
    }
    if (!options.client_cert_pem.empty()) {
      tls->use_certificate_chain(net::buffer(options.client_cert_pem), ec);
      if (ec) throw Error(ErrorCode::kInvalidArgument, "invalid client certificate: " + ec.message());
      tls->use_private_key(net::buffer(options.client_key_pem), ssl::context::pem, ec);
      if (ec) throw Error(ErrorCode::kInvalidArgument, "invalid client key: " + ec.message());
    }
  }

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

  std::unique_ptr<Connection> TakeIdle() {
    std::lock_guard lock(mutex);
    if (idle.empty()) return nullptr;
    auto c = std::move(idle.back());
    idle.pop_back();
    return c;
  }

  void GiveBack(std::unique_ptr<Connection> c) {
    std::lock_guard lock(mutex);
    if (idle.size() < options.max_idle_connections) idle.push_back(std::move(c));
  }

  std::unique_ptr<Connection> Connect(const HttpRequest& r) {
    auto c = std::make_unique<Connection>();
    tcp::resolver resolver(c->ioc);
    boost::system::error_code ec;
    auto results = resolver.resolve(endpoint.host, endpoint.port, ec);
    if (ec) Fail(r, ec, "resolve");
    c->plain.emplace(c->ioc);
    c->plain->expires_after(options.connect_timeout);
    c->plain->async_connect(results, [&ec](const boost::system::error_code& e, const tcp::endpoint&) {
      ec = e;
    });
    c->Run();
    if (ec) Fail(r, ec, "connect");
    c->plain->socket().set_option(tcp::no_delay(true), ec);
    if (!endpoint.tls) return c;

    c->secure.emplace(std::move(*c->plain), *tls);
    c->plain.reset();
    SSL* native = c->secure->native_handle();
    // SSL_set_tlsext_host_name is a macro with a C cast; call the control function directly.
    if (!IsIpAddress(verify_name) &&
        SSL_ctrl(native, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                 const_cast<char*>(verify_name.c_str())) != 1) {
      throw Error(ErrorCode::kUnavailable, OpenSslError("cannot set TLS server name"));
    }
    if (!options.insecure_skip_tls_verify) {
      c->secure->set_verify_callback(ssl::host_name_verification(verify_name));
    }
    beast::get_lowest_layer(*c->secure).expires_after(options.connect_timeout);
    c->secure->async_handshake(ssl::stream_base::client,
                               [&ec](const boost::system::error_code& e) { ec = e; });
    c->Run();
    if (ec && ec != beast::error::timeout) {
      // Certificate problems are not worth retrying.
      throw Error(ErrorCode::kFailedPrecondition,
                  fmt::format("{} {}: TLS handshake: {}", r.method, Url(r), ec.message()));
    }
    if (ec) Fail(r, ec, "TLS handshake");
    return c;
  }

  http::request<http::string_body> Build(const HttpRequest& r) const {
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

  // Runs one asynchronous Beast operation on the connection's stream with a timeout:
  // `op(stream, buffer, handler)` starts it. Returns its error.
  template <class Op>
  static boost::system::error_code RunOp(Connection& c, std::chrono::milliseconds timeout, Op&& op) {
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
  static boost::system::error_code Write(Connection& c, http::request<http::string_body>& req,
                                         std::chrono::milliseconds timeout) {
    return RunOp(c, timeout, [&req](auto& stream, auto&, auto handler) {
      http::async_write(stream, req, std::move(handler));
    });
  }

  static void AttachCancel(HttpCancel* cancel, Connection& c) {
    if (cancel == nullptr) return;
    Connection* raw = &c;
    cancel->Attach([raw] { net::post(raw->ioc, [raw] { raw->Close(); }); });
  }

  // Detaches the cancel handle when an attempt ends, however it ends.
  struct CancelScope {
    HttpCancel* cancel;
    ~CancelScope() {
      if (cancel != nullptr) cancel->Detach();
    }
  };

  // One attempt of Send/Stream up to the written request: a pooled connection on the first
  // attempt, else a new one, with `cancel` attached. nullptr when writing to a pooled connection
  // failed (a stale keep-alive connection: the caller tries again on a new one).
  std::unique_ptr<Connection> OpenAndWrite(const HttpRequest& r, http::request<http::string_body>& req,
                                           std::chrono::milliseconds timeout, HttpCancel* cancel,
                                           int attempt, bool& reused) {
    auto c = attempt == 0 ? TakeIdle() : nullptr;
    reused = c != nullptr;
    if (!c) c = Connect(r);
    AttachCancel(cancel, *c);
    if (cancel != nullptr && cancel->Cancelled()) {
      throw Error(ErrorCode::kUnavailable, fmt::format("{} {}: cancelled", r.method, Url(r)));
    }
    auto ec = Write(*c, req, timeout);
    if (ec && reused) return nullptr;
    if (ec) Fail(r, ec, "write");
    return c;
  }

  static HttpResponse ToResponse(const http::response_header<>& h) {
    HttpResponse out;
    out.status = static_cast<int>(h.result_int());
    for (const auto& field : h) {
      out.headers.push_back({std::string(field.name_string()), std::string(field.value())});
    }
    return out;
  }

  HttpResponse Send(const HttpRequest& r, HttpCancel* cancel) {
    auto timeout = r.timeout.value_or(options.request_timeout);
    auto req = Build(r);
    for (int attempt = 0;; ++attempt) {
      CancelScope scope{cancel};
      bool reused = false;
      auto c = OpenAndWrite(r, req, timeout, cancel, attempt, reused);
      if (!c) continue;  // stale keep-alive connection
      http::response<http::string_body> res;
      http::response_parser<http::string_body> parser;
      parser.body_limit(boost::none);
      auto ec = RunOp(*c, timeout, [&parser](auto& stream, auto& buffer, auto handler) {
        http::async_read(stream, buffer, parser, std::move(handler));
      });
      if (ec && reused && parser.got_some() == false &&
          (ec == http::error::end_of_stream || ec == net::error::connection_reset ||
           ec == net::error::eof)) {
        continue;
      }
      if (ec) Fail(r, ec, "read");
      res = parser.release();
      HttpResponse out = ToResponse(res.base());
      out.body = std::move(res.body());
      if (cancel != nullptr) cancel->Detach();
      if (res.keep_alive()) GiveBack(std::move(c));
      return out;
    }
  }

  HttpResponse Stream(const HttpRequest& r, const std::function<bool(const HttpResponse&)>& on_headers,
                      const std::function<bool(std::string_view)>& on_data, HttpCancel* cancel) {
    auto timeout = r.timeout.value_or(options.request_timeout);
    auto req = Build(r);
    for (int attempt = 0;; ++attempt) {
      CancelScope scope{cancel};
      bool reused = false;
      auto c = OpenAndWrite(r, req, timeout, cancel, attempt, reused);
      if (!c) continue;  // stale keep-alive connection
      http::response_parser<http::buffer_body> parser;
      parser.body_limit(boost::none);
      auto ec = RunOp(*c, timeout, [&parser](auto& stream, auto& buffer, auto handler) {
        http::async_read_header(stream, buffer, parser, std::move(handler));
      });
      if (ec && reused && !parser.got_some()) continue;
      if (ec) Fail(r, ec, "read");
      HttpResponse out = ToResponse(parser.get().base());
      if (on_headers && !on_headers(out)) return out;  // connection dropped
      std::vector<char> chunk(16 * 1024);
      while (!parser.is_done()) {
        parser.get().body().data = chunk.data();
        parser.get().body().size = chunk.size();
        ec = RunOp(*c, timeout, [&parser](auto& stream, auto& buffer, auto handler) {
          http::async_read_some(stream, buffer, parser, std::move(handler));
        });
        if (ec == http::error::need_buffer) ec = {};
        std::size_t n = chunk.size() - parser.get().body().size;
        if (n > 0 && !on_data(std::string_view(chunk.data(), n))) return out;
        if (ec) {
          if (cancel != nullptr && cancel->Cancelled()) return out;
          Fail(r, ec, "read");
        }
      }
      if (cancel != nullptr) cancel->Detach();
      if (parser.get().keep_alive()) GiveBack(std::move(c));
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
