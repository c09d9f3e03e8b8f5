#include "deployd/agent/seen_ids.hpp"

#include <algorithm>

namespace deployd::agent {

SeenIds::SeenIds(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

void SeenIds::Expire(common::SystemTime now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    ids_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

bool SeenIds::Contains(const std::string& id, common::SystemTime now) {
  Expire(now);
  return ids_.count(id) != 0;
}

bool SeenIds::Insert(const std::string& id, common::SystemTime forget_after,
                     common::SystemTime now) {
  Expire(now);
  if (ids_.count(id) != 0) return false;
  if (forget_after <= now) return true;  // would be forgotten at once
  while (ids_.size() >= capacity_) {
    ids_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
    ++evicted_;
  }
  ids_.emplace(id, by_expiry_.emplace(forget_after, id));
  return true;
}

}  // namespace deployd::agent
