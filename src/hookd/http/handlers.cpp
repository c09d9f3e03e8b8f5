#include "hookd/http/handlers.hpp"

#include <optional>
#include <string_view>

#include <boost/url/decode_view.hpp>
#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

#include "hookd/http/console.hpp"
#include "hookd/http/endpoint_util.hpp"

namespace hookd::http {

std::map<std::string, std::string> ParseQuery(const std::string& query) {
  // As Go's url.Values from Request.URL.Query(): '&'-separated pairs, '+' is a space, and a pair
  // with a malformed percent-escape is left out.
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  auto decode = [&opts](std::string_view text) -> std::optional<std::string> {
    auto encoded = boost::urls::make_pct_string_view(text);
    if (!encoded) return std::nullopt;
    boost::urls::decode_view decoded(*encoded, opts);
    return std::string(decoded.begin(), decoded.end());
  };
  std::map<std::string, std::string> out;
  std::size_t start = 0;
  while (start <= query.size()) {
    auto end = query.find('&', start);
    if (end == std::string::npos) end = query.size();
    const std::string_view part = std::string_view(query).substr(start, end - start);
    start = end + 1;
    if (part.empty()) continue;
    const auto eq = part.find('=');
    auto key = decode(part.substr(0, eq));
    auto value =
        eq == std::string_view::npos ? std::optional<std::string>("") : decode(part.substr(eq + 1));
    if (!key || !value) continue;
    out.emplace(std::move(*key), std::move(*value));  // first value wins, like Go's Get
  }
  return out;
}

std::string HtmlEscape(const std::string& text) { return EscapeHtml(text, "&quot;"); }

std::string RouteLabel(const std::string& p, const std::string& metrics_path) {
  static const char* const kExact[] = {"/healthz",
                                       "/readyz",
                                       "/logs",
                                       "/events",
                                       "/api/v1",
                                       "/api/v1/deploy",
                                       "/api/v1/cancel",
                                       "/api/v1/status",
                                       "/internal/api/v1/provision",
                                       "/internal/api/v1/apikey"};
  if (p == metrics_path) return p;
  for (const char* route : kExact) {
    if (p == route) return p;
  }
  const std::string console = "/internal/api/v1/console/apikey/";
  if (p.rfind(console, 0) == 0) return console + "{team}";
  if (p == "/" || p == "/deployments" || p == "/console/login") return p;
  const std::string deployments = "/deployments/";
  if (p.rfind(deployments, 0) == 0 && p.size() > deployments.size()) {
    const auto slash = p.find('/', deployments.size());
    if (slash == std::string::npos) return deployments + "{id}";
    if (p.substr(slash) == "/events") return deployments + "{id}/events";
  }
  const std::string teams = "/internal/api/v1/team/";
  if (p.rfind(teams, 0) == 0) {
    const auto slash = p.find('/', teams.size());
    if (slash != std::string::npos) {
      const std::string tail = p.substr(slash);
      if (tail == "/repositories") return teams + "{team}/repositories";
      if (tail.rfind("/repositories/", 0) == 0) return teams + "{team}/repositories/{repository}";
    }
  }
  return "other";
}

std::vector<std::pair<std::string, std::string>> PageHeaders() {
  return {{"X-Content-Type-Options", "nosniff"},
          {"Content-Security-Policy",
           "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
           "form-action 'none'; frame-ancestors 'none'"},
          {"Referrer-Policy", "no-referrer"},
          {"X-Frame-Options", "DENY"}};
}

Handlers::Handlers(const Config& config, Backends backends, Metrics& metrics)
    : config_(config),
      ready_(backends.schema),
      metrics_(backends.intake, metrics),
      deploy_(config, backends.api_keys, backends.intake, backends.clock),
      status_(backends.api_keys, backends.deployments, backends.clock),
      provision_(config, backends.api_keys, backends.clock, ProvisionEndpoint::Mode::kProvision),
      apikey_(config, backends.api_keys, backends.clock, ProvisionEndpoint::Mode::kApiKey),
      console_apikey_(config, backends.api_keys, backends.clock),
      team_repositories_(config, backends.repositories),
      logs_(config, backends.deployments) {
  const std::vector<std::string> any;
  router_.Add("/healthz", any, [](const Request&, const PathParams&) { return Text(200, "ok\n"); });
  router_.Add("/readyz", any,
              [this](const Request& r, const PathParams&) { return ready_.Handle(r); });
  // Before every other route: a metrics path that another route also has is the metrics'.
  router_.Add(config_.metrics_path, {"GET"},
              [this](const Request& r, const PathParams&) { return metrics_.Handle(r); });
  // The original's event stream and v1 root: gone.
  for (const char* gone : {"/events", "/api/v1"}) {
    router_.Add(gone, any, [](const Request&, const PathParams&) { return Empty(410); });
  }
  router_.Add("/logs", any,
              [this](const Request& r, const PathParams&) { return logs_.Handle(r); });
  router_.Add("/api/v1/deploy", {"POST"},
              [this](const Request& r, const PathParams&) { return deploy_.Handle(r); });
  router_.Add("/api/v1/status", {"POST"},
              [this](const Request& r, const PathParams&) { return status_.Handle(r); });
  // The internal API takes JSON bodies only, whatever the path.
  router_.AddFilter("/internal/api/v1/", [](const Request& r) -> std::optional<Response> {
    if (!r.body.empty() && !IsJsonContentType(r)) return Empty(415);
    return std::nullopt;
  });
  // Provisioning exists only with a provision key.
  if (!config_.provision_key.empty()) {
    router_.Add("/internal/api/v1/provision", {"POST"},
                [this](const Request& r, const PathParams&) { return provision_.Handle(r); });
    router_.Add("/internal/api/v1/apikey", {"POST"},
                [this](const Request& r, const PathParams&) { return apikey_.Handle(r); });
  }
  router_.Add("/internal/api/v1/console/apikey/{team}", {"GET", "POST"},
              [this](const Request& r, const PathParams& p) {
                return console_apikey_.Handle(r, p.at("team"));
              });
  // Authentication comes before the method check (an unauthenticated caller learns nothing of
  // the routes), so the endpoint dispatches its sub-paths itself.
  router_.Add("/internal/api/v1/team/{rest...}", any,
              [this](const Request& r, const PathParams& p) {
                return team_repositories_.Handle(r, p.at("rest"));
              });
  router_.SetFallback([this](const Request& r) -> std::optional<Response> {
    if (console_ != nullptr) return console_->Handle(r);
    return std::nullopt;
  });
}

}  // namespace hookd::http
