#include "sim.hpp"

#include <string>

#include "world.hpp"

namespace dtask_sim {

bool is_callback_violation(const std::string& text) {
  for (auto prefix : {"accepted but no callback", "two different callbacks",
                      "callback delivered"})
    if (text.compare(0, std::char_traits<char>::length(prefix), prefix) == 0)
      return true;
  return false;
}

sim_result run_seed(const sim_options& opts) {
  world w{opts};
  auto result = w.run();
  if (!opts.safety_only)
    return result;
  sim_result kept = result;
  kept.violations.clear();
  kept.violation_ms.clear();
  for (size_t i = 0; i < result.violations.size(); ++i)
    if (!is_callback_violation(result.violations[i])) {
      kept.violations.push_back(result.violations[i]);
      kept.violation_ms.push_back(result.violation_ms[i]);
    }
  return kept;
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
    {"regain-without-takeover", mutation::regain_without_takeover,
     "an orchestrator whose majority lapsed serves on without a takeover's "
     "waits once it is back"},
  };
  return names;
}

} // namespace dtask_sim
