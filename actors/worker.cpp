// The worker actor: runs one incarnation of a task and reports its outcome to
// the registry of its node, which watches it and reports upwards.

#include <caf/all.hpp>

#include "actors.hpp"

namespace dtask {

task_context::task_context(caf::event_based_actor* self, caf::actor registry,
                           std::string name, uint64_t epoch)
  : self_(self),
    registry_(std::move(registry)),
    name_(std::move(name)),
    epoch_(epoch) {
  // nop
}

void task_context::done(caf::message result) const {
  self_->send(registry_, finished_atom::value, epoch_,
              task_status{name_, task_state::done, {}, std::move(result), {}});
  self_->quit();
}

void task_context::fail(std::string reason) const {
  self_->send(registry_, finished_atom::value, epoch_,
              task_status{name_, task_state::failed, {}, caf::message{},
                          std::move(reason)});
  self_->quit();
}

caf::actor spawn_worker(caf::actor_system& sys, const task_factory& factory,
                        const spawn_order& order, caf::actor registry) {
  // Capture only what the task needs: this closure lives as long as the
  // worker does. The factory itself lives in the node's catalog.
  auto fn = &factory;
  return sys.spawn([fn, args = order.args, name = order.name,
                    epoch = order.epoch,
                    registry](caf::event_based_actor* self) mutable {
    return (*fn)(self, args,
                 task_context{self, std::move(registry), std::move(name),
                              epoch});
  });
}

} // namespace dtask
