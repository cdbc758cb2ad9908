#pragma once

// The simulated cluster of one seed: the nodes, the network between them
// (a message_filter, see sim.hpp), the faults, and the run loop.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors.hpp"
#include "node_actor.hpp"
#include "sim.hpp"

namespace dtask_sim {

using vtime = dtask::clock_type::time_point;

/// What the run wrote down for the checkers, times in virtual ns.
struct records {
  std::vector<std::string> event_logs; // one per node, all incarnations
  std::ostringstream client_log;
  std::ostringstream kill_log;
  std::ostringstream stamps;
};

class world : public dtask::message_filter {
public:
  explicit world(const sim_options& opts);
  ~world() override;

  sim_result run();

  // -- used by the workload (workload.cpp) ----------------------------------

  vtime now() const {
    return sched_->clock().now();
  }

  int64_t now_ns() const {
    return now().time_since_epoch().count();
  }

  std::mt19937_64& rng() {
    return rng_;
  }

  records& recs() {
    return recs_;
  }

  /// A supervisor to send a request to: any node's current incarnation.
  dtask::gateway_api random_gateway();

  /// The supervisors of the nodes that are up, by node name.
  std::map<std::string, dtask::gateway_api> live_supervisors() const;

  /// Answers of the final `whereis` round: node -> "NODE EPOCH" or error.
  std::map<std::string, std::string> final_views;

  void note_violation(std::string text) {
    late_violations_.emplace_back(now_ns(), std::move(text));
  }

  // -- used by the simulated network (network.cpp) ---------------------------

  /// The node that sent the current request of an actor, or -1.
  int node_of(caf::actor_id id) const;

  /// Connects `from` to the node named `to`: the peer's supervisor, or null
  /// if it cannot be reached now; `hung` is set if the peer would not
  /// answer at all (a hung process).
  caf::strong_actor_ptr connect(int from, const std::string& to, bool& hung);

  // -- message_filter --------------------------------------------------------

  void created(caf::scheduled_actor& self) override;
  void enqueued(caf::scheduled_actor& self,
                const caf::mailbox_element& x) override;
  bool admit(caf::scheduled_actor& self, caf::mailbox_element& x) override;
  void skipped(caf::scheduled_actor& self, caf::mailbox_element& x) override;

private:
  struct sim_node;
  struct link;
  struct held;
  struct fault;

  void start_node(int i);
  void kill_node(int i);
  void hang_node(int i, int64_t ms);
  void partition(uint32_t side, int64_t ms);
  void break_link(int a, int b, bool notify);
  void schedule_faults();
  void apply(const fault& f);
  void propose_change(int target, int via);
  void heal_all();
  void release_blocked();
  void run_ready_jobs();
  vtime next_event() const;
  void release_due();
  void hold(int from, int to, caf::scheduled_actor& self,
            caf::mailbox_element& x, bool system);
  link& link_of(int a, int b);
  bool runnable(caf::resumable* job) const;
  void trace(const std::string& line);
  void final_round();
  void check(sim_result& result);
  void shutdown();

  sim_options opts_;
  std::mt19937_64 rng_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  vtime t0_;
  std::vector<sim_node> nodes_;
  std::vector<link> links_; // (n + 1) x (n + 1); index n: outside the nodes
  std::map<std::pair<vtime, uint64_t>, held> timed_;
  std::map<std::pair<vtime, uint64_t>, fault> faults_;
  uint64_t seq_ = 0;
  /// Actor id -> (node, incarnation); actors outside the nodes are absent.
  std::unordered_map<caf::actor_id, std::pair<int, int>> owner_;
  std::set<caf::actor_id> terminated_;
  /// Messages released by the network (or skipped once admitted), by
  /// address, with their receiver: they pass `admit` once.
  std::unordered_map<const caf::mailbox_element*, caf::actor_id> admitted_;
  /// Where each message in a node actor's mailbox was sent from: the node
  /// whose actor ran when it was enqueued (-1: outside the nodes).
  std::unordered_map<const caf::mailbox_element*, int> origin_;
  int current_node_ = -1;
  int current_incarnation_ = 0;
  uint32_t partition_id_ = 0;
  std::vector<int> group_;
  dtask::connector_api network_;
  caf::actor client_;
  records recs_;
  std::vector<std::pair<int64_t, std::string>> late_violations_;
  std::ostringstream trace_;
  std::streambuf* saved_cout_ = nullptr;
  std::streambuf* saved_cerr_ = nullptr;
  uint64_t messages_ = 0;
  uint64_t faults_applied_ = 0;
  bool livelock_ = false;

};

/// The task type `sim` (stamps while it runs) and the client actor
/// (workload.cpp).
dtask::catalog sim_catalog(world* w);
caf::behavior sim_client(caf::event_based_actor* self, world* w,
                         int starts, int64_t spread_ms, bool stops);
/// The simulated middleman (network.cpp).
dtask::connector_api::behavior_type
sim_network(dtask::connector_api::pointer self, world* w);

using tick_atom = dtask::tick_atom;
using probe_atom = caf::atom_constant<caf::atom("probe")>;

} // namespace dtask_sim
