#pragma once

// Which nodes an orchestrator may grant leases to, so that a takeover on a
// mirror's node knows every node the old one may have leased to ((d) in
// orchestrator.cpp): the registry of the orchestrator's node mirrors the
// list of nodes that may hold a lease (its members, and for L + M those
// that left), and promises each mirror to start nothing unmirrored there;
// while a promise holds, the orchestrator grants a lease only to a node
// that this mirror acknowledged in its list. Shared by the registry (which
// records promises and acknowledgements) and the orchestrator of one node,
// so thread-safe. Plain C++, time passed in; tested in
// tests/unit_registry_parts.cpp.
//
//   promised(mirror, until):  a promise to `mirror` holds until `until`.
//   listed(mirror, nodes):    `mirror` holds `nodes` as the list now.
//   may_lease(node, now):     every mirror with a promise that holds now
//                             lists `node` (true if none holds).
//   forget(mirror):           the registry mirrors elsewhere now: an entry
//                             without a promise in force goes.
//
// Without this, a non-voter that rejoined the old orchestrator while its
// mirror was cut off got a lease and a task; the takeover on the mirror's
// node, whose list lacked it, started the same name at once (found by
// `dtask-sim --changes=4`, seeds 554 and 1823 when it was found).

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_addr.hpp>

namespace dtask {

template <class Key = caf::actor_addr>
class lease_cover {
public:
  using time_point = std::chrono::steady_clock::time_point;

  void promised(const Key& mirror, time_point until) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& e = mirrors_[mirror];
    e.until = std::max(e.until, until);
  }

  void listed(const Key& mirror, const std::vector<std::string>& nodes) {
    std::lock_guard<std::mutex> guard{mtx_};
    mirrors_[mirror].nodes = std::set<std::string>(nodes.begin(), nodes.end());
  }

  bool may_lease(const std::string& node, time_point now) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto result = true;
    for (auto i = mirrors_.begin(); i != mirrors_.end();) {
      if (i->second.until <= now && i->second.until != time_point{}) {
        i = mirrors_.erase(i);
        continue;
      }
      if (i->second.until != time_point{} && i->second.nodes.count(node) == 0)
        result = false;
      ++i;
    }
    return result;
  }

  void forget(const Key& mirror) {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = mirrors_.find(mirror);
    if (i != mirrors_.end() && i->second.until == time_point{})
      mirrors_.erase(i);
  }

private:
  struct entry {
    /// No promise yet while default (a list acknowledged first).
    time_point until;
    std::set<std::string> nodes;
  };

  std::mutex mtx_;
  std::map<Key, entry> mirrors_;
};

} // namespace dtask
