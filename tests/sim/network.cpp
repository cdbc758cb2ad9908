// The simulated middleman: answers a supervisor's `connect` the way CAF's
// middleman does, from the simulation's view of the network (see sim.hpp).

#include "world.hpp"

namespace dtask_sim {

dtask::connector_api::behavior_type
sim_network(dtask::connector_api::pointer self, world* w) {
  using reply = caf::typed_response_promise<caf::node_id, caf::strong_actor_ptr,
                                            std::set<std::string>>;
  // Connects to hung peers never complete: the caller's timeout ends them.
  auto unanswered = std::make_shared<std::vector<reply>>();
  return {
    [=](caf::connect_atom, const std::string& host, uint16_t port)
      -> caf::result<caf::node_id, caf::strong_actor_ptr,
                     std::set<std::string>> {
      auto sender = self->current_sender();
      auto from = sender ? w->node_of(sender->id()) : -1;
      bool hung = false;
      auto peer = w->connect(from, host + ":" + std::to_string(port), hung);
      if (hung) {
        unanswered->push_back(
          self->make_response_promise<caf::node_id, caf::strong_actor_ptr,
                                      std::set<std::string>>());
        return unanswered->back();
      }
      if (!peer)
        return caf::make_error(caf::sec::cannot_connect_to_node);
      return {self->system().node(), std::move(peer), std::set<std::string>{}};
    },
  };
}

} // namespace dtask_sim
