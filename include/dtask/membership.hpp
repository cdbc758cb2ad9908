#pragma once

// A node's view of the cluster's membership, and how far to trust it: the
// peers it is connected to (by name), which of them announced their leave,
// whether it sees a strict majority of the voters, whom the cluster would
// elect next, since when it has been alone, whether it was stalled (so that
// what it sees may be the past), and which orchestrator it just saw go down.
// Also the bookkeeping of its connect and join attempts.
//
// Plain C++: it holds the peers' actor handles but sends nothing and reads
// no clock (`now` is a parameter). The supervisor (actors/supervisor.cpp)
// owns one of each and wires them to messages; the election decision
// (dtask/election.hpp) reads `membership`. Tested in tests/unit_election.cpp.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>

#include "dtask/protocol.hpp"

namespace dtask {

using clock_type = std::chrono::steady_clock;

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

/// How long announcements of an orchestrator this node saw go down are
/// ignored. Peers notice within a heartbeat or so; until then they may still
/// announce it. Longer would also ignore a genuine announcement after a
/// reconnect (a resumed node sees such downs for live actors).
constexpr auto dead_orchestrator_window = std::chrono::milliseconds(500);

/// What to do with a member that introduced itself (in `join`, or in the
/// answer to this node's `join`).
enum class admission {
  /// The local node, or a member without handles: nothing to do.
  ignore,
  /// A peer already known with this very supervisor: nothing to do.
  known,
  /// A new peer: monitor and add it.
  new_peer,
  /// A known peer with another supervisor: the node restarted, its old
  /// incarnation is gone. Remove the old one, then add it as new.
  restarted,
};

/// See the file comment.
class membership {
public:
  membership() = default;

  /// `self` is the local node; `voters` the cluster's voting members (the
  /// `seeds` list), sorted.
  membership(member self, std::vector<std::string> voters)
    : self_(std::move(self)), voters_(std::move(voters)) {
    // nop
  }

  // -- members ----------------------------------------------------------------

  /// The local node (its `leaving` flag is not kept up to date here: see
  /// `all_members`).
  const member& self() const noexcept {
    return self_;
  }

  /// Peers by name; never the local node.
  const std::map<std::string, member>& peers() const noexcept {
    return peers_;
  }

  bool has_peers() const noexcept {
    return !peers_.empty();
  }

  bool has_peer(const std::string& node) const {
    return peers_.count(node) > 0;
  }

  /// The name of the peer whose supervisor is `addr`, if any.
  std::optional<std::string> peer_by_supervisor(const caf::actor_addr& addr)
    const {
    for (auto& kvp : peers_)
      if (addr == kvp.second.supervisor.address())
        return kvp.first;
    return std::nullopt;
  }

  /// What to do with `m`, see `admission`.
  admission admit(const member& m) const {
    if (m.node == self_.node || !m.supervisor || !m.registry)
      return admission::ignore;
    auto i = peers_.find(m.node);
    if (i == peers_.end())
      return admission::new_peer;
    return i->second.supervisor == m.supervisor ? admission::known
                                                : admission::restarted;
  }

  /// Adds a peer. Precondition: not a peer yet (see `admit`).
  void add(member m) {
    auto node = m.node;
    peers_.emplace(std::move(node), std::move(m));
    alone_since_.reset();
  }

  /// Removes the peer `node` and returns it, or nothing if it is not a peer.
  /// A node that loses its last peer is alone from `now`.
  std::optional<member> remove(const std::string& node,
                               clock_type::time_point now) {
    auto i = peers_.find(node);
    if (i == peers_.end())
      return std::nullopt;
    // `node` may be the key about to be erased: use it first.
    leaving_peers_.erase(node);
    auto result = std::move(i->second);
    peers_.erase(i);
    if (peers_.empty())
      alone_since_ = now;
    return result;
  }

  /// When this node lost its last peer; empty while it has peers, and
  /// before it ever had one.
  const std::optional<clock_type::time_point>& alone_since() const noexcept {
    return alone_since_;
  }

  /// The local node and every peer, with their `leaving` flags.
  std::vector<member> all_members() const {
    std::vector<member> result{self_};
    result.back().leaving = leaving_;
    for (auto& kvp : peers_) {
      result.push_back(kvp.second);
      result.back().leaving = leaving_peers_.count(kvp.first) > 0;
    }
    return result;
  }

  /// The names of `all_members`.
  std::vector<std::string> names() const {
    std::vector<std::string> result{self_.node};
    for (auto& kvp : peers_)
      result.push_back(kvp.first);
    return result;
  }

  /// This node's own view of the cluster, sorted by name (`dtask members`):
  /// `followed` is the orchestrator it follows (if its handle is valid).
  std::vector<node_info> own_view(const orchestrator_ref& followed) const {
    std::vector<node_info> result;
    for (auto& m : all_members())
      result.push_back(node_info{m.node, m.leaving ? "leaving" : "up",
                                 m.node == followed.node && followed.handle,
                                 0});
    std::sort(result.begin(), result.end(),
              [](const node_info& x, const node_info& y) {
                return x.node < y.node;
              });
    return result;
  }

  // -- leaving ----------------------------------------------------------------

  /// This node is leaving (SIGTERM): it is not elected any more.
  void set_leaving() noexcept {
    leaving_ = true;
  }

  bool leaving() const noexcept {
    return leaving_;
  }

  /// The peer `node` announced its leave: it is not elected. Returns false
  /// if `node` is not a peer (nothing changed).
  bool mark_leaving(const std::string& node) {
    if (!has_peer(node))
      return false;
    leaving_peers_.insert(node);
    return true;
  }

  // -- voters -----------------------------------------------------------------

  /// The voting configuration changed (`voters` sorted).
  void set_voters(std::vector<std::string> voters) {
    voters_ = std::move(voters);
  }

  bool is_voter(const std::string& node) const {
    return std::binary_search(voters_.begin(), voters_.end(), node);
  }

  /// True if this node sees a strict majority of the voters: the voter
  /// peers, and itself if it is a voter. Leaving peers still count: they
  /// are members until they are gone.
  bool sees_majority() const {
    size_t n = is_voter(self_.node) ? 1 : 0;
    for (auto& kvp : peers_)
      if (is_voter(kvp.first))
        ++n;
    return n >= voters_.size() / 2 + 1;
  }

  /// True if this node sees every voter: the voter peers, and itself if it
  /// is a voter.
  bool sees_all_voters() const {
    size_t n = is_voter(self_.node) ? 1 : 0;
    for (auto& kvp : peers_)
      if (is_voter(kvp.first))
        ++n;
    return n == voters_.size();
  }

  /// The live voter peer with the smallest name that is not leaving: the
  /// next to be elected (after this node, if its name is smaller).
  const member* next_voter() const {
    for (auto& kvp : peers_)
      if (is_voter(kvp.first) && leaving_peers_.count(kvp.first) == 0)
        return &kvp.second;
    return nullptr;
  }

  // -- stalls -----------------------------------------------------------------

  /// The watchdog runs for the first time.
  void start_watchdog(clock_type::time_point now) noexcept {
    last_watchdog_ = now;
  }

  /// The watchdog runs again. Returns the gap since its last run if it is
  /// above `stall_threshold` (the node was stalled: it then holds its
  /// elections for `stall_hold`), nothing otherwise.
  std::optional<clock_type::duration>
  watchdog_tick(clock_type::time_point now) noexcept {
    auto gap = now - last_watchdog_;
    last_watchdog_ = now;
    if (gap <= stall_threshold)
      return std::nullopt;
    hold_until_ = now + stall_hold;
    return gap;
  }

  /// True while this node must not elect: it is stalled right now (the
  /// watchdog is overdue), or it woke from a stall less than `stall_hold`
  /// ago. What it sees may be the past.
  bool elections_held(clock_type::time_point now) const noexcept {
    return now - last_watchdog_ > stall_threshold || now < hold_until_;
  }

  // -- the orchestrator that went down ----------------------------------------

  /// This node saw the orchestrator `handle` go down at `now`.
  void orchestrator_down(orchestrator_internal_api handle,
                         clock_type::time_point now) {
    dead_orchestrator_ = std::move(handle);
    dead_until_ = now + dead_orchestrator_window;
  }

  /// True if an announcement of `handle` is stale news: this node saw it go
  /// down less than `dead_orchestrator_window` ago.
  bool reported_dead(const orchestrator_internal_api& handle,
                     clock_type::time_point now) const {
    return handle == dead_orchestrator_ && now < dead_until_;
  }

private:
  member self_;
  /// Sorted.
  std::vector<std::string> voters_;
  std::map<std::string, member> peers_;
  /// This node is leaving (SIGTERM), and the peers that announced so.
  bool leaving_ = false;
  std::set<std::string> leaving_peers_;
  std::optional<clock_type::time_point> alone_since_;
  /// The last run of the watchdog, and until when a stall holds elections.
  clock_type::time_point last_watchdog_;
  clock_type::time_point hold_until_;
  /// The orchestrator this node last saw go down, and until when an
  /// announcement of it (from a peer that has not noticed yet) is ignored.
  orchestrator_internal_api dead_orchestrator_;
  clock_type::time_point dead_until_;
};

/// The connects and joins under way, and the first round of seed attempts: a
/// node does not elect itself before it had the chance to find an existing
/// cluster.
class join_attempts {
public:
  /// Marks a connect or join to `node` as under way; false if one already
  /// is.
  bool begin(const std::string& node) {
    return connecting_.insert(node).second;
  }

  /// The connect or join to `node` ended.
  void end(const std::string& node) {
    connecting_.erase(node);
  }

  /// The first round starts with one attempt per seed; without seeds it is
  /// over at once.
  void start_first_round(size_t seeds) noexcept {
    first_round_pending_ = seeds;
    if (seeds == 0)
      first_round_done_ = true;
  }

  /// One attempt of the first round ended. Returns true if that ended the
  /// round.
  bool first_round_step() noexcept {
    if (first_round_done_ || --first_round_pending_ > 0)
      return false;
    first_round_done_ = true;
    return true;
  }

  bool first_round_done() const noexcept {
    return first_round_done_;
  }

private:
  std::set<std::string> connecting_;
  bool first_round_done_ = false;
  size_t first_round_pending_ = 0;
};

} // namespace dtask
