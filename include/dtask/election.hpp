#pragma once

// The orchestrator election, as plain C++: whether this node starts a new
// orchestrator now (and if not, why), the epoch it gives it, and which
// orchestrators are outdated. The supervisor (actors/supervisor.cpp) asks
// `should_elect` whenever its view changes and on every tick; the rules are
// unit-tested in tests/unit_election.cpp.
//
// The live voter (a node of the `seeds` list) with the smallest name that is
// not leaving elects itself, if it sees a strict majority of the voters (every
// voter, if neither it nor any node it met knows an orchestrator epoch). A
// side without a majority elects nobody (the orchestrator's own majority
// check, based on leases, is what makes this safe: see orchestrator.cpp).
// Conflicting orchestrators (two that started while the nodes could not see
// each other) resolve by `supersedes` (protocol.hpp).

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "dtask/membership.hpp"
#include "dtask/protocol.hpp"
#include "dtask/voting_config.hpp"

namespace dtask {

/// How long a node that lost all its peers waits before it elects itself.
/// A node resumed after a hang finds all its connections dropped; its seeds
/// are usually alive and it rejoins them as a follower well within this
/// time, instead of starting a second orchestrator of its own.
constexpr auto alone_grace = std::chrono::seconds(2);

/// What `should_elect` decided: `elect`, or why not now.
enum class election_verdict {
  /// Start an orchestrator now.
  elect,
  /// Everything else says yes, but the peers must be asked whom they follow
  /// first (a pre-vote), and the decision taken again with their answers.
  prevote_first,
  /// This node follows an orchestrator already.
  has_orchestrator,
  /// The first round of seed attempts has not ended: there may be a cluster
  /// to join.
  first_round_pending,
  /// A pre-vote is under way; its end decides again.
  prevote_under_way,
  /// This node is leaving (SIGTERM).
  leaving,
  /// This node is not in the `seeds` list.
  not_a_voter,
  /// This node does not see a strict majority of the voters.
  no_majority,
  /// This node knows no orchestrator epoch (nor did any node it joined, or
  /// that joined it), and does not see every voter: a voter it cannot
  /// reach may remember the last epoch (a majority that restarted forgot
  /// it), and an epoch chosen without it could be one already used.
  epoch_unknown,
  /// A live voter peer with a smaller name elects; its announcement will
  /// come.
  smaller_voter_exists,
  /// This node lost all its peers less than `alone_grace` ago.
  alone_within_grace,
  /// This node is stalled, or woke from a stall less than `stall_hold` ago:
  /// what it sees may be the past.
  stalled,
};

/// Everything `should_elect` looks at besides the time.
struct election_view {
  const membership& members;
  /// This node follows an orchestrator.
  bool has_orchestrator = false;
  /// The first round of seed attempts ended (`join_attempts`).
  bool first_round_done = false;
  /// A pre-vote is under way.
  bool prevoting = false;
  /// This decision is taken with the answers of a pre-vote.
  bool prevoted = false;
  /// The highest orchestrator epoch this node has seen (`seen_epochs`):
  /// 0 if it knows none.
  uint64_t last_epoch = 0;
};

/// Whether this node starts an orchestrator at `now`; the first reason that
/// holds, in the order of `election_verdict`, if not.
inline election_verdict should_elect(const election_view& v,
                                     clock_type::time_point now) {
  auto& m = v.members;
  if (v.has_orchestrator)
    return election_verdict::has_orchestrator;
  if (!v.first_round_done)
    return election_verdict::first_round_pending;
  if (v.prevoting)
    return election_verdict::prevote_under_way;
  if (m.leaving())
    return election_verdict::leaving;
  if (!m.is_voter(m.self().node))
    return election_verdict::not_a_voter;
  if (!m.sees_majority())
    return election_verdict::no_majority;
  // Epochs live only in the processes' memory. A majority of voters that
  // all restarted knows none, while a voter cut off from it may still
  // remember the last one (and run its tasks): electing now would give the
  // new orchestrator that epoch again, and its incarnations the epochs
  // (fencing tokens) of the old ones. Every voter answered `join` with the
  // highest epoch it saw, so a node that sees every voter and still knows
  // none knows that no voter remembers one (the first boot).
  if (v.last_epoch == 0 && !m.sees_all_voters())
    return election_verdict::epoch_unknown;
  auto next = m.next_voter();
  if (next != nullptr && next->node < m.self().node)
    return election_verdict::smaller_voter_exists;
  if (!m.has_peers() && m.alone_since() && now < *m.alone_since() + alone_grace)
    return election_verdict::alone_within_grace;
  if (m.elections_held(now))
    return election_verdict::stalled;
  // Pre-vote: ask the peers whom they follow first. A node that lost its
  // connections (it hung, or its link flapped) sees its orchestrator "go
  // down" while the others still follow it, or a newer one: then it adopts
  // that instead of taking over. Costs one round trip.
  if (!v.prevoted && m.has_peers())
    return election_verdict::prevote_first;
  return election_verdict::elect;
}

/// The position of `node` in the sorted list of `voters`.
inline size_t voter_index(const std::vector<std::string>& voters,
                          const std::string& node) {
  return static_cast<size_t>(
    std::lower_bound(voters.begin(), voters.end(), node) - voters.begin());
}

/// The epoch of an orchestrator that the voter at `voter_index` starts when
/// the highest epoch seen is `last_epoch`. Epochs are unique per node:
/// (round << 8) | this node's index among the voters. Two nodes that elect
/// in the same round (on two sides of a partition, one after the other)
/// still get different epochs, and every registry follows only ever higher
/// ones: fencing needs that.
inline uint64_t next_epoch(uint64_t last_epoch, size_t voter_index) {
  return (((last_epoch >> 8) + 1) << 8) | (voter_index & 0xFF);
}

/// The largest orchestrator epoch a node accepts: an incarnation's epoch is
/// (orchestrator epoch << 32) | sequence, so the orchestrator epoch must fit
/// in 32 bits (2^23 elections), with room for the next one. A larger one
/// (a bug, or a peer that lies: UINT64_MAX made every later orchestrator
/// look outdated, a permanent outage) is refused.
constexpr uint64_t max_epoch = (uint64_t{1} << 31) - 1;

/// Whether `epoch` can be an orchestrator epoch of this cluster: not above
/// `max_epoch`, and, if `node` is given, started by that voter (its index
/// is the epoch's low byte). Epoch 0 means "none seen" and is valid without
/// a node.
/// With changing membership, a voter's index is its slot in the
/// configuration (voting_config.hpp): fixed while it is a voter.
/// One past the highest slot given so far (until slots wrap at 255).
inline size_t slots_given(const voting_config& voters) {
  size_t result = voters.next_slot;
  for (auto& v : voters.voters)
    result = std::max(result, static_cast<size_t>(v.slot) + 1);
  return result;
}

inline bool valid_epoch(uint64_t epoch, const voting_config& voters,
                        const std::string* node = nullptr) {
  if (epoch > max_epoch)
    return false;
  // Without a node: any slot given so far (by this configuration or an
  // earlier one: an orchestrator of an earlier one may still be around).
  if (node == nullptr)
    return epoch == 0
           || (epoch >= 0x100 && (epoch & 0xFF) < slots_given(voters));
  auto v = voters.find(*node);
  return v != nullptr && (epoch & 0xFF) == v->slot && epoch >= 0x100;
}

inline bool valid_epoch(uint64_t epoch, const std::vector<std::string>& voters,
                        const std::string* node = nullptr) {
  return valid_epoch(epoch, voting_config::initial(voters), node);
}

/// The highest orchestrator epoch this node has seen. An orchestrator below
/// it is outdated for good, even once the newer one is gone: a side that was
/// cut off keeps its old orchestrator, and adopting that again after a heal
/// would start incarnations with smaller epochs than ones already run
/// (fencing tokens must only grow). Such an orchestrator steps down, and the
/// next election takes an epoch above the highest (`next_epoch`). Supervisors
/// pass it on in `join`, both ways.
class seen_epochs {
public:
  uint64_t highest() const noexcept {
    return highest_;
  }

  /// Records that an orchestrator of `epoch` existed. Returns true if it is
  /// above every epoch seen before.
  bool note(uint64_t epoch) noexcept {
    if (epoch <= highest_)
      return false;
    highest_ = epoch;
    return true;
  }

  /// True if an orchestrator of `epoch` is outdated: a higher one existed.
  bool outdated(uint64_t epoch) const noexcept {
    return epoch < highest_;
  }

private:
  uint64_t highest_ = 0;
};

/// The answers of one pre-vote: the orchestrator that supersedes every other
/// one the peers named.
class prevote_tally {
public:
  explicit prevote_tally(size_t peers) : pending_(peers) {
    // nop
  }

  /// A peer named `ref`. Returns true once every peer answered.
  bool record(orchestrator_ref ref) {
    if (supersedes(ref, best_))
      best_ = std::move(ref);
    return record_no_answer();
  }

  /// A peer did not answer, or named an orchestrator to ignore. Returns true
  /// once every peer answered.
  bool record_no_answer() noexcept {
    return --pending_ == 0;
  }

  /// The orchestrator that supersedes every other one named so far; an
  /// empty ref if none.
  const orchestrator_ref& best() const noexcept {
    return best_;
  }

private:
  size_t pending_;
  orchestrator_ref best_;
};

} // namespace dtask
