#pragma once

// A registry's record of one incarnation (its own, or one mirrored to it),
// and its wire form. Plain C++: used by the registry actor and by the mirror
// store (mirror_store.hpp).

#include <memory>
#include <string>
#include <utility>

#include <caf/actor.hpp>
#include <caf/message.hpp>

#include "dtask/protocol.hpp"
#include "dtask/task_table.hpp"

namespace dtask {

/// One incarnation a registry owns, or one mirrored there. The wire form
/// (`registry_entry`) repeats name, node, epoch, token and attempt in its
/// status; here they come from the order, and a running task keeps no
/// status at all (memory per running task counts).
struct local_entry {
  spawn_order order;
  caf::actor worker;
  task_state state = task_state::running;
  /// Set once it ended (`task_outcome`, as in the orchestrator's table).
  std::unique_ptr<task_outcome> ended;

  bool running() const noexcept {
    return state == task_state::running;
  }

  void finish(task_state s, caf::message result, std::string reason) {
    state = s;
    ended = std::make_unique<task_outcome>(
      task_outcome{std::move(result), std::move(reason)});
  }
};

/// The wire form of `e`, an entry of the node `node`.
inline registry_entry to_wire(const local_entry& e, const std::string& node) {
  registry_entry r;
  r.order = e.order;
  r.worker = e.worker;
  r.status.name = e.order.name;
  r.status.state = e.state;
  r.status.node = node;
  if (e.ended) {
    r.status.result = e.ended->result;
    r.status.reason = e.ended->reason;
  }
  r.status.epoch = e.order.epoch;
  r.status.token = e.order.token;
  r.status.attempt = e.order.attempt;
  return r;
}

inline local_entry from_wire(registry_entry&& r) {
  local_entry e;
  e.order = std::move(r.order);
  e.worker = std::move(r.worker);
  if (r.status.state != task_state::running)
    e.finish(r.status.state, std::move(r.status.result),
             std::move(r.status.reason));
  return e;
}

} // namespace dtask
