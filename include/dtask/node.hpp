#pragma once

// Running a dtask node inside a CAF application. `dtask-node` is exactly
// `return dtask::node_main(argc, argv, dtask::builtin_catalog());`; a user's
// own node program passes its own catalog, or embeds a node in its own actor
// system with `configure` + `start_node`.

#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "dtask/config.hpp"
#include "dtask/task.hpp"

namespace dtask {

/// Adds dtask's message types and its defaults to a config: heartbeats on
/// (100 ms interval, 600 ms connection timeout, so a hung peer counts as dead
/// within about 1 s) and the `sharing` scheduler. Call before `parse`; the
/// config file and the command line still override the defaults. Clients call
/// it too: heartbeat settings must match on both ends of a connection.
void configure(caf::actor_system_config& cfg);

/// A running node.
struct node_handle {
  std::string name;
  supervisor_api supervisor;
  registry_api registry;
};

/// Starts a node in `sys`: publishes its supervisor on `cfg.host:cfg.port`
/// and joins the cluster through `cfg.seeds`.
caf::expected<node_handle> start_node(caf::actor_system& sys,
                                      const node_config& cfg, catalog cat);

/// Stops a node's actors (its workers end with it).
void stop_node(caf::actor_system& sys, const node_handle& node);

/// Reads `[cluster]` from the `--config-file` (if any) and from
/// `--cluster.KEY=VALUE` arguments, and removes the latter from `args`.
/// Returns an empty string on success, else a message naming the bad key.
std::string read_node_config(std::vector<std::string>& args,
                             node_config& out);

/// A complete `main`: reads the configuration, starts the node, prints
/// `dtask-node HOST:PORT up` and runs until SIGINT or SIGTERM.
/// Exit codes: 0 after a signal, 2 for a broken configuration, 1 when the
/// node cannot start (port in use, ...).
int node_main(int argc, char** argv, catalog cat);

} // namespace dtask
