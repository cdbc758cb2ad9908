// dtask: the command line client. Prints one JSON object per line on stdout.
// Exit codes: 0 success, 1 the answer is an error (or a waited-for task did
// not end `done`), 2 usage or connection error (message on stderr).

#include <cstdlib>
#include <iostream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "cli_json.hpp"
#include "dtask/client.hpp"
#include "dtask/errors.hpp"
#include "dtask/node.hpp"

namespace {

using dtask::cli::error_line;
using dtask::cli::json_string;
using dtask::cli::incomplete_line;
using dtask::cli::next_line;
using dtask::cli::node_line;
using dtask::cli::started_line;
using dtask::cli::status_line;

const char* usage =
  "usage: dtask --connect=HOST:PORT COMMAND [ARGS]\n"
  "commands:\n"
  "  start TYPE [ARG...] [--name=NAME] [--wait] [--timeout=SECONDS]\n"
  "        (--wait: wait for the outcome, at most --timeout, default 3600)\n"
  "        [--restart=never|on-node-loss]\n"
  "  status NAME\n"
  "  stop NAME  stops a running task: its final status (cancelled) once the\n"
  "        name is free; exit 0 only if it ended cancelled\n"
  "  list [--limit=N] [--after=NAME]\n"
  "        (tasks sorted by name, after NAME, at most N of them and at most\n"
  "        the cluster's max-list; if more follow, a last line\n"
  "        {\"next\":NAME}: continue with --after=NAME)\n"
  "  nodes     members with their running tasks, as the orchestrator sees them\n"
  "  members   members as the connected node itself sees them\n"
  "options:\n"
  "  --retry-window=MS  how long requests are retried while the\n"
  "                     orchestrator moves (5000)\n"
  "  --config-file=FILE, --middleman.KEY=VALUE, --scheduler.KEY=VALUE\n"
  "                     CAF settings; heartbeat-interval and\n"
  "                     connection-timeout must match the cluster's\n"
  "  --openssl.KEY=VALUE  certificate, key, cafile: mutual TLS (the key's\n"
  "                     passphrase only in the file or DTASK_TLS_PASSPHRASE)\n";

/// Prints a dtask error as JSON and returns 1; any other error goes to
/// stderr and returns 2.
int report(const caf::error& err) {
  if (err.category() != dtask::error_category) {
    std::cerr << "dtask: " << caf::to_string(err) << std::endl;
    return 2;
  }
  std::cout << error_line(err) << std::endl;
  return 1;
}

caf::message parse_args(const std::vector<std::string>& args) {
  caf::message_builder mb;
  for (auto& arg : args) {
    auto digits = arg[0] == '-' ? arg.substr(1) : arg;
    if (!digits.empty() && digits.size() <= 18
        && digits.find_first_not_of("0123456789") == std::string::npos)
      mb.append(static_cast<int64_t>(std::stoll(arg)));
    else
      mb.append(arg);
  }
  return mb.to_message();
}

int usage_error(const std::string& what) {
  std::cerr << "dtask: " << what << "\n" << usage;
  return 2;
}

/// `text` as a whole number in [lo, hi]: digits only (no unit, sign or
/// exponent), else false.
bool parse_count(const std::string& text, long lo, long hi, long& out) {
  if (text.empty() || text.size() > 12
      || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  auto x = std::stoll(text);
  if (x < lo || x > hi)
    return false;
  out = static_cast<long>(x);
  return true;
}

/// How long `--wait` waits for the outcome without `--timeout`: a lost
/// callback must not hang a script forever.
constexpr long default_wait_s = 3600;

/// Largest `--limit` of `list` (the cluster's `max-list` caps it further).
constexpr long max_list_limit = 1000000;

/// Prints a page of `list`, and where the next one starts if any.
void print_page(const dtask::list_page& page) {
  for (auto& st : page.tasks)
    std::cout << status_line(st) << std::endl;
  if (!page.next.empty())
    std::cout << next_line(page.next) << std::endl;
  if (!page.unaccounted.empty())
    std::cout << incomplete_line(page.unaccounted) << std::endl;
}

} // namespace

int main(int argc, char** argv) {
  std::string connect;
  std::string name;
  bool wait = false;
  long timeout_s = default_wait_s;
  long window_ms = dtask::default_retry_window.count();
  std::vector<std::string> positional;
  std::vector<std::string> caf_args;
  auto restart = dtask::restart_policy::never;
  // `list`'s page: 0 lets the cluster's max-list decide.
  dtask::list_query page;
  bool paging = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* prefix) {
      return arg.substr(std::string{prefix}.size());
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    } else if (arg.rfind("--connect=", 0) == 0) {
      connect = value("--connect=");
    } else if (arg.rfind("--name=", 0) == 0) {
      name = value("--name=");
      if (name.empty()) {
        // The API reads an empty name as "make one up"; a user who typed
        // --name= meant a name, and an empty one is invalid.
        return report(dtask::make_error(dtask::errc::invalid_name, name,
                                        std::string{"the name is empty"}));
      }
    } else if (arg == "--wait") {
      wait = true;
    } else if (arg.rfind("--restart=", 0) == 0) {
      auto policy = value("--restart=");
      if (policy == "never")
        restart = dtask::restart_policy::never;
      else if (policy == "on-node-loss")
        restart = dtask::restart_policy::on_node_loss;
      else
        return usage_error("--restart= takes never or on-node-loss, not "
                           + json_string(policy));
    } else if (arg.rfind("--timeout=", 0) == 0) {
      if (!parse_count(value("--timeout="), 1, 7 * 24 * 3600, timeout_s))
        return usage_error("--timeout= takes whole seconds, 1 to 604800 "
                           "(a week), not " + json_string(value("--timeout=")));
    } else if (arg.rfind("--limit=", 0) == 0) {
      long limit = 0;
      if (!parse_count(value("--limit="), 1, max_list_limit, limit))
        return usage_error("--limit= takes a whole number of tasks, 1 to "
                           + std::to_string(max_list_limit) + ", not "
                           + json_string(value("--limit=")));
      page.limit = static_cast<uint32_t>(limit);
      paging = true;
    } else if (arg.rfind("--after=", 0) == 0) {
      page.after = value("--after=");
      paging = true;
    } else if (arg.rfind("--retry-window=", 0) == 0) {
      if (!parse_count(value("--retry-window="), 1, 3600 * 1000, window_ms))
        return usage_error("--retry-window= takes whole milliseconds, 1 to "
                           "3600000 (an hour), not "
                           + json_string(value("--retry-window=")));
    } else if (arg.rfind("--openssl.passphrase", 0) == 0) {
      return usage_error(dtask::command_line_secret({arg}));
    } else if (arg.rfind("--config-file=", 0) == 0
               || arg.rfind("--middleman.", 0) == 0
               || arg.rfind("--scheduler.", 0) == 0
               || arg.rfind("--openssl.", 0) == 0) {
      caf_args.push_back(arg);
    } else if (arg.rfind("--", 0) == 0 && positional.empty()) {
      return usage_error("unknown option " + arg);
    } else {
      positional.push_back(arg);
    }
  }
  if (connect.empty())
    return usage_error("missing --connect=HOST:PORT");
  dtask::endpoint gateway;
  auto ep_err = dtask::parse_endpoint(connect, gateway);
  if (!ep_err.empty())
    return usage_error("--connect: " + ep_err);
  if (positional.empty())
    return usage_error("missing command");
  auto cmd = positional[0];
  std::vector<std::string> rest(positional.begin() + 1, positional.end());
  if (((cmd == "status" || cmd == "stop") && rest.size() != 1)
      || ((cmd == "list" || cmd == "nodes" || cmd == "members")
          && !rest.empty())
      || (cmd == "start" && rest.empty()))
    return usage_error("wrong arguments for " + cmd);
  if (cmd != "start" && cmd != "status" && cmd != "stop" && cmd != "list"
      && cmd != "nodes" && cmd != "members")
    return usage_error("unknown command " + cmd);
  if (paging && cmd != "list")
    return usage_error("--limit and --after are options of list only");
  caf::actor_system_config cfg;
  dtask::configure(cfg);
  if (auto err = cfg.parse(caf_args))
    return usage_error(caf::to_string(err));
  auto tls_err = dtask::tls_config_error(cfg);
  if (!tls_err.empty())
    return usage_error(tls_err);
  caf::actor_system sys{cfg};
  auto cli = dtask::client::connect(sys, gateway,
                                    std::chrono::milliseconds(window_ms));
  if (!cli) {
    std::cerr << "dtask: cannot connect to " << connect << ": "
              << caf::to_string(cli.error()) << std::endl;
    return 2;
  }
  int rc = 0;
  if (cmd == "start") {
    caf::scoped_actor callback{sys};
    dtask::start_options opts;
    opts.name = name;
    opts.restart = restart;
    if (wait)
      opts.callback = caf::actor_cast<caf::actor>(callback);
    auto type = rest[0];
    rest.erase(rest.begin());
    auto ref = cli->start(type, parse_args(rest), std::move(opts));
    if (!ref) {
      rc = report(ref.error());
    } else {
      std::cout << started_line(*ref) << std::endl;
      if (wait) {
        auto on_status = [&](dtask::task_status& st) {
          std::cout << status_line(st) << std::endl;
          rc = st.state == dtask::task_state::done ? 0 : 1;
        };
        callback->receive(on_status,
                          caf::after(std::chrono::seconds(timeout_s)) >> [&] {
                            std::cerr << "dtask: no outcome within "
                                      << timeout_s << " s" << std::endl;
                            rc = 2;
                          });
      }
    }
  } else if (cmd == "status") {
    auto st = cli->status(rest[0]);
    rc = st ? (std::cout << status_line(*st) << std::endl, 0)
            : report(st.error());
  } else if (cmd == "stop") {
    auto st = cli->stop(rest[0]);
    if (!st)
      rc = report(st.error());
    else {
      std::cout << status_line(*st) << std::endl;
      rc = st->state == dtask::task_state::cancelled ? 0 : 1;
    }
  } else if (cmd == "list") {
    auto xs = cli->list(page);
    rc = xs ? (print_page(*xs), 0) : report(xs.error());
  } else {
    auto xs = cmd == "nodes" ? cli->nodes() : cli->members();
    if (!xs)
      rc = report(xs.error());
    else
      for (auto& n : *xs)
        std::cout << node_line(n) << std::endl;
  }
  return rc;
}
