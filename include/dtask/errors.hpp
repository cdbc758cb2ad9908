#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>
#include <caf/make_message.hpp>
#include <caf/to_string.hpp>

namespace dtask {

/// The category under which every dtask error travels inside a `caf::error`.
constexpr caf::atom_value error_category = caf::atom("dtask");

/// Every error a caller of dtask can react to. Each value exists because a
/// caller can do something specific about it; the context message of the
/// `caf::error` carries the details (see each value).
enum class errc : uint8_t {
  /// The name is running now. Context: (name, node, worker actor).
  already_running = 1,
  /// No task of this name is running or remembered. Context: (name).
  not_found,
  /// The task type is not in the node's catalog. Context: (type).
  unknown_task_type,
  /// Empty, longer than 255 bytes, holds control characters or is not
  /// valid UTF-8. Context: (name, why).
  invalid_name,
  /// The serialized arguments exceed the configured limit. Context: (size, limit).
  args_too_large,
  /// No orchestrator is reachable within the retry window. Context: (why).
  no_orchestrator,
  /// The node chosen for the task died before it confirmed the start. Context: (name, node).
  node_down,
  /// A message from an outdated orchestrator was refused. Context: (why).
  stale_orchestrator,
  /// This side of the cluster does not reach a strict majority of the
  /// cluster's members (the `seeds` list): it accepts no starts. Context: (why).
  no_quorum,
  /// The node the ring picked for the task runs `max-running` tasks
  /// already. Context: (node, limit).
  capacity,
  /// An internal message from an actor that may not send it (a peer that
  /// is no member, or not the one that may). Context: (message).
  not_allowed,
  /// A reply would hold more items than its bound (`(list)` beyond
  /// `max-list`: ask for pages instead). Context: (count, limit).
  too_many,
  /// The name's fate cannot be known now: this orchestrator does not know
  /// it, and nodes the previous orchestrator may have placed tasks on have
  /// not reported to it (they are cut off, or gone). Context: (name, nodes
  /// as a vector of strings).
  unknown,
  /// A change of the voting membership that cannot be made now: another is
  /// under way, the orchestrator took over too recently, the node to add is
  /// not a member, or it would remove the last voter. Context: (why).
  invalid_change,
};

/// Short, stable, machine-readable name of an error code ("already_running").
inline const char* to_string(errc x) {
  switch (x) {
    case errc::already_running: return "already_running";
    case errc::not_found: return "not_found";
    case errc::unknown_task_type: return "unknown_task_type";
    case errc::invalid_name: return "invalid_name";
    case errc::args_too_large: return "args_too_large";
    case errc::no_orchestrator: return "no_orchestrator";
    case errc::node_down: return "node_down";
    case errc::stale_orchestrator: return "stale_orchestrator";
    case errc::no_quorum: return "no_quorum";
    case errc::capacity: return "capacity";
    case errc::not_allowed: return "not_allowed";
    case errc::too_many: return "too_many";
    case errc::unknown: return "unknown";
    case errc::invalid_change: return "invalid_change";
  }
  return "unknown_error";
}

/// Builds a `caf::error` in the dtask category with a context message.
template <class... Ts>
caf::error make_error(errc code, Ts&&... context) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::forward<Ts>(context)...)};
}

/// True if `err` is a dtask error with code `code`.
inline bool is(const caf::error& err, errc code) {
  return err.category() == error_category
         && err.code() == static_cast<uint8_t>(code);
}

/// The machine-readable code of any error: the dtask code name, or the
/// category and code of a foreign error ("system:5").
inline std::string code_name(const caf::error& err) {
  if (err.category() == error_category)
    return to_string(static_cast<errc>(err.code()));
  return caf::to_string(err.category()) + ":" + std::to_string(err.code());
}

} // namespace dtask
