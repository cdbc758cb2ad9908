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

#include "dtask/voting_config.hpp"

namespace dtask {

// -- atoms --------------------------------------------------------------------

/// Public requests, accepted by the orchestrator (and forwarded by every
/// supervisor for actors that only know a node).
using start_atom = caf::atom_constant<caf::atom("start")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
/// Stops a running task: `(stop, name)` to the orchestrator, `(stop, key,
/// reason)` from the orchestrator to the task's registry.
using stop_atom = caf::atom_constant<caf::atom("stop")>;
/// A running task's latest progress: `(progress, epoch, message)` worker ->
/// registry; `(progress, vector<task_progress>)` registry -> orchestrator.
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
/// Lifecycle events: `(watch, subscriber, name)` subscribes an actor to the
/// orchestrator's events (of one task name, or of all with an empty name);
/// `(events, event_query)` reads the latest events it kept.
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using events_atom = caf::atom_constant<caf::atom("events")>;
/// Asks a supervisor for the current orchestrator.
using whereis_atom = caf::atom_constant<caf::atom("whereis")>;

/// Internal: supervisor <-> supervisor membership. `(join)` node main ->
/// its supervisor: join the cluster; `(join, member, last_epoch)` supervisor
/// -> peer: I join you.
using join_atom = caf::atom_constant<caf::atom("join")>;
/// Internal: a supervisor announces a new orchestrator.
using orch_atom = caf::atom_constant<caf::atom("orch")>;
/// `(members) -> vector<node_info>`: a supervisor's own view, for
/// `dtask members`.
using members_atom = caf::atom_constant<caf::atom("members")>;
/// Internal: supervisor -> its node's orchestrator and registry, the live
/// members.
using peers_atom = caf::atom_constant<caf::atom("peers")>;
/// Internal: orchestrator -> registry, run a task (a delegated request: the
/// registry answers the caller directly).
using spawn_atom = caf::atom_constant<caf::atom("spawn")>;
/// Internal: registry -> orchestrator, a spawn order it refused.
using refused_atom = caf::atom_constant<caf::atom("refused")>;
/// Internal: worker -> registry, the task's outcome.
using finished_atom = caf::atom_constant<caf::atom("finished")>;
/// Internal: registry -> orchestrator, a batch of started and ended tasks;
/// orchestrator -> registry, a batch of recorded outcomes (`ack_atom`).
using report_atom = caf::atom_constant<caf::atom("report")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
/// Internal: an actor's own "send what you batched" message.
using flush_atom = caf::atom_constant<caf::atom("flush")>;
/// Internal: `(sync, orchestrator_ref, order_key)` orchestrator ->
/// registry, adopt me and hand over your entries (see
/// `spawn_order::order_key`).
using sync_atom = caf::atom_constant<caf::atom("sync")>;
/// Internal: an orchestrator's own "sync this member again" (a sync that
/// failed a lease interval ago).
using resync_atom = caf::atom_constant<caf::atom("resync")>;
/// Internal: orchestrator -> its node's registry, the member lists that
/// orchestrators on other nodes mirrored there.
using mirrored_atom = caf::atom_constant<caf::atom("mirrored")>;
/// Internal: orchestrator -> registry, the worker of a name.
using worker_atom = caf::atom_constant<caf::atom("worker")>;
/// Internal: mirroring (see registry.cpp). `mirror_to` supervisor -> its
/// registry: where to mirror; `own_members` supervisor -> its registry: the
/// members of its orchestrator; `confirm` origin -> mirror: starts and
/// outcomes that take effect once the mirror holds them; `mirror`
/// origin -> mirror: an update of the mirrored entries; `unmirror` origin
/// -> mirror: entries to drop; `mmembers` origin -> mirror: the origin's
/// orchestrator's members; `ask_promise` mirror -> origin and `promise`
/// origin -> mirror: the promise to start nothing unmirrored; `remirror`
/// mirror -> origin: send everything again (the mirror refused updates
/// from the origin before it knew the origin as a member).
using mirror_to_atom = caf::atom_constant<caf::atom("mirror_to")>;
using own_members_atom = caf::atom_constant<caf::atom("ownmembers")>;
using confirm_atom = caf::atom_constant<caf::atom("confirm")>;
using mirror_atom = caf::atom_constant<caf::atom("mirror")>;
using unmirror_atom = caf::atom_constant<caf::atom("unmirror")>;
using mirror_members_atom = caf::atom_constant<caf::atom("mmembers")>;
using ask_promise_atom = caf::atom_constant<caf::atom("askpromise")>;
using promise_atom = caf::atom_constant<caf::atom("promise")>;
using remirror_atom = caf::atom_constant<caf::atom("remirror")>;
/// Internal: verdicts. `(notelost, lost_verdicts) -> bool` orchestrator ->
/// each voter's registry: keep these `lost` verdicts (answers whether it
/// did); `(lostnotes, orch_epoch) -> lost_verdicts` a new orchestrator
/// reads back what a voter keeps. See (h) in orchestrator.cpp.
using note_lost_atom = caf::atom_constant<caf::atom("notelost")>;
using lost_notes_atom = caf::atom_constant<caf::atom("lostnotes")>;
/// Internal: outcomes. `(keepends, lost_verdicts) -> bool` orchestrator ->
/// each voter's registry: keep these outcomes (`done`, `failed`,
/// `cancelled`) before they are told; `(readends, orch_epoch, keys) ->
/// lost_verdicts` an orchestrator reads the outcomes a voter keeps of tasks
/// it is about to declare `lost`. See (h) in orchestrator.cpp.
using keep_ends_atom = caf::atom_constant<caf::atom("keepends")>;
using read_ends_atom = caf::atom_constant<caf::atom("readends")>;
/// Internal: a voter whose process is new catches up. `(voterdump, node)
/// -> voter_dump` voter `node`'s registry -> another voter's registry: the
/// outcomes and verdicts it keeps; `(voterfresh, orch_epoch)` the first
/// round's orchestrator -> a registry it synced at its start: nothing was
/// kept before, what it keeps is complete. See lost_note_store.hpp.
using voter_dump_atom = caf::atom_constant<caf::atom("voterdump")>;
using voter_fresh_atom = caf::atom_constant<caf::atom("voterfresh")>;
/// Internal: leases. `(lease, orch_epoch, sent)` registry -> orchestrator
/// asks to keep running its workers; the orchestrator grants with
/// `(grant, lease_grant)`. `(quorum, orch_epoch, sent)` orchestrator ->
/// registry asks "do you still follow me?"; the registry answers `(follow,
/// orch_epoch, sent)`. See the timing argument in orchestrator.cpp.
using lease_atom = caf::atom_constant<caf::atom("lease")>;
using grant_atom = caf::atom_constant<caf::atom("grant")>;
using quorum_atom = caf::atom_constant<caf::atom("quorum")>;
using follow_atom = caf::atom_constant<caf::atom("follow")>;
/// Internal: graceful leave. `(leave)` node main -> its supervisor (on
/// SIGTERM) and supervisor -> its registry; `(leaving, node)` supervisor ->
/// peers: stop placing tasks on `node` and do not elect it.
using leave_atom = caf::atom_constant<caf::atom("leave")>;
using leaving_atom = caf::atom_constant<caf::atom("leaving")>;
/// `(members, add_voter|remove_voter, node) -> voting_config`: changes
/// the voting membership by one voter (orchestrator.cpp (i)); `(voting)
/// -> voting_config`: a node's configuration; `(config, voting_config) ->
/// bool`: internal, an orchestrator's proposal to a supervisor, and
/// `(config)` its node telling it that it changed.
using add_voter_atom = caf::atom_constant<caf::atom("addvoter")>;
using remove_voter_atom = caf::atom_constant<caf::atom("rmvoter")>;
using voting_atom = caf::atom_constant<caf::atom("voting")>;
/// Internal: supervisor -> supervisor, `(newconfig, node, voting_config)`:
/// the sender's configuration is newer than the one the receiver told it.
using newer_config_atom = caf::atom_constant<caf::atom("newconfig")>;
using config_atom = caf::atom_constant<caf::atom("config")>;
/// Internal: periodic self-messages.
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Internal: the supervisor's own "is the orchestrator still there?".
using watchdog_atom = caf::atom_constant<caf::atom("watchdog")>;

// -- task state ---------------------------------------------------------------

/// Where a task is in its life. `running` includes the short time between
/// the orchestrator's decision and the worker's confirmation.
/// `cancelled`: stopped on request (`stop_atom`); its reason says who asked.
enum class task_state : uint8_t { running, done, failed, lost, cancelled };

/// Lower-case name as printed by the CLI ("running", "done", ...).
inline const char* to_string(task_state x) {
  switch (x) {
    case task_state::running: return "running";
    case task_state::done: return "done";
    case task_state::failed: return "failed";
    case task_state::lost: return "lost";
    case task_state::cancelled: return "cancelled";
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
  /// The latest progress a running task reported
  /// (`task_context::progress`); empty otherwise.
  caf::message progress;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_status& x) {
  return f(caf::meta::type_name("dtask.task_status"), x.name, x.state, x.node,
           x.result, x.reason, x.epoch, x.stale, x.token, x.attempt,
           x.progress);
}

/// Registry -> orchestrator: the latest progress of one running incarnation.
struct task_progress {
  std::string name;
  uint64_t epoch = 0;
  caf::message progress;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_progress& x) {
  return f(caf::meta::type_name("dtask.task_progress"), x.name, x.epoch,
           x.progress);
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
  /// Set by the client library on a second or later attempt of one start
  /// (same token): an orchestrator that does not know the start reads what
  /// the voters keep of the name first, so that a start whose task ran and
  /// was told its end under an earlier orchestrator is answered as that,
  /// never run again.
  bool retry = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, start_options& x) {
  return f(caf::meta::type_name("dtask.start_options"), x.name, x.callback,
           x.token, x.restart, x.want_worker, x.retry);
}

/// A page of `list`: tasks whose names sort after `after` (all from the
/// first if empty), at most `limit` of them (0: as many as the cluster's
/// `max-list` allows, which also caps any larger limit).
struct list_query {
  std::string after;
  uint32_t limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_query& x) {
  return f(caf::meta::type_name("dtask.list_query"), x.after, x.limit);
}

/// The answer to a `list_query`: tasks sorted by name, and `next`, the last
/// of their names if more tasks follow (ask again with `after = next`),
/// else empty.
struct list_page {
  std::vector<task_status> tasks;
  std::string next;
  /// Not empty: the list may lack tasks of these nodes, which the previous
  /// orchestrator may have placed tasks on and which have not reported to
  /// this one (see `errc::unknown`).
  std::vector<std::string> unaccounted;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, list_page& x) {
  return f(caf::meta::type_name("dtask.list_page"), x.tasks, x.next,
           x.unaccounted);
}

/// What happened to a task, as the orchestrator saw it: a start confirmed
/// (`started`), a progress report, an outcome recorded (`done`, `failed`,
/// `lost`, `cancelled`), a start again after its node was lost
/// (`restarted`).
enum class event_kind : uint8_t {
  started,
  progress,
  done,
  failed,
  lost,
  cancelled,
  restarted,
};

/// Lower-case name as printed by `dtask watch` ("started", ...).
inline const char* to_string(event_kind x) {
  switch (x) {
    case event_kind::started: return "started";
    case event_kind::progress: return "progress";
    case event_kind::done: return "done";
    case event_kind::failed: return "failed";
    case event_kind::lost: return "lost";
    case event_kind::cancelled: return "cancelled";
    case event_kind::restarted: return "restarted";
  }
  return "unknown";
}

/// One lifecycle event. Sent to each subscriber as it happens, and the
/// latest are kept by the orchestrator that recorded them (progress reports
/// are sent only, not kept).
struct task_event {
  /// Grows by one per event of one orchestrator; a new orchestrator starts
  /// again from 1.
  uint64_t seq = 0;
  event_kind kind = event_kind::started;
  /// Wall-clock time of the orchestrator's node, milliseconds since the
  /// Unix epoch.
  int64_t time_ms = 0;
  /// The task as it was then (its result, reason or progress included).
  task_status status;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, task_event& x) {
  return f(caf::meta::type_name("dtask.task_event"), x.seq, x.kind, x.time_ms,
           x.status);
}

/// The latest kept events whose `seq` is above `after`: at most `limit`
/// (0: all kept), oldest first.
struct event_query {
  uint64_t after = 0;
  uint32_t limit = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_query& x) {
  return f(caf::meta::type_name("dtask.event_query"), x.after, x.limit);
}

/// The typed interface of the orchestrator: what any CAF actor, local or
/// remote, sends to run and observe tasks.
///
/// - `(start, type, args, options) -> task_ref`, or an error:
///   `already_running` (context: name, node, worker), `unknown_task_type`,
///   `invalid_name`, `args_too_large`, `node_down`, `no_orchestrator`,
///   `capacity` (context: node, limit).
/// - `(status, name) -> task_status`, or `not_found`, or `unknown` (context:
///   name, nodes) while nodes the previous orchestrator may have placed
///   tasks on have not reported to this one.
/// - `(list, list_query) -> list_page`: running and remembered tasks, a
///   page at a time, sorted by name.
/// - `(list) -> vector<task_status>`: all of them, sorted by name, or
///   `too_many` (context: count, limit) if they are more than `max-list`
///   (then page).
/// - `(nodes) -> vector<node_info>`: the live members.
/// - `(stop, name) -> task_status`: stops the running task (its state
///   becomes `cancelled`, its callback is sent) and answers once the
///   outcome is recorded and the name free; a task that ended already is
///   answered with its status; `not_found`, `unknown`, `no_quorum`, or
///   `node_down` while its start is not confirmed yet (retry).
/// - `(watch, subscriber, name) -> uint64_t`: sends `subscriber` every
///   `task_event` of the task `name` (all tasks if empty) from now on, until
///   it ends; answers the `seq` of the latest event so far. At most 64
///   subscribers (`too_many`); another `watch` of the same subscriber
///   replaces its name. Events of a new orchestrator need a new `watch`.
/// - `(events, event_query) -> vector<task_event>`: the latest kept events.
using orchestrator_api = caf::typed_actor<
  caf::replies_to<start_atom, std::string, caf::message,
                  start_options>::with<task_ref>,
  caf::replies_to<status_atom, std::string>::with<task_status>,
  caf::replies_to<stop_atom, std::string>::with<task_status>,
  caf::replies_to<list_atom, list_query>::with<list_page>,
  caf::replies_to<list_atom>::with<std::vector<task_status>>,
  caf::replies_to<nodes_atom>::with<std::vector<node_info>>,
  caf::replies_to<watch_atom, caf::actor, std::string>::with<uint64_t>,
  caf::replies_to<events_atom, event_query>::with<std::vector<task_event>>,
  caf::replies_to<members_atom, add_voter_atom, std::string>::with<
    voting_config>,
  caf::replies_to<members_atom, remove_voter_atom, std::string>::with<
    voting_config>>;

// -- internal interfaces --------------------------------------------------------

// Every actor of a node has a typed interface: a send of a shape the
// receiver does not declare fails to compile. (For example, sending the
// registry `(grant, epoch, sent_ns, gen)` instead of `(grant, lease_grant)`
// gives "static_assert failed: typed actor does not support given input".)
// One atom means one thing; a message of more than two fields is a struct.

struct member;
struct orchestrator_ref;
struct cluster_view;
struct spawn_order;
struct registry_entry;
struct mirrored_members;
struct task_key;
struct lease_grant;
struct refused_order;
struct mirror_confirmation;
struct mirror_update;
struct mirror_target;
struct lost_verdicts;
struct voter_dump;

/// What a worker may send: its task's outcome, to its registry. (A worker's
/// own interface is its task's: tasks are CAF behaviours the user writes.)
using worker_report_api = caf::typed_actor<
  caf::reacts_to<finished_atom, uint64_t, task_status>,
  caf::reacts_to<progress_atom, uint64_t, caf::message>>;

/// The registry of a node (actors/registry.cpp).
using registry_api = worker_report_api::extend<
  // From the orchestrator.
  caf::replies_to<spawn_atom, spawn_order>::with<task_ref>,
  caf::reacts_to<ack_atom, uint64_t, std::vector<task_key>>,
  caf::replies_to<worker_atom, std::string>::with<caf::actor>,
  caf::replies_to<stop_atom, task_key, std::string>::with<bool>,
  caf::reacts_to<grant_atom, lease_grant>,
  caf::reacts_to<quorum_atom, uint64_t, int64_t>,
  caf::replies_to<sync_atom, orchestrator_ref, uint64_t>::with<
    std::vector<registry_entry>>,
  caf::replies_to<mirrored_atom>::with<std::vector<mirrored_members>>,
  caf::replies_to<note_lost_atom, lost_verdicts>::with<bool>,
  caf::replies_to<lost_notes_atom, uint64_t>::with<lost_verdicts>,
  caf::replies_to<keep_ends_atom, lost_verdicts>::with<bool>,
  caf::replies_to<read_ends_atom, uint64_t, std::vector<task_key>>::with<
    lost_verdicts>,
  caf::reacts_to<voter_fresh_atom, uint64_t>,
  // From its supervisor.
  caf::reacts_to<peers_atom, std::vector<member>>,
  caf::replies_to<leave_atom>::with<bool>,
  caf::reacts_to<own_members_atom, std::vector<std::string>>,
  caf::reacts_to<mirror_to_atom, mirror_target>,
  // From the registries it mirrors to or for.
  caf::reacts_to<ask_promise_atom, int64_t>, caf::reacts_to<remirror_atom>,
  caf::reacts_to<promise_atom, std::string, int64_t>,
  caf::replies_to<mirror_members_atom, std::string,
                  std::vector<std::string>>::with<bool>,
  caf::replies_to<confirm_atom, mirror_confirmation>::with<bool>,
  caf::reacts_to<mirror_atom, mirror_update>,
  caf::reacts_to<unmirror_atom, std::string, std::vector<task_key>>,
  // From the other voters' registries.
  caf::replies_to<voter_dump_atom, std::string>::with<voter_dump>,
  // From itself.
  caf::reacts_to<flush_atom>, caf::reacts_to<tick_atom>>;

/// The orchestrator as the actors of the cluster see it: the public
/// interface plus what supervisors and registries send it.
using orchestrator_internal_api = orchestrator_api::extend<
  // From registries.
  caf::reacts_to<refused_atom, refused_order>,
  caf::reacts_to<report_atom, std::vector<registry_entry>>,
  caf::reacts_to<progress_atom, std::vector<task_progress>>,
  caf::reacts_to<lease_atom, uint64_t, int64_t>,
  caf::reacts_to<follow_atom, uint64_t, int64_t>,
  // From its supervisor.
  caf::reacts_to<peers_atom, std::vector<member>>,
  // From itself.
  caf::reacts_to<resync_atom, member>, caf::reacts_to<flush_atom>,
  caf::reacts_to<tick_atom>>;

/// What a client may send any node's supervisor (the actor each node
/// publishes): where the orchestrator is, the node's own view of the
/// members, and the orchestrator's requests, forwarded. A plain CAF program
/// connects with `remote_actor<dtask::gateway_api>(host, port)`.
using gateway_api = orchestrator_api::extend<
  caf::replies_to<whereis_atom>::with<orchestrator_ref>,
  caf::replies_to<members_atom>::with<std::vector<node_info>>,
  caf::replies_to<voting_atom>::with<voting_config>>;

/// The supervisor of a node (actors/supervisor.cpp).
using supervisor_api = gateway_api::extend<
  // From peers.
  caf::replies_to<join_atom, member, uint64_t>::with<cluster_view>,
  caf::reacts_to<newer_config_atom, std::string, voting_config>,
  caf::reacts_to<leaving_atom, std::string>,
  caf::reacts_to<orch_atom, orchestrator_ref>,
  // From the orchestrator it follows, and from its own node.
  caf::replies_to<config_atom, voting_config>::with<bool>,
  caf::reacts_to<config_atom>,
  // From the node's main.
  caf::reacts_to<join_atom>, caf::replies_to<leave_atom>::with<bool>,
  // From itself.
  caf::reacts_to<tick_atom>, caf::reacts_to<watchdog_atom>>;

// -- internal message types ---------------------------------------------------

/// A cluster member as its peers know it.
struct member {
  std::string node;
  supervisor_api supervisor;
  registry_api registry;
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
  orchestrator_internal_api handle;
  std::string node;
  uint64_t epoch = 0;
  /// The voting configuration it started with (and holds its quorum of).
  voting_config config;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, orchestrator_ref& x) {
  return f(caf::meta::type_name("dtask.orchestrator_ref"), x.handle, x.node,
           x.epoch, x.config);
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
  /// The voting configuration of the node that answers.
  voting_config config;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("dtask.cluster_view"), x.members,
           x.orchestrator, x.last_epoch, x.config);
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
  /// The orchestrator's key, given to each registry with its sync: a
  /// registry runs only orders that carry the key of the orchestrator it
  /// follows (an order is delegated, so its sender is the client: the key
  /// shows that the orchestrator sent it).
  uint64_t order_key = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, spawn_order& x) {
  return f(caf::meta::type_name("dtask.spawn_order"), x.name, x.type, x.args,
           x.callback, x.token, x.epoch, x.orch_epoch, x.restart, x.attempt,
           x.node_gen, x.want_worker, x.order_key);
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

/// Orchestrator -> registry: a lease, valid from the request's send time.
struct lease_grant {
  uint64_t orch_epoch = 0;
  /// When the registry sent its request (its node's clock, ns).
  int64_t sent_ns = 0;
  /// The node's count of fences (see `spawn_order::node_gen`).
  uint64_t node_gen = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lease_grant& x) {
  return f(caf::meta::type_name("dtask.lease_grant"), x.orch_epoch, x.sent_ns,
           x.node_gen);
}

/// Registry -> orchestrator: a spawn order it refused, and why.
struct refused_order {
  std::string name;
  uint64_t epoch = 0;
  caf::error reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, refused_order& x) {
  return f(caf::meta::type_name("dtask.refused_order"), x.name, x.epoch,
           x.reason);
}

/// A `lost` verdict an orchestrator reached on a task of a node it fenced
/// (the task's status, as its callback gets it, and the callback).
/// `restarted`: the incarnation was started again elsewhere instead (its
/// own outcome is no news; its start is told by its last attempt).
struct lost_note {
  task_status status;
  caf::actor callback;
  bool restarted = false;
  /// The epoch of the orchestrator that reached the verdict, or recorded
  /// the outcome (a takeover that carries a verdict over keeps it): of two
  /// conflicting notes of one incarnation, the newer orchestrator's holds
  /// (see (h) in orchestrator.cpp).
  uint64_t by = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lost_note& x) {
  return f(caf::meta::type_name("dtask.lost_note"), x.status, x.callback,
           x.restarted, x.by);
}

/// Orchestrator <-> voters' registries: `lost` verdicts of the orchestrator
/// of epoch `orch_epoch`. `complete`: they are all the verdicts it holds (a
/// new orchestrator's first round); in a voter's answer to a read, that the
/// voter holds everything it kept (its process may be new and not caught
/// up yet: lost_note_store.hpp).
struct lost_verdicts {
  uint64_t orch_epoch = 0;
  std::vector<lost_note> notes;
  bool complete = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lost_verdicts& x) {
  return f(caf::meta::type_name("dtask.lost_verdicts"), x.orch_epoch, x.notes,
           x.complete);
}

/// Voter -> voter whose process is new: the outcomes and the verdicts it
/// keeps (`complete` in each: whether it caught up itself).
struct voter_dump {
  lost_verdicts ends;
  lost_verdicts verdicts;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, voter_dump& x) {
  return f(caf::meta::type_name("dtask.voter_dump"), x.ends, x.verdicts);
}

/// Origin -> mirror: entries that take effect only once the mirror holds
/// them (starts before their spawn, outcomes before their report).
struct mirror_confirmation {
  std::string origin;
  /// The epoch of the orchestrator the origin follows.
  uint64_t origin_epoch = 0;
  std::vector<registry_entry> entries;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mirror_confirmation& x) {
  return f(caf::meta::type_name("dtask.mirror_confirmation"), x.origin,
           x.origin_epoch, x.entries);
}

/// Origin -> mirror: changed entries, or (`replace_all`) all of them; an
/// empty replacement means "I mirror elsewhere now".
struct mirror_update {
  std::string origin;
  std::vector<registry_entry> entries;
  bool replace_all = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mirror_update& x) {
  return f(caf::meta::type_name("dtask.mirror_update"), x.origin, x.entries,
           x.replace_all);
}

/// Supervisor -> its registry: mirror to `registry` from now on (none:
/// stop mirroring).
struct mirror_target {
  registry_api registry;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mirror_target& x) {
  return f(caf::meta::type_name("dtask.mirror_target"), x.registry);
}

/// Registers every message type above with a config. Every process that
/// talks to a dtask cluster must call it (CAF drops unknown types silently).
void add_message_types(caf::actor_system_config& cfg);

} // namespace dtask
