#pragma once

// The origin side of mirror promises (see registry.cpp): until when this
// registry promised each mirror to start nothing, and report no outcome,
// that is not mirrored there. Plain C++, time passed in; the key is the
// mirror registry's address (a template so that tests can use strings).
//
//   promise(mirror, now): promised until now + mirror_promise (never less).
//   blocked(current, now): a promise to a registry other than `current`
//                          (the mirror now) still holds; expired promises
//                          are forgotten on the way.

#include <algorithm>
#include <map>

#include <caf/actor_addr.hpp>

#include "actors.hpp"

namespace dtask {

template <class Key = caf::actor_addr>
class mirror_origin {
public:
  void promise(const Key& mirror, clock_type::time_point now) {
    auto& until = promised_[mirror];
    until = std::max(until, now + mirror_promise);
  }

  bool blocked(const Key& current, clock_type::time_point now) {
    auto result = false;
    for (auto i = promised_.begin(); i != promised_.end();) {
      if (i->second <= now) {
        i = promised_.erase(i);
        continue;
      }
      if (i->first != current)
        result = true;
      ++i;
    }
    return result;
  }

private:
  std::map<Key, clock_type::time_point> promised_;
};

} // namespace dtask
