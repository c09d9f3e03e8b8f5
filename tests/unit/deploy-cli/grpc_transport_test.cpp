// The real gRPC transport against an in-process fake pb.Deploy server on 127.0.0.1:0.
#include "deploy-cli/transport/grpc_transport.hpp"

#include <mutex>
#include <sstream>

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "deploy-cli/run.hpp"
#include "deploy-cli/transport/github_token.hpp"
#include "deployment.grpc.pb.h"
#include "fakes.hpp"
#include "support/base64url.hpp"
#include "support/loopback_http_server.hpp"

namespace deploy_cli {
namespace {

struct SeenCall {
  std::string method;
  std::string timestamp;
  std::string authorization;
  std::string team;
  std::string request_id;
  std::string request_team;
  std::string jwt;
  std::string idempotency_key;
};

std::string Meta(const grpc::ServerContext& context, const std::string& key) {
  const auto& md = context.client_metadata();
  auto it = md.find(key);
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

class FakeDeployService final : public pb::Deploy::Service {
 public:
  grpc::Status Deploy(grpc::ServerContext* context, const pb::DeploymentRequest* request,
                      pb::DeploymentStatus* response) override {
    Record("Deploy", *context, *request);
    if (reject_deploy) return {grpc::StatusCode::PERMISSION_DENIED, "failed authentication"};
    *response->mutable_request() = *request;
    response->mutable_request()->set_id("11111111-2222-4333-8444-555555555555");
    response->set_state(pb::queued);
    response->set_message("Deployment request has been put on the queue for further processing.");
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext* context, const pb::DeploymentRequest* request,
                      grpc::ServerWriter<pb::DeploymentStatus>* writer) override {
    Record("Status", *context, *request);
    for (auto state : {pb::queued, pb::in_progress, pb::success}) {
      pb::DeploymentStatus status;
      status.mutable_request()->set_id(request->id());
      status.set_state(state);
      status.set_message(state == pb::success ? "Deployment completed successfully." : "working");
      writer->Write(status);
    }
    return grpc::Status::OK;  // the CLI stops reading at success
  }

  std::vector<SeenCall> Calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  bool reject_deploy = false;

 private:
  void Record(const std::string& method, const grpc::ServerContext& context,
              const pb::DeploymentRequest& request) {
    std::lock_guard lock(mutex_);
    calls_.push_back(SeenCall{method, Meta(context, "timestamp"), Meta(context, "authorization"),
                              Meta(context, "team"), request.id(), request.team(),
                              Meta(context, "jwt"), Meta(context, "idempotency-key")});
  }
  std::mutex mutex_;
  std::vector<SeenCall> calls_;
};

// A server without TLS or authentication.
TransportConfig PlainConfig(const std::string& server, const common::Clock& clock) {
  TransportConfig config;
  config.server = server;
  config.use_tls = false;
  config.authentication = false;
  config.clock = &clock;
  return config;
}

class GrpcTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_TRUE(server_);
    ASSERT_GT(port_, 0);
  }
  void TearDown() override { server_->Shutdown(); }

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  // The fake server without TLS or authentication, on the system clock.
  TransportConfig PlainConfig() { return deploy_cli::PlainConfig(Address(), clock_); }

  common::SystemClock clock_;

  FakeDeployService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

TEST_F(GrpcTransportTest, ApiKeyMetadataIsHmacOfTimestamp) {
  deploy_cli::testing::FakeClock clock;
  clock.now += std::chrono::nanoseconds(123'450'000);
  TransportConfig config = deploy_cli::PlainConfig(Address(), clock);
  config.authentication = true;
  config.api_key = *common::HexDecode("1234567812345678");
  config.team = "aura";
  auto transport = MakeTransport(config);

  pb::DeploymentRequest request;
  request.set_team("aura");
  pb::DeploymentStatus response;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
  const RpcStatus status = transport->Deploy(request, deadline, response);
  ASSERT_TRUE(status.Ok()) << status.message;
  EXPECT_EQ(response.state(), pb::queued);

  const auto calls = service_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].timestamp, "2023-11-14T22:13:20.12345Z");
  EXPECT_EQ(calls[0].authorization,
            common::HexEncode(common::HmacSha256(*common::HexDecode("1234567812345678"),
                                                 "2023-11-14T22:13:20.12345Z")));
  EXPECT_EQ(calls[0].authorization.size(), 64u);
  EXPECT_EQ(calls[0].team, "aura");

  std::unique_ptr<StatusStream> stream;
  ASSERT_TRUE(transport->OpenStatus(request, deadline, stream).Ok());
  pb::DeploymentStatus received;
  ASSERT_TRUE(stream->Recv(received).Ok());
  EXPECT_EQ(received.state(), pb::queued);
  const auto after = service_.Calls();
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[1].method, "Status");
  EXPECT_EQ(after[1].team, "aura");
  EXPECT_EQ(after[1].timestamp, "2023-11-14T22:13:20.12345Z");
}

TEST_F(GrpcTransportTest, DeploySendsTheIdempotencyKeyOnEveryAttemptAndStatusNone) {
  TransportConfig config = PlainConfig();
  config.idempotency_key = "run-42:attempt-any";
  auto transport = MakeTransport(config);
  pb::DeploymentRequest request;
  pb::DeploymentStatus response;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
  ASSERT_TRUE(transport->Deploy(request, deadline, response).Ok());
  ASSERT_TRUE(transport->Deploy(request, deadline, response).Ok());
  std::unique_ptr<StatusStream> stream;
  ASSERT_TRUE(transport->OpenStatus(request, deadline, stream).Ok());
  pb::DeploymentStatus received;
  ASSERT_TRUE(stream->Recv(received).Ok());
  const auto calls = service_.Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].idempotency_key, "run-42:attempt-any");
  EXPECT_EQ(calls[1].idempotency_key, "run-42:attempt-any");
  EXPECT_EQ(calls[2].method, "Status");
  EXPECT_EQ(calls[2].idempotency_key, "");
}

TEST_F(GrpcTransportTest, NoMetadataWithoutAuthentication) {
  TransportConfig config = PlainConfig();
  auto transport = MakeTransport(config);
  pb::DeploymentRequest request;
  pb::DeploymentStatus response;
  ASSERT_TRUE(
      transport
          ->Deploy(request, std::chrono::system_clock::now() + std::chrono::seconds(10), response)
          .Ok());
  const auto calls = service_.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].timestamp, "");
  EXPECT_EQ(calls[0].authorization, "");
  EXPECT_EQ(calls[0].team, "");
}

TEST_F(GrpcTransportTest, StreamEndedByServerReadsAsEof) {
  TransportConfig config = PlainConfig();
  auto transport = MakeTransport(config);
  pb::DeploymentRequest request;
  request.set_id("abc");
  std::unique_ptr<StatusStream> stream;
  ASSERT_TRUE(
      transport
          ->OpenStatus(request, std::chrono::system_clock::now() + std::chrono::seconds(10), stream)
          .Ok());
  pb::DeploymentStatus status;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Recv(status).Ok());
  const RpcStatus end = stream->Recv(status);
  EXPECT_EQ(end.code, grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(end.message, "EOF");
}

TEST_F(GrpcTransportTest, UnreachableServerIsUnavailable) {
  common::SystemClock clock;
  TransportConfig config = deploy_cli::PlainConfig("127.0.0.1:1", clock);
  auto transport = MakeTransport(config);
  pb::DeploymentRequest request;
  pb::DeploymentStatus response;
  const RpcStatus status = transport->Deploy(
      request, std::chrono::system_clock::now() + std::chrono::seconds(10), response);
  EXPECT_EQ(status.code, grpc::StatusCode::UNAVAILABLE);
}

// The e2e command line shape, end to end through the real transport.
TEST_F(GrpcTransportTest, WholeCliRunWithWaitAndAuthentication) {
  common::SystemClock clock;
  RealSleeper sleeper;
  std::ostringstream out;
  std::ostringstream err;
  const Ports ports = testing::RealTransportPorts(clock, sleeper, out, err);
  const int code = RunCommandLine(
      {"--resource", deploy_cli::testing::TestData("configmap.yaml"), "--cluster", "local",
       "--apikey", "1234567812345678", "--deploy-server", Address(), "--grpc-authentication=true",
       "--grpc-use-tls=false", "--wait", "--team", "aura"},
      ports);
  EXPECT_EQ(code, 0) << err.str();
  const std::string log = err.str();
  for (const char* line :
       {"Deployment request accepted by NAIS deploy and dispatched to cluster 'local'.",
        "Status: queued: working", "Status: in_progress: working",
        "Status: success: Deployment completed successfully."}) {
    EXPECT_NE(log.find(line), std::string::npos) << line << "\n" << log;
  }
  const auto calls = service_.Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[1].request_id, "11111111-2222-4333-8444-555555555555");
  EXPECT_EQ(calls[0].team, "aura");
  EXPECT_EQ(calls[0].request_team, "aura");
}

TEST_F(GrpcTransportTest, RejectedDeployThroughRealTransportExitsFour) {
  service_.reject_deploy = true;
  common::SystemClock clock;
  RealSleeper sleeper;
  std::ostringstream out;
  std::ostringstream err;
  const Ports ports = testing::RealTransportPorts(clock, sleeper, out, err);
  EXPECT_EQ(RunCommandLine(
                {"--resource", deploy_cli::testing::TestData("configmap.yaml"), "--cluster",
                 "local", "--apikey", "00", "--deploy-server", Address(), "--grpc-use-tls=false"},
                ports),
            4);
  EXPECT_NE(err.str().find("fatal: PermissionDenied: failed authentication"), std::string::npos);
}

// gRPC's own refusal of an oversized request arrives as a failure kind, not only as words.
TEST(GrpcSizeRefusalTest, ServerRefusalOfALargeRequestCarriesItsKind) {
  FakeDeployService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(1024);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  common::SystemClock clock;
  TransportConfig config = PlainConfig("127.0.0.1:" + std::to_string(port), clock);
  auto transport = MakeGrpcTransport(config);
  pb::DeploymentRequest request;
  request.set_team(std::string(4096, 'x'));
  pb::DeploymentStatus response;
  const RpcStatus status =
      transport->Deploy(request, clock.Now() + std::chrono::seconds(10), response);
  server->Shutdown();
  EXPECT_EQ(status.code, grpc::StatusCode::RESOURCE_EXHAUSTED) << status.message;
  EXPECT_EQ(status.failure, RpcFailure::kGrpcMessageTooLarge) << status.message;
  EXPECT_TRUE(service.Calls().empty());
}

std::string MakeJwt(std::int64_t exp, int serial) {
  return testsupport::Base64UrlEncode(R"({"alg":"RS256"})") + "." +
         testsupport::Base64UrlEncode("{\"exp\":" + std::to_string(exp) +
                                      ",\"n\":" + std::to_string(serial) + "}") +
         ".sig";
}

TEST(GithubTokenTest, JwtExpiry) {
  EXPECT_EQ(JwtExpiry(MakeJwt(1700000600, 1)),
            common::SystemTime(std::chrono::seconds(1700000600)));
  EXPECT_EQ(JwtExpiry("not-a-jwt"), std::nullopt);
}

TEST_F(GrpcTransportTest, GithubOidcTokenIsFetchedCachedAndRenewed) {
  deploy_cli::testing::FakeClock clock;  // 1'700'000'000
  int issued = 0;
  testsupport::LoopbackHttpServer token_server(
      [&](const testsupport::LoopbackHttpServer::RecordedRequest&)
          -> testsupport::LoopbackHttpServer::Response {
        ++issued;
        return {200, "{\"value\":\"" + MakeJwt(1'700'000'000 + 300, issued) + "\"}"};
      });
  TransportConfig config = deploy_cli::PlainConfig(Address(), clock);
  config.authentication = true;
  config.team = "aura";
  config.token_url = token_server.Url() + "/token?api-version=2.0";
  config.bearer_token = "runner-secret";
  auto transport = MakeTransport(config);
  pb::DeploymentRequest request;
  pb::DeploymentStatus response;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);
  ASSERT_TRUE(transport->Deploy(request, deadline, response).Ok());
  clock.Advance(std::chrono::seconds(200));  // still more than a minute left
  ASSERT_TRUE(transport->Deploy(request, deadline, response).Ok());
  clock.Advance(std::chrono::seconds(50));  // within the last minute: renew
  ASSERT_TRUE(transport->Deploy(request, deadline, response).Ok());

  const auto token_requests = token_server.Requests();
  ASSERT_EQ(token_requests.size(), 2u);
  EXPECT_EQ(token_requests[0].method, "GET");
  EXPECT_EQ(token_requests[0].target, "/token?api-version=2.0&audience=hookd");
  EXPECT_EQ(token_requests[0].headers.at("authorization"), "bearer runner-secret");
  const auto calls = service_.Calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0].jwt, MakeJwt(1'700'000'300, 1));
  EXPECT_EQ(calls[1].jwt, MakeJwt(1'700'000'300, 1));
  EXPECT_EQ(calls[2].jwt, MakeJwt(1'700'000'300, 2));
  EXPECT_EQ(calls[0].team, "aura");
  EXPECT_EQ(calls[0].authorization, "");
}

TEST_F(GrpcTransportTest, GithubTokenEndpointRefusalIsUnauthenticated) {
  deploy_cli::testing::FakeClock clock;
  testsupport::LoopbackHttpServer token_server(
      [](const testsupport::LoopbackHttpServer::RecordedRequest&)
          -> testsupport::LoopbackHttpServer::Response {
        return {401, "{}"};
      });
  TransportConfig config = deploy_cli::PlainConfig(Address(), clock);
  config.authentication = true;
  config.team = "aura";
  config.token_url = token_server.Url() + "/token";
  config.bearer_token = "x";
  auto transport = MakeTransport(config);
  pb::DeploymentRequest request;
  pb::DeploymentStatus response;
  const RpcStatus status = transport->Deploy(
      request, std::chrono::system_clock::now() + std::chrono::seconds(10), response);
  EXPECT_EQ(status.code, grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.message, "get GitHub token: HTTP status 401");
  EXPECT_TRUE(service_.Calls().empty());
}

// A self-signed certificate for "localhost" (key and cert PEM), made with OpenSSL.
std::pair<std::string, std::string> SelfSignedLocalhost() {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "DNS:localhost");
  X509_add_ext(cert, san, -1);
  X509_EXTENSION_free(san);
  X509_EXTENSION* bc =
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_basic_constraints, "critical,CA:TRUE");
  X509_add_ext(cert, bc, -1);
  X509_EXTENSION_free(bc);
  X509_sign(cert, key, EVP_sha256());
  auto to_string = [](BIO* bio) {
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return out;
  };
  BIO* key_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  BIO* cert_bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(cert_bio, cert);
  auto result = std::make_pair(to_string(key_bio), to_string(cert_bio));
  X509_free(cert);
  EVP_PKEY_free(key);
  return result;
}

TEST(GrpcTlsTest, TlsIsUsedByDefaultAndVerifiesTheServer) {
  const auto [key_pem, cert_pem] = SelfSignedLocalhost();
  FakeDeployService service;
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({key_pem, cert_pem});
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(ssl), &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server);

  common::SystemClock clock;
  TransportConfig config;
  config.server = "localhost:" + std::to_string(port);
  config.authentication = false;
  config.clock = &clock;
  pb::DeploymentRequest request;
  pb::DeploymentStatus response;
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(10);

  // Trusted CA: the call goes through over TLS.
  config.root_pem = cert_pem;
  EXPECT_TRUE(MakeTransport(config)->Deploy(request, deadline, response).Ok());
  EXPECT_EQ(service.Calls().size(), 1u);

  // The system bundle does not trust the self-signed certificate: Unavailable, nothing sent.
  config.root_pem.clear();
  const RpcStatus untrusted = MakeTransport(config)->Deploy(request, deadline, response);
  EXPECT_EQ(untrusted.code, grpc::StatusCode::UNAVAILABLE) << untrusted.message;

  // Plaintext client against the TLS server fails as well.
  config.use_tls = false;
  EXPECT_FALSE(MakeTransport(config)->Deploy(request, deadline, response).Ok());
  EXPECT_EQ(service.Calls().size(), 1u);
  server->Shutdown();
}

}  // namespace
}  // namespace deploy_cli
