#pragma once

// The mirror side of a registry: the entries that orchestrators' nodes
// (origins) mirrored here, their member lists, and the promises they gave
// (see "mirror promises" in registry.cpp). A new orchestrator on this node
// reads it (`sync`). Plain C++, time passed in; the handle type of an
// origin's registry is a parameter so that tests can use plain values.
//
//   note_origin(o, sender): `sender` mirrors as `o`; a new sender (the
//                           origin restarted) holds no promise yet.
//   store / remove:         entries of `o`, by name, the newest incarnation
//                           of each; `store` with `replace_all` replaces
//                           them all.
//   drop(o):                `o` mirrors elsewhere now: forget it.
//   promised(o, sender, t): `o` promised until `t`; only from its registry.
//   noted(o, sender):       `sender` is the registry that mirrors as `o`.
//   forget(name, epoch):    a mirrored incarnation was taken over.

#include <algorithm>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>

#include "actors.hpp"
#include "local_entry.hpp"
#include "mutations.hpp"

namespace dtask {

template <class Handle = caf::actor>
class mirror_store {
public:
  void note_origin(const std::string& origin, const Handle& sender) {
    auto& p = promises_[origin];
    if (p.first != sender) {
      p.first = sender;
      p.second = clock_type::time_point{};
    }
  }

  void set_members(const std::string& origin,
                   std::vector<std::string> members) {
    member_lists_[origin] = std::move(members);
  }

  void store(const std::string& origin, std::vector<registry_entry>& entries,
             bool replace_all = false) {
    auto& mine = entries_[origin];
    if (replace_all)
      mine.clear();
    for (auto& e : entries) {
      if (mutated(mutation::mirror_collapse)) {
        mine[e.order.name] = from_wire(std::move(e));
        continue;
      }
      // The newest incarnation of a name stays: an origin reports the
      // outcome of an older one again every second until an orchestrator
      // acknowledges it (none does during a takeover's first L + M), and
      // that must not erase a newer one that may run there (a new
      // orchestrator on this node would think the name free and start it
      // while it still runs on the origin; seed 20858). The origin runs a
      // name again only once its older worker is gone, so only the newest
      // incarnation can run.
      auto i = mine.find(e.order.name);
      if (i != mine.end() && i->second.order.epoch > e.order.epoch)
        continue;
      // (Not `mine[e.order.name] = from_wire(std::move(e))`: since C++17 the
      // right side runs first and would move the name out of the key.)
      auto& slot = mine[e.order.name];
      slot = from_wire(std::move(e));
    }
  }

  void remove(const std::string& origin, const std::vector<task_key>& keys) {
    auto& mine = entries_[origin];
    for (auto& key : keys) {
      auto i = mine.find(key.name);
      if (i != mine.end() && i->second.order.epoch == key.epoch)
        mine.erase(i);
    }
  }

  void drop(const std::string& origin) {
    entries_.erase(origin);
    member_lists_.erase(origin);
    promises_.erase(origin);
  }

  void promised(const std::string& origin, const Handle& sender,
                clock_type::time_point until) {
    auto p = promises_.find(origin);
    if (p == promises_.end() || sender != p->second.first)
      return;
    p->second.second = std::max(p->second.second, until);
  }

  /// Returns true if it held the incarnation.
  bool forget(const std::string& name, uint64_t epoch) {
    auto found = false;
    for (auto& kvp : entries_) {
      auto j = kvp.second.find(name);
      if (j != kvp.second.end() && j->second.order.epoch == epoch) {
        kvp.second.erase(j);
        found = true;
      }
    }
    return found;
  }

  /// The member lists, each with until when its origin's promise holds
  /// (monotonic ns of this process; 0: no promise).
  std::vector<mirrored_members> member_lists() const {
    std::vector<mirrored_members> result;
    for (auto& kvp : member_lists_) {
      result.push_back(mirrored_members{kvp.first, kvp.second, 0});
      auto p = promises_.find(kvp.first);
      if (p != promises_.end())
        result.back().promised_until = mono_ns(p->second.second);
    }
    return result;
  }

  /// Calls `f(origin, entry)` for every mirrored entry.
  template <class F>
  void for_each_entry(F f) const {
    for (auto& origin : entries_)
      for (auto& kvp : origin.second)
        f(origin.first, kvp.second);
  }

  /// Calls `f(registry)` for every origin's registry (to ask for promises).
  template <class F>
  void for_each_origin(F f) const {
    for (auto& kvp : promises_)
      if (kvp.second.first)
        f(kvp.second.first);
  }

  /// True if `sender` mirrors as `origin` (its last `note_origin`).
  bool noted(const std::string& origin, const Handle& sender) const {
    auto p = promises_.find(origin);
    return p != promises_.end() && p->second.first && p->second.first == sender;
  }

  /// The promise of `origin` (for tests and traces).
  clock_type::time_point promise_of(const std::string& origin) const {
    auto p = promises_.find(origin);
    return p != promises_.end() ? p->second.second : clock_type::time_point{};
  }

  size_t entries_of(const std::string& origin) const {
    auto i = entries_.find(origin);
    return i != entries_.end() ? i->second.size() : 0;
  }

private:
  std::map<std::string, std::unordered_map<std::string, local_entry>> entries_;
  std::map<std::string, std::vector<std::string>> member_lists_;
  std::map<std::string, std::pair<Handle, clock_type::time_point>> promises_;
};

} // namespace dtask
