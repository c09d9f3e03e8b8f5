#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/error.hpp"
#include "common/state.hpp"
#include "common/uuid.hpp"
#include "hookd/http/console.hpp"
#include "hookd/http/endpoint_util.hpp"
#include "hookd/http/endpoints.hpp"
#include "hookd/http/handlers.hpp"

namespace hookd::http {
namespace {

// Go's strconv.Atoi, with its error text.
std::optional<std::int64_t> GoAtoi(const std::string& text, std::string& error) {
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (i == text.size()) {
    error = "strconv.Atoi: parsing \"" + text + "\": invalid syntax";
    return std::nullopt;
  }
  std::uint64_t value = 0;
  bool overflow = false;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') {
      error = "strconv.Atoi: parsing \"" + text + "\": invalid syntax";
      return std::nullopt;
    }
    if (value > (std::uint64_t{1} << 63) / 10) overflow = true;
    value = value * 10 + static_cast<std::uint64_t>(text[i] - '0');
    if (value > (std::uint64_t{1} << 63)) overflow = true;
  }
  if (overflow || (!negative && value == (std::uint64_t{1} << 63))) {
    error = "strconv.Atoi: parsing \"" + text + "\": value out of range";
    return std::nullopt;
  }
  return negative ? -static_cast<std::int64_t>(value) : static_cast<std::int64_t>(value);
}

// Go's html.EscapeString: the double quote as "&#34;".
std::string GoHtmlEscape(const std::string& text) { return EscapeHtml(text, "&#34;"); }

// The /logs checks shared by the HTML page and the redirects.
std::optional<Response> InvalidDeliveryId(const std::string& id) {
  if (common::IsUuid(id)) return std::nullopt;
  return Text(400, "delivery_id '" + id + "' is not a well-formed UUID\n");
}

}  // namespace

std::string RisonString(const std::string& value) {
  bool bare = !value.empty() && value[0] != '-' && !(value[0] >= '0' && value[0] <= '9') &&
              value.find_first_of(" '!:(),*@$") == std::string::npos;
  if (bare) return value;
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '!') out += '!';
    out += c;
  }
  return out + "'";
}

std::string LogLink(const std::string& formatter, const std::string& delivery_id,
                    std::int64_t unix_seconds, int version, const std::string& cluster,
                    const std::map<std::string, std::string>& cluster_projects) {
  const common::SystemTime ts{std::chrono::seconds(unix_seconds)};
  if (formatter == "GCP") {
    auto project = cluster_projects.find(cluster);
    if (project == cluster_projects.end()) {
      throw common::Error(common::ErrorCode::kInvalidArgument, "unknown cluster " + cluster);
    }
    return "https://console.cloud.google.com/logs/query;query=jsonPayload.correlation_id%3d%22" +
           delivery_id + "%22;timeRange=" + common::FormatRfc3339(ts - std::chrono::hours(2)) +
           "%2f" + common::FormatRfc3339(ts + std::chrono::hours(2)) +
           "?authuser=0&project=" + project->second;
  }
  std::string query;
  if (version == 0) {
    query = "+x_delivery_id:\"" + delivery_id + "\" -level:\"Trace\"";
  } else if (version == 1) {
    query = "+x_correlation_id:\"" + delivery_id + "\" -level:\"Trace\" -level:\"Debug\"";
  } else {
    throw common::Error(common::ErrorCode::kInvalidArgument,
                        "version '" + delivery_id + "' is not supported");
  }
  std::int64_t day = unix_seconds - (((unix_seconds % 86400) + 86400) % 86400);
  const common::SystemTime from{std::chrono::seconds(day)};
  const std::string app = "(index:" + RisonString("96e648c0-980a-11e9-830a-e17bbd64b4db") +
                          ",query:(language:" + RisonString("lucene") +
                          ",query:" + RisonString(query) + "))";
  const std::string global =
      "(time:(from:" + RisonString(common::FormatRfc3339(from)) +
      ",mode:" + RisonString("absolute") +
      ",to:" + RisonString(common::FormatRfc3339(from + std::chrono::hours(24))) + "))";
  return "https://logs.adeo.no/app/kibana#/discover?_a=" + app + "&_g=" + global;
}

Response LogsEndpoint::Handle(const Request& r) const {
  return config_.log_link_formatter.empty() ? Page(r) : Redirect(r);
}

Response LogsEndpoint::Redirect(const Request& r) const {
  auto get = [&r](const std::string& key) { return QueryParam(r, key); };
  const std::string id = get("delivery_id");
  if (auto invalid = InvalidDeliveryId(id)) return *invalid;
  std::string error;
  const std::string ts_text = get("ts");
  auto ts = GoAtoi(ts_text, error);
  if (!ts) {
    return Text(400, "ts '" + ts_text + "' is not a well-formed unix timestamp: " + error + "\n");
  }
  std::string ignored;
  auto version = GoAtoi(get("v"), ignored);
  std::string url;
  try {
    url = LogLink(config_.log_link_formatter, id, *ts, version ? static_cast<int>(*version) : 0,
                  get("cluster"), config_.google_cluster_projects);
  } catch (const common::Error& e) {
    return Text(400, std::string(e.what()) + "\n");
  }
  Response out{307, "", "", {{"Location", url}}};
  if (r.method == "GET" || r.method == "HEAD") {
    out.content_type = "text/html; charset=utf-8";
    out.body = "<a href=\"" + GoHtmlEscape(url) + "\">Temporary Redirect</a>.\n\n";
  }
  return out;
}

Response LogsEndpoint::Page(const Request& r) const {
  auto get = [&r](const std::string& key) { return QueryParam(r, key); };
  const std::string id = get("delivery_id");
  if (auto invalid = InvalidDeliveryId(id)) return *invalid;
  if (console_ != nullptr) return console_->DeploymentPage(id);
  auto deployment = std::optional<store::DeploymentRow>();
  std::vector<store::StatusRow> statuses;
  std::vector<store::ResourceRow> resources;
  try {
    deployment = deployments_.Deployment(id);
    if (deployment) {
      statuses = deployments_.Statuses(id);
      resources = deployments_.Resources(id);
    }
  } catch (const std::exception&) {
    return Text(503, "database is unavailable; try again later\n");
  }
  if (!deployment) return Text(404, "deployment '" + id + "' not found\n");
  bool finished = !statuses.empty() && common::IsFinished(statuses.front().state);
  std::string html =
      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Deployment " + id + "</title>\n";
  if (!finished) html += "<meta http-equiv=\"refresh\" content=\"5\">\n";
  html +=
      "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}"
      ".success{color:#070}.failure,.error,.inactive{color:#b00}</style></head><body>\n";
  html += "<h1>Deployment " + HtmlEscape(id) + "</h1>\n<dl>";
  html += "<dt>Team</dt><dd>" + HtmlEscape(deployment->team) + "</dd>";
  html += "<dt>Cluster</dt><dd>" + HtmlEscape(deployment->cluster.value_or("")) + "</dd>";
  html +=
      "<dt>Repository</dt><dd>" + HtmlEscape(deployment->github_repository.value_or("")) + "</dd>";
  html += "<dt>Created</dt><dd>" + common::FormatRfc3339Nano(deployment->created) + "</dd>";
  html += "<dt>State</dt><dd class=\"" + HtmlEscape(deployment->state.value_or("")) + "\">" +
          HtmlEscape(deployment->state.value_or("")) + "</dd></dl>\n";
  html +=
      "<h2>Resources</h2>\n<table><tr><th>#</th><th>Kind</th><th>Namespace</th><th>Name</th>"
      "<th>API version</th></tr>\n";
  for (const auto& res : resources) {
    html += "<tr><td>" + std::to_string(res.index + 1) + "</td><td>" + HtmlEscape(res.kind) +
            "</td><td>" + HtmlEscape(res.ns) + "</td><td>" + HtmlEscape(res.name) + "</td><td>" +
            HtmlEscape(res.group.empty() ? res.version : res.group + "/" + res.version) +
            "</td></tr>\n";
  }
  html +=
      "</table>\n<h2>Status timeline</h2>\n<table><tr><th>Time</th><th>State</th>"
      "<th>Message</th></tr>\n";
  for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
    html += "<tr><td>" + common::FormatRfc3339Nano(it->created) + "</td><td class=\"" +
            HtmlEscape(it->state_name) + "\">" + HtmlEscape(it->state_name) + "</td><td>" +
            HtmlEscape(it->message) + "</td></tr>\n";
  }
  html += "</table>\n";
  if (!finished) html += "<p>This page refreshes every 5 seconds until the deployment ends.</p>\n";
  html += "</body></html>\n";
  return Response{200, "text/html; charset=utf-8", html, PageHeaders()};
}

}  // namespace hookd::http
