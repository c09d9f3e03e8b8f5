#include "deployd/agent/prune.hpp"

#include <map>

#include <fmt/format.h>

#include "common/applyset.hpp"
#include "common/error.hpp"
#include "common/json_path.hpp"
#include "common/names.hpp"
#include "deployd/kube/apply.hpp"

namespace deployd::agent {
namespace {

nlohmann::json Metadata(const nlohmann::json& object) {
  if (object.is_object() && object.contains("metadata") && object["metadata"].is_object()) {
    return object["metadata"];
  }
  return nlohmann::json::object();
}

std::string Join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

nlohmann::json ParentOutline(const ApplySetRef& set) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", set.name}, {"namespace", set.namespace_}}}};
}

}  // namespace

ApplySetRef ApplySetFor(const pb::DeploymentRequest& request) {
  ApplySetRef set;
  set.name = request.applyset().empty()
                 ? common::DefaultApplySetName(request.team(), request.repository().owner(),
                                               request.repository().name(),
                                               request.githubenvironment(), request.cluster())
                 : request.applyset();
  if (auto problem = common::ApplySetNameProblem(set.name)) {
    throw common::Error(common::ErrorCode::kInvalidArgument, *problem);
  }
  set.namespace_ = request.team();
  set.id = common::ApplySetId(set.name, set.namespace_, "Secret", "");
  return set;
}

MemberKey KeyOf(const nlohmann::json& object, const std::string& default_namespace) {
  auto ref = kube::RefOf(object);
  return MemberKey{ref.group, ref.kind, ref.namespace_.empty() ? default_namespace : ref.namespace_,
                   ref.name};
}

void LabelMember(nlohmann::json& object, const ApplySetRef& set) {
  if (!object.contains("metadata") || !object["metadata"].is_object()) {
    object["metadata"] = nlohmann::json::object();
  }
  auto& metadata = object["metadata"];
  if (!metadata.contains("labels") || !metadata["labels"].is_object()) {
    metadata["labels"] = nlohmann::json::object();
  }
  metadata["labels"][common::kApplySetPartOfLabel] = set.id;
}

ApplySetState StateOf(const std::set<MemberKey>& members, const ApplySetRef& set) {
  ApplySetState state;
  for (const auto& member : members) {
    state.group_kinds.insert(common::GroupKindString(member.kind, member.group));
    if (!member.namespace_.empty() && member.namespace_ != set.namespace_) {
      state.namespaces.insert(member.namespace_);
    }
  }
  return state;
}

ApplySetState Union(ApplySetState a, const ApplySetState& b) {
  a.exists = a.exists || b.exists;
  a.group_kinds.insert(b.group_kinds.begin(), b.group_kinds.end());
  a.namespaces.insert(b.namespaces.begin(), b.namespaces.end());
  return a;
}

net::awaitable<ApplySetState> ReadApplySet(AsyncTeamCluster& cluster, ApplySetRef set) {
  ApplySetState state;
  auto parent = co_await cluster.Get(ParentOutline(set));
  if (!parent) co_return state;
  state.exists = true;
  const auto metadata = Metadata(*parent);
  const std::string where = fmt::format("{}/{}", set.namespace_, set.name);
  std::string id;
  if (metadata.contains("labels"))
    id = common::JsonString(metadata["labels"], {common::kApplySetIdLabel});
  if (id != set.id) {
    throw common::Error(
        common::ErrorCode::kFailedPrecondition,
        fmt::format("ApplySet parent Secret {} has {} {}, want {}: it is not this set's parent",
                    where, common::kApplySetIdLabel, common::Quote(id), common::Quote(set.id)));
  }
  nlohmann::json annotations = nlohmann::json::object();
  if (metadata.contains("annotations") && metadata["annotations"].is_object()) {
    annotations = metadata["annotations"];
  }
  const std::string tooling = common::JsonString(annotations, {common::kApplySetToolingAnnotation});
  const std::string tool = tooling.substr(0, tooling.find('/'));
  if (!tooling.empty() && tool != "kubectl" && tool != "deployd") {
    throw common::Error(common::ErrorCode::kFailedPrecondition,
                        fmt::format("ApplySet parent Secret {} is managed by tooling {}", where,
                                    common::Quote(tooling)));
  }
  for (const auto& gk : common::SplitList(
           common::JsonString(annotations, {common::kApplySetGroupKindsAnnotation}))) {
    state.group_kinds.insert(gk);
  }
  // Written by early kubectl: "resource.group" (plural resources). Kept as the kinds discovery
  // has for them would need another lookup; kubectl 1.27 and later write group-kinds.
  for (const auto& ns : common::SplitList(
           common::JsonString(annotations, {common::kApplySetNamespacesAnnotation}))) {
    if (ns != set.namespace_) state.namespaces.insert(ns);
  }
  co_return state;
}

net::awaitable<void> WriteApplySet(AsyncTeamCluster& cluster, ApplySetRef set,
                                   ApplySetState state) {
  nlohmann::json parent = ParentOutline(set);
  parent["metadata"]["labels"] = {{common::kApplySetIdLabel, set.id}};
  parent["metadata"]["annotations"] = {
      {common::kApplySetToolingAnnotation, kApplySetTooling},
      {common::kApplySetGroupKindsAnnotation, Join(state.group_kinds)},
      {common::kApplySetNamespacesAnnotation, Join(state.namespaces)}};
  co_await cluster.Write(std::move(parent), false);
}

net::awaitable<std::vector<nlohmann::json>> PruneCandidates(AsyncTeamCluster& cluster,
                                                            ApplySetRef set, ApplySetState state,
                                                            std::set<MemberKey> keep) {
  std::set<std::string> namespaces = state.namespaces;
  namespaces.insert(set.namespace_);
  const std::string selector = fmt::format("{}={}", common::kApplySetPartOfLabel, set.id);
  std::map<std::string, nlohmann::json> found;  // by uid: cluster-scoped kinds list the same
  std::vector<std::string> order;
  for (const auto& gk : state.group_kinds) {
    auto [kind, group] = common::ParseGroupKind(gk);
    for (const auto& ns : namespaces) {
      auto items = co_await cluster.List(group, kind, ns, selector);
      for (auto& item : items) {
        const auto metadata = Metadata(item);
        // The selector asked for it; checked again: nothing without this set's label goes.
        if (!metadata.contains("labels") ||
            common::JsonString(metadata["labels"], {common::kApplySetPartOfLabel}) != set.id) {
          continue;
        }
        const std::string uid = common::JsonString(metadata, {"uid"});
        if (found.contains(uid)) continue;
        MemberKey key{group, kind, common::JsonString(metadata, {"namespace"}),
                      common::JsonString(metadata, {"name"})};
        if (keep.contains(key)) continue;
        if (!common::JsonString(metadata, {"deletionTimestamp"}).empty())
          continue;  // going already
        order.push_back(uid);
        found.emplace(uid, std::move(item));
      }
    }
  }
  std::vector<nlohmann::json> out;
  out.reserve(order.size());
  for (const auto& uid : order) out.push_back(std::move(found[uid]));
  co_return out;
}

}  // namespace deployd::agent
