// HTTP/1.1 transport for kube-sim: one blocking thread per connection (a test server; watches
// hold their thread). TLS through Asio's OpenSSL stream, or plain TCP.
#include <atomic>
#include <thread>

#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <poll.h>
#include <spdlog/spdlog.h>

#include "common/asio.hpp"
#include "kube_sim.hpp"

namespace kubesim {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

namespace {

void SplitTarget(HttpRequest& req) {
  auto q = req.target.find('?');
  std::string raw_path = q == std::string::npos ? req.target : req.target.substr(0, q);
  req.raw_query = q == std::string::npos ? "" : req.target.substr(q + 1);
  req.path = PercentDecode(raw_path, false);
  std::size_t pos = 0;
  const std::string& rq = req.raw_query;
  while (pos < rq.size()) {
    auto amp = rq.find('&', pos);
    if (amp == std::string::npos) amp = rq.size();
    std::string part = rq.substr(pos, amp - pos);
    pos = amp + 1;
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string k = eq == std::string::npos ? part : part.substr(0, eq);
    std::string v = eq == std::string::npos ? "" : part.substr(eq + 1);
    req.query.emplace_back(PercentDecode(k, true), PercentDecode(v, true));
  }
}

template <class Stream>
class Sink final : public StreamSink {
 public:
  Sink(Stream& stream, int fd) : stream_(stream), fd_(fd) {}
  bool Write(std::string_view data) override {
    if (data.empty()) return true;
    beast::error_code ec;
    asio::write(stream_, http::make_chunk(asio::buffer(data.data(), data.size())), ec);
    return !ec;
  }
  bool PeerClosed() override {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    int n = ::poll(&p, 1, 0);
    return n > 0 && (p.revents & (POLLIN | POLLRDHUP | POLLHUP | POLLERR)) != 0;
  }

 private:
  Stream& stream_;
  int fd_;
};

template <class Stream>
void Serve(Stream& stream, int fd, const Handler& handler) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    parser.header_limit(1024 * 1024);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec) return;
    auto& msg = parser.get();
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    for (const auto& field : msg) {
      std::string name(field.name_string());
      for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      req.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    req.body = std::move(msg.body());
    SplitTarget(req);
    bool keep_alive = msg.keep_alive();

    HttpResponse res;
    try {
      res = handler(req);
    } catch (const std::exception& e) {
      spdlog::error("handler failed for {} {}: {}", req.method, req.target, e.what());
      res = HttpResponse{};
      res.status = 500;
      res.SetHeader("Content-Type", "text/plain; charset=utf-8");
      res.body = std::string("Internal Server Error: \"") + req.target + "\": " + e.what() + "\n";
    }

    if (res.stream) {
      http::response<http::empty_body> head{static_cast<http::status>(res.status), 11};
      for (const auto& [k, v] : res.headers) head.insert(k, v);
      head.chunked(true);
      head.keep_alive(keep_alive);
      http::response_serializer<http::empty_body> sr{head};
      http::write_header(stream, sr, ec);
      if (ec) return;
      Sink<Stream> sink(stream, fd);
      res.stream(sink);
      asio::write(stream, http::make_chunk_last(), ec);
      if (ec || !keep_alive) return;
      continue;
    }
    if (req.method == "HEAD") {
      // HEAD: the headers a GET would send (Content-Length included), no body.
      http::response<http::empty_body> head{static_cast<http::status>(res.status), 11};
      for (const auto& [k, v] : res.headers) head.insert(k, v);
      head.content_length(res.body.size());
      head.keep_alive(keep_alive);
      http::response_serializer<http::empty_body> sr{head};
      http::write_header(stream, sr, ec);
      if (ec || !keep_alive) return;
      continue;
    }
    http::response<http::string_body> out{static_cast<http::status>(res.status), 11};
    for (const auto& [k, v] : res.headers) out.insert(k, v);
    out.body() = std::move(res.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    http::write(stream, out, ec);
    if (ec || !keep_alive) return;
  }
}

}  // namespace

struct HttpServer::Impl {
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<ssl::context> tls;
  Handler handler;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};

  void AcceptLoop() {
    for (;;) {
      tcp::socket socket(ioc);
      beast::error_code ec;
      acceptor.accept(socket, ec);
      if (stopping) return;
      if (ec) continue;
      std::thread(&Impl::Session, this, std::move(socket)).detach();
    }
  }

  void Session(tcp::socket socket) {
    beast::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);
    int fd = socket.native_handle();
    try {
      if (tls) {
        ssl::stream<tcp::socket> stream(std::move(socket), *tls);
        stream.handshake(ssl::stream_base::server, ec);
        if (ec) return;
        Serve(stream, fd, handler);
        stream.shutdown(ec);
      } else {
        Serve(socket, fd, handler);
        socket.shutdown(tcp::socket::shutdown_both, ec);
      }
    } catch (const std::exception& e) {
      spdlog::debug("connection ended: {}", e.what());
    }
  }
};

HttpServer::HttpServer(const std::string& host, int port, const TlsMaterial* tls, Handler handler)
    : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  tcp::endpoint ep(asio::ip::make_address(host), static_cast<unsigned short>(port));
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen(128);
  if (tls != nullptr) {
    impl_->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
    impl_->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                            ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                            ssl::context::no_tlsv1_1);
    std::string chain = tls->server_cert_pem + tls->ca_cert_pem;
    impl_->tls->use_certificate_chain(asio::buffer(chain));
    impl_->tls->use_private_key(asio::buffer(tls->server_key_pem), ssl::context::pem);
  }
}

HttpServer::~HttpServer() {
  impl_->stopping = true;
  beast::error_code ec;
  impl_->acceptor.close(ec);
  if (impl_->accept_thread.joinable()) impl_->accept_thread.detach();
}

int HttpServer::Port() const { return impl_->acceptor.local_endpoint().port(); }

void HttpServer::Start() { impl_->accept_thread = std::thread(&Impl::AcceptLoop, impl_.get()); }

}  // namespace kubesim
