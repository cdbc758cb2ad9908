// dtask: the command line client. Prints one JSON object per line on stdout.
// Exit codes: 0 success, 1 the answer is an error (or a waited-for task did
// not end `done`), 2 usage or connection error (message on stderr). The
// command line itself is read in cli_args.cpp.

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <set>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "cli_args.hpp"
#include "cli_json.hpp"
#include "dtask/client.hpp"
#include "dtask/errors.hpp"
#include "dtask/node.hpp"

namespace {

using dtask::cli::command;
using dtask::cli::config_line;
using dtask::cli::member_line;
using dtask::cli::error_line;
using dtask::cli::event_line;
using dtask::cli::incomplete_line;
using dtask::cli::invocation;
using dtask::cli::next_line;
using dtask::cli::node_line;
using dtask::cli::started_line;
using dtask::cli::status_line;

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
    auto digits = !arg.empty() && arg[0] == '-' ? arg.substr(1) : arg;
    if (!digits.empty() && digits.size() <= 18
        && digits.find_first_not_of("0123456789") == std::string::npos)
      mb.append(static_cast<int64_t>(std::stoll(arg)));
    else
      mb.append(arg);
  }
  return mb.to_message();
}

/// Prints a page of `list`, and where the next one starts if any.
void print_page(const dtask::list_page& page) {
  for (auto& st : page.tasks)
    std::cout << status_line(st) << std::endl;
  if (!page.next.empty())
    std::cout << next_line(page.next) << std::endl;
  if (!page.unaccounted.empty())
    std::cout << incomplete_line(page.unaccounted) << std::endl;
}

/// `members`: each member, each voter that is no member, and the voting
/// configuration; the exit code.
int run_members(dtask::client& cli) {
  auto xs = cli.members();
  if (!xs)
    return report(xs.error());
  auto config = cli.voting();
  if (!config)
    return report(config.error());
  std::set<std::string> seen;
  for (auto& n : *xs) {
    seen.insert(n.node);
    std::cout << member_line(n, config->is_voter(n.node)) << std::endl;
  }
  for (auto& voter : config->names())
    if (seen.count(voter) == 0)
      std::cout << member_line(dtask::node_info{voter, "unreachable", false, 0},
                               true)
                << std::endl;
  std::cout << config_line(*config) << std::endl;
  return 0;
}

/// `start`, and with `--wait` its outcome; the exit code.
int run_start(caf::actor_system& sys, dtask::client& cli,
              const invocation& in) {
  caf::scoped_actor callback{sys};
  dtask::start_options opts;
  opts.name = in.name.value_or("");
  opts.restart = in.restart;
  if (in.wait)
    opts.callback = caf::actor_cast<caf::actor>(callback);
  auto ref = cli.start(in.type, parse_args(in.args), std::move(opts));
  if (!ref)
    return report(ref.error());
  std::cout << started_line(*ref) << std::endl;
  if (!in.wait)
    return 0;
  int rc = 2;
  callback->receive(
    [&](dtask::task_status& st) {
      std::cout << status_line(st) << std::endl;
      rc = st.state == dtask::task_state::done ? 0 : 1;
    },
    caf::after(in.timeout) >> [&] {
      std::cerr << "dtask: no outcome within " << in.timeout.count() << " s"
                << std::endl;
    });
  return rc;
}

/// SIGINT and SIGTERM, blocked in every thread (CAF's too: call before the
/// actor system starts), for `sigwait`.
sigset_t block_stop_signals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  return stop_signals;
}

/// `watch`: each lifecycle event as a line, until SIGINT or SIGTERM (exit
/// 0). Says on stderr once it watches.
int run_watch(caf::actor_system& sys, dtask::client& cli, const invocation& in,
              const sigset_t& stop_signals) {
  auto printer = sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](const dtask::task_event& ev) {
      std::cout << event_line(ev) << std::endl;
    }};
  });
  auto seq = cli.watch(printer, in.name.value_or(""));
  if (!seq) {
    caf::anon_send_exit(printer, caf::exit_reason::user_shutdown);
    return report(seq.error());
  }
  std::cerr << "dtask: watching " << (in.name ? "task " + *in.name : "all tasks")
            << " (latest event so far: " << *seq << ")" << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  caf::anon_send_exit(printer, caf::exit_reason::user_shutdown);
  return 0;
}

/// Runs the command; the exit code.
int run(caf::actor_system& sys, dtask::client& cli, const invocation& in,
        const sigset_t& stop_signals) {
  switch (in.cmd) {
    case command::start:
      return run_start(sys, cli, in);
    case command::watch:
      return run_watch(sys, cli, in, stop_signals);
    case command::status: {
      auto st = cli.status(in.task);
      return st ? (std::cout << status_line(*st) << std::endl, 0)
                : report(st.error());
    }
    case command::stop: {
      auto st = cli.stop(in.task);
      if (!st)
        return report(st.error());
      std::cout << status_line(*st) << std::endl;
      return st->state == dtask::task_state::cancelled ? 0 : 1;
    }
    case command::list: {
      auto xs = cli.list(in.page);
      return xs ? (print_page(*xs), 0) : report(xs.error());
    }
    case command::members:
      return run_members(cli);
    case command::add_voter:
    case command::remove_voter: {
      auto x = in.cmd == command::add_voter ? cli.add_voter(in.member)
                                            : cli.remove_voter(in.member);
      return x ? (std::cout << config_line(*x) << std::endl, 0)
               : report(x.error());
    }
    default: {
      auto xs = cli.nodes();
      if (!xs)
        return report(xs.error());
      for (auto& n : *xs)
        std::cout << node_line(n) << std::endl;
      return 0;
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  invocation in;
  if (auto rc = dtask::cli::parse_command_line(argc, argv, in))
    return *rc;
  if (in.name && in.name->empty()) {
    // The API reads an empty name as "make one up"; a user who typed
    // --name= meant a name, and an empty one is invalid.
    return report(dtask::make_error(dtask::errc::invalid_name, *in.name,
                                    std::string{"the name is empty"}));
  }
  caf::actor_system_config cfg;
  dtask::configure(cfg);
  if (auto err = cfg.parse(in.caf_args)) {
    std::cerr << "dtask: " << caf::to_string(err) << std::endl;
    return 2;
  }
  auto tls_err = dtask::tls_config_error(cfg);
  if (!tls_err.empty()) {
    std::cerr << "dtask: " << tls_err << std::endl;
    return 2;
  }
  sigset_t stop_signals{};
  if (in.cmd == command::watch)
    stop_signals = block_stop_signals();
  caf::actor_system sys{cfg};
  auto cli = dtask::client::connect(sys, in.gateway, in.retry_window);
  if (!cli) {
    std::cerr << "dtask: cannot connect to " << in.connect << ": "
              << caf::to_string(cli.error()) << std::endl;
    return 2;
  }
  return run(sys, *cli, in, stop_signals);
}
