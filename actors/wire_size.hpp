#pragma once

// How large a message is on the wire: what the `max-args-bytes` and
// `max-result-bytes` bounds measure.

#include <cstdint>

#include <caf/actor_system.hpp>
#include <caf/detail/serialized_size.hpp>
#include <caf/message.hpp>

namespace dtask {

/// The serialized size of `msg` in bytes (0 for an empty message).
inline uint64_t wire_size(caf::actor_system& sys, const caf::message& msg) {
  if (msg.empty())
    return 0;
  return caf::detail::serialized_size(sys, msg);
}

} // namespace dtask
