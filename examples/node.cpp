// A node program with two task types of its own besides the built-in ones:
//
//   summarize N...  count, sum, min and max of integers, as an
//                   `example::summary` (a message type of this program)
//   countdown N     counts down from N (0..1000), a step every 10 ms, then
//                   ends with "liftoff"
//
// Every node of the cluster runs this program. Usage: as dtask-node
// (--config-file=FILE, --cluster.KEY=VALUE, --help).

#include <chrono>
#include <string>

#include <caf/all.hpp>
#include <dtask/node.hpp>

#include "summary.hpp"

using step_atom = caf::atom_constant<caf::atom("step")>;

namespace {

caf::behavior summarize(caf::event_based_actor*, const caf::message& args,
                        dtask::task_context ctx) {
  example::summary result;
  for (size_t i = 0; i < args.size(); ++i) {
    int64_t x = 0;
    if (!dtask::arg_as_int(args, i, x)) {
      ctx.fail("summarize expects integers");
      return {};
    }
    result.add(x);
  }
  if (result.count == 0)
    ctx.fail("summarize expects at least one integer");
  else
    ctx.done(caf::make_message(result));
  return {};
}

caf::behavior countdown(caf::event_based_actor* self, const caf::message& args,
                        dtask::task_context ctx) {
  int64_t n = 0;
  if (args.size() != 1 || !dtask::arg_as_int(args, 0, n) || n < 0
      || n > 1000) {
    ctx.fail("countdown expects an integer from 0 to 1000");
    return {};
  }
  self->send(self, step_atom::value, n);
  return {
    [=](step_atom, int64_t left) {
      if (left == 0)
        ctx.done(caf::make_message(std::string{"liftoff"}));
      else
        self->delayed_send(self, std::chrono::milliseconds(10),
                           step_atom::value, left - 1);
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  auto tasks = dtask::builtin_catalog();
  tasks.add("summarize", summarize);
  tasks.add("countdown", countdown);
  return dtask::node_main(argc, argv, std::move(tasks), example::add_types);
}
