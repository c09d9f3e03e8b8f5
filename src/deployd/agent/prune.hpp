#pragma once
// Pruning (`deploy --prune`) with the Kubernetes ApplySet convention, as kubectl writes it: a
// parent Secret in the team's namespace labelled applyset.kubernetes.io/id=<ID> lists, in its
// annotations, the group-kinds and the other namespaces of the set; every member is labelled
// applyset.kubernetes.io/part-of=<ID>. Objects of those group-kinds in those namespaces with
// that label that a deployment no longer contains are deleted; nothing without the label is.
#include <compare>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/asio.hpp"
#include "deployd/agent/runner.hpp"
#include "deployment.pb.h"

namespace deployd::agent {

// The applyset.kubernetes.io/tooling value deployd writes. kubectl refuses to take over a parent
// whose tooling names another tool than "kubectl" (the part before '/'), so deployd writes
// kubectl's name with its own version text: either tool can then manage the set.
inline constexpr const char* kApplySetTooling = "kubectl/v1.32.0-deployd";

struct ApplySetRef {
  std::string name;
  std::string namespace_;  // the parent Secret's namespace: the team's
  std::string id;          // common::ApplySetId of the parent
};

// The set of `request`: request.applyset() or common::DefaultApplySetName(...), in the team's
// namespace. Throws common::Error{kInvalidArgument} with common::ApplySetNameProblem's message.
ApplySetRef ApplySetFor(const pb::DeploymentRequest& request);

// Identity of an object within a set.
struct MemberKey {
  std::string group;
  std::string kind;
  std::string namespace_;
  std::string name;
  auto operator<=>(const MemberKey&) const = default;
};
// `default_namespace` for an object that names none.
MemberKey KeyOf(const nlohmann::json& object, const std::string& default_namespace);

// Adds the part-of label to a member manifest.
void LabelMember(nlohmann::json& object, const ApplySetRef& set);

// What the parent records: group-kinds ("Kind.group", "Kind" for core) and additional namespaces.
struct ApplySetState {
  bool exists = false;
  std::set<std::string> group_kinds;
  std::set<std::string> namespaces;  // additional namespaces (not the parent's)
};

// The group-kinds and namespaces (other than the set's) of these members.
ApplySetState StateOf(const std::set<MemberKey>& members, const ApplySetRef& set);
// Union of two states.
ApplySetState Union(ApplySetState a, const ApplySetState& b);

// Reads the parent Secret. Throws common::Error{kFailedPrecondition} when it exists but belongs
// to another set (`ApplySet parent Secret <ns>/<name> has applyset.kubernetes.io/id "<x>", want
// "<id>"`) or is managed by another tool than kubectl or deployd (`ApplySet parent Secret
// <ns>/<name> is managed by tooling "<t>"`).
net::awaitable<ApplySetState> ReadApplySet(AsyncTeamCluster& cluster, ApplySetRef set);

// Writes (server-side apply) the parent Secret with `state`'s annotations.
net::awaitable<void> WriteApplySet(AsyncTeamCluster& cluster, ApplySetRef set, ApplySetState state);

// The objects of the set (every group-kind of `state`, in the set's namespace and `state`'s
// namespaces, labelled part-of=<id>) whose keys are not in `keep`, in a stable order.
net::awaitable<std::vector<nlohmann::json>> PruneCandidates(AsyncTeamCluster& cluster,
                                                            ApplySetRef set, ApplySetState state,
                                                            std::set<MemberKey> keep);

}  // namespace deployd::agent
