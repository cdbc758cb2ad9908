// The registry actor: this node's share of the global name registry.
//
// The orchestrator decides which name runs where; the registry of that node
// spawns the worker, answers the caller (the orchestrator delegates the
// start request here), watches the worker, and keeps its entry (name ->
// worker, epoch, callback) until the orchestrator acknowledged the outcome.
// The union of all registries is the cluster's truth about running tasks: a
// new orchestrator rebuilds its table from them (`sync`), and an outcome
// reported to an orchestrator that died is handed to the next one the same
// way.
//
// The registry on the orchestrator's node mirrors its entries to one other
// registry (the node that would be elected next): when the orchestrator's
// node dies, its registry dies with it, and the mirror is how the next
// orchestrator learns which tasks were lost there.
//
// Reports to the orchestrator and to the mirror are batched: the first one
// queued schedules a `flush` message to self, which the actor reaches after
// everything already in its mailbox, so under load one message carries many
// tasks and at rest a report leaves at once.

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
  /// Worker address -> the incarnation it runs, for down messages.
  std::unordered_map<caf::actor_addr, task_key> workers;
  /// Where this registry mirrors its entries; set by the local supervisor.
  caf::actor mirror_to;
  /// Entries mirrored here by other registries: origin node -> name -> entry.
  std::map<std::string, std::unordered_map<std::string, registry_entry>>
    mirrored;
  /// Batched for the next flush.
  std::vector<registry_entry> reports;
  std::vector<registry_entry> mirror_updates;
  std::vector<task_key> mirror_removals;
  /// Starts that wait for the mirror before their caller hears of them.
  std::vector<registry_entry> mirror_confirms;
  std::vector<std::pair<caf::typed_response_promise<task_ref>, task_ref>>
    mirror_waiters;
  bool flush_scheduled = false;

  static const char* name;
};

const char* registry_state::name = "dtask.registry";

using registry_ptr = caf::stateful_actor<registry_state>*;

void schedule_flush(registry_ptr self) {
  auto& st = self->state;
  if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

/// Queues the current state of `entry` for the orchestrator and, unless
/// `to_mirror` is false (the caller mirrors it otherwise), for the mirror.
void report(registry_ptr self, const registry_entry& entry,
            bool to_mirror = true) {
  auto& st = self->state;
  st.reports.push_back(entry);
  if (st.mirror_to && to_mirror)
    st.mirror_updates.push_back(entry);
  schedule_flush(self);
}

/// Drops the report of a start when the same batch also reports its end: a
/// task that ended already needs no worker handle at the orchestrator (each
/// handle sent costs CAF a proxy and two bookkeeping messages).
std::vector<registry_entry> coalesce(std::vector<registry_entry> reports) {
  std::unordered_map<std::string, uint64_t> ended;
  for (auto& e : reports)
    if (e.status.state != task_state::running)
      ended.emplace(e.order.name, e.order.epoch);
  if (ended.empty())
    return reports;
  std::vector<registry_entry> result;
  result.reserve(reports.size());
  for (auto& e : reports) {
    auto i = ended.find(e.order.name);
    if (e.status.state == task_state::running && i != ended.end()
        && i->second == e.order.epoch)
      continue;
    result.push_back(std::move(e));
  }
  return result;
}

void flush(registry_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (!st.reports.empty()) {
    if (st.orchestrator.handle)
      self->send(st.orchestrator.handle, report_atom::value,
                 coalesce(std::move(st.reports)));
    st.reports.clear();
  }
  if (!st.mirror_waiters.empty()) {
    auto waiters = std::make_shared<decltype(st.mirror_waiters)>(
      std::move(st.mirror_waiters));
    st.mirror_waiters.clear();
    auto release = [waiters] {
      for (auto& w : *waiters)
        w.first.deliver(w.second);
    };
    if (st.mirror_to)
      self
        ->request(st.mirror_to, std::chrono::seconds(2), mirror_atom::value,
                  st.ctx->name, std::move(st.mirror_confirms), false)
        .then([release] { release(); },
              [release](caf::error&) { release(); });
    else
      release();
    st.mirror_confirms.clear();
  }
  if (st.mirror_to && !st.mirror_updates.empty())
    self->send(st.mirror_to, mirror_atom::value, st.ctx->name,
               std::move(st.mirror_updates), false);
  if (st.mirror_to && !st.mirror_removals.empty())
    self->send(st.mirror_to, mirror_atom::value, st.ctx->name,
               std::move(st.mirror_removals));
  st.mirror_updates.clear();
  st.mirror_removals.clear();
}

/// Records an ended task; the entry stays until the orchestrator's ack.
void end(registry_ptr self, registry_entry& entry) {
  entry.worker = nullptr;
  report(self, entry);
}

void forget(registry_ptr self, const std::string& name, uint64_t epoch) {
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
    // The cluster declared this incarnation over (lost) while it ran on
    // here, e.g. through a hang of this node: it must not run on.
    log_line{} << "dtask-node " << st.ctx->name << ": stopped task " << name
              << ": the cluster declared it over";
    self->send_exit(i->second.worker, caf::exit_reason::kill);
  }
  st.entries.erase(i);
  if (st.mirror_to) {
    st.mirror_removals.push_back(task_key{name, epoch});
    schedule_flush(self);
  }
}

caf::behavior registry(registry_ptr self, node_context_ptr ctx) {
  self->state.ctx = std::move(ctx);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    auto i = st.workers.find(dm.source);
    if (i == st.workers.end())
      return;
    auto key = std::move(i->second);
    st.workers.erase(i);
    auto j = st.entries.find(key.name);
    // The entry may belong to a newer incarnation of the same name by now.
    if (j == st.entries.end() || j->second.order.epoch != key.epoch
        || j->second.status.state != task_state::running)
      return;
    // The worker stopped without calling done or fail.
    auto& entry = j->second;
    entry.status.state = task_state::failed;
    entry.status.reason = dm.reason
                            ? "the task's actor stopped: "
                                + self->system().render(dm.reason)
                            : "the task's actor stopped without a result";
    end(self, entry);
  });
  return {
    [=](spawn_atom, spawn_order& order) -> caf::result<task_ref> {
      // Delegated by the orchestrator: the reply goes to the caller.
      auto& st = self->state;
      auto refuse = [&](caf::error err) -> caf::result<task_ref> {
        if (st.orchestrator.handle)
          self->send(st.orchestrator.handle, spawned_atom::value, order.name,
                     order.epoch, err);
        return err;
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
      auto worker = spawn_worker(self->system(), *factory, order,
                                 caf::actor_cast<caf::actor>(self));
      self->monitor(worker);
      st.workers.emplace(worker.address(), task_key{order.name, order.epoch});
      auto& entry = st.entries[order.name];
      entry.status = task_status{order.name, task_state::running, st.ctx->name,
                                 caf::message{}, std::string{}};
      entry.worker = worker;
      entry.order = std::move(order);
      // The worker holds its own copy of the arguments; nobody reads them
      // from the registry again (they would only cost memory and bytes on
      // every report, mirror update and sync).
      entry.order.args = caf::message{};
      // With a mirror, the confirmation below carries the entry there.
      report(self, entry, false);
      task_ref ref{entry.order.name, st.ctx->name, std::move(worker)};
      if (!st.mirror_to)
        return ref;
      // On the orchestrator's node, the caller hears of the start only once
      // the mirror holds it: if this node dies right after, the next
      // orchestrator still learns of the task and reports it lost.
      // (Batched like the reports: one mirror round trip per flush.)
      auto rp = self->make_response_promise<task_ref>();
      st.mirror_confirms.emplace_back(entry);
      st.mirror_waiters.emplace_back(rp, std::move(ref));
      schedule_flush(self);
      return rp;
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
      end(self, i->second);
    },
    [=](ack_atom, const std::vector<task_key>& keys) {
      for (auto& key : keys)
        forget(self, key.name, key.epoch);
    },
    [=](flush_atom) { flush(self); },
    [=](whereis_atom, const std::string& name) -> caf::actor {
      // The worker of a running task (for an orchestrator that rebuilt its
      // table without handles).
      auto& st = self->state;
      auto i = st.entries.find(name);
      if (i == st.entries.end()
          || i->second.status.state != task_state::running)
        return caf::actor{};
      return i->second.worker;
    },
    [=](sync_atom, orchestrator_ref& orch)
      -> caf::result<std::vector<registry_entry>> {
      auto& st = self->state;
      if (orch.epoch < st.orchestrator.epoch)
        return make_error(errc::stale_orchestrator,
                          "sync from an outdated orchestrator");
      st.orchestrator = std::move(orch);
      // Everything this registry knows, own entries first, then mirrored
      // ones: the orchestrator takes a mirrored entry only if its origin
      // node is no longer a member. The sync answer supersedes queued
      // reports, which went to the previous orchestrator.
      st.reports.clear();
      // Without worker handles: each one costs CAF a proxy and bookkeeping
      // messages, which made rebuilding 10,000 tasks slow; the orchestrator
      // asks for a handle when it needs one (`whereis`).
      std::vector<registry_entry> result;
      result.reserve(st.entries.size());
      for (auto& kvp : st.entries) {
        result.push_back(kvp.second);
        result.back().worker = nullptr;
      }
      for (auto& origin : st.mirrored)
        for (auto& kvp : origin.second)
          result.push_back(kvp.second);
      return result;
    },
    // -- mirroring --------------------------------------------------------
    [=](mirror_atom, caf::actor& to) {
      // From the local supervisor: mirror to `to` from now on (or stop).
      auto& st = self->state;
      if (st.mirror_to == to)
        return;
      if (st.mirror_to) // The old mirror drops what it held for us.
        self->send(st.mirror_to, mirror_atom::value, st.ctx->name,
                   std::vector<registry_entry>{}, true);
      st.mirror_to = std::move(to);
      st.mirror_updates.clear();
      st.mirror_removals.clear();
      if (!st.mirror_to)
        return;
      std::vector<registry_entry> all;
      for (auto& kvp : st.entries)
        all.push_back(kvp.second);
      self->send(st.mirror_to, mirror_atom::value, st.ctx->name, all, true);
    },
    [=](mirror_atom, const std::string& origin,
        std::vector<registry_entry>& updates, bool replace_all) {
      auto& mirrored = self->state.mirrored;
      if (replace_all && updates.empty()) {
        mirrored.erase(origin); // The origin mirrors elsewhere now.
        return;
      }
      auto& mine = mirrored[origin];
      if (replace_all)
        mine.clear();
      for (auto& e : updates)
        mine[e.order.name] = std::move(e);
    },
    [=](mirror_atom, const std::string& origin,
        const std::vector<task_key>& removals) {
      auto& mine = self->state.mirrored[origin];
      for (auto& key : removals) {
        auto i = mine.find(key.name);
        if (i != mine.end() && i->second.order.epoch == key.epoch)
          mine.erase(i);
      }
    },
  };
}

} // namespace

caf::actor spawn_registry(caf::actor_system& sys, node_context_ptr ctx) {
  return sys.spawn(registry, std::move(ctx));
}

} // namespace dtask
