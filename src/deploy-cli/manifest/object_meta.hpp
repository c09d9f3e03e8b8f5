#pragma once
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace deploy_cli {

// A resource's metadata decoded the way the original decodes it, into a Kubernetes ObjectMeta
// with Go's encoding/json, and encoded back with json.Marshal:
//   * the known fields only (name, generateName, namespace, selfLink, uid, resourceVersion,
//     generation, creationTimestamp, deletionTimestamp, deletionGracePeriodSeconds, labels,
//     annotations, ownerReferences, finalizers, managedFields); keys match case-insensitively;
//   * omitempty as in ObjectMeta's tags; creationTimestamp always present (null when unset);
//     times parsed as RFC 3339 and written back in UTC without fractional seconds;
//   * a value of the wrong type throws ObjectMetaError with Go's message, e.g.
//     `json: cannot unmarshal number 1.5 into Go struct field ObjectMeta.generation of type int64`
//     (the first such error in key order, as Go reports it) or a time.Parse error.
class ObjectMetaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

nlohmann::json RoundTripObjectMeta(const nlohmann::json& metadata);

// Go's time.Parse(time.RFC3339, text): the instant as seconds since the epoch (UTC) and the
// nanoseconds, or a ObjectMetaError with Go's message (`parsing time "x" as
// "2006-01-02T15:04:05Z07:00": cannot parse "x" as "2006"`).
struct GoTime {
  long long seconds = 0;  // since 1970-01-01T00:00:00Z
  int nanos = 0;
};
GoTime ParseGoRfc3339(const std::string& text);
// time.Time.UTC().Format(time.RFC3339) of whole seconds: "2024-05-01T08:00:00Z".
std::string FormatGoRfc3339(long long seconds);

}  // namespace deploy_cli
