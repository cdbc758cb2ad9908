#pragma once

// A registry's book of its own node's tasks: one entry per name (its newest
// incarnation here), the outcomes of older incarnations that the
// orchestrator has not acknowledged yet, the workers the registry watches,
// and the names whose killed worker is not gone yet. Plain C++: the
// registry actor (registry.cpp) sends what the book decides, so every edge
// of the lifecycle below is a unit test (tests/unit_task_book.cpp).
//
//               (1) admit               (2) launch
//   [absent] ──────────────▶ ordered ──────────────▶ running+worker
//      ▲                      │                          │
//      │ (3) not launched     │                          │ (4) end
//      │◀─────────────────────┘                          ▼
//      │                (6) acknowledged               ended
//      │◀─────────────────────────────────────────────┤
//      │                                               │ (5) admitted again
//      │◀──────────── (6) acknowledged ─── displaced ◀─┘
//      │
//      │ (7) declared over while ordered or running: dropped; its worker is
//      └──── killed, and the name waits until the worker is gone.
//
//   running+worker ── (8) cancel ──▶ running+worker, killed ── (4) ──▶ ended
//
// (1) a spawn order passed every check (`hold` says none): the entry waits
//     for its launch (on the orchestrator's node, for the mirror);
// (2) its worker was spawned; the book watches it;
// (3) it could not launch (the mirror did not confirm it, or the lease ran
//     out meanwhile): the name is free here;
// (4) the worker stopped (with the result it reported, else failed), or the
//     lease ran out (lost, `cut`); the entry stays until acknowledged;
// (5) the name was admitted again before the orchestrator acknowledged the
//     old outcome: the old entry moves aside and is reported until then;
// (6) the orchestrator acknowledged the outcome: forgotten;
// (7) the orchestrator declared a running incarnation over (it was lost,
//     e.g. this node hung): it must not run on. A killed worker may still
//     exist until its down message: its name is not admitted (`hold`
//     says `stopping`) until then, so at most one instance runs here.
// (8) stopped on request: the worker's outcome becomes `cancelled` (unless
//     it reported one already) and it is killed; the entry runs until the
//     worker is gone (edge 4 then ends it), so the name is free only then.

#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/optional.hpp>

#include "dtask/protocol.hpp"
#include "local_entry.hpp"

namespace dtask {

/// A worker the registry watches.
struct worker_info {
  task_key key;
  /// Set when the registry stopped the worker because its lease ran out:
  /// the instance ran no task code after `fenced_at`.
  bool fenced = false;
  clock_type::time_point fenced_at;
  /// What the task reported with `done` or `fail`, recorded when it stopped
  /// (behind a pointer: most of a worker's life it is empty).
  std::unique_ptr<task_status> result;
};

/// See the file comment.
class task_book {
public:
  /// Why an order for a name cannot be admitted now.
  enum class hold {
    none,
    /// A killed worker of the name may still exist (wait for it).
    stopping,
    /// The name runs here (refuse: already running).
    running,
  };

  /// What a worker's end changed (edge 4).
  struct worker_end {
    worker_info info;
    /// The name's entry, if it is still this worker's incarnation.
    local_entry* entry = nullptr;
    /// True if the entry ended now (it was running).
    bool ended = false;
    /// True if the name waited for this worker (orders for it may run).
    bool name_freed = false;
  };

  hold check(const std::string& name) const {
    if (stopping_.count(name) > 0)
      return hold::stopping;
    auto i = entries_.find(name);
    return i != entries_.end() && i->second.running() ? hold::running
                                                      : hold::none;
  }

  /// The incarnation a watched worker runs, or nullptr.
  const task_key* key_of(const caf::actor_addr& worker) const {
    auto w = workers_.find(worker);
    return w != workers_.end() ? &w->second.key : nullptr;
  }

  /// The worker of a running task, if any.
  caf::actor running_worker(const std::string& name) const {
    auto i = entries_.find(name);
    if (i == entries_.end() || !i->second.running())
      return caf::actor{};
    return i->second.worker;
  }

  /// Edge 1 (and 5 for an ended entry the name held). Requires
  /// `check(order.name) == hold::none`.
  local_entry& admit(spawn_order order) {
    auto i = entries_.find(order.name);
    if (i != entries_.end())
      displaced_.push_back(std::move(i->second));
    auto& entry = entries_[order.name];
    ++running_;
    entry.state = task_state::running;
    entry.ended = nullptr;
    entry.worker = nullptr;
    entry.order = std::move(order);
    return entry;
  }

  /// The entry of `key` if it still waits for its launch.
  local_entry* ordered(const task_key& key) {
    auto i = entries_.find(key.name);
    if (i == entries_.end() || i->second.order.epoch != key.epoch
        || !i->second.running() || i->second.worker)
      return nullptr;
    return &i->second;
  }

  /// Edge 3. Returns false if `key` was no longer ordered.
  bool drop_ordered(const task_key& key) {
    if (ordered(key) == nullptr)
      return false;
    entries_.erase(key.name);
    --running_;
    return true;
  }

  /// Edge 2: `entry` (ordered) runs in `worker`.
  void launched(local_entry& entry, caf::actor worker) {
    workers_.emplace(worker.address(),
                     worker_info{task_key{entry.order.name, entry.order.epoch},
                                 false, {}, nullptr});
    entry.worker = std::move(worker);
  }

  /// A worker reported its outcome: kept until it stops (edge 4), if it is
  /// the running incarnation `epoch` of `status.name`. Fills in the token
  /// and attempt from the order.
  bool hold_result(const caf::actor_addr& from, uint64_t epoch,
                   task_status& status) {
    auto i = entries_.find(status.name);
    auto w = workers_.find(from);
    if (i == entries_.end() || i->second.order.epoch != epoch
        || !i->second.running() || w == workers_.end()
        || w->second.key.epoch != epoch)
      return false;
    status.epoch = epoch;
    status.token = i->second.order.token;
    status.attempt = i->second.order.attempt;
    w->second.result = std::make_unique<task_status>(std::move(status));
    return true;
  }

  /// Edge 4: the worker `addr` stopped. `why` gives the failure reason of
  /// a worker that stopped without reporting a result.
  template <class Why>
  caf::optional<worker_end> worker_gone(const caf::actor_addr& addr, Why why) {
    auto i = workers_.find(addr);
    if (i == workers_.end())
      return caf::none;
    worker_end result;
    result.info = std::move(i->second);
    workers_.erase(i);
    auto& key = result.info.key;
    auto s = stopping_.find(key.name);
    if (s != stopping_.end() && --s->second == 0) {
      stopping_.erase(s);
      result.name_freed = true;
    }
    auto j = entries_.find(key.name);
    // The entry may belong to a newer incarnation of the same name by now.
    if (j == entries_.end() || j->second.order.epoch != key.epoch)
      return result;
    result.entry = &j->second;
    if (!j->second.running())
      return result;
    result.ended = true;
    --running_;
    if (result.info.result) {
      auto& r = *result.info.result;
      j->second.finish(r.state, std::move(r.result), std::move(r.reason));
    } else {
      j->second.finish(task_state::failed, caf::message{}, why());
    }
    j->second.worker = nullptr;
    return result;
  }

  /// Edge 4 for every running entry: the lease ran out at `lease_end`. Marks
  /// every worker fenced and returns the entries that ended (lost), each
  /// with the worker to kill (or none if not launched yet).
  std::vector<std::pair<local_entry*, caf::actor>>
  cut(clock_type::time_point lease_end, const std::string& reason) {
    for (auto& w : workers_) {
      if (!w.second.fenced) {
        w.second.fenced = true;
        w.second.fenced_at = lease_end;
      }
    }
    std::vector<std::pair<local_entry*, caf::actor>> result;
    for (auto& kvp : entries_) {
      auto& entry = kvp.second;
      if (!entry.running())
        continue;
      result.emplace_back(&entry, std::move(entry.worker));
      --running_;
      entry.worker = nullptr;
      entry.finish(task_state::lost, caf::message{}, reason);
      entry.order.args = caf::message{};
    }
    return result;
  }

  /// The entry of incarnation `key`, if it is the name's newest here.
  local_entry* find(const task_key& key) {
    auto i = entries_.find(key.name);
    return i != entries_.end() && i->second.order.epoch == key.epoch
             ? &i->second
             : nullptr;
  }

  /// Edge 6, or 7 for an entry that still runs (the caller kills its
  /// worker first). Returns false if the book holds no such incarnation
  /// (perhaps a mirrored one).
  bool forget(const task_key& key) {
    if (auto entry = find(key)) {
      if (entry->running())
        --running_;
      entries_.erase(key.name);
      return true;
    }
    auto before = displaced_.size();
    displaced_.erase(std::remove_if(displaced_.begin(), displaced_.end(),
                                    [&](const local_entry& e) {
                                      return e.order.name == key.name
                                             && e.order.epoch == key.epoch;
                                    }),
                     displaced_.end());
    return displaced_.size() != before;
  }

  /// Edge 8: the launched incarnation `key` is stopped on request. Returns
  /// its worker (to kill), or none if `key` is not running here with a
  /// worker. An outcome the worker reported already stays.
  caf::actor cancel(const task_key& key, const std::string& node,
                    const std::string& reason) {
    auto entry = find(key);
    if (entry == nullptr || !entry->running() || !entry->worker)
      return caf::actor{};
    auto w = workers_.find(entry->worker.address());
    if (w == workers_.end())
      return caf::actor{};
    if (!w->second.result) {
      w->second.result = std::make_unique<task_status>();
      auto& r = *w->second.result;
      r.name = key.name;
      r.state = task_state::cancelled;
      r.node = node;
      r.reason = reason;
      r.epoch = key.epoch;
      r.token = entry->order.token;
      r.attempt = entry->order.attempt;
    }
    return entry->worker;
  }

  /// Edge 7: a worker of `name` was killed; the name waits until it is gone.
  void killing(const std::string& name) {
    ++stopping_[name];
  }

  /// The node leaves and its deadline passed: every worker's result becomes
  /// "failed: cut short". Returns the workers to stop.
  std::vector<caf::actor_addr> cut_short(const std::string& node,
                                         const std::string& reason) {
    std::vector<caf::actor_addr> result;
    for (auto& w : workers_) {
      w.second.result = std::make_unique<task_status>();
      auto& r = *w.second.result;
      r.name = w.second.key.name;
      r.state = task_state::failed;
      r.node = node;
      r.reason = reason;
      r.epoch = w.second.key.epoch;
      auto i = entries_.find(r.name);
      if (i != entries_.end()) {
        r.token = i->second.order.token;
        r.attempt = i->second.order.attempt;
      }
      result.push_back(w.first);
    }
    return result;
  }

  /// How many entries are running (ordered or launched).
  size_t running() const noexcept {
    return running_;
  }

  /// True once nothing runs and every outcome was acknowledged.
  bool empty() const noexcept {
    return entries_.empty() && displaced_.empty();
  }

  size_t entry_count() const noexcept {
    return entries_.size();
  }

  /// Every entry (newest incarnations first, then displaced outcomes).
  template <class F>
  void for_each(F f) const {
    for (auto& kvp : entries_)
      f(kvp.second);
    for (auto& e : displaced_)
      f(e);
  }

  /// Every outcome not acknowledged yet.
  template <class F>
  void for_each_outcome(F f) const {
    for (auto& kvp : entries_)
      if (!kvp.second.running())
        f(kvp.second);
    for (auto& e : displaced_)
      f(e);
  }

  /// The newest incarnations only.
  template <class F>
  void for_each_newest(F f) const {
    for (auto& kvp : entries_)
      f(kvp.second);
  }

private:
  std::unordered_map<std::string, local_entry> entries_;
  std::vector<local_entry> displaced_;
  std::unordered_map<caf::actor_addr, worker_info> workers_;
  std::unordered_map<std::string, uint32_t> stopping_;
  size_t running_ = 0;
};

} // namespace dtask
