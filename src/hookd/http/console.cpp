#include "hookd/http/console.hpp"

#include <algorithm>
#include <array>
#include <ctime>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "common/crypto.hpp"
#include "common/http_client.hpp"
#include "common/state.hpp"
#include "common/time.hpp"
#include "common/uuid.hpp"
#include "hookd/http/endpoint_util.hpp"

namespace hookd::http {
namespace {

// ---- assets (inline; allowed by hash)
// ------------------------------------------------------------

// Colours reach a contrast of at least 4.5:1 on their backgrounds (WCAG AA), in both schemes.
constexpr const char* kStyle =
    ":root{color-scheme:light dark;--fg:#1b1b1b;--bg:#fff;--muted:#4a4a4a;--line:#c8c8c8;"
    "--link:#0b57a4;--ok:#11652d;--bad:#a4161a;--run:#7a4b00;--badbg:#fdecea}"
    "@media (prefers-color-scheme:dark){:root{--fg:#ececec;--bg:#161616;--muted:#bdbdbd;"
    "--line:#4a4a4a;--link:#8ab8ff;--ok:#7fd890;--bad:#ff9b9b;--run:#f2c36b;--badbg:#3a1d1d}}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "color:var(--fg);background:var(--bg)}"
    "a{color:var(--link)}a:focus-visible,button:focus-visible,input:focus-visible,"
    "select:focus-visible{outline:3px solid var(--link);outline-offset:2px}"
    ".skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:var(--bg);"
    "padding:4px 8px;z-index:1}"
    "header{border-bottom:1px solid var(--line);padding:8px 16px}"
    "header a{font-weight:600;text-decoration:none}"
    "main{padding:16px;max-width:1200px;margin:0 auto}"
    "h1{font-size:1.5rem;margin:0 0 12px;word-break:break-all}h2{font-size:1.2rem;margin:24px 0 "
    "8px}"
    ".table{overflow-x:auto}table{border-collapse:collapse;width:100%}"
    "th,td{border-bottom:1px solid var(--line);padding:6px 8px;text-align:left;"
    "vertical-align:top}th{font-weight:600}"
    "code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;word-break:break-all}"
    ".state{font-weight:600;white-space:nowrap}"
    ".state-success,.state-ready{color:var(--ok)}"
    ".state-failure,.state-error,.state-failed,.state-inactive{color:var(--bad)}"
    ".state-in_progress,.state-queued,.state-pending,.state-waiting,.state-applied{color:var(--run)"
    "}"
    ".muted{color:var(--muted)}"
    ".msg{white-space:pre-wrap;overflow-wrap:anywhere}"
    ".evidence{border:2px solid var(--bad);background:var(--badbg);padding:8px 12px;"
    "margin:12px 0;border-radius:4px}.evidence h2{margin:0 0 4px;color:var(--bad)}"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}"
    "dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}"
    "form{display:flex;flex-wrap:wrap;gap:8px 16px;align-items:flex-end;margin-bottom:16px}"
    "label{display:flex;flex-direction:column;font-size:.9rem}"
    "input,select,button{font:inherit;padding:4px 6px;color:var(--fg);background:var(--bg);"
    "border:1px solid var(--muted);border-radius:3px}"
    "button{cursor:pointer;font-weight:600}"
    "nav.pages{display:flex;gap:16px;margin-top:12px}"
    "@media (max-width:640px){main{padding:8px}dl{grid-template-columns:1fr}"
    ".hide-narrow{display:none}"
    "#deployments thead{position:absolute;left:-999px}"
    "#deployments tr{display:block;border-bottom:1px solid var(--line);padding:6px 0}"
    "#deployments td{display:flex;gap:8px;border:0;padding:2px 8px}"
    "#deployments td::before{content:attr(data-label);font-weight:600;min-width:7em}"
    "#deployments td>*{min-width:0;overflow-wrap:anywhere}}";

// Live updates of a deployment page: replaces its live sections with what the `update` events
// carry (HTML that hookd escaped). Without EventSource, or once the stream is refused, the page
// reloads every 10 seconds instead.
constexpr const char* kScript =
    "(function(){'use strict';"
    "var url=document.body.getAttribute('data-events');if(!url){return;}"
    "var live=document.getElementById('live');"
    "function say(t){if(live){live.textContent=t;}}"
    "function reload(){say('Live updates unavailable; reloading every 10 seconds.');"
    "setTimeout(function(){location.reload();},10000);}"
    "if(!window.EventSource){reload();return;}"
    "var es=new EventSource(url);"
    "es.addEventListener('update',function(e){var d;try{d=JSON.parse(e.data);}catch(x){return;}"
    "['summary','resources','timeline'].forEach(function(k){var el=document.getElementById(k);"
    "if(el&&typeof d[k]==='string'){el.innerHTML=d[k];}});"
    "document.body.setAttribute('data-state',d.state||'');"
    "if(d.finished){es.close();say('The deployment has finished.');}"
    "else{say('Live: updates appear as they happen.');}});"
    "es.addEventListener('gone',function(){es.close();say('The deployment no longer exists.');});"
    "es.onerror=function(){if(es.readyState===2){reload();}else{say('Reconnecting\\u2026');}};"
    "})();";

std::string Sha256Base64(const std::string& text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return common::Base64Encode(
      std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

// ---- small helpers
// -------------------------------------------------------------------------------

const char* const kStates[] = {"queued",  "pending", "in_progress", "success",
                               "failure", "error",   "inactive"};

bool KnownState(const std::string& s) {
  return std::find(std::begin(kStates), std::end(kStates), s) != std::end(kStates);
}

std::string Esc(const std::string& text) { return HtmlEscape(text); }

// A query value or path segment, percent-encoded (all but the unreserved characters).
std::string QueryEscape(const std::string& text) { return common::UrlEncode(text); }

std::int64_t MicrosOf(common::SystemTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// "2026-11-30 11:38:27 UTC"
std::string HumanTime(common::SystemTime t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buffer;
}

std::string TimeElement(common::SystemTime t) {
  return "<time datetime=\"" + common::FormatRfc3339(t) + "\">" + HumanTime(t) + "</time>";
}

std::string StateBadge(const std::string& state) {
  const std::string cls = KnownState(state) || state == "ready" || state == "failed" ||
                                  state == "waiting" || state == "applied"
                              ? state
                              : "unknown";
  return "<span class=\"state state-" + cls + "\">" + Esc(state.empty() ? "unknown" : state) +
         "</span>";
}

// "owner/name" with the characters GitHub allows.
bool PlainRepository(const std::string& repo) {
  const auto slash = repo.find('/');
  if (slash == std::string::npos || slash == 0 || slash + 1 == repo.size()) return false;
  for (std::size_t i = 0; i < repo.size(); ++i) {
    const auto c = static_cast<unsigned char>(repo[i]);
    if (i == slash) continue;
    if (!std::isalnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return repo.find('/', slash + 1) == std::string::npos;
}

bool CommitSha(const std::string& ref) {
  return ref.size() >= 7 && ref.size() <= 40 &&
         ref.find_first_not_of("0123456789abcdefABCDEF") == std::string::npos;
}

std::string ListLink(const ListQuery& q, const std::string& before) {
  std::string out = "/deployments";
  char sep = '?';
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    out += sep;
    out += key;
    out += '=';
    out += QueryEscape(value);
    sep = '&';
  };
  add("team", q.team);
  add("cluster", q.cluster);
  add("state", q.state);
  add("repository", q.repository);
  if (q.limit != 50) add("limit", std::to_string(q.limit));
  add("before", before);
  return out;
}

std::string FilterLink(const char* key, const std::string& value) {
  ListQuery q;
  if (std::string(key) == "team") q.team = value;
  if (std::string(key) == "cluster") q.cluster = value;
  if (std::string(key) == "repository") q.repository = value;
  return ListLink(q, "");
}

std::string PageStart(const std::string& title, bool refresh) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta name=\"referrer\" content=\"no-referrer\"><title>" +
      Esc(title) + "</title>\n";
  if (refresh) html += "<noscript><meta http-equiv=\"refresh\" content=\"5\"></noscript>\n";
  html += std::string("<style>") + kStyle + "</style></head>\n";
  return html;
}

const std::string kNav =
    "<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header><nav aria-label=\"Console\">"
    "<a href=\"/deployments\">hookd deployments</a></nav></header>\n";

Response Page(int status, std::string html) {
  return Response{status, "text/html; charset=utf-8", std::move(html), ConsoleHeaders()};
}

// ---- resource states
// -----------------------------------------------------------------------------

// The namespace in "…, Namespace=<ns>, Name=<name>" ("" when absent).
std::string NamespaceIn(const std::string& message) {
  const std::string key = ", Namespace=";
  const auto at = message.find(key);
  if (at == std::string::npos) return "";
  const auto end = message.find(", Name=", at + key.size());
  return end == std::string::npos ? "" : message.substr(at + key.size(), end - at - key.size());
}

bool SameNamespace(const store::ResourceRow& r, const std::string& message) {
  const std::string ns = NamespaceIn(message);
  return r.ns.empty() || ns.empty() || ns == r.ns;
}

// deployd's "Successfully applied <group>/<version>, Kind=<kind>, [Namespace=<ns>, ]Name=<name>".
bool AppliedMessageFor(const std::string& message, const store::ResourceRow& r) {
  return message.starts_with("Successfully applied ") &&
         message.find(", Kind=" + r.kind + ",") != std::string::npos &&
         message.ends_with("Name=" + r.name) && SameNamespace(r, message);
}

// What a message says about the resource: rollout messages "<Kind>/<name>: <text>", events
// "<Kind>/<name> (<reason>): <text>", "<Kind>/<name> was deleted …", and apply errors
// "<group>/<version>, Kind=<kind>, …, Name=<name>: <error>". nullopt when it is not about it.
std::optional<std::string> AboutResource(const std::string& message, const store::ResourceRow& r) {
  const std::string short_name = r.kind + "/" + r.name;
  if (message.starts_with(short_name + ": ")) return message.substr(short_name.size() + 2);
  if (message.starts_with(short_name + " ")) return message;
  const std::string tail = "Name=" + r.name + ": ";
  const auto kind = message.find(", Kind=" + r.kind + ",");
  const auto name = message.find(tail);
  if (kind != std::string::npos && name != std::string::npos && kind < name &&
      message.find(": ") == name + tail.size() - 2 && SameNamespace(r, message)) {
    return message.substr(name + tail.size());
  }
  return std::nullopt;
}

bool DonePhrase(const std::string& text) {
  static const char* const kExact[] = {"Ready",
                                       "resource is current",
                                       "written",
                                       "pod is ready",
                                       "pod succeeded",
                                       "established",
                                       "OnDelete update strategy: not watched"};
  for (const char* e : kExact) {
    if (text == e) return true;
  }
  return text.ends_with(" rolled out") || text.ends_with(" is available") ||
         text.ends_with(" completed") || text == std::string(common::kSuccessMessage);
}

bool FailurePhrase(const std::string& text) {
  static const char* const kParts[] = {
      "exceeded its progress deadline", "job failed:",          "pod failed:",
      "was deleted while waiting",      "not established:",     "names not accepted:",
      "deployd is shutting down",       "cannot start a thread"};
  for (const char* p : kParts) {
    if (text.find(p) != std::string::npos) return true;
  }
  return false;
}

// A final message's first line without its error count: what went wrong with the resource (the
// lines after it, such as a failing container's last log lines, are shown with the whole message).
std::string WithoutErrorCount(const std::string& message) {
  std::string first = message.substr(0, message.find('\n'));
  const auto at = first.rfind(" (total of ");
  if (at == std::string::npos || !first.ends_with(" errors)")) return first;
  return first.substr(0, at);
}

// ---- rendering of the live sections
// ---------------------------------------------------------------

struct PageData {
  store::DeploymentRow deployment;
  std::string commit_repository;  // "owner/name" when a commit link can be made
  std::string commit_sha;
  std::vector<store::StatusRow> statuses;  // newest first
  std::vector<store::ResourceRow> resources;
};

bool Finished(const PageData& d) {
  return !d.statuses.empty() && common::IsFinished(d.statuses.front().state);
}

std::string RenderSummary(const PageData& d, common::SystemTime now) {
  const std::string state = d.deployment.state.value_or("");
  const bool finished = Finished(d);
  const auto end = finished ? d.statuses.front().created : now;
  std::string html = "<dl><dt>State</dt><dd>" + StateBadge(state) + "</dd>";
  html += std::string("<dt>") + (finished ? "Duration" : "Running for") + "</dt><dd>" +
          FormatDuration(
              std::chrono::duration_cast<std::chrono::milliseconds>(end - d.deployment.created)) +
          "</dd>";
  if (!d.statuses.empty()) {
    html += "<dt>Last message</dt><dd class=\"msg\">" + Esc(d.statuses.front().message) + "</dd>";
  }
  html += "</dl>";
  if (finished && common::IsErrorState(d.statuses.front().state)) {
    html += "<div class=\"evidence\" role=\"alert\"><h2>Why it " +
            std::string(d.statuses.front().state_name == "failure" ? "failed" : "ended") +
            "</h2><p class=\"msg\">" + Esc(d.statuses.front().message) + "</p>";
    const auto states = DeriveResourceStates(d.resources, d.statuses, state);
    std::string failed;
    for (const auto& s : states) {
      if (s.state != "failed") continue;
      failed += "<li>" + Esc(s.resource.kind) + " <code>" + Esc(s.resource.name) +
                "</code>: " + Esc(s.reason) + "</li>";
    }
    if (!failed.empty()) html += "<p>Failed resources:</p><ul>" + failed + "</ul>";
    html += "</div>";
  }
  return html;
}

std::string RenderResources(const PageData& d) {
  const auto states =
      DeriveResourceStates(d.resources, d.statuses, d.deployment.state.value_or(""));
  std::string html =
      "<div class=\"table\"><table><caption class=\"skip\">Resources of the deployment"
      "</caption><thead><tr><th scope=\"col\">#</th><th scope=\"col\">Kind</th>"
      "<th scope=\"col\">Name</th><th scope=\"col\" class=\"hide-narrow\">Namespace</th>"
      "<th scope=\"col\">State</th><th scope=\"col\">Detail</th></tr></thead><tbody>";
  for (const auto& s : states) {
    html += "<tr><td>" + std::to_string(s.resource.index + 1) + "</td><td>" + Esc(s.resource.kind) +
            "</td><td><code>" + Esc(s.resource.name) + "</code></td><td class=\"hide-narrow\">" +
            Esc(s.resource.ns) + "</td><td>" + StateBadge(s.state) + "</td><td>" + Esc(s.reason) +
            "</td></tr>";
  }
  if (states.empty()) html += "<tr><td colspan=\"6\">No resources recorded.</td></tr>";
  html += "</tbody></table></div>";
  return html;
}

std::string RenderTimeline(const PageData& d) {
  std::string html =
      "<div class=\"table\"><table><caption class=\"skip\">Statuses, oldest first</caption>"
      "<thead><tr><th scope=\"col\">After</th><th scope=\"col\">State</th>"
      "<th scope=\"col\">Message</th></tr></thead><tbody>";
  for (auto it = d.statuses.rbegin(); it != d.statuses.rend(); ++it) {
    const auto after =
        std::chrono::duration_cast<std::chrono::milliseconds>(it->created - d.deployment.created);
    html += "<tr><td><time datetime=\"" + common::FormatRfc3339Nano(it->created) + "\" title=\"" +
            HumanTime(it->created) + "\">+" + FormatDuration(after) + "</time></td><td>" +
            StateBadge(it->state_name) + "</td><td class=\"msg\">" + Esc(it->message) +
            "</td></tr>";
  }
  html += "</tbody></table></div>";
  return html;
}

// Cookie value of `name` from a Cookie header, percent-decoded.
std::string CookieValue(const std::string& header, const std::string& name) {
  std::size_t pos = 0;
  while (pos < header.size()) {
    auto end = header.find(';', pos);
    if (end == std::string::npos) end = header.size();
    std::string pair = header.substr(pos, end - pos);
    while (!pair.empty() && pair.front() == ' ') pair.erase(0, 1);
    const auto eq = pair.find('=');
    if (eq != std::string::npos && pair.substr(0, eq) == name) {
      const auto decoded = ParseQuery("v=" + pair.substr(eq + 1));
      auto it = decoded.find("v");
      return it == decoded.end() ? "" : it->second;
    }
    pos = end + 1;
  }
  return "";
}

}  // namespace

// ---- public functions
// ----------------------------------------------------------------------------

std::vector<ResourceState> DeriveResourceStates(const std::vector<store::ResourceRow>& resources,
                                                const std::vector<store::StatusRow>& statuses,
                                                const std::string& deployment_state) {
  std::vector<ResourceState> out;
  out.reserve(resources.size());
  for (const auto& r : resources) out.push_back(ResourceState{r, "pending", ""});
  std::sort(out.begin(), out.end(), [](const ResourceState& a, const ResourceState& b) {
    return a.resource.index < b.resource.index;
  });
  for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
    const std::string& message = it->message;
    const bool final_error = common::IsFinished(it->state) && common::IsErrorState(it->state);
    bool attributed = false;
    for (auto& s : out) {
      if (s.state == "failed") continue;
      if (!common::IsFinished(it->state) && AppliedMessageFor(message, s.resource)) {
        if (s.state == "pending") s.state = "applied";
        attributed = true;
        continue;
      }
      const auto about = AboutResource(message, s.resource);
      if (!about) continue;
      attributed = true;
      if (final_error || FailurePhrase(*about)) {
        s.state = "failed";
        s.reason = WithoutErrorCount(final_error ? *about : message);
      } else if (DonePhrase(*about)) {
        s.state = "ready";
        s.reason = *about;
      } else if (s.state != "ready") {
        s.state = "waiting";
        s.reason = *about;
      }
    }
    // A Deployment's rollout ends with the plain success message: the first Deployment that
    // still waits is the one.
    if (!attributed && !common::IsFinished(it->state) && message == common::kSuccessMessage) {
      for (auto& s : out) {
        if (s.resource.kind == "Deployment" && (s.state == "applied" || s.state == "waiting")) {
          s.state = "ready";
          s.reason = message;
          break;
        }
      }
    }
  }
  if (deployment_state == "success") {
    for (auto& s : out) {
      if (s.state != "failed" && s.state != "ready") {
        s.state = "ready";
        if (s.reason.empty()) s.reason = "deployment succeeded";
      }
    }
  }
  return out;
}

std::string FormatDuration(std::chrono::milliseconds d) {
  const long long ms = std::max<long long>(0, d.count());
  if (ms < 1000) return std::to_string(ms) + "ms";
  const long long s = ms / 1000;
  if (s < 60) return std::to_string(s) + "s";
  if (s < 3600) return fmt::format("{}m {:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h {:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d {:02}h", s / 86400, (s % 86400) / 3600);
}

const std::string& ConsoleContentSecurityPolicy() {
  static const std::string policy = "default-src 'none'; script-src 'sha256-" +
                                    Sha256Base64(kScript) + "'; style-src 'sha256-" +
                                    Sha256Base64(kStyle) +
                                    "'; connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                    "form-action 'self'; frame-ancestors 'none'";
  return policy;
}

std::vector<std::pair<std::string, std::string>> ConsoleHeaders() {
  return {{"X-Content-Type-Options", "nosniff"},
          {"Content-Security-Policy", ConsoleContentSecurityPolicy()},
          {"Referrer-Policy", "no-referrer"},
          {"X-Frame-Options", "DENY"},
          {"Cache-Control", "no-store"}};
}

Console::Console(const Config& config, ConsoleBackends backends)
    : config_(config), backends_(std::move(backends)) {}

std::optional<std::string> Console::EventsPath(const std::string& path) {
  const std::string prefix = "/deployments/";
  const std::string suffix = "/events";
  if (!path.starts_with(prefix) || !path.ends_with(suffix)) return std::nullopt;
  if (path.size() <= prefix.size() + suffix.size()) return std::nullopt;
  std::string id = path.substr(prefix.size(), path.size() - prefix.size() - suffix.size());
  if (id.find('/') != std::string::npos) return std::nullopt;
  return id;
}

bool Console::TryAcquireStream() {
  auto current = streams_.load();
  do {
    if (current >= kMaxStreams) return false;
  } while (!streams_.compare_exchange_weak(current, current + 1));
  return true;
}

void Console::ReleaseStream() { --streams_; }

bool Console::KeyPresented(const Request& r) const {
  std::string presented = Header(r, "x-psk");
  if (presented.empty()) presented = CookieValue(Header(r, "cookie"), kKeyCookie);
  bool allowed = false;
  for (const auto& k : config_.frontend_keys) {
    allowed |= !presented.empty() && common::ConstantTimeEqual(k, presented);
  }
  return allowed;
}

std::optional<Response> Console::Handle(const Request& r) {
  const std::string& p = r.path;
  const bool read = r.method == "GET" || r.method == "HEAD";
  if (p == "/" || p == "/deployments") {
    if (!read) return Text(405, "method not allowed\n");
    return List(r);
  }
  if (p == "/console/login") {
    if (r.method != "POST") return Text(405, "method not allowed\n");
    return Login(r);
  }
  const std::string prefix = "/deployments/";
  if (p.starts_with(prefix) && p.find('/', prefix.size()) == std::string::npos) {
    if (!read) return Text(405, "method not allowed\n");
    const std::string id = p.substr(prefix.size());
    if (!common::IsUuid(id))
      return Text(400, "deployment ID '" + id + "' is not a well-formed UUID\n");
    return DeploymentPage(id);
  }
  if (EventsPath(p)) {
    // Served by the HTTP server as a stream; reached here only through other callers.
    return Text(406, "event streams are served to EventSource clients only\n");
  }
  return std::nullopt;
}

Response Console::Login(const Request& r) {
  const auto form = ParseQuery(r.body);
  const auto it = form.find("key");
  Request probe;
  if (it != form.end()) probe.headers["x-psk"] = it->second;
  if (config_.frontend_keys.empty() || it == form.end() || !KeyPresented(probe)) {
    std::string html = PageStart("Invalid key", false) + "<body>" + kNav +
                       "<main id=\"main\"><h1>Invalid key</h1><p>The key was not accepted. "
                       "<a href=\"/deployments\">Try again</a>.</p></main></body></html>\n";
    return Page(403, std::move(html));
  }
  std::string cookie = std::string(kKeyCookie) + "=" + QueryEscape(it->second) +
                       "; Path=/; HttpOnly; SameSite=Strict";
  if (config_.base_url.starts_with("https://")) cookie += "; Secure";
  Response out{303, "text/plain; charset=utf-8", "see /deployments\n", ConsoleHeaders()};
  out.headers.emplace_back("Location", "/deployments");
  out.headers.emplace_back("Set-Cookie", cookie);
  return out;
}

Response Console::List(const Request& r) {
  if (config_.console_require_key && !KeyPresented(r)) {
    std::string html =
        PageStart("Key required", false) + "<body>" + kNav +
        "<main id=\"main\"><h1>Key required</h1><p>This console asks for a key before it lists "
        "deployments.</p><form method=\"post\" action=\"/console/login\"><label for=\"key\">Key"
        "<input id=\"key\" name=\"key\" type=\"password\" autocomplete=\"current-password\" "
        "required></label><button type=\"submit\">Continue</button></form></main></body></html>\n";
    return Page(401, std::move(html));
  }
  ListQuery q;
  q.team = QueryParam(r, "team");
  q.cluster = QueryParam(r, "cluster");
  q.state = QueryParam(r, "state");
  q.repository = QueryParam(r, "repository");
  q.before = QueryParam(r, "before");
  if (!q.state.empty() && !KnownState(q.state)) {
    return Text(400, "unknown state \"" + q.state +
                         "\": want queued, pending, in_progress, success, failure, error or "
                         "inactive\n");
  }
  if (const std::string limit = QueryParam(r, "limit"); !limit.empty()) {
    const bool digits =
        limit.size() <= 3 && limit.find_first_not_of("0123456789") == std::string::npos;
    const int value = digits ? std::stoi(limit) : 0;
    if (value < 1 || value > 200) {
      return Text(400, "invalid limit \"" + limit + "\": want a number from 1 to 200\n");
    }
    q.limit = value;
  }
  std::optional<long long> before_micros;
  std::string before_id;
  if (!q.before.empty()) {
    const auto dot = q.before.find('.');
    const std::string micros = q.before.substr(0, dot);
    if (dot == std::string::npos || micros.empty() || micros.size() > 18 ||
        micros.find_first_not_of("0123456789") != std::string::npos || dot + 1 >= q.before.size()) {
      return Text(400,
                  "invalid cursor \"" + q.before + "\": want <microseconds>.<deployment ID>\n");
    }
    before_micros = std::stoll(micros);
    before_id = q.before.substr(dot + 1);
  }

  store::DeploymentFilter filter{q.team,        q.cluster, q.state,    q.repository,
                                 before_micros, before_id, q.limit + 1};
  std::vector<store::ListedDeployment> rows;
  std::vector<std::string> clusters;
  try {
    rows = backends_.reads.ListDeployments(filter);
  } catch (const std::exception& e) {
    spdlog::warn("console: listing deployments: {}", e.what());
    return Text(503, "database is unavailable; try again later\n");
  }
  try {
    clusters = backends_.known_clusters();
  } catch (const std::exception&) {
    // The suggestions are a convenience; the list works without them.
  }
  const bool more = rows.size() > static_cast<std::size_t>(q.limit);
  if (more) rows.pop_back();
  const auto now = backends_.clock.Now();

  std::string html = PageStart("Deployments", false) + "<body>" + kNav + "<main id=\"main\">";
  html += "<h1>Deployments</h1>\n";
  html += "<form method=\"get\" action=\"/deployments\" role=\"search\" aria-label=\"Filter\">";
  auto input = [&](const char* name, const char* label, const std::string& value,
                   const char* list) {
    html += std::string("<label for=\"f-") + name + "\">" + label + "<input id=\"f-" + name +
            "\" name=\"" + name + "\" value=\"" + Esc(value) + "\"" +
            (list != nullptr ? std::string(" list=\"") + list + "\"" : std::string()) +
            " autocomplete=\"off\"></label>";
  };
  input("team", "Team", q.team, nullptr);
  input("cluster", "Cluster", q.cluster, "clusters");
  html += "<datalist id=\"clusters\">";
  for (const auto& c : clusters) html += "<option value=\"" + Esc(c) + "\">";
  html += "</datalist>";
  html +=
      "<label for=\"f-state\">State<select id=\"f-state\" name=\"state\">"
      "<option value=\"\">any</option>";
  for (const char* s : kStates) {
    html += std::string("<option value=\"") + s + "\"" + (q.state == s ? " selected" : "") + ">" +
            s + "</option>";
  }
  html += "</select></label>";
  input("repository", "Repository", q.repository, nullptr);
  html += "<button type=\"submit\">Filter</button><a href=\"/deployments\">Clear</a></form>\n";

  html +=
      "<div class=\"table\"><table id=\"deployments\"><caption class=\"skip\">Deployments, newest "
      "first</caption><thead><tr><th scope=\"col\">State</th><th scope=\"col\">Deployment</th>"
      "<th scope=\"col\">Team</th><th scope=\"col\">Cluster</th>"
      "<th scope=\"col\">Repository</th><th scope=\"col\">Age</th>"
      "<th scope=\"col\">Duration</th></tr></thead><tbody>\n";
  for (const auto& listed : rows) {
    const store::DeploymentRow& d = listed.deployment;
    const std::string state = d.state.value_or("");
    const auto parsed = common::ParseStateName(state);
    const bool finished = parsed && common::IsFinished(*parsed);
    const auto end = finished && listed.last_status ? *listed.last_status : now;
    const std::string repository = d.github_repository.value_or("");
    const std::string cluster = d.cluster.value_or("");
    html += "<tr><td data-label=\"State\">" + StateBadge(state) +
            "</td><td data-label=\"Deployment\"><a href=\"/deployments/" + QueryEscape(d.id) +
            "\"><code>" + Esc(d.id) + "</code></a></td><td data-label=\"Team\"><a href=\"" +
            Esc(FilterLink("team", d.team)) + "\">" + Esc(d.team) +
            "</a></td><td data-label=\"Cluster\">" +
            (cluster.empty() ? std::string()
                             : "<a href=\"" + Esc(FilterLink("cluster", cluster)) + "\">" +
                                   Esc(cluster) + "</a>") +
            "</td><td data-label=\"Repository\">" +
            (repository.empty() ? std::string()
                                : "<a href=\"" + Esc(FilterLink("repository", repository)) + "\">" +
                                      Esc(repository) + "</a>") +
            "</td><td data-label=\"Age\"><time datetime=\"" + common::FormatRfc3339(d.created) +
            "\" title=\"" + HumanTime(d.created) + "\">" +
            FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(now - d.created)) +
            " ago</time></td><td data-label=\"Duration\">" +
            FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(end - d.created)) +
            (finished ? "" : " so far") + "</td></tr>\n";
  }
  if (rows.empty()) html += "<tr><td colspan=\"7\">No deployments match.</td></tr>\n";
  html += "</tbody></table></div>\n<nav class=\"pages\" aria-label=\"Pages\">";
  if (!q.before.empty()) html += "<a href=\"" + Esc(ListLink(q, "")) + "\">Newest</a>";
  if (more) {
    const auto& last = rows.back().deployment;
    html += "<a href=\"" +
            Esc(ListLink(q, std::to_string(MicrosOf(last.created)) + "." + last.id)) +
            "\" rel=\"next\">Older</a>";
  }
  html += "</nav></main></body></html>\n";
  return Page(200, std::move(html));
}

namespace {

// The deployment, its commit (when known), statuses and resources. nullopt when absent.
std::optional<PageData> LoadPage(const ConsoleBackends& backends, const std::string& id) {
  auto head = backends.reads.DeploymentWithCommit(id);
  if (!head) return std::nullopt;
  PageData d;
  d.deployment = std::move(head->deployment);
  if (head->owner && head->repository && head->ref) {
    const std::string repo = *head->owner + "/" + *head->repository;
    if (PlainRepository(repo) && CommitSha(*head->ref)) {
      d.commit_repository = repo;
      d.commit_sha = *head->ref;
    }
  }
  d.statuses = backends.deployments.Statuses(id);
  d.resources = backends.deployments.Resources(id);
  return d;
}

}  // namespace

Response Console::DeploymentPage(const std::string& id) {
  std::optional<PageData> data;
  try {
    data = LoadPage(backends_, id);
  } catch (const std::exception& e) {
    spdlog::warn("console: deployment {}: {}", id, e.what());
    return Text(503, "database is unavailable; try again later\n");
  }
  if (!data) return Text(404, "deployment '" + id + "' not found\n");
  const auto& d = *data;
  const bool finished = Finished(d);
  const auto now = backends_.clock.Now();
  std::string html = PageStart("Deployment " + id, !finished);
  html += "<body";
  if (!finished) html += " data-events=\"/deployments/" + Esc(QueryEscape(id)) + "/events\"";
  html += " data-state=\"" + Esc(d.deployment.state.value_or("")) + "\">\n" + kNav;
  html += "<main id=\"main\"><h1>Deployment <code>" + Esc(id) + "</code></h1>\n<dl>";
  html += "<dt>Team</dt><dd><a href=\"" + Esc(FilterLink("team", d.deployment.team)) + "\">" +
          Esc(d.deployment.team) + "</a></dd>";
  const std::string cluster = d.deployment.cluster.value_or("");
  html += "<dt>Cluster</dt><dd>" +
          (cluster.empty() ? std::string()
                           : "<a href=\"" + Esc(FilterLink("cluster", cluster)) + "\">" +
                                 Esc(cluster) + "</a>") +
          "</dd>";
  const std::string repository = d.deployment.github_repository.value_or(d.commit_repository);
  html += "<dt>Repository</dt><dd>" +
          (repository.empty() ? std::string("<span class=\"muted\">unknown</span>")
                              : "<a href=\"" + Esc(FilterLink("repository", repository)) + "\">" +
                                    Esc(repository) + "</a>") +
          "</dd>";
  if (!d.commit_sha.empty()) {
    html += "<dt>Commit</dt><dd><a href=\"https://github.com/" + Esc(d.commit_repository) +
            "/commit/" + Esc(d.commit_sha) + "\" rel=\"noreferrer\"><code>" +
            Esc(d.commit_sha.substr(0, 12)) + "</code></a></dd>";
  }
  html += "<dt>Created</dt><dd>" + TimeElement(d.deployment.created) + "</dd></dl>\n";
  html += "<p id=\"live\" role=\"status\" aria-live=\"polite\" class=\"muted\">" +
          std::string(finished ? "The deployment has finished."
                               : "Waiting for updates (the page reloads every 5 seconds without "
                                 "JavaScript).") +
          "</p>\n";
  html +=
      "<section aria-labelledby=\"h-summary\"><h2 id=\"h-summary\">Summary</h2>"
      "<div id=\"summary\">" +
      RenderSummary(d, now) + "</div></section>\n";
  html +=
      "<section aria-labelledby=\"h-resources\"><h2 id=\"h-resources\">Resources</h2>"
      "<div id=\"resources\">" +
      RenderResources(d) + "</div></section>\n";
  html +=
      "<section aria-labelledby=\"h-timeline\"><h2 id=\"h-timeline\">Status timeline</h2>"
      "<div id=\"timeline\">" +
      RenderTimeline(d) + "</div></section>\n</main>\n";
  if (!finished) html += std::string("<script>") + kScript + "</script>\n";
  html += "</body></html>\n";
  return Page(200, std::move(html));
}

std::optional<Console::Live> Console::LiveUpdate(const std::string& id) {
  auto data = LoadPage(backends_, id);
  if (!data) return std::nullopt;
  const auto& d = *data;
  Live live;
  live.finished = Finished(d);
  live.version = d.deployment.state.value_or("") + "|" + std::to_string(d.statuses.size()) + "|" +
                 (d.statuses.empty() ? "" : d.statuses.front().id);
  nlohmann::json body = {{"state", d.deployment.state.value_or("")},
                         {"finished", live.finished},
                         {"summary", RenderSummary(d, backends_.clock.Now())},
                         {"resources", RenderResources(d)},
                         {"timeline", RenderTimeline(d)}};
  live.json = body.dump();
  return live;
}

}  // namespace hookd::http
