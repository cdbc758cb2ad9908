#pragma once

// The orchestrator's book of tasks: which names run where, and which finished
// tasks are still remembered. Plain C++ with an injected clock, so every edge
// of the lifecycle below is a unit test (tests/unit_task_table.cpp).
//
//                 (1) begin                (2) confirm
//   [absent] ─────────────────▶ running ───────────────▶ running+worker
//      ▲                         │  │                        │
//      │ (3) abort               │  │ (5) node lost          │ (4) finish
//      ├─────────────────────────┘  ▼                        ▼
//      │                          lost ◀── (5) ──  done | failed
//      │ (6) TTL expiry             │                  │
//      └────────────────────────────┴──────────────────┘
//
// (1) the orchestrator accepted a start and sent the spawn order;
// (2) the registry confirmed, the worker handle is known;
// (3) the registry refused (unknown type, bad arguments): the name is free;
// (4) the worker ended with a result (done) or an error (failed);
// (5) the node died before the task ended: lost. Terminal states never change;
// (6) a terminal record is forgotten `ttl` after it ended, or earlier, oldest
//     first, when a task ends while `max_finished` ended ones are remembered
//     (running records are never forgotten). Forgotten names and finished
//     names may be started again.
// (7) a task with `restart=on-node-loss` whose node is lost starts again
//     elsewhere (running -> running with a new epoch and the next attempt),
//     up to `max_attempts`; then (5).
// (8) a `lost` verdict that a previous orchestrator had a majority keep, on
//     an incarnation other than the one holding the name: remembered as
//     ended (`ended_here`, `ended_start`) without touching the record, and
//     forgotten as (6).

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/actor.hpp>
#include <caf/message.hpp>

#include "dtask/protocol.hpp"

namespace dtask {

using clock_type = std::chrono::steady_clock;

/// What a task ended with.
struct task_outcome {
  caf::message result;
  std::string reason;
};

/// What a restartable task needs to start again.
struct restart_spec {
  std::string type;
  caf::message args;
};

/// Everything the orchestrator knows of one incarnation of a task. Kept
/// small (memory per running task counts): what only an ended or a
/// restartable task needs sits behind a pointer.
struct task_record {
  std::string name;
  task_state state = task_state::running;
  std::string node;
  uint64_t epoch = 0;
  uint64_t token = 0;
  /// True once the registry confirmed the spawn (edge 2).
  bool confirmed = false;
  /// The id of a fence on this task's node that the node's own registry
  /// overrode by reporting the task running after the fence was set (0:
  /// none). That fence does not declare it lost; a later one does.
  uint64_t vouched = 0;
  /// The worker, once known. A new orchestrator rebuilds without handles
  /// (they are costly to ship by the thousand) and fetches one on demand.
  caf::actor worker;
  caf::actor callback;
  /// Set once ended.
  std::shared_ptr<const task_outcome> outcome;
  /// For restartable tasks: the policy, the attempt, and what to start again.
  restart_policy restart = restart_policy::never;
  uint32_t attempt = 1;
  std::shared_ptr<const restart_spec> spec;

  bool restartable() const noexcept {
    return restart == restart_policy::on_node_loss && attempt < max_attempts
           && spec != nullptr;
  }

  bool running() const noexcept {
    return state == task_state::running;
  }

  task_status status() const {
    return task_status{name,
                       state,
                       node,
                       outcome ? outcome->result : caf::message{},
                       outcome ? outcome->reason : std::string{},
                       epoch,
                       false,
                       token,
                       attempt,
                       caf::message{}};
  }
};

class task_table {
public:
  /// Remembers ended tasks for `ttl`, and at most `max_finished` of them.
  explicit task_table(clock_type::duration ttl,
                      size_t max_finished = default_max_finished)
    : ttl_(ttl), max_finished_(max_finished > 0 ? max_finished : 1) {
    // nop
  }

  static constexpr size_t default_max_finished = 1000000;

  clock_type::duration ttl() const noexcept {
    return ttl_;
  }

  /// The record of `name`, or nullptr if there is none or it expired.
  const task_record* find(const std::string& name, clock_type::time_point now) {
    expire(now);
    auto i = records_.find(name);
    return i != records_.end() ? &i->second : nullptr;
  }

  /// The ended incarnation `epoch` of `name`, or nullptr (a pure lookup).
  task_record* ended(const std::string& name, uint64_t epoch) {
    auto i = records_.find(name);
    if (i == records_.end() || i->second.running() || i->second.epoch != epoch)
      return nullptr;
    return &i->second;
  }

  /// The running incarnation `epoch` of `name`, or nullptr. Unlike `find`,
  /// forgets nothing whose time is up: a pure lookup.
  const task_record* find_running(const std::string& name,
                                  uint64_t epoch) const {
    auto i = records_.find(name);
    if (i == records_.end() || !i->second.running() || i->second.epoch != epoch)
      return nullptr;
    return &i->second;
  }

  /// Edge (1). Precondition: no running record of this name.
  task_record& begin(std::string name, std::string node, uint64_t epoch,
                     uint64_t token, caf::actor callback) {
    auto& rec = records_[name];
    rec = task_record{};
    rec.name = std::move(name);
    rec.node = std::move(node);
    rec.epoch = epoch;
    rec.token = token;
    rec.callback = std::move(callback);
    ++running_per_node_[rec.node];
    return rec;
  }

  /// Edge (2). Returns the record, or nullptr if `epoch` is not the running
  /// incarnation of `name`.
  task_record* confirm(const std::string& name, uint64_t epoch,
                       caf::actor worker) {
    auto rec = running(name, epoch);
    if (rec != nullptr) {
      rec->confirmed = true;
      rec->worker = std::move(worker);
    }
    return rec;
  }

  /// Marks the running incarnation `epoch` of `name` as vouched for against
  /// fence `fence_id` (see `task_record::vouched`).
  void vouch(const std::string& name, uint64_t epoch, uint64_t fence_id) {
    if (auto rec = running(name, epoch))
      rec->vouched = fence_id;
  }

  /// Edge (7), restart: the running incarnation `epoch` of `name` was lost
  /// with its node; the next attempt runs as `next_epoch` on `node`. Keeps
  /// the callback, token, type and arguments. Returns the record, or nullptr.
  task_record* restart(const std::string& name, uint64_t epoch,
                       std::string node, uint64_t next_epoch) {
    auto rec = running(name, epoch);
    if (rec == nullptr)
      return nullptr;
    dec_running(rec->node);
    rec->node = std::move(node);
    ++running_per_node_[rec->node];
    rec->epoch = next_epoch;
    ++rec->attempt;
    rec->confirmed = false;
    rec->worker = nullptr;
    rec->vouched = 0;
    return rec;
  }

  /// Edge (3). Forgets a running incarnation that never started.
  bool abort(const std::string& name, uint64_t epoch) {
    auto rec = running(name, epoch);
    if (rec == nullptr)
      return false;
    dec_running(rec->node);
    records_.erase(name);
    return true;
  }

  /// Edges (4) and (5). Moves a running incarnation to a terminal state.
  /// Returns the record if this call ended it, nullptr if it was not running
  /// (unknown, an older incarnation, or already ended): a caller delivers the
  /// callback only on a non-null result, so it is delivered at most once.
  task_record* finish(const std::string& name, uint64_t epoch,
                      task_state state, caf::message result,
                      std::string reason, clock_type::time_point now) {
    auto rec = running(name, epoch);
    if (rec == nullptr || state == task_state::running)
      return nullptr;
    make_room(1, now);
    end(*rec, state, std::move(result), std::move(reason), now);
    return rec;
  }

  /// Edge (5) for every running task of `node`. Returns the records it ended.
  /// Only incarnations up to `max_epoch` (those started before the node
  /// was dropped) are affected: a node's new incarnation keeps its tasks.
  /// Records vouched for against `fence_id` (non-zero) are skipped.
  /// Room for all of them is made first (edge 6), so that the returned
  /// records stay valid: if they alone outnumber `max_finished`, the
  /// table holds more until the next end.
  std::vector<task_record*>
  node_lost(const std::string& node, clock_type::time_point now,
            uint64_t max_epoch = UINT64_MAX,
            const std::string& why = std::string{}, uint64_t fence_id = 0) {
    std::vector<task_record*> result;
    for (auto& kvp : records_) {
      auto& rec = kvp.second;
      if (rec.running() && rec.node == node && rec.epoch <= max_epoch
          && (fence_id == 0 || rec.vouched != fence_id))
        result.push_back(&rec);
    }
    make_room(result.size(), now);
    for (auto rec : result)
      end(*rec, task_state::lost, caf::message{},
          why.empty() ? "the node " + node + " died" : why, now);
    return result;
  }

  /// Edge (6) for everything whose time is up.
  void expire(clock_type::time_point now) {
    while (!ended_.empty() && ended_.front().deadline <= now)
      forget_oldest();
  }

  /// How many ended tasks were forgotten before their TTL because
  /// `max_finished` newer ones ended.
  uint64_t forgotten_early() const noexcept {
    return forgotten_early_;
  }

  /// True if this table ended incarnation `epoch` of `name` within the TTL,
  /// even if the name was started again since: its callback went out, and a
  /// late report of the same outcome must not send a second one.
  bool ended_here(const std::string& name, uint64_t epoch) const {
    auto range = ended_index_.equal_range(name);
    for (auto j = range.first; j != range.second; ++j)
      if (j->second == epoch)
        return true;
    return false;
  }

  /// Edge (8): records that incarnation `epoch` of `name` ended (a `lost`
  /// verdict a previous orchestrator had a majority keep) while the table
  /// holds another incarnation: `ended_here` is true for it within the TTL, so a
  /// late report of its own outcome sends no second callback.
  void remember_ended(const std::string& name, uint64_t epoch, uint64_t token,
                      const std::string& node, clock_type::time_point now) {
    if (ended_here(name, epoch))
      return;
    make_room(1, now);
    ended_.push_back(ended_entry{now + ttl_, name, epoch, token});
    ended_index_.emplace(name, epoch);
    if (token != 0 && ended_starts_.count(token) == 0)
      ended_starts_[token] = task_ref{name, node, caf::actor{}, epoch};
  }

  /// The incarnation that a start with `token` (non-zero) ran, if it ended
  /// within the TTL, even if its name was started again since: a client's
  /// retry of that start is answered as that start, never run again.
  const task_ref* ended_start(uint64_t token) const {
    auto i = ended_starts_.find(token);
    return token != 0 && i != ended_starts_.end() ? &i->second : nullptr;
  }

  /// Number of running tasks on `node`.
  uint32_t running_on(const std::string& node) const {
    auto i = running_per_node_.find(node);
    return i != running_per_node_.end() ? i->second : 0;
  }

  size_t size() const noexcept {
    return records_.size();
  }

  /// Calls `f` on every record, in order of names.
  template <class F>
  void for_each(clock_type::time_point now, F f) {
    expire(now);
    for (auto& kvp : records_)
      f(kvp.second);
  }

  /// Calls `f` on the first `n` records whose names sort after `after`, in
  /// order of names. Returns true if more records follow them.
  template <class F>
  bool for_each_after(const std::string& after, size_t n,
                      clock_type::time_point now, F f) {
    expire(now);
    auto i = after.empty() ? records_.begin() : records_.upper_bound(after);
    for (; i != records_.end() && n > 0; ++i, --n)
      f(i->second);
    return i != records_.end();
  }

private:
  struct ended_entry {
    clock_type::time_point deadline;
    std::string name;
    uint64_t epoch;
    uint64_t token;
  };

  task_record* running(const std::string& name, uint64_t epoch) {
    auto i = records_.find(name);
    if (i == records_.end() || !i->second.running() || i->second.epoch != epoch)
      return nullptr;
    return &i->second;
  }

  /// Edge (6) ahead of the TTL: forgets the oldest ended tasks until `n`
  /// more fit within `max_finished_`.
  void make_room(size_t n, clock_type::time_point now) {
    expire(now);
    while (!ended_.empty() && ended_.size() + n > max_finished_) {
      forget_oldest();
      ++forgotten_early_;
    }
  }

  /// Forgets the ended incarnation that has been remembered longest. (The
  /// queue is in order of deadlines, which is the order of ends.)
  void forget_oldest() {
    auto& front = ended_.front();
    auto i = records_.find(front.name);
    // The name may have been started again since; only forget the ended
    // incarnation that this queue entry stands for.
    if (i != records_.end() && !i->second.running()
        && i->second.epoch == front.epoch)
      records_.erase(i);
    auto range = ended_index_.equal_range(front.name);
    for (auto j = range.first; j != range.second; ++j)
      if (j->second == front.epoch) {
        ended_index_.erase(j);
        break;
      }
    auto t = ended_starts_.find(front.token);
    if (t != ended_starts_.end() && t->second.epoch == front.epoch)
      ended_starts_.erase(t);
    ended_.pop_front();
  }

  void end(task_record& rec, task_state state, caf::message result,
           std::string reason, clock_type::time_point now) {
    dec_running(rec.node);
    rec.state = state;
    rec.outcome = std::make_shared<const task_outcome>(
      task_outcome{std::move(result), std::move(reason)});
    rec.worker = nullptr;
    // `ttl_` is constant, so deadlines enter this queue in order.
    ended_.push_back(ended_entry{now + ttl_, rec.name, rec.epoch, rec.token});
    ended_index_.emplace(rec.name, rec.epoch);
    if (rec.token != 0)
      ended_starts_[rec.token] = task_ref{rec.name, rec.node, caf::actor{},
                                          rec.epoch};
  }

  void dec_running(const std::string& node) {
    auto i = running_per_node_.find(node);
    if (i != running_per_node_.end() && --i->second == 0)
      running_per_node_.erase(i);
  }

  clock_type::duration ttl_;
  size_t max_finished_;
  uint64_t forgotten_early_ = 0;
  /// Ordered by name: `list` pages through it.
  std::map<std::string, task_record> records_;
  std::unordered_map<std::string, uint32_t> running_per_node_;
  std::deque<ended_entry> ended_;
  std::unordered_multimap<std::string, uint64_t> ended_index_;
  /// Token -> the incarnation its start ran, for starts ended within the TTL.
  std::unordered_map<uint64_t, task_ref> ended_starts_;
};

} // namespace dtask
