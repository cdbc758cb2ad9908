// The supervisor actor: one per node, published on the node's `host:port`.
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
// majority of the voters; the others adopt the announcement. A side without
// a majority elects nobody and answers starts with `no_quorum` (the
// orchestrator's own majority check, based on leases, is what makes this
// safe: see orchestrator.cpp). Conflicting
// orchestrators (two that started while the nodes could not see each other)
// resolve by `supersedes`: the higher epoch wins, then the smaller node name.

#include <algorithm>
#include <map>
#include <set>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors.hpp"
#include "node_actor.hpp"
#include "dtask/errors.hpp"

namespace dtask {

namespace {

/// Bound on one connect or join attempt.
constexpr auto join_timeout = std::chrono::seconds(2);

/// How long a node that lost all its peers waits before it elects itself.
/// A node resumed after a hang finds all its connections dropped; its seeds
/// are usually alive and it rejoins them as a follower well within this
/// time, instead of starting a second orchestrator of its own.
constexpr auto alone_grace = std::chrono::seconds(2);

/// The supervisor checks every `watchdog_interval` that it is not stalled. A
/// gap above `stall_threshold` means the process did not run (SIGSTOP, a VM
/// pause, swapping): its peers may have declared it dead meanwhile, and the
/// down messages it finds on waking up describe the past. It then holds
/// elections for `stall_hold` and rejoins through its seeds as a follower.
/// A false alarm (a very busy machine) only delays an election.
constexpr auto watchdog_interval = std::chrono::milliseconds(100);
constexpr auto stall_threshold = std::chrono::milliseconds(400);
/// How long a node that woke from a stall holds its elections: long enough
/// to reconnect and hear whom the cluster follows (a heartbeat timeout and a
/// bit), short enough that, if it is the rightful successor, the other
/// nodes' leases (1.5 s) do not run out before it elects.
constexpr auto stall_hold = std::chrono::milliseconds(800);

using watchdog_atom = caf::atom_constant<caf::atom("watchdog")>;

struct supervisor_state {
  node_context_ptr ctx;
  member self_member;
  /// Peers, by name; never the local node.
  std::map<std::string, member> peers;
  /// Endpoints with a connect or join under way.
  std::set<std::string> connecting;
  orchestrator_ref orchestrator;
  /// The highest orchestrator epoch seen; a new orchestrator takes the next.
  uint64_t last_epoch = 0;
  /// The orchestrator this node runs, if any.
  caf::actor local_orchestrator;
  /// A copy of `local_orchestrator` for the exit functor.
  std::shared_ptr<caf::actor> orchestrator_slot;
  /// Where the local registry mirrors its entries: while this node runs the
  /// orchestrator, the registry of the member that would be elected next.
  caf::actor mirror_target;
  /// False until the first round of seed attempts ended: a node does not
  /// elect itself before it had the chance to find an existing cluster.
  bool first_round_done = false;
  size_t first_round_pending = 0;
  /// When this node lost its last peer; empty while it has peers.
  caf::optional<clock_type::time_point> alone_since;
  /// The last run of the watchdog, and until when a stall holds elections.
  clock_type::time_point last_watchdog;
  clock_type::time_point no_election_until;
  /// The orchestrator this node last saw go down, and until when an
  /// announcement of it (from a peer that has not noticed yet) is ignored.
  caf::actor dead_orchestrator;
  clock_type::time_point dead_until;
  /// True while a pre-vote (see `elect`) is under way.
  bool prevoting = false;
  /// This node is leaving (SIGTERM), and the peers that announced so.
  bool leaving = false;
  std::set<std::string> leaving_peers;

  static const char* name;
};

const char* supervisor_state::name = "dtask.supervisor";

using supervisor_ptr = caf::stateful_actor<supervisor_state, node_actor>*;

/// Now, on this node's clock.
clock_type::time_point node_time(supervisor_ptr self) {
  return self->state.ctx->now(self->clock());
}

std::vector<member> all_members(supervisor_ptr self) {
  auto& st = self->state;
  std::vector<member> result{st.self_member};
  result.back().leaving = st.leaving;
  for (auto& kvp : st.peers) {
    result.push_back(kvp.second);
    result.back().leaving = st.leaving_peers.count(kvp.first) > 0;
  }
  return result;
}

cluster_view view(supervisor_ptr self) {
  return cluster_view{all_members(self), self->state.orchestrator,
                      self->state.last_epoch};
}

/// True if this node sees a strict majority of the voters (itself included).
bool sees_majority(supervisor_ptr self) {
  auto& st = self->state;
  size_t n = st.ctx->is_voter(st.ctx->name) ? 1 : 0;
  for (auto& kvp : st.peers)
    if (st.ctx->is_voter(kvp.first))
      ++n;
  return n >= st.ctx->quorum();
}

/// The live voter peer with the smallest name that is not leaving: the next
/// to be elected.
const member* next_voter(supervisor_ptr self) {
  auto& st = self->state;
  for (auto& kvp : st.peers)
    if (st.ctx->is_voter(kvp.first) && st.leaving_peers.count(kvp.first) == 0)
      return &kvp.second;
  return nullptr;
}

void update_mirror(supervisor_ptr self) {
  auto& st = self->state;
  if (st.orchestrator_slot)
    *st.orchestrator_slot = st.local_orchestrator;
  caf::actor target;
  if (st.local_orchestrator)
    if (auto next = next_voter(self))
      target = next->registry;
  if (target != st.mirror_target) {
    st.mirror_target = target;
    self->send(st.self_member.registry, mirror_atom::value, target);
  }
}

void push_members(supervisor_ptr self) {
  auto& st = self->state;
  if (st.local_orchestrator) {
    self->send(st.local_orchestrator, members_atom::value, all_members(self));
    // Mirrored with the registry's entries: the next orchestrator learns
    // which nodes this one may grant leases to.
    std::vector<std::string> names;
    for (auto& m : all_members(self))
      names.push_back(m.node);
    self->send(st.self_member.registry, mirror_atom::value,
               members_atom::value, std::move(names));
  }
  update_mirror(self);
}

/// Forgets the orchestrator this node follows (and stops it if it runs
/// here).
void drop_orchestrator(supervisor_ptr self) {
  auto& st = self->state;
  if (st.local_orchestrator) {
    self->send_exit(st.local_orchestrator, caf::exit_reason::user_shutdown);
    st.local_orchestrator = nullptr;
  }
  if (st.orchestrator.handle)
    self->demonitor(st.orchestrator.handle);
  st.orchestrator = orchestrator_ref{};
  update_mirror(self);
}

/// Records that an orchestrator of epoch `epoch` existed. One below it is
/// outdated for good, even once the newer one is gone: a side that was cut
/// off keeps its old orchestrator, and adopting that again after a heal
/// would start incarnations with smaller epochs than ones already run
/// (fencing tokens must only grow). Such an orchestrator steps down, and
/// the next election takes an epoch above `last_epoch`.
void note_epoch(supervisor_ptr self, uint64_t epoch) {
  auto& st = self->state;
  if (epoch <= st.last_epoch)
    return;
  st.last_epoch = epoch;
  if (st.orchestrator.handle && st.orchestrator.epoch < epoch) {
    log_line{} << "dtask-node " << st.ctx->name << ": orchestrator "
               << st.orchestrator.node << " epoch " << st.orchestrator.epoch
               << " is outdated (epoch " << epoch << " existed)";
    drop_orchestrator(self);
  }
}

void adopt(supervisor_ptr self, orchestrator_ref ref) {
  auto& st = self->state;
  if (ref.handle == st.dead_orchestrator
      && node_time(self) < st.dead_until)
    return; // Stale news from a peer that did not notice its death yet.
  if (ref.epoch < st.last_epoch)
    return; // Outdated (see note_epoch).
  if (st.orchestrator.handle)
    self->demonitor(st.orchestrator.handle);
  if (st.local_orchestrator && st.local_orchestrator != ref.handle) {
    self->send_exit(st.local_orchestrator, caf::exit_reason::user_shutdown);
    st.local_orchestrator = nullptr;
  }
  st.last_epoch = std::max(st.last_epoch, ref.epoch);
  st.orchestrator = std::move(ref);
  self->monitor(st.orchestrator.handle);
  log_line{} << "dtask-node " << st.ctx->name << ": orchestrator "
            << st.orchestrator.node << " epoch " << st.orchestrator.epoch;
  for (auto& kvp : st.peers)
    self->send(kvp.second.supervisor, orch_atom::value, st.orchestrator);
  update_mirror(self);
}

/// Starts a new orchestrator here if there is none and this node has the
/// smallest name among the live members.
void elect(supervisor_ptr self, bool prevoted = false) {
  auto& st = self->state;
  if (st.orchestrator.handle || !st.first_round_done || st.prevoting)
    return;
  if (st.leaving || !st.ctx->is_voter(st.ctx->name) || !sees_majority(self))
    return;
  auto next = next_voter(self);
  if (next != nullptr && next->node < st.ctx->name)
    return; // The smallest voter elects; its announcement will come.
  auto now = node_time(self);
  if (st.peers.empty() && st.alone_since && now < *st.alone_since + alone_grace)
    return; // The tick tries again.
  if (now - st.last_watchdog > stall_threshold || now < st.no_election_until)
    return; // Stalled: what this node sees may be the past.
  if (!prevoted && !st.peers.empty()) {
    // Pre-vote: ask the peers whom they follow first. A node that lost its
    // connections (it hung, or its link flapped) sees its orchestrator "go
    // down" while the others still follow it, or a newer one: then it
    // adopts that instead of taking over. Costs one round trip.
    st.prevoting = true;
    auto left = std::make_shared<size_t>(st.peers.size());
    auto found = std::make_shared<orchestrator_ref>();
    auto step = [=] {
      if (--*left > 0)
        return;
      self->state.prevoting = false;
      if (supersedes(*found, self->state.orchestrator))
        adopt(self, *found);
      elect(self, true);
    };
    for (auto& kvp : st.peers)
      self
        ->request(kvp.second.supervisor, std::chrono::milliseconds(300),
                  whereis_atom::value)
        .then(
          [=](orchestrator_ref& ref) {
            auto& st = self->state;
            auto dead = ref.handle == st.dead_orchestrator
                        && node_time(self) < st.dead_until;
            if (!dead && supersedes(ref, *found))
              *found = std::move(ref);
            step();
          },
          [=](caf::error&) { step(); });
    return;
  }
  // Epochs are unique per node: (round << 8) | this node's index among the
  // voters. Two nodes that elect in the same round (on two sides of a
  // partition, one after the other) still get different epochs, and every
  // registry follows only ever higher ones: fencing needs that.
  auto& v = st.ctx->voters;
  auto index = static_cast<uint64_t>(
    std::lower_bound(v.begin(), v.end(), st.ctx->name) - v.begin());
  auto epoch = (((st.last_epoch >> 8) + 1) << 8) | (index & 0xFF);
  st.local_orchestrator = spawn_orchestrator(self->system(), st.ctx, epoch,
                                             all_members(self));
  adopt(self, orchestrator_ref{st.local_orchestrator, st.ctx->name, epoch});
  push_members(self);
}

void remove_peer(supervisor_ptr self, std::string node) {
  auto& st = self->state;
  auto i = st.peers.find(node);
  if (i == st.peers.end())
    return;
  self->demonitor(i->second.supervisor);
  st.peers.erase(i);
  st.leaving_peers.erase(node);
  if (st.peers.empty())
    st.alone_since = node_time(self);
  log_line{} << "dtask-node " << st.ctx->name << ": member " << node << " down";
  push_members(self);
}

void add_peer(supervisor_ptr self, const member& m) {
  auto& st = self->state;
  if (m.node == st.ctx->name || !m.supervisor || !m.registry)
    return;
  auto i = st.peers.find(m.node);
  if (i != st.peers.end()) {
    if (i->second.supervisor == m.supervisor)
      return;
    // The node restarted: its old incarnation is gone.
    remove_peer(self, m.node);
  }
  self->monitor(m.supervisor);
  st.peers.emplace(m.node, m);
  st.alone_since = caf::none;
  // Two sides that elected apart meet here: tell the newcomer whom this node
  // follows; `supersedes` makes both sides settle on the same orchestrator.
  if (st.orchestrator.handle)
    self->send(m.supervisor, orch_atom::value, st.orchestrator);
  log_line{} << "dtask-node " << st.ctx->name << ": member " << m.node << " up";
  push_members(self);
}

void try_connect(supervisor_ptr self, const std::string& node);

void merge_view(supervisor_ptr self, cluster_view& v) {
  auto& st = self->state;
  note_epoch(self, v.last_epoch);
  for (auto& m : v.members)
    if (m.node != st.ctx->name && st.peers.count(m.node) == 0)
      try_connect(self, m.node);
  if (supersedes(v.orchestrator, st.orchestrator))
    adopt(self, std::move(v.orchestrator));
  if (!st.orchestrator.handle)
    elect(self);
}

void first_round_step(supervisor_ptr self) {
  auto& st = self->state;
  if (st.first_round_done || --st.first_round_pending > 0)
    return;
  st.first_round_done = true;
  elect(self);
}

/// Connects to `node` ("host:port"), sends `join`, merges the answer.
/// `first_round` marks the initial seed attempts.
void try_connect(supervisor_ptr self, const std::string& node,
                 bool first_round) {
  auto& st = self->state;
  endpoint ep;
  if (!parse_endpoint(node, ep).empty() || node == st.ctx->name
      || st.connecting.count(node) > 0) {
    if (first_round)
      first_round_step(self);
    return;
  }
  st.connecting.insert(node);
  auto finish = [=] {
    self->state.connecting.erase(node);
    if (first_round)
      first_round_step(self);
  };
  self->request(st.ctx->connector, join_timeout, caf::connect_atom::value, ep.host, ep.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (!ptr) {
          finish();
          return;
        }
        auto peer = caf::actor_cast<caf::actor>(ptr);
        self
          ->request(peer, join_timeout, join_atom::value,
                    self->state.self_member, self->state.last_epoch)
          .then(
            [=](cluster_view& v) {
              for (auto& m : v.members)
                if (m.node == node)
                  add_peer(self, m);
              merge_view(self, v);
              finish();
            },
            [=](caf::error&) { finish(); });
      },
      [=](caf::error&) { finish(); });
}

void try_connect(supervisor_ptr self, const std::string& node) {
  try_connect(self, node, false);
}

caf::behavior supervisor(supervisor_ptr self, node_context_ptr ctx,
                         caf::actor registry) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.self_member = member{st.ctx->name, caf::actor_cast<caf::actor>(self),
                          registry};
  // This node's orchestrator ends with its supervisor. (Attached functors
  // run after the state is gone: they may only touch what they own.)
  auto orchestrator_slot = std::make_shared<caf::actor>();
  st.orchestrator_slot = orchestrator_slot;
  self->attach_functor([orchestrator_slot] {
    if (*orchestrator_slot)
      caf::anon_send_exit(*orchestrator_slot, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (st.orchestrator.handle && dm.source == st.orchestrator.handle.address()) {
      log_line{} << "dtask-node " << st.ctx->name << ": orchestrator "
                << st.orchestrator.node << " down";
      st.dead_orchestrator = st.orchestrator.handle;
      // Peers notice within a heartbeat or so; until then they may still
      // announce it. Longer would also ignore a genuine announcement after
      // a reconnect (a resumed node sees such downs for live actors).
      st.dead_until = node_time(self)
                      + std::chrono::milliseconds(500);
      st.orchestrator = orchestrator_ref{};
      if (st.local_orchestrator
          && dm.source == st.local_orchestrator.address())
        st.local_orchestrator = nullptr;
      update_mirror(self);
    }
    for (auto& kvp : st.peers)
      if (dm.source == kvp.second.supervisor.address()) {
        remove_peer(self, kvp.first);
        break;
      }
    elect(self);
  });
  auto forward_or_fail = [=](auto&&... xs) -> caf::result<caf::message> {
    auto& orch = self->state.orchestrator.handle;
    if (!orch && !sees_majority(self))
      return make_error(errc::no_quorum,
                        "the node " + self->state.ctx->name
                          + " does not reach a majority of the cluster's "
                            "members");
    if (!orch)
      return make_error(errc::no_orchestrator,
                        "the cluster is electing an orchestrator");
    self->delegate(orch, std::forward<decltype(xs)>(xs)...);
    return caf::delegated<caf::message>{};
  };
  return {
    [=](watchdog_atom) {
      auto& st = self->state;
      auto now = node_time(self);
      auto gap = now - st.last_watchdog;
      if (gap > stall_threshold) {
        st.no_election_until = now + stall_hold;
        // The cluster may have replaced this node's orchestrator while it
        // stood still; one that kept running on a stale view could place
        // starts on this node alone. It steps down; the node rejoins.
        if (st.local_orchestrator) {
          self->send_exit(st.local_orchestrator,
                          caf::exit_reason::user_shutdown);
          st.local_orchestrator = nullptr;
          if (st.orchestrator.handle)
            self->demonitor(st.orchestrator.handle);
          st.orchestrator = orchestrator_ref{};
          update_mirror(self);
        }
        log_line{} << "dtask-node " << st.ctx->name << ": stalled for "
                   << std::chrono::duration_cast<std::chrono::milliseconds>(gap)
                        .count()
                   << " ms; rejoining as a follower";
      }
      st.last_watchdog = now;
      self->delayed_send(self, watchdog_interval, watchdog_atom::value);
    },
    [=](join_atom) {
      // From start_node, once the node listens: the first round of seeds.
      auto& st = self->state;
      st.last_watchdog = node_time(self);
      self->delayed_send(self, watchdog_interval, watchdog_atom::value);
      std::vector<std::string> seeds;
      for (auto& ep : st.ctx->config.seeds)
        if (ep.to_string() != st.ctx->name)
          seeds.push_back(ep.to_string());
      st.first_round_pending = seeds.size();
      if (seeds.empty()) {
        st.first_round_done = true;
        elect(self);
      }
      for (auto& seed : seeds)
        try_connect(self, seed, true);
      self->delayed_send(self, st.ctx->config.retry_interval,
                         tick_atom::value);
    },
    [=](join_atom, member& m, uint64_t last_epoch) -> cluster_view {
      note_epoch(self, last_epoch);
      add_peer(self, m);
      auto result = view(self);
      elect(self); // If the news made this node's orchestrator step down.
      return result;
    },
    [=](leave_atom) -> caf::result<bool> {
      // SIGTERM: announce the leave, hand the orchestrator over, let the
      // registry finish (or cut short) its tasks, then answer.
      auto& st = self->state;
      st.leaving = true;
      log_line{} << "dtask-node " << st.ctx->name << ": leaving";
      for (auto& kvp : st.peers)
        self->send(kvp.second.supervisor, leave_atom::value, st.ctx->name);
      if (st.local_orchestrator) {
        // The peers learned of the leave first (same connection, in order):
        // the next voter elects itself when this one goes down.
        self->send_exit(st.local_orchestrator, caf::exit_reason::user_shutdown);
        st.local_orchestrator = nullptr;
        update_mirror(self);
      }
      auto rp = self->make_response_promise<bool>();
      self
        ->request(st.self_member.registry, caf::infinite, leave_atom::value)
        .then([=](bool clean) mutable { rp.deliver(clean); },
              [=](caf::error&) mutable { rp.deliver(false); });
      return rp;
    },
    [=](leave_atom, const std::string& node) {
      auto& st = self->state;
      if (st.peers.count(node) == 0)
        return;
      st.leaving_peers.insert(node);
      log_line{} << "dtask-node " << st.ctx->name << ": member " << node
                 << " is leaving";
      push_members(self);
      elect(self);
    },
    [=](orch_atom, orchestrator_ref& ref) {
      if (supersedes(ref, self->state.orchestrator))
        adopt(self, std::move(ref));
    },
    [=](members_atom) {
      // This node's own view of the cluster (`nodes` asks the orchestrator).
      auto& st = self->state;
      std::vector<node_info> result;
      for (auto& m : all_members(self))
        result.push_back(node_info{m.node, m.leaving ? "leaving" : "up",
                                   m.node == st.orchestrator.node
                                     && st.orchestrator.handle,
                                   0});
      std::sort(result.begin(), result.end(),
                [](const node_info& x, const node_info& y) {
                  return x.node < y.node;
                });
      return result;
    },
    [=](whereis_atom) -> caf::result<orchestrator_ref> {
      auto& orch = self->state.orchestrator;
      if (!orch.handle && !sees_majority(self))
        return make_error(errc::no_quorum,
                          "the node " + self->state.ctx->name
                            + " does not reach a majority of the cluster's "
                              "members");
      if (!orch.handle)
        return make_error(errc::no_orchestrator,
                          "the cluster is electing an orchestrator");
      return orch;
    },
    [=](tick_atom) {
      auto& st = self->state;
      // Without an orchestrator (e.g. announcements of one that looked dead
      // were ignored), ask the peers whom they follow.
      if (!st.orchestrator.handle)
        for (auto& kvp : st.peers)
          self->request(kvp.second.supervisor, join_timeout, whereis_atom::value)
            .then(
              [=](orchestrator_ref& ref) {
                if (supersedes(ref, self->state.orchestrator))
                  adopt(self, std::move(ref));
              },
              [](caf::error&) {});
      for (auto& ep : st.ctx->config.seeds) {
        auto node = ep.to_string();
        if (st.peers.count(node) == 0)
          try_connect(self, node);
      }
      elect(self);
      self->delayed_send(self, st.ctx->config.retry_interval, tick_atom::value);
    },
    // Public requests sent to a node: handed to the orchestrator.
    [=](start_atom a, std::string& type, caf::message& args,
        start_options& opts) {
      return forward_or_fail(a, std::move(type), std::move(args),
                             std::move(opts));
    },
    [=](status_atom a, std::string& name) {
      return forward_or_fail(a, std::move(name));
    },
    [=](list_atom a) { return forward_or_fail(a); },
    [=](nodes_atom a) { return forward_or_fail(a); },
  };
}

} // namespace

caf::actor spawn_supervisor(caf::actor_system& sys, node_context_ptr ctx,
                            caf::actor registry) {
  return sys.spawn(supervisor, std::move(ctx), std::move(registry));
}

} // namespace dtask
