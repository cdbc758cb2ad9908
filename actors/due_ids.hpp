#pragma once

// What rounds and reads on their way to a majority of the voters share:
// those sent at least `resend` ago are due again (their send time
// restarts). `Map` maps ids to items with a `sent` time point.

#include <cstdint>
#include <vector>

#include "actors.hpp"

namespace dtask {

template <class Map>
std::vector<uint64_t> due_ids(Map& items, clock_type::time_point now,
                              clock_type::duration resend) {
  std::vector<uint64_t> result;
  for (auto& kvp : items)
    if (kvp.second.sent + resend <= now) {
      kvp.second.sent = now;
      result.push_back(kvp.first);
    }
  return result;
}

} // namespace dtask
