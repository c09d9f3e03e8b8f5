// The console against a real hookd and Postgres: the list (filters, keyset pagination, escaping),
// the deployment page (resource states, timeline, failure evidence, commit link), the key option,
// the Content-Security-Policy and the live updates (server-sent events, fed by another replica's
// notification).
#include "hookd/http/console.hpp"

#include <array>
#include <thread>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>
#include <openssl/sha.h>
#include <pqxx/pqxx>

#include "common/asio.hpp"
#include "common/crypto.hpp"
#include "common/hex.hpp"
#include "common/time.hpp"
#include "harness.hpp"
#include "hookd/store/pool.hpp"
#include "hookd/store/store.hpp"
#include "support/http_call.hpp"

namespace {

using namespace hookdtest;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = common::net;

struct Fetched {
  int status = 0;
  std::map<std::string, std::string> headers;  // first value of each name, as sent
  std::string body;
};

Fetched Fetch(int port, const std::string& method, const std::string& target,
              const std::map<std::string, std::string>& headers = {},
              const std::string& body = "") {
  net::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(std::chrono::seconds(30));
  stream.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
  bhttp::request<bhttp::string_body> req{bhttp::string_to_verb(method), target, 11};
  req.set(bhttp::field::host, "localhost");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  bhttp::write(stream, req);
  beast::flat_buffer buffer;
  bhttp::response<bhttp::string_body> res;
  bhttp::read(stream, buffer, res);
  Fetched out;
  out.status = static_cast<int>(res.result_int());
  for (const auto& field : res) {
    out.headers.emplace(std::string(field.name_string()), std::string(field.value()));
  }
  out.body = res.body();
  return out;
}

// An open event stream: the raw bytes as they arrive.
class EventStream {
 public:
  EventStream(int port, const std::string& target) : stream_(io_) {
    stream_.expires_after(std::chrono::seconds(30));
    stream_.connect({net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
    const std::string request =
        "GET " + target + " HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n";
    net::write(stream_, net::buffer(request));
  }
  // Reads until `needle` appears after `from` (true) or the stream ends or 30 s pass (false).
  bool WaitFor(const std::string& needle, std::size_t from = 0) {
    while (text_.find(needle, from) == std::string::npos) {
      if (!ReadSome()) return text_.find(needle, from) != std::string::npos;
    }
    return true;
  }
  // Reads until the server closes the connection (true) or 30 s pass (false).
  bool WaitForEnd() {
    while (ReadSome()) {
    }
    return ended_;
  }
  const std::string& Text() const { return text_; }

 private:
  bool ReadSome() {
    char buffer[4096];
    boost::system::error_code ec;
    stream_.expires_after(std::chrono::seconds(30));
    const auto n = stream_.read_some(net::buffer(buffer), ec);
    text_.append(buffer, n);
    if (ec == net::error::eof) ended_ = true;
    return !ec;
  }
  net::io_context io_;
  beast::tcp_stream stream_;
  std::string text_;
  bool ended_ = false;
};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::size_t Occurrences(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

class Console : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!db_.Available()) GTEST_SKIP() << "no test database";
  }
  void Start(bool require_key = false) {
    auto config = TestConfig(db_.Url(), true, true);
    config.frontend_keys = {"console-psk", "second; key"};
    config.console_require_key = require_key;
    app_ = std::make_unique<hookd::App>(config);
    app_->Start();
    port_ = app_->HttpPort();
    // Ready: listening for the other replicas' notifications too.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (Call(port_, "GET", "/readyz").status != 200) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "hookd never became ready";
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  void TearDown() override {
    if (app_) app_->Stop();
  }
  void Exec(const std::string& sql) {
    pqxx::connection conn(db_.Url());
    pqxx::nontransaction tx(conn);
    tx.exec(sql);
  }
  // A deployment created `minutes_ago` minutes before now, with statuses `seconds` after it.
  void Insert(const std::string& id, const std::string& team, const std::string& cluster,
              const std::string& state, const std::string& repository, int minutes_ago,
              const std::vector<std::tuple<std::string, std::string, int>>& statuses = {},
              const std::string& base = "date_trunc('second', now())") {
    pqxx::connection conn(db_.Url());
    pqxx::work tx(conn);
    const std::string created =
        "(" + base + " - interval '" + std::to_string(minutes_ago) + " minutes')";
    tx.exec_params(
        "INSERT INTO deployment (id, team, created, github_repository, cluster, state)"
        " VALUES ($1, $2, " +
            created + ", NULLIF($3, ''), $4, $5)",
        id, team, repository, cluster, state);
    int n = 0;
    for (const auto& [status, message, seconds] : statuses) {
      tx.exec_params(
          "INSERT INTO deployment_status (id, deployment_id, status, message, created)"
          " VALUES ($1, $2, $3, $4, " +
              created + " + $5 * interval '1 second')",
          id + "-s" + std::to_string(n++), id, status, message, seconds);
    }
    tx.commit();
  }
  void Resource(const std::string& id, int index, const std::string& group, const std::string& kind,
                const std::string& name) {
    pqxx::connection conn(db_.Url());
    pqxx::nontransaction tx(conn);
    tx.exec_params(
        "INSERT INTO deployment_resource (id, deployment_id, \"index\", \"group\", version, kind,"
        " name, namespace) VALUES ($1, $2, $3, $4, 'v1', $5, $6, 'aura')",
        id + "-r" + std::to_string(index), id, index, group, kind, name);
  }
  static std::string Id(int n) {
    char buffer[40];
    std::snprintf(buffer, sizeof buffer, "00000000-0000-4000-8000-%012d", n);
    return buffer;
  }

  testsupport::TestDatabase db_;
  std::unique_ptr<hookd::App> app_;
  int port_ = 0;
};

TEST_F(Console, ListsNewestFirstWithFiltersAndEscaping) {
  Start();
  Insert(Id(1), "aura", "dev-gcp", "success", "navikt/app", 50,
         {{"queued", "q", 0}, {"success", "done", 75}});
  Insert(Id(2), "aura", "prod-gcp", "failure", "navikt/app", 40, {{"failure", "bad", 3}});
  Insert(Id(3), "<script>alert(1)</script>", "dev-gcp", "in_progress", "navikt/\"x\"", 30);
  Insert(Id(4), "tbd", "dev-gcp", "queued", "", 20);

  for (const std::string path : {"/", "/deployments"}) {
    auto page = Fetch(port_, "GET", path);
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_EQ(page.headers["Content-Type"], "text/html; charset=utf-8");
    EXPECT_EQ(page.headers["Content-Security-Policy"], hookd::http::ConsoleContentSecurityPolicy());
    EXPECT_EQ(page.headers["X-Content-Type-Options"], "nosniff");
    // Newest first.
    const auto p4 = page.body.find(Id(4)), p3 = page.body.find(Id(3)), p2 = page.body.find(Id(2)),
               p1 = page.body.find(Id(1));
    ASSERT_NE(p1, std::string::npos);
    EXPECT_LT(p4, p3);
    EXPECT_LT(p3, p2);
    EXPECT_LT(p2, p1);
    // Escaped, and no script the page did not bring itself.
    EXPECT_TRUE(Contains(page.body, "&lt;script&gt;alert(1)&lt;/script&gt;"));
    EXPECT_FALSE(Contains(page.body, "<script>alert"));
    EXPECT_EQ(Occurrences(page.body, "<script"), 0U);
    EXPECT_TRUE(Contains(page.body, "navikt/&quot;x&quot;"));
    // Links and durations: 1m 15s from creation to the final status.
    EXPECT_TRUE(Contains(page.body, "href=\"/deployments/" + Id(1) + "\""));
    EXPECT_TRUE(Contains(page.body, ">1m 15s</td>"));
    EXPECT_TRUE(Contains(page.body, "50m 0"));
    EXPECT_TRUE(Contains(page.body, "href=\"/deployments?team=aura\""));
  }

  auto team = Fetch(port_, "GET", "/deployments?team=aura");
  EXPECT_TRUE(Contains(team.body, Id(1)) && Contains(team.body, Id(2)));
  EXPECT_FALSE(Contains(team.body, Id(3)) || Contains(team.body, Id(4)));
  EXPECT_TRUE(Contains(team.body, "name=\"team\" value=\"aura\""));
  auto cluster = Fetch(port_, "GET", "/deployments?cluster=dev-gcp&state=in_progress");
  EXPECT_TRUE(Contains(cluster.body, Id(3)));
  EXPECT_FALSE(Contains(cluster.body, Id(1)) || Contains(cluster.body, Id(2)) ||
               Contains(cluster.body, Id(4)));
  EXPECT_TRUE(Contains(cluster.body, "<option value=\"in_progress\" selected>"));
  auto repository = Fetch(port_, "GET", "/deployments?repository=navikt%2Fapp&state=failure");
  EXPECT_TRUE(Contains(repository.body, Id(2)));
  EXPECT_FALSE(Contains(repository.body, Id(1)));
  auto none = Fetch(port_, "GET", "/deployments?team=nobody");
  EXPECT_EQ(none.status, 200);
  EXPECT_TRUE(Contains(none.body, "No deployments match."));
  // A filter value is shown escaped in the form.
  auto hostile = Fetch(port_, "GET", "/deployments?team=%22%3E%3Cscript%3E");
  EXPECT_TRUE(Contains(hostile.body, "value=\"&quot;&gt;&lt;script&gt;\""));
  EXPECT_EQ(Occurrences(hostile.body, "<script"), 0U);

  auto bad_state = Fetch(port_, "GET", "/deployments?state=done");
  EXPECT_EQ(bad_state.status, 400);
  EXPECT_EQ(bad_state.body,
            "unknown state \"done\": want queued, pending, in_progress, success, failure, error or "
            "inactive\n");
  auto bad_limit = Fetch(port_, "GET", "/deployments?limit=0");
  EXPECT_EQ(bad_limit.status, 400);
  EXPECT_EQ(bad_limit.body, "invalid limit \"0\": want a number from 1 to 200\n");
  auto bad_cursor = Fetch(port_, "GET", "/deployments?before=yesterday");
  EXPECT_EQ(bad_cursor.status, 400);
  EXPECT_EQ(bad_cursor.body, "invalid cursor \"yesterday\": want <microseconds>.<deployment ID>\n");
  EXPECT_EQ(Fetch(port_, "POST", "/deployments").status, 405);
}

TEST_F(Console, KeysetPaginationVisitsEveryDeploymentOnce) {
  Start();
  // Seven deployments, three of them created in the same second (ties broken by ID).
  for (int i = 1; i <= 7; ++i) {
    Insert(Id(i), "aura", "dev", "success", "", i <= 3 ? 5 : 10 + i, {},
           "timestamptz '2026-06-01 12:00:00.123456+00'");
  }
  std::vector<std::string> seen;
  std::string target = "/deployments?limit=2";
  for (int page = 0; page < 10 && !target.empty(); ++page) {
    auto reply = Fetch(port_, "GET", target);
    ASSERT_EQ(reply.status, 200) << target << ": " << reply.body;
    std::size_t rows = 0;
    for (int i = 7; i >= 1; --i) {
      if (Contains(reply.body, "href=\"/deployments/" + Id(i) + "\"")) {
        seen.push_back(Id(i));
        ++rows;
      }
    }
    EXPECT_LE(rows, 2U);
    const auto next = reply.body.find("\" rel=\"next\"");
    if (next == std::string::npos) break;
    const auto href = reply.body.rfind("href=\"", next);
    target = reply.body.substr(href + 6, next - href - 6);
    // The link is HTML-escaped; the query separator comes back as '&amp;'.
    for (auto at = target.find("&amp;"); at != std::string::npos; at = target.find("&amp;")) {
      target.replace(at, 5, "&");
    }
    EXPECT_TRUE(Contains(target, "limit=2&before=")) << target;
  }
  std::sort(seen.begin(), seen.end());
  std::vector<std::string> all;
  for (int i = 1; i <= 7; ++i) all.push_back(Id(i));
  EXPECT_EQ(seen, all);
}

TEST_F(Console, DeploymentPageShowsResourcesTimelineEvidenceAndCommit) {
  Start();
  const std::string id = Id(10);
  Insert(id, "aura", "dev-gcp", "failure", "navikt/app", 2,
         {{"queued", "queued for dev-gcp", 0},
          {"in_progress", "Successfully applied /v1, Kind=ConfigMap, Namespace=aura, Name=cfg", 2},
          {"in_progress", "Successfully applied apps/v1, Kind=Deployment, Namespace=aura, Name=web",
           3},
          {"in_progress", "Deployment/web: 0 of 2 updated replicas are available", 5},
          {"failure",
           "Deployment/web: deployment \"web\" exceeded its progress deadline <b>x</b> (total of 1 "
           "errors)",
           65}});
  Resource(id, 0, "", "ConfigMap", "cfg");
  Resource(id, 1, "apps", "Deployment", "web");
  Exec(
      "INSERT INTO github_deployment (deployment_id, owner, repository, team, ref, environment,"
      " log_url, phase, next_attempt, created) VALUES ('" +
      id +
      "', 'navikt', 'app', 'aura', '0123456789abcdef0123456789abcdef01234567', 'dev', '', 'done',"
      " now(), now())");

  for (const std::string& target : {"/deployments/" + id, "/logs?delivery_id=" + id}) {
    auto page = Fetch(port_, "GET", target);
    ASSERT_EQ(page.status, 200) << page.body;
    EXPECT_EQ(page.headers["Content-Security-Policy"], hookd::http::ConsoleContentSecurityPolicy());
    const std::string& b = page.body;
    EXPECT_TRUE(Contains(b, "<h1>Deployment <code>" + id + "</code></h1>"));
    // Resources with their derived states.
    EXPECT_TRUE(Contains(b, "<td>ConfigMap</td><td><code>cfg</code></td>"));
    EXPECT_TRUE(Contains(b, "<span class=\"state state-applied\">applied</span>"));
    EXPECT_TRUE(
        Contains(b,
                 "<span class=\"state state-failed\">failed</span></td><td>deployment "
                 "&quot;web&quot; exceeded its progress deadline &lt;b&gt;x&lt;/b&gt;</td>"));
    // Timeline relative to the start, oldest first.
    EXPECT_TRUE(Contains(b, ">+0ms</time>"));
    EXPECT_TRUE(Contains(b, ">+1m 05s</time>"));
    EXPECT_LT(b.find("queued for dev-gcp"), b.find("0 of 2 updated replicas"));
    // Failure evidence, prominent.
    EXPECT_TRUE(Contains(b, "<div class=\"evidence\" role=\"alert\"><h2>Why it failed</h2>"));
    EXPECT_TRUE(Contains(b, "<dt>Duration</dt><dd>1m 05s</dd>"));
    // The commit.
    EXPECT_TRUE(Contains(b,
                         "href=\"https://github.com/navikt/app/commit/"
                         "0123456789abcdef0123456789abcdef01234567\""));
    // Finished: no live updates, no refresh, no script.
    EXPECT_FALSE(Contains(b, "data-events="));
    EXPECT_FALSE(Contains(b, "http-equiv=\"refresh\""));
    EXPECT_EQ(Occurrences(b, "<script"), 0U);
  }

  // Running: the event stream, the script (allowed by its hash) and the refresh without JS.
  Insert(Id(11), "aura", "dev-gcp", "in_progress", "", 1, {{"queued", "queued", 0}});
  auto running = Fetch(port_, "GET", "/deployments/" + Id(11));
  EXPECT_TRUE(Contains(running.body, "data-events=\"/deployments/" + Id(11) + "/events\""));
  EXPECT_TRUE(Contains(running.body, "<noscript><meta http-equiv=\"refresh\" content=\"5\">"));
  EXPECT_EQ(Occurrences(running.body, "<script>"), 1U);
  EXPECT_FALSE(Contains(running.body, "/commit/"));

  auto missing = Fetch(port_, "GET", "/deployments/" + Id(99));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body, "deployment '" + Id(99) + "' not found\n");
  auto bad = Fetch(port_, "GET", "/deployments/%3Cx%3E");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body, "deployment ID '%3Cx%3E' is not a well-formed UUID\n");
  EXPECT_EQ(bad.headers["Content-Type"], "text/plain; charset=utf-8");
}

// A final message with a crashed container's last lines: shown whole, newlines kept (pre-wrap, a
// style the policy allows by its hash), escaped; the resource's row names the reason only.
TEST_F(Console, DeploymentPageShowsTheCrashedContainersLogLines) {
  Start();
  const std::string id = Id(12);
  const std::string message =
      "Deployment/web: pod web-7d9c-x2x container web: CrashLoopBackOff: back-off 10s (last exit: "
      "Error, code 1, 2 restarts) (total of 1 errors)\n"
      "Deployment/web: last 2 log lines of container \"web\" in pod web-7d9c-x2x (previous "
      "instance):\n"
      "panic: <script>alert(1)</script>\n"
      "\texit status 2";
  Insert(id, "aura", "dev-gcp", "failure", "", 1,
         {{"queued", "queued for dev-gcp", 0},
          {"in_progress", "Successfully applied apps/v1, Kind=Deployment, Namespace=aura, Name=web",
           1},
          {"failure", message, 20}});
  Resource(id, 0, "apps", "Deployment", "web");
  auto page = Fetch(port_, "GET", "/deployments/" + id);
  ASSERT_EQ(page.status, 200) << page.body;
  const std::string& b = page.body;
  const std::string escaped =
      "Deployment/web: pod web-7d9c-x2x container web: CrashLoopBackOff: back-off 10s (last exit: "
      "Error, code 1, 2 restarts) (total of 1 errors)\n"
      "Deployment/web: last 2 log lines of container &quot;web&quot; in pod web-7d9c-x2x "
      "(previous instance):\n"
      "panic: &lt;script&gt;alert(1)&lt;/script&gt;\n"
      "\texit status 2";
  EXPECT_TRUE(Contains(b, "<h2>Why it failed</h2><p class=\"msg\">" + escaped + "</p>")) << b;
  EXPECT_TRUE(Contains(b, "<dt>Last message</dt><dd class=\"msg\">" + escaped + "</dd>"));
  EXPECT_TRUE(Contains(b, "<td class=\"msg\">" + escaped + "</td></tr>"));
  EXPECT_TRUE(Contains(b,
                       "<span class=\"state state-failed\">failed</span></td><td>pod web-7d9c-x2x "
                       "container web: CrashLoopBackOff: back-off 10s (last exit: Error, code 1, 2 "
                       "restarts)</td>"));
  EXPECT_EQ(Occurrences(b, "<script"), 0U);
  // The inline style keeps the lines and is the one the policy's hash allows.
  const auto style_at = b.find("<style>");
  const auto style_end = b.find("</style>");
  ASSERT_NE(style_at, std::string::npos);
  const std::string style = b.substr(style_at + 7, style_end - style_at - 7);
  EXPECT_TRUE(Contains(style, ".msg{white-space:pre-wrap;overflow-wrap:anywhere}"));
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(style.data()), style.size(), digest.data());
  const std::string hash = common::Base64Encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
  EXPECT_TRUE(Contains(page.headers["Content-Security-Policy"], "style-src 'sha256-" + hash + "'"))
      << page.headers["Content-Security-Policy"];
}

TEST_F(Console, KeyOptionGuardsTheListOnly) {
  Start(true);
  Insert(Id(20), "aura", "dev", "success", "", 1);
  auto anonymous = Fetch(port_, "GET", "/deployments");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_TRUE(Contains(anonymous.body, "<form method=\"post\" action=\"/console/login\">"));
  EXPECT_FALSE(Contains(anonymous.body, Id(20)));
  EXPECT_EQ(Fetch(port_, "GET", "/", {{"X-PSK", "wrong"}}).status, 401);
  auto header = Fetch(port_, "GET", "/", {{"X-PSK", "console-psk"}});
  EXPECT_EQ(header.status, 200);
  EXPECT_TRUE(Contains(header.body, Id(20)));
  EXPECT_EQ(
      Fetch(port_, "GET", "/deployments", {{"Cookie", "a=b; hookd_console_key=second%3B%20key"}})
          .status,
      200);
  EXPECT_EQ(Fetch(port_, "GET", "/deployments", {{"Cookie", "hookd_console_key=nope"}}).status,
            401);
  // The page of a deployment stays as open as /logs.
  EXPECT_EQ(Fetch(port_, "GET", "/deployments/" + Id(20)).status, 200);

  auto wrong = Fetch(port_, "POST", "/console/login",
                     {{"Content-Type", "application/x-www-form-urlencoded"}}, "key=nope");
  EXPECT_EQ(wrong.status, 403);
  EXPECT_TRUE(Contains(wrong.body, "The key was not accepted."));
  auto login = Fetch(port_, "POST", "/console/login",
                     {{"Content-Type", "application/x-www-form-urlencoded"}}, "key=second%3B+key");
  EXPECT_EQ(login.status, 303);
  EXPECT_EQ(login.headers["Location"], "/deployments");
  EXPECT_EQ(login.headers["Set-Cookie"],
            "hookd_console_key=second%3B%20key; Path=/; HttpOnly; SameSite=Strict");
}

TEST_F(Console, LiveUpdatesArriveFromAnotherReplicaAndTheStreamEnds) {
  Start();
  const std::string id = Id(30);
  Insert(id, "aura", "dev", "in_progress", "", 1, {{"queued", "queued", 0}});
  Resource(id, 0, "apps", "Deployment", "web");

  EventStream events(port_, "/deployments/" + id + "/events");
  ASSERT_TRUE(events.WaitFor("\r\n\r\n")) << events.Text();
  EXPECT_EQ(events.Text().rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << events.Text();
  EXPECT_TRUE(Contains(events.Text(), "Content-Type: text/event-stream\r\n"));
  ASSERT_TRUE(events.WaitFor("event: update\ndata: {")) << events.Text();
  const std::size_t first = events.Text().size();

  // Another replica stores a status: this hookd hears of it through Postgres.
  hookd::store::ConnectionPool pool(db_.Url(), 1);
  hookd::store::Store other(pool, *common::HexDecode(kEncryptionKeyHex));
  other.SetOrigin("another-replica");
  other.WriteStatus(id, pb::in_progress,
                    "Successfully applied apps/v1, Kind=Deployment, Namespace=aura, Name=web <now>",
                    std::chrono::system_clock::now());
  ASSERT_TRUE(events.WaitFor("Name=web &lt;now&gt;", first)) << events.Text();
  EXPECT_TRUE(Contains(events.Text().substr(first), "event: update\n"));

  other.WriteStatus(id, pb::success, "Deployment completed successfully.",
                    std::chrono::system_clock::now());
  ASSERT_TRUE(events.WaitFor("\"finished\":true", first)) << events.Text();
  EXPECT_TRUE(events.WaitForEnd()) << events.Text();

  // Not found and malformed IDs are answered before any stream starts.
  EventStream missing(port_, "/deployments/" + Id(31) + "/events");
  EXPECT_TRUE(missing.WaitForEnd());
  EXPECT_EQ(missing.Text().rfind("HTTP/1.1 404 Not Found\r\n", 0), 0U) << missing.Text();
  EXPECT_TRUE(Contains(missing.Text(), "deployment '" + Id(31) + "' not found\n"));
  EventStream bad(port_, "/deployments/nope/events");
  EXPECT_TRUE(bad.WaitForEnd());
  EXPECT_TRUE(Contains(bad.Text(), "deployment ID 'nope' is not a well-formed UUID\n"));
}

}  // namespace
