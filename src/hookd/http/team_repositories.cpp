#include <string>

#include <spdlog/spdlog.h>

#include "common/error.hpp"
#include "common/names.hpp"
#include "hookd/http/endpoint_util.hpp"
#include "hookd/http/endpoints.hpp"

namespace hookd::http {
namespace {

using nlohmann::json;

bool ValidRepository(const std::string& repo) {
  auto slash = repo.find('/');
  return slash != std::string::npos && slash > 0 && slash + 1 < repo.size() &&
         repo.find('/', slash + 1) == std::string::npos &&
         repo.find_first_of(" \t\r\n") == std::string::npos;
}

}  // namespace

Response TeamRepositoriesEndpoint::Handle(const Request& r, const std::string& rest) const {
  if (!FrontendKeyValid(config_, r)) return Text(403, "Unauthorized access: Invalid key");
  const auto slash = rest.find('/');
  if (slash == std::string::npos || slash == 0) return Text(404, "404 page not found\n");
  const std::string team = rest.substr(0, slash);
  const std::string tail = rest.substr(slash);
  const std::string base = "/repositories";
  auto message = [](int status, const std::string& text) {
    return Json(status, json{{"message", text}});
  };
  if (auto bad_team = common::InvalidLabel("team", team)) return message(400, *bad_team);
  try {
    if (tail == base) {
      if (r.method == "GET") {
        return Json(200,
                    json{{"team", team}, {"repositories", repositories_.TeamRepositories(team)}});
      }
      if (r.method != "POST") return MethodNotAllowed({"GET", "POST"});
      std::string repository;
      try {
        json body = ScanObjectBody(r.body, "TeamRepository");
        repository = StringOf(body, "repository");
      } catch (const common::Error& e) {
        return message(400, std::string("unable to unmarshal request body: ") + e.what());
      }
      if (!ValidRepository(repository)) {
        return message(400, "invalid repository \"" + repository + "\": want owner/name");
      }
      const bool added = repositories_.AddTeamRepository(team, repository);
      return Json(added ? 201 : 200, json{{"team", team},
                                          {"repository", repository},
                                          {"message", added ? "repository authorized"
                                                            : "repository already authorized"}});
    }
    if (tail.rfind(base + "/", 0) == 0) {
      if (r.method != "DELETE") return MethodNotAllowed({"DELETE"});
      const std::string repository = tail.substr(base.size() + 1);
      if (!ValidRepository(repository)) {
        return message(400, "invalid repository \"" + repository + "\": want owner/name");
      }
      if (!repositories_.RemoveTeamRepository(team, repository)) {
        return message(
            404, "repository \"" + repository + "\" is not authorized by team \"" + team + "\"");
      }
      return Empty(204);
    }
  } catch (const std::exception& e) {
    spdlog::error("team repositories of {}: {}", team, e.what());
    return message(503, "database is unavailable; try again later");
  }
  return Text(404, "404 page not found\n");
}

}  // namespace hookd::http
