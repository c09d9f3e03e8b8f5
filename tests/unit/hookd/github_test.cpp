// The GitHub integration's pure parts: the App JWT and key loading, the token cache (with a fake
// clock), the retry and rate-limit rules, description truncation, names, and the github.* settings.
#include <filesystem>
#include <fstream>

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/crypto.hpp"
#include "common/error.hpp"
#include "config_builder.hpp"
#include "hookd/config.hpp"
#include "hookd/github/app_auth.hpp"
#include "hookd/github/policy.hpp"
#include "hookd/grpc/jwt.hpp"

namespace {

using namespace std::chrono_literals;
using hookd::github::Answer;
using hookd::github::Verdict;
using nlohmann::json;

const common::SystemTime kNow = common::SystemTime(std::chrono::seconds(1700000000));

struct KeyPair {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{EVP_RSA_gen(2048), EVP_PKEY_free};

  std::string Pem(bool pkcs1) const {
    BIO* bio = BIO_new(BIO_s_mem());
    if (pkcs1) {
      PEM_write_bio_PrivateKey_traditional(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    } else {
      PEM_write_bio_PrivateKey(bio, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return out;
  }

  bool Verifies(const std::string& input, const std::string& signature) const {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    return EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.get()) == 1 &&
           EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                            input.size()) == 1;
  }
};

const KeyPair& TestKey() {
  static const KeyPair pair;
  return pair;
}

TEST(GithubAppJwt, IsSignedWithTheAppKeyAndHasGithubsClaims) {
  for (bool pkcs1 : {true, false}) {
    auto key = hookd::github::AppKey::FromPem(TestKey().Pem(pkcs1), "test key");
    const std::string jwt = hookd::github::MakeAppJwt(key, "424242", kNow);
    const auto dot1 = jwt.find('.');
    const auto dot2 = jwt.rfind('.');
    ASSERT_NE(dot1, dot2);
    auto header = common::Base64UrlDecodeStrict(jwt.substr(0, dot1));
    auto claims = common::Base64UrlDecodeStrict(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
    auto signature = common::Base64UrlDecodeStrict(jwt.substr(dot2 + 1));
    ASSERT_TRUE(header && claims && signature);
    EXPECT_EQ(json::parse(*header), (json{{"alg", "RS256"}, {"typ", "JWT"}}));
    EXPECT_EQ(json::parse(*claims),
              (json{{"iat", 1700000000 - 60}, {"exp", 1700000000 + 540}, {"iss", "424242"}}));
    EXPECT_TRUE(TestKey().Verifies(jwt.substr(0, dot2), *signature));
    EXPECT_FALSE(TestKey().Verifies(jwt.substr(0, dot2) + "x", *signature));
  }
}

TEST(GithubAppKey, UnreadableOrWrongKeysAreClearErrors) {
  const auto dir = std::filesystem::temp_directory_path() / "hookd-github-unit-key";
  std::filesystem::create_directories(dir);
  const std::string missing = (dir / "missing.pem").string();
  try {
    hookd::github::AppKey::FromFile(missing);
    ADD_FAILURE() << "no error";
  } catch (const common::Error& e) {
    EXPECT_EQ(std::string(e.what()),
              "cannot instantiate Github installation client: unable to read key file \"" +
                  missing + "\": No such file or directory");
  }
  const std::string garbage = (dir / "garbage.pem").string();
  std::ofstream(garbage) << "hello";
  try {
    hookd::github::AppKey::FromFile(garbage);
    ADD_FAILURE() << "no error";
  } catch (const common::Error& e) {
    EXPECT_EQ(std::string(e.what()), "cannot instantiate Github installation client: key file \"" +
                                         garbage + "\" holds no PEM-encoded RSA private key");
  }
  // An EC key is a PEM private key, but not the RSA key GitHub gives an App.
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> ec(EVP_EC_gen("P-256"), EVP_PKEY_free);
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, ec.get(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  const std::string ec_pem(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  EXPECT_THROW(hookd::github::AppKey::FromPem(ec_pem, "ec"), common::Error);
  const std::string good = (dir / "good.pem").string();
  std::ofstream(good) << TestKey().Pem(true);
  EXPECT_NO_THROW(hookd::github::AppKey::FromFile(good));
  std::filesystem::remove_all(dir);
}

TEST(GithubTokenCache, RenewsFiveMinutesBeforeExpiryAndForgetsRefusedTokens) {
  hookd::github::TokenCache cache;
  EXPECT_FALSE(cache.Get(kNow));
  cache.Put("t1", kNow + 1h);
  EXPECT_EQ(cache.Get(kNow), "t1");
  EXPECT_EQ(cache.Get(kNow + 54min), "t1");
  EXPECT_FALSE(cache.Get(kNow + 55min));  // five minutes left: renew
  EXPECT_FALSE(cache.Get(kNow + 2h));
  cache.Put("t2", kNow + 1h);
  cache.Invalidate("t1");  // an older token's 401 does not forget the new one
  EXPECT_EQ(cache.Get(kNow), "t2");
  cache.Invalidate("t2");
  EXPECT_FALSE(cache.Get(kNow));
  cache.Put("short", kNow + 4min);  // issued with less than the margin: never cached as valid
  EXPECT_FALSE(cache.Get(kNow));
}

Answer With(int status, std::string retry_after = "", std::string remaining = "",
            std::string reset = "") {
  return Answer{status, std::move(retry_after), std::move(remaining), std::move(reset)};
}

TEST(GithubPolicy, AnswersAreDoneRetriedPausedOrGivenUp) {
  using hookd::github::Classify;
  EXPECT_EQ(Classify(With(201), kNow).verdict, Verdict::kDone);
  EXPECT_EQ(Classify(With(200), kNow).verdict, Verdict::kDone);
  EXPECT_EQ(Classify(With(204), kNow).verdict, Verdict::kDone);
  for (int status : {0, 408, 500, 502, 503, 504}) {
    EXPECT_EQ(Classify(With(status), kNow).verdict, Verdict::kRetry) << status;
  }
  EXPECT_EQ(Classify(With(401), kNow).verdict, Verdict::kUnauthorized);
  for (int status : {400, 403, 404, 409, 422}) {
    EXPECT_EQ(Classify(With(status), kNow).verdict, Verdict::kRejected) << status;
  }
  // Primary rate limit: 403 with nothing remaining, until the reset.
  auto primary = Classify(With(403, "", "0", "1700000042"), kNow);
  EXPECT_EQ(primary.verdict, Verdict::kRateLimited);
  EXPECT_EQ(primary.until, kNow + 42s);
  // Secondary rate limit: Retry-After, on 403 or 429.
  auto secondary = Classify(With(403, "7"), kNow);
  EXPECT_EQ(secondary.verdict, Verdict::kRateLimited);
  EXPECT_EQ(secondary.until, kNow + 7s);
  EXPECT_EQ(Classify(With(429, "3"), kNow).until, kNow + 3s);
  // 429 without headers: a minute, as GitHub asks.
  EXPECT_EQ(Classify(With(429), kNow).until, kNow + 60s);
  // A reset in the past: go on now; one absurdly far away: at most an hour.
  EXPECT_EQ(Classify(With(403, "", "0", "1600000000"), kNow).until, kNow);
  EXPECT_EQ(Classify(With(403, "", "0", "1800000000"), kNow).until, kNow + 1h);
  EXPECT_EQ(Classify(With(403, "999999"), kNow).until, kNow + 1h);
  // Headers that are not numbers are ignored.
  EXPECT_EQ(Classify(With(403, "soon", "x", "y"), kNow).verdict, Verdict::kRejected);
  // Remaining requests: no rate limit.
  EXPECT_EQ(Classify(With(403, "", "12", "1700000042"), kNow).verdict, Verdict::kRejected);
  // A success that spent the last request pauses what follows, but is done.
  EXPECT_EQ(Classify(With(201, "", "0", "1700000010"), kNow).verdict, Verdict::kDone);
  EXPECT_EQ(hookd::github::RateLimitedUntil(With(201, "", "0", "1700000010"), kNow), kNow + 10s);
  EXPECT_FALSE(hookd::github::RateLimitedUntil(With(201, "", "4999", "1700000010"), kNow));
}

TEST(GithubPolicy, RetryDelaysGrowToTheCapWithJitter) {
  using hookd::github::RetryDelay;
  const auto base = 1000ms;
  const auto cap = 300000ms;
  // Jitter keeps the delay within [delay/2, delay].
  EXPECT_EQ(RetryDelay(0, base, cap, 0), 500ms);
  EXPECT_EQ(RetryDelay(0, base, cap, 500), 1000ms);
  EXPECT_EQ(RetryDelay(3, base, cap, 4000), 8000ms);
  EXPECT_EQ(RetryDelay(3, base, cap, 0), 4000ms);
  for (int attempt = 9; attempt < 40; ++attempt) {
    EXPECT_LE(RetryDelay(attempt, base, cap, ~std::uint64_t{0}), cap);
    EXPECT_GE(RetryDelay(attempt, base, cap, 0), cap / 2);
  }
  std::chrono::milliseconds previous{0};
  for (int attempt = 0; attempt < 12; ++attempt) {
    const auto upper = RetryDelay(attempt, base, cap, 1000000);  // some jitter
    EXPECT_GE(RetryDelay(attempt, base, cap, 0) * 2 + 1ms, upper);
    EXPECT_GE(upper * 2, previous);
    previous = upper;
  }
}

TEST(GithubPolicy, DescriptionsAreCutAt140BytesOnACharacterBoundary) {
  using hookd::github::TruncateUtf8;
  EXPECT_EQ(TruncateUtf8("short", 140), "short");
  EXPECT_EQ(TruncateUtf8(std::string(200, 'x'), 140), std::string(140, 'x'));
  EXPECT_EQ(TruncateUtf8(std::string(140, 'x'), 140), std::string(140, 'x'));
  const std::string o = "\xc3\xb8";              // ø, 2 bytes
  const std::string euro = "\xe2\x82\xac";       // €, 3 bytes
  const std::string smile = "\xf0\x9f\x98\x80";  // 😀, 4 bytes
  EXPECT_EQ(TruncateUtf8(std::string(139, 'a') + o + "b", 140), std::string(139, 'a'));
  EXPECT_EQ(TruncateUtf8(std::string(138, 'a') + o + "b", 140), std::string(138, 'a') + o);
  EXPECT_EQ(TruncateUtf8(std::string(138, 'a') + euro, 140), std::string(138, 'a'));
  EXPECT_EQ(TruncateUtf8(std::string(137, 'a') + euro + "b", 140), std::string(137, 'a') + euro);
  for (std::size_t pad = 136; pad <= 140; ++pad) {
    const auto cut = TruncateUtf8(std::string(pad, 'a') + smile + smile, 140);
    EXPECT_LE(cut.size(), 140U);
    EXPECT_EQ(cut.size() % 4, pad % 4 == 0 ? 0U : pad % 4) << pad;
    EXPECT_EQ(cut.substr(0, pad), std::string(pad, 'a'));
  }
  std::string many;
  for (int i = 0; i < 100; ++i) many += o;
  EXPECT_EQ(TruncateUtf8(many, 140).size(), 140U);
  // Not UTF-8 at all: cut at the limit.
  EXPECT_EQ(TruncateUtf8(std::string(200, '\x80'), 140).size(), 140U);
}

TEST(GithubPolicy, OnlyGithubNamesReachPathsAndTheLogUrlIsTheDeploymentPage) {
  using hookd::github::ValidOwner;
  using hookd::github::ValidRepository;
  EXPECT_TRUE(ValidOwner("navikt"));
  EXPECT_TRUE(ValidOwner("nais-team-1"));
  EXPECT_FALSE(ValidOwner(""));
  EXPECT_FALSE(ValidOwner("a/b"));
  EXPECT_FALSE(ValidOwner("..%2f"));
  EXPECT_FALSE(ValidOwner(std::string(40, 'a')));
  EXPECT_TRUE(ValidRepository("deploy"));
  EXPECT_TRUE(ValidRepository("my_repo.js"));
  EXPECT_FALSE(ValidRepository("."));
  EXPECT_FALSE(ValidRepository(".."));
  EXPECT_FALSE(ValidRepository("a b"));
  EXPECT_FALSE(ValidRepository("a?b"));
  EXPECT_EQ(hookd::github::LogUrl("https://deploy.example.com", "0b5c-1", kNow, "dev-gcp"),
            "https://deploy.example.com/logs?delivery_id=0b5c-1&ts=1700000000&v=1&cluster=dev-gcp");
}

using hookdtest::BuildConfig;
using hookdtest::ConfigError;
using testsupport::FakeEnv;

TEST(GithubConfig, OffByDefault) {
  auto c = BuildConfig({});
  EXPECT_FALSE(c.github_enabled);
  EXPECT_EQ(c.github_api_url, "https://api.github.com");
  EXPECT_EQ(c.github_create_timeout, 3s);
  EXPECT_EQ(c.github_queue_limit, 10000U);
}

TEST(GithubConfig, ReadmeFlagsDottedNamesAndEnvironment) {
  const std::vector<std::string> readme = {
      "--github-enabled",       "--github-app-id=1234",
      "--github-install-id",    "5678",
      "--github-key-file",      "/etc/hookd/app.pem",
      "--github-client-id",     "Iv1.abc",
      "--github-client-secret", "s3cret",
      "--github-api-url",       "https://ghe.example.com/api/v3/"};
  auto c = BuildConfig(readme);
  EXPECT_TRUE(c.github_enabled);
  EXPECT_EQ(c.github_app_id, "1234");
  EXPECT_EQ(c.github_install_id, "5678");
  EXPECT_EQ(c.github_key_file, "/etc/hookd/app.pem");
  EXPECT_EQ(c.github_client_id, "Iv1.abc");
  EXPECT_EQ(c.github_client_secret, "s3cret");
  EXPECT_EQ(c.github_api_url, "https://ghe.example.com/api/v3");

  auto dotted = BuildConfig({"--github.enabled=true", "--github.app-id", "1", "--github.install-id",
                             "2", "--github.key-file", "k.pem", "--github.create-timeout", "500ms",
                             "--github.queue-limit", "5"});
  EXPECT_TRUE(dotted.github_enabled);
  EXPECT_EQ(dotted.github_create_timeout, 500ms);
  EXPECT_EQ(dotted.github_queue_limit, 5U);

  auto env = BuildConfig({}, {{"HOOKD_GITHUB_ENABLED", "true"},
                              {"HOOKD_GITHUB_APP_ID", "11"},
                              {"HOOKD_GITHUB_INSTALL_ID", "22"},
                              {"HOOKD_GITHUB_KEY_FILE", "env.pem"},
                              {"HOOKD_GITHUB_CLIENT_SECRET", "hidden"},
                              {"HOOKD_GITHUB_API_URL", "http://127.0.0.1:9999"}});
  EXPECT_TRUE(env.github_enabled);
  EXPECT_EQ(env.github_app_id, "11");
  EXPECT_EQ(env.github_install_id, "22");
  EXPECT_EQ(env.github_key_file, "env.pem");
  EXPECT_EQ(env.github_api_url, "http://127.0.0.1:9999");
  // The flag wins over the environment.
  EXPECT_EQ(BuildConfig({"--github-app-id", "99"}, {{"HOOKD_GITHUB_APP_ID", "11"}}).github_app_id,
            "99");

  // The client secret never shows in the start-up log.
  CLI::App app;
  common::LayeredConfig settings(hookd::HookdSettings());
  settings.Bind(app);
  settings.Resolve(FakeEnv({{"HOOKD_GITHUB_CLIENT_SECRET", "hidden"}}), "");
  EXPECT_EQ(settings.Describe().find("hidden"), std::string::npos);
  EXPECT_NE(settings.Describe().find("github.client-secret=***"), std::string::npos);
}

TEST(GithubConfig, MissingOrBadSettingsAreClearErrors) {
  const std::string ids =
      "--github-install-id and --github-app-id must be specified when --github-enabled=true";
  EXPECT_EQ(ConfigError({"--github-enabled"}), ids);
  EXPECT_EQ(ConfigError({"--github-enabled", "--github-app-id", "1"}), ids);
  EXPECT_EQ(ConfigError({"--github-enabled", "--github-install-id", "1"}), ids);
  EXPECT_EQ(ConfigError({"--github-enabled", "--github-app-id", "1", "--github-install-id", "2"}),
            "--github-key-file must be specified when --github-enabled=true");
  EXPECT_EQ(ConfigError({"--github-enabled", "--github-app-id", "my-app", "--github-install-id",
                         "2", "--github-key-file", "k"}),
            "invalid value \"my-app\" for github.app-id: want the number GitHub shows for it");
  EXPECT_EQ(ConfigError({"--github-enabled", "--github-app-id", "1", "--github-install-id", "0",
                         "--github-key-file", "k"}),
            "invalid value \"0\" for github.install-id: want the number GitHub shows for it");
  const std::vector<std::string> valid = {"--github-enabled",
                                          "--github-app-id",
                                          "1",
                                          "--github-install-id",
                                          "2",
                                          "--github-key-file",
                                          "k"};
  auto with_url = [&](const std::string& url) {
    auto args = valid;
    args.push_back("--github-api-url=" + url);
    return ConfigError(args);
  };
  EXPECT_EQ(with_url("http://api.github.com"),
            "invalid github.api-url \"http://api.github.com\": want an https:// URL (http:// only "
            "on a loopback address)");
  EXPECT_NE(with_url("ftp://x"), "");
  EXPECT_EQ(with_url("http://localhost:8080/api"), "");
  EXPECT_EQ(with_url("http://[::1]:8080"), "");
  EXPECT_EQ(ConfigError({"--github.queue-limit", "0"}),
            "invalid value \"0\" for github.queue-limit: want a positive number of deployments");
  EXPECT_EQ(ConfigError({"--github.create-timeout", "soon"}),
            "invalid value \"soon\" for github.create-timeout: want a duration such as 10s");
  // Disabled: ids and key are not needed.
  EXPECT_EQ(ConfigError({"--github-app-id", "x"}), "");
}

}  // namespace
