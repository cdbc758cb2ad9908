#pragma once

// Writing task types. A task type is a function that builds the behaviour of
// one worker actor from the task's arguments. The worker ends the task by
// calling `ctx.done(result)` or `ctx.fail(reason)` exactly once, at any time:
// inside the factory for tasks that finish at once, or from a message handler
// later. A worker that stops or throws without calling either is `failed`.
//
//   dtask::catalog cat = dtask::builtin_catalog();
//   cat.add("square", [](caf::event_based_actor*, const caf::message& args,
//                        dtask::task_context ctx) -> caf::behavior {
//     int64_t x = 0;
//     if (!dtask::arg_as_int(args, 0, x))
//       ctx.fail("square expects one integer");
//     else
//       ctx.done(caf::make_message(x * x));
//     return {};
//   });

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/behavior.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include "dtask/protocol.hpp"

namespace dtask {

/// Handed to a task's factory: the one way a task reports its outcome.
class task_context {
public:
  task_context(caf::event_based_actor* self, worker_report_api registry,
               std::string name, uint64_t epoch);

  /// Ends the task successfully with `result` and stops the worker.
  void done(caf::message result) const;

  /// Ends the task as failed with `reason` and stops the worker.
  void fail(std::string reason) const;

  /// Reports how far the task got: the latest report shows in `status`
  /// and `list` while the task runs (reports are batched; one larger than
  /// the node's `max-result-bytes` is dropped).
  void progress(caf::message what) const;

  /// The task's name.
  const std::string& name() const noexcept {
    return name_;
  }

  /// This incarnation's epoch: it only grows, so a task with side effects
  /// outside the cluster can pass it along as a fencing token.
  uint64_t epoch() const noexcept {
    return epoch_;
  }

private:
  caf::event_based_actor* self_;
  worker_report_api registry_;
  std::string name_;
  uint64_t epoch_;
};

/// Builds the behaviour of one worker. `self` is the worker actor.
using task_factory = std::function<caf::behavior(
  caf::event_based_actor* self, const caf::message& args, task_context ctx)>;

/// Task types by name. Every node of a cluster must hold the same catalog.
class catalog {
public:
  /// Adds or replaces a task type.
  void add(std::string type, task_factory factory) {
    factories_[std::move(type)] = std::move(factory);
  }

  /// The factory of `type`, or nullptr.
  const task_factory* find(const std::string& type) const {
    auto i = factories_.find(type);
    return i != factories_.end() ? &i->second : nullptr;
  }

  std::vector<std::string> types() const {
    std::vector<std::string> result;
    for (auto& kvp : factories_)
      result.push_back(kvp.first);
    return result;
  }

private:
  std::map<std::string, task_factory> factories_;
};

/// Reads argument `pos` as an integer: any integral element, or a string
/// holding only a decimal integer. Returns false otherwise.
bool arg_as_int(const caf::message& args, size_t pos, int64_t& out);

/// Reads argument `pos` as text: a string element, or any element rendered.
std::string arg_as_text(const caf::message& args, size_t pos);

/// The built-in task types:
/// - `sleep MS`: waits MS milliseconds, result: MS;
/// - `echo ARGS...`: result: the arguments, at once;
/// - `fail TEXT`: fails with TEXT, at once.
catalog builtin_catalog();

} // namespace dtask
