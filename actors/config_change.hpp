#pragma once

// A change of the voting membership under way, on the orchestrator that
// proposed it ((i) in orchestrator.cpp): which nodes took the next
// configuration, and whether that commits it. Plain C++, tested in
// tests/unit_orchestrator_parts.cpp.
//
//   accepted(node): `node` took (and kept) the next configuration. Returns
//                   true when that commits the change: a strict majority of
//                   the current voters and a strict majority of the next
//                   voters took it. Any majority of either then shares a
//                   voter with this one, and the voters of both that took it
//                   answer no orchestrator of the older configuration.

#include <set>
#include <string>
#include <utility>

#include "mutations.hpp"
#include "dtask/voting_config.hpp"

namespace dtask {

class config_change {
public:
  config_change(voting_config from, voting_config to)
    : from_(std::move(from)), to_(std::move(to)) {
    // nop
  }

  bool accepted(const std::string& node) {
    accepted_.insert(node);
    return committed();
  }

  bool committed() const {
    if (mutated(mutation::change_without_majority))
      return !accepted_.empty();
    return count(from_) >= from_.quorum() && count(to_) >= to_.quorum();
  }

  const voting_config& target() const noexcept {
    return to_;
  }

private:
  size_t count(const voting_config& c) const {
    size_t n = 0;
    for (auto& node : accepted_)
      if (c.is_voter(node))
        ++n;
    return n;
  }

  voting_config from_;
  voting_config to_;
  std::set<std::string> accepted_;
};

} // namespace dtask
