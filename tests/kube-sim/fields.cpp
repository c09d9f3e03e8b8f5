// managedFields: FieldsV1 sets, server-side apply merging, merge patch.
#include <algorithm>
#include <set>

#include "internal.hpp"

namespace kubesim {
namespace {

const std::set<std::string> kUntrackedMeta{"name",
                                           "namespace",
                                           "uid",
                                           "resourceVersion",
                                           "generation",
                                           "creationTimestamp",
                                           "managedFields",
                                           "deletionTimestamp",
                                           "deletionGracePeriodSeconds",
                                           "selfLink"};

enum class ListKind { kAtomic, kMap, kSet };
struct ListInfo {
  ListKind kind = ListKind::kAtomic;
  std::vector<std::string> keys;  // kMap
  std::vector<Json> defaults;     // kMap: the schema default of each key field (null: none)
};

bool AtomicMap(const Json* schema) {
  return schema != nullptr && schema->is_object() &&
         schema->value("x-kubernetes-map-type", "") == "atomic";
}

// metadata of every kind: finalizers is a set, ownerReferences a map keyed by uid (ObjectMeta's
// listType markers).
const Json& MetadataSchema() { return ObjectMetaSchema(); }

ListInfo ListInfoOf(const Json& arr, const ListRules& rules, const Json* schema) {
  ListInfo info;
  if (!arr.is_array() || arr.empty()) return info;
  std::string type =
      schema != nullptr && schema->is_object() ? schema->value("x-kubernetes-list-type", "") : "";
  if (type == "map") {
    const Json keys = schema->value("x-kubernetes-list-map-keys", Json::array());
    if (!keys.is_array() || keys.empty()) return info;
    const Json* item = ItemSchema(schema);
    for (const auto& k : keys) {
      if (!k.is_string()) return info;
      info.keys.push_back(k.get<std::string>());
      const Json* field = ChildSchema(item, info.keys.back());
      info.defaults.push_back(field != nullptr && field->contains("default") ? (*field)["default"]
                                                                             : Json());
    }
    // Elements missing a key field without a default keep the list atomic (real servers reject
    // such objects).
    for (const auto& e : arr) {
      if (!e.is_object()) return ListInfo{};
      for (std::size_t i = 0; i < info.keys.size(); ++i) {
        auto it = e.find(info.keys[i]);
        bool missing = it == e.end() || it->is_null();
        if (missing && info.defaults[i].is_null()) return ListInfo{};
        if (!missing && (it->is_object() || it->is_array())) return ListInfo{};
      }
    }
    info.kind = ListKind::kMap;
    return info;
  }
  if (type == "set") {
    for (const auto& e : arr) {
      if (e.is_object() || e.is_array()) return info;
    }
    info.kind = ListKind::kSet;
    return info;
  }
  // A described list without markers is atomic; so is every list of a custom resource.
  if (schema != nullptr || !rules.builtin) return info;
  // Built-in fields the schema table does not describe: lists of named objects are keyed by name.
  bool named = std::all_of(arr.begin(), arr.end(), [](const Json& e) {
    return e.is_object() && e.contains("name") && e["name"].is_string();
  });
  if (named) {
    info.kind = ListKind::kMap;
    info.keys = {"name"};
    info.defaults = {Json()};
  }
  return info;
}

std::string ElementKey(const Json& element, const ListInfo& info) {
  if (info.kind == ListKind::kSet) return "v:" + element.dump();
  Json key = Json::object();
  for (std::size_t i = 0; i < info.keys.size(); ++i) {
    auto it = element.find(info.keys[i]);
    key[info.keys[i]] = it == element.end() || it->is_null() ? info.defaults[i] : *it;
  }
  return "k:" + key.dump();
}

Json ValueSet(const Json& v, const ListRules& rules, const Json* schema) {
  Json node = Json::object();
  if (AtomicMap(schema)) return node;
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      node["f:" + it.key()] = ValueSet(it.value(), rules, ChildSchema(schema, it.key()));
    }
    return node;
  }
  ListInfo info = ListInfoOf(v, rules, schema);
  if (info.kind == ListKind::kAtomic) return node;
  for (const auto& e : v) {
    if (info.kind == ListKind::kSet) {
      node[ElementKey(e, info)] = Json::object();
    } else {
      Json child = ValueSet(e, rules, ItemSchema(schema));
      child["."] = Json::object();
      node[ElementKey(e, info)] = child;
    }
  }
  return node;
}

void Leaves(const Json& node, std::vector<std::string>& prefix,
            std::vector<std::vector<std::string>>& out) {
  if (node.empty()) {
    if (!prefix.empty()) out.push_back(prefix);
    return;
  }
  for (auto it = node.begin(); it != node.end(); ++it) {
    prefix.push_back(it.key());
    if (it.key() == ".") {
      out.push_back(prefix);
    } else {
      Leaves(it.value(), prefix, out);
    }
    prefix.pop_back();
  }
}

void Insert(Json& set, const std::vector<std::string>& path) {
  Json* node = &set;
  for (const auto& p : path) {
    if (!node->contains(p)) (*node)[p] = Json::object();
    node = &(*node)[p];
  }
}

bool Contains(const Json& set, const std::vector<std::string>& path) {
  const Json* node = &set;
  for (const auto& p : path) {
    if (!node->is_object() || !node->contains(p)) return false;
    node = &(*node)[p];
  }
  // Only a leaf (or "." element) counts as owned.
  return node->empty();
}

Json* FindElement(Json& arr, const std::string& key) {
  if (!arr.is_array()) return nullptr;
  Json want = Json::parse(key.substr(2));
  if (key.rfind("v:", 0) == 0) {
    for (auto& e : arr) {
      if (e == want) return &e;
    }
    return nullptr;
  }
  for (auto& e : arr) {
    if (!e.is_object()) continue;
    bool match = true;
    for (auto it = want.begin(); it != want.end(); ++it) {
      if (!e.contains(it.key()) || e[it.key()] != it.value()) match = false;
    }
    if (match) return &e;
  }
  return nullptr;
}

}  // namespace

Json FieldSet(const Json& object, const ListRules& lists, bool include_status) {
  Json node = Json::object();
  if (!object.is_object()) return node;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& k = it.key();
    if (k == "apiVersion" || k == "kind") continue;
    if (k == "status" && !include_status) continue;
    if (k == "metadata" && it.value().is_object()) {
      Json meta = Json::object();
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (kUntrackedMeta.count(m.key()) != 0) continue;
        meta["f:" + m.key()] = ValueSet(m.value(), lists, ChildSchema(&MetadataSchema(), m.key()));
      }
      if (!meta.empty()) node["f:metadata"] = meta;
      continue;
    }
    node["f:" + k] = ValueSet(it.value(), lists, ChildSchema(lists.schema, k));
  }
  return node;
}

Json FieldSetUnion(const Json& a, const Json& b) {
  Json out = a.is_object() ? a : Json::object();
  if (!b.is_object()) return out;
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (out.contains(it.key())) {
      out[it.key()] = FieldSetUnion(out[it.key()], it.value());
    } else {
      out[it.key()] = it.value();
    }
  }
  return out;
}

Json FieldSetDifference(const Json& a, const Json& b) {
  Json out = Json::object();
  for (const auto& leaf : FieldSetLeaves(a)) {
    if (!Contains(b, leaf)) Insert(out, leaf);
  }
  return out;
}

Json FieldSetIntersection(const Json& a, const Json& b) {
  Json out = Json::object();
  for (const auto& leaf : FieldSetLeaves(a)) {
    if (Contains(b, leaf)) Insert(out, leaf);
  }
  return out;
}

bool FieldSetEmpty(const Json& a) { return FieldSetLeaves(a).empty(); }

std::vector<std::vector<std::string>> FieldSetLeaves(const Json& set) {
  std::vector<std::vector<std::string>> out;
  std::vector<std::string> prefix;
  if (set.is_object() && !set.empty()) Leaves(set, prefix, out);
  return out;
}

std::string FieldPathString(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& p : path) {
    if (p == ".") continue;
    if (p.rfind("f:", 0) == 0) {
      out += "." + p.substr(2);
    } else if (p.rfind("k:", 0) == 0) {
      Json key = Json::parse(p.substr(2));
      out += "[";
      bool first = true;
      for (auto it = key.begin(); it != key.end(); ++it) {
        out += (first ? "" : ",") + it.key() + "=" + it.value().dump();
        first = false;
      }
      out += "]";
    } else if (p.rfind("v:", 0) == 0) {
      out += "[=" + p.substr(2) + "]";
    } else {
      out += "." + p;
    }
  }
  return out;
}

const Json* ValueAt(const Json& object, const std::vector<std::string>& path) {
  const Json* cur = &object;
  for (const auto& p : path) {
    if (p == ".") continue;
    if (p.rfind("f:", 0) == 0) {
      if (!cur->is_object()) return nullptr;
      auto it = cur->find(p.substr(2));
      if (it == cur->end()) return nullptr;
      cur = &*it;
    } else if (p.rfind("k:", 0) == 0 || p.rfind("v:", 0) == 0) {
      Json* e = FindElement(const_cast<Json&>(*cur), p);
      if (e == nullptr) return nullptr;
      cur = e;
    } else {
      return nullptr;
    }
  }
  return cur;
}

void RemoveAt(Json& object, const std::vector<std::string>& path) {
  std::vector<std::string> p = path;
  if (!p.empty() && p.back() == ".") p.pop_back();
  if (p.empty()) return;
  std::vector<Json*> chain{&object};
  Json* cur = &object;
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    const std::string& e = p[i];
    Json* next = nullptr;
    if (e.rfind("f:", 0) == 0 && cur->is_object()) {
      auto it = cur->find(e.substr(2));
      if (it != cur->end()) next = &*it;
    } else if (e.rfind("k:", 0) == 0 || e.rfind("v:", 0) == 0) {
      next = FindElement(*cur, e);
    }
    if (next == nullptr) return;
    cur = next;
    chain.push_back(cur);
  }
  const std::string& last = p.back();
  if (last.rfind("f:", 0) == 0 && cur->is_object()) {
    cur->erase(last.substr(2));
  } else if ((last.rfind("k:", 0) == 0 || last.rfind("v:", 0) == 0) && cur->is_array()) {
    Json* e = FindElement(*cur, last);
    if (e != nullptr) {
      for (auto it = cur->begin(); it != cur->end(); ++it) {
        if (&*it == e) {
          cur->erase(it);
          break;
        }
      }
    }
  }
  // Drop maps and lists emptied by the removal (below the top level objects).
  for (std::size_t i = chain.size() - 1; i >= 2; --i) {
    Json* node = chain[i];
    if (!(node->is_object() || node->is_array()) || !node->empty()) break;
    Json* parent = chain[i - 1];
    const std::string& key = p[i - 1];
    if (key.rfind("f:", 0) == 0 && parent->is_object())
      parent->erase(key.substr(2));
    else
      break;
  }
}

Json ChangedFields(const Json& before, const Json& after, const ListRules& lists,
                   bool include_status) {
  Json out = Json::object();
  Json set = FieldSet(after, lists, include_status);
  for (const auto& leaf : FieldSetLeaves(set)) {
    const Json* a = ValueAt(after, leaf);
    const Json* b = ValueAt(before, leaf);
    bool element = !leaf.empty() && leaf.back() == ".";
    if (element ? (a == nullptr) != (b == nullptr) : (b == nullptr || a == nullptr || *a != *b))
      Insert(out, leaf);
  }
  // Elements of keyed lists that are new also own their "." node.
  return out;
}

namespace {

void MergeInto(Json& live, const Json& applied, const ListRules& rules, const Json* schema,
               bool root) {
  if (!applied.is_object() || !live.is_object()) {
    live = applied;
    return;
  }
  for (auto it = applied.begin(); it != applied.end(); ++it) {
    const Json& v = it.value();
    const Json* child =
        root && it.key() == "metadata" ? &MetadataSchema() : ChildSchema(schema, it.key());
    auto lit = live.find(it.key());
    if (lit == live.end()) {
      live[it.key()] = v;
      continue;
    }
    if (v.is_object() && lit->is_object() && !AtomicMap(child)) {
      MergeInto(*lit, v, rules, child, false);
      continue;
    }
    ListInfo mine = ListInfoOf(v, rules, child);
    ListInfo theirs = ListInfoOf(*lit, rules, child);
    if (mine.kind != ListKind::kAtomic && mine.kind == theirs.kind && mine.keys == theirs.keys) {
      for (const auto& e : v) {
        Json* existing = FindElement(*lit, ElementKey(e, mine));
        if (existing == nullptr) {
          lit->push_back(e);
        } else if (mine.kind == ListKind::kMap) {
          MergeInto(*existing, e, rules, ItemSchema(child), false);
        }
      }
    } else {
      *lit = v;
    }
  }
}

}  // namespace

void ApplyMerge(Json& live, const Json& applied, const ListRules& lists) {
  MergeInto(live, applied, lists, lists.schema, true);
}

namespace {

void FillDefaults(Json& value, const Json* schema) {
  if (schema == nullptr || !schema->is_object()) return;
  if (value.is_object()) {
    for (auto it = value.begin(); it != value.end(); ++it)
      FillDefaults(it.value(), ChildSchema(schema, it.key()));
    return;
  }
  if (!value.is_array()) return;
  const Json* item = ItemSchema(schema);
  if (schema->value("x-kubernetes-list-type", "") == "map") {
    for (const auto& k : schema->value("x-kubernetes-list-map-keys", Json::array())) {
      const Json* field = ChildSchema(item, k.get<std::string>());
      if (field == nullptr || !field->contains("default")) continue;
      for (auto& e : value) {
        if (e.is_object() &&
            (!e.contains(k.get<std::string>()) || e[k.get<std::string>()].is_null())) {
          e[k.get<std::string>()] = (*field)["default"];
        }
      }
    }
  }
  for (auto& e : value) FillDefaults(e, item);
}

}  // namespace

void FillListKeyDefaults(Json& object, const ListRules& lists) {
  if (!object.is_object() || lists.schema == nullptr) return;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key() == "metadata") continue;
    FillDefaults(it.value(), ChildSchema(lists.schema, it.key()));
  }
}

void MergePatch(Json& target, const Json& patch) {
  if (!patch.is_object()) {
    target = patch;
    return;
  }
  if (!target.is_object()) target = Json::object();
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (it.value().is_null()) {
      target.erase(it.key());
    } else {
      MergePatch(target[it.key()], it.value());
    }
  }
}

const Json* ChildSchema(const Json* schema, const std::string& key) {
  if (schema == nullptr || !schema->is_object()) return nullptr;
  auto props = schema->find("properties");
  if (props != schema->end() && props->is_object()) {
    auto it = props->find(key);
    if (it != props->end()) return &*it;
  }
  auto extra = schema->find("additionalProperties");
  if (extra != schema->end() && extra->is_object()) return &*extra;
  return nullptr;
}

const Json* ItemSchema(const Json* schema) {
  if (schema == nullptr || !schema->is_object()) return nullptr;
  auto items = schema->find("items");
  return items != schema->end() && items->is_object() ? &*items : nullptr;
}

}  // namespace kubesim
