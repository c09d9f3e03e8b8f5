#pragma once
// One blocking HTTP/1.1 request to 127.0.0.1:<port> (Beast), for the hookd and end-to-end tests.
#include <map>
#include <string>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/asio.hpp"

namespace testsupport {

struct Reply {
  int status = 0;  // 0 when the connection failed
  std::string content_type;
  std::string body;
  std::string location;
};

inline Reply Call(int port, const std::string& method, const std::string& target,
                  const std::string& body = "",
                  const std::map<std::string, std::string>& headers = {}) {
  namespace beast = boost::beast;
  namespace bhttp = beast::http;
  common::net::io_context io;
  beast::tcp_stream stream(io);
  boost::system::error_code ec;
  stream.expires_after(std::chrono::seconds(15));
  stream.connect(common::net::ip::tcp::endpoint(common::net::ip::make_address("127.0.0.1"),
                                                static_cast<unsigned short>(port)),
                 ec);
  if (ec) return Reply{};
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "localhost");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req, ec);
  if (ec) return Reply{};
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res, ec);
  if (ec) return Reply{};
  return Reply{static_cast<int>(res.result_int()), std::string(res[bhttp::field::content_type]),
               res.body(), std::string(res[bhttp::field::location])};
}

}  // namespace testsupport
