#pragma once

// Running a dtask node inside a CAF application. `dtask-node` is exactly
// `return dtask::node_main(argc, argv, dtask::builtin_catalog());`; a user's
// own node program passes its own catalog (and its own message types), or
// embeds a node in its own actor system with `configure` + `start_node`.

#include <functional>
#include <memory>
#include <string>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/io/middleman_actor.hpp>

#include "dtask/config.hpp"
#include "dtask/task.hpp"

namespace dtask {

/// Adds dtask's message types and its defaults to a config: heartbeats on
/// (100 ms interval, 600 ms connection timeout, so a hung peer counts as dead
/// within about 1 s) and the `sharing` scheduler. Call before `parse`; the
/// config file and the command line still override the defaults. Clients call
/// it too: heartbeat settings must match on both ends of a connection.
///
/// TLS: `configure` loads CAF's OpenSSL module. A config that names a
/// certificate, key, CA file or CA path (`[openssl]` certificate, key,
/// cafile, capath) makes every connection of the process mutual TLS, peers
/// verified against the CA. The key's passphrase comes from the config file
/// (`openssl.passphrase`) or the environment variable
/// `DTASK_TLS_PASSPHRASE`, never from the command line.
void configure(caf::actor_system_config& cfg);

/// True if `cfg` names a certificate, key, CA file or CA path.
bool tls_enabled(const caf::actor_system_config& cfg);

/// With TLS: why the certificate, key (with its passphrase) and CA cannot
/// be used, checked by loading them as each connection will (CAF would
/// abort the process on the first connection otherwise). Empty if they
/// can, or without TLS.
std::string tls_config_error(const caf::actor_system_config& cfg);

/// Why `args` may not be given on a command line (a passphrase); empty if
/// they may.
std::string command_line_secret(const std::vector<std::string>& args);

/// What connects to peers: CAF's TLS connection manager with TLS, else the
/// plain middleman.
caf::io::middleman_actor network_of(caf::actor_system& sys);

/// Why a node must not listen as configured: a host that is not a loopback
/// address, without TLS and without `insecure`. Empty if it may.
std::string exposure_error(const node_config& cfg, bool tls);

/// Why a node cannot be the member its configuration names: it listens on
/// every interface without `advertise`, or a seed is this node itself under
/// another name (`localhost:4101` for 127.0.0.1:4101, a host name that
/// resolves to its address): it would count twice among the voters. Empty
/// if neither. Resolves the host names of seeds with this node's port.
std::string identity_error(const node_config& cfg);

class http_server;

/// Why a node must not serve HTTP as configured: its `[http]` host (see
/// `http_host`) is not a loopback address, without TLS and without
/// `[cluster] insecure`. Empty if it may.
std::string http_exposure_error(const node_config& cfg, bool tls);

/// Where a node serves HTTP: `[http] host`, else 127.0.0.1 without TLS and
/// the node's `[cluster] host` with TLS.
std::string http_host(const node_config& cfg, bool tls);

/// A running node.
struct node_handle {
  std::string name;
  supervisor_api supervisor;
  registry_api registry;
  /// The HTTP server (`[http] port`), if any.
  std::shared_ptr<http_server> http;
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

/// Adds a program's own message types to a config (`cfg.add_message_type<T>
/// ("name")` for each type its tasks return or take).
using type_adder = std::function<void(caf::actor_system_config&)>;

/// A complete `main`: reads the configuration, starts the node, prints
/// `dtask-node NAME up` (NAME: `advertise`, else `host:port`) and runs until
/// SIGINT or SIGTERM.
/// `add_types`, if set, adds the program's own message types (every node
/// of the cluster and every client that reads such a result must add them:
/// a type unknown to one side arrives as an empty message).
/// Exit codes: 0 after a signal, 2 for a broken configuration, 1 when the
/// node cannot start (port in use, ...).
int node_main(int argc, char** argv, catalog cat,
              const type_adder& add_types = {});

} // namespace dtask
