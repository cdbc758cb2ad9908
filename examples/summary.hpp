#pragma once

// A message type of the program's own: what the `summarize` task returns.
// Every node of the cluster and every client that reads such a result
// registers it (`add_types`); a side that does not sees an empty message.

#include <algorithm>
#include <cstdint>
#include <string>

#include <caf/actor_system_config.hpp>
#include <caf/meta/type_name.hpp>

namespace example {

/// Count, sum, smallest and largest of some integers.
struct summary {
  int64_t count = 0;
  int64_t sum = 0;
  int64_t min = 0;
  int64_t max = 0;

  void add(int64_t x) {
    min = count == 0 ? x : std::min(min, x);
    max = count == 0 ? x : std::max(max, x);
    sum += x;
    ++count;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, summary& x) {
  return f(caf::meta::type_name("example.summary"), x.count, x.sum, x.min,
           x.max);
}

inline std::string to_text(const summary& x) {
  return "count " + std::to_string(x.count) + ", sum " + std::to_string(x.sum)
         + ", min " + std::to_string(x.min) + ", max " + std::to_string(x.max);
}

/// Registers this program's message types (nodes: the last argument of
/// `dtask::node_main`; clients: after `dtask::configure`).
inline void add_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<summary>("example.summary");
}

} // namespace example
