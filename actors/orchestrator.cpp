// The orchestrator actor: one per cluster. It decides where each name runs
// (consistent hashing over the live members), refuses a second instance of a
// running name, keeps the task table (include/dtask/task_table.hpp), and is
// the only actor that delivers callbacks (at least once per task; clients
// drop copies by the start's token, see protocol.hpp).
//
// Life of an orchestrator:
//   syncing: asks every member's registry for its entries (the registries
//            adopt it as their orchestrator while answering); requests wait
//            in the mailbox meanwhile, bounded by the sync timeout.
//   serving: answers requests; merges `finished` reports and the entries of
//            members that join later; marks the tasks of dead members lost.
//
// Majority, leases and fencing: the timing argument
// --------------------------------------------------
// L = lease_duration (1.5 s), M = lease_margin (0.25 s). All times are read
// from each process's monotonic clock; the argument assumes the clocks of
// the processes advance at the same rate (within M over a few seconds).
//
// (a) Quorum. Every 100 ms the orchestrator asks every member's registry
//     "do you still follow me?" (`quorum`, with its send time t). A registry
//     answers only the orchestrator it synced with last. The orchestrator
//     holds a majority until t_k + L, where t_k is the send time of the
//     latest ping answered by k voters, k a strict majority of the voters
//     (the `seeds` list). Without it, it accepts no start, grants no lease,
//     records no outcome and delivers no callback.
// (b) Node leases. Every 100 ms each registry asks its orchestrator for a
//     lease (send time s, its own clock); the orchestrator grants it only
//     while it holds a majority and the node is a member. The registry may
//     run workers until s + L, then stops them all and reports them lost.
//     A grant is given at g >= s, so a node's workers stop by g + L.
// (c) A member dropped at time r (missed heartbeats, or connection lost)
//     gets no grant after r, so its workers stop by r + L. The orchestrator
//     declares its tasks lost at r + L + M, not before: the two never
//     overlap, and a name freed this way never runs twice at once. A task
//     that the node's own registry reports running, or ended, after the
//     drop (the node came back and follows this orchestrator, under its
//     leases) is vouched for: that fence skips it (a later fence does not).
//     A node that comes back as a new process (another registry at its
//     address) had its old process die: its old tasks are declared lost at
//     once, as when a member list replaces it directly.
// (d) A new orchestrator O' first holds a majority at T (local time). Each
//     of those voters stopped answering the previous orchestrator O when it
//     synced with O', before T; any majority of O includes one of them (two
//     majorities intersect), so O's majority ends by T + L, and the last
//     lease O granted ends by T + 2L. So O':
//     - declares tasks of nodes it cannot reach lost at T + 2L + M at the
//       earliest ((c) with r = max(r, T + L));
//     - records outcomes (and sends callbacks) only from T + L + M, when O
//       surely stopped doing so. Registries forget an outcome that any
//       orchestrator acknowledged (acks of outcomes are not fenced; acks of
//       running tasks are), and report the others again every second, so
//       an outcome O recorded is not recorded again by O' (unless O's ack
//       takes longer than M to arrive). Outcomes reported before then wait
//       in O' (a registry may die, or be cut off and fenced, before it
//       reports them again) and are recorded at T + L + M (seed 47);
//     - refuses starts of names that do not run in its table (unknown, or
//       known as ended: O may have started them again) until T + 2L + M, unless
//       it can account for every node O may have granted a lease to: each
//       is a member that synced with O', or O's own node, whose registry
//       mirrored to O' every name before spawning its worker and promised
//       to start nothing unmirrored until after T + 2L + M (mirror promises,
//       registry.cpp: a mirror it switched away from knows nothing of its
//       later starts). The mirror keeps each name's newest incarnation: an
//       older one's outcome, reported again until acknowledged, does not
//       replace it (it did, and O' started a name still running on O's
//       node: seed 20858). This is the usual case (the orchestrator's node
//       died), and then starts of new names succeed at once.
// (e) Fencing. Every incarnation carries an epoch (orchestrator epoch << 32
//     | sequence) that only grows (an orchestrator whose sequence is used
//     up steps down rather than wrap, `next_incarnation`); registries refuse spawn orders and ignore
//     acknowledgements from orchestrators older than the one they follow,
//     and discard outcomes of workers whose lease ran out. Supervisors
//     never adopt an orchestrator below the highest epoch they have seen,
//     and tell each other that epoch in `join`: the old orchestrator of a
//     side that was cut off steps down instead of coming back after the
//     newer one died (supervisor.cpp, `note_epoch`).
//     Epochs live only in the processes' memory (there is no disk): a
//     supervisor that knows no epoch (its process is new, and so was every
//     node it joined or that joined it) elects only once it sees every
//     voter (election.hpp, `epoch_unknown`). Every voter tells its highest
//     epoch in `join`, so a survivor that remembers the last epoch is heard
//     before the next one is chosen, and round 1 (the only orchestrator
//     that is not a takeover in (d)) is chosen only when no voter remembers
//     any: at the first boot, or after every voter restarted. Without this,
//     a majority of voters that all restarted, cut off from the one voter
//     still alive, elected round 1 again: the dead orchestrator's own epoch,
//     incarnation epochs repeating the old ones, and no wait of (d) for the
//     survivor's leases (seed 8415661990).
// (f) Reads. `not_found` is answered only once a majority of the voters
//     answered a ping sent no earlier than the request arrived (a read
//     index, pending_reads.hpp): each still followed this orchestrator
//     then, and a newer one's majority contains one of them, so no newer
//     orchestrator held a majority, or started a name, before the request
//     arrived. Without a majority within L the answer is `unknown`, as it
//     is while (d) cannot account for every node (`unaccounted`).
// (g) A majority that lapses and comes back. Voters keep no disk: one that
//     restarts forgot which orchestrator it followed, and may answer an
//     older one that it had left for a newer one. So an orchestrator whose
//     majority lapsed (no majority answered within L) may have been
//     replaced meanwhile by a newer one with leases of its own, and when
//     its majority comes back at T it is a takeover in (d): it syncs every
//     member again (a registry that follows the newer one refuses) and
//     waits as (d) says. (d) holds for it: each voter of its new majority
//     answered it after T' <= T, and stopped answering the newer one
//     before (it switched, or its earlier life died), so the newer one's
//     majority ends by T + L and its leases by T + 2L. Without this, an
//     orchestrator left for a newer one regained a majority through a
//     restarted voter and started a name the newer one ran (seed
//     1453915445; `--mutate=regain-without-takeover`).
// (h) Verdicts. A `lost` declared by (c) is told to a client; the task's
//     own outcome, which its node reached before its lease ended and
//     reports until an orchestrator acknowledges it, is another answer. A
//     takeover that never heard of the verdict would record that outcome
//     and tell the start a second one. So an orchestrator tells a verdict
//     (its callback) only once a majority of the voters keeps it
//     (`notelost`; lost_note_store.hpp keeps the verdicts of the newest
//     orchestrator that wrote there, for the TTL of finished tasks). A
//     takeover reads (`lostnotes`) what a majority of the voters keep;
//     each voter it read refuses verdicts of older orchestrators from then
//     on. It takes over the verdicts of the newest orchestrator among the
//     answers (all of them, from every answer of that epoch), records them
//     `lost` (a late report of the task's own outcome is acknowledged and
//     dropped), and has a majority keep them as its own first round before
//     it records any outcome ((d) waits for this too). Two majorities
//     intersect: a verdict told by O was kept by a voter that O' read
//     after it kept it (before, it would have refused it), so O' holds
//     every verdict told before it. The newest epoch answered holds them
//     all: it wrote to voters only after its own read, first round
//     included. Without this, a start told `lost` by an orchestrator that
//     died was told `done` by the next (`--mutate=lost-told-before-kept`,
//     seed 7). A fence's restarts are verdicts too (`restarted`): the
//     next attempt's spawn order goes out only once a majority keeps that
//     the previous attempt was restarted, so a later orchestrator drops
//     that attempt's late outcome (its node ended it under its lease and
//     could not report it: both attempts were told `done`, seed 492). A
//     restart whose round no majority kept before its orchestrator died
//     never runs: the next orchestrator marks the attempt `lost` without
//     telling it (it cannot know whether the restart went out). A start
//     that failed after its task was reported running (`refused`) is a
//     verdict too (seed 183).
//     Outcomes are kept as well, but not carried over by takeovers: a
//     task's `done`/`failed`/`cancelled` is recorded at once (status,
//     events), its callback told and its registry's report acknowledged
//     only once a majority of the voters keeps it (`keepends`, without the
//     result; each voter keeps the union of every orchestrator's outcomes
//     for the TTL; rounds go out at most once per 5 ms, to a majority
//     first and to the other voters if not kept within a lease interval). Before a fence declares a task lost or restarts it, the
//     orchestrator reads what a majority of the voters keep of it and of
//     later incarnations of its name (`readends`; each voter read refuses
//     outcomes of older orchestrators from then on). An outcome told was
//     kept by a majority, which intersects the read: a voter of both kept
//     it before the read (after, it refuses it), so the fence sees it and
//     records that outcome instead, or, if a later incarnation with the
//     same start token ended (a retry of the start ran as one), declares
//     the task lost without telling it and does not restart it (seed 983:
//     `--mutate=told-start-fenced`). Without
//     this, a task told `done` was fenced by a later orchestrator rebuilt
//     from a mirror that still showed it running (found at seed 54; now
//     seeds 7 and 35 find them put back:
//     `--mutate=outcome-told-before-kept`, `--mutate=fence-without-reading`).
//     A takeover reads none of this: its cost does not grow with the
//     outcomes of the last TTL. Until kept, a report of the outcome again
//     is not acknowledged, so the registry reports it to the next
//     orchestrator if this one dies first; one reported again after it was
//     kept is kept and told again (clients drop the copy by its token).
//     A retry of a start (`start_options::retry`, same token) that this
//     orchestrator does not know reads the outcomes kept of its name the
//     same way first: a start already told is answered as that
//     incarnation, not run again (seed 700: `--mutate=retry-without-
//     reading`). The verdicts a takeover adopts are checked against the
//     outcomes kept of their tasks: an outcome recorded by a newer
//     orchestrator (`lost_note::by`) means the verdict was never told
//     (that orchestrator would have taken it over), and it is dropped.
//     Voters keep no disk, and a voter whose process is new forgot what
//     its previous life kept: its answers to reads (verdicts and outcomes)
//     do not count toward a majority until it merged what a majority of
//     the other voters keep (`voterdump`), the TTL passed since it began,
//     or the first round's orchestrator synced it at its start (nothing
//     was kept before: `voterfresh`). Without this, a fence's majority of
//     answers included a voter that had restarted after keeping a `done`,
//     and the fence told `lost` (seed 67: `--mutate=forgetful-voter-
//     counts`). The price: after a voter restarts, reads wait for a
//     majority of voters that remember (at once if the others are up; if
//     they are not, up to `finished-ttl`).
// (i) Changes of the voting membership (`dtask members add|remove`). One
//     voter at a time: the next configuration C' is C with one node more or
//     less (voting_config.hpp), so any majority of C and any majority of
//     C' share a voter (sizes floor(n/2)+1 and floor((n+-1)/2)+1 sum past
//     the n or n+1 nodes they are drawn from). An orchestrator O of C
//     proposes C' only while it holds a majority, past (d)'s waits, with
//     no other change in flight; from then on it starts nothing, fences
//     nothing and tells nothing (it grants leases and answers reads), and
//     sends C' to every member's supervisor each lease interval. A
//     supervisor takes C' only from the orchestrator it follows, writes it
//     to its state directory before it answers, and never goes back to an
//     older configuration. C' commits once a majority of C and a majority
//     of C' took it; O answers and ends either way (committed, or not
//     within 5 s). A registry answers the quorum pings only of an
//     orchestrator whose configuration is its own: once a majority of C
//     took C', no orchestrator of C holds a majority again. The first
//     orchestrator O' of C' holds a majority of C' at T: one of its voters
//     is in O's last majority and took C' before it answered O', so it had
//     stopped answering O: O's majority ends by T + L, its leases by
//     T + 2L, and (d) holds for O' with that T. What voters keep ((h))
//     carries over: what a majority of C keeps is held by a voter of every
//     majority of C'. Across two changes it would not be, so a voter of C
//     takes C' only once its store caught up for C (merged the complete
//     dumps of a majority of C's voters since it took C): each voter of C'
//     in the committing majority of C then holds what any majority of the
//     configuration before C kept. A voter removed while alive leaves as
//     on SIGTERM once it took C'. A node at C takes a C' proposed by an
//     orchestrator older than the one its registry follows at C only if C'
//     is two or more changes ahead: a proposal superseded by a newer
//     orchestrator of C reaches no majority that answers (the newer one's
//     majority of C intersects every majority of C', and its voters refuse
//     it), so two siblings of C (C - x and C + y, whose majorities can be
//     disjoint) never both hold one. Limits (README, "Still weak"): a
//     change that a majority of C took but no majority of C' took before O
//     stepped down leaves the nodes fenced off it apart, and no side may
//     elect (`dtask-sim --changes=4` ends so in 79 of 2,000 seeds); a node
//     without a state directory that restarts starts from `seeds` and
//     takes a newer configuration from the first peer that tells it, so a
//     majority of C that restarts at once without one, cut off from the
//     others, can elect with C again.
// A node that was hung (SIGSTOP) runs no task code once it resumes past its
// lease: every worker checks its node's lease before it handles any message
// and drops the message once the lease ended; the registry stops those
// workers on its first tick. (Task code inside one message handler that was
// interrupted by the hang does finish that handler; a task with external
// side effects can pass its epoch to the outside world as a fencing token.)

#include <algorithm>
#include <map>
#include <set>
#include <tuple>
#include <unordered_map>

#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <caf/all.hpp>

#include "actors.hpp"
#include "config_change.hpp"
#include "event_feed.hpp"
#include "metrics.hpp"
#include "mutations.hpp"
#include "node_actor.hpp"
#include "pending_reads.hpp"
#include "quorum_tracker.hpp"
#include "recent_set.hpp"
#include "verdict_rounds.hpp"
#include "outcome_rounds.hpp"
#include "end_reads.hpp"
#include "wire_size.hpp"
#include "dtask/errors.hpp"
#include "dtask/names.hpp"
#include "dtask/ring.hpp"
#include "dtask/task_table.hpp"

namespace dtask {

namespace {

/// How long a new orchestrator waits for a member's registry to answer.
constexpr auto sync_timeout = std::chrono::seconds(2);

/// At most one round of outcomes to the voters per window ((h)).
constexpr auto outcome_window = std::chrono::milliseconds(5);

/// Most status requests of unknown names that wait for a majority at once;
/// beyond, they are answered `unknown` at once.
constexpr size_t max_pending_reads = 10000;


/// A `stop` waiting until its task's outcome is recorded.
struct stop_waiter {
  uint64_t epoch;
  caf::typed_response_promise<task_status> promise;
  clock_type::time_point deadline;
};

/// How long a `stop` waits for its task's outcome before it answers with
/// the status as it is then (the outcome may wait for a failover's window).
constexpr auto stop_wait = std::chrono::seconds(10);

/// Most starts whose placement time is remembered at once, for the start
/// latency metric (a start's entry goes once it runs, fails or is lost).
constexpr size_t max_placed_starts = 100000;

/// A caller waiting for the registry to confirm a start.
struct waiter {
  caf::typed_response_promise<task_ref> promise;
  uint64_t token;
  /// The caller asked for the worker's handle (start_options::want_worker).
  bool want_worker;
};

struct pending_start {
  uint64_t epoch = 0;
  std::vector<waiter> waiters;
};

/// A node that was dropped, whose tasks become lost once its lease surely
/// ended.
struct fence {
  /// When it was dropped; unset if it is surely dead (its address was
  /// taken by a new incarnation).
  caf::optional<clock_type::time_point> dropped;
  /// The dropped incarnation's registry: if it comes back before the fence
  /// (a short partition), it reports its own truth and the fence is lifted.
  /// Unset for a node known only from a mirror.
  registry_api registry;
  /// Incarnations started after the drop do not belong to it.
  uint64_t max_epoch = UINT64_MAX;
  /// Unique per fence: a task that the node's own registry reported running
  /// to this orchestrator after the fence was set is vouched for by a live
  /// registry under this orchestrator's lease, and the fence skips it
  /// (`task_record::vouched`).
  uint64_t id = 0;
  /// Tasks whose outcomes were read from a majority of the voters before
  /// the fence declares them lost ((h)), and the read on the way (0: none).
  std::set<std::pair<std::string, uint64_t>> read{};
  uint64_t reading = 0;
  /// Tasks whose start a later incarnation of the name (a retry of the
  /// same start) ended, as the voters keep: declared lost without a
  /// callback, and not restarted (their start was told once already).
  std::set<std::pair<std::string, uint64_t>> told_later{};
};

/// A retry of a start this orchestrator does not know, waiting for what a
/// majority of the voters keep of its name ((h), `start_after_reading`).
struct retry_read {
  std::string type;
  caf::message args;
  start_options opts;
  caf::typed_response_promise<task_ref> promise;
  clock_type::time_point opened;
};

/// What waits for a round of outcomes to be kept by a majority ((h)): the
/// callback to tell, and the registry whose report to acknowledge.
struct outcome_told {
  caf::actor callback;
  task_status status;
  registry_api registry;
};

struct orchestrator_state {
  node_context_ptr ctx;
  /// The voting configuration this orchestrator started with: its quorum,
  /// for its whole life ((i)).
  std::shared_ptr<const voting_config> voters;
  std::vector<std::string> voter_names;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  task_table table{std::chrono::seconds(60)};
  hash_ring ring;
  std::map<std::string, member> members;
  /// Members whose registry has not answered the first sync yet.
  std::set<std::string> syncing;
  std::unordered_map<std::string, pending_start> pending;
  boost::uuids::random_generator uuids;
  /// False while syncing.
  bool live = false;
  /// Its spawn orders carry `derive_key(secret, node)`
  /// (`spawn_order::order_key`), one key per registry; computed once per
  /// member, not one HMAC per start.
  uint64_t secret = 0;
  std::unordered_map<std::string, uint64_t> order_keys;
  /// The registries of every member this orchestrator had (see
  /// `from_member_registry`).
  recent_set<caf::actor_addr> member_registries{4096};
  /// Acknowledgements batched per registry until the next flush.
  std::map<registry_api, std::vector<task_key>> acks;
  bool flush_scheduled = false;
  // -- a change of the voting membership ((i) above) -------------------------
  /// The change this orchestrator proposed; it ends itself once the change
  /// is answered (committed, or not within `change_timeout`).
  caf::optional<config_change> change;
  caf::typed_response_promise<voting_config> change_promise;
  clock_type::time_point change_deadline;

  // -- majority and fencing (see the timing argument above) ------------------
  /// The majority and the windows of the argument (quorum_tracker.hpp).
  quorum_tracker quorum;
  /// Whether every node the previous orchestrator may have granted a lease
  /// to is accounted for ((d)), decided when going live from: the members
  /// whose registry answered a sync, what the mirrored member lists
  /// require, and the origins' promises to this node's registry.
  coverage cover;
  std::set<std::string> synced;
  std::set<std::string> cover_required;
  std::map<std::string, clock_type::time_point> cover_promises;
  bool have_mirrored_lists = false;
  /// Outcomes reported before outcomes opened (mirrored ones of nodes that
  /// are gone, and members' own), with the registry that reported them
  /// (see `merge`), and their keys (a registry reports again every second).
  std::vector<std::pair<registry_api, registry_entry>> deferred_outcomes;
  std::set<std::tuple<registry_api, std::string, uint64_t>> deferred_keys;
  /// `lost` verdicts on the way to a majority of the voters, and a
  /// takeover's reading of the previous ones ((h)).
  verdict_rounds verdicts;
  /// Voters whose verdicts are being read.
  std::set<std::string> reading_verdicts;
  /// Outcomes on the way to a majority of the voters before they are told,
  /// and fences' reads of the outcomes the voters keep ((h)), with the
  /// node and fence id of each read.
  outcome_rounds<outcome_told> outcomes;
  end_reads fence_reads;
  std::map<uint64_t, std::pair<std::string, uint64_t>> reading_fences;
  /// Retries of starts waiting for such a read, by read id (at most
  /// `max_pending_reads`).
  std::map<uint64_t, retry_read> retry_reads;
  /// When the last round of outcomes went out, and whether a flush for the
  /// next is scheduled (`send_outcomes`).
  clock_type::time_point last_outcome_round;
  bool outcome_timer = false;
  /// The first round's orchestrator until it goes live: every registry it
  /// syncs meanwhile kept no outcome before (see lost_note_store.hpp).
  bool fresh_round = false;
  /// A takeover's adopted verdicts while it reads the outcomes kept of
  /// their tasks (`adoption_read_done`), and that read's id (0: none).
  std::vector<lost_note> adopted;
  uint64_t adoption_read = 0;
  /// Restarts' spawn orders, sent once the round of their previous
  /// attempts (by id) is kept.
  std::map<uint64_t, std::vector<std::pair<registry_api, spawn_order>>>
    restart_orders;
  /// Nodes whose tasks become lost once their leases surely ended.
  std::map<std::string, fence> fences;
  uint64_t fence_ids = 0;
  /// Node -> how often its tasks were declared lost by a fence. Spawn orders
  /// and lease grants carry it: a registry refuses orders sent before the
  /// last fence (an order delayed by a partition or a hang must not start
  /// a task the orchestrator declared lost and may have started elsewhere).
  std::map<std::string, uint64_t> node_gen;
  uint64_t ticks = 0;
  /// Set once the log said that `max-finished` was reached.
  bool finished_bound_logged = false;
  /// Status requests of unknown names, waiting for a majority to confirm
  /// this orchestrator (pending_reads.hpp); bounded.
  pending_reads<caf::typed_response_promise<task_status>> reads{
    max_pending_reads};
  /// A ping round for waiting reads was sent since the last tick.
  bool read_round_sent = false;
  /// `stop` requests by name, until their task's outcome is recorded;
  /// at most `max_pending_reads`.
  std::multimap<std::string, stop_waiter> stops;
  /// The latest progress of running tasks that reported any, by name (not
  /// in `task_record`: most tasks report none, and memory per running task
  /// counts); dropped when the task's outcome is recorded.
  std::unordered_map<std::string, task_progress> progress;
  /// Lifecycle events: the latest kept, and the actors subscribed.
  event_feed<caf::actor> events;
  /// Name -> the epoch and time of its placement, until the registry
  /// confirms it (the start latency metric; only with metrics).
  std::unordered_map<std::string, std::pair<uint64_t, clock_type::time_point>>
    placed;

  static const char* name;
};

const char* orchestrator_state::name = "dtask.orchestrator";

using orchestrator_ptr
  = typed_node_actor<orchestrator_state, orchestrator_internal_api>*;

/// Now, on this node's clock.
clock_type::time_point node_time(orchestrator_ptr self) {
  return self->state.ctx->now(self->clock());
}

/// The key of this orchestrator's orders to `node`'s registry: each
/// registry knows its own only, so a member cannot forge orders to another.
uint64_t order_key_for(orchestrator_ptr self, const std::string& node) {
  auto& keys = self->state.order_keys;
  auto i = keys.find(node);
  if (i == keys.end())
    i = keys.emplace(node, derive_key(self->state.secret, node)).first;
  return i->second;
}

orchestrator_ref self_ref(orchestrator_ptr self) {
  auto& st = self->state;
  return {caf::actor_cast<orchestrator_internal_api>(self), st.ctx->name,
          st.epoch, *st.voters};
}

node_metrics* metrics_of(orchestrator_ptr self) {
  return self->state.ctx->metrics.get();
}

/// Records a lifecycle event and sends it to its subscribers. Its time is
/// the wall clock's, for people reading it; nothing decides by it.
void publish(orchestrator_ptr self, event_kind kind, task_status status) {
  auto& feed = self->state.events;
  if (kind == event_kind::progress && feed.subscribers() == 0)
    return; // Progress is not kept: nobody would see it.
  auto now = std::chrono::system_clock::now().time_since_epoch();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now);
  auto& ev = feed.record(task_event{0, kind, ms.count(), std::move(status)});
  feed.for_each_subscriber(ev, [&](const caf::actor& sub) {
    self->anon_send(sub, ev); // To any actor: see deliver_callback.
  });
}

/// A start was placed: counted, and its time kept for the start latency.
void note_placed(orchestrator_ptr self, const std::string& name,
                 uint64_t epoch) {
  auto& st = self->state;
  count_start_accepted(metrics_of(self));
  if (metrics_of(self) != nullptr && st.placed.size() < max_placed_starts)
    st.placed[name] = {epoch, node_time(self)};
}

/// A start was refused with `err`.
void note_refused(orchestrator_ptr self, const caf::error& err) {
  count_start_refused(metrics_of(self), code_name(err));
}

/// `res`, the answer to a start, counted if it is a refusal.
caf::result<task_ref> counted(orchestrator_ptr self,
                              caf::result<task_ref> res) {
  if (res.flag == caf::rt_error)
    note_refused(self, res.err);
  return res;
}

/// The registry reported that `rec`, placed by this orchestrator and not
/// confirmed before, runs (or ran: a task can end before its first report):
/// its `started` event, and the end of its start latency.
void note_started(orchestrator_ptr self, const task_record& rec) {
  auto& st = self->state;
  auto p = st.placed.find(rec.name);
  if (p != st.placed.end() && p->second.first == rec.epoch) {
    observe_start_latency(metrics_of(self), node_time(self) - p->second.second);
    st.placed.erase(p);
  }
  auto status = rec.status();
  status.state = task_state::running;
  publish(self, event_kind::started, std::move(status));
}

/// Edge (2): the registry confirmed that incarnation `epoch` of `name`
/// runs; the first confirmation is noted (`note_started`).
task_record* confirm_start(orchestrator_ptr self, const std::string& name,
                           uint64_t epoch, caf::actor worker) {
  auto before = self->state.table.find_running(name, epoch);
  auto fresh = before != nullptr && !before->confirmed;
  auto rec = self->state.table.confirm(name, epoch, std::move(worker));
  if (fresh && rec != nullptr)
    note_started(self, *rec);
  return rec;
}

/// The event of an outcome (`done`, `failed`, `lost`, `cancelled`).
event_kind outcome_event(task_state state) {
  switch (state) {
    case task_state::done: return event_kind::done;
    case task_state::failed: return event_kind::failed;
    case task_state::cancelled: return event_kind::cancelled;
    default: return event_kind::lost;
  }
}

bool has_quorum(orchestrator_ptr self) {
  return self->state.quorum.holds(node_time(self));
}

/// True once outcomes may be recorded and callbacks sent ((d) above), and
/// a takeover's verdicts are kept by a majority ((h)).
bool outcomes_open(orchestrator_ptr self) {
  return self->state.quorum.outcomes_open(node_time(self))
         && self->state.verdicts.settled() && !self->state.change;
}

void sync_again(orchestrator_ptr self);

/// Records that voter `node` followed this orchestrator at `sent`.
void quorum_ack(orchestrator_ptr self, const std::string& node,
                clock_type::time_point sent) {
  auto& st = self->state;
  if (!st.voters->is_voter(node) || st.members.count(node) == 0)
    return;
  auto lapsed = static_cast<bool>(st.quorum.first());
  if (!st.quorum.ack(node, sent, node_time(self)))
    return;
  log_line{} << "dtask-orchestrator " << st.ctx->name << ": epoch "
             << st.epoch << " holds a majority" << (lapsed ? " again" : "");
  if (lapsed)
    sync_again(self);
}

void settle_reads(orchestrator_ptr self);
void expire_reads(orchestrator_ptr self);
void expire_stops(orchestrator_ptr self);

/// The member whose registry is `addr`, or nullptr.
const member* member_by_registry(orchestrator_ptr self,
                                 const caf::actor_addr& addr) {
  for (auto& kvp : self->state.members)
    if (kvp.second.registry.address() == addr)
      return &kvp.second;
  return nullptr;
}

/// True if the message at hand comes from the registry of a node that was a
/// member while this orchestrator ran: reports, refusals, lease requests
/// and quorum answers come only from there. (A member that left still
/// reports: its reports were under way, or it tells of tasks that ran
/// there. Dropping them would lose what the simulation showed to matter:
/// a task that runs on.)
bool from_member_registry(orchestrator_ptr self) {
  auto& sender = self->current_sender();
  return sender != nullptr
         && self->state.member_registries.contains(sender->address());
}

/// Where `rec` runs; with the worker's handle only if the caller asked for
/// it (start_options::want_worker).
task_ref make_ref(const task_record& rec, bool with_worker = true) {
  return task_ref{rec.name, rec.node, with_worker ? rec.worker : caf::actor{},
                  rec.epoch};
}

caf::error already_running(const task_record& rec) {
  return make_error(errc::already_running, rec.name, rec.node, rec.worker);
}

/// Queues an acknowledgement for `registry` (see registry.cpp on batching).
void ack(orchestrator_ptr self, const registry_api& registry,
         const std::string& name, uint64_t epoch) {
  auto& st = self->state;
  st.acks[registry].push_back(task_key{name, epoch});
  if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

void send_outcomes(orchestrator_ptr self);

/// Sends the acknowledgements queued, and the outcomes whose window passed.
void flush(orchestrator_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  for (auto& kvp : st.acks)
    self->send(kvp.first, ack_atom::value, st.epoch, std::move(kvp.second));
  st.acks.clear();
  send_outcomes(self);
}

/// The outcome of `rec` is recorded: the `stop`s waiting for it get it.
void answer_stops(orchestrator_ptr self, const task_record& rec) {
  auto& stops = self->state.stops;
  auto range = stops.equal_range(rec.name);
  for (auto i = range.first; i != range.second;) {
    if (i->second.epoch != rec.epoch) {
      ++i;
      continue;
    }
    i->second.promise.deliver(rec.status());
    i = stops.erase(i);
  }
}

void deliver_callback(orchestrator_ptr self, task_record& rec) {
  self->state.progress.erase(rec.name);
  self->state.placed.erase(rec.name);
  answer_stops(self, rec);
  count_outcome(metrics_of(self), rec.state);
  publish(self, outcome_event(rec.state), rec.status());
  if (rec.callback) {
    count_callback(metrics_of(self));
    // A callback is any actor: CAF lets a typed actor reach a dynamically
    // typed one only with `anon_send`, which in 0.17 still names `self` as
    // the sender (the same path as `send`).
    self->anon_send(rec.callback, rec.status());
    rec.callback = nullptr;
  }
}

/// Calls `k` with a copy of `rec` that holds the worker's handle: at once if
/// the record has it, else once the task's registry answered `worker`
/// (registries report tasks without handles: each handle shipped costs CAF
/// a proxy and two bookkeeping messages, on every start).
void with_worker(orchestrator_ptr self, const task_record& rec,
                 std::function<void(const task_record&)> k) {
  auto& st = self->state;
  auto m = st.members.find(rec.node);
  if (rec.worker || !rec.running() || m == st.members.end()) {
    k(rec);
    return;
  }
  auto copy = std::make_shared<task_record>(rec);
  auto done = [=](caf::actor worker) {
    if (worker) // Remember it (a no-op unless still running).
      self->state.table.confirm(copy->name, copy->epoch, worker);
    copy->worker = std::move(worker);
    k(*copy);
  };
  self->request(m->second.registry, sync_timeout, worker_atom::value, rec.name)
    .then([=](caf::actor& worker) { done(std::move(worker)); },
          [=](caf::error&) { done(caf::actor{}); });
}

/// The answer to a start that finds `rec`: the start's reference if it is
/// the same attempt (same token), else `already_running`; both name the
/// worker.
caf::typed_response_promise<task_ref>
answer_with_worker(orchestrator_ptr self, const task_record& rec,
                   bool same_attempt) {
  auto rp = self->make_response_promise<task_ref>();
  if (!same_attempt)
    note_refused(self, already_running(rec));
  with_worker(self, rec, [rp, same_attempt](const task_record& r) mutable {
    if (same_attempt)
      rp.deliver(make_ref(r));
    else
      rp.deliver(already_running(r));
  });
  return rp;
}

/// Answers the callers that asked for `name` while the start of `epoch`
/// was not confirmed yet. (The caller whose start created it is answered by
/// the registry: the orchestrator delegates the start request there.)
void settle(orchestrator_ptr self, const std::string& name, uint64_t epoch,
            const task_record* rec, const caf::error& err) {
  auto& st = self->state;
  auto i = st.pending.find(name);
  if (i == st.pending.end() || i->second.epoch != epoch)
    return;
  auto waiters = std::move(i->second.waiters);
  st.pending.erase(i);
  if (err || rec == nullptr) {
    auto e = err ? err : make_error(errc::node_down, name, std::string{});
    for (auto& w : waiters) {
      note_refused(self, e);
      w.promise.deliver(e);
    }
    return;
  }
  for (auto& w : waiters)
    if (w.token == 0 || w.token != rec->token)
      note_refused(self, already_running(*rec));
  with_worker(self, *rec, [waiters](const task_record& r) mutable {
    for (auto& w : waiters) {
      if (w.token != 0 && w.token == r.token)
        w.promise.deliver(make_ref(r, w.want_worker));
      else
        w.promise.deliver(already_running(r));
    }
  });
}

/// The node's own registry reports a running task: it follows this
/// orchestrator and runs the task under its leases, so a fence set on the
/// node before (it was cut off, or known only from a mirror) must not
/// declare the task lost.
void vouch(orchestrator_ptr self, const registry_entry& e,
           const task_record* rec) {
  auto& st = self->state;
  auto f = st.fences.find(e.status.node);
  if (rec != nullptr && st.members.count(e.status.node) > 0
      && f != st.fences.end())
    st.table.vouch(e.order.name, e.order.epoch, f->second.id);
}

/// A running task a registry reports (its own, or mirrored from a node that
/// is gone).
void merge_running(orchestrator_ptr self, const registry_api& registry,
                   registry_entry& e, const task_record* rec) {
  auto& st = self->state;
  auto& name = e.order.name;
  auto epoch = e.order.epoch;
  auto same = rec != nullptr && rec->epoch == epoch;
  if (same && rec->running()) {
    if (!rec->confirmed) {
      auto confirmed = confirm_start(self, name, epoch, e.worker);
      settle(self, name, epoch, confirmed, caf::error{});
    }
    vouch(self, e, rec);
  } else if (same || (rec != nullptr && rec->running())
             || (!mutated(mutation::stale_incarnation_revived)
                 && ((rec != nullptr && rec->epoch > epoch)
                     || st.table.ended_here(name, epoch)))) {
    // Already declared over (lost, restarted), or another incarnation holds
    // the name, or a newer one ran: this one must not run on (a stale
    // mirror revived a restarted attempt, whose late `done` was told as a
    // second outcome: seed 564).
    ack(self, registry, name, epoch);
  } else {
    auto& r = st.table.begin(name, e.status.node, epoch, e.order.token,
                             e.order.callback);
    r.restart = e.order.restart;
    r.attempt = e.order.attempt;
    if (r.restart != restart_policy::never)
      r.spec = std::make_shared<const restart_spec>(
        restart_spec{e.order.type, e.order.args});
    vouch(self, e, st.table.confirm(name, epoch, e.worker));
  }
}

void keep_outcome(orchestrator_ptr self, caf::actor callback,
                  task_status status, const registry_api& registry);

/// An outcome a registry reports. Returns false if the registry must keep
/// it (no acknowledgement now: an outcome recorded is acknowledged once a
/// majority of the voters keeps it, (h)).
bool merge_outcome(orchestrator_ptr self, const registry_api& registry,
                   registry_entry& e, const task_record* rec,
                   clock_type::time_point now) {
  auto& st = self->state;
  auto& name = e.order.name;
  auto epoch = e.order.epoch;
  if (st.outcomes.pending(name, epoch))
    return false; // Acknowledged once kept.
  auto same = rec != nullptr && rec->epoch == epoch;
  if (!same && rec != nullptr && rec->epoch > epoch) {
    // An older incarnation; the table holds a newer one. Its end is news
    // only if this orchestrator did not end it (e.g. a lease-expired task
    // declared lost here before the name was started again). An earlier
    // attempt of a restarted start (same token) is no news: the start's one
    // callback comes from its last attempt.
    // The restarted start's record may be gone already (it ended and the
    // name was started again): its token still names the attempt that
    // ended it.
    auto restarted = e.order.token != 0
                     && (rec->token == e.order.token
                         || st.table.ended_start(e.order.token) != nullptr);
    if (st.table.ended_here(name, epoch) || !e.order.callback || restarted)
      return true;
    e.status.epoch = epoch;
    e.status.token = e.order.token;
    keep_outcome(self, e.order.callback, std::move(e.status), registry);
    return false;
  }
  if (!same && rec != nullptr && rec->running())
    return false; // A newer outcome while an older incarnation runs: cannot
                  // happen (a name starts only once the previous ended).
  if (!same && st.table.ended_here(name, epoch))
    return true; // Ended here before (e.g. restarted elsewhere: (h)).
  if (same && !rec->running() && rec->state == e.status.state
      && e.order.callback) {
    // Reported again: the acknowledgement may be lost, or the callback (an
    // orchestrator that kept it died before telling it, and a fence here
    // found it kept). Told again, once kept again (clients drop copies).
    e.status.epoch = epoch;
    e.status.token = e.order.token;
    keep_outcome(self, e.order.callback, std::move(e.status), registry);
    return false;
  }
  if (!same) // Unknown here (a failover, or forgotten): record it.
    st.table.begin(name, e.status.node, epoch, e.order.token, e.order.callback)
      .attempt = e.order.attempt;
  else if (rec->running() && !rec->confirmed)
    note_started(self, *rec); // It ended before its first report.
  auto ended = st.table.finish(name, epoch, e.status.state,
                               std::move(e.status.result),
                               std::move(e.status.reason), now);
  if (ended == nullptr)
    return true; // Recorded before (e.g. declared lost); the ack was lost.
  settle(self, name, epoch, ended, caf::error{});
  auto callback = std::move(ended->callback);
  ended->callback = nullptr;
  deliver_callback(self, *ended); // Events, metrics, stops; no callback.
  keep_outcome(self, std::move(callback), ended->status(), registry);
  return false;
}

void send_outcomes(orchestrator_ptr self);
void send_outcome_round(orchestrator_ptr self, uint64_t id, bool all);
void send_fence_read(orchestrator_ptr self, uint64_t id);

/// Takes over what a registry reports: running tasks this orchestrator did
/// not know (after a failover or a join), outcomes not yet acknowledged, and
/// mirrored entries of a dead orchestrator's node, whose running tasks are
/// lost.
void merge(orchestrator_ptr self, const registry_api& registry,
           std::vector<registry_entry>& entries, bool deferred = false) {
  auto& st = self->state;
  auto now = node_time(self);
  if (!outcomes_open(self)) {
    // Running entries are taken now; outcomes are not recorded yet ((d)
    // above): the registries keep them and report them again every second.
    // A mirrored outcome of a node that is gone is reported by nobody
    // again: it waits here until outcomes open (else its start never hears
    // of its end; the fault suite saw it after an orchestrator's node died).
    // So does a member's own outcome, in case the member dies before
    // outcomes open: nobody else knows it then (the simulation found such
    // starts without a callback), or is cut off and fenced (its task was
    // restarted, and both attempts told `done`: seed 47). See `tick`.
    auto outcome = [](const registry_entry& e) {
      return e.status.state != task_state::running;
    };
    for (auto& e : entries) {
      if (!outcome(e))
        continue;
      auto m = st.members.find(e.status.node);
      // The node's own registry holds the outcome and reports it again: a
      // fence set before (e.g. from a mirror that still shows the task
      // running) must not declare it lost meanwhile (a lost callback, then
      // the outcome's own from whoever records it).
      if (m != st.members.end() && m->second.registry == registry)
        vouch(self, e, st.table.find(e.order.name, now));
      if ((m == st.members.end() || m->second.registry == registry)
          && st.deferred_keys
               .emplace(registry, e.order.name, e.order.epoch)
               .second)
        st.deferred_outcomes.emplace_back(registry, std::move(e));
    }
    entries.erase(std::remove_if(entries.begin(), entries.end(), outcome),
                  entries.end());
  }
  for (auto& e : entries) {
    auto rec = st.table.find(e.order.name, now);
    auto origin = st.members.find(e.status.node);
    if (origin != st.members.end()) {
      // A mirror of a live node's entry: the node speaks itself. Not for a
      // deferred outcome: its node was gone when it was mirrored, and a
      // member of that name now is a new incarnation, which knows nothing
      // of it (the same process back again reports the same outcome, and
      // the table records it once).
      if (origin->second.registry != registry && !deferred)
        continue;
    } else if (e.status.state == task_state::running
               && st.fences.count(e.status.node) == 0) {
      // A mirror of a task of a node that is gone: it may run on until its
      // lease ends; the fence declares it lost then. Only incarnations of
      // older orchestrators: the mirror holds no other.
      st.fences.emplace(e.status.node,
                        fence{now, registry_api{}, (st.epoch << 32) | st.seq,
                              ++st.fence_ids});
    }
    if (e.status.state == task_state::running)
      merge_running(self, registry, e, rec);
    else if (merge_outcome(self, registry, e, rec, now))
      ack(self, registry, e.order.name, e.order.epoch);
  }
  send_outcomes(self);
}

// -- verdicts kept by a majority ((h) above) ----------------------------------

/// Tells the start of a verdict that a majority kept: its callback (once;
/// a later orchestrator that adopts the verdict may tell it again, the
/// client drops the copy by its token). The table may hold a newer start of
/// the name by now (the name was free at the fence): then the note's own
/// callback is told.
void tell_verdict(orchestrator_ptr self, lost_note& note) {
  auto& st = self->state;
  auto& s = note.status;
  if (note.restarted)
    return; // Its start is told by its last attempt.
  if (auto rec = st.table.ended(s.name, s.epoch)) {
    if (rec->state == task_state::lost)
      deliver_callback(self, *rec);
    return;
  }
  if (note.callback && st.table.find_running(s.name, s.epoch) == nullptr) {
    count_callback(metrics_of(self));
    self->anon_send(note.callback, s); // See deliver_callback.
  }
}

void send_restart(orchestrator_ptr self, const registry_api& target,
                  spawn_order order);

void round_kept(orchestrator_ptr self, uint64_t id, const std::string& voter) {
  auto& st = self->state;
  if (st.change)
    return; // Told by the next orchestrator, which reads it ((i)).
  auto notes = st.verdicts.kept(id, voter);
  if (!notes)
    return;
  for (auto& note : *notes)
    tell_verdict(self, note);
  auto orders = st.restart_orders.find(id);
  if (orders == st.restart_orders.end())
    return;
  for (auto& order : orders->second)
    send_restart(self, order.first, std::move(order.second));
  st.restart_orders.erase(orders);
}

/// Sends round `r` (`atom`: of verdicts or of outcomes) to every voter
/// (in `only`, if given) that did not keep it yet; `kept(voter)` once one
/// did.
template <class Atom, class Kept>
void send_to_voters(orchestrator_ptr self, Atom atom,
                    const verdict_rounds::round& r, Kept kept,
                    const std::set<std::string>* only = nullptr) {
  auto& st = self->state;
  for (auto& kvp : st.members) {
    auto node = kvp.first;
    if (!st.voters->is_voter(node) || r.kept_by.count(node) > 0
        || (only != nullptr && only->count(node) == 0))
      continue;
    self->request(kvp.second.registry, sync_timeout, atom, r.verdicts)
      .then(
        [=](bool ok) {
          if (ok)
            kept(node);
        },
        [](caf::error&) {
          // Sent again with the round's next turn (`tick`).
        });
  }
}

/// Sends round `id` to every voter that did not keep it yet.
void send_round(orchestrator_ptr self, uint64_t id) {
  if (auto r = self->state.verdicts.find(id))
    send_to_voters(self, note_lost_atom::value, *r,
                   [=](const std::string& voter) {
                     round_kept(self, id, voter);
                   });
}

/// Verdicts to be kept by a majority before they are told. Returns the
/// round's id.
uint64_t open_round(orchestrator_ptr self, std::vector<lost_note> notes,
                    bool complete) {
  auto id = self->state.verdicts.open(std::move(notes), complete,
                                      node_time(self));
  send_round(self, id);
  return id;
}

// -- outcomes kept by a majority ((h) above) ----------------------------------

/// An outcome recorded (or reported again): its callback is told, and
/// `registry` (which reported it) acknowledged, once a majority of the
/// voters keeps it, so that no later fence declares the task lost after it
/// was told.
void keep_outcome(orchestrator_ptr self, caf::actor callback,
                  task_status status, const registry_api& registry) {
  if (mutated(mutation::outcome_told_before_kept)) {
    if (callback) {
      count_callback(metrics_of(self));
      self->anon_send(callback, status); // See deliver_callback.
    }
    ack(self, registry, status.name, status.epoch);
    return;
  }
  lost_note note{status, caf::actor{}, false, self->state.epoch};
  note.status.result = caf::message{}; // Voters keep what ended, not values.
  note.status.progress = caf::message{};
  note.status.reason.clear();
  self->state.outcomes.add(std::move(note),
                           outcome_told{std::move(callback), std::move(status),
                                        registry});
}

void outcome_round_kept(orchestrator_ptr self, uint64_t id,
                        const std::string& voter) {
  if (self->state.change)
    return; // Reported again to the next orchestrator ((i)).
  for (auto& t : self->state.outcomes.kept(id, voter)) {
    if (t.callback) {
      count_callback(metrics_of(self));
      self->anon_send(t.callback, t.status); // See deliver_callback.
    }
    ack(self, t.registry, t.status.name, t.status.epoch);
  }
}

/// A majority of the voters to send a round of outcomes to first: this
/// node's registry and voters that answered a recent ping. The others get
/// the round only if it is not kept within a lease interval (`tick`):
/// every remote copy costs serialization on a busy orchestrator.
std::set<std::string> first_majority(orchestrator_ptr self) {
  auto& st = self->state;
  auto silent = st.quorum.silent(st.voter_names, node_time(self));
  std::set<std::string> chosen;
  auto add = [&](const std::string& node) {
    if (chosen.size() < st.voters->quorum() && st.voters->is_voter(node)
        && st.members.count(node) > 0
        && std::find(silent.begin(), silent.end(), node) == silent.end())
      chosen.insert(node);
  };
  add(st.ctx->name);
  for (auto& kvp : st.members)
    add(kvp.first);
  return chosen;
}

/// Sends round `id` of outcomes to a majority first, or (`all`) to every
/// voter that did not keep it yet.
void send_outcome_round(orchestrator_ptr self, uint64_t id, bool all) {
  auto r = self->state.outcomes.find(id);
  if (r == nullptr)
    return;
  auto kept = [=](const std::string& voter) {
    outcome_round_kept(self, id, voter);
  };
  if (all) {
    send_to_voters(self, keep_ends_atom::value, *r, kept);
    return;
  }
  auto first = first_majority(self);
  send_to_voters(self, keep_ends_atom::value, *r, kept, &first);
}

/// Sends the outcomes recorded since the last round as one round, at most
/// one round per `outcome_window` (a group commit: under load each round
/// carries many outcomes; a callback waits up to the window longer).
void send_outcomes(orchestrator_ptr self) {
  auto& st = self->state;
  if (st.outcomes.waiting() == 0)
    return;
  auto now = node_time(self);
  auto next = st.last_outcome_round + outcome_window;
  if (now < next) {
    if (!st.outcome_timer) {
      st.outcome_timer = true;
      self->delayed_send(self, next - now, flush_atom::value);
    }
    return;
  }
  st.outcome_timer = false;
  st.last_outcome_round = now;
  send_outcome_round(self, st.outcomes.flush(now), false);
}

/// An outcome a majority of the voters may keep, found by a fence's read:
/// the task ended so, whatever a stale mirror said, and the fence skips it.
/// Not told here: the orchestrator that kept it told it, or (if it died
/// first) the task's registry reports it again, with its result, and it is
/// told then.
void adopt_end(orchestrator_ptr self, const lost_note& note) {
  auto& st = self->state;
  auto& s = note.status;
  if (st.table.find_running(s.name, s.epoch) == nullptr)
    return;
  auto ended = st.table.finish(s.name, s.epoch, s.state, caf::message{},
                               s.reason, node_time(self));
  if (ended == nullptr)
    return;
  ended->callback = nullptr;
  settle(self, s.name, s.epoch, ended, caf::error{});
  deliver_callback(self, *ended); // Events, metrics, stops; no callback.
}

/// A verdict adopted from a voter: the table says `lost` for it from now on
/// (a report of the task's own outcome is acknowledged and dropped), and a
/// worker still running it is stopped.
void apply_verdict(orchestrator_ptr self, const lost_note& note) {
  auto& st = self->state;
  auto& s = note.status;
  auto now = node_time(self);
  auto rec = st.table.find(s.name, now);
  auto running = rec != nullptr && rec->running();
  if (rec != nullptr && !running && rec->epoch == s.epoch)
    return; // This one ended here already.
  // Another incarnation holds the name, or (restarted) its next attempt is
  // unknown here: this one's own outcome, reported late, is no news.
  auto other = rec != nullptr && rec->epoch != s.epoch
               && (running || rec->epoch > s.epoch);
  if (other || (note.restarted && !running)) {
    st.table.remember_ended(s.name, s.epoch, s.token, s.node, now);
    return;
  }
  if (!running)
    st.table.begin(s.name, s.node, s.epoch, s.token, note.callback).attempt
      = s.attempt;
  st.table.finish(s.name, s.epoch, task_state::lost, caf::message{}, s.reason,
                  now);
  auto m = st.members.find(s.node);
  if (m != st.members.end())
    ack(self, m->second.registry, s.name, s.epoch);
}

/// Once a majority of the voters answered a takeover's read: their newest
/// verdicts become this orchestrator's, kept by a majority before outcomes
/// open.
void take_over_verdicts(orchestrator_ptr self, std::vector<lost_note> notes);

void adopt_verdicts(orchestrator_ptr self) {
  auto& st = self->state;
  if (!st.verdicts.ready_to_adopt())
    return;
  auto notes = st.verdicts.adopt();
  if (notes.empty() || mutated(mutation::adoption_without_reading)) {
    take_over_verdicts(self, std::move(notes));
    return;
  }
  std::vector<task_key> keys;
  for (auto& note : notes)
    keys.push_back(task_key{note.status.name, note.status.epoch});
  st.adoption_read = st.fence_reads.open(std::move(keys), node_time(self));
  st.adopted = std::move(notes);
  send_fence_read(self, st.adoption_read);
}

/// The verdicts a takeover adopts become its own: applied to the table and
/// kept by a majority as its first round.
void take_over_verdicts(orchestrator_ptr self, std::vector<lost_note> notes) {
  auto& st = self->state;
  for (auto& note : notes)
    apply_verdict(self, note);
  log_line{true} << "dtask-orchestrator " << st.ctx->name << ": adopted "
                 << notes.size() << " lost verdicts";
  open_round(self, std::move(notes), true);
}

/// The outcomes a majority of the voters keep of the adopted verdicts'
/// tasks: a verdict that an outcome recorded by a newer orchestrator
/// contradicts was never told (that orchestrator would have taken it over
/// instead), and is dropped; the outcome was (a voter that restarted may
/// have forgotten the newer orchestrator's verdicts, so that an older set
/// looked newest: seed 808).
void adoption_read_done(orchestrator_ptr self,
                        const std::vector<lost_note>& found) {
  auto& st = self->state;
  auto notes = std::move(st.adopted);
  st.adopted.clear();
  st.adoption_read = 0;
  auto overturned = [&](const lost_note& note) {
    return std::any_of(found.begin(), found.end(), [&](const lost_note& end) {
      return end.status.name == note.status.name
             && end.status.epoch == note.status.epoch && end.by > note.by;
    });
  };
  notes.erase(std::remove_if(notes.begin(), notes.end(), overturned),
              notes.end());
  take_over_verdicts(self, std::move(notes));
}

/// A takeover reads the verdicts voter `m` keeps (it follows this
/// orchestrator once synced).
void read_verdicts(orchestrator_ptr self, const member& m) {
  auto& st = self->state;
  if (!st.verdicts.reading() || !st.voters->is_voter(m.node)
      || st.verdicts.answered(m.node) || !st.reading_verdicts.insert(m.node).second)
    return;
  auto node = m.node;
  self->request(m.registry, sync_timeout, lost_notes_atom::value, st.epoch)
    .then(
      [=](lost_verdicts& v) {
        self->state.reading_verdicts.erase(node);
        if (mutated(mutation::forgetful_voter_counts))
          v.complete = true;
        self->state.verdicts.read(node, std::move(v));
        adopt_verdicts(self);
      },
      [=](caf::error&) { self->state.reading_verdicts.erase(node); });
}

/// Every tick: rounds not kept by a majority within the sync timeout are
/// sent again, and a takeover reads the synced voters it has not read yet.
void verdicts_tick(orchestrator_ptr self) {
  auto& st = self->state;
  for (auto id : st.verdicts.due(node_time(self), sync_timeout))
    send_round(self, id);
  for (auto id : st.outcomes.due(node_time(self), lease_interval))
    send_outcome_round(self, id, true);
  for (auto id : st.fence_reads.due(node_time(self), sync_timeout))
    send_fence_read(self, id);
  if (!st.verdicts.reading())
    return;
  for (auto& node : st.synced) {
    auto m = st.members.find(node);
    if (m != st.members.end())
      read_verdicts(self, m->second);
  }
}

/// Asks `m`'s registry for its entries (and makes it follow this
/// orchestrator). A sync that fails is tried again every lease interval for
/// as long as `m` is a member: a registry that never synced would report to
/// a dead orchestrator. (Not at once: a registry that is gone fails the
/// request at once, and the member list that drops it may be a moment
/// behind; the simulation found that loop spinning.)
void sync_member(orchestrator_ptr self, const member& m,
                 std::function<void()> done) {
  auto registry = m.registry;
  auto sent = node_time(self);
  self->request(registry, sync_timeout, sync_atom::value, self_ref(self),
                order_key_for(self, m.node))
    .then(
      [=](std::vector<registry_entry>& entries) {
        // Syncing is following: the answer counts as a quorum answer.
        self->state.synced.insert(m.node);
        if (self->state.fresh_round) // Nothing was kept before ((h)).
          self->send(registry, voter_fresh_atom::value, self->state.epoch);
        quorum_ack(self, m.node, sent);
        merge(self, registry, entries);
        read_verdicts(self, m);
        done();
      },
      [=](caf::error& err) {
        log_line{true} << "dtask-orchestrator: sync with " << m.node
                  << " failed: " << self->system().render(err);
        done();
        self->delayed_send(self, lease_interval, resync_atom::value, m);
      });
}

/// A sync of `m` that failed a lease interval ago, tried again.
void resync(orchestrator_ptr self, const member& m) {
  auto i = self->state.members.find(m.node);
  if (i != self->state.members.end() && i->second.registry == m.registry)
    sync_member(self, m, [] {});
}

/// Applies a new member list: lost tasks for members that left, a sync for
/// members that joined, a new ring.
void set_members(orchestrator_ptr self, std::vector<member>& members) {
  auto& st = self->state;
  auto now = node_time(self);
  std::map<std::string, member> next;
  st.order_keys.clear(); // Bounded by the members.
  for (auto& m : members) {
    st.member_registries.insert(m.registry.address());
    next.emplace(m.node, std::move(m));
  }
  for (auto& kvp : st.members) {
    auto i = next.find(kvp.first);
    if (i != next.end() && i->second.registry == kvp.second.registry)
      continue;
    // The member left, or came back as a new incarnation (then the old one
    // is surely dead: its address is taken). Its tasks are lost once its
    // lease surely ended.
    auto max_epoch = (st.epoch << 32) | st.seq;
    if (i != next.end())
      st.fences[kvp.first] = fence{caf::none, registry_api{}, max_epoch,
                                   ++st.fence_ids};
    else
      st.fences[kvp.first] = fence{now, kvp.second.registry, max_epoch,
                                   ++st.fence_ids};
    st.quorum.forget(kvp.first);
    st.syncing.erase(kvp.first);
  }
  std::vector<member> joined;
  for (auto& kvp : next) {
    auto i = st.members.find(kvp.first);
    if (i == st.members.end()) {
      // Back before its fence: the same process reports its own truth.
      // Back as a new incarnation: the dropped one is surely dead (its
      // address is taken), as when a member list replaces it directly; its
      // tasks are lost at once, not a lease after the drop (a later drop
      // of the new incarnation would postpone them again, past this
      // orchestrator's majority, and no other orchestrator knows them).
      auto f = st.fences.find(kvp.first);
      if (f != st.fences.end() && f->second.registry) {
        if (f->second.registry == kvp.second.registry)
          st.fences.erase(f);
        else
          f->second.dropped = caf::none;
      }
    }
    if (i == st.members.end() || i->second.registry != kvp.second.registry)
      joined.push_back(kvp.second);
  }
  st.members = std::move(next);
  // Leaving nodes keep their leases (they finish their tasks) but get no
  // new ones.
  std::vector<std::string> names;
  for (auto& kvp : st.members)
    if (!kvp.second.leaving)
      names.push_back(kvp.first);
  st.ring.assign(std::move(names));
  for (auto& m : joined)
    sync_member(self, m, [] {});
}

/// `text` as an error may echo it back: at most `max_name_bytes` bytes (a
/// name or type from the wire may be as long as a message can be).
std::string cut(const std::string& text) {
  return text.size() <= max_name_bytes ? text
                                       : text.substr(0, max_name_bytes);
}

/// What is wrong with a start, before its name is looked at (an unnamed
/// start gets a UUID here).
caf::error check_start(orchestrator_ptr self, const std::string& type,
                       const caf::message& args, start_options& opts) {
  auto& st = self->state;
  if (opts.name.empty()) {
    opts.name = boost::uuids::to_string(st.uuids());
  } else {
    auto why = check_name(opts.name);
    if (!why.empty())
      return make_error(errc::invalid_name, cut(opts.name), why);
  }
  if (st.ctx->tasks.find(type) == nullptr)
    return make_error(errc::unknown_task_type, cut(type));
  auto size = wire_size(self->system(), args);
  auto limit = st.ctx->config.max_args_bytes;
  if (size > limit)
    return make_error(errc::args_too_large, size, limit);
  if (st.change)
    return make_error(errc::no_orchestrator,
                      "the voting membership is changing; the next "
                      "orchestrator takes starts");
  return caf::none;
}

/// The epoch of the next incarnation: (orchestrator epoch << 32) | sequence.
/// None once the sequence is used up (2^32 - 1 incarnations in one epoch):
/// then this orchestrator steps down, and the next election takes a higher
/// epoch, instead of letting the sequence run into the epoch bits (two
/// incarnations could share an epoch, and fencing tokens would not grow).
caf::optional<uint64_t> next_incarnation(orchestrator_ptr self) {
  auto& st = self->state;
  if (st.seq < UINT32_MAX)
    return (st.epoch << 32) | ++st.seq;
  log_line{} << "dtask-orchestrator " << st.ctx->name << ": epoch "
             << st.epoch << " used up its task sequence; stepping down";
  self->quit(caf::exit_reason::user_shutdown);
  return caf::none;
}

/// A retry of a start this orchestrator does not know: its first attempt
/// may have run under an earlier orchestrator, been told its end, and been
/// forgotten by its node. What a majority of the voters keep of the name is
/// read first ((h)); a start told by one of its incarnations is answered as
/// that one, else it starts as a first attempt would (seed 1207: a retry
/// after a failover ran the task again and told its start `done` twice).
caf::result<task_ref> start_after_reading(orchestrator_ptr self,
                                          std::string& type,
                                          caf::message& args,
                                          start_options& opts) {
  auto& st = self->state;
  if (st.retry_reads.size() >= max_pending_reads)
    return make_error(errc::no_quorum, "too many retried starts wait for "
                                       "the voters; try again");
  auto now = node_time(self);
  auto rp = self->make_response_promise<task_ref>();
  auto id = st.fence_reads.open({task_key{opts.name, 0}}, now);
  st.retry_reads.emplace(id, retry_read{std::move(type), std::move(args),
                                        std::move(opts), rp, now});
  send_fence_read(self, id);
  return rp;
}

/// The voters answered a retry's read: answered as the incarnation that
/// ran it, or started anew (through this actor's own mailbox: the start
/// may be delegated to a registry, which answers the retry's caller here).
void retry_read_done(orchestrator_ptr self, uint64_t id,
                     const std::vector<lost_note>& found) {
  auto i = self->state.retry_reads.find(id);
  auto r = std::move(i->second);
  self->state.retry_reads.erase(i);
  for (auto& note : found)
    if (note.status.token == r.opts.token) {
      r.promise.deliver(task_ref{note.status.name, note.status.node,
                                 caf::actor{}, note.status.epoch});
      return;
    }
  r.opts.retry = false;
  auto rp = r.promise;
  auto me = caf::actor_cast<orchestrator_internal_api>(self);
  self->request(me, sync_timeout, start_atom::value, std::move(r.type),
                std::move(r.args), std::move(r.opts))
    .then([rp](task_ref& ref) mutable { rp.deliver(std::move(ref)); },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
}

/// Retries whose read no majority answered in time: refused, as a start
/// without a majority is (the client tries again).
void expire_retry_reads(orchestrator_ptr self) {
  auto& st = self->state;
  auto now = node_time(self);
  for (auto i = st.retry_reads.begin(); i != st.retry_reads.end();) {
    if (i->second.opened + sync_timeout > now) {
      ++i;
      continue;
    }
    st.fence_reads.cancel(i->first);
    i->second.promise.deliver(make_error(
      errc::no_quorum, "a majority of the voters did not answer in time"));
    i = st.retry_reads.erase(i);
  }
}

/// A retry of a start whose name does not run here under another start:
/// read first (`start_after_reading`).
bool unknown_retry(const start_options& opts, const task_record* rec) {
  return opts.retry && opts.token != 0
         && !mutated(mutation::retry_without_reading)
         && (rec == nullptr || !rec->running());
}

caf::result<task_ref> start(orchestrator_ptr self, std::string& type,
                            caf::message& args, start_options& opts) {
  auto& st = self->state;
  if (auto err = check_start(self, type, args, opts))
    return err;
  if (!has_quorum(self))
    return make_error(errc::no_quorum,
                      "the orchestrator " + st.ctx->name
                        + " does not reach a majority of the cluster's members");
  auto rec = st.table.find(opts.name, node_time(self));
  // Covered only while the mirrors' promises outlast the old leases.
  auto leases_end = st.quorum.leases_end();
  // A name known here as ended is no safer than an unknown one: the old
  // orchestrator may have started it again on its side since this one
  // synced (the simulation found such overlaps).
  if ((rec == nullptr || !rec->running()) && st.quorum.takeover()
      && !st.cover.holds_past(leases_end) && node_time(self) < leases_end)
    return make_error(errc::no_quorum,
                      "a new orchestrator waits until the previous one's "
                      "leases surely ended before it starts unknown names");
  // A retry of a start that got through (same token) is answered as that
  // start, whether its task still runs or ended meanwhile: it never runs
  // the task a second time.
  auto same_attempt = rec != nullptr && opts.token != 0
                      && opts.token == rec->token;
  // A retry of a start whose task ended, after another start of the same
  // name took the record: answered as that start, never run a second time.
  if (!same_attempt)
    if (auto ended = st.table.ended_start(opts.token))
      if (ended->name == opts.name)
        return *ended;
  if (!same_attempt && unknown_retry(opts, rec))
    return start_after_reading(self, type, args, opts);
  if (same_attempt
      && (!rec->running() || (rec->confirmed && !opts.want_worker)))
    return make_ref(*rec, opts.want_worker);
  if (rec != nullptr && rec->running() && rec->confirmed && !rec->worker)
    return answer_with_worker(self, *rec, same_attempt);
  if (same_attempt && rec->confirmed)
    return make_ref(*rec);
  if (rec != nullptr && rec->running()) {
    if (!rec->confirmed) {
      // Started a moment ago, not confirmed yet: answer with the worker.
      auto rp = self->make_response_promise<task_ref>();
      auto& p = st.pending[opts.name];
      p.epoch = rec->epoch;
      p.waiters.push_back(waiter{rp, opts.token, opts.want_worker});
      return rp;
    }
    return already_running(*rec);
  }
  if (st.ring.empty())
    return make_error(errc::no_orchestrator, "the orchestrator has no members");
  auto& node = st.ring.owner(opts.name);
  auto& target = st.members[node];
  auto next = next_incarnation(self);
  if (!next)
    return make_error(errc::no_orchestrator,
                      "the orchestrator used up its task sequence; the "
                      "cluster elects a new one");
  auto epoch = *next;
  auto& rec_new = st.table.begin(opts.name, node, epoch, opts.token,
                                 opts.callback);
  if (opts.restart != restart_policy::never) {
    // Kept to start it again if its node is lost.
    rec_new.restart = opts.restart;
    rec_new.spec = std::make_shared<const restart_spec>(
      restart_spec{type, args});
  }
  // The registry answers the caller; its report confirms the worker here.
  // If its node dies first, the caller's attempt times out and its retry
  // (same token) finds the name lost and starts it anew.
  note_placed(self, opts.name, epoch);
  return self->delegate(target.registry, spawn_atom::value,
                        spawn_order{opts.name, std::move(type),
                                    std::move(args), std::move(opts.callback),
                                    opts.token, epoch, st.epoch, opts.restart,
                                    1, st.node_gen[node], opts.want_worker,
                                    order_key_for(self, node)});
}

/// A registry asks to keep running its workers ((b) above).
void grant_lease(orchestrator_ptr self, uint64_t epoch, int64_t sent_ns) {
  auto& st = self->state;
  if (epoch != st.epoch || !has_quorum(self))
    return;
  auto m = member_by_registry(
    self, caf::actor_cast<caf::actor_addr>(self->current_sender()));
  // Only to a node the mirror lists ((d): a takeover there knows of it).
  if (m != nullptr && st.ctx->cover->may_lease(m->node, node_time(self)))
    self->send(m->registry, grant_atom::value,
               lease_grant{epoch, sent_ns, st.node_gen[m->node]});
}

/// A registry still follows this orchestrator ((a) above).
void quorum_answer(orchestrator_ptr self, uint64_t epoch, int64_t sent_ns) {
  if (epoch != self->state.epoch)
    return;
  if (auto m = member_by_registry(self, caf::actor_cast<caf::actor_addr>(self->current_sender())))
    quorum_ack(self, m->node,
               clock_type::time_point{std::chrono::nanoseconds{sent_ns}});
  settle_reads(self);
}

/// Sends a restart's spawn order (once a majority of the voters kept that
/// its previous attempt was restarted: (h)).
void send_restart(orchestrator_ptr self, const registry_api& target,
                  spawn_order order) {
  auto name = order.name;
  auto epoch = order.epoch;
  self->request(target, sync_timeout, spawn_atom::value, std::move(order))
    .then(
      [=](task_ref& ref) { confirm_start(self, name, epoch, ref.worker); },
      [](caf::error&) {
        // The registry refused (it also sent `refused`, handled there), or
        // its node is gone too (then that node's fence decides).
      });
}

/// What a fence restarts: the previous attempts, as verdicts, and the
/// spawn orders of the next ones, sent once a majority kept those.
struct restarts {
  std::vector<lost_note> notes;
  std::vector<std::pair<registry_api, spawn_order>> orders;
};

/// Starts again, on the node the ring picks now, every restartable task of
/// `node` (up to `max_epoch`) whose node is surely done with it (edge 7).
restarts restart_lost(orchestrator_ptr self, const std::string& node,
                      const fence& f) {
  auto& st = self->state;
  restarts restarted;
  if (st.ring.empty())
    return restarted;
  std::vector<std::pair<std::string, uint64_t>> todo;
  st.table.for_each(node_time(self), [&](task_record& rec) {
    if (rec.running() && rec.node == node && rec.epoch <= f.max_epoch
        && rec.vouched != f.id && rec.restartable()
        && f.told_later.count(std::make_pair(rec.name, rec.epoch)) == 0)
      todo.emplace_back(rec.name, rec.epoch);
  });
  for (auto& t : todo) {
    auto& target_node = st.ring.owner(t.first);
    auto target = st.members.find(target_node);
    if (target_node == node || target == st.members.end())
      continue; // Not placeable now; declared lost below.
    auto next = next_incarnation(self);
    if (!next)
      return restarted; // Stepping down: the next orchestrator decides.
    auto epoch = *next;
    auto old = st.table.find_running(t.first, t.second);
    if (old == nullptr)
      continue;
    restarted.notes.push_back(
      lost_note{old->status(), caf::actor{}, true, st.epoch});
    auto rec = st.table.restart(t.first, t.second, target_node, epoch);
    count_restart(metrics_of(self));
    publish(self, event_kind::restarted, rec->status());
    settle(self, t.first, t.second, nullptr,
           make_error(errc::node_down, t.first, node));
    log_line{} << "dtask-orchestrator " << st.ctx->name << ": restarting "
               << t.first << " on " << target_node << " (attempt "
               << rec->attempt << ")";
    spawn_order order{rec->name,    rec->spec->type,  rec->spec->args,
                      rec->callback, rec->token, epoch,
                      st.epoch,     rec->restart, rec->attempt,
                      st.node_gen[target_node], false,
                      order_key_for(self, target_node)};
    restarted.orders.emplace_back(target->second.registry, std::move(order));
  }
  return restarted;
}

/// Logs once that the table forgot finished tasks before their TTL: an
/// operator who sees `not_found` early learns which key to raise.
void note_finished_bound(orchestrator_ptr self) {
  auto& st = self->state;
  if (st.finished_bound_logged || st.table.forgotten_early() == 0)
    return;
  st.finished_bound_logged = true;
  log_line{} << "dtask-orchestrator " << st.ctx->name
             << ": max-finished=" << st.ctx->config.max_finished
             << " reached; the oldest finished tasks are forgotten before "
                "finished-ttl";
}

/// "Do you still follow me?" to every voter's registry ((a) above).
void ping_voters(orchestrator_ptr self) {
  auto& st = self->state;
  auto now = mono_ns(node_time(self));
  for (auto& kvp : st.members)
    if (st.voters->is_voter(kvp.first))
      self->send(kvp.second.registry, quorum_atom::value, st.epoch, now);
}

/// A fence that is due: the node's tasks (up to its `max_epoch`, except
/// those vouched for since) are restarted or declared lost, told once a
/// majority of the voters keeps the verdicts ((h)).
void declare_lost(orchestrator_ptr self, const std::string& node,
                  const fence& f) {
  auto& st = self->state;
  auto why = "the node " + node
             + (f.dropped ? " was unreachable for longer than its lease"
                          : " died");
  auto restarted = restart_lost(self, node, f);
  auto notes = std::move(restarted.notes);
  auto lost = st.table.node_lost(node, node_time(self), f.max_epoch, why, f.id);
  ++st.node_gen[node];
  for (auto rec : lost) {
    settle(self, rec->name, rec->epoch, nullptr,
           make_error(errc::node_down, rec->name, rec->node));
    if (f.told_later.count(std::make_pair(rec->name, rec->epoch)) > 0)
      rec->callback = nullptr;
    if (mutated(mutation::lost_told_before_kept))
      deliver_callback(self, *rec);
    else
      notes.push_back(lost_note{rec->status(), rec->callback, false, st.epoch});
  }
  // Told, and restarted, once a majority of the voters keeps them ((h)).
  if (!notes.empty())
    st.restart_orders[open_round(self, std::move(notes), false)]
      = std::move(restarted.orders);
  log_line{} << "dtask-orchestrator " << st.ctx->name << ": " << lost.size()
             << " tasks of " << node << " lost: " << why;
}

/// Whether the outcomes a majority of the voters keep were read for every
/// task fence `f` of `node` would declare lost ((h)); if not, a read of
/// those is sent (one read at a time per fence).
bool outcomes_read(orchestrator_ptr self, const std::string& node, fence& f) {
  if (mutated(mutation::fence_without_reading))
    return true;
  auto& st = self->state;
  std::vector<task_key> unread;
  st.table.for_each(node_time(self), [&](task_record& rec) {
    if (rec.running() && rec.node == node && rec.epoch <= f.max_epoch
        && rec.vouched != f.id
        && f.read.count(std::make_pair(rec.name, rec.epoch)) == 0)
      unread.push_back(task_key{rec.name, rec.epoch});
  });
  if (unread.empty())
    return true;
  if (f.reading == 0) {
    f.reading = st.fence_reads.open(std::move(unread), node_time(self));
    st.reading_fences[f.reading] = std::make_pair(node, f.id);
    send_fence_read(self, f.reading);
  }
  return false;
}

/// Fences whose time came, once what the voters keep of their tasks'
/// outcomes was read.
void run_fences(orchestrator_ptr self) {
  auto& st = self->state;
  if (!outcomes_open(self))
    return;
  auto now = node_time(self);
  for (auto i = st.fences.begin(); i != st.fences.end();) {
    auto& f = i->second;
    if ((f.dropped && now < st.quorum.fence_time(*f.dropped))
        || !outcomes_read(self, i->first, f)) {
      ++i;
      continue;
    }
    declare_lost(self, i->first, f);
    i = st.fences.erase(i);
  }
}

void retry_read_done(orchestrator_ptr self, uint64_t id,
                     const std::vector<lost_note>& found);
void adoption_read_done(orchestrator_ptr self,
                        const std::vector<lost_note>& found);

/// Whether the start of running task `key` was told by a later incarnation
/// of its name (a retry of the same start ran as one) among `found`.
bool told_later(orchestrator_ptr self, const task_key& key,
                const std::vector<lost_note>& found) {
  auto rec = self->state.table.find_running(key.name, key.epoch);
  if (rec == nullptr || rec->token == 0
      || mutated(mutation::told_start_fenced))
    return false;
  for (auto& note : found)
    if (note.status.name == key.name && note.status.epoch > key.epoch
        && note.status.token == rec->token)
      return true;
  return false;
}

/// A majority answered a fence's read: the outcomes found end their tasks,
/// and the fence may go on.
void fence_read_done(orchestrator_ptr self, uint64_t id,
                     end_reads::result& res) {
  auto& st = self->state;
  if (st.retry_reads.count(id) > 0)
    return retry_read_done(self, id, res.found);
  if (id == st.adoption_read)
    return adoption_read_done(self, res.found);
  auto owner = st.reading_fences.find(id);
  if (owner == st.reading_fences.end())
    return;
  auto f = st.fences.find(owner->second.first);
  if (f != st.fences.end() && f->second.id == owner->second.second) {
    for (auto& key : res.keys) {
      f->second.read.emplace(key.name, key.epoch);
      if (told_later(self, key, res.found))
        f->second.told_later.emplace(key.name, key.epoch);
    }
    f->second.reading = 0;
  }
  for (auto& note : res.found)
    adopt_end(self, note);
  st.reading_fences.erase(owner);
  run_fences(self);
}

/// Sends fence read `id` to every voter that did not answer it yet.
void send_fence_read(orchestrator_ptr self, uint64_t id) {
  auto& st = self->state;
  auto r = st.fence_reads.find(id);
  if (r == nullptr)
    return;
  for (auto& kvp : st.members) {
    auto node = kvp.first;
    if (!st.voters->is_voter(node) || r->answered.count(node) > 0)
      continue;
    self->request(kvp.second.registry, sync_timeout, read_ends_atom::value,
                  st.epoch, r->keys)
      .then(
        [=](lost_verdicts& v) {
          auto counts = v.complete || mutated(mutation::forgetful_voter_counts);
          auto res = self->state.fence_reads.answer(id, node, counts,
                                                    std::move(v.notes));
          if (res)
            fence_read_done(self, id, *res);
        },
        [](caf::error&) {
          // Sent again with the read's next turn (`tick`).
        });
  }
}

/// Every lease interval: quorum pings, fences that are due, and (every
/// second) the TTL of finished tasks.
void change_tick(orchestrator_ptr self);

void tick(orchestrator_ptr self) {
  auto& st = self->state;
  auto now = node_time(self);
  ping_voters(self);
  if (st.change)
    return change_tick(self);
  verdicts_tick(self);
  st.read_round_sent = false;
  expire_reads(self);
  expire_stops(self);
  expire_retry_reads(self);
  if (outcomes_open(self) && !st.deferred_outcomes.empty()) {
    auto deferred = std::move(st.deferred_outcomes);
    st.deferred_outcomes.clear();
    st.deferred_keys.clear();
    for (auto& d : deferred) {
      // A member's own outcome too: its registry reports it again, but it
      // may be cut off by then and fenced (the task ended under its lease:
      // restarted or declared lost, it got two callbacks; seed 47). If
      // the previous orchestrator recorded it, the callback is the same.
      std::vector<registry_entry> one{std::move(d.second)};
      merge(self, d.first, one, true);
    }
  }
  run_fences(self);
  if (++st.ticks % 10 == 0)
    st.table.expire(now);
  note_finished_bound(self);
  self->delayed_send(self, lease_interval, tick_atom::value);
}

// -- changes of the voting membership ((i) above) ------------------------------

/// How long a change may take to reach majorities of the old and the new
/// voters; the orchestrator ends itself after it either way.
constexpr auto change_timeout = std::chrono::seconds(5);

/// Answers the change's requester (`err`: not committed) and ends this
/// orchestrator: its configuration is the old one ((i)).
void finish_change(orchestrator_ptr self, const caf::error& err) {
  auto& st = self->state;
  if (err)
    st.change_promise.deliver(err);
  else
    st.change_promise.deliver(st.change->target());
  log_line{} << "dtask-orchestrator " << st.ctx->name << ": voting "
             << "configuration " << st.change->target().epoch
             << (err ? " not committed in time" : " committed")
             << "; epoch " << st.epoch << " steps down";
  self->quit();
}

void change_accepted(orchestrator_ptr self, const std::string& node) {
  auto& st = self->state;
  if (st.change && st.change->accepted(node))
    finish_change(self, caf::none);
}

/// Proposes the change to every member's supervisor (again, each tick,
/// until it is committed: taking it twice is harmless).
void send_proposals(orchestrator_ptr self) {
  auto& st = self->state;
  for (auto& kvp : st.members) {
    auto node = kvp.first;
    self
      ->request(kvp.second.supervisor, sync_timeout, config_atom::value,
                st.change->target())
      .then(
        [=](bool ok) {
          if (ok)
            change_accepted(self, node);
        },
        [](caf::error&) {
          // Proposed again on the next tick.
        });
  }
}

/// While a change is under way this orchestrator grants leases and answers
/// reads, but starts nothing, fences nothing and tells nothing ((i)).
void change_tick(orchestrator_ptr self) {
  auto& st = self->state;
  if (node_time(self) >= st.change_deadline)
    return finish_change(
      self, make_error(errc::no_quorum,
                       "the change did not reach a majority of the old and "
                       "of the new voters within 5 s; it may still take "
                       "effect: see dtask members"));
  send_proposals(self);
  self->delayed_send(self, lease_interval, tick_atom::value);
}

/// Why this orchestrator proposes no change now; none if it can.
caf::error why_no_change(orchestrator_ptr self, bool add,
                         const std::string& node) {
  auto& st = self->state;
  endpoint ep;
  if (node.size() > 255 || !parse_endpoint(node, ep).empty())
    return make_error(errc::invalid_change,
                      escaped(node) + " is no node name of the form host:port");
  if (st.change)
    return make_error(errc::invalid_change,
                      "another change of the voters is under way");
  if (!has_quorum(self) || !outcomes_open(self)
      || (st.quorum.takeover() && node_time(self) < st.quorum.leases_end()))
    return make_error(errc::invalid_change,
                      "the orchestrator " + st.ctx->name
                        + " lacks a majority, or took over less than 3.25 s "
                          "ago; try again");
  if (add && st.members.count(node) == 0)
    return make_error(errc::invalid_change,
                      node + " is not a member: start it with this "
                             "cluster's seeds first");
  return caf::none;
}

/// `dtask members add|remove NODE`: proposes the next configuration.
caf::result<voting_config> change_voters(orchestrator_ptr self, bool add,
                                         const std::string& node) {
  auto& st = self->state;
  if (add == st.voters->is_voter(node))
    return *st.voters; // Done already (a retry of a change that took effect).
  if (auto err = why_no_change(self, add, node))
    return err;
  std::string error;
  auto next = add ? st.voters->with_added(node, st.epoch, error)
                  : st.voters->with_removed(node, st.epoch, error);
  if (!error.empty())
    return make_error(errc::invalid_change, error);
  log_line{} << "dtask-orchestrator " << st.ctx->name << ": proposes voting "
             << "configuration " << next.epoch << ": "
             << (add ? "add " : "remove ") << node;
  st.change = config_change{*st.voters, std::move(next)};
  st.change_deadline = node_time(self) + change_timeout;
  st.change_promise = self->make_response_promise<voting_config>();
  send_proposals(self);
  return st.change_promise;
}

/// In `unaccounted`: members this orchestrator does not know of.
constexpr const char* unknown_members = "*";

/// The nodes the previous orchestrator may have granted a lease to ((d) in
/// the timing argument) whose tasks this one cannot know: each neither
/// answered a sync (then its registry told all it runs and ran) nor
/// mirrored here under a promise that outlasts the old leases. While there
/// are any, a name not in the table may run, or may have ended, there.
/// An orchestrator without a majority cannot know either: a newer one
/// may run on the other side; then the voters it does not hear from are
/// the unaccounted ones. "*" stands for members this one does not know of
/// (no member list of the previous orchestrator reached it).
std::vector<std::string> unaccounted(orchestrator_ptr self) {
  auto& st = self->state;
  if (!has_quorum(self))
    return st.quorum.silent(st.voter_names, node_time(self));
  std::vector<std::string> result;
  if (!st.quorum.takeover())
    return result;
  auto leases_end = st.quorum.leases_end();
  // No member list of the previous orchestrator here: it may have leased
  // to members this one does not know of, until its leases surely ended
  // (`dtask-sim --changes=4`, seed 492: a non-voter's task was not_found).
  if (!st.have_mirrored_lists && node_time(self) < leases_end)
    result.push_back(unknown_members);
  for (auto& node : st.cover_required) {
    auto p = st.cover_promises.find(node);
    if (st.synced.count(node) == 0
        && (p == st.cover_promises.end() || p->second < leases_end))
      result.push_back(node);
  }
  return result;
}

/// The status of `rec`, with its latest progress while it runs.
task_status status_with_progress(orchestrator_ptr self, const task_record& rec) {
  auto result = rec.status();
  result.stale = !has_quorum(self);
  auto p = self->state.progress.find(rec.name);
  if (rec.running() && p != self->state.progress.end()
      && p->second.epoch == rec.epoch)
    result.progress = p->second.progress;
  return result;
}

/// From a member's registry: the latest progress of running tasks; kept
/// for the incarnation that runs (a stale one is dropped).
void progress_reported(orchestrator_ptr self,
                       std::vector<task_progress>& batch) {
  auto& st = self->state;
  auto now = node_time(self);
  for (auto& p : batch) {
    auto rec = st.table.find(p.name, now);
    if (rec == nullptr || !rec->running() || rec->epoch != p.epoch)
      continue;
    st.progress[p.name] = std::move(p);
    if (st.events.subscribers() > 0)
      publish(self, event_kind::progress, status_with_progress(self, *rec));
  }
}

/// The status of `name` in the table, `unknown` while nodes are
/// unaccounted for, else `not_found`.
caf::expected<task_status> status_now(orchestrator_ptr self,
                                      const std::string& name) {
  auto rec = self->state.table.find(name, node_time(self));
  if (rec == nullptr) {
    auto nodes = unaccounted(self);
    if (!nodes.empty())
      return make_error(errc::unknown, name, std::move(nodes));
    return make_error(errc::not_found, name);
  }
  return status_with_progress(self, *rec);
}

/// Answers the reads that a majority confirmed since they arrived: no newer
/// orchestrator held a majority before they arrived (any two majorities
/// share a voter, and a voter that synced with a newer one answers this
/// one no more), so a name unknown here then was started by none.
void settle_reads(orchestrator_ptr self) {
  auto& st = self->state;
  st.reads.settle(st.quorum.confirmed(),
                  [&](const std::string& name, auto& rp) {
                    auto status = status_now(self, name);
                    if (status)
                      rp.deliver(std::move(*status));
                    else
                      rp.deliver(status.error());
                  });
}

/// Reads that no majority confirmed within L: this orchestrator may have
/// been replaced.
void expire_reads(orchestrator_ptr self) {
  auto& st = self->state;
  auto now = node_time(self);
  st.reads.expire(now - lease_duration,
                  [&](const std::string& name, auto& rp) {
                    rp.deliver(make_error(
                      errc::unknown, name,
                      st.quorum.silent(st.voter_names, now)));
                  });
}

/// `stop`s that waited `stop_wait`: answered with the status as it is.
void expire_stops(orchestrator_ptr self) {
  auto& st = self->state;
  auto now = node_time(self);
  for (auto i = st.stops.begin(); i != st.stops.end();) {
    if (i->second.deadline > now) {
      ++i;
      continue;
    }
    auto status = status_now(self, i->first);
    if (status)
      i->second.promise.deliver(std::move(*status));
    else
      i->second.promise.deliver(status.error());
    i = st.stops.erase(i);
  }
}

/// Asks the registry of the task's node to stop its worker, and answers
/// once the outcome (`cancelled`, or what the task ended with first) is
/// recorded (`answer_stops`).
caf::result<task_status> stop_task(orchestrator_ptr self,
                                   const std::string& name) {
  auto& st = self->state;
  auto why = check_name(name);
  if (!why.empty())
    return make_error(errc::invalid_name, cut(name), why);
  if (!has_quorum(self))
    return make_error(errc::no_quorum, "the orchestrator " + st.ctx->name
                                         + " does not reach a majority");
  auto now = node_time(self);
  auto rec = st.table.find(name, now);
  if (rec == nullptr || !rec->running())
    return status_now(self, name);
  auto m = st.members.find(rec->node);
  if (!rec->confirmed || m == st.members.end())
    return make_error(errc::node_down, name, rec->node);
  if (st.stops.size() >= max_pending_reads)
    return make_error(errc::too_many, uint64_t{st.stops.size()},
                      uint64_t{max_pending_reads});
  auto rp = self->make_response_promise<task_status>();
  st.stops.emplace(name, stop_waiter{rec->epoch, rp, now + stop_wait});
  auto who = self->current_sender() != nullptr
               ? caf::to_string(self->current_sender()->address())
               : std::string{"an anonymous sender"};
  // False or no answer: the task ended meanwhile (its outcome comes as
  // any), or its node is gone (the fence decides); `stop_wait` bounds it.
  self
    ->request(m->second.registry, stop_wait, stop_atom::value,
              task_key{name, rec->epoch}, "stopped on request of " + who)
    .then([](bool) {}, [](caf::error&) {});
  return rp;
}

caf::result<task_status> status_of(orchestrator_ptr self,
                                   const std::string& name) {
  auto why = check_name(name);
  if (!why.empty()) // Never a task's name; not echoed back whole.
    return make_error(errc::invalid_name, cut(name), why);
  auto& st = self->state;
  auto now = node_time(self);
  if (st.table.find(name, now) != nullptr || !unaccounted(self).empty())
    return status_now(self, name);
  // `not_found` only once a majority confirmed this orchestrator.
  auto rp = self->make_response_promise<task_status>();
  if (!st.reads.add(name, now, rp))
    return make_error(errc::unknown, name,
                      st.quorum.silent(st.voter_names, now));
  if (!st.read_round_sent) {
    st.read_round_sent = true;
    ping_voters(self);
  }
  return rp;
}

/// A page of the table: at most `q.limit` tasks after `q.after`, and never
/// more than `max-list` (a reply of any size would be unbounded memory here,
/// on the wire and in the caller).
list_page list_page_of(orchestrator_ptr self, const list_query& q) {
  auto max_list = self->state.ctx->config.max_list;
  auto n = q.limit > 0 ? std::min<uint64_t>(q.limit, max_list) : max_list;
  auto stale = !has_quorum(self);
  list_page result;
  auto more = self->state.table.for_each_after(
    q.after, n, node_time(self), [&](task_record& rec) {
      result.tasks.push_back(status_with_progress(self, rec));
      result.tasks.back().stale = stale;
    });
  if (more && !result.tasks.empty())
    result.next = result.tasks.back().name;
  result.unaccounted = unaccounted(self);
  return result;
}

/// Every task in one reply, as before pages existed: only up to `max-list`.
caf::result<std::vector<task_status>> list_tasks(orchestrator_ptr self) {
  auto& st = self->state;
  st.table.expire(node_time(self));
  auto count = static_cast<uint64_t>(st.table.size());
  auto limit = st.ctx->config.max_list;
  if (count > limit)
    return make_error(errc::too_many, count, limit);
  return list_page_of(self, list_query{}).tasks;
}

std::vector<node_info> list_nodes(orchestrator_ptr self) {
  auto& st = self->state;
  std::vector<node_info> result;
  for (auto& kvp : st.members)
    result.push_back(node_info{kvp.first, kvp.second.leaving ? "leaving" : "up",
                               kvp.first == st.ctx->name,
                               st.table.running_on(kvp.first)});
  return result;
}

/// `(watch, subscriber, name)`: events of `name` (all if empty) go to
/// `subscriber` from now on, until it ends.
caf::result<uint64_t> subscribe(orchestrator_ptr self, caf::actor& sub,
                                std::string& name) {
  auto& feed = self->state.events;
  if (!sub)
    return make_error(errc::not_allowed, std::string{"watch without a "
                                                     "subscriber"});
  auto why = name.empty() ? std::string{} : check_name(name);
  if (!why.empty())
    return make_error(errc::invalid_name, cut(name), why);
  switch (feed.subscribe(sub, std::move(name))) {
    case event_feed<caf::actor>::subscription::full:
      return make_error(errc::too_many, uint64_t{feed.subscribers()},
                        uint64_t{max_event_subscribers});
    case event_feed<caf::actor>::subscription::added:
      self->monitor(sub);
      break;
    default:
      break;
  }
  set_watchers(metrics_of(self), feed.subscribers());
  return feed.last_seq();
}

/// A subscriber ended (its process too, perhaps): it gets no more events.
void subscriber_down(orchestrator_ptr self, const caf::down_msg& dm) {
  if (self->state.events.unsubscribe(dm.source))
    set_watchers(metrics_of(self), self->state.events.subscribers());
}

/// A registry refused a spawn order (its catalog lacks the type, or this
/// orchestrator is outdated); the caller got the error already.
void order_refused(orchestrator_ptr self, const refused_order& x) {
  auto& st = self->state;
  auto rec = st.table.find(x.name, node_time(self));
  if (rec != nullptr && rec->epoch == x.epoch
      && (rec->attempt > 1 || rec->confirmed)) {
    // A restart that could not run, or a start this orchestrator learned
    // from a registry's sync (a retry of it may have been answered as
    // running): the task ends lost, says why, and its callback is told.
    auto why = rec->attempt > 1 ? "lost with its node; the restart failed: "
                                : "the start failed: ";
    auto ended = st.table.finish(x.name, x.epoch, task_state::lost, {},
                                 why + self->system().render(x.reason),
                                 node_time(self));
    // A verdict like a fence's: told once a majority keeps it ((h)); a
    // later orchestrator rebuilt from a mirror that still shows the task
    // must not restart it and tell its start `done` (seed 183).
    if (ended != nullptr && mutated(mutation::lost_told_before_kept))
      deliver_callback(self, *ended);
    else if (ended != nullptr)
      open_round(self,
                 {lost_note{ended->status(), ended->callback, false, st.epoch}},
                 false);
    return;
  }
  st.table.abort(x.name, x.epoch);
  st.placed.erase(x.name);
  settle(self, x.name, x.epoch, nullptr, x.reason);
}

/// Serves once every member's registry and the mirrored member lists
/// answered (or failed). Every node the previous orchestrator may have
/// leased to must have answered the sync (a member that did not is no
/// better than an unreachable one), or be a node whose starts were mirrored
/// here, for unknown names to start at once.
void go_live(orchestrator_ptr self) {
  auto& st = self->state;
  if (st.live || !st.syncing.empty())
    return;
  st.live = true;
  st.fresh_round = false;
  st.cover = coverage::decide(st.have_mirrored_lists, st.cover_required,
                              st.synced, st.cover_promises);
  if (st.quorum.takeover() && !st.cover.covered)
    log_line{} << "dtask-orchestrator " << st.ctx->name
               << ": unknown names wait until the previous orchestrator's "
                  "leases surely ended";
  self->set_default_handler(drop_unexpected);
}

/// Which nodes the previous orchestrator may have granted leases to ((d)
/// in the timing argument): the voters, the member lists mirrored to this
/// node, with their origins' promises, and the list this node's registry
/// mirrors (an orchestrator here before this one leased to those).
void learn_mirrored_members(orchestrator_ptr self,
                            std::vector<mirrored_members>& lists) {
  auto& st = self->state;
  st.cover_required.insert(st.voter_names.begin(), st.voter_names.end());
  auto now = node_time(self);
  for (auto& l : lists) {
    auto promised = clock_type::time_point{
      std::chrono::nanoseconds{l.promised_until}};
    if (l.promised_until > 0 && promised > now)
      st.cover_promises.emplace(l.origin, promised);
    st.cover_required.insert(l.origin);
    st.cover_required.insert(l.members.begin(), l.members.end());
  }
  // The list of this node's own registry (an earlier orchestrator here, as
  // after a change of the voters) adds to the nodes required, but says
  // nothing of an orchestrator elsewhere.
  st.have_mirrored_lists = std::any_of(
    lists.begin(), lists.end(),
    [&](const mirrored_members& l) { return l.origin != st.ctx->name; });
}

/// Syncs every member and asks this node's registry for the mirrored member
/// lists; goes live once all answered.
void start_syncing(orchestrator_ptr self, const std::vector<member>& members) {
  auto& st = self->state;
  for (auto& m : members) {
    auto node = m.node;
    sync_member(self, m, [=] {
      self->state.syncing.erase(node);
      go_live(self);
    });
  }
  const char* mirror_key = "(mirrored members)";
  st.syncing.insert(mirror_key);
  auto own = st.members.find(st.ctx->name);
  auto own_registry = own != st.members.end() ? own->second.registry
                                              : registry_api{};
  self
    ->request(own_registry, sync_timeout, mirrored_atom::value)
    .then(
      [=](std::vector<mirrored_members>& lists) {
        learn_mirrored_members(self, lists);
        self->state.syncing.erase(mirror_key);
        go_live(self);
      },
      [=](caf::error&) {
        self->state.syncing.erase(mirror_key);
        go_live(self);
      });
}

/// The majority came back after it lapsed: a newer orchestrator may have
/// held one meanwhile (the timing argument, (g)), so this one starts over
/// as a takeover at T = now: it syncs every member again, learns the
/// mirrored member lists again, and goes live once all answered.
void sync_again(orchestrator_ptr self) {
  auto& st = self->state;
  st.live = false;
  st.synced.clear();
  st.cover = coverage{};
  st.cover_required.clear();
  st.cover_promises.clear();
  st.have_mirrored_lists = false;
  st.verdicts.restart_takeover();
  std::vector<member> members;
  for (auto& kvp : st.members) {
    st.syncing.insert(kvp.first);
    members.push_back(kvp.second);
  }
  self->set_default_handler(caf::skip);
  start_syncing(self, members);
}

/// Sets up a new orchestrator of round `epoch` over `members`.
void init(orchestrator_ptr self, node_context_ptr ctx, uint64_t epoch,
          const std::vector<member>& members,
          std::shared_ptr<const voting_config> voters) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.voters = std::move(voters);
  st.voter_names = st.voters->names();
  st.epoch = epoch;
  st.secret = derive_key(st.ctx->secret, std::to_string(epoch));
  st.seq = first_task_sequence;
  st.table = task_table{st.ctx->config.finished_ttl,
                        st.ctx->config.max_finished};
  std::vector<std::string> names;
  for (auto& m : members) {
    if (!m.leaving)
      names.push_back(m.node);
    st.syncing.insert(m.node);
    st.member_registries.insert(m.registry.address());
    st.members.emplace(m.node, m);
  }
  st.ring.assign(std::move(names));
  // A takeover unless this is the first round of elections (elected only
  // by a node that sees every voter, none of which knows an epoch: (e)).
  st.quorum = quorum_tracker{st.voters->quorum(), (epoch >> 8) > 1};
  st.verdicts = verdict_rounds{st.voters->quorum(), st.quorum.takeover(), epoch};
  st.fresh_round = !st.quorum.takeover();
  st.outcomes = outcome_rounds<outcome_told>{st.voters->quorum(), epoch};
  st.fence_reads = end_reads{st.voters->quorum()};
}

// -- guarded handlers: each checks who may send its message and whether it
// -- waits until this orchestrator is live (requests wait in the mailbox) ---

template <class F>
caf::result<void> when_live(orchestrator_ptr self, F f) {
  if (!self->state.live)
    return caf::skip;
  f();
  return caf::unit;
}

caf::result<void> on_refused(orchestrator_ptr self, const refused_order& x) {
  if (!from_member_registry(self))
    return refuse_sender(self, "refused");
  return when_live(self, [&] { order_refused(self, x); });
}

caf::result<void> on_report(orchestrator_ptr self,
                            std::vector<registry_entry>& entries) {
  if (!from_member_registry(self))
    return refuse_sender(self, "report");
  auto from = caf::actor_cast<registry_api>(self->current_sender());
  return when_live(self, [&] { merge(self, from, entries); });
}

caf::result<void> on_flush(orchestrator_ptr self) {
  return when_live(self, [&] {
    if (from_self(self))
      flush(self);
  });
}

void on_peers(orchestrator_ptr self, std::vector<member>& members) {
  if (!from_local(self))
    return void(refuse_sender(self, "peers"));
  set_members(self, members);
  go_live(self);
}

void on_lease(orchestrator_ptr self, uint64_t epoch, int64_t sent_ns) {
  if (!from_member_registry(self))
    return void(refuse_sender(self, "lease"));
  grant_lease(self, epoch, sent_ns);
}

void on_progress(orchestrator_ptr self, std::vector<task_progress>& batch) {
  if (!from_member_registry(self))
    return void(refuse_sender(self, "progress"));
  progress_reported(self, batch);
}

void on_follow(orchestrator_ptr self, uint64_t epoch, int64_t sent_ns) {
  if (!from_member_registry(self))
    return void(refuse_sender(self, "follow"));
  quorum_answer(self, epoch, sent_ns);
}

/// Until every member answered (`live`), requests and reports wait in the
/// mailbox; leases are granted meanwhile (workers must not stop because of a
/// failover).
orchestrator_internal_api::behavior_type
orchestrator(orchestrator_ptr self, node_context_ptr ctx, uint64_t epoch,
             std::vector<member> members,
             std::shared_ptr<const voting_config> voters) {
  init(self, std::move(ctx), epoch, members, std::move(voters));
  start_syncing(self, members);
  self->send(self, tick_atom::value);
  self->set_default_handler(caf::skip);
  self->set_down_handler([=](caf::down_msg& dm) { subscriber_down(self, dm); });
  auto not_live = [self]() -> bool { return !self->state.live; };
  return {
    [=](start_atom, std::string& type, caf::message& args,
        start_options& opts) -> caf::result<task_ref> {
      if (not_live())
        return caf::skip;
      return counted(self, start(self, type, args, opts));
    },
    [=](stop_atom, const std::string& name) { return stop_task(self, name); },
    [=](status_atom, const std::string& name) -> caf::result<task_status> {
      if (not_live())
        return caf::skip;
      return status_of(self, name);
    },
    [=](list_atom, const list_query& q) -> caf::result<list_page> {
      if (not_live())
        return caf::skip;
      return list_page_of(self, q);
    },
    [=](list_atom) -> caf::result<std::vector<task_status>> {
      if (not_live())
        return caf::skip;
      return list_tasks(self);
    },
    [=](nodes_atom) -> caf::result<std::vector<node_info>> {
      if (not_live())
        return caf::skip;
      return list_nodes(self);
    },
    [=](watch_atom, caf::actor& sub, std::string& name) {
      return subscribe(self, sub, name);
    },
    [=](events_atom, const event_query& q) {
      return self->state.events.latest(q);
    },
    [=](members_atom, add_voter_atom,
        const std::string& node) -> caf::result<voting_config> {
      if (not_live())
        return caf::skip;
      return change_voters(self, true, node);
    },
    [=](members_atom, remove_voter_atom,
        const std::string& node) -> caf::result<voting_config> {
      if (not_live())
        return caf::skip;
      return change_voters(self, false, node);
    },
    [=](refused_atom, const refused_order& x) { return on_refused(self, x); },
    [=](report_atom, std::vector<registry_entry>& entries) {
      return on_report(self, entries);
    },
    [=](flush_atom) { return on_flush(self); },
    [=](peers_atom, std::vector<member>& ms) { on_peers(self, ms); },
    [=](tick_atom) {
      if (from_self(self))
        tick(self);
    },
    [=](resync_atom, const member& m) {
      if (from_self(self))
        resync(self, m);
    },
    [=](lease_atom, uint64_t e, int64_t sent) { on_lease(self, e, sent); },
    [=](progress_atom, std::vector<task_progress>& batch) {
      on_progress(self, batch);
    },
    [=](follow_atom, uint64_t e, int64_t sent) { on_follow(self, e, sent); },
  };
}

} // namespace

orchestrator_internal_api spawn_orchestrator(
  caf::actor_system& sys, node_context_ptr ctx, uint64_t epoch,
  std::vector<member> members, std::shared_ptr<const voting_config> voters) {
  return sys.spawn(orchestrator, std::move(ctx), epoch, std::move(members),
                   std::move(voters));
}

} // namespace dtask
