#include "test_client.hpp"

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <utility>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <yaml-cpp/yaml.h>

#include "kube_sim.hpp"

namespace kubesim::testing {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

std::string Response::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

Client::Client(std::string host, int port, std::string ca_pem)
    : host_(std::move(host)), port_(port), ca_pem_(std::move(ca_pem)) {}

namespace {

template <class Stream>
Response Exchange(Stream& stream, const std::string& host, const std::string& method,
                  const std::string& target, const std::string& body,
                  const std::vector<std::pair<std::string, std::string>>& headers) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, host);
  req.set(http::field::user_agent, "kube-sim-test/1.0");
  for (const auto& [k, v] : headers) req.insert(k, v);
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  parser.skip(method == "HEAD");  // a HEAD answer has headers only
  http::read(stream, buffer, parser);
  auto& res = parser.get();
  Response out;
  out.status = static_cast<int>(res.result_int());
  out.body = res.body();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace(name, std::string(f.value()));
  }
  return out;
}

}  // namespace

Response Client::Do(const std::string& method, const std::string& target, const std::string& body,
                    const std::vector<std::pair<std::string, std::string>>& headers) const {
  asio::io_context ioc;
  tcp::socket socket(ioc);
  socket.connect(tcp::endpoint(asio::ip::make_address(host_), static_cast<unsigned short>(port_)));
  if (ca_pem_.empty()) return Exchange(socket, host_, method, target, body, headers);
  ssl::context ctx(ssl::context::tls_client);
  ctx.add_certificate_authority(asio::buffer(ca_pem_));
  ctx.set_verify_mode(ssl::verify_peer);
  ssl::stream<tcp::socket> stream(std::move(socket), ctx);
  stream.set_verify_callback(ssl::host_name_verification(host_));
  stream.handshake(ssl::stream_base::client);
  return Exchange(stream, host_, method, target, body, headers);
}

Sim::Sim(std::vector<std::string> extra_args) {
  dir = testsupport::MakeTempDir("kube-sim-test");
  kubeconfig_path = dir + "/kubeconfig";
  std::vector<std::string> argv{testsupport::BinaryPath("kube-sim"), "--listen", "127.0.0.1:0",
                                "--kubeconfig-out", kubeconfig_path};
  for (auto& a : extra_args) argv.push_back(a);
  process = std::make_unique<testsupport::ChildProcess>(argv, std::map<std::string, std::string>{},
                                                        dir + "/kube-sim.log");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!std::filesystem::exists(kubeconfig_path)) {
    if (std::chrono::steady_clock::now() > deadline || !process->Running()) {
      throw std::runtime_error("kube-sim did not write its kubeconfig; log:\n" + process->Log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  YAML::Node kc = YAML::LoadFile(kubeconfig_path);
  server = kc["clusters"][0]["cluster"]["server"].as<std::string>();
  port = std::stoi(server.substr(server.rfind(':') + 1));
  if (kc["clusters"][0]["cluster"]["certificate-authority-data"]) {
    ca_pem = kubesim::Unbase64(
        kc["clusters"][0]["cluster"]["certificate-authority-data"].as<std::string>());
  }
  for (const auto& u : kc["users"]) {
    if (u["name"].as<std::string>() == "admin") admin_token = u["user"]["token"].as<std::string>();
    if (u["name"].as<std::string>() == "deployd")
      deployd_token = u["user"]["token"].as<std::string>();
  }
}

Response Sim::Admin(const std::string& method, const std::string& target, const std::string& body,
                    std::vector<std::pair<std::string, std::string>> headers) const {
  headers.emplace_back("Authorization", "Bearer " + admin_token);
  return client().Do(method, target, body, headers);
}

Response Sim::Deployd(const std::string& method, const std::string& target, const std::string& body,
                      std::vector<std::pair<std::string, std::string>> headers) const {
  headers.emplace_back("Authorization", "Bearer " + deployd_token);
  return client().Do(method, target, body, headers);
}

testsupport::RunResult Sim::Kubectl(const std::vector<std::string>& args,
                                    const std::string& stdin_data) const {
  std::vector<std::string> argv{"kubectl", "--kubeconfig", kubeconfig_path};
  for (const auto& a : args) argv.push_back(a);
  return testsupport::Run(argv, {{"HOME", dir}, {"KUBECACHEDIR", dir + "/cache"}},
                          std::chrono::seconds(60), stdin_data);
}

std::vector<nlohmann::json> Lines(const std::string& body) {
  std::vector<nlohmann::json> out;
  std::size_t pos = 0;
  while (pos < body.size()) {
    auto nl = body.find('\n', pos);
    if (nl == std::string::npos) nl = body.size();
    if (nl > pos) out.push_back(nlohmann::json::parse(body.substr(pos, nl - pos)));
    pos = nl + 1;
  }
  return out;
}

}  // namespace kubesim::testing
