// The registry actor: this node's share of the global name registry.
//
// The orchestrator decides which name runs where; the registry of that node
// spawns the worker, watches it, and keeps its entry (name -> worker, epoch,
// callback) until the orchestrator acknowledged the outcome. The union of all
// registries is the cluster's truth about running tasks: a new orchestrator
// rebuilds its table from them (`sync`), and an outcome reported to an
// orchestrator that died is handed to the next one the same way.
//
// The registry on the orchestrator's node mirrors its entries to one other
// registry (the node that would be elected next): when the orchestrator's
// node dies, its registry dies with it, and the mirror is how the next
// orchestrator learns which tasks were lost there.

#include <iostream>
#include <map>
#include <unordered_map>

#include <caf/all.hpp>

#include "actors.hpp"
#include "dtask/errors.hpp"

namespace dtask {

namespace {

struct registry_state {
  node_context_ptr ctx;
  /// The orchestrator this registry follows; set by `sync`.
  orchestrator_ref orchestrator;
  std::unordered_map<std::string, registry_entry> entries;
  /// Worker address -> task name, for down messages.
  std::unordered_map<caf::actor_addr, std::string> workers;
  /// Where this registry mirrors its entries; set by the local supervisor.
  caf::actor mirror_to;
  /// Entries mirrored here by other registries: origin node -> name -> entry.
  std::map<std::string, std::unordered_map<std::string, registry_entry>>
    mirrored;

  static const char* name;
};

const char* registry_state::name = "dtask.registry";

using registry_ptr = caf::stateful_actor<registry_state>*;

/// Sends the current state of `entry` to the mirror, if any.
void mirror(registry_ptr self, const registry_entry& entry) {
  if (auto& to = self->state.mirror_to)
    self->send(to, mirror_atom::value, entry);
}

/// Reports an ended task to the orchestrator; the entry stays until `ack`.
void report(registry_ptr self, registry_entry& entry) {
  entry.worker = nullptr;
  mirror(self, entry);
  if (auto& orch = self->state.orchestrator.handle)
    self->send(orch, finished_atom::value, entry);
}

caf::behavior registry(registry_ptr self, node_context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.workers.find(dm.source);
    if (i == st.workers.end())
      return;
    auto j = st.entries.find(i->second);
    st.workers.erase(i);
    if (j == st.entries.end() || j->second.status.state != task_state::running)
      return;
    // The worker stopped without calling done or fail.
    auto& entry = j->second;
    entry.status.state = task_state::failed;
    entry.status.reason = dm.reason
                            ? "the task's actor stopped: "
                                + self->system().render(dm.reason)
                            : "the task's actor stopped without a result";
    report(self, entry);
  });
  return {
    [=](spawn_atom, spawn_order& order) {
      auto& st = self->state;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      auto refuse = [&](caf::error err) {
        self->send(sender, spawned_atom::value, order.name, order.epoch,
                   caf::actor{}, std::move(err));
      };
      if (order.orch_epoch < st.orchestrator.epoch)
        return refuse(make_error(errc::stale_orchestrator,
                                 "spawn order from an outdated orchestrator"));
      auto factory = st.ctx->tasks.find(order.type);
      if (factory == nullptr)
        return refuse(make_error(errc::unknown_task_type, order.type));
      auto i = st.entries.find(order.name);
      if (i != st.entries.end() && i->second.status.state == task_state::running)
        return refuse(make_error(errc::already_running, order.name,
                                 st.ctx->name, i->second.worker));
      if (order.orch_epoch > st.orchestrator.epoch)
        st.orchestrator = orchestrator_ref{sender, {}, order.orch_epoch};
      auto worker = spawn_worker(self->system(), *factory, order,
                                 caf::actor_cast<caf::actor>(self));
      self->monitor(worker);
      st.workers.emplace(worker.address(), order.name);
      auto& entry = st.entries[order.name];
      entry.status = task_status{order.name, task_state::running, st.ctx->name,
                                 caf::message{}, std::string{}};
      entry.worker = worker;
      entry.order = std::move(order);
      mirror(self, entry);
      self->send(sender, spawned_atom::value, entry.order.name,
                 entry.order.epoch, worker, caf::error{});
    },
    [=](finished_atom, uint64_t epoch, task_status& status) {
      // From a worker: its outcome.
      auto& st = self->state;
      auto i = st.entries.find(status.name);
      if (i == st.entries.end() || i->second.order.epoch != epoch
          || i->second.status.state != task_state::running)
        return;
      status.node = st.ctx->name;
      i->second.status = std::move(status);
      report(self, i->second);
    },
    [=](ack_atom, const std::string& name, uint64_t epoch) {
      // The orchestrator recorded the outcome, or declared this incarnation
      // over (lost) while it still ran here: then it must not run on.
      auto& st = self->state;
      auto i = st.entries.find(name);
      if (i == st.entries.end() || i->second.order.epoch != epoch) {
        // Perhaps a mirrored entry of a dead node, now taken over.
        for (auto& kvp : st.mirrored) {
          auto j = kvp.second.find(name);
          if (j != kvp.second.end() && j->second.order.epoch == epoch)
            kvp.second.erase(j);
        }
        return;
      }
      if (i->second.status.state == task_state::running) {
        std::cout << "dtask-node " << st.ctx->name << ": stopped task " << name
                  << ": the cluster declared it over" << std::endl;
        self->send_exit(i->second.worker, caf::exit_reason::kill);
      }
      st.entries.erase(i);
      if (st.mirror_to)
        self->send(st.mirror_to, mirror_atom::value, st.ctx->name, name,
                   epoch);
    },
    [=](mirror_atom, caf::actor& to) {
      // From the local supervisor: mirror to `to` from now on (or stop).
      auto& st = self->state;
      if (st.mirror_to == to)
        return;
      st.mirror_to = std::move(to);
      if (!st.mirror_to)
        return;
      std::vector<registry_entry> all;
      for (auto& kvp : st.entries)
        all.push_back(kvp.second);
      self->send(st.mirror_to, mirror_atom::value, st.ctx->name, all);
    },
    [=](mirror_atom, const std::string& origin,
        std::vector<registry_entry>& all) {
      auto& mine = self->state.mirrored[origin];
      mine.clear();
      for (auto& e : all)
        mine.emplace(e.order.name, std::move(e));
    },
    [=](mirror_atom, registry_entry& e) {
      auto& mine = self->state.mirrored[e.status.node];
      mine[e.order.name] = std::move(e);
    },
    [=](mirror_atom, const std::string& origin, const std::string& name,
        uint64_t epoch) {
      auto& mine = self->state.mirrored[origin];
      auto i = mine.find(name);
      if (i != mine.end() && i->second.order.epoch == epoch)
        mine.erase(i);
    },
    [=](sync_atom, orchestrator_ref& orch)
      -> caf::result<std::vector<registry_entry>> {
      auto& st = self->state;
      if (orch.epoch < st.orchestrator.epoch)
        return make_error(errc::stale_orchestrator,
                          "sync from an outdated orchestrator");
      st.orchestrator = std::move(orch);
      // Own entries, then mirrored ones: the orchestrator takes a mirrored
      // entry only if its origin node is no longer a member.
      std::vector<registry_entry> result;
      result.reserve(st.entries.size());
      for (auto& kvp : st.entries)
        result.push_back(kvp.second);
      for (auto& origin : st.mirrored)
        for (auto& kvp : origin.second)
          result.push_back(kvp.second);
      return result;
    },
  };
}

} // namespace

caf::actor spawn_registry(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(registry, std::move(ctx));
}

} // namespace dtask
