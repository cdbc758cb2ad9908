#pragma once

// The deterministic simulation of a whole dtask cluster (`dtask-sim`).
//
// It runs N nodes of the real runtime (supervisors, registries,
// orchestrators, workers: the actors of actors/) in one process, on one
// thread, on CAF's test scheduler and its virtual clock. A seed decides
// everything that differs between runs: which ready actor runs next, the
// delay of every message between nodes, and the faults (kills and
// restarts, hangs, partitions of any subset and their heal, connection
// resets, slow links) with their times, plus each node's clock rate (drift
// within the margin M). The same seed gives the same run, event by event.
//
// The network is played by a filter that sees each message before a node's
// actor handles it (actors/node_actor.hpp): messages between nodes are held
// for their delay, in order per link, held back while a partition lasts,
// and dropped once the connection broke (a partition or a hang outlasting
// the heartbeat timeout, a reset); the peers' supervisors then get the down
// messages CAF would send. A hung node's actors do not run; its timers fire
// into its mailboxes, which it handles once resumed.
//
// After the faults every node is healed, resumed and restarted, the run
// goes on for a drain period, and the checkers read what happened: the
// nodes' task event logs, what the task code itself stamped while it ran,
// what the clients saw, and whom every node follows at the end.

#include <cstdint>
#include <string>
#include <vector>

#include "mutations.hpp"

namespace dtask_sim {

/// The invariants checked after a run:
///   safety:        at most one instance of a name at once, epochs grow, no
///                  task code after its instance's end, no outcome of an
///                  incarnation that never ran, no `not_found` for a name
///                  that runs, one orchestrator after the heal;
///   at_most_once:  safety, and no start is told two different outcomes
///                  (the callback invariant of the issue and of the fault
///                  suite's chaos run);
///   exactly_once:  at_most_once, and every accepted start is told its end.
///                  Not met: a start whose only records were the memory of
///                  its node and of the orchestrator's node is forgotten
///                  when both die (README, "Still weak").
enum class check_level { safety, at_most_once, exactly_once };

struct sim_options {
  uint64_t seed = 1;
  int nodes = 5;
  /// Virtual milliseconds of load and faults, then of drain.
  int64_t fault_ms = 20000;
  int64_t drain_ms = 15000;
  int starts = 300;
  int faults = 12;
  /// Keep the event trace (every message handled, every fault, node logs).
  bool trace = false;
  /// Which invariants a run is checked against (see `check_level`).
  check_level check = check_level::at_most_once;
  dtask::mutation mutation = dtask::mutation::none;
  /// At the start, this many timer messages (`tick`, `flush`, `watchdog`,
  /// `join`) from outside to every node's supervisor and registry: each
  /// must be dropped, not start another timer chain.
  int flood = 0;
  /// Where every orchestrator's task sequence starts (see
  /// `dtask::first_task_sequence`).
  uint64_t first_sequence = 0;
  /// The client also stops tasks (`stop`): a quarter of the starts get a
  /// stop of their name a moment later. Off by default, so that the seeds
  /// found before stops existed replay as they did.
  bool stops = false;
  /// This many changes of the voting membership during the faults (`dtask
  /// members add|remove` of a random node via a random node); the first
  /// three nodes are then the seeds, and each node keeps the configuration
  /// it took across restarts (a state directory). 0 by default, so that the
  /// seeds found before changes existed replay as they did.
  int changes = 0;
};

struct sim_result {
  /// Violated invariants, each with its virtual time (ms since the start).
  std::vector<std::string> violations;
  std::vector<int64_t> violation_ms;
  std::string trace;
  uint64_t messages = 0;
  uint64_t accepted = 0;
  uint64_t instances = 0;
  uint64_t faults = 0;
};

/// Runs one seed; its violations are those `opts.check` checks.
sim_result run_seed(const sim_options& opts);

/// Mutations by name, for `--mutate` and `--list-mutations`.
struct mutation_name {
  const char* name;
  dtask::mutation value;
  const char* what;
};

const std::vector<mutation_name>& mutation_names();

} // namespace dtask_sim
