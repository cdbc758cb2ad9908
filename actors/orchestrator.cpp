// The orchestrator actor: one per cluster. It decides where each name runs
// (consistent hashing over the live members), refuses a second instance of a
// running name, keeps the task table (include/dtask/task_table.hpp), and is
// the only actor that delivers callbacks, so each task gets exactly one.
//
// Life of an orchestrator:
//   syncing: asks every member's registry for its entries (the registries
//            adopt it as their orchestrator while answering); requests wait
//            in the mailbox meanwhile, bounded by the sync timeout.
//   serving: answers requests; merges `finished` reports and the entries of
//            members that join later; marks the tasks of dead members lost.

#include <map>
#include <set>
#include <unordered_map>

#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <caf/all.hpp>
#include <caf/detail/serialized_size.hpp>

#include "actors.hpp"
#include "dtask/errors.hpp"
#include "dtask/names.hpp"
#include "dtask/ring.hpp"
#include "dtask/task_table.hpp"

namespace dtask {

namespace {

/// How long a new orchestrator waits for a member's registry to answer.
constexpr auto sync_timeout = std::chrono::seconds(2);

/// How often finished tasks past their TTL are dropped from memory.
constexpr auto expiry_interval = std::chrono::seconds(1);

/// A caller waiting for the registry to confirm a start.
struct waiter {
  caf::response_promise promise;
  uint64_t token;
};

struct pending_start {
  uint64_t epoch = 0;
  std::vector<waiter> waiters;
};

struct orchestrator_state {
  node_context_ptr ctx;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  task_table table{std::chrono::seconds(60)};
  hash_ring ring;
  std::map<std::string, member> members;
  /// Members whose registry has not answered the first sync yet.
  std::set<std::string> syncing;
  std::unordered_map<std::string, pending_start> pending;
  boost::uuids::random_generator uuids;
  /// False while syncing.
  bool live = false;
  /// Acknowledgements batched per registry until the next flush.
  std::map<caf::actor, std::vector<task_key>> acks;
  bool flush_scheduled = false;

  static const char* name;
};

const char* orchestrator_state::name = "dtask.orchestrator";

using orchestrator_ptr = caf::stateful_actor<orchestrator_state>*;

orchestrator_ref self_ref(orchestrator_ptr self) {
  auto& st = self->state;
  return {caf::actor_cast<caf::actor>(self), st.ctx->name, st.epoch};
}

task_ref make_ref(const task_record& rec) {
  return task_ref{rec.name, rec.node, rec.worker};
}

caf::error already_running(const task_record& rec) {
  return make_error(errc::already_running, rec.name, rec.node, rec.worker);
}

/// Queues an acknowledgement for `registry` (see registry.cpp on batching).
void ack(orchestrator_ptr self, const caf::actor& registry,
         const std::string& name, uint64_t epoch) {
  auto& st = self->state;
  st.acks[registry].push_back(task_key{name, epoch});
  if (!st.flush_scheduled) {
    st.flush_scheduled = true;
    self->send(self, flush_atom::value);
  }
}

void flush(orchestrator_ptr self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  for (auto& kvp : st.acks)
    self->send(kvp.first, ack_atom::value, std::move(kvp.second));
  st.acks.clear();
}

void deliver_callback(orchestrator_ptr self, task_record& rec) {
  if (rec.callback) {
    self->send(rec.callback, rec.status());
    rec.callback = nullptr;
  }
}

/// Answers the callers that asked for `name` while the start of `epoch`
/// was not confirmed yet. (The caller whose start created it is answered by
/// the registry: the orchestrator delegates the start request there.)
void settle(orchestrator_ptr self, const std::string& name, uint64_t epoch,
            const task_record* rec, const caf::error& err) {
  auto& st = self->state;
  auto i = st.pending.find(name);
  if (i == st.pending.end() || i->second.epoch != epoch)
    return;
  for (auto& w : i->second.waiters) {
    if (err)
      w.promise.deliver(err);
    else if (w.token != 0 && w.token == rec->token)
      w.promise.deliver(make_ref(*rec));
    else
      w.promise.deliver(already_running(*rec));
  }
  st.pending.erase(i);
}

/// Takes over what a registry reports: running tasks this orchestrator did
/// not know (after a failover or a join), outcomes not yet acknowledged, and
/// mirrored entries of a dead orchestrator's node, whose running tasks are
/// lost.
void merge(orchestrator_ptr self, const caf::actor& registry,
           std::vector<registry_entry>& entries) {
  auto& st = self->state;
  auto now = clock_type::now();
  for (auto& e : entries) {
    auto& name = e.order.name;
    auto epoch = e.order.epoch;
    auto rec = st.table.find(name, now);
    auto same = rec != nullptr && rec->epoch == epoch;
    auto origin = st.members.find(e.status.node);
    if (origin != st.members.end()) {
      if (origin->second.registry != registry)
        continue; // A mirror of a live node's entry: the node speaks itself.
    } else if (e.status.state == task_state::running) {
      // A mirror of a task of a dead node: it died with its node.
      e.status.state = task_state::lost;
      e.status.reason = "the node " + e.status.node + " died";
    }
    if (e.status.state == task_state::running) {
      if (same && rec->running()) {
        if (!rec->confirmed) {
          auto confirmed = st.table.confirm(name, epoch, e.worker);
          settle(self, name, epoch, confirmed, caf::error{});
        }
      } else if (same || (rec != nullptr && rec->running())) {
        // Already declared over (lost), or another incarnation holds the
        // name: this one must not run on.
        ack(self, registry, name, epoch);
      } else {
        st.table.begin(name, e.status.node, epoch, e.order.token,
                       e.order.callback);
        st.table.confirm(name, epoch, e.worker);
      }
      continue;
    }
    // An outcome.
    if (same && !rec->running()) {
      // Recorded before; the ack was lost.
    } else if (rec != nullptr && rec->running() && !same) {
      // Another incarnation holds the name: report this one's end, keep the
      // table as it is.
      if (e.order.callback)
        self->send(e.order.callback, e.status);
    } else {
      if (!same)
        st.table.begin(name, e.status.node, epoch, e.order.token,
                       e.order.callback);
      auto ended = st.table.finish(name, epoch, e.status.state,
                                   std::move(e.status.result),
                                   std::move(e.status.reason), now);
      if (ended != nullptr) {
        settle(self, name, epoch, ended, caf::error{});
        deliver_callback(self, *ended);
      }
    }
    ack(self, registry, name, epoch);
  }
}

/// Asks `m`'s registry for its entries (and makes it follow this
/// orchestrator). A sync that fails is tried again for as long as `m` is a
/// member: a registry that never synced would report to a dead orchestrator.
void sync_member(orchestrator_ptr self, const member& m,
                 std::function<void()> done) {
  auto registry = m.registry;
  self->request(registry, sync_timeout, sync_atom::value, self_ref(self))
    .then(
      [=](std::vector<registry_entry>& entries) {
        merge(self, registry, entries);
        done();
      },
      [=](caf::error& err) {
        log_line{true} << "dtask-orchestrator: sync with " << m.node
                  << " failed: " << self->system().render(err);
        done();
        auto i = self->state.members.find(m.node);
        if (i != self->state.members.end() && i->second.registry == registry)
          sync_member(self, m, [] {});
      });
}

/// Applies a new member list: lost tasks for members that left, a sync for
/// members that joined, a new ring.
void set_members(orchestrator_ptr self, std::vector<member>& members) {
  auto& st = self->state;
  auto now = clock_type::now();
  std::map<std::string, member> next;
  for (auto& m : members)
    next.emplace(m.node, std::move(m));
  for (auto& kvp : st.members) {
    auto i = next.find(kvp.first);
    if (i != next.end() && i->second.registry == kvp.second.registry)
      continue;
    // The member left, or came back as a new incarnation.
    for (auto rec : st.table.node_lost(kvp.first, now)) {
      settle(self, rec->name, rec->epoch, nullptr,
             make_error(errc::node_down, rec->name, rec->node));
      deliver_callback(self, *rec);
    }
    st.syncing.erase(kvp.first);
  }
  std::vector<member> joined;
  for (auto& kvp : next) {
    auto i = st.members.find(kvp.first);
    if (i == st.members.end() || i->second.registry != kvp.second.registry)
      joined.push_back(kvp.second);
  }
  st.members = std::move(next);
  std::vector<std::string> names;
  for (auto& kvp : st.members)
    names.push_back(kvp.first);
  st.ring.assign(std::move(names));
  for (auto& m : joined)
    sync_member(self, m, [] {});
}

/// Answers a start of a running name whose worker handle this orchestrator
/// does not have (it rebuilt its table without handles): asks the task's
/// registry for it first. `same_attempt` selects the answer: the start's
/// reference, or `already_running`.
caf::response_promise with_worker(orchestrator_ptr self, const task_record& rec,
                                  bool same_attempt) {
  auto& st = self->state;
  auto rp = self->make_response_promise();
  auto m = st.members.find(rec.node);
  if (m == st.members.end()) {
    if (same_attempt)
      rp.deliver(make_ref(rec));
    else
      rp.deliver(already_running(rec));
    return rp;
  }
  auto copy = rec;
  self->request(m->second.registry, sync_timeout, whereis_atom::value, rec.name)
    .then(
      [=](caf::actor& worker) mutable {
        if (worker) // Remember it (a no-op unless still running).
          self->state.table.confirm(copy.name, copy.epoch, worker);
        copy.worker = std::move(worker);
        if (same_attempt)
          rp.deliver(make_ref(copy));
        else
          rp.deliver(already_running(copy));
      },
      [=](caf::error&) mutable {
        if (same_attempt)
          rp.deliver(make_ref(copy));
        else
          rp.deliver(already_running(copy));
      });
  return rp;
}

caf::result<caf::message> start(orchestrator_ptr self, std::string& type,
                                caf::message& args, start_options& opts) {
  auto& st = self->state;
  if (opts.name.empty()) {
    opts.name = boost::uuids::to_string(st.uuids());
  } else {
    auto why = check_name(opts.name);
    if (!why.empty())
      return make_error(errc::invalid_name, opts.name, why);
  }
  if (st.ctx->tasks.find(type) == nullptr)
    return make_error(errc::unknown_task_type, type);
  if (!args.empty()) {
    auto size = caf::detail::serialized_size(self->system(), args);
    auto limit = st.ctx->config.max_args_bytes;
    if (size > limit)
      return make_error(errc::args_too_large, static_cast<uint64_t>(size),
                        limit);
  }
  auto rec = st.table.find(opts.name, clock_type::now());
  // A retry of a start that got through (same token) is answered as that
  // start, whether its task still runs or ended meanwhile: it never runs
  // the task a second time.
  auto same_attempt = rec != nullptr && opts.token != 0
                      && opts.token == rec->token;
  if (same_attempt && !rec->running())
    return caf::make_message(make_ref(*rec));
  if (rec != nullptr && rec->running() && rec->confirmed && !rec->worker)
    return with_worker(self, *rec, same_attempt);
  if (same_attempt && rec->confirmed)
    return caf::make_message(make_ref(*rec));
  if (rec != nullptr && rec->running()) {
    if (!rec->confirmed) {
      // Started a moment ago, not confirmed yet: answer with the worker.
      auto rp = self->make_response_promise();
      auto& p = st.pending[opts.name];
      p.epoch = rec->epoch;
      p.waiters.push_back(waiter{rp, opts.token});
      return rp;
    }
    return already_running(*rec);
  }
  if (st.ring.empty())
    return make_error(errc::no_orchestrator, "the orchestrator has no members");
  auto& node = st.ring.owner(opts.name);
  auto& target = st.members[node];
  auto epoch = (st.epoch << 32) | ++st.seq;
  st.table.begin(opts.name, node, epoch, opts.token, opts.callback);
  // The registry answers the caller; its report confirms the worker here.
  // If its node dies first, the caller's attempt times out and its retry
  // (same token) finds the name lost and starts it anew.
  return self->delegate(target.registry, spawn_atom::value,
                        spawn_order{opts.name, std::move(type),
                                    std::move(args), std::move(opts.callback),
                                    opts.token, epoch, st.epoch});
}

caf::behavior serving(orchestrator_ptr self) {
  return {
    [=](start_atom, std::string& type, caf::message& args,
        start_options& opts) { return start(self, type, args, opts); },
    [=](status_atom, const std::string& name) -> caf::result<task_status> {
      auto rec = self->state.table.find(name, clock_type::now());
      if (rec == nullptr)
        return make_error(errc::not_found, name);
      return rec->status();
    },
    [=](list_atom) {
      std::vector<task_status> result;
      self->state.table.for_each(clock_type::now(), [&](task_record& rec) {
        result.push_back(rec.status());
      });
      return result;
    },
    [=](nodes_atom) {
      auto& st = self->state;
      std::vector<node_info> result;
      for (auto& kvp : st.members)
        result.push_back(node_info{kvp.first, "up", kvp.first == st.ctx->name,
                                   st.table.running_on(kvp.first)});
      return result;
    },
    [=](spawned_atom, const std::string& name, uint64_t epoch,
        caf::error& err) {
      // A registry refused a spawn order (its catalog lacks the type, or
      // this orchestrator is outdated); the caller got the error already.
      self->state.table.abort(name, epoch);
      settle(self, name, epoch, nullptr, err);
    },
    [=](report_atom, std::vector<registry_entry>& entries) {
      merge(self, caf::actor_cast<caf::actor>(self->current_sender()),
            entries);
    },
    [=](flush_atom) { flush(self); },
    [=](members_atom, std::vector<member>& members) {
      set_members(self, members);
    },
    [=](tick_atom) {
      self->state.table.expire(clock_type::now());
      self->delayed_send(self, expiry_interval, tick_atom::value);
    },
  };
}

caf::behavior orchestrator(orchestrator_ptr self, node_context_ptr ctx,
                           uint64_t epoch, std::vector<member> members) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.epoch = epoch;
  st.table = task_table{st.ctx->config.finished_ttl};
  std::vector<std::string> names;
  for (auto& m : members) {
    names.push_back(m.node);
    st.syncing.insert(m.node);
    st.members.emplace(m.node, m);
  }
  st.ring.assign(std::move(names));
  auto go_live = [=] {
    auto& st = self->state;
    if (st.live || !st.syncing.empty())
      return;
    st.live = true;
    self->set_default_handler(caf::print_and_drop);
    self->become(serving(self));
    self->send(self, tick_atom::value);
  };
  for (auto& m : members) {
    auto node = m.node;
    sync_member(self, m, [=] {
      self->state.syncing.erase(node);
      go_live();
    });
  }
  // Until every member answered, everything else waits in the mailbox.
  self->set_default_handler(caf::skip);
  return {
    [=](members_atom, std::vector<member>& members) {
      set_members(self, members);
      go_live();
    },
  };
}

} // namespace

caf::actor spawn_orchestrator(caf::actor_system& sys, node_context_ptr ctx,
                              uint64_t epoch, std::vector<member> members) {
  return sys.spawn(orchestrator, std::move(ctx), epoch, std::move(members));
}

} // namespace dtask
