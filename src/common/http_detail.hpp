#pragma once
// Pieces of the HTTP(S) client shared by its blocking (http_client.hpp) and asynchronous
// (async_http_client.hpp) front ends: base URL parsing, the TLS context, the checks on what may
// reach the wire, and the conversion of Beast's response head. Not for other callers.
#include <string>
#include <string_view>

#include <boost/asio/ssl.hpp>
#include <boost/beast/http.hpp>

#include "common/asio.hpp"
#include "common/http_client.hpp"

namespace common::http_detail {

// The short names both front ends use (`using namespace http_detail::names;`).
namespace names {
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
}  // namespace names

struct Endpoint {
  bool tls = false;
  std::string host;
  std::string port;
  std::string prefix;  // path prefix without trailing slash
};

bool IEquals(std::string_view a, std::string_view b);
// Throws common::Error{kInvalidArgument} (`invalid URL "<x>"...`).
Endpoint ParseBaseUrl(const std::string& url);
bool IsIpAddress(const std::string& host);
std::string OpenSslError(const char* what);
// Throw common::Error{kInvalidArgument} with the messages documented in http_client.hpp.
void CheckHeader(std::string_view name, std::string_view value);
void CheckRequestHead(std::string_view method, std::string_view target);
// The client TLS context for `options` (CA, client certificate, verification); throws
// common::Error{kInvalidArgument} for bad PEM data.
net::ssl::context MakeTlsContext(const HttpClientOptions& options);
// Sets SNI (not for IP addresses); false when OpenSSL refuses.
bool SetServerName(SSL* native, const std::string& name);
// The request as it goes on the wire, after the checks above.
boost::beast::http::request<boost::beast::http::string_body> BuildRequest(
    const HttpRequest& r, const HttpClientOptions& options, const Endpoint& endpoint);
HttpResponse ToResponse(const boost::beast::http::response_header<>& h);

}  // namespace common::http_detail
