#pragma once
// The deployment IDs this deployd has accepted, so that a request hookd delivers again is never
// run twice. hookd sends a request again while it has not seen deployd's first status for it
// (the confirmation), to the next Deployments stream of the cluster, which may be this same
// process after a reconnect.
//
// Bounded: an ID is remembered until `forget_after` (the agent passes the request's deadline plus
// kRememberAfterDeadline; hookd never sends a request after its deadline: unconfirmed queue
// entries end a little before it, confirmed ones 60 s after it), and at most `capacity` IDs are
// kept (the ones that would be forgotten first go first). Not thread-safe: the owner locks.
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <unordered_map>

#include "common/time.hpp"

namespace deployd::agent {

// How long after a request's deadline its ID is still remembered (longer than hookd keeps any
// queue entry after the deadline).
inline constexpr std::chrono::minutes kRememberAfterDeadline{10};
// IDs remembered at most (about 150 bytes each: ~7.5 MB when full). hookd limits deadlines to
// 24 h ahead, so this is only reached by more than 50,000 deployments within a day's deadlines.
inline constexpr std::size_t kDefaultSeenCapacity = 50000;

class SeenIds {
 public:
  explicit SeenIds(std::size_t capacity = kDefaultSeenCapacity);

  // true the first time `id` is offered (it is then remembered until `forget_after`); false
  // while it is remembered.
  bool Insert(const std::string& id, common::SystemTime forget_after, common::SystemTime now);
  bool Contains(const std::string& id, common::SystemTime now);
  std::size_t Size() const { return ids_.size(); }
  // IDs forgotten because the capacity was reached before their time.
  std::size_t Evicted() const { return evicted_; }

 private:
  void Expire(common::SystemTime now);

  std::size_t capacity_;
  std::size_t evicted_ = 0;
  std::unordered_map<std::string, std::multimap<common::SystemTime, std::string>::iterator> ids_;
  std::multimap<common::SystemTime, std::string> by_expiry_;
};

}  // namespace deployd::agent
