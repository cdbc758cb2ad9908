// The supervisor actor: one per node, published on the node's `host:port`.
// A thin shell: the logic sits in plain classes (dtask/membership.hpp: the
// members, stalls, joins; dtask/election.hpp: whether to elect, epochs, the
// pre-vote), and the functions here wire them to messages.
//
// Membership: it connects to its seeds (skipping its own address), sends
// `join`, and learns the members its peers know; it connects to each of
// them in turn, so every node ends up connected to every live member,
// whichever seed it joined through. It monitors every peer's supervisor: a
// down message (process death, or a missed heartbeat for a hung peer) removes
// the member. Seeds that are not members are retried every retry interval,
// which is also how a restarted node is found again.
//
// Election: every supervisor monitors the orchestrator it follows. When it
// dies, the live voter (a node of the `seeds` list) with the smallest name
// starts a new one with the next epoch and announces it, if it sees a strict
// majority of the voters (every voter, if it knows no epoch: a voter it
// cannot see may remember the last one, see election.hpp); the others adopt
// the announcement. A side without
// a majority elects nobody and answers starts with `no_quorum` (the
// orchestrator's own majority check, based on leases, is what makes this
// safe: see orchestrator.cpp). Conflicting orchestrators (two that started
// while the nodes could not see each other) resolve by `supersedes`: the
// higher epoch wins, then the smaller node name.

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors.hpp"
#include "metrics.hpp"
#include "node_actor.hpp"
#include "dtask/election.hpp"
#include "dtask/errors.hpp"
#include "dtask/membership.hpp"
#include "dtask/names.hpp"

namespace dtask {

namespace {

/// Bound on one connect or join attempt.
constexpr auto join_timeout = std::chrono::seconds(2);

/// Bound on one peer's answer to a pre-vote.
constexpr auto prevote_timeout = std::chrono::milliseconds(300);

struct supervisor_state {
  node_context_ptr ctx;
  /// Peers, stalls and the orchestrator that went down.
  membership members;
  /// Connects and joins under way, and the first round of seeds.
  join_attempts joins;
  /// The highest orchestrator epoch seen.
  seen_epochs epochs;
  /// True while a pre-vote (see `should_elect`) is under way.
  bool prevoting = false;
  /// Set by the first `(join)`: joining (and its timers) starts once.
  bool joining = false;
  /// Epochs refused as impossible (see `valid_epoch`); logged once.
  uint64_t refused_epochs = 0;
  /// Joins refused by their dial-back; only the first is logged.
  uint64_t refused_joins = 0;
  /// The orchestrator this node follows.
  orchestrator_ref orchestrator;
  /// How many orchestrators this node followed (the failover metric).
  uint64_t adopted = 0;
  /// This node was a voter of the configuration it had before: removed
  /// from it, it leaves the cluster.
  bool was_voter = false;
  /// The orchestrator this node runs, if any.
  orchestrator_internal_api local_orchestrator;
  /// A copy of `local_orchestrator` for the exit functor.
  std::shared_ptr<orchestrator_internal_api> orchestrator_slot;
  /// Where the local registry mirrors its entries: while this node runs the
  /// orchestrator, the registry of the member that would be elected next.
  registry_api mirror_target;

  static const char* name;
};

const char* supervisor_state::name = "dtask.supervisor";

using supervisor_ptr = typed_node_actor<supervisor_state, supervisor_api>*;

/// Now, on this node's clock.
clock_type::time_point node_time(supervisor_ptr self) {
  return self->state.ctx->now(self->clock());
}

const std::string& own_name(supervisor_ptr self) {
  return self->state.ctx->name;
}

cluster_view view(supervisor_ptr self) {
  auto& st = self->state;
  return cluster_view{st.members.all_members(), st.orchestrator,
                      st.epochs.highest(), *st.ctx->voters()};
}

/// Why this node cannot name an orchestrator; no error if it can.
caf::error why_no_orchestrator(supervisor_ptr self) {
  auto& st = self->state;
  if (st.orchestrator.handle)
    return caf::none;
  if (!st.members.sees_majority())
    return make_error(errc::no_quorum,
                      "the node " + own_name(self)
                        + " does not reach a majority of the cluster's "
                          "members");
  return make_error(errc::no_orchestrator,
                    "the cluster is electing an orchestrator");
}

node_metrics* metrics_of(supervisor_ptr self) {
  return self->state.ctx->metrics.get();
}

/// Public requests sent to a node: handed to the orchestrator.
template <class Reply, class... Ts>
caf::result<Reply> forward_or_fail(supervisor_ptr self, Ts&&... xs) {
  if (auto err = why_no_orchestrator(self))
    return err;
  return self->delegate(self->state.orchestrator.handle,
                        std::forward<Ts>(xs)...);
}

/// A start sent to this node: handed to the orchestrator, or refused (and
/// counted) without one.
caf::result<task_ref> forward_start(supervisor_ptr self, std::string& type,
                                    caf::message& args, start_options& opts) {
  if (auto err = why_no_orchestrator(self)) {
    count_start_refused(metrics_of(self), code_name(err));
    return err;
  }
  return self->delegate(self->state.orchestrator.handle, start_atom::value,
                        std::move(type), std::move(args), std::move(opts));
}

// -- the orchestrator -------------------------------------------------------

void update_mirror(supervisor_ptr self) {
  auto& st = self->state;
  set_orchestrator_here(metrics_of(self), static_cast<bool>(st.local_orchestrator));
  if (!st.local_orchestrator)
    set_watchers(metrics_of(self), 0);
  if (st.orchestrator_slot)
    *st.orchestrator_slot = st.local_orchestrator;
  registry_api target;
  if (st.local_orchestrator)
    if (auto next = st.members.next_voter())
      target = next->registry;
  if (target != st.mirror_target) {
    st.mirror_target = target;
    self->send(st.members.self().registry, mirror_to_atom::value,
               mirror_target{target});
  }
}

void push_members(supervisor_ptr self) {
  auto& st = self->state;
  set_members_up(metrics_of(self), st.members.peers().size() + 1);
  // The registry checks syncs against them.
  self->send(st.members.self().registry, peers_atom::value,
             st.members.all_members());
  if (st.local_orchestrator) {
    self->send(st.local_orchestrator, peers_atom::value,
               st.members.all_members());
    // Mirrored with the registry's entries: the next orchestrator learns
    // which nodes this one may grant leases to.
    self->send(st.members.self().registry, own_members_atom::value,
               st.members.names());
  }
  update_mirror(self);
}

void stop_local_orchestrator(supervisor_ptr self) {
  auto& st = self->state;
  self->send_exit(st.local_orchestrator, caf::exit_reason::user_shutdown);
  st.local_orchestrator = nullptr;
}

/// Forgets the orchestrator this node follows (and stops it if it runs
/// here).
void drop_orchestrator(supervisor_ptr self) {
  auto& st = self->state;
  if (st.local_orchestrator)
    stop_local_orchestrator(self);
  if (st.orchestrator.handle)
    self->demonitor(st.orchestrator.handle.address());
  st.orchestrator = orchestrator_ref{};
  update_mirror(self);
}

/// Records that an orchestrator of epoch `epoch` existed; the one this node
/// follows steps down if that makes it outdated (see `seen_epochs`).
/// False (and a log line, the first time) for an epoch no orchestrator of
/// this cluster can have (see `valid_epoch`): a bug, or a peer that lies.
bool plausible_epoch(supervisor_ptr self, uint64_t epoch,
                     const std::string* node = nullptr) {
  auto& st = self->state;
  if (valid_epoch(epoch, *st.ctx->voters(), node))
    return true;
  if (st.refused_epochs++ == 0)
    log_line{true} << "dtask-node " << own_name(self)
                   << ": refused an impossible orchestrator epoch " << epoch
                   << (node != nullptr ? " of " + escaped(*node) : "")
                   << " (logged once)";
  return false;
}

void note_epoch(supervisor_ptr self, uint64_t epoch) {
  auto& st = self->state;
  if (!plausible_epoch(self, epoch))
    return;
  if (!st.epochs.note(epoch))
    return;
  st.ctx->voting->note_epoch(epoch);
  if (!st.orchestrator.handle
      || !st.epochs.outdated(st.orchestrator.epoch))
    return;
  log_line{} << "dtask-node " << own_name(self) << ": orchestrator "
             << st.orchestrator.node << " epoch " << st.orchestrator.epoch
             << " is outdated (epoch " << epoch << " existed)";
  drop_orchestrator(self);
}

void adopt(supervisor_ptr self, orchestrator_ref ref) {
  auto& st = self->state;
  if (st.members.reported_dead(ref.handle, node_time(self)))
    return; // Stale news from a peer that did not notice its death yet.
  if (!st.ctx->voting->adopt(ref.config))
    return; // Of an older configuration, or one this node may not take.
  if (!plausible_epoch(self, ref.epoch, &ref.node))
    return;
  if (st.epochs.outdated(ref.epoch))
    return; // Outdated (see seen_epochs).
  if (st.orchestrator.handle)
    self->demonitor(st.orchestrator.handle.address());
  if (st.local_orchestrator && st.local_orchestrator != ref.handle)
    stop_local_orchestrator(self);
  if (st.epochs.note(ref.epoch))
    st.ctx->voting->note_epoch(ref.epoch);
  if (st.adopted++ > 0)
    count_failover(metrics_of(self));
  st.orchestrator = std::move(ref);
  self->monitor(st.orchestrator.handle);
  log_line{} << "dtask-node " << own_name(self) << ": orchestrator "
             << st.orchestrator.node << " epoch " << st.orchestrator.epoch;
  for (auto& kvp : st.members.peers())
    self->send(kvp.second.supervisor, orch_atom::value, st.orchestrator);
  update_mirror(self);
}

void adopt_if_newer(supervisor_ptr self, orchestrator_ref ref) {
  if (supersedes(ref, self->state.orchestrator))
    adopt(self, std::move(ref));
}

/// The orchestrator this node follows went down.
void orchestrator_down(supervisor_ptr self, const caf::actor_addr& source) {
  auto& st = self->state;
  log_line{} << "dtask-node " << own_name(self) << ": orchestrator "
             << st.orchestrator.node << " down";
  st.members.orchestrator_down(st.orchestrator.handle, node_time(self));
  st.orchestrator = orchestrator_ref{};
  if (st.local_orchestrator && source == st.local_orchestrator.address())
    st.local_orchestrator = nullptr;
  update_mirror(self);
}

// -- the election -----------------------------------------------------------

void elect(supervisor_ptr self, bool prevoted = false);

/// Asks every peer whom it follows, adopts the best answer, then decides
/// again (see `election_verdict::prevote_first`).
void prevote(supervisor_ptr self) {
  auto& st = self->state;
  st.prevoting = true;
  auto tally = std::make_shared<prevote_tally>(st.members.peers().size());
  auto finish = [=] {
    self->state.prevoting = false;
    adopt_if_newer(self, tally->best());
    elect(self, true);
  };
  for (auto& kvp : st.members.peers())
    self->request(kvp.second.supervisor, prevote_timeout, whereis_atom::value)
      .then(
        [=](orchestrator_ref& ref) {
          auto dead = self->state.members.reported_dead(ref.handle,
                                                        node_time(self));
          if (dead ? tally->record_no_answer() : tally->record(std::move(ref)))
            finish();
        },
        [=](caf::error&) {
          if (tally->record_no_answer())
            finish();
        });
}

/// Starts a new orchestrator here and announces it.
void start_orchestrator(supervisor_ptr self) {
  auto& st = self->state;
  auto voters = st.ctx->voters();
  auto own = voters->find(own_name(self));
  if (own == nullptr)
    return; // Not a voter any more (should_elect saw an older view).
  auto epoch = next_epoch(st.epochs.highest(), own->slot);
  std::string error;
  if (!st.ctx->voting->note_epoch(epoch, &error)) {
    log_line{true} << "dtask-node " << own_name(self)
                   << ": cannot keep epoch " << epoch << ": " << error;
    return; // Elected again on the next tick.
  }
  st.local_orchestrator = spawn_orchestrator(self->system(), st.ctx, epoch,
                                             st.members.all_members(), voters);
  count_election(metrics_of(self));
  adopt(self, orchestrator_ref{st.local_orchestrator, own_name(self), epoch,
                               *voters});
  push_members(self);
}

/// Starts a new orchestrator here, or a pre-vote first, if `should_elect`
/// says so.
void elect(supervisor_ptr self, bool prevoted) {
  auto& st = self->state;
  election_view v{st.members};
  v.has_orchestrator = static_cast<bool>(st.orchestrator.handle);
  v.first_round_done = st.joins.first_round_done();
  v.prevoting = st.prevoting;
  v.prevoted = prevoted;
  v.last_epoch = st.epochs.highest();
  switch (should_elect(v, node_time(self))) {
    case election_verdict::elect:
      start_orchestrator(self);
      break;
    case election_verdict::prevote_first:
      prevote(self);
      break;
    default:
      break; // A later event or tick decides again.
  }
}

// -- members ----------------------------------------------------------------

void remove_peer(supervisor_ptr self, const std::string& node) {
  auto removed = self->state.members.remove(node, node_time(self));
  if (!removed)
    return;
  self->demonitor(removed->supervisor.address());
  log_line{} << "dtask-node " << own_name(self) << ": member " << node
             << " down";
  push_members(self);
}

void add_peer(supervisor_ptr self, const member& m) {
  auto& st = self->state;
  switch (st.members.admit(m)) {
    case admission::ignore:
    case admission::known:
      return;
    case admission::restarted:
      remove_peer(self, m.node);
      break;
    case admission::new_peer:
      break;
  }
  self->monitor(m.supervisor);
  st.members.add(m);
  // Two sides that elected apart meet here: tell the newcomer whom this node
  // follows; `supersedes` makes both sides settle on the same orchestrator.
  if (st.orchestrator.handle)
    self->send(m.supervisor, orch_atom::value, st.orchestrator);
  log_line{} << "dtask-node " << own_name(self) << ": member " << m.node
             << " up";
  push_members(self);
}

void on_down(supervisor_ptr self, const caf::down_msg& dm) {
  auto& st = self->state;
  if (st.orchestrator.handle && dm.source == st.orchestrator.handle.address())
    orchestrator_down(self, dm.source);
  if (auto peer = st.members.peer_by_supervisor(dm.source))
    remove_peer(self, *peer);
  elect(self);
}

/// The peer `node` announced its leave.
void peer_leaving(supervisor_ptr self, const std::string& node) {
  if (!self->state.members.mark_leaving(node))
    return;
  log_line{} << "dtask-node " << own_name(self) << ": member " << node
             << " is leaving";
  push_members(self);
  elect(self);
}

/// A peer joins this node: it learns this node's view, and this node learns
/// the highest epoch it saw.
cluster_view on_join(supervisor_ptr self, const member& m,
                     uint64_t last_epoch) {
  note_epoch(self, last_epoch);
  add_peer(self, m);
  auto result = view(self);
  elect(self); // If the news made this node's orchestrator step down.
  return result;
}

/// A join from a supervisor that is not a peer yet (or replaces one): its
/// address is dialed back first, and it becomes a member only if that
/// address publishes the very supervisor that joins. A peer cannot join in
/// the name of another node (and drop it as if it had restarted), nor in
/// the name of an address where nothing of it listens.
caf::result<cluster_view> join_requested(supervisor_ptr self, member m,
                                         uint64_t last_epoch) {
  auto& st = self->state;
  auto admission = st.members.admit(m);
  if (admission == admission::ignore || admission == admission::known)
    return on_join(self, m, last_epoch);
  auto limit = st.ctx->config.max_members;
  if (admission == admission::new_peer && st.members.peers().size() + 1 >= limit)
    return make_error(errc::capacity, own_name(self), limit);
  // Epochs only grow: noted whatever the dial-back says (a node that missed
  // one could elect with it again).
  note_epoch(self, last_epoch);
  endpoint ep;
  if (!parse_endpoint(m.node, ep).empty())
    return refuse_sender(self, "join");
  auto rp = self->make_response_promise<cluster_view>();
  auto refuse = [=](const char* why) mutable {
    if (self->state.refused_joins++ == 0)
      log_line{true} << "dtask-node " << own_name(self)
                     << ": refused a join as " << escaped(m.node) << ": "
                     << why << " (logged once)";
    rp.deliver(make_error(errc::not_allowed, "join", std::string{why}));
  };
  self
    ->request(st.ctx->connector, join_timeout, caf::connect_atom::value,
              ep.host, ep.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& published,
          const std::set<std::string>&) mutable {
        if (published == nullptr
            || published->address() != m.supervisor.address())
          return refuse("its address publishes another supervisor");
        rp.deliver(on_join(self, m, last_epoch));
      },
      [=](caf::error&) mutable { refuse("its address does not answer"); });
  return rp;
}

// -- joining ----------------------------------------------------------------

void try_connect(supervisor_ptr self, const std::string& node,
                 bool first_round = false);

void merge_view(supervisor_ptr self, cluster_view& v) {
  auto& st = self->state;
  st.ctx->voting->adopt(v.config);
  note_epoch(self, v.last_epoch);
  for (auto& m : v.members)
    if (m.node != own_name(self) && !st.members.has_peer(m.node))
      try_connect(self, m.node);
  adopt_if_newer(self, std::move(v.orchestrator));
  if (!st.orchestrator.handle)
    elect(self);
}

void first_round_step(supervisor_ptr self) {
  if (self->state.joins.first_round_step())
    elect(self);
}

/// Sends `join` to `peer`, the supervisor of `node`, and merges the answer;
/// calls `finish` in the end.
template <class Finish>
void send_join(supervisor_ptr self, const supervisor_api& peer,
               const std::string& node, Finish finish) {
  auto& st = self->state;
  self
    ->request(peer, join_timeout, join_atom::value, st.members.self(),
              st.epochs.highest())
    .then(
      [=](cluster_view& v) {
        for (auto& m : v.members)
          if (m.node == node)
            add_peer(self, m);
        merge_view(self, v);
        // The peer is behind: tell it (it may not elect without it).
        auto& own = *self->state.ctx->voters();
        if (newer(own, v.config))
          self->send(peer, newer_config_atom::value, own_name(self), own);
        finish();
      },
      [=](caf::error&) { finish(); });
}

/// Connects to `node` ("host:port"), sends `join`, merges the answer.
/// `first_round` marks the initial seed attempts.
void try_connect(supervisor_ptr self, const std::string& node,
                 bool first_round) {
  auto& st = self->state;
  endpoint ep;
  if (!parse_endpoint(node, ep).empty() || node == own_name(self)
      || !st.joins.begin(node)) {
    if (first_round)
      first_round_step(self);
    return;
  }
  auto finish = [=] {
    self->state.joins.end(node);
    if (first_round)
      first_round_step(self);
  };
  self
    ->request(st.ctx->connector, join_timeout, caf::connect_atom::value,
              ep.host, ep.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (ptr)
          send_join(self, caf::actor_cast<supervisor_api>(ptr), node, finish);
        else
          finish();
      },
      [=](caf::error&) { finish(); });
}

/// From start_node, once the node listens: the watchdog, the first round of
/// seeds, the retry tick.
void start_joining(supervisor_ptr self) {
  auto& st = self->state;
  if (st.joining)
    return; // Once: each call would start more timer chains.
  st.joining = true;
  st.members.start_watchdog(node_time(self));
  self->delayed_send(self, watchdog_interval, watchdog_atom::value);
  std::vector<std::string> seeds;
  for (auto& ep : st.ctx->config.seeds)
    if (ep.to_string() != own_name(self))
      seeds.push_back(ep.to_string());
  st.joins.start_first_round(seeds.size());
  if (seeds.empty())
    elect(self);
  for (auto& seed : seeds)
    try_connect(self, seed, true);
  self->delayed_send(self, st.ctx->config.retry_interval, tick_atom::value);
}

/// Every retry interval: find the orchestrator if this node has none,
/// connect to the seeds that are not members, and decide on an election.
void on_tick(supervisor_ptr self) {
  auto& st = self->state;
  // Without an orchestrator (e.g. announcements of one that looked dead
  // were ignored), ask the peers whom they follow.
  if (!st.orchestrator.handle)
    for (auto& kvp : st.members.peers())
      self->request(kvp.second.supervisor, join_timeout, whereis_atom::value)
        .then(
          [=](orchestrator_ref& ref) { adopt_if_newer(self, std::move(ref)); },
          [](caf::error&) {});
  for (auto& ep : st.ctx->config.seeds) {
    auto node = ep.to_string();
    if (!st.members.has_peer(node))
      try_connect(self, node);
  }
  for (auto& v : st.ctx->voters()->voters)
    if (!st.members.has_peer(v.node))
      try_connect(self, v.node);
  elect(self);
  self->delayed_send(self, st.ctx->config.retry_interval, tick_atom::value);
}

/// Every `watchdog_interval`: detect a stall (see membership.hpp).
void on_watchdog(supervisor_ptr self) {
  auto& st = self->state;
  if (auto gap = st.members.watchdog_tick(node_time(self))) {
    // The cluster may have replaced this node's orchestrator while it
    // stood still; one that kept running on a stale view could place
    // starts on this node alone. It steps down; the node rejoins.
    if (st.local_orchestrator)
      drop_orchestrator(self);
    log_line{} << "dtask-node " << own_name(self) << ": stalled for "
               << std::chrono::duration_cast<std::chrono::milliseconds>(*gap)
                    .count()
               << " ms; rejoining as a follower";
  }
  self->delayed_send(self, watchdog_interval, watchdog_atom::value);
}

// -- the voting configuration -------------------------------------------------

/// The node's configuration changed: elect with it; stop following an
/// orchestrator of an older one, unless that one proposed this change (it
/// collects the other answers, then ends itself: orchestrator.cpp (i)). A
/// voter that is no longer one leaves the cluster, as on SIGTERM.
void config_changed(supervisor_ptr self) {
  if (!from_self(self))
    return void(refuse_sender(self, "config"));
  auto& st = self->state;
  auto voters = st.ctx->voters();
  st.members.set_voters(voters->names());
  log_line{} << "dtask-node " << own_name(self) << ": voting configuration "
             << voters->epoch << " (" << voters->voters.size() << " voters)";
  auto& o = st.orchestrator;
  if (o.handle && o.config != *voters && o.epoch != voters->by) {
    if (st.local_orchestrator)
      stop_local_orchestrator(self);
    drop_orchestrator(self);
  }
  push_members(self);
  auto voter = voters->is_voter(own_name(self));
  if (st.was_voter && !voter && !st.members.leaving() && st.ctx->on_removed) {
    log_line{} << "dtask-node " << own_name(self)
               << ": removed from the voters; leaving the cluster";
    st.ctx->on_removed();
  }
  st.was_voter = voter;
  elect(self);
}

/// An orchestrator this node follows proposes `x`: taken (and kept in the
/// state directory) unless this voter's store has not caught up with the
/// current configuration yet, or `x` may not follow it.
caf::result<bool> config_proposed(supervisor_ptr self, voting_config& x) {
  auto& st = self->state;
  auto& sender = self->current_sender();
  if (!st.orchestrator.handle || sender == nullptr
      || sender->address() != st.orchestrator.handle.address()
      || x.by != st.orchestrator.epoch || !check(x).empty())
    return refuse_sender(self, "config");
  if (st.ctx->is_voter(own_name(self)) && !st.ctx->voting->caught_up()
      && x != *st.ctx->voters())
    return make_error(errc::no_quorum, "the voter " + own_name(self)
                                         + " has not caught up yet");
  std::string error;
  if (st.ctx->voting->adopt(x, &error))
    return true;
  if (!error.empty())
    log_line{true} << "dtask-node " << own_name(self)
                   << ": cannot keep the voting configuration: " << error;
  return false;
}

// -- leaving ----------------------------------------------------------------

/// SIGTERM: announce the leave, hand the orchestrator over, let the
/// registry finish (or cut short) its tasks, then answer.
caf::result<bool> leave(supervisor_ptr self) {
  auto& st = self->state;
  st.members.set_leaving();
  log_line{} << "dtask-node " << own_name(self) << ": leaving";
  for (auto& kvp : st.members.peers())
    self->send(kvp.second.supervisor, leaving_atom::value, own_name(self));
  if (st.local_orchestrator) {
    // The peers learned of the leave first (same connection, in order):
    // the next voter elects itself when this one goes down.
    stop_local_orchestrator(self);
    update_mirror(self);
  }
  auto rp = self->make_response_promise<bool>();
  self->request(st.members.self().registry, caf::infinite, leave_atom::value)
    .then([=](bool clean) mutable { rp.deliver(clean); },
          [=](caf::error&) mutable { rp.deliver(false); });
  return rp;
}

// -- who may send what ------------------------------------------------------

/// A join comes from the supervisor it names (a peer cannot join in
/// another's name from elsewhere).
bool speaks_for_itself(supervisor_ptr self, const member& m) {
  auto& sender = self->current_sender();
  return sender != nullptr && m.supervisor
         && sender->address() == m.supervisor.address();
}

/// A message about `node` comes from that member's own supervisor.
bool from_member(supervisor_ptr self, const std::string& node) {
  auto& peers = self->state.members.peers();
  auto i = peers.find(node);
  auto& sender = self->current_sender();
  return i != peers.end() && sender != nullptr
         && sender->address() == i->second.supervisor.address();
}

/// An announced orchestrator runs on the member it names (on this node, or
/// in the process of that member's supervisor): a peer cannot announce an
/// actor of its own as the cluster's orchestrator.
bool runs_on_a_member(supervisor_ptr self, const orchestrator_ref& ref) {
  if (!ref.handle)
    return false;
  if (ref.node == own_name(self))
    return ref.handle.node() == self->node();
  auto& peers = self->state.members.peers();
  auto i = peers.find(ref.node);
  return i != peers.end() && ref.handle.node() == i->second.supervisor.node();
}

// -- the actor --------------------------------------------------------------

void init_state(supervisor_ptr self, node_context_ptr ctx,
                registry_api registry) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.members = membership{member{st.ctx->name, caf::actor_cast<supervisor_api>(self),
                                 std::move(registry)},
                          st.ctx->voters()->names()};
  st.was_voter = st.ctx->is_voter(st.ctx->name);
  st.epochs.note(st.ctx->voting->seen_epoch()); // Kept in the state directory.
  // Each change of the configuration reaches the supervisor as `(config)`.
  // A weak handle: the cell outlives the supervisor in `ctx`.
  auto me = self->address();
  st.ctx->voting->on_change([me] {
    if (auto strong = caf::actor_cast<caf::actor>(me))
      caf::send_as(strong, strong, config_atom::value);
  });
  // This node's orchestrator ends with its supervisor. (Attached functors
  // run after the state is gone: they may only touch what they own.)
  auto orchestrator_slot = std::make_shared<orchestrator_internal_api>();
  st.orchestrator_slot = orchestrator_slot;
  self->attach_functor([orchestrator_slot] {
    if (*orchestrator_slot)
      stop_actor(*orchestrator_slot, caf::exit_reason::user_shutdown);
  });
}

/// `(newconfig, node, x)`: a member that joined here has a newer
/// configuration.
void newer_config_told(supervisor_ptr self, const std::string& node,
                       const voting_config& x) {
  if (!from_member(self, node) || !check(x).empty())
    return void(refuse_sender(self, "newconfig"));
  self->state.ctx->voting->adopt(x);
}

/// `(orch, ref)`: a peer announces an orchestrator.
void orchestrator_announced(supervisor_ptr self, orchestrator_ref ref) {
  if (!runs_on_a_member(self, ref)) {
    // Not followed, but its epoch is noted: epochs only grow, and a node
    // that missed one could elect with it again (the simulation found two
    // orchestrators of one epoch without this).
    note_epoch(self, ref.epoch);
    return void(refuse_sender(self, "orch"));
  }
  adopt_if_newer(self, std::move(ref));
}

caf::result<orchestrator_ref> whereis(supervisor_ptr self) {
  if (auto err = why_no_orchestrator(self))
    return err;
  return self->state.orchestrator;
}

supervisor_api::behavior_type supervisor(supervisor_ptr self,
                                         node_context_ptr ctx,
                                         registry_api registry) {
  init_state(self, std::move(ctx), std::move(registry));
  self->set_down_handler([=](caf::down_msg& dm) { on_down(self, dm); });
  return {
    [=](start_atom, std::string& type, caf::message& args,
        start_options& opts) {
      return forward_start(self, type, args, opts);
    },
    [=](status_atom a, std::string& name) {
      return forward_or_fail<task_status>(self, a, std::move(name));
    },
    [=](stop_atom a, std::string& name) {
      return forward_or_fail<task_status>(self, a, std::move(name));
    },
    [=](list_atom a, list_query& q) {
      return forward_or_fail<list_page>(self, a, std::move(q));
    },
    [=](list_atom a) {
      return forward_or_fail<std::vector<task_status>>(self, a);
    },
    [=](nodes_atom a) {
      return forward_or_fail<std::vector<node_info>>(self, a);
    },
    [=](watch_atom a, const caf::actor& sub, const std::string& name) {
      return forward_or_fail<uint64_t>(self, a, sub, name);
    },
    [=](events_atom a, event_query& q) {
      return forward_or_fail<std::vector<task_event>>(self, a, std::move(q));
    },
    [=](whereis_atom) { return whereis(self); },
    // This node's own view of the cluster (`nodes` asks the orchestrator).
    [=](members_atom) {
      return self->state.members.own_view(self->state.orchestrator);
    },
    [=](members_atom a, add_voter_atom b, std::string& node) {
      return forward_or_fail<voting_config>(self, a, b, std::move(node));
    },
    [=](members_atom a, remove_voter_atom b, std::string& node) {
      return forward_or_fail<voting_config>(self, a, b, std::move(node));
    },
    [=](voting_atom) { return *self->state.ctx->voters(); },
    [=](config_atom, voting_config& x) { return config_proposed(self, x); },
    [=](config_atom) { config_changed(self); },
    [=](newer_config_atom, std::string& node, voting_config& x) {
      newer_config_told(self, node, x);
    },
    [=](join_atom, member& m,
        uint64_t last_epoch) -> caf::result<cluster_view> {
      if (!speaks_for_itself(self, m))
        return refuse_sender(self, "join");
      return join_requested(self, std::move(m), last_epoch);
    },
    [=](leaving_atom, const std::string& node) {
      if (!from_member(self, node))
        return void(refuse_sender(self, "leaving"));
      peer_leaving(self, node);
    },
    [=](orch_atom, orchestrator_ref& ref) {
      orchestrator_announced(self, std::move(ref));
    },
    [=](join_atom) {
      if (!from_self(self))
        return void(refuse_sender(self, "join"));
      start_joining(self);
    },
    [=](leave_atom) -> caf::result<bool> {
      if (!from_local(self))
        return refuse_sender(self, "leave");
      return leave(self);
    },
    [=](tick_atom) {
      if (from_self(self))
        on_tick(self);
    },
    [=](watchdog_atom) {
      if (from_self(self))
        on_watchdog(self);
    },
  };
}

} // namespace

supervisor_api spawn_supervisor(caf::actor_system& sys,
                                node_context_ptr ctx, registry_api registry) {
  return sys.spawn(supervisor, std::move(ctx), std::move(registry));
}

} // namespace dtask
