// The task types every dtask node knows: sleep, echo and fail.

#include <algorithm>
#include <chrono>

#include <caf/all.hpp>

#include "dtask/protocol.hpp"
#include "dtask/task.hpp"

namespace dtask {

bool arg_as_int(const caf::message& args, size_t pos, int64_t& out) {
  if (pos >= args.size())
    return false;
  if (args.match_element<int64_t>(pos)) {
    out = args.get_as<int64_t>(pos);
    return true;
  }
  if (args.match_element<int32_t>(pos)) {
    out = args.get_as<int32_t>(pos);
    return true;
  }
  if (args.match_element<uint64_t>(pos)) {
    out = static_cast<int64_t>(args.get_as<uint64_t>(pos));
    return true;
  }
  if (args.match_element<std::string>(pos)) {
    auto& str = args.get_as<std::string>(pos);
    if (str.empty() || str.size() > 18
        || str.find_first_not_of("0123456789") != std::string::npos)
      return false;
    out = std::stoll(str);
    return true;
  }
  return false;
}

std::string arg_as_text(const caf::message& args, size_t pos) {
  if (pos >= args.size())
    return {};
  if (args.match_element<std::string>(pos))
    return args.get_as<std::string>(pos);
  return args.cvals()->stringify(pos);
}

namespace {

/// Longest sleep the built-in type accepts: one day.
constexpr int64_t max_sleep_ms = 24 * 3600 * 1000;

caf::behavior sleep_task(caf::event_based_actor* self,
                         const caf::message& args, task_context ctx) {
  int64_t ms = 0;
  if (args.size() != 1 || !arg_as_int(args, 0, ms) || ms < 0
      || ms > max_sleep_ms) {
    ctx.fail("sleep expects one integer: milliseconds from 0 to "
             + std::to_string(max_sleep_ms));
    return {};
  }
  if (ms == 0) {
    ctx.done(caf::make_message(ms));
    return {};
  }
  // One step a second: the elapsed milliseconds as progress, then done.
  auto step = std::min<int64_t>(ms, 1000);
  self->delayed_send(self, std::chrono::milliseconds{step}, tick_atom::value,
                     step);
  return {
    [self, ctx, ms](tick_atom, int64_t elapsed) {
      if (elapsed >= ms)
        return ctx.done(caf::make_message(ms));
      ctx.progress(caf::make_message(elapsed));
      auto next = std::min<int64_t>(ms - elapsed, 1000);
      self->delayed_send(self, std::chrono::milliseconds{next},
                         tick_atom::value, elapsed + next);
    },
  };
}

caf::behavior echo_task(caf::event_based_actor*, const caf::message& args,
                        task_context ctx) {
  ctx.done(args);
  return {};
}

caf::behavior fail_task(caf::event_based_actor*, const caf::message& args,
                        task_context ctx) {
  std::string reason;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i > 0)
      reason += ' ';
    reason += arg_as_text(args, i);
  }
  ctx.fail(reason.empty() ? std::string{"failed"} : reason);
  return {};
}

} // namespace

catalog builtin_catalog() {
  catalog result;
  result.add("sleep", sleep_task);
  result.add("echo", echo_task);
  result.add("fail", fail_task);
  return result;
}

} // namespace dtask
