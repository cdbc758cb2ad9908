#pragma once

// Invariant checkers for the fault-injection suite, kept apart from the
// fault injectors: they only read what the nodes and the load generators
// wrote down (see `event_sink` in actors/actors.hpp and tests/loadgen.cpp)
// and when the harness killed which process.
//
// - at most one instance: the running intervals of one name never overlap.
//   An instance runs from its node's `start` event until its `stop` event's
//   end time, or until its process was killed, or forever if neither came;
// - fencing: the incarnations of one name start with growing epochs;
// - every accepted start really ran (its node logged a `start`), or ended
//   `lost` (its node died before it ran; a retry is answered as that start);
//   the retry of a restartable start may name its latest attempt;
// - callbacks: never two for one incarnation; with `exactly_once`, every
//   accepted start got exactly one, in a terminal state.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace dtask_test {

struct invariant_report {
  std::vector<std::string> violations;
  /// When each violation happened (same clock as the inputs), in order.
  std::vector<int64_t> violation_times;
  size_t starts = 0;
  size_t stops = 0;
  size_t kills = 0;
  size_t accepted = 0;
  size_t callbacks = 0;
  std::map<std::string, size_t> refused; // by error code
  std::map<std::string, size_t> outcomes; // callback states

  bool ok() const {
    return violations.empty();
  }

  /// One paragraph for the test output.
  std::string summary() const;
};

struct invariant_inputs {
  /// Node event logs (`event-log` files).
  std::vector<std::string> event_logs;
  /// Load generator outputs.
  std::vector<std::string> client_logs;
  /// The harness's kill log: lines "kill T_NS NODE".
  std::string kill_log;
  bool exactly_once_callbacks = true;
};

invariant_report check_invariants(const invariant_inputs& in);

/// The same checks on texts instead of files (the simulation keeps them in
/// memory). `stamps` adds one more source: lines "stamp T_NS EPOCH NAME"
/// that a task wrote while it ran task code; an instance runs at least
/// until its last stamp, and a stamp after its recorded end is a violation.
struct invariant_texts {
  std::vector<std::string> event_logs;
  std::vector<std::string> client_logs;
  std::string kill_log;
  std::string stamps;
  bool exactly_once_callbacks = true;
  /// An instance without a stop event whose process was killed ran until
  /// the kill, unless this is set: then until its last stamp (the
  /// simulation stamps every run of task code, so it knows; a hung process
  /// killed later ran nothing after its hang began).
  bool killed_end_at_last_stamp = false;
};

invariant_report check_invariant_texts(const invariant_texts& in);

} // namespace dtask_test
