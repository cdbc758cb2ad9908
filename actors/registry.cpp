// The registry actor: this node's share of the global name registry.
//
// The orchestrator decides which name runs where; the registry of that node
// spawns the worker, answers the caller (the orchestrator delegates the
// start request here), watches the worker, and keeps its entry (name ->
// worker, epoch, callback) until the orchestrator acknowledged the outcome.
// The union of all registries is the cluster's truth about running tasks: a
// new orchestrator rebuilds its table from them (`sync`), and an outcome
// reported to an orchestrator that died is handed to the next one the same
// way.
//
// The registry on the orchestrator's node mirrors its entries to one other
// registry (the node that would be elected next): when the orchestrator's
// node dies, its registry dies with it, and the mirror is how the next
// orchestrator learns which tasks were lost there.
//
// Leases: the registry's workers may run only while it holds a lease from
// its orchestrator (renewed every 100 ms, valid 1.5 s from the request's
// send time). When the lease runs out (the node is cut off from the
// majority, or hung), the registry stops every worker and reports it lost,
// and discards whatever a worker sends afterwards. The workers check the
// lease themselves before each message (`lease_clock`): past it they run no
// task code, even before the registry's next tick stops them (after a hang,
// each actor resumes on its own). On the orchestrator's
// node, a start is mirrored *before* its worker is spawned, so the mirror
// knows every name that may run there (see orchestrator.cpp), and an
// outcome is mirrored before the orchestrator hears of it, so a mirror never
// holds as running a task whose outcome the orchestrator recorded (the next
// orchestrator would declare it lost after its callback said done).
//
// Mirror promises: a new orchestrator on the mirror's node trusts the mirror
// to know every name that may run on the origin only if the origin still
// mirrors there. An origin may switch mirrors (its view of the members
// changed) without the old mirror hearing of it, so every 100 ms a mirror
// asks its origins for a promise: "until my request's send time +
// `mirror_promise`, you start nothing, and report no outcome, that is not
// mirrored to me". An origin grants it only to its current mirror, and
// after switching it starts nothing and holds its outcomes back until every
// promise to another registry ran out (a node that no longer runs the
// orchestrator, too: it mirrors nothing then).
//
// Reports to the orchestrator and to the mirror are batched: the first one
// queued schedules a `flush` message to self, which the actor reaches after
// everything already in its mailbox, so under load one message carries many
// tasks and at rest a report leaves at once.

#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <tuple>
#include <unordered_map>

#include <caf/all.hpp>

#include "actors.hpp"
#include "lease_gate.hpp"
#include "lost_note_store.hpp"
#include "dtask/election.hpp"
#include "local_entry.hpp"
#include "metrics.hpp"
#include "mirror_origin.hpp"
#include "mirror_store.hpp"
#include "mutations.hpp"
#include "node_actor.hpp"
#include "parked_orders.hpp"
#include "task_book.hpp"
#include "wire_size.hpp"
#include "dtask/errors.hpp"
#include "dtask/names.hpp"
#include "dtask/task_table.hpp"

namespace dtask {

namespace {

/// How long a spawn order waits for a lease before it is refused.
constexpr auto lease_wait = std::chrono::seconds(1);

struct registry_state {
  node_context_ptr ctx;
  /// The orchestrators' `lost` verdicts this voter keeps ((h)).
  lost_note_store lost_notes;
  /// Voter -> when its outcomes were last asked for (while this voter's
  /// are not complete: `catch_up_ends`).
  std::map<std::string, clock_type::time_point> ends_asked;
  /// The voting configuration `lost_notes` last began a transfer for.
  uint64_t transfer_config = 0;
  /// The latest progress of running tasks, not yet sent to the
  /// orchestrator (by name; at most one per running task).
  std::unordered_map<std::string, task_progress> progress;
  /// Until when this node's workers may run (see the file comment).
  lease_gate lease;
  /// Counts lease ticks; every 10th re-sends unacknowledged outcomes.
  uint64_t ticks = 0;
  /// The lease was valid when last checked (its loss is counted once).
  bool lease_held = false;
  /// Set while the node leaves (SIGTERM): answered once every task ended
  /// and its outcome was acknowledged.
  caf::optional<caf::typed_response_promise<bool>> leave_promise;
  clock_type::time_point leave_deadline;
  bool leave_cut = false;
  /// Spawn orders that cannot run yet, and why (parked_orders.hpp).
  parked_orders<caf::typed_response_promise<task_ref>> parked;
  /// Set while draining: overrides the deadline of a new wait.
  caf::optional<clock_type::time_point> lease_wait_until;
  /// The orchestrator this registry follows, and the key its orders carry;
  /// set by `sync`.
  orchestrator_ref orchestrator;
  uint64_t order_key = 0;
  /// The orchestrators followed lately, newest last (at most
  /// `max_followed`): acknowledgements count from these only.
  std::deque<orchestrator_ref> followed;
  /// The live members, as this node's supervisor sees them: a sync counts
  /// only from an orchestrator on one of them.
  std::vector<member> members;
  /// This node's tasks, its workers, and names waiting for a killed worker
  /// (task_book.hpp).
  task_book book;
  /// Where this registry mirrors its entries; set by the local supervisor.
  registry_api mirror_to;
  /// What other registries mirrored here (mirror_store.hpp).
  mirror_store<registry_api> mirrors;
  /// The local orchestrator's members (set by the supervisor while this node
  /// runs it), mirrored with the entries.
  std::vector<std::string> own_members;
  /// Members that left the orchestrator's list, and when: still mirrored
  /// for L + M (they may hold a lease until then).
  std::map<std::string, clock_type::time_point> members_left;
  /// As an origin: the promises given to mirrors (mirror_origin.hpp).
  mirror_origin<> promised;
  /// Batched for the next flush.
  std::vector<registry_entry> reports;
  std::vector<registry_entry> mirror_updates;
  std::vector<task_key> mirror_removals;
  /// Starts that wait for the mirror before their caller hears of them.
  std::vector<registry_entry> mirror_confirms;
  /// Outcomes on the orchestrator's node that wait for the mirror before
  /// the orchestrator hears of them (see `queue_report`).
  std::vector<registry_entry> outcomes_to_mirror;
  std::vector<std::pair<caf::typed_response_promise<task_ref>, task_key>>
    mirror_waiters;
  bool flush_scheduled = false;

  static const char* name;
};

const char* registry_state::name = "dtask.registry";

using registry_ptr = typed_node_actor<registry_state, registry_api>*;

/// Now, on this node's clock.
clock_type::time_point node_time(registry_ptr self) {
  return self->state.ctx->now(self->clock());
}

void schedule_flush(registry_ptr self) {
  auto& st = self->state;
  if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

/// Queues `r` for the orchestrator. On the orchestrator's node an outcome
/// first goes to the mirror, and to the orchestrator only once the mirror
/// holds it: if this node is cut off after the orchestrator recorded the
/// outcome (and sent the callback), the next orchestrator must not find the
/// task running in the mirror and declare it lost (the simulation found a
/// `done` callback followed by a `lost` one that way).
void queue_report(registry_ptr self, registry_entry r) {
  auto& st = self->state;
  // Without the worker's handle: each handle shipped costs CAF a proxy at
  // the receiver and two bookkeeping messages (announce, and kill when the
  // worker ends). The orchestrator asks for a handle when a caller needs
  // one (`worker`).
  r.worker = nullptr;
  // Every outcome takes that path, also without a mirror: after the
  // supervisor dropped the mirror (every other member looked down), a
  // promise to the old mirror may still hold, and `confirm_outcomes` holds
  // the outcome back until it ran out (it passes it on at once otherwise).
  if (r.status.state != task_state::running)
    st.outcomes_to_mirror.push_back(std::move(r));
  else
    st.reports.push_back(std::move(r));
  schedule_flush(self);
}

/// Queues the current state of `entry` for the orchestrator and, unless
/// `to_mirror` is false (the caller mirrors it otherwise), for the mirror.
void report(registry_ptr self, const local_entry& entry,
            bool to_mirror = true) {
  auto& st = self->state;
  auto r = to_wire(entry, st.ctx->name);
  if (st.mirror_to && to_mirror && entry.running()) {
    st.mirror_updates.push_back(r);
    st.mirror_updates.back().worker = nullptr;
  }
  queue_report(self, std::move(r));
}

bool mirror_blocked(registry_ptr self);

/// Sends the outcomes waiting for the mirror; each goes on to the
/// orchestrator once the mirror confirmed it (else the periodic resend
/// tries again). Without a mirror (this node no longer runs the
/// orchestrator) they go on at once. While this registry promised another
/// mirror to start nothing unmirrored there, they wait as starts do: a new
/// orchestrator on that mirror's node may rely on its copy, and must not
/// find a task running there whose outcome another mirror confirmed (it
/// would declare it lost after the old orchestrator sent `done`).
void confirm_outcomes(registry_ptr self) {
  auto& st = self->state;
  if (st.outcomes_to_mirror.empty() || mirror_blocked(self))
    return;
  if (!st.mirror_to) {
    for (auto& r : st.outcomes_to_mirror)
      st.reports.push_back(std::move(r));
    st.outcomes_to_mirror.clear();
    return;
  }
  auto outcomes = std::make_shared<std::vector<registry_entry>>(
    std::move(st.outcomes_to_mirror));
  st.outcomes_to_mirror.clear();
  self
    ->request(st.mirror_to, std::chrono::seconds(2), confirm_atom::value,
              mirror_confirmation{st.ctx->name, st.orchestrator.epoch,
                                  *outcomes})
    .then(
      [self, outcomes](bool) {
        for (auto& r : *outcomes)
          self->state.reports.push_back(std::move(r));
        schedule_flush(self);
      },
      [](caf::error&) {});
}

/// Drops the report of a start when the same batch also reports its end:
/// the end says all the orchestrator needs.
std::vector<registry_entry> coalesce(std::vector<registry_entry> reports) {
  std::unordered_map<std::string, uint64_t> ended;
  for (auto& e : reports)
    if (e.status.state != task_state::running)
      ended.emplace(e.order.name, e.order.epoch);
  if (ended.empty())
    return reports;
  std::vector<registry_entry> result;
  result.reserve(reports.size());
  for (auto& e : reports) {
    auto i = ended.find(e.order.name);
    if (e.status.state == task_state::running && i != ended.end()
        && i->second == e.order.epoch)
      continue;
    result.push_back(std::move(e));
  }
  return result;
}

void launch_waiting(registry_ptr self,
                    caf::typed_response_promise<task_ref>& rp,
                    const task_key& key, bool mirrored);

/// The progress reported since the last flush, to the orchestrator.
void send_progress(registry_ptr self) {
  auto& st = self->state;
  if (st.progress.empty())
    return;
  if (st.orchestrator.handle) {
    std::vector<task_progress> batch;
    batch.reserve(st.progress.size());
    for (auto& kvp : st.progress)
      batch.push_back(std::move(kvp.second));
    self->send(st.orchestrator.handle, progress_atom::value, std::move(batch));
  }
  st.progress.clear();
}

void flush(registry_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  confirm_outcomes(self);
  if (!st.reports.empty()) {
    if (st.orchestrator.handle)
      self->send(st.orchestrator.handle, report_atom::value,
                 coalesce(std::move(st.reports)));
    st.reports.clear();
  }
  send_progress(self);
  if (!st.mirror_waiters.empty()) {
    auto waiters = std::make_shared<decltype(st.mirror_waiters)>(
      std::move(st.mirror_waiters));
    st.mirror_waiters.clear();
    // The workers start once the mirror holds their entries. If the mirror
    // does not answer, they do not start: this node may be cut off, and the
    // next orchestrator would not know of them.
    auto release = [self, waiters](bool mirrored) {
      for (auto& w : *waiters)
        launch_waiting(self, w.first, w.second, mirrored);
    };
    if (st.mirror_to)
      self
        ->request(st.mirror_to, std::chrono::seconds(2), confirm_atom::value,
                  mirror_confirmation{st.ctx->name, st.orchestrator.epoch,
                                      std::move(st.mirror_confirms)})
        .then([release](bool) { release(true); },
              [release](caf::error&) { release(false); });
    else
      release(true); // This node no longer runs the orchestrator.
    st.mirror_confirms.clear();
  }
  if (st.mirror_to && !st.mirror_updates.empty())
    self->send(st.mirror_to, mirror_atom::value,
               mirror_update{st.ctx->name, std::move(st.mirror_updates),
                             false});
  if (st.mirror_to && !st.mirror_removals.empty())
    self->send(st.mirror_to, unmirror_atom::value, st.ctx->name,
               std::move(st.mirror_removals));
  st.mirror_updates.clear();
  st.mirror_removals.clear();
}

/// Records an ended task; the entry stays until the orchestrator's ack.
void end(registry_ptr self, local_entry& entry) {
  entry.worker = nullptr;
  report(self, entry);
}

void kill_worker(registry_ptr self, const caf::actor& worker,
                 const std::string& name);

/// From the orchestrator: stop the running incarnation `key` (edge 8). The
/// worker's down message ends it `cancelled` and reports it as any outcome.
/// Answers false if it does not run here with a worker (it ended, or has
/// not launched yet).
caf::result<bool> stop_requested(registry_ptr self, const task_key& key,
                                 const std::string& reason) {
  auto& st = self->state;
  if (!st.orchestrator.handle
      || self->current_sender() != st.orchestrator.handle.address())
    return refuse_sender(self, "stop");
  auto worker = st.book.cancel(key, st.ctx->name, reason);
  if (!worker)
    return false;
  log_line{} << "dtask-node " << st.ctx->name << ": stopping task "
             << escaped(key.name) << ": " << escaped(reason, 200);
  kill_worker(self, worker, key.name);
  return true;
}

/// Kills `worker` of task `name`; the name does not start here again until
/// the worker's down message arrived (see `stopping`).
void kill_worker(registry_ptr self, const caf::actor& worker,
                 const std::string& name) {
  self->send_exit(worker, caf::exit_reason::kill);
  self->state.book.killing(name);
}

void check_lease(registry_ptr self);

void forget(registry_ptr self, const std::string& name, uint64_t epoch) {
  auto& st = self->state;
  auto key = task_key{name, epoch};
  auto entry = st.book.find(key);
  if (entry == nullptr) {
    st.book.forget(key); // A displaced outcome, if any.
    // Perhaps a mirrored entry of a dead node, now taken over.
    st.mirrors.forget(name, epoch);
    return;
  }
  if (entry->running()) {
    // The cluster declared this incarnation over (lost) while it ran on
    // here, e.g. through a hang of this node: it must not run on. (If the
    // lease ran out meanwhile, that stops every worker, this one too.)
    check_lease(self);
    if (entry->running()) {
      log_line{} << "dtask-node " << st.ctx->name << ": stopped task "
                 << name << ": the cluster declared it over";
      if (entry->worker)
        kill_worker(self, entry->worker, name);
    }
  }
  st.book.forget(key);
  if (st.mirror_to) {
    st.mirror_removals.push_back(std::move(key));
    schedule_flush(self);
  }
}

/// True while this registry promised a registry other than its mirror to
/// start nothing unmirrored there: it starts nothing then.
bool mirror_blocked(registry_ptr self) {
  auto& st = self->state;
  return st.promised.blocked(st.mirror_to ? st.mirror_to.address()
                                          : caf::actor_addr{},
                             node_time(self));
}

/// Remembers the registry that mirrors to this one as `origin`.
void note_origin(registry_ptr self, const std::string& origin) {
  self->state.mirrors.note_origin(
    origin, caf::actor_cast<registry_api>(self->current_sender()));
}

bool lease_valid(registry_ptr self) {
  return self->state.lease.valid(node_time(self));
}

/// Stops every running worker once the lease ran out: this node may be cut
/// off from the majority, which will declare these tasks lost once the
/// lease surely ended, and may run the names elsewhere.
void check_lease(registry_ptr self) {
  auto& st = self->state;
  if (lease_valid(self)) {
    st.lease_held = true;
    return;
  }
  if (st.lease_held)
    count_lease_lost(st.ctx->metrics.get());
  st.lease_held = false;
  // The workers ran no task code past the lease (they check it themselves),
  // and none runs any again, even under a lease renewed before its exit.
  st.lease.cut();
  auto ended = st.book.cut(st.lease.until(),
                           "the node " + st.ctx->name
                             + " was cut off from the cluster's majority");
  for (auto& e : ended) {
    if (e.second)
      kill_worker(self, e.second, e.first->order.name);
    end(self, *e.first);
  }
  auto stopped = ended.size();
  if (stopped > 0)
    log_line{} << "dtask-node " << st.ctx->name << ": lease ran out; stopped "
               << stopped << " tasks";
}

void log_event(registry_ptr self, const std::string& line) {
  auto& events = self->state.ctx->events;
  if (events->enabled())
    events->write(line);
}

/// The event log's stop line: the end time is when the instance surely
/// stopped running (its lease's end if the registry fenced it).
void log_stop(registry_ptr self, const worker_info& info, const char* state) {
  auto& st = self->state;
  if (!st.ctx->events->enabled())
    return;
  auto now = mono_ns(node_time(self));
  auto end_ns = info.fenced ? std::min(now, mono_ns(info.fenced_at)) : now;
  log_event(self, "stop " + std::to_string(now) + " " + std::to_string(end_ns)
                    + " " + std::to_string(info.key.epoch) + " "
                    + st.ctx->name + " " + state + " " + info.key.name);
}

/// Spawns the worker of `entry` (running, no worker yet) and returns where
/// it runs.
task_ref launch(registry_ptr self, local_entry& entry) {
  auto& st = self->state;
  auto factory = st.ctx->tasks.find(entry.order.type);
  auto worker = spawn_worker(self->system(), *factory, entry.order,
                             caf::actor_cast<worker_report_api>(self),
                             st.lease.published());
  self->monitor(worker);
  st.book.launched(entry, worker);
  if (st.ctx->events->enabled())
    log_event(self, "start " + std::to_string(mono_ns(node_time(self))) + " "
                      + std::to_string(entry.order.epoch) + " " + st.ctx->name
                      + " " + entry.order.name);
  // The worker holds its own copy of the arguments; nobody reads them
  // from the registry again (they would only cost memory and bytes on
  // every report, mirror update and sync), unless the task may have to
  // start again elsewhere.
  if (entry.order.restart == restart_policy::never)
    entry.order.args = caf::message{};
  if (!entry.order.want_worker)
    worker = nullptr; // See start_options::want_worker.
  return task_ref{entry.order.name, st.ctx->name, std::move(worker),
                  entry.order.epoch};
}

void launch_waiting(registry_ptr self,
                    caf::typed_response_promise<task_ref>& rp,
                    const task_key& key, bool mirrored) {
  auto& st = self->state;
  check_lease(self);
  if (!mirrored || mirror_blocked(self)) {
    auto err = make_error(errc::node_down, key.name, st.ctx->name);
    count_start_refused(st.ctx->metrics.get(), code_name(err));
    if (st.book.drop_ordered(key)) {
      if (st.orchestrator.handle)
        self->send(st.orchestrator.handle, refused_atom::value,
                   refused_order{key.name, key.epoch, err});
      if (st.mirror_to) { // A mirror may hold it (a full update): it never ran.
        st.mirror_removals.push_back(key);
        schedule_flush(self);
      }
    }
    rp.deliver(std::move(err));
    return;
  }
  auto entry = st.book.ordered(key);
  if (entry == nullptr) {
    rp.deliver(make_error(errc::no_quorum, "the node " + st.ctx->name
                                             + " lost its lease before the "
                                               "task could start"));
    return;
  }
  auto ref = launch(self, *entry);
  report(self, *entry, false);
  rp.deliver(std::move(ref));
}

/// At most `max-running` orders wait (each holds its arguments and its
/// caller); one more is refused with `capacity`.
bool parking_full(registry_ptr self) {
  return self->state.parked.size() >= self->state.ctx->config.max_running;
}

caf::error capacity_error(registry_ptr self) {
  return make_error(errc::capacity, self->state.ctx->name,
                    self->state.ctx->config.max_running);
}

/// True if `order` carries the key of the orchestrator this registry
/// follows. An order of a newer orchestrator, whose sync has not arrived
/// yet, waits for it like an order waits for a lease; any other order is
/// refused with `not_allowed` (nothing else happens: no `refused` goes to
/// the orchestrator, which did not send it).
bool order_from_orchestrator(
  registry_ptr self, spawn_order& order,
  caf::typed_response_promise<task_ref>& rp) {
  auto& st = self->state;
  if (st.orchestrator.handle && order.orch_epoch == st.orchestrator.epoch
      && order.order_key == st.order_key)
    return true;
  if (order.orch_epoch < st.orchestrator.epoch
      && mutated(mutation::stale_orders))
    return true; // The mutation takes a stale order as it comes.
  auto now = node_time(self);
  if (order.orch_epoch > st.orchestrator.epoch
      && now < st.lease_wait_until.value_or(now + lease_wait)) {
    if (parking_full(self))
      rp.deliver(capacity_error(self));
    else
      st.parked.park(std::move(order), std::move(rp), wait_reason::lease,
                     now + lease_wait);
    return false;
  }
  rp.deliver(refuse_sender(self, "spawn"));
  return false;
}

/// Runs a spawn order from the orchestrator (a delegated start: `rp`
/// answers the caller). Without a lease, the order waits for one for up to
/// `lease_wait` (a node that just joined or synced gets its first grant
/// within a round trip).
void spawn(registry_ptr self, spawn_order& order,
           caf::typed_response_promise<task_ref> rp) {
  auto& st = self->state;
  check_lease(self);
  auto refuse = [&](caf::error err) {
    count_start_refused(st.ctx->metrics.get(), code_name(err));
    if (st.orchestrator.handle)
      self->send(st.orchestrator.handle, refused_atom::value,
                 refused_order{order.name, order.epoch, err});
    rp.deliver(std::move(err));
  };
  auto park = [&](wait_reason why, clock_type::time_point deadline = {}) {
    if (parking_full(self))
      return refuse(capacity_error(self));
    st.parked.park(std::move(order), std::move(rp), why, deadline);
  };
  if (order.orch_epoch < st.orchestrator.epoch
      && !mutated(mutation::stale_orders))
    return refuse(make_error(errc::stale_orchestrator,
                             "spawn order from an outdated orchestrator"));
  if (!order_from_orchestrator(self, order, rp))
    return;
  if (st.leave_promise)
    return refuse(make_error(errc::node_down, order.name, st.ctx->name));
  if (order.orch_epoch == st.orchestrator.epoch && order.node_gen < st.lease.node_gen())
    return refuse(make_error(errc::node_down, order.name, st.ctx->name));
  if (!lease_valid(self)) {
    auto now = node_time(self);
    if (now < st.lease_wait_until.value_or(now + lease_wait))
      return park(wait_reason::lease, now + lease_wait);
    return refuse(make_error(errc::no_quorum,
                             "the node " + st.ctx->name
                               + " holds no lease from the orchestrator"));
  }
  if (st.ctx->tasks.find(order.type) == nullptr)
    return refuse(make_error(errc::unknown_task_type, order.type));
  if (mirror_blocked(self)) {
    // Promised to an old mirror: waits until the promise ran out (at most
    // `mirror_promise`; the tick tries again). The caller's retries find
    // the start pending at the orchestrator.
    return park(wait_reason::mirror_promise);
  }
  switch (st.book.check(order.name)) {
    case task_book::hold::stopping:
      // A killed worker of this name may still exist: wait for its end.
      return park(wait_reason::stopping_worker);
    case task_book::hold::running:
      return refuse(make_error(errc::already_running, order.name,
                               st.ctx->name,
                               st.book.running_worker(order.name)));
    case task_book::hold::none:
      break;
  }
  if (st.book.running() >= st.ctx->config.max_running)
    return refuse(capacity_error(self));
  auto& entry = st.book.admit(std::move(order));
  if (!st.mirror_to || mutated(mutation::spawn_before_mirror)) {
    rp.deliver(launch(self, entry));
    report(self, entry);
    return;
  }
  // On the orchestrator's node, the worker starts only once the mirror
  // holds its entry: if this node dies, or is cut off, the next
  // orchestrator knows every name that may run here. (Batched like the
  // reports: one mirror round trip per flush.)
  st.mirror_confirms.push_back(to_wire(entry, st.ctx->name));
  if (entry.order.restart == restart_policy::never)
    st.mirror_confirms.back().order.args = caf::message{};
  st.mirror_waiters.emplace_back(std::move(rp),
                                 task_key{entry.order.name, entry.order.epoch});
  schedule_flush(self);
}

/// Runs the orders that waited for a lease: all of them once one is held,
/// else those that waited long enough (refused).
void drain_lease_waiters(registry_ptr self) {
  auto& st = self->state;
  auto now = node_time(self);
  auto valid = lease_valid(self);
  auto ready = st.parked.take(wait_reason::lease, [&](const auto& p) {
    return valid || p.deadline <= now;
  });
  for (auto& p : ready) {
    st.lease_wait_until = now; // Refuse now rather than wait again.
    spawn(self, p.order, std::move(p.promise));
    st.lease_wait_until = caf::none;
  }
}

/// While leaving: once no task runs and every outcome was acknowledged,
/// answers the supervisor. At the deadline, stops the tasks still running
/// and reports them failed, cut short by the leave; if the outcomes cannot
/// be delivered (no orchestrator), gives up a few seconds later.
void check_leave(registry_ptr self) {
  auto& st = self->state;
  if (!st.leave_promise)
    return;
  auto now = node_time(self);
  auto running = st.book.running();
  if (running > 0 && now >= st.leave_deadline && !st.leave_cut) {
    st.leave_cut = true;
    auto why = "cut short: the node " + st.ctx->name + " left the cluster";
    for (auto& w : st.book.cut_short(st.ctx->name, why))
      self->send_exit(caf::actor_cast<caf::actor>(w),
                      caf::exit_reason::user_shutdown);
    log_line{} << "dtask-node " << st.ctx->name << ": leaving; cut short "
               << running << " tasks";
  }
  auto settled = running == 0 && st.book.empty();
  if (settled || now >= st.leave_deadline + std::chrono::seconds(5)) {
    st.leave_promise->deliver(settled);
    st.leave_promise = caf::none;
  }
}

// -- handlers: the task book ------------------------------------------------

/// A worker is gone: its task ended now (only then may the name run again:
/// at most one instance at any time), and orders that waited for it run.
void worker_down(registry_ptr self, caf::down_msg& dm) {
  auto& st = self->state;
  auto gone = st.book.worker_gone(dm.source, [&] {
    return dm.reason ? "the task's actor stopped: "
                         + self->system().render(dm.reason)
                     : std::string{"the task's actor stopped without a result"};
  });
  if (!gone)
    return;
  std::vector<decltype(st.parked)::parked> resume;
  if (gone->name_freed)
    resume = st.parked.take(wait_reason::stopping_worker, [&](const auto& p) {
      return p.order.name == gone->info.key.name;
    });
  if (gone->ended)
    end(self, *gone->entry);
  log_stop(self, gone->info,
           gone->entry != nullptr ? to_string(gone->entry->state) : "over");
  for (auto& p : resume)
    spawn(self, p.order, std::move(p.promise));
}

/// A failure reason longer than `limit` bytes is cut there (on a UTF-8
/// character boundary), saying so.
void bound_reason(std::string& reason, uint64_t limit) {
  if (reason.size() <= limit)
    return;
  auto size = reason.size();
  auto cut = static_cast<size_t>(limit);
  while (cut > 0 && (static_cast<unsigned char>(reason[cut]) & 0xC0) == 0x80)
    --cut;
  reason.resize(cut);
  reason += "... (cut from " + std::to_string(size) + " bytes)";
}

/// A result beyond `max-result-bytes` never leaves this node (neither the
/// wire nor the orchestrator's table carries it): the task fails instead,
/// saying why. A failure reason is cut to that size.
void bound_result(registry_ptr self, task_status& status) {
  auto limit = self->state.ctx->config.max_result_bytes;
  if (status.state == task_state::failed)
    bound_reason(status.reason, limit);
  if (status.state != task_state::done)
    return;
  auto size = wire_size(self->system(), status.result);
  if (size <= limit)
    return;
  status.state = task_state::failed;
  status.result = caf::message{};
  status.reason = "the result has " + std::to_string(size)
                  + " bytes, more than max-result-bytes="
                  + std::to_string(limit);
}

/// From a worker of a running task: its latest progress, sent with the
/// next flush or tick. A report larger than `max-result-bytes` is dropped.
void worker_progress(registry_ptr self, uint64_t epoch, caf::message& what) {
  auto& st = self->state;
  auto key = st.book.key_of(
    caf::actor_cast<caf::actor_addr>(self->current_sender()));
  if (key == nullptr || key->epoch != epoch || !lease_valid(self)
      || wire_size(self->system(), what) > st.ctx->config.max_result_bytes)
    return;
  // Sent with the next flush or tick: a task that reports in a tight loop
  // costs the orchestrator at most one batch per flush or lease interval.
  st.progress[key->name] = task_progress{key->name, epoch, std::move(what)};
}

/// From a worker: its outcome, recorded when the worker is gone (the down
/// message follows). A worker whose lease ran out is stopped already; what
/// it sends is discarded.
void worker_finished(registry_ptr self, uint64_t epoch, task_status& status) {
  auto& st = self->state;
  check_lease(self);
  status.node = st.ctx->name;
  bound_result(self, status);
  st.book.hold_result(caf::actor_cast<caf::actor_addr>(self->current_sender()),
                      epoch, status);
}

/// An orchestrator recorded these outcomes (it sent their callbacks) or
/// declared these tasks over. From an orchestrator that was replaced, only
/// the former counts: it held a majority when it recorded them, and the next
/// must not send their callbacks again.
void acknowledged(registry_ptr self, uint64_t orch_epoch,
                  const std::vector<task_key>& keys) {
  auto& st = self->state;
  auto stale = orch_epoch < st.orchestrator.epoch;
  for (auto& key : keys) {
    auto entry = st.book.find(key);
    if (stale && entry != nullptr && entry->running())
      continue;
    forget(self, key.name, key.epoch);
  }
  check_leave(self);
}

caf::result<bool> leave(registry_ptr self) {
  auto& st = self->state;
  auto rp = self->make_response_promise<bool>();
  st.leave_promise = rp;
  st.leave_deadline = node_time(self) + st.ctx->config.leave_timeout;
  check_leave(self);
  return rp;
}

/// The worker of a running task (for an orchestrator that rebuilt its table
/// without handles).
caf::actor worker_of(registry_ptr self, const std::string& name) {
  return self->state.book.running_worker(name);
}

// -- handlers: leases --------------------------------------------------------

/// Outcomes not acknowledged yet (a report to an orchestrator without a
/// majority is not processed) are sent again every second.
void resend_outcomes(registry_ptr self) {
  auto& st = self->state;
  if (++st.ticks % 10 != 0)
    return;
  st.book.for_each_outcome([&](const local_entry& e) {
    queue_report(self, to_wire(e, st.ctx->name));
  });
}

void catch_up_ends(registry_ptr self);

/// Every lease interval: the lease, parked orders, the leave, promise
/// requests to the origins mirroring here, and a lease request.
void tick(registry_ptr self) {
  auto& st = self->state;
  check_lease(self);
  set_running_tasks(st.ctx->metrics.get(), st.book.running());
  drain_lease_waiters(self);
  if (!st.outcomes_to_mirror.empty())
    schedule_flush(self);
  if (st.parked.count(wait_reason::mirror_promise) > 0
      && !mirror_blocked(self))
    for (auto& p : st.parked.take(wait_reason::mirror_promise,
                                  [](const auto&) { return true; }))
      spawn(self, p.order, std::move(p.promise));
  check_leave(self);
  send_progress(self);
  st.lost_notes.expire(node_time(self));
  catch_up_ends(self);
  auto now_ns = mono_ns(node_time(self));
  st.mirrors.for_each_origin([&](const registry_api& origin) {
    self->send(origin, ask_promise_atom::value, now_ns);
  });
  if (st.orchestrator.handle) {
    self->send(st.orchestrator.handle, lease_atom::value,
               st.orchestrator.epoch, now_ns);
    resend_outcomes(self);
  }
  self->delayed_send(self, lease_interval, tick_atom::value);
}

/// A grant from the orchestrator: valid from the moment of the request.
void lease_granted(registry_ptr self, const lease_grant& grant) {
  auto& st = self->state;
  if (grant.orch_epoch != st.orchestrator.epoch || !st.orchestrator.handle
      || self->current_sender() != st.orchestrator.handle.address())
    return;
  st.lease.grant(
    clock_type::time_point{std::chrono::nanoseconds{grant.sent_ns}},
    grant.node_gen);
  drain_lease_waiters(self);
}

/// "Do you still follow me?": answered only for the orchestrator this
/// registry follows, so an old orchestrator loses its majority once a
/// majority synced with a new one.
void quorum_ping(registry_ptr self, uint64_t orch_epoch, int64_t sent_ns) {
  auto& st = self->state;
  if (orch_epoch == st.orchestrator.epoch && st.orchestrator.handle
      && self->current_sender() == st.orchestrator.handle.address()
      && st.orchestrator.config == *st.ctx->voters())
    self->send(st.orchestrator.handle, follow_atom::value, orch_epoch,
               sent_ns);
}

// -- who may send what --------------------------------------------------------

/// At most this many orchestrators are remembered as followed.
constexpr size_t max_followed = 8;

void remember_followed(std::deque<orchestrator_ref>& followed,
                       const orchestrator_ref& orch) {
  if (!followed.empty() && followed.back().epoch == orch.epoch)
    return;
  followed.push_back(orch);
  if (followed.size() > max_followed)
    followed.pop_front();
}

/// True if the message at hand comes from the orchestrator of `orch_epoch`
/// that this registry followed (acknowledgements of a replaced one count:
/// it held a majority when it recorded them).
bool from_followed(registry_ptr self, uint64_t orch_epoch) {
  auto& sender = self->current_sender();
  if (sender == nullptr)
    return false;
  auto& followed = self->state.followed;
  return std::any_of(followed.begin(), followed.end(), [&](const auto& o) {
    return o.epoch == orch_epoch && o.handle.address() == sender->address();
  });
}

/// A sync comes from the orchestrator it names, with an epoch its node may
/// have (a voter's, see `valid_epoch`), and it runs on this node or
/// in the process of a member's supervisor (this node's supervisor tells
/// the registry its members): a peer cannot make a registry follow an
/// actor of its own. A member this node does not know yet syncs again a
/// lease interval later (see `sync_member` in orchestrator.cpp).
bool from_orchestrator_of_a_member(registry_ptr self,
                                   const orchestrator_ref& orch) {
  auto& sender = self->current_sender();
  if (sender == nullptr || !orch.handle
      || sender->address() != orch.handle.address()
      || !valid_epoch(orch.epoch, orch.config, &orch.node))
    return false;
  if (orch.node == self->state.ctx->name)
    return orch.handle.node() == self->node();
  auto& members = self->state.members;
  return std::any_of(members.begin(), members.end(), [&](const member& m) {
    return m.node == orch.node && m.supervisor
           && m.supervisor.node() == orch.handle.node();
  });
}

/// True if the message at hand comes from the registry of the member
/// `origin`, as this node's supervisor knows it. A promise not taken makes
/// a next orchestrator wait longer for `origin`, a confirmation refused
/// fails the start it was for.
bool from_registry_of(registry_ptr self, const std::string& origin) {
  auto& sender = self->current_sender();
  auto& members = self->state.members;
  return sender != nullptr
         && std::any_of(members.begin(), members.end(), [&](const member& m) {
              return m.node == origin && m.registry
                     && m.registry.address() == sender->address();
            });
}

/// True if the mirror update at hand comes from the registry that mirrors
/// as `origin`: the registry of the member `origin`, or the one that
/// mirrored as `origin` before (a member this node has since dropped as
/// dead goes on updating the mirror it began, which a next orchestrator
/// reads). An origin begins mirroring here only after it joined this node
/// (it picks a member of its own view, and a join adds the joiner on both
/// sides before the answer is sent), so its first update finds it a member.
bool from_mirror_origin(registry_ptr self, const std::string& origin) {
  auto sender = caf::actor_cast<registry_api>(self->current_sender());
  return from_registry_of(self, origin)
         || (sender && self->state.mirrors.noted(origin, sender));
}

// -- handlers: syncing with a new orchestrator --------------------------------

/// A new orchestrator adopts this registry: it hears everything this
/// registry knows, own entries first, then mirrored ones (it takes a
/// mirrored entry only if its origin node is no longer a member). The answer
/// supersedes queued reports, which went to the previous orchestrator.
caf::result<std::vector<registry_entry>> sync(registry_ptr self,
                                              orchestrator_ref& orch,
                                              uint64_t order_key) {
  auto& st = self->state;
  if (orch.epoch < st.orchestrator.epoch
      || (orch.epoch == st.orchestrator.epoch
          && orch.handle != st.orchestrator.handle)
      || !st.ctx->voting->adopt(orch.config))
    return make_error(errc::stale_orchestrator,
                      "sync from an outdated orchestrator");
  st.ctx->voting->note_followed(orch.epoch);
  if (orch.epoch != st.orchestrator.epoch)
    st.lease.follow_new_orchestrator();
  st.orchestrator = std::move(orch);
  st.order_key = order_key;
  remember_followed(st.followed, st.orchestrator);
  // Ask for a lease at once: spawn orders may follow right away.
  self->send(st.orchestrator.handle, lease_atom::value, st.orchestrator.epoch,
             mono_ns(node_time(self)));
  st.reports.clear();
  // Without worker handles: each one costs CAF a proxy and bookkeeping
  // messages, which made rebuilding 10,000 tasks slow; the orchestrator asks
  // for a handle when it needs one (`whereis`).
  std::vector<registry_entry> result;
  result.reserve(st.book.entry_count());
  st.book.for_each([&](const local_entry& e) {
    result.push_back(to_wire(e, st.ctx->name));
    result.back().worker = nullptr;
  });
  st.mirrors.for_each_entry([&](const std::string& origin,
                                const local_entry& e) {
    result.push_back(to_wire(e, origin));
  });
  return result;
}

// -- handlers: the origin side of mirroring ------------------------------------

/// A mirror asks for a promise: granted only to the current mirror.
void promise_requested(registry_ptr self, int64_t sent_ns) {
  auto& st = self->state;
  if (!st.mirror_to || self->current_sender() != st.mirror_to.address())
    return;
  st.promised.promise(st.mirror_to.address(), node_time(self));
  st.ctx->cover->promised(st.mirror_to.address(),
                          node_time(self) + mirror_promise);
  self->send(st.mirror_to, promise_atom::value, st.ctx->name, sent_ns);
}

/// The nodes that may hold a lease of this node's orchestrator: its
/// members, and those that left less than L + M ago.
std::vector<std::string> lease_holders(registry_ptr self) {
  auto& st = self->state;
  auto now = node_time(self);
  auto result = st.own_members;
  for (auto& kvp : st.members_left)
    if (kvp.second + lease_duration + lease_margin > now)
      result.push_back(kvp.first);
  return result;
}

/// Sends the mirror `lease_holders`. The orchestrator leases to a node
/// only once the mirror acknowledged it in its list (lease_cover.hpp). A
/// node that left stays in the mirror's list until the next change (a
/// takeover there then waits for it, or for the old leases to end).
void send_member_list(registry_ptr self) {
  auto& st = self->state;
  if (!st.mirror_to)
    return;
  auto list = lease_holders(self);
  auto mirror = st.mirror_to.address();
  self
    ->request(st.mirror_to, lease_wait, mirror_members_atom::value,
              st.ctx->name, list)
    .then([=](bool) { self->state.ctx->cover->listed(mirror, list); },
          [](caf::error&) {
            // Sent again with the next change, or with everything.
          });
}

/// From the local supervisor: the members of the local orchestrator.
void own_members_changed(registry_ptr self, std::vector<std::string>& members) {
  auto& st = self->state;
  auto now = node_time(self);
  for (auto i = st.members_left.begin(); i != st.members_left.end();)
    i = i->second + lease_duration + lease_margin <= now
          ? st.members_left.erase(i)
          : std::next(i);
  for (auto& node : st.own_members)
    if (std::find(members.begin(), members.end(), node) == members.end())
      st.members_left.emplace(node, now);
  for (auto& node : members)
    st.members_left.erase(node);
  st.own_members = std::move(members);
  send_member_list(self);
}

/// Sends the mirror everything: all newest entries (replacing what it
/// held) and the orchestrator's members.
void mirror_everything(registry_ptr self) {
  auto& st = self->state;
  std::vector<registry_entry> all;
  st.book.for_each_newest([&](const local_entry& e) {
    all.push_back(to_wire(e, st.ctx->name));
  });
  self->send(st.mirror_to, mirror_atom::value,
             mirror_update{st.ctx->name, std::move(all), true});
  send_member_list(self);
}

/// From the local supervisor: mirror to `to` from now on (or stop). The old
/// mirror drops what it held for this node; the new one gets everything.
void mirror_target_changed(registry_ptr self, registry_api& to) {
  auto& st = self->state;
  if (st.mirror_to == to)
    return;
  if (st.mirror_to) {
    self->send(st.mirror_to, mirror_atom::value,
               mirror_update{st.ctx->name, {}, true});
    st.ctx->cover->forget(st.mirror_to.address());
  }
  st.mirror_to = std::move(to);
  st.mirror_updates.clear();
  st.mirror_removals.clear();
  if (st.mirror_to)
    mirror_everything(self);
}

/// The mirror asks for everything again: answered only for the current
/// mirror.
void remirror_requested(registry_ptr self) {
  auto& st = self->state;
  if (st.mirror_to && self->current_sender() == st.mirror_to.address())
    mirror_everything(self);
}

// -- handlers: the mirror side ---------------------------------------------------

/// From the local supervisor: the members. A new member may have begun
/// mirroring here before this registry knew it (a node that joins another
/// is its member there before the answer arrives here), and those updates
/// were refused: it is asked to send everything again.
void members_changed(registry_ptr self, std::vector<member>& members) {
  auto& st = self->state;
  for (auto& m : members) {
    auto known = std::any_of(st.members.begin(), st.members.end(),
                             [&](const member& old) {
                               return old.registry == m.registry;
                             });
    if (!known && m.registry && m.node != st.ctx->name)
      self->send(m.registry, remirror_atom::value);
  }
  st.members = std::move(members);
}

/// Starts (and outcomes) on the orchestrator's node, confirmed before they
/// take effect. A registry that follows a newer orchestrator refuses them:
/// that orchestrator took its copy of the mirror when it synced here, and
/// counts on knowing every name that may run on the origin.
caf::result<bool> mirror_confirm(registry_ptr self, mirror_confirmation& x) {
  auto& st = self->state;
  if (x.origin_epoch < st.orchestrator.epoch)
    return make_error(errc::stale_orchestrator,
                      "mirror update from a replaced orchestrator's node");
  note_origin(self, x.origin);
  st.mirrors.store(x.origin, x.entries);
  return true;
}

void apply_mirror_update(registry_ptr self, mirror_update& x) {
  auto& st = self->state;
  if (x.replace_all && x.entries.empty()) {
    st.mirrors.drop(x.origin); // The origin mirrors elsewhere now.
    return;
  }
  note_origin(self, x.origin);
  st.mirrors.store(x.origin, x.entries, x.replace_all);
}

void promise_given(registry_ptr self, const std::string& origin,
                   int64_t sent_ns) {
  auto until = clock_type::time_point{std::chrono::nanoseconds{sent_ns}}
               + mirror_promise;
  self->state.mirrors.promised(
    origin, caf::actor_cast<registry_api>(self->current_sender()), until);
}

// -- guarded handlers: each checks who may send its message -----------------

void on_ack(registry_ptr self, uint64_t orch_epoch,
            const std::vector<task_key>& keys) {
  if (!from_followed(self, orch_epoch))
    return void(refuse_sender(self, "ack"));
  acknowledged(self, orch_epoch, keys);
}

caf::result<caf::actor> on_worker(registry_ptr self, const std::string& name) {
  if (!from_followed(self, self->state.orchestrator.epoch))
    return refuse_sender(self, "worker");
  return worker_of(self, name);
}

caf::result<std::vector<registry_entry>>
on_sync(registry_ptr self, orchestrator_ref& orch, uint64_t order_key) {
  if (!from_orchestrator_of_a_member(self, orch))
    return refuse_sender(self, "sync");
  return sync(self, orch, order_key);
}

/// For a new orchestrator on this node: the member lists that orchestrators
/// on other nodes mirrored here, with their promises.
caf::result<std::vector<mirrored_members>> on_mirrored(registry_ptr self) {
  if (!from_local(self))
    return refuse_sender(self, "mirrored");
  auto& st = self->state;
  auto result = st.mirrors.member_lists();
  // This node's own list too: a new orchestrator here after one that ran
  // here (a change of the voters ends it) must know whom it leased to
  // (`dtask-sim --changes=4`, seed 807).
  result.push_back(mirrored_members{st.ctx->name, lease_holders(self), 0});
  return result;
}

void on_peers(registry_ptr self, std::vector<member>& members) {
  if (!from_local(self))
    return void(refuse_sender(self, "peers"));
  members_changed(self, members);
}

caf::result<bool> on_leave(registry_ptr self) {
  if (!from_local(self))
    return refuse_sender(self, "leave");
  return leave(self);
}

void on_own_members(registry_ptr self, std::vector<std::string>& members) {
  if (!from_local(self))
    return void(refuse_sender(self, "ownmembers"));
  own_members_changed(self, members);
}

void on_mirror_to(registry_ptr self, mirror_target& to) {
  if (!from_local(self))
    return void(refuse_sender(self, "mirror_to"));
  mirror_target_changed(self, to.registry);
}

void on_promise(registry_ptr self, const std::string& origin,
                int64_t sent_ns) {
  if (!from_registry_of(self, origin))
    return void(refuse_sender(self, "promise"));
  promise_given(self, origin, sent_ns);
}

caf::result<bool> on_mirror_members(registry_ptr self,
                                    const std::string& origin,
                                    std::vector<std::string>& members) {
  if (!from_mirror_origin(self, origin))
    return refuse_sender(self, "mmembers");
  note_origin(self, origin);
  self->state.mirrors.set_members(origin, std::move(members));
  return true;
}

caf::result<bool> on_confirm(registry_ptr self, mirror_confirmation& x) {
  if (!from_registry_of(self, x.origin))
    return refuse_sender(self, "confirm");
  return mirror_confirm(self, x);
}

void on_mirror(registry_ptr self, mirror_update& x) {
  if (!from_mirror_origin(self, x.origin))
    return void(refuse_sender(self, "mirror"));
  apply_mirror_update(self, x);
}

void on_unmirror(registry_ptr self, const std::string& origin,
                 const std::vector<task_key>& removals) {
  if (!from_mirror_origin(self, origin))
    return void(refuse_sender(self, "unmirror"));
  self->state.mirrors.remove(origin, removals);
}

/// An orchestrator this registry follows has a majority keep its verdicts.
caf::result<bool> on_note_lost(registry_ptr self, lost_verdicts& v) {
  if (!from_followed(self, v.orch_epoch))
    return refuse_sender(self, "notelost");
  return self->state.lost_notes.keep(v, node_time(self));
}

/// A new orchestrator this registry follows reads the verdicts it keeps.
caf::result<lost_verdicts> on_lost_notes(registry_ptr self,
                                         uint64_t orch_epoch) {
  if (!from_followed(self, orch_epoch))
    return refuse_sender(self, "lostnotes");
  return self->state.lost_notes.read(orch_epoch, node_time(self));
}

/// An orchestrator this registry follows has a majority keep outcomes.
caf::result<bool> on_keep_ends(registry_ptr self, lost_verdicts& v) {
  if (!from_followed(self, v.orch_epoch))
    return refuse_sender(self, "keepends");
  return self->state.lost_notes.keep_ends(v, node_time(self));
}

/// The orchestrator this registry follows, about to fence tasks, reads the
/// outcomes kept of them.
caf::result<lost_verdicts> on_read_ends(registry_ptr self, uint64_t orch_epoch,
                                        const std::vector<task_key>& keys) {
  if (!from_followed(self, orch_epoch))
    return refuse_sender(self, "readends");
  return self->state.lost_notes.read_ends(orch_epoch, keys, node_time(self));
}

/// Another voter, whose process is new, catches up on what is kept.
caf::result<voter_dump> on_voter_dump(registry_ptr self,
                                      const std::string& requester) {
  if (!self->state.ctx->is_voter(requester) || !from_registry_of(self, requester))
    return refuse_sender(self, "voterdump");
  return self->state.lost_notes.dump(node_time(self));
}

/// The first round's orchestrator synced this registry at its start:
/// nothing was kept before, so what it keeps is complete.
void on_voter_fresh(registry_ptr self, uint64_t orch_epoch) {
  if (!from_followed(self, orch_epoch) || (orch_epoch >> 8) > 1)
    return void(refuse_sender(self, "voterfresh"));
  self->state.lost_notes.mark_complete();
}

/// While what this voter keeps may be incomplete (its process is new: it
/// forgot what its previous life kept), it asks the other voters for
/// theirs, each at most once a second (lost_note_store.hpp).
void catch_up_ends(registry_ptr self) {
  auto& st = self->state;
  auto now = node_time(self);
  auto voters = st.ctx->voters();
  if (voters->epoch != st.transfer_config) {
    st.transfer_config = voters->epoch;
    st.lost_notes.begin_transfer(now);
  }
  if (!voters->is_voter(st.ctx->name))
    return;
  if (st.lost_notes.transferred(voters->quorum(), now))
    return st.ctx->voting->set_caught_up(voters->epoch);
  for (auto& m : st.members) {
    if (m.node == st.ctx->name || !voters->is_voter(m.node) || !m.registry
        || st.lost_notes.merged(m.node))
      continue;
    auto asked = st.ends_asked.find(m.node);
    if (asked != st.ends_asked.end() && asked->second + std::chrono::seconds(1) > now)
      continue;
    st.ends_asked[m.node] = now;
    auto node = m.node;
    self->request(m.registry, std::chrono::seconds(2), voter_dump_atom::value,
                  st.ctx->name)
      .then(
        [=](voter_dump& d) {
          auto& st = self->state;
          st.lost_notes.merge(node, d, st.ctx->voters()->quorum(),
                              node_time(self));
        },
        [](caf::error&) {
          // Asked again a second later.
        });
  }
}

registry_api::behavior_type registry(registry_ptr self,
                                     node_context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->state.lost_notes = lost_note_store{
    self->state.ctx->config.finished_ttl, self->state.ctx->config.max_finished,
    node_time(self)};
  self->state.lease = lease_gate{self->state.ctx->clock};
  self->send(self, tick_atom::value);
  self->set_down_handler([=](caf::down_msg& dm) { worker_down(self, dm); });
  return {
    [=](finished_atom, uint64_t epoch, task_status& status) {
      worker_finished(self, epoch, status);
    },
    [=](progress_atom, uint64_t epoch, caf::message& what) {
      worker_progress(self, epoch, what);
    },
    // Delegated by the orchestrator: the reply goes to the caller.
    [=](spawn_atom, spawn_order& order) -> caf::result<task_ref> {
      auto rp = self->make_response_promise<task_ref>();
      spawn(self, order, rp);
      return rp;
    },
    [=](ack_atom, uint64_t orch_epoch, const std::vector<task_key>& keys) {
      on_ack(self, orch_epoch, keys);
    },
    [=](worker_atom, const std::string& name) { return on_worker(self, name); },
    [=](grant_atom, const lease_grant& grant) { lease_granted(self, grant); },
    [=](quorum_atom, uint64_t orch_epoch, int64_t sent_ns) {
      quorum_ping(self, orch_epoch, sent_ns);
    },
    [=](sync_atom, orchestrator_ref& orch, uint64_t order_key) {
      return on_sync(self, orch, order_key);
    },
    [=](mirrored_atom) { return on_mirrored(self); },
    [=](note_lost_atom, lost_verdicts& v) { return on_note_lost(self, v); },
    [=](lost_notes_atom, uint64_t e) { return on_lost_notes(self, e); },
    [=](keep_ends_atom, lost_verdicts& v) { return on_keep_ends(self, v); },
    [=](read_ends_atom, uint64_t e, const std::vector<task_key>& keys) {
      return on_read_ends(self, e, keys);
    },
    [=](voter_fresh_atom, uint64_t e) { on_voter_fresh(self, e); },
    [=](voter_dump_atom, const std::string& requester) {
      return on_voter_dump(self, requester);
    },
    [=](peers_atom, std::vector<member>& ms) { on_peers(self, ms); },
    [=](leave_atom) { return on_leave(self); },
    [=](own_members_atom, std::vector<std::string>& ms) {
      on_own_members(self, ms);
    },
    [=](mirror_to_atom, mirror_target& to) { on_mirror_to(self, to); },
    [=](ask_promise_atom, int64_t sent_ns) {
      promise_requested(self, sent_ns);
    },
    [=](remirror_atom) { remirror_requested(self); },
    [=](stop_atom, const task_key& key, const std::string& reason) {
      return stop_requested(self, key, reason);
    },
    [=](promise_atom, const std::string& origin, int64_t sent_ns) {
      on_promise(self, origin, sent_ns);
    },
    [=](mirror_members_atom, const std::string& origin,
        std::vector<std::string>& ms) {
      return on_mirror_members(self, origin, ms);
    },
    [=](confirm_atom, mirror_confirmation& x) { return on_confirm(self, x); },
    [=](mirror_atom, mirror_update& x) { on_mirror(self, x); },
    [=](unmirror_atom, const std::string& origin,
        const std::vector<task_key>& removals) {
      on_unmirror(self, origin, removals);
    },
    [=](flush_atom) {
      if (from_self(self))
        flush(self);
    },
    [=](tick_atom) {
      if (from_self(self))
        tick(self);
    },
  };
}

} // namespace

registry_api spawn_registry(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(registry, std::move(ctx));
}

} // namespace dtask
