// A user's own node program: the built-in task types plus two of its own.
// Every node of the cluster runs this program, so every node knows "square"
// and "stamp".

#include <chrono>
#include <fstream>

#include <caf/all.hpp>

#include "dtask/node.hpp"

using stamp_atom = caf::atom_constant<caf::atom("stamp")>;

int main(int argc, char** argv) {
  auto tasks = dtask::builtin_catalog();
  tasks.add("square", [](caf::event_based_actor*, const caf::message& args,
                         dtask::task_context ctx) -> caf::behavior {
    int64_t x = 0;
    if (args.size() == 1 && dtask::arg_as_int(args, 0, x))
      ctx.done(caf::make_message(x * x));
    else
      ctx.fail("square expects one integer");
    return {};
  });
  // A task with a side effect outside the cluster: every PERIOD ms it
  // appends "EPOCH STEADY-CLOCK-NS" to the file PATH, until it is stopped.
  // The epoch is the fencing token a reader of the file can check.
  tasks.add("stamp", [](caf::event_based_actor* self, const caf::message& args,
                        dtask::task_context ctx) -> caf::behavior {
    int64_t period = 0;
    if (args.size() != 2 || !dtask::arg_as_int(args, 1, period) || period < 1) {
      ctx.fail("stamp expects a path and a period in milliseconds");
      return {};
    }
    auto path = dtask::arg_as_text(args, 0);
    auto every = std::chrono::milliseconds{period};
    self->delayed_send(self, every, stamp_atom::value);
    return {
      [=](stamp_atom) {
        auto now = std::chrono::steady_clock::now().time_since_epoch();
        std::ofstream out{path, std::ios::app};
        out << ctx.epoch() << ' '
            << std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()
            << '\n';
        self->delayed_send(self, every, stamp_atom::value);
      },
    };
  });
  return dtask::node_main(argc, argv, std::move(tasks));
}
