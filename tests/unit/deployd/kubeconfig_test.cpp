#include "deployd/kube/kubeconfig.hpp"

#include <map>

#include <gtest/gtest.h>

#include "common/error.hpp"
#include "support/process.hpp"

namespace deployd::kube {
namespace {

// "-----BEGIN CERTIFICATE-----\nCA\n" in base64.
constexpr const char* kCaB64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==";

std::string Sample() {
  return std::string(R"(apiVersion: v1
kind: Config
current-context: deployd
clusters:
- name: sim
  cluster:
    server: https://127.0.0.1:6443
    certificate-authority-data: )") +
         kCaB64 + R"(
    tls-server-name: kubernetes
- name: other
  cluster:
    server: http://127.0.0.1:8080
    insecure-skip-tls-verify: true
users:
- name: deployd
  user:
    token: secret-token
- name: admin
  user:
    tokenFile: token.txt
contexts:
- name: deployd
  context: {cluster: sim, user: deployd, namespace: aura}
- name: admin
  context: {cluster: other, user: admin}
)";
}

TEST(Kubeconfig, UsesCurrentContext) {
  auto c = ParseKubeconfig(Sample(), "/tmp/x/config");
  EXPECT_EQ(c.server, "https://127.0.0.1:6443");
  EXPECT_EQ(c.ca_pem, "-----BEGIN CERTIFICATE-----\nCA\n");
  EXPECT_EQ(c.token, "secret-token");
  EXPECT_EQ(c.tls_server_name, "kubernetes");
  EXPECT_FALSE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.namespace_, "aura");
}

TEST(Kubeconfig, NamedContextAndRelativeTokenFile) {
  auto c = ParseKubeconfig(Sample(), "/tmp/x/config", "admin");
  EXPECT_EQ(c.server, "http://127.0.0.1:8080");
  EXPECT_TRUE(c.insecure_skip_tls_verify);
  EXPECT_EQ(c.token, "");
  EXPECT_EQ(c.token_file, "/tmp/x/token.txt");
}

TEST(Kubeconfig, UnknownContextIsAnError) {
  try {
    ParseKubeconfig(Sample(), "/tmp/x/config", "nope");
    FAIL();
  } catch (const common::Error& e) {
    EXPECT_STREQ(e.what(), "kubeconfig /tmp/x/config: context \"nope\" not found");
  }
}

TEST(Kubeconfig, CertificateDataThatIsNotBase64IsAnError) {
  std::string text = Sample();
  text.replace(text.find(kCaB64), std::string(kCaB64).size(), "LS0t LS1CRUdJ");
  EXPECT_EQ(ParseKubeconfig(text, "/tmp/x/config").ca_pem, "-----BEGI");  // blanks skipped
  for (const char* bad : {"LS0tLS1CRUdJTi", "LS0t!S1C", "LS=tLS1C"}) {
    text = Sample();
    text.replace(text.find(kCaB64), std::string(kCaB64).size(), bad);
    try {
      ParseKubeconfig(text, "/tmp/x/config");
      ADD_FAILURE() << bad;
    } catch (const common::Error& e) {
      EXPECT_EQ(e.Code(), common::ErrorCode::kInvalidArgument);
      EXPECT_STREQ(e.what(), "certificate authority: invalid base64") << bad;
    }
  }
}

TEST(Kubeconfig, CertificateFilesResolvedAgainstTheKubeconfigDirectory) {
  auto dir = testsupport::MakeTempDir("kubeconfig");
  testsupport::WriteFile(dir + "/ca.pem", "CA-PEM");
  testsupport::WriteFile(dir + "/client.pem", "CERT-PEM");
  testsupport::WriteFile(dir + "/client.key", "KEY-PEM");
  testsupport::WriteFile(dir + "/config", R"(current-context: c
clusters: [{name: k, cluster: {server: "https://h:1", certificate-authority: ca.pem}}]
users: [{name: u, user: {client-certificate: client.pem, client-key: client.key}}]
contexts: [{name: c, context: {cluster: k, user: u}}]
)");
  auto c = LoadKubeconfigFile(dir + "/config");
  EXPECT_EQ(c.ca_pem, "CA-PEM");
  EXPECT_EQ(c.client_cert_pem, "CERT-PEM");
  EXPECT_EQ(c.client_key_pem, "KEY-PEM");
}

TEST(Kubeconfig, InClusterFromEnvironmentAndServiceAccountFiles) {
  auto dir = testsupport::MakeTempDir("sa");
  testsupport::WriteFile(dir + "/ca.crt", "CA");
  testsupport::WriteFile(dir + "/token", "tok");
  testsupport::WriteFile(dir + "/namespace", "nais-system");
  std::map<std::string, std::string> env = {{"KUBERNETES_SERVICE_HOST", "fd00::1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}};
  auto lookup = [&env](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto c = LoadInCluster(lookup, dir);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->server, "https://[fd00::1]:443");
  EXPECT_EQ(c->token_file, dir + "/token");
  EXPECT_EQ(c->ca_pem, "CA");
  EXPECT_EQ(c->namespace_, "nais-system");
  env.clear();
  EXPECT_FALSE(LoadInCluster(lookup, dir).has_value());
}

TEST(Kubeconfig, ResolveOrderFlagThenKubeconfigEnvThenHome) {
  auto dir = testsupport::MakeTempDir("resolve");
  testsupport::WriteFile(dir + "/a", R"(current-context: c
clusters: [{name: k, cluster: {server: "http://a:1"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  testsupport::WriteFile(dir + "/b", R"(current-context: c
clusters: [{name: k, cluster: {server: "http://b:1"}}]
contexts: [{name: c, context: {cluster: k}}]
)");
  std::map<std::string, std::string> env = {{"KUBECONFIG", dir + "/b:" + dir + "/a"}};
  auto lookup = [&env](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(ResolveKubeConfig(dir + "/a", lookup).server, "http://a:1");
  EXPECT_EQ(ResolveKubeConfig("", lookup).server, "http://b:1");
}

}  // namespace
}  // namespace deployd::kube
