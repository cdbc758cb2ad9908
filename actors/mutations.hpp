#pragma once

// Test-only switches that put known bug classes back into the runtime, so
// that the simulation (tests/sim) can show it finds them: `dtask-sim
// --mutate=NAME` must report a violation. No real process sets one.

#include <cstdint>

namespace dtask {

enum class mutation : uint8_t {
  none,
  /// A worker runs task code after its node's lease ended.
  worker_ignores_lease,
  /// The orchestrator declares a dropped node's tasks lost at r + M instead
  /// of r + L + M (before the node surely stopped them).
  lost_before_lease_end,
  /// A start on the orchestrator's node spawns before the mirror confirmed
  /// it.
  spawn_before_mirror,
  /// A registry runs spawn orders of an orchestrator older than the one it
  /// follows.
  stale_orders,
  /// The mirror stores a batch under one key (the C++17 evaluation-order
  /// bug: the name is moved out of the key before the assignment).
  mirror_collapse,
  /// An orchestrator whose majority lapsed serves on when it comes back,
  /// without the waits of a takeover (a newer one may have held a majority
  /// meanwhile, with the help of a voter that restarted and forgot it).
  regain_without_takeover,
  /// The orchestrator tells the callbacks of a fenced node's tasks `lost`
  /// at the fence, before a majority of the voters keeps the verdicts (a
  /// takeover that does not read them may tell the same starts another
  /// outcome).
  lost_told_before_kept,
  /// The orchestrator tells a task's outcome (and acknowledges it) before
  /// a majority of the voters keeps it (a later orchestrator, rebuilt from
  /// a stale mirror, may fence the task it ended).
  outcome_told_before_kept,
  /// A fence declares tasks lost without first reading the outcomes a
  /// majority of the voters keep of them.
  fence_without_reading,
  /// A retry of a start unknown to the orchestrator runs at once, without
  /// reading what the voters keep of its name.
  retry_without_reading,
  /// A read of the voters counts the answer of a voter whose process is
  /// new and has not caught up (it forgot what its previous life kept).
  forgetful_voter_counts,
  /// A takeover keeps the verdicts it adopts without reading the outcomes
  /// the voters keep of their tasks.
  adoption_without_reading,
  /// An older incarnation reported running (a stale mirror) is taken back
  /// as running although the table holds a newer one, or ended it.
  stale_incarnation_revived,
  /// A fence declares lost, and restarts, a task whose start a later
  /// incarnation (a retry of the same start) already ended and told.
  told_start_fenced,
  /// A change of the voting membership counts as committed once one node
  /// took it, not a majority of the old and of the new voters.
  change_without_majority,
};

/// The active mutation; `none` in every real process.
extern mutation active_mutation;

inline bool mutated(mutation m) noexcept {
  return active_mutation == m;
}

/// Where a new orchestrator's task sequence starts: 0 in every real
/// process. The simulation starts it a few hundred below 2^32 - 1 to check
/// that it never wraps into the epoch bits (`dtask-sim --first-sequence`).
extern uint64_t first_task_sequence;

} // namespace dtask
