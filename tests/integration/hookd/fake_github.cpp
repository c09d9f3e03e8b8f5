#include "fake_github.hpp"

#include <atomic>
#include <fstream>
#include <regex>
#include <stdexcept>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/asio.hpp"
#include "common/time.hpp"
#include "support/base64url.hpp"

namespace hookdtest {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
using common::net::ip::tcp;
using nlohmann::json;

// Independent of hookd's own code on purpose: the fake checks what hookd produces.
std::string DecodeBase64Url(const std::string& text, bool& ok) {
  auto decoded = testsupport::Base64UrlDecode(text);
  ok = decoded.has_value();
  return decoded.value_or("");
}

bool ValidUtf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    if (c < 0x80U) {
      n = 0;
    } else if ((c & 0xE0U) == 0xC0U) {
      n = 1;
    } else if ((c & 0xF0U) == 0xE0U) {
      n = 2;
    } else if ((c & 0xF8U) == 0xF0U) {
      n = 3;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0U) != 0x80U) return false;
    }
    i += n + 1;
  }
  return true;
}

struct Team {
  long long id = 0;
  std::set<std::string> repositories;
};

struct Token {
  std::chrono::system_clock::time_point expires;
  bool revoked = false;
};

struct Created {
  std::string repository;  // owner/name
  json deployment;
};

}  // namespace

struct FakeGithub::Impl {
  common::net::io_context ioc;
  tcp::acceptor acceptor{ioc, {common::net::ip::make_address("127.0.0.1"), 0}};
  int port = acceptor.local_endpoint().port();
  std::thread accept_thread;
  std::atomic<bool> stopping{false};

  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{EVP_RSA_gen(2048), EVP_PKEY_free};

  std::atomic<const common::Clock*> clock{&SystemClock()};
  common::SystemTime Now() const { return clock.load()->Now(); }
  static const common::Clock& SystemClock() {
    static const common::SystemClock system;
    return system;
  }

  mutable std::mutex mutex;
  mutable std::condition_variable changed;
  std::vector<std::shared_ptr<tcp::socket>> sockets;
  std::vector<std::thread> sessions;
  std::map<std::string, std::map<std::string, Team>> orgs;  // org -> team slug -> team
  std::chrono::seconds token_lifetime{3600};
  std::map<std::string, Token> tokens;
  int token_counter = 0;
  std::map<std::string, std::deque<ScriptedAnswer>> scripted;
  bool hold_creations = false;
  long long next_deployment_id = kFirstDeploymentId;
  long long next_status_id = 1;
  std::map<long long, Created> deployments;
  std::vector<json> created_order;
  std::map<long long, std::vector<json>> statuses;
  std::vector<GithubCall> calls;
  std::vector<std::string> problems;

  Impl() {
    if (!key) throw std::runtime_error("RSA key generation failed");
    accept_thread = std::thread([this] { AcceptLoop(); });
  }

  ~Impl() {
    stopping = true;
    {
      std::lock_guard lock(mutex);
      hold_creations = false;
    }
    changed.notify_all();
    boost::system::error_code ec;
    acceptor.close(ec);
    {
      tcp::socket wake(ioc);  // a blocked accept returns once somebody connects
      wake.connect({common::net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)},
                   ec);
    }
    accept_thread.join();
    {
      std::lock_guard lock(mutex);
      for (auto& s : sockets) s->shutdown(tcp::socket::shutdown_both, ec);
    }
    for (auto& t : sessions) t.join();
  }

  void AcceptLoop() {
    for (;;) {
      auto socket = std::make_shared<tcp::socket>(ioc);
      boost::system::error_code ec;
      acceptor.accept(*socket, ec);
      if (ec || stopping) return;
      std::lock_guard lock(mutex);
      sockets.push_back(socket);
      sessions.emplace_back([this, socket] { Session(*socket); });
    }
  }

  void Session(tcp::socket& socket) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request<bhttp::string_body> request;
      boost::system::error_code ec;
      bhttp::read(socket, buffer, request, ec);
      if (ec || stopping) return;
      auto response = Handle(request);
      response.keep_alive(request.keep_alive());
      response.prepare_payload();
      bhttp::write(socket, response, ec);
      if (ec) return;
    }
  }

  static bhttp::response<bhttp::string_body> Answer(int status, const json& body) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, "application/json; charset=utf-8");
    res.set("X-RateLimit-Limit", "5000");
    res.set("X-RateLimit-Remaining", "4999");
    if (!body.is_null()) res.body() = body.dump();
    return res;
  }

  static bhttp::response<bhttp::string_body> Message(int status, const std::string& message) {
    return Answer(status, json{{"message", message}});
  }

  bool VerifyJwt(const std::string& jwt, std::string& why) {
    const auto dot1 = jwt.find('.');
    const auto dot2 = jwt.find('.', dot1 == std::string::npos ? 0 : dot1 + 1);
    if (dot1 == std::string::npos || dot2 == std::string::npos) {
      why = "JWT is not three segments";
      return false;
    }
    bool ok1 = false;
    bool ok2 = false;
    bool ok3 = false;
    const json header = json::parse(DecodeBase64Url(jwt.substr(0, dot1), ok1), nullptr, false);
    const json claims =
        json::parse(DecodeBase64Url(jwt.substr(dot1 + 1, dot2 - dot1 - 1), ok2), nullptr, false);
    const std::string signature = DecodeBase64Url(jwt.substr(dot2 + 1), ok3);
    if (!ok1 || !ok2 || !ok3 || !header.is_object() || !claims.is_object()) {
      why = "JWT segments are not base64url JSON";
      return false;
    }
    if (header.value("alg", "") != "RS256") {
      why = "JWT alg is not RS256";
      return false;
    }
    const std::string input = jwt.substr(0, dot2);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    const bool verified =
        EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
        EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                         signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                         input.size()) == 1;
    if (!verified) {
      why = "JWT signature does not verify with the App's public key";
      return false;
    }
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(Now().time_since_epoch()).count();
    if (!claims.contains("iat") || !claims["iat"].is_number_integer() || !claims.contains("exp") ||
        !claims["exp"].is_number_integer()) {
      why = "JWT without integer iat and exp";
      return false;
    }
    const auto iat = claims["iat"].get<long long>();
    const auto exp = claims["exp"].get<long long>();
    // GitHub: iat not in the future, exp at most 10 minutes after iat, not expired.
    if (iat > now + 1 || exp <= now || exp - iat > 600) {
      why = "JWT iat/exp outside GitHub's rules (iat " + std::to_string(iat - now) + " s, exp " +
            std::to_string(exp - now) + " s from now)";
      return false;
    }
    const json& iss = claims.contains("iss") ? claims["iss"] : json();
    const std::string issuer = iss.is_string()   ? iss.get<std::string>()
                               : iss.is_number() ? std::to_string(iss.get<long long>())
                                                 : "";
    if (issuer != kAppId) {
      why = "JWT iss is not the App ID";
      return false;
    }
    return true;
  }

  // A live installation token from the Authorization header, or "" (with why).
  std::string LiveToken(const std::map<std::string, std::string>& headers, std::string& why) {
    auto it = headers.find("authorization");
    if (it == headers.end()) {
      why = "no Authorization header";
      return "";
    }
    std::string value = it->second;
    for (const char* scheme : {"token ", "Bearer "}) {
      if (value.rfind(scheme, 0) == 0) value = value.substr(std::string(scheme).size());
    }
    auto token = tokens.find(value);
    if (token == tokens.end()) {
      why = "not an installation token the fake issued";
    } else if (token->second.expires <= Now()) {
      why = "an expired installation token";
    } else if (token->second.revoked) {
      why.clear();  // GitHub's doing, not a mistake of the client
    } else {
      return value;
    }
    return "";
  }

  bhttp::response<bhttp::string_body> Handle(const bhttp::request<bhttp::string_body>& request) {
    GithubCall call;
    call.method = std::string(request.method_string());
    call.target = std::string(request.target());
    call.body = request.body();
    call.at = Now();
    for (const auto& field : request) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      call.headers[name] = std::string(field.value());
    }
    static const std::regex kToken(R"(/app/installations/([0-9]+)/access_tokens)");
    static const std::regex kTeam(R"(/orgs/([^/]+)/teams/([^/]+))");
    static const std::regex kAccess(
        R"(/organizations/([0-9]+)/team/([0-9]+)/repos/([^/]+)/([^/]+))");
    static const std::regex kCreate(R"(/repos/([^/]+)/([^/]+)/deployments)");
    static const std::regex kStatus(R"(/repos/([^/]+)/([^/]+)/deployments/([0-9]+)/statuses)");
    std::smatch m;
    const std::string& target = call.target;
    if (call.method == "POST" && std::regex_match(target, m, kToken)) {
      call.route = "token";
    } else if (call.method == "GET" && std::regex_match(target, m, kTeam)) {
      call.route = "team";
    } else if (call.method == "GET" && std::regex_match(target, m, kAccess)) {
      call.route = "access";
    } else if (call.method == "POST" && std::regex_match(target, m, kStatus)) {
      call.route = "status";
    } else if (call.method == "POST" && std::regex_match(target, m, kCreate)) {
      call.route = "create";
    } else {
      call.route = "other";
    }

    std::unique_lock lock(mutex);
    if (call.route == "create") {
      changed.wait(lock, [this] { return !hold_creations || stopping; });
    }
    auto answer = Route(call, m);
    call.answered = static_cast<int>(answer.result_int());
    calls.push_back(std::move(call));
    lock.unlock();
    changed.notify_all();
    return answer;
  }

  bhttp::response<bhttp::string_body> Route(GithubCall& call, const std::smatch& m) {
    if (call.headers.count("user-agent") == 0 || call.headers["user-agent"].empty()) {
      problems.push_back(call.method + " " + call.target + ": no User-Agent");
      return Message(403,
                     "Request forbidden by administrative rules. Please make sure your request "
                     "has a User-Agent header");
    }
    if (auto it = scripted.find(call.route); it != scripted.end() && !it->second.empty()) {
      ScriptedAnswer s = it->second.front();
      it->second.pop_front();
      bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(s.status), 11};
      res.set(bhttp::field::content_type, "application/json; charset=utf-8");
      for (const auto& [name, value] : s.headers) res.set(name, value);
      res.body() = s.body;
      return res;
    }
    std::string why;
    if (call.route == "token") {
      auto auth = call.headers["authorization"];
      if (auth.rfind("Bearer ", 0) != 0 || !VerifyJwt(auth.substr(7), why)) {
        problems.push_back("token exchange: " + (why.empty() ? "no Bearer JWT" : why));
        return Message(401, "A JSON web token could not be decoded");
      }
      if (m[1].str() != kInstallId) return Message(404, "Not Found");
      const std::string token = "ghs_fake" + std::to_string(++token_counter);
      const auto expires = Now() + token_lifetime;
      tokens[token] = Token{expires, false};
      return Answer(201, json{{"token", token},
                              {"expires_at", common::FormatRfc3339(expires)},
                              {"permissions", {{"deployments", "write"}}}});
    }
    if (LiveToken(call.headers, why).empty()) {
      if (!why.empty()) problems.push_back(call.route + ": " + why);
      return Message(401, "Bad credentials");
    }
    if (call.route == "team") {
      auto org = orgs.find(m[1].str());
      if (org == orgs.end() || org->second.count(m[2].str()) == 0) return Message(404, "Not Found");
      const Team& team = org->second.at(m[2].str());
      return Answer(200, json{{"id", team.id},
                              {"slug", m[2].str()},
                              {"organization", {{"id", kOrgId}, {"login", m[1].str()}}}});
    }
    if (call.route == "access") {
      if (call.headers["accept"].find("repository+json") == std::string::npos) {
        problems.push_back("access check without the repository media type");
      }
      const long long team_id = std::stoll(m[2].str());
      for (const auto& [org, teams] : orgs) {
        if (org != m[3].str()) continue;
        for (const auto& [slug, team] : teams) {
          if (team.id == team_id && team.repositories.count(m[4].str()) != 0) {
            return Answer(200, json{{"full_name", m[3].str() + "/" + m[4].str()},
                                    {"permissions", {{"admin", true}}}});
          }
        }
      }
      return Message(404, "Not Found");
    }
    if (call.route == "create" || call.route == "status") {
      json body = json::parse(call.body, nullptr, false);
      if (!body.is_object()) {
        problems.push_back(call.route + ": body is not a JSON object");
        return Message(400, "Problems parsing JSON");
      }
      const std::string repository = m[1].str() + "/" + m[2].str();
      if (call.route == "create") return CreateDeployment(body, repository);
      return CreateStatus(body, repository, std::stoll(m[3].str()));
    }
    problems.push_back("unexpected call " + call.method + " " + call.target);
    return Message(404, "Not Found");
  }

  bhttp::response<bhttp::string_body> CreateDeployment(const json& body,
                                                       const std::string& repository) {
    const bool ok = body.contains("ref") && body["ref"].is_string() &&
                    !body["ref"].get<std::string>().empty() &&
                    body.value("task", "") == "NAIS_DIRECT_DEPLOY" && body.contains("auto_merge") &&
                    body["auto_merge"] == false && body.contains("required_contexts") &&
                    body["required_contexts"] == json::array() && body.contains("environment") &&
                    body["environment"].is_string();
    if (!ok) {
      problems.push_back("deployment body not as the original sent it: " + body.dump());
      return Message(422, "Validation Failed");
    }
    const long long id = next_deployment_id++;
    json deployment = {{"url", "https://api.github.com/repos/" + repository + "/deployments/" +
                                   std::to_string(id)},
                       {"id", id},
                       {"node_id", "DE_fake" + std::to_string(id)},
                       {"sha", "0123456789abcdef0123456789abcdef01234567"},
                       {"ref", body["ref"]},
                       {"task", body["task"]},
                       {"payload", json::object()},
                       {"environment", body["environment"]},
                       {"description", nullptr},
                       {"creator", {{"login", "nais-deploy[bot]"}, {"type", "Bot"}}},
                       {"created_at", common::FormatRfc3339(Now())},
                       {"statuses_url", "https://api.github.com/repos/" + repository +
                                            "/deployments/" + std::to_string(id) + "/statuses"},
                       {"repository_url", "https://api.github.com/repos/" + repository}};
    deployments[id] = Created{repository, deployment};
    created_order.push_back(deployment);
    return Answer(201, deployment);
  }

  bhttp::response<bhttp::string_body> CreateStatus(const json& body, const std::string& repository,
                                                   long long id) {
    auto it = deployments.find(id);
    if (it == deployments.end() || it->second.repository != repository) {
      problems.push_back("status for unknown deployment " + std::to_string(id));
      return Message(404, "Not Found");
    }
    static const std::set<std::string> kStates = {"error",       "failure", "inactive", "pending",
                                                  "in_progress", "queued",  "success"};
    const std::string state = body.value("state", "");
    const bool description_ok = body.contains("description") && body["description"].is_string() &&
                                body["description"].get<std::string>().size() <= 140 &&
                                ValidUtf8(body["description"].get<std::string>());
    if (kStates.count(state) == 0 || !description_ok || !body.contains("log_url") ||
        !body["log_url"].is_string()) {
      problems.push_back("status body invalid: " + body.dump());
      return Message(422, "Validation Failed");
    }
    statuses[id].push_back(body);
    return Answer(201, json{{"id", next_status_id++}, {"state", state}});
  }
};

FakeGithub::FakeGithub() : impl_(std::make_unique<Impl>()) {}
FakeGithub::~FakeGithub() = default;

void FakeGithub::SetClock(const common::Clock& clock) { impl_->clock = &clock; }

std::string FakeGithub::Url() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

void FakeGithub::WriteKeyFile(const std::string& path) const {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey_traditional(bio, impl_->key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::ofstream(path, std::ios::binary).write(data, size);
  BIO_free(bio);
}

void FakeGithub::AddTeam(const std::string& org, const std::string& team,
                         const std::set<std::string>& repositories) {
  std::lock_guard lock(impl_->mutex);
  auto& teams = impl_->orgs[org];
  teams[team] = Team{static_cast<long long>(9000 + teams.size()), repositories};
}

void FakeGithub::SetTokenLifetime(std::chrono::seconds lifetime) {
  std::lock_guard lock(impl_->mutex);
  impl_->token_lifetime = lifetime;
}

void FakeGithub::RevokeTokens() {
  std::lock_guard lock(impl_->mutex);
  for (auto& [token, t] : impl_->tokens) t.revoked = true;
}

void FakeGithub::FailNext(const std::string& route, int count, const ScriptedAnswer& answer) {
  std::lock_guard lock(impl_->mutex);
  for (int i = 0; i < count; ++i) impl_->scripted[route].push_back(answer);
}

void FakeGithub::ClearFailures() {
  std::lock_guard lock(impl_->mutex);
  impl_->scripted.clear();
}

void FakeGithub::HoldCreations(bool hold) {
  {
    std::lock_guard lock(impl_->mutex);
    impl_->hold_creations = hold;
  }
  impl_->changed.notify_all();
}

std::vector<GithubCall> FakeGithub::Calls(const std::string& route) const {
  std::lock_guard lock(impl_->mutex);
  std::vector<GithubCall> out;
  for (const auto& c : impl_->calls) {
    if (route.empty() || c.route == route) out.push_back(c);
  }
  return out;
}

std::vector<nlohmann::json> FakeGithub::Statuses(long long deployment_id) const {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->statuses.find(deployment_id);
  return it == impl_->statuses.end() ? std::vector<nlohmann::json>{} : it->second;
}

std::vector<nlohmann::json> FakeGithub::Deployments() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->created_order;
}

std::vector<std::string> FakeGithub::Problems() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->problems;
}

bool FakeGithub::WaitUntil(const std::function<bool()>& condition,
                           std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(impl_->mutex);
  for (;;) {
    lock.unlock();
    if (condition()) return true;
    lock.lock();
    if (std::chrono::steady_clock::now() >= deadline) return false;
    // Calls wake us; the short bound covers conditions that depend on other things too.
    impl_->changed.wait_for(lock, std::chrono::milliseconds(50));
  }
}

}  // namespace hookdtest
