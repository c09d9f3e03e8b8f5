#include "deploy-cli/progress.hpp"

#include <fmt/format.h>

#include "common/state.hpp"

namespace deploy_cli {

ResourceProgress::ResourceProgress(const pb::DeploymentRequest& request) {
  for (const auto& resource : request.kubernetes().resources()) {
    Entry entry;
    const auto& fields = resource.fields();
    if (auto it = fields.find("kind"); it != fields.end()) entry.kind = it->second.string_value();
    if (auto it = fields.find("metadata"); it != fields.end()) {
      const auto& meta = it->second.struct_value().fields();
      if (auto name = meta.find("name"); name != meta.end())
        entry.name = name->second.string_value();
    }
    entries_.push_back(std::move(entry));
  }
}

ResourceProgress::Entry* ResourceProgress::Find(const std::string& message) {
  for (auto& entry : entries_) {
    if (entry.name.empty()) continue;
    // Identifier form: "<group>/<version>, Kind=<kind>, Namespace=<ns>, Name=<name>"
    if (message.find("Kind=" + entry.kind + ",") != std::string::npos &&
        message.find("Name=" + entry.name) != std::string::npos) {
      return &entry;
    }
    // Event form: "<Kind>/<name> (<reason>): <message>", also Pods/ReplicaSets "<name>-...".
    if (message.rfind(entry.kind + "/" + entry.name + " ", 0) == 0) return &entry;
    const auto slash = message.find('/');
    if (slash != std::string::npos && slash < 32 &&
        message.compare(slash + 1, entry.name.size() + 1, entry.name + "-") == 0) {
      return &entry;
    }
  }
  return nullptr;
}

void ResourceProgress::Update(const pb::DeploymentStatus& status) {
  const std::string& message = status.message();
  overall_ = common::StateName(status.state());
  last_message_ = message;
  Entry* entry = Find(message);
  if (status.state() == pb::success) {
    for (auto& e : entries_) {
      if (e.state != "failed") {
        e.state = "done";
        e.detail.clear();
      }
    }
    return;
  }
  if (entry == nullptr) return;
  if (common::IsErrorState(status.state())) {
    entry->state = "failed";
    std::string reason = message;
    if (const auto pos = reason.find(entry->name + ": "); pos != std::string::npos) {
      reason = reason.substr(pos + entry->name.size() + 2);
    }
    entry->detail = reason;
  } else if (message.rfind("Successfully applied", 0) == 0) {
    entry->state = "applied";
    entry->detail.clear();
  } else {
    entry->state = "rolling out";
    const auto paren = message.find(" (");
    entry->detail = paren == std::string::npos ? message : message.substr(paren + 1);
  }
}

std::vector<std::string> ResourceProgress::Render(std::chrono::milliseconds elapsed) const {
  std::vector<std::string> lines;
  for (const auto& e : entries_) {
    const char* mark = e.state == "done"      ? "✅"
                       : e.state == "failed"  ? "❌"
                       : e.state == "waiting" ? "·"
                                              : "⏳";
    std::string line = fmt::format("  {} {}/{}: {}", mark, e.kind, e.name, e.state);
    if (!e.detail.empty()) line += " (" + e.detail + ")";
    if (line.size() > 160) line = line.substr(0, 157) + "...";
    lines.push_back(std::move(line));
  }
  std::string overall =
      fmt::format("[{:.1f}s] {}", static_cast<double>(elapsed.count()) / 1000.0, overall_);
  if (!last_message_.empty()) overall += ": " + last_message_;
  if (overall.size() > 160) overall = overall.substr(0, 157) + "...";
  lines.push_back(std::move(overall));
  return lines;
}

}  // namespace deploy_cli
