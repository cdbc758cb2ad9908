#include "sim.hpp"

#include <string>

#include "world.hpp"

namespace dtask_sim {

/// Whether `text` names a violation that `level` does not check.
bool unchecked(const std::string& text, check_level level) {
  auto starts_with = [&](const char* prefix) {
    return text.compare(0, std::char_traits<char>::length(prefix), prefix)
           == 0;
  };
  switch (level) {
    case check_level::safety:
      return starts_with("accepted but no callback")
             || starts_with("two different callbacks")
             || starts_with("callback delivered");
    case check_level::at_most_once:
      return starts_with("accepted but no callback");
    default:
      return false;
  }
}

sim_result run_seed(const sim_options& opts) {
  world w{opts};
  auto result = w.run();
  sim_result kept = result;
  kept.violations.clear();
  kept.violation_ms.clear();
  for (size_t i = 0; i < result.violations.size(); ++i)
    if (!unchecked(result.violations[i], opts.check)) {
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
    {"lost-told-before-kept", mutation::lost_told_before_kept,
     "a fenced node's tasks are told lost before a majority of the voters "
     "keeps the verdicts"},
    {"outcome-told-before-kept", mutation::outcome_told_before_kept,
     "a task's outcome is told, and acknowledged, before a majority of the "
     "voters keeps it"},
    {"fence-without-reading", mutation::fence_without_reading,
     "a fence declares tasks lost without reading the outcomes a majority "
     "of the voters keep"},
    {"retry-without-reading", mutation::retry_without_reading,
     "a retried start unknown to the orchestrator runs again without "
     "reading what the voters keep"},
    {"forgetful-voter-counts", mutation::forgetful_voter_counts,
     "a voter whose process is new counts in reads before it caught up"},
    {"adoption-without-reading", mutation::adoption_without_reading,
     "a takeover keeps adopted verdicts without reading the outcomes kept"},
    {"stale-incarnation-revived", mutation::stale_incarnation_revived,
     "an older incarnation reported running is taken back as running"},
    {"told-start-fenced", mutation::told_start_fenced,
     "a fence declares lost, and restarts, a task whose start a later "
     "incarnation told"},
    {"change-without-majority", mutation::change_without_majority,
     "a change of the voters commits once one node took it, without a "
     "majority of the old and of the new voters"},
  };
  return names;
}

} // namespace dtask_sim
