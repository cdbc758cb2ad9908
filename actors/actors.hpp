#pragma once

// Spawn functions of the actors in this directory (internal to the library).

#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

#include "dtask/config.hpp"
#include "dtask/protocol.hpp"
#include "dtask/task.hpp"

namespace dtask {

/// One line of a node's log. The whole line is written at once when the
/// object dies (end of the statement), under a lock: lines from different
/// threads never interleave, so operators and tests can read them.
///   log_line{} << "dtask-node " << name << " up";
class log_line {
public:
  explicit log_line(bool to_stderr = false) : to_stderr_(to_stderr) {
    // nop
  }

  log_line(const log_line&) = delete;
  log_line& operator=(const log_line&) = delete;

  ~log_line();

  template <class T>
  log_line& operator<<(const T& x) {
    buf_ << x;
    return *this;
  }

private:
  bool to_stderr_;
  std::ostringstream buf_;
};

/// What every actor of a node shares, immutable after start.
struct node_context {
  node_config config;
  std::string name;
  catalog tasks;
};

using node_context_ptr = std::shared_ptr<const node_context>;

/// The node's share of the global name registry: owns the node's workers.
caf::actor spawn_registry(caf::actor_system& sys, node_context_ptr ctx);

/// Membership and orchestrator election; the actor a node publishes.
caf::actor spawn_supervisor(caf::actor_system& sys, node_context_ptr ctx,
                            caf::actor registry);

/// The cluster's one orchestrator. `members` includes the local node.
caf::actor spawn_orchestrator(caf::actor_system& sys, node_context_ptr ctx,
                              uint64_t epoch, std::vector<member> members);

/// One worker running the task `order` with `factory`; reports to `registry`.
caf::actor spawn_worker(caf::actor_system& sys, const task_factory& factory,
                        const spawn_order& order, caf::actor registry);

} // namespace dtask
