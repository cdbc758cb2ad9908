// Definitions of the simulation's seams (node_actor.hpp, mutations.hpp).

#include "mutations.hpp"
#include "node_actor.hpp"

namespace dtask {

message_filter::~message_filter() {
  // nop
}

message_filter* active_message_filter = nullptr;

mutation active_mutation = mutation::none;

uint64_t first_task_sequence = 0;

} // namespace dtask
