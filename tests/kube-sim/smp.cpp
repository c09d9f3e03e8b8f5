// Strategic merge patch (application/strategic-merge-patch+json) as kube-apiserver applies it to
// built-in kinds: maps merge key by key (null deletes), lists whose schema says
// `x-kubernetes-patch-strategy: merge` merge by `x-kubernetes-patch-merge-key` (or as a set of
// primitives), other lists are replaced. Directives: `$patch: replace|delete` on a map,
// `{"$patch": "replace"}` and `{<key>: ..., "$patch": "delete"}` elements of a merging list,
// `$retainKeys`, `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>`. The order of a
// merged list follows the patch (or its $setElementOrder list) for the items it names and keeps
// the live order of the others, interleaved by their live positions.
#include <algorithm>

#include "internal.hpp"

namespace kubesim {
namespace {

constexpr const char* kDirective = "$patch";
constexpr const char* kRetainKeys = "$retainKeys";
constexpr const char* kSetElementOrder = "$setElementOrder/";
constexpr const char* kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Go's %v of a decoded JSON value (maps print as map[k:v ...] with sorted keys).
std::string GoPrint(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "<nil>";
  if (v.is_object()) {
    std::string out = "map[";
    bool first = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      out += (first ? "" : " ") + it.key() + ":" + GoPrint(it.value());
      first = false;
    }
    return out + "]";
  }
  if (v.is_array()) {
    std::string out = "[";
    for (std::size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + GoPrint(v[i]);
    return out + "]";
  }
  return v.dump();
}

// Errors the apiserver maps to 400 (bad directive formats).
[[noreturn]] void BadFormat(const std::string& message) { throw BadRequestError(message); }
// Other merge errors surface as a 500 Status without a reason.
[[noreturn]] void MergeError(const std::string& message) { throw MakeError(500, "", message); }

struct PatchMeta {
  std::string strategy;  // "merge", "replace" or "" (retainKeys is separate)
  std::string merge_key;
};

PatchMeta MetaOf(const Json* field) {
  PatchMeta m;
  if (field == nullptr || !field->is_object()) return m;
  std::string strategies = field->value("x-kubernetes-patch-strategy", "");
  std::size_t pos = 0;
  while (pos <= strategies.size()) {
    auto comma = strategies.find(',', pos);
    if (comma == std::string::npos) comma = strategies.size();
    std::string s = strategies.substr(pos, comma - pos);
    if (s == "merge" || s == "replace") m.strategy = s;
    pos = comma + 1;
  }
  m.merge_key = field->value("x-kubernetes-patch-merge-key", "");
  return m;
}

Json MergeMap(Json original, Json patch, const Json* schema);
Json MergeValue(const Json* original, const Json& patch, const Json* field, bool delete_list);

// The position of `item` in `order` (by merge key for maps, by value otherwise), -1 if absent.
long IndexIn(const Json& order, const Json& item, const std::string& merge_key) {
  for (std::size_t i = 0; i < order.size(); ++i) {
    const Json& o = order[i];
    if (merge_key.empty()) {
      if (o == item) return static_cast<long>(i);
    } else if (o.is_object() && item.is_object() && o.contains(merge_key) &&
               item.contains(merge_key) && o[merge_key] == item[merge_key]) {
      return static_cast<long>(i);
    }
  }
  return -1;
}

void SortBy(std::vector<Json>& items, const Json& order, const std::string& merge_key) {
  std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
    long ia = IndexIn(order, a, merge_key);
    long ib = IndexIn(order, b, merge_key);
    return ia >= 0 && ib >= 0 && ia < ib;
  });
}

// Items the patch names in `patch_order` order, live-only items in live order, merged so that a
// live-only item comes before a patch item that the live list has after it.
Json NormalizeOrder(const Json& merged, const Json& patch_order, const Json& server_order,
                    const std::string& merge_key) {
  std::vector<Json> patch_items, server_only;
  for (const auto& item : merged) {
    (IndexIn(patch_order, item, merge_key) >= 0 ? patch_items : server_only).push_back(item);
  }
  SortBy(patch_items, patch_order, merge_key);
  SortBy(server_only, server_order, merge_key);
  Json out = Json::array();
  std::size_t i = 0, j = 0;
  while (i < server_only.size() || j < patch_items.size()) {
    if (j >= patch_items.size()) {
      out.push_back(server_only[i++]);
    } else if (i >= server_only.size()) {
      out.push_back(patch_items[j++]);
    } else {
      long li = IndexIn(server_order, server_only[i], merge_key);
      long ri = IndexIn(server_order, patch_items[j], merge_key);
      if (li >= 0 && ri >= 0 && li < ri) {
        out.push_back(server_only[i++]);
      } else {
        out.push_back(patch_items[j++]);
      }
    }
  }
  return out;
}

bool ContainsDirective(const Json& item) { return item.is_object() && item.contains(kDirective); }

// A merging list: primitives are unioned (or removed with $deleteFromPrimitiveList); maps are
// matched by the merge key, with `$patch: delete` / `$patch: replace` elements.
Json MergeList(Json original, const Json& patch, const Json* field, const std::string& merge_key,
               bool delete_list) {
  if (original.empty() && patch.empty()) return original;
  bool maps = false;
  for (const Json* l : std::initializer_list<const Json*>{&original, &patch}) {
    for (const auto& e : *l) {
      if (e.is_array()) MergeError("lists of lists are not supported");
      maps = maps || e.is_object();
    }
  }
  Json merged = Json::array();
  Json patch_items = Json::array();
  if (!maps) {
    if (delete_list) {
      for (const auto& e : original) {
        if (std::find(patch.begin(), patch.end(), e) == patch.end()) merged.push_back(e);
      }
      return merged;
    }
    for (const Json* l : std::initializer_list<const Json*>{&original, &patch}) {
      for (const auto& e : *l) {
        if (std::find(merged.begin(), merged.end(), e) == merged.end()) merged.push_back(e);
      }
    }
    patch_items = patch;
  } else {
    if (merge_key.empty()) MergeError("cannot merge lists without merge key for type map");
    bool replace = false;
    for (const auto& e : patch) {
      if (!e.is_object()) MergeError("list element types are not identical");
      if (!e.contains(kDirective)) {
        patch_items.push_back(e);
        continue;
      }
      const Json& type = e[kDirective];
      if (type == "delete") {
        if (!e.contains(merge_key)) {
          MergeError("map: " + GoPrint(e) + " does not contain declared merge key: " + merge_key);
        }
        Json kept = Json::array();
        for (const auto& o : original) {
          if (!(o.is_object() && o.contains(merge_key) && o[merge_key] == e[merge_key]))
            kept.push_back(o);
        }
        original = kept;
      } else if (type == "replace") {
        replace = true;
      } else if (type == "merge") {
        MergeError("merging lists cannot yet be specified in the patch");
      } else {
        MergeError("unknown patch type: " + GoPrint(type) + " in map: " + GoPrint(e));
      }
    }
    if (replace) return patch_items;
    merged = original;
    for (const auto& e : patch_items) {
      if (!e.contains(merge_key)) {
        MergeError("map: " + GoPrint(e) + " does not contain declared merge key: " + merge_key);
      }
      bool found = false;
      for (auto& o : merged) {
        if (!o.is_object()) MergeError("value for key is not a map.");
        if (o.contains(merge_key) && o[merge_key] == e[merge_key]) {
          o = MergeMap(o, e, ItemSchema(field));
          found = true;
          break;
        }
      }
      if (!found) merged.push_back(MergeMap(Json::object(), e, ItemSchema(field)));
    }
  }
  return NormalizeOrder(merged, patch_items, original, maps ? merge_key : "");
}

Json MergeMap(Json original, Json patch, const Json* schema) {
  if (!original.is_object()) original = Json::object();
  if (patch.contains(kDirective)) {
    const Json& d = patch[kDirective];
    if (d == "replace") {
      patch.erase(kDirective);
      return patch;
    }
    if (d == "delete") return Json::object();
    MergeError("unknown patch type: " + GoPrint(d) + " in map: " + GoPrint(patch));
  }
  // $retainKeys: every key the patch sets must be listed; the others are cleared.
  if (patch.contains(kRetainKeys)) {
    const Json retain = patch[kRetainKeys];
    patch.erase(kRetainKeys);
    if (!retain.is_array()) BadFormat("invalid patch format of retainKeys");
    for (auto it = patch.begin(); it != patch.end(); ++it) {
      if (it.value().is_null() || StartsWith(it.key(), kDeleteFromPrimitiveList) ||
          StartsWith(it.key(), kSetElementOrder)) {
        continue;
      }
      if (std::find(retain.begin(), retain.end(), it.key()) == retain.end()) {
        BadFormat("invalid patch format of retainKeys");
      }
    }
    std::vector<std::string> drop;
    for (auto it = original.begin(); it != original.end(); ++it) {
      if (std::find(retain.begin(), retain.end(), it.key()) == retain.end())
        drop.push_back(it.key());
    }
    for (const auto& k : drop) original.erase(k);
  }
  // $setElementOrder/<list>: merge that list now and order it as told.
  std::vector<std::string> ordered;
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (StartsWith(it.key(), kSetElementOrder)) ordered.push_back(it.key());
  }
  for (const auto& key : ordered) {
    const Json order = patch[key];
    patch.erase(key);
    if (!order.is_array()) BadFormat("invalid patch format of setElementOrder list");
    std::string list_key = key.substr(std::string(kSetElementOrder).size());
    if (list_key.empty()) BadFormat("invalid patch format of setElementOrder list");
    const Json* field = ChildSchema(schema, list_key);
    PatchMeta meta = MetaOf(field);
    bool in_original = original.contains(list_key);
    bool in_patch = patch.contains(list_key);
    if (in_original && !original[list_key].is_array()) MergeError("invalid type for " + list_key);
    if (in_patch && !patch[list_key].is_array()) MergeError("invalid type for " + list_key);
    Json merged;
    Json server = in_original ? original[list_key] : Json::array();
    if (in_original && !in_patch) {
      merged = server;
    } else if (!in_original && in_patch) {
      merged = MergeValue(nullptr, patch[list_key], field, false);
    } else if (in_original && in_patch) {
      merged = meta.strategy == "merge"
                   ? MergeList(server, patch[list_key], field, meta.merge_key, false)
                   : patch[list_key];
    } else {
      continue;
    }
    bool maps =
        std::any_of(merged.begin(), merged.end(), [](const Json& e) { return e.is_object(); });
    original[list_key] = NormalizeOrder(merged, order, server, maps ? meta.merge_key : "");
    patch.erase(list_key);
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    std::string key = it.key();
    bool delete_list = false;
    if (StartsWith(key, kDeleteFromPrimitiveList)) {
      key = key.substr(std::string(kDeleteFromPrimitiveList).size());
      if (key.empty() || !it.value().is_array())
        BadFormat("invalid patch format of primitive list");
      delete_list = true;
      if (!original.contains(key)) continue;
    }
    const Json& value = it.value();
    if (value.is_null()) {
      original.erase(key);
      continue;
    }
    auto existing = original.find(key);
    original[key] = MergeValue(existing == original.end() ? nullptr : &*existing, value,
                               ChildSchema(schema, key), delete_list);
  }
  return original;
}

Json MergeValue(const Json* original, const Json& patch, const Json* field, bool delete_list) {
  PatchMeta meta = MetaOf(field);
  if (delete_list) return MergeList(*original, patch, field, meta.merge_key, true);
  if (patch.is_object()) {
    if (original == nullptr || !original->is_object())
      return MergeMap(Json::object(), patch, field);
    if (meta.strategy == "replace") return patch;
    return MergeMap(*original, patch, field);
  }
  if (patch.is_array()) {
    if (meta.strategy != "merge") {
      if (original == nullptr || !original->is_array()) {
        // A new list: drop directive elements the way merging into nothing would.
        Json out = Json::array();
        for (const auto& e : patch) {
          if (!ContainsDirective(e)) out.push_back(e);
        }
        return out;
      }
      return patch;
    }
    if (original == nullptr || !original->is_array()) {
      return MergeList(Json::array(), patch, field, meta.merge_key, false);
    }
    return MergeList(*original, patch, field, meta.merge_key, delete_list);
  }
  return patch;
}

}  // namespace

void StrategicMergePatch(Json& target, const Json& patch, const Json* schema) {
  if (!patch.is_object()) throw BadRequestError("invalid JSON document");
  target = MergeMap(target, patch, schema);
}

}  // namespace kubesim
