#pragma once
// The Kubernetes ApplySet convention (as `kubectl apply --prune --applyset` writes it): a parent
// object records which group-kinds and namespaces a set of applied objects spans; each member
// carries the label applyset.kubernetes.io/part-of=<the parent's ID>. Pruning lists those kinds
// with that label and deletes what the current apply no longer contains.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace common {

inline constexpr const char* kApplySetIdLabel = "applyset.kubernetes.io/id";
inline constexpr const char* kApplySetPartOfLabel = "applyset.kubernetes.io/part-of";
inline constexpr const char* kApplySetToolingAnnotation = "applyset.kubernetes.io/tooling";
inline constexpr const char* kApplySetGroupKindsAnnotation =
    "applyset.kubernetes.io/contains-group-kinds";
// Written by the first alpha versions of kubectl instead of contains-group-kinds; read only.
inline constexpr const char* kApplySetGroupResourcesAnnotation =
    "applyset.kubernetes.io/contains-group-resources";
inline constexpr const char* kApplySetNamespacesAnnotation =
    "applyset.kubernetes.io/additional-namespaces";

// The longest ApplySet name: a Secret name (a DNS-1123 subdomain).
inline constexpr std::size_t kMaxApplySetName = 253;

// nullopt when `name` can name an ApplySet's parent Secret (a DNS-1123 subdomain: at most 253
// characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit), else
// `invalid ApplySet name "<name>": must be ...`.
std::optional<std::string> ApplySetNameProblem(std::string_view name);

// The default name: "<team>-<owner>-<repository>-<environment>" (parts that are empty left out;
// environment falls back to the cluster), lower-cased, every other character than a-z, 0-9 and
// '.' turned into '-', runs of '-' collapsed, cut to kMaxApplySetName and trimmed to start and end
// with a letter or digit; "deploy" when nothing is left.
std::string DefaultApplySetName(std::string_view team, std::string_view owner,
                                std::string_view repository, std::string_view environment,
                                std::string_view cluster);

// "applyset-<base64url without padding of sha256("<name>.<namespace>.<kind>.<group>")>-v1", the
// ID kubectl computes for a parent object (a Secret: kind "Secret", group "").
std::string ApplySetId(std::string_view name, std::string_view ns, std::string_view kind,
                       std::string_view group);

// Kubernetes' GroupKind.String(): "Kind" for the core group, else "Kind.group".
std::string GroupKindString(std::string_view kind, std::string_view group);
// Inverse: the text before the first '.' is the kind, the rest the group.
std::pair<std::string, std::string> ParseGroupKind(std::string_view text);

// Comma-separated list (annotations), empty parts dropped.
std::vector<std::string> SplitList(std::string_view text);

}  // namespace common
