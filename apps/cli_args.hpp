#pragma once

// The command line of `dtask`: its commands and options, parsed by CLI11 and
// then checked strictly (numbers without units, signs or exponents, within
// their range), so that a typo is a usage error and never a silent default.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "dtask/client.hpp"
#include "dtask/config.hpp"
#include "dtask/protocol.hpp"

namespace dtask::cli {

/// How long `--wait` waits for the outcome without `--timeout`: a lost
/// callback must not hang a script forever.
constexpr std::chrono::seconds default_wait{3600};

/// The commands of `dtask`.
enum class command {
  start,
  status,
  stop,
  list,
  nodes,
  members,
  add_voter,
  remove_voter,
  watch
};

/// What a command line asks for, every value checked.
struct invocation {
  command cmd = command::nodes;
  /// `--connect`, as typed (for messages) and parsed.
  std::string connect;
  endpoint gateway;
  /// `--retry-window`.
  std::chrono::milliseconds retry_window = default_retry_window;
  /// For CAF's own parser: `--config-file=F` and every `--middleman.*`,
  /// `--scheduler.*` and `--openssl.*` setting.
  std::vector<std::string> caf_args;

  // -- start ------------------------------------------------------------------

  std::string type;
  std::vector<std::string> args;
  /// `--name` of `start` and `watch`, when given (then possibly empty, which
  /// the caller refuses as an invalid name: the API would read it as "make
  /// one up", or "every task").
  std::optional<std::string> name;
  bool wait = false;
  std::chrono::seconds timeout = default_wait;
  restart_policy restart = restart_policy::never;

  // -- status, stop -----------------------------------------------------------

  std::string task;

  // -- list -------------------------------------------------------------------

  /// `--after` and `--limit` (0: the cluster's max-list decides).
  list_query page;

  // -- members add, members remove --------------------------------------------

  std::string member;
};

/// Parses `argv` into `out`. Returns the exit code if the program is done
/// already: 0 after printing help on stdout, 2 after a usage error (on
/// stderr, naming the option or argument). Returns nothing when `out` is
/// ready to run.
std::optional<int> parse_command_line(int argc, const char* const* argv,
                                      invocation& out);

} // namespace dtask::cli
