#pragma once

// The wire protocol of dtask: every message that crosses an actor boundary,
// and the typed interface that users talk to. A reader learns the whole
// system from this file; `docs/` and the README draw the same picture.
//
//   client ──start/status/list/nodes──▶ orchestrator (one per cluster)
//                                          │ spawn_order
//                                          ▼
//   supervisor (every node) ◀─join─▶   registry (every node) ──spawns──▶ worker
//     elects the orchestrator,            owns the workers of its node and
//     answers `whereis`                   reports their outcomes upwards
//
// Each node publishes its supervisor on `host:port`. A client asks any
// supervisor `whereis` and then talks to the orchestrator directly.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

namespace dtask {

// -- atoms --------------------------------------------------------------------

/// Public requests, accepted by the orchestrator (and forwarded by every
/// supervisor for actors that only know a node).
using start_atom = caf::atom_constant<caf::atom("start")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
/// Asks a supervisor for the current orchestrator.
using whereis_atom = caf::atom_constant<caf::atom("whereis")>;

/// Internal: supervisor <-> supervisor membership.
using join_atom = caf::atom_constant<caf::atom("join")>;
/// Internal: a supervisor announces a new orchestrator.
using orch_atom = caf::atom_constant<caf::atom("orch")>;
/// Internal: supervisor -> its local orchestrator, the live members. Also
/// `(members) -> vector<node_info>`: a supervisor's own view, for `dtask members`.
using members_atom = caf::atom_constant<caf::atom("members")>;
/// Internal: orchestrator -> registry, run a task (a delegated request: the
/// registry answers the caller directly); registry -> orchestrator, a spawn
/// order it refused.
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
using spawned_atom = caf::atom_constant<caf::atom("spawned")>;
/// Internal: worker -> registry, the task's outcome.
using finished_atom = caf::atom_constant<caf::atom("finished")>;
/// Internal: registry -> orchestrator, a batch of started and ended tasks;
/// orchestrator -> registry, a batch of recorded outcomes (`ack_atom`).
using report_atom = caf::atom_constant<caf::atom("report")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
/// Internal: an actor's own "send what you batched" message.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Internal: orchestrator -> registry, adopt me and hand over your entries.
using sync_atom = caf::atom_constant<caf::atom("sync")>;
/// Internal: supervisor -> registry, where to mirror entries; registry ->
/// registry, the mirrored entries of the orchestrator's node.
using mirror_atom = caf::atom_constant<caf::atom("mirror")>;
/// Internal: leases. `(lease, orch_epoch, sent)` registry -> orchestrator
/// asks to keep running its workers; the orchestrator grants with
/// `(lease, sent)`. `(quorum, orch_epoch, sent)` orchestrator -> registry
/// asks "do you still follow me?"; the registry answers the same message.
/// See the timing argument in orchestrator.cpp.
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using quorum_atom = caf::atom_constant<caf::atom("quorum")>;
/// Internal: graceful leave. `(leave)` node main -> its supervisor (on
/// SIGTERM) and supervisor -> its registry; `(leave, node)` supervisor ->
/// peers: stop placing tasks on `node` and do not elect it.
using leave_atom = caf::atom_constant<caf::atom("leave")>;
/// Internal: periodic self-messages.
using tick_atom = caf::atom_constant<caf::atom("tick")>;

// -- task state ---------------------------------------------------------------

/// Where a task is in its life. `running` includes the short time between
/// the orchestrator's decision and the worker's confirmation.
enum class task_state : uint8_t { running, done, failed, lost };

/// Lower-case name as printed by the CLI ("running", "done", ...).
inline const char* to_string(task_state x) {
  switch (x) {
    case task_state::running: return "running";
    case task_state::done: return "done";
    case task_state::failed: return "failed";
    case task_state::lost: return "lost";
  }
  return "unknown";
}

// -- public message types -----------------------------------------------------

/// The reply to a successful start: where the task runs. `worker` is set
/// only if the start asked for it (`start_options::want_worker`).
///
/// Callbacks: the cluster sends a task's callback at least once; in rare
/// failover windows (an orchestrator cut off right after sending it) a
/// second copy can follow. The client library (`spawn_client`, `client`)
/// forwards exactly one per start: it routes callbacks through itself and
/// drops copies by the start's token.
struct task_ref {
  std::string name;
  /// `host:port` of the node that runs the worker.
  std::string node;
  caf::actor worker;
  /// The incarnation: unique per start of a name, only grows. A task with
  /// side effects outside the cluster can use it as a fencing token.
  uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_ref& x) {
  return f(caf::meta::type_name("dtask.task_ref"), x.name, x.node, x.worker,
           x.epoch);
}

/// The answer to `status`, one row of `list`, and the one message a callback
/// receives when its task ends.
struct task_status {
  std::string name;
  task_state state = task_state::running;
  std::string node;
  /// Set when `state == done`.
  caf::message result;
  /// Set when `state == failed` (and a short explanation for `lost`).
  std::string reason;
  /// The task's incarnation: unique per start of a name, only grows.
  uint64_t epoch = 0;
  /// True if the answer comes from a side of the cluster without a majority:
  /// it may be out of date.
  bool stale = false;
  /// The start's token (see `start_options`): a client matches a callback to
  /// the start that asked for it.
  uint64_t token = 0;
  /// Which attempt this is (1 unless restarted, see `restart_policy`).
  uint32_t attempt = 1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_status& x) {
  return f(caf::meta::type_name("dtask.task_status"), x.name, x.state, x.node,
           x.result, x.reason, x.epoch, x.stale, x.token, x.attempt);
}

/// One row of `nodes`.
struct node_info {
  std::string node;
  std::string state;
  bool orchestrator = false;
  uint32_t running = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_info& x) {
  return f(caf::meta::type_name("dtask.node_info"), x.node, x.state,
           x.orchestrator, x.running);
}

/// What happens to a task whose node is lost (dies, or is cut off from the
/// majority for longer than its lease).
enum class restart_policy : uint8_t {
  /// The task is `lost` (the default, as in the original library).
  never,
  /// It starts again, from its arguments, on the node the ring picks then:
  /// at least once, up to `max_attempts` attempts in all. It starts again
  /// only once the lost node surely stopped it: never two at once.
  on_node_loss,
};

/// Attempts a restartable task gets in all (the first start included).
constexpr uint32_t max_attempts = 3;

/// What a caller may pass with a start. An empty `name` means "make me a
/// UUID"; an invalid `callback` means "no callback". `token` identifies the
/// caller's attempt: a retry of a start that got through carries the same
/// token and is answered as that start instead of `already_running`.
struct start_options {
  std::string name;
  caf::actor callback;
  uint64_t token = 0;
  restart_policy restart = restart_policy::never;
  /// Set `task_ref::worker` in the reply. Off by default: a handle shipped
  /// to another process costs CAF a proxy there and two bookkeeping
  /// messages per task (a fifth of the cluster's memory per running task,
  /// and about a tenth of start throughput, in `dtask-bench`). The name
  /// identifies the task; `already_running` always names the worker.
  bool want_worker = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, start_options& x) {
  return f(caf::meta::type_name("dtask.start_options"), x.name, x.callback,
           x.token, x.restart, x.want_worker);
}

/// The typed interface of the orchestrator: what any CAF actor, local or
/// remote, sends to run and observe tasks.
///
/// - `(start, type, args, options) -> task_ref`, or an error:
///   `already_running` (context: name, node, worker), `unknown_task_type`,
///   `invalid_name`, `args_too_large`, `node_down`, `no_orchestrator`.
/// - `(status, name) -> task_status`, or `not_found`.
/// - `(list) -> vector<task_status>`: running and remembered tasks.
/// - `(nodes) -> vector<node_info>`: the live members.
using orchestrator_api = caf::typed_actor<
  caf::replies_to<start_atom, std::string, caf::message,
                  start_options>::with<task_ref>,
  caf::replies_to<status_atom, std::string>::with<task_status>,
  caf::replies_to<list_atom>::with<std::vector<task_status>>,
  caf::replies_to<nodes_atom>::with<std::vector<node_info>>>;

// -- internal message types ---------------------------------------------------

/// A cluster member as its peers know it.
struct member {
  std::string node;
  caf::actor supervisor;
  caf::actor registry;
  /// The node is leaving (SIGTERM): it finishes its tasks, takes no new
  /// ones, and is not elected.
  bool leaving = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member& x) {
  return f(caf::meta::type_name("dtask.member"), x.node, x.supervisor,
           x.registry, x.leaving);
}

/// Which orchestrator a node follows. Epochs only grow: a higher epoch
/// replaces a lower one; on a tie, the smaller node name wins.
struct orchestrator_ref {
  caf::actor handle;
  std::string node;
  uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, orchestrator_ref& x) {
  return f(caf::meta::type_name("dtask.orchestrator_ref"), x.handle, x.node,
           x.epoch);
}

/// True if `x` should replace `y` as the orchestrator a node follows.
inline bool supersedes(const orchestrator_ref& x, const orchestrator_ref& y) {
  if (!x.handle)
    return false;
  if (!y.handle)
    return true;
  if (x.epoch != y.epoch)
    return x.epoch > y.epoch;
  return x.node < y.node;
}

/// A supervisor's answer to `join`: the members it knows, its orchestrator,
/// and the highest orchestrator epoch it has seen (an orchestrator below it
/// is outdated, even if the newer one is gone: see supervisor.cpp).
struct cluster_view {
  std::vector<member> members;
  orchestrator_ref orchestrator;
  uint64_t last_epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("dtask.cluster_view"), x.members,
           x.orchestrator, x.last_epoch);
}

/// Orchestrator -> registry: run one incarnation of a task. `epoch` is unique
/// per incarnation and only grows; `orch_epoch` fences old orchestrators.
struct spawn_order {
  std::string name;
  std::string type;
  caf::message args;
  caf::actor callback;
  uint64_t token = 0;
  uint64_t epoch = 0;
  uint64_t orch_epoch = 0;
  restart_policy restart = restart_policy::never;
  uint32_t attempt = 1;
  /// How often the orchestrator declared the target node's tasks lost
  /// before this order: a registry refuses an order older than its latest
  /// lease grant's count (the order was given up on).
  uint64_t node_gen = 0;
  /// The caller asked for the worker's handle in the reply.
  bool want_worker = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spawn_order& x) {
  return f(caf::meta::type_name("dtask.spawn_order"), x.name, x.type, x.args,
           x.callback, x.token, x.epoch, x.orch_epoch, x.restart, x.attempt,
           x.node_gen, x.want_worker);
}

/// Registry -> orchestrator: one task the registry owns, for `report` and
/// `sync`. `status.state` is `running` until the worker ends.
struct registry_entry {
  spawn_order order;
  caf::actor worker;
  task_status status;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, registry_entry& x) {
  return f(caf::meta::type_name("dtask.registry_entry"), x.order, x.worker,
           x.status);
}

/// The member list of an orchestrator, as mirrored from its node: a new
/// orchestrator learns from it which nodes the previous one may have granted
/// leases to.
struct mirrored_members {
  std::string origin;
  std::vector<std::string> members;
  /// Until when (monotonic ns of the process that holds the mirror) the
  /// origin surely starts nothing that is not mirrored there; 0 if it gave
  /// no such promise (then the mirror may be stale: the origin may mirror
  /// elsewhere now). See "mirror promises" in registry.cpp.
  int64_t promised_until = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mirrored_members& x) {
  return f(caf::meta::type_name("dtask.mirrored_members"), x.origin,
           x.members, x.promised_until);
}

/// One incarnation of a task, for batched acknowledgements.
struct task_key {
  std::string name;
  uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_key& x) {
  return f(caf::meta::type_name("dtask.task_key"), x.name, x.epoch);
}

/// Registers every message type above with a config. Every process that
/// talks to a dtask cluster must call it (CAF drops unknown types silently).
void add_message_types(caf::actor_system_config& cfg);

} // namespace dtask
