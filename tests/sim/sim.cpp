#include "sim.hpp"

#include "world.hpp"

namespace dtask_sim {

sim_result run_seed(const sim_options& opts) {
  world w{opts};
  return w.run();
}

const std::vector<mutation_name>& mutation_names() {
  using dtask::mutation;
  static const std::vector<mutation_name> names{
    {"worker-ignores-lease", mutation::worker_ignores_lease,
     "a worker runs task code after its node's lease ended"},
    {"lost-before-lease-end", mutation::lost_before_lease_end,
     "a dropped node's tasks are declared lost at r + M, not r + L + M"},
    {"spawn-before-mirror", mutation::spawn_before_mirror,
     "a start on the orchestrator's node spawns before its mirror confirmed "
     "it"},
    {"stale-orders", mutation::stale_orders,
     "a registry runs spawn orders of an orchestrator older than its own"},
    {"mirror-collapse", mutation::mirror_collapse,
     "the mirror stores a batch of entries under one key"},
  };
  return names;
}

} // namespace dtask_sim
