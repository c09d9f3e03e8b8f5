#pragma once
// Plans (`deploy --plan`): what a deployment would do to each resource, from a server-side dry run
// as the team, and how it is shown.
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace deployd::agent {

// The verdict on one resource.
enum class PlanAction { kCreated, kChanged, kUnchanged, kRefused, kPruned };
const char* PlanActionName(PlanAction action);  // "created", "changed", ...

// Prefix of every status message that belongs to a plan (hookd and old CLIs show them as the
// plain status messages they are; the CLI prints them as the plan).
inline constexpr const char* kPlanPrefix = "plan: ";
// A diff longer than this many lines is cut (and says so).
inline constexpr std::size_t kMaxPlanDiffLines = 400;

// The object as compared: without metadata.managedFields, resourceVersion, generation, uid,
// creationTimestamp, selfLink and `status`, and without the annotations the deployment sets
// anew every time (`ignored_annotations`; an annotation map left empty is removed).
nlohmann::json Comparable(nlohmann::json object,
                          const std::vector<std::string>& ignored_annotations);

// Replaces the values of a Secret's `data` and `stringData` in both objects (no-op for other
// kinds): "***" everywhere, and "*** (changed)" in `planned` for a key whose value differs from
// the live one. Neither value is revealed.
void MaskSecretValues(nlohmann::json& live, nlohmann::json& planned);

// YAML text of `value` as lines (block style, keys sorted, strings quoted when they need it).
std::vector<std::string> YamlLines(const nlohmann::json& value);

// "<Kind> <namespace>/<name>" (no namespace: "<Kind> <name>").
std::string PlanSubject(const nlohmann::json& object);

// The status message of one resource: "plan: <action> <subject>", then (when non-empty) a newline
// and `detail` (the diff or the API's message).
std::string PlanEntryMessage(PlanAction action, const std::string& subject,
                             const std::string& detail);

// The unified diff (labels "live" and "planned") of two comparable, masked objects; empty when
// they are equal.
std::string PlanDiff(const nlohmann::json& live, const nlohmann::json& planned);

struct PlanCounts {
  std::size_t created = 0;
  std::size_t changed = 0;
  std::size_t unchanged = 0;
  std::size_t refused = 0;
  std::size_t pruned = 0;
  void Add(PlanAction action);
};

// "plan: 2 created, 1 changed, 0 unchanged, 0 refused" (+ ", N pruned" with `prune`).
std::string PlanSummary(const PlanCounts& counts, bool prune);

}  // namespace deployd::agent
