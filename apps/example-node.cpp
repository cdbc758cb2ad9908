// A user's own node program: the built-in task types plus one of its own.
// Every node of the cluster runs this program, so every node knows "square".

#include <caf/all.hpp>

#include "dtask/node.hpp"

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
  return dtask::node_main(argc, argv, std::move(tasks));
}
