// The worker actor: runs one incarnation of a task and reports its outcome to
// the registry of its node, which watches it and reports upwards.

#include <caf/all.hpp>

#include "actors.hpp"
#include "mutations.hpp"
#include "node_actor.hpp"

namespace dtask {

task_context::task_context(caf::event_based_actor* self,
                           worker_report_api registry,
                           std::string name, uint64_t epoch)
  : self_(self),
    registry_(std::move(registry)),
    name_(std::move(name)),
    epoch_(epoch) {
  // nop
}

namespace {

task_status outcome(const std::string& name, task_state state,
                    caf::message result, std::string reason) {
  task_status st;
  st.name = name;
  st.state = state;
  st.result = std::move(result);
  st.reason = std::move(reason);
  return st;
}

} // namespace

void task_context::done(caf::message result) const {
  self_->send(registry_, finished_atom::value, epoch_,
              outcome(name_, task_state::done, std::move(result), {}));
  self_->quit();
}

void task_context::progress(caf::message what) const {
  self_->send(registry_, progress_atom::value, epoch_, std::move(what));
}

void task_context::fail(std::string reason) const {
  self_->send(registry_, finished_atom::value, epoch_,
              outcome(name_, task_state::failed, {}, std::move(reason)));
  self_->quit();
}

namespace {

/// What a worker needs to build its behaviour; dropped once it did.
struct worker_init {
  const task_factory* factory;
  caf::message args;
  std::string name;
  uint64_t epoch;
  worker_report_api registry;
};

/// A task's actor: an event-based actor that checks its node's lease before
/// each message (see `spawn_worker`).
class worker_actor : public node_actor {
public:
  worker_actor(caf::actor_config& cfg, std::unique_ptr<worker_init> init,
               lease_clock_ptr lease)
    : node_actor(cfg),
      init_(std::move(init)),
      lease_(std::move(lease)),
      cut_(lease_->cuts.load(std::memory_order_acquire)) {
    // nop
  }

  caf::behavior make_behavior() override {
    auto init = std::move(init_);
    return (*init->factory)(this, init->args,
                            task_context{this, std::move(init->registry),
                                         std::move(init->name), init->epoch});
  }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    // Past the lease, the cluster may run this name elsewhere: no task code
    // runs here any more, not even under a lease renewed later (the
    // registry's cut). The registry stops this actor on its next tick (at
    // once after a hang: its tick is overdue then); until then every
    // message but that exit is dropped, timeouts included.
    if (!lease_->valid(lease_->clock.now(clock()), cut_)
        && !x.content().match_elements<caf::exit_msg>()
        && !mutated(mutation::worker_ignores_lease))
      return caf::invoke_message_result::consumed;
    if (exit_from_elsewhere(x))
      return caf::invoke_message_result::consumed;
    return node_actor::consume(x);
  }

private:
  /// An exit from another node, or from nobody: a task's actor is handed to
  /// callers (`already_running`, `want_worker`), so anyone could stop it.
  /// Its own node's actors (the registry, the user's local actors) still
  /// can; a link across nodes no longer stops a task.
  bool exit_from_elsewhere(const caf::mailbox_element& x) const {
    return x.content().match_elements<caf::exit_msg>()
           && (x.sender == nullptr || x.sender->node() != node());
  }

  std::unique_ptr<worker_init> init_;
  lease_clock_ptr lease_;
  uint64_t cut_;
};

} // namespace

caf::actor spawn_worker(caf::actor_system& sys, const task_factory& factory,
                        const spawn_order& order, worker_report_api registry,
                        lease_clock_ptr lease) {
  // Only what the task needs, dropped once its behaviour is built. The
  // factory itself lives in the node's catalog.
  auto init = std::make_unique<worker_init>(
    worker_init{&factory, order.args, order.name, order.epoch,
                std::move(registry)});
  return sys.spawn<worker_actor>(std::move(init), std::move(lease));
}

} // namespace dtask
