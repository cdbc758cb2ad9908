// A build check of the typed internal protocol: the same send, once in the
// shape the registry declares and once in a shape it does not. The first
// compiles; the second must not (tests/protocol/check_wrong_shape.cmake).
// With DTASK_WRONG_SHAPE, g++ 12 says:
//   caf/mixin/sender.hpp: error: static assertion failed: receiver does not
//   accept given message

#include <caf/all.hpp>

#include "dtask/protocol.hpp"

void grant(caf::event_based_actor* self, const dtask::registry_api& registry) {
#ifdef DTASK_WRONG_SHAPE
  // The lease grant as three loose fields, as it was before it was typed.
  self->send(registry, dtask::grant_atom::value, uint64_t{256}, int64_t{1},
             uint64_t{0});
#else
  self->send(registry, dtask::grant_atom::value,
             dtask::lease_grant{256, 1, 0});
#endif
}
