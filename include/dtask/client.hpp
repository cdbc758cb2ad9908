#pragma once

// Talking to a cluster from outside. The client actor speaks
// `orchestrator_api`, so any actor can use it as if it were the orchestrator:
// it finds the orchestrator through the node it connected to, watches it, and
// while the orchestrator moves it retries every request for a bounded window.
// `client` wraps it in blocking calls for `main()`.

#include <chrono>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include "dtask/config.hpp"
#include "dtask/protocol.hpp"

namespace dtask {

/// How long requests are retried while no orchestrator answers.
constexpr std::chrono::milliseconds default_retry_window{5000};

/// Spawns a client actor for the node published at `gateway` (any node of the
/// cluster). Requests are `orchestrator_api` messages; starts without a token
/// get one, so a retried start is answered as the first one.
caf::expected<orchestrator_api>
spawn_client(caf::actor_system& sys, const endpoint& gateway,
             std::chrono::milliseconds retry_window = default_retry_window);

/// Blocking calls on a client actor.
class client {
public:
  /// Connects to `gateway`. Fails with a connection error if no node listens.
  static caf::expected<client>
  connect(caf::actor_system& sys, const endpoint& gateway,
          std::chrono::milliseconds retry_window = default_retry_window);

  /// Starts `type` with `args`. An empty `opts.name` makes a random UUID name.
  caf::expected<task_ref> start(const std::string& type, caf::message args,
                                start_options opts = {});

  caf::expected<task_status> status(const std::string& name);

  /// Stops a running task: answers its final status (`cancelled`, or what
  /// it ended with first) once the name is free (see `stop_atom`).
  caf::expected<task_status> stop(const std::string& name);

  /// Every task, or `too_many` if they are more than the cluster's
  /// `max-list`: then ask for pages.
  caf::expected<std::vector<task_status>> list();

  /// A page of tasks, sorted by name (see `list_query`).
  caf::expected<list_page> list(const list_query& query);

  /// The live members with their running tasks, as the orchestrator sees
  /// them.
  caf::expected<std::vector<node_info>> nodes();

  /// Sends `subscriber` every `task_event` of the task `name` (of all
  /// tasks if empty) until it ends, from the orchestrator of the moment and
  /// from each next one (events while the orchestrator changes are missed).
  /// Answers the `seq` of the orchestrator's latest event.
  caf::expected<uint64_t> watch(const caf::actor& subscriber,
                                const std::string& name = {});

  /// The latest events the orchestrator kept (see `event_query`).
  caf::expected<std::vector<task_event>> events(const event_query& query);

  /// The members as the connected node itself sees them (`running` is 0).
  caf::expected<std::vector<node_info>> members();

  /// The voting configuration of the connected node: its epoch and voters.
  caf::expected<voting_config> voting();

  /// Makes the member `node` ("host:port", up and connected) a voter, once
  /// a majority of the old and of the new voters took the change; answers
  /// the new configuration (the current one if `node` votes already).
  caf::expected<voting_config> add_voter(const std::string& node);

  /// Removes `node` from the voters (a dead one, to replace it; a live one
  /// leaves the cluster, as on SIGTERM, once it took the change).
  caf::expected<voting_config> remove_voter(const std::string& node);

  /// The client actor, for actors that want to send requests themselves.
  const orchestrator_api& actor() const noexcept {
    return actor_;
  }

private:
  client(caf::actor_system& sys, orchestrator_api hdl,
         std::chrono::milliseconds timeout)
    : sys_(&sys), actor_(std::move(hdl)), timeout_(timeout) {
    // nop
  }

  caf::actor_system* sys_;
  orchestrator_api actor_;
  std::chrono::milliseconds timeout_;
};

} // namespace dtask
