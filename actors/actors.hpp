#pragma once

// Spawn functions of the actors in this directory (internal to the library).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_clock.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/node_id.hpp>
#include <caf/replies_to.hpp>
#include <caf/send.hpp>
#include <caf/system_messages.hpp>
#include <caf/typed_actor.hpp>

#include "config_cell.hpp"
#include "lease_cover.hpp"
#include "dtask/config.hpp"
#include "dtask/protocol.hpp"
#include "dtask/task.hpp"
#include "dtask/task_table.hpp"

namespace dtask {

class node_metrics;

/// One line of a node's log. The whole line is written at once when the
/// object dies (end of the statement), under a lock: lines from different
/// threads never interleave, so operators and tests can read them.
///   log_line{} << "dtask-node " << name << " up";
class log_line {
public:
  explicit log_line(bool to_stderr = false) : to_stderr_(to_stderr) {
    // nop
  }

  log_line(const log_line&) = delete;
  log_line& operator=(const log_line&) = delete;

  ~log_line();

  template <class T>
  log_line& operator<<(const T& x) {
    buf_ << x;
    return *this;
  }

private:
  bool to_stderr_;
  std::ostringstream buf_;
};

// -- timing of leases (the argument is in orchestrator.cpp) -----------------

/// How long a registry's workers may run on one grant of the orchestrator,
/// counted from the moment the registry *sent* its request. A node cut off
/// from the majority for longer stops its workers.
constexpr auto lease_duration = std::chrono::milliseconds(1500);
/// Added to every bound computed from another process's lease: the clocks of
/// two processes may run at slightly different rates, and a timer fires late.
constexpr auto lease_margin = std::chrono::milliseconds(250);
/// How often registries renew leases and orchestrators check their quorum.
constexpr auto lease_interval = std::chrono::milliseconds(100);
/// How long a registry that mirrors its starts promises its mirror to start
/// nothing unmirrored there, counted from the mirror's request. A new
/// orchestrator on the mirror's node counts the origin as accounted for only
/// while the promise covers T + 2L + M (see orchestrator.cpp), so it must
/// outlast failure detection plus 2L + M.
constexpr auto mirror_promise = 2 * lease_duration + lease_margin
                                + std::chrono::seconds(1);

/// Nanoseconds on the machine's monotonic clock (CLOCK_MONOTONIC: the same
/// for every process of a machine, so event logs of nodes compare).
inline int64_t mono_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           t.time_since_epoch())
    .count();
}

/// The node's task event log (config key `event-log`): one line per start
/// and stop of a worker, appended whole under a lock. Each line:
///   start T_NS EPOCH NODE NAME
///   stop T_NS END_NS EPOCH NODE STATE NAME
/// where END_NS is when the instance surely stopped running: T_NS, or the
/// end of its lease when the node stopped it for being cut off (it ran no
/// task code after its lease ended: the registry discards its messages).
class event_sink {
public:
  explicit event_sink(const std::string& path);
  virtual ~event_sink();

  event_sink(const event_sink&) = delete;
  event_sink& operator=(const event_sink&) = delete;

  virtual bool enabled() const {
    return file_ != nullptr;
  }

  virtual void write(const std::string& line) const;

protected:
  /// For a sink that keeps the lines elsewhere (the simulation).
  event_sink() = default;

private:
  std::FILE* file_ = nullptr;
  mutable std::mutex mtx_;
};

/// How a node reads time: from its actors' clock (`self->clock()`: the
/// steady clock in a real process, the virtual clock in the simulation),
/// scaled by `rate`. The rate is 1 in a real process; the simulation drifts
/// each node's clock within the margin M. Every time an actor of a node
/// reads comes from here, so a simulation can drive all of it.
struct node_clock {
  double rate = 1.0;

  clock_type::time_point now(const caf::actor_clock& clock) const noexcept {
    auto t = clock.now();
    if (rate == 1.0)
      return t;
    auto ns = static_cast<double>(t.time_since_epoch().count()) * rate;
    return clock_type::time_point{
      clock_type::duration{static_cast<clock_type::rep>(ns)}};
  }
};

/// What a supervisor connects to peers with: `(connect, host, port)`
/// answered as CAF's middleman answers it (the peer's node, the actor it
/// published, that actor's interface).
using connector_api = caf::typed_actor<
  caf::replies_to<caf::connect_atom, std::string, uint16_t>::with<
    caf::node_id, caf::strong_actor_ptr, std::set<std::string>>>;

/// What every actor of a node shares, immutable after start.
struct node_context {
  node_config config;
  std::string name;
  catalog tasks;
  /// The voting configuration: `config.voters()` at first, changed by
  /// `dtask members add|remove` (config_cell.hpp).
  config_cell_ptr voting;
  std::shared_ptr<event_sink> events;
  node_clock clock;
  /// The middleman in a real process, the simulated network in the
  /// simulation.
  connector_api connector;
  /// A random number of this process (seeded in the simulation): the keys of
  /// its orchestrators' orders derive from it.
  uint64_t secret = 0;
  /// The node's metrics (metrics.hpp); null in the simulation and the unit
  /// tests, and every count through it is then a no-op.
  std::shared_ptr<node_metrics> metrics;
  /// Called when the node is removed from the voters while it runs: it
  /// leaves the cluster (a real process as on SIGTERM); empty: nothing.
  std::function<void()> on_removed;
  /// Which nodes this node's orchestrator may lease to (lease_cover.hpp).
  std::shared_ptr<lease_cover<>> cover;

  /// Now, on this node's clock.
  clock_type::time_point now(const caf::actor_clock& clock) const noexcept {
    return this->clock.now(clock);
  }

  /// The current voting configuration (an orchestrator keeps the one it
  /// started with instead).
  std::shared_ptr<const voting_config> voters() const {
    return voting->current();
  }

  bool is_voter(const std::string& node) const {
    return voters()->is_voter(node);
  }
};

using node_context_ptr = std::shared_ptr<const node_context>;

/// A key derived from `secret` and `salt` with HMAC-SHA256 (cut to 64
/// bits), so that one key tells nothing about the secret or other keys (see
/// `spawn_order::order_key`: an orchestrator's secret comes from its
/// process's and its epoch, a registry's key from the orchestrator's secret
/// and the registry's node).
uint64_t derive_key(uint64_t secret, const std::string& salt);

/// Stops a node's actor with an exit from the actor itself: the guard of a
/// node's internal actors accepts exits only from local actors that name
/// themselves (see `trusted_system_message` in node_actor.hpp), so code
/// outside any actor stops them this way instead of `anon_send_exit`.
template <class Handle>
void stop_actor(const Handle& hdl, caf::exit_reason reason) {
  auto self = caf::actor_cast<caf::actor>(hdl);
  if (self)
    caf::send_as(self, self, caf::exit_msg{self.address(), reason});
}

/// The node's share of the global name registry: owns the node's workers.
registry_api spawn_registry(caf::actor_system& sys, node_context_ptr ctx);

/// Membership and orchestrator election; the actor a node publishes.
supervisor_api spawn_supervisor(caf::actor_system& sys,
                                node_context_ptr ctx, registry_api registry);

/// The cluster's one orchestrator. `members` includes the local node.
orchestrator_internal_api spawn_orchestrator(
  caf::actor_system& sys, node_context_ptr ctx, uint64_t epoch,
  std::vector<member> members, std::shared_ptr<const voting_config> voters);

/// Whether a node's workers may run task code: until the end of its
/// registry's lease (steady clock, nanoseconds; it only grows), and only
/// workers spawned since the registry last stopped its workers for want of
/// a lease (`cuts`): a lease renewed later does not wake them.
struct lease_clock {
  std::atomic<int64_t> until_ns{0};
  std::atomic<uint64_t> cuts{0};
  /// The node's clock, for the workers.
  node_clock clock;

  bool valid(std::chrono::steady_clock::time_point now,
             uint64_t cut) const noexcept {
    return cut == cuts.load(std::memory_order_acquire)
           && now.time_since_epoch().count()
                < until_ns.load(std::memory_order_acquire);
  }

  void extend(std::chrono::steady_clock::time_point until) noexcept {
    until_ns.store(until.time_since_epoch().count(),
                   std::memory_order_release);
  }

  void cut() noexcept {
    cuts.fetch_add(1, std::memory_order_acq_rel);
  }
};

using lease_clock_ptr = std::shared_ptr<const lease_clock>;

/// One worker running the task `order` with `factory`; reports to `registry`.
/// The worker checks `lease` before it handles any message: once the lease
/// ended it drops every message but the exit its registry sends, so no task
/// code runs after the lease (except a handler that was already running).
caf::actor spawn_worker(caf::actor_system& sys, const task_factory& factory,
                        const spawn_order& order, worker_report_api registry,
                        lease_clock_ptr lease);

} // namespace dtask
