#include "cli_args.hpp"

#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cli_json.hpp"
#include "dtask/node.hpp"

namespace dtask::cli {

namespace {

/// Longest `--timeout`: a week.
constexpr long max_wait_s = 7 * 24 * 3600;

/// Longest `--retry-window`: an hour.
constexpr long max_retry_window_ms = 3600 * 1000;

/// Largest `--limit` of `list` (the cluster's `max-list` caps it further).
constexpr long max_list_limit = 1000000;

const char* general_footer =
  "Every answer is one JSON object per line on stdout. Exit codes: 0\n"
  "success, 1 the answer is an error (or a --wait'ed task did not end done),\n"
  "2 a usage or connection error (message on stderr).\n"
  "\n"
  "CAF settings, passed to CAF as they are (before or after the command):\n"
  "  --middleman.KEY=VALUE, --scheduler.KEY=VALUE\n"
  "      heartbeat-interval and connection-timeout must match the cluster's\n"
  "  --openssl.certificate=F --openssl.key=F --openssl.cafile=F\n"
  "      mutual TLS; the key's passphrase never on the command line: in the\n"
  "      config file or in DTASK_TLS_PASSPHRASE\n"
  "\n"
  "Run dtask COMMAND --help for the options of a command.";

const char* command_footer =
  "The options of dtask itself (--connect, --retry-window, --config-file and\n"
  "the CAF settings) may come before or after the command: dtask --help.";

const char* dash_footer =
  "\nAn argument that starts with '-' (other than a number) goes after --.";

/// The CAF settings that pass through to CAF's own parser: an open set of
/// keys, so they never reach CLI11.
bool is_caf_setting(const std::string& arg) {
  return arg.rfind("--middleman.", 0) == 0 || arg.rfind("--scheduler.", 0) == 0
         || arg.rfind("--openssl.", 0) == 0;
}

/// True if `lname` is a long option of `app` or of one of its commands that
/// takes a value.
bool takes_value(const CLI::App& app, const std::string& lname) {
  auto options = app.get_options();
  for (auto* sub : app.get_subcommands({}))
    for (auto* opt : sub->get_options())
      options.push_back(opt);
  return std::any_of(options.begin(), options.end(), [&](const CLI::Option* opt) {
    return opt->check_lname(lname) && opt->get_type_size_max() > 0;
  });
}

/// What CLI11 parses, in the reverse order its `parse` takes: every argument
/// except the CAF settings before a `--`, which go to `caf_args`. An empty
/// value (`--name=`) becomes a separate empty argument: given as `--name=`,
/// CLI11 would take the next argument as the value. Returns why the command
/// line is refused (a passphrase on it), else an empty string.
std::string split_args(const CLI::App& app, int argc, const char* const* argv,
                       std::vector<std::string>& cli11_args,
                       std::vector<std::string>& caf_args) {
  bool options_ended = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_ended) {
      cli11_args.push_back(arg);
      continue;
    }
    options_ended = arg == "--";
    if (is_caf_setting(arg)) {
      auto secret = command_line_secret({arg});
      if (!secret.empty())
        return secret;
      caf_args.push_back(arg);
    } else if (arg.size() > 3 && arg.rfind("--", 0) == 0 && arg.back() == '='
               && takes_value(app, arg.substr(2, arg.size() - 3))) {
      cli11_args.push_back(arg.substr(0, arg.size() - 1));
      cli11_args.emplace_back();
    } else {
      cli11_args.push_back(arg);
    }
  }
  std::reverse(cli11_args.begin(), cli11_args.end());
  return {};
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

/// An option kept as typed and checked after parsing, strictly and with
/// messages that say what the option takes.
struct text_option {
  std::string text;
  CLI::Option* opt = nullptr;

  bool given() const {
    return opt != nullptr && opt->count() > 0;
  }
};

/// The option values as typed, checked by `check_values` after parsing.
struct raw_values {
  text_option connect;
  text_option config_file;
  text_option retry_window;
  text_option name;
  text_option timeout;
  text_option restart;
  text_option limit;
  text_option watch_name;
  /// Holds nothing: see `add_start`.
  std::string after_mark;
};

/// CLI11's help, with `start`'s usage line written out: its hidden
/// positional (see `add_start`) would show there.
class help_formatter : public CLI::Formatter {
public:
  std::string make_usage(const CLI::App* app, std::string name) const override {
    if (app->get_name() != "start")
      return CLI::Formatter::make_usage(app, std::move(name));
    return get_label("Usage") + ": " + name
           + " [OPTIONS] TYPE [ARG...] [-- ARG...]\n";
  }
};

/// The options of dtask itself, valid before and after the command.
void add_general_options(CLI::App& app, raw_values& raw) {
  raw.connect.opt = app.add_option("--connect", raw.connect.text,
                                   "the node to talk to (any node of the\n"
                                   "cluster); required")
                      ->type_name("HOST:PORT");
  raw.retry_window.opt
    = app.add_option("--retry-window", raw.retry_window.text,
                     "how long requests are retried while the\n"
                     "orchestrator moves, 1 to 3600000 (5000)")
        ->type_name("MS");
  raw.config_file.opt
    = app.add_option("--config-file", raw.config_file.text,
                     "CAF settings from a file (a node's will do):\n"
                     "only CAF's sections are read")
        ->type_name("FILE");
}

void add_start(CLI::App& app, invocation& out, raw_values& raw) {
  auto* start = app.add_subcommand("start", "start a task");
  start->add_option("TYPE", out.type, "the task type")
    ->required()
    ->type_name("");
  start->add_option("ARG", out.args,
                    "its arguments: decimal integers pass as\n"
                    "int64, others as strings")
    ->type_name("");
  // After `--`, CLI11 hands the arguments back to the parent command unless
  // a positional still waits for one: this hidden one always does, so that
  // in `start echo 1 -- -x` ARG takes -x too.
  start->add_option("MARK", raw.after_mark)->group("");
  raw.name.opt = start
                   ->add_option("--name", raw.name.text,
                                "the task's name, unique while it runs\n"
                                "(default: a new UUID)")
                   ->type_name("NAME");
  start->add_flag("--wait", out.wait,
                  "wait for the outcome and print its status\n"
                  "too; exit 1 unless it is done");
  raw.timeout.opt = start
                      ->add_option("--timeout", raw.timeout.text,
                                   "with --wait, wait at most this long,\n"
                                   "1 to 604800 (3600), then exit 2")
                      ->type_name("SECONDS");
  raw.restart.opt = start
                      ->add_option("--restart", raw.restart.text,
                                   "never (default): the task is lost with\n"
                                   "its node; on-node-loss: it starts again\n"
                                   "where the ring places it then")
                      ->type_name("POLICY");
  start->footer(std::string{"Prints {\"name\",\"node\",\"state\":\"running\","
                            "\"epoch\"}, or the refusal\n"
                            "{\"error\":\"already_running\",\"name\",\"node\"}"
                            " (exit 1).\n"}
                + command_footer + dash_footer);
}

void add_queries(CLI::App& app, invocation& out, raw_values& raw) {
  auto* status = app.add_subcommand("status", "the state of one task");
  status->add_option("NAME", out.task, "the task's name")
    ->required()
    ->type_name("");
  status->footer(std::string{"Prints {\"name\",\"state\",\"node\",...} with "
                             "the state running, done,\nfailed, lost or cancelled and "
                             "the result or reason, or {\"error\":...}.\n"}
                 + command_footer + dash_footer);
  auto* stop = app.add_subcommand("stop", "stop a running task");
  stop->add_option("NAME", out.task, "the task's name")
    ->required()
    ->type_name("");
  stop->footer(std::string{"Prints the task's final status once its worker "
                           "is gone: state cancelled\n(exit 0), or the "
                           "status of a task that had ended otherwise (exit "
                           "1),\nor {\"error\":...}.\n"}
               + command_footer + dash_footer);
  auto* list = app.add_subcommand("list", "tasks, sorted by name, a page at "
                                          "a time");
  raw.limit.opt = list
                    ->add_option("--limit", raw.limit.text,
                                 "at most N tasks, 1 to 1000000 (and at\n"
                                 "most the cluster's max-list)")
                    ->type_name("N");
  list->add_option("--after", out.page.after,
                   "only the tasks whose names sort after NAME")
    ->type_name("NAME");
  list->footer(std::string{"Prints one status per line; then {\"next\":NAME} "
                           "if more follow\n(continue with --after=NAME), "
                           "and {\"incomplete\":true,...} if\ntasks of "
                           "unreachable nodes may be missing.\n"}
               + command_footer);
  auto members_footer = std::string{"Prints {\"node\",\"state\",\"orchestrator\","
                                    "\"running\"} for each member.\n"}
                        + command_footer;
  app.add_subcommand("nodes", "the members and their running tasks, as\n"
                              "the orchestrator sees them")
    ->footer(members_footer);
  auto* members = app.add_subcommand("members", "the members, as the connected "
                                                "node itself\nsees them, and "
                                                "the voting configuration");
  members->footer(std::string{"Prints {\"node\",\"state\",\"voter\","
                              "\"orchestrator\",\"running\"} for each "
                              "member\n(state up or leaving) and for each "
                              "voter that is no member (state\nunreachable), "
                              "then {\"config\":EPOCH,\"voters\":[NODE...]}: "
                              "the voting\nconfiguration.\n"}
                  + command_footer);
  members->require_subcommand(0, 1);
  auto config_footer = std::string{"One change at a time; it takes effect "
                                   "once a majority of the\ncurrent voters "
                                   "and a majority of the next ones took it. "
                                   "Prints\n{\"config\":EPOCH,\"voters\":"
                                   "[NODE...]} once it did (exit 0), or\n"
                                   "{\"error\":...} (exit 1).\n"}
                       + command_footer;
  members->add_subcommand("add", "make a member a voter")
    ->footer(config_footer)
    ->add_option("NODE", out.member, "the member, as HOST:PORT")
    ->required()
    ->type_name("");
  members->add_subcommand("remove", "make a node no voter (a dead one, or a\n"
                                    "live one, which then leaves)")
    ->footer(config_footer)
    ->add_option("NODE", out.member, "the voter, as HOST:PORT")
    ->required()
    ->type_name("");
}

void add_watch(CLI::App& app, raw_values& raw) {
  auto* watch = app.add_subcommand("watch", "print lifecycle events as they "
                                            "happen,\nuntil interrupted");
  raw.watch_name.opt = watch
                         ->add_option("--name", raw.watch_name.text,
                                      "only the events of the task NAME")
                         ->type_name("NAME");
  watch->footer(std::string{"Prints {\"seq\",\"event\",\"time\",\"name\","
                            "\"state\",\"node\",...} for each event:\n"
                            "started, progress, done, failed, lost, "
                            "cancelled, restarted. Runs until\nSIGINT or "
                            "SIGTERM (exit 0). Follows the orchestrator when "
                            "it moves;\nevents during the move can be "
                            "missed.\n"}
                + command_footer);
}

/// Prints a usage error and returns its exit code.
int usage_error(const std::string& what) {
  std::cerr << "dtask: " << what
            << "\nRun dtask --help (or dtask COMMAND --help) for usage."
            << std::endl;
  return 2;
}

/// Checks the global options; a usage error's exit code.
std::optional<int> check_general(const raw_values& raw, invocation& out) {
  if (raw.connect.text.empty())
    return usage_error("missing --connect=HOST:PORT");
  out.connect = raw.connect.text;
  auto ep_err = parse_endpoint(out.connect, out.gateway);
  if (!ep_err.empty())
    return usage_error("--connect: " + ep_err);
  if (raw.config_file.given())
    out.caf_args.push_back("--config-file=" + raw.config_file.text);
  long window_ms = 0;
  if (raw.retry_window.given()) {
    if (!parse_count(raw.retry_window.text, 1, max_retry_window_ms, window_ms))
      return usage_error("--retry-window= takes whole milliseconds, 1 to "
                         "3600000 (an hour), not "
                         + json_string(raw.retry_window.text));
    out.retry_window = std::chrono::milliseconds(window_ms);
  }
  return std::nullopt;
}

/// Checks the options of `start` and `list`; a usage error's exit code.
std::optional<int> check_command(const raw_values& raw, invocation& out) {
  if (raw.name.given())
    out.name = raw.name.text;
  if (raw.watch_name.given())
    out.name = raw.watch_name.text;
  if (!raw.after_mark.empty()) // Never seen: ARG takes every argument.
    out.args.push_back(raw.after_mark);
  long n = 0;
  if (raw.timeout.given()) {
    if (!parse_count(raw.timeout.text, 1, max_wait_s, n))
      return usage_error("--timeout= takes whole seconds, 1 to 604800 "
                         "(a week), not " + json_string(raw.timeout.text));
    out.timeout = std::chrono::seconds(n);
  }
  if (raw.restart.given()) {
    if (raw.restart.text == "never")
      out.restart = restart_policy::never;
    else if (raw.restart.text == "on-node-loss")
      out.restart = restart_policy::on_node_loss;
    else
      return usage_error("--restart= takes never or on-node-loss, not "
                         + json_string(raw.restart.text));
  }
  if (raw.limit.given()) {
    if (!parse_count(raw.limit.text, 1, max_list_limit, n))
      return usage_error("--limit= takes a whole number of tasks, 1 to "
                         + std::to_string(max_list_limit) + ", not "
                         + json_string(raw.limit.text));
    out.page.limit = static_cast<uint32_t>(n);
  }
  return std::nullopt;
}

command command_named(const std::string& name) {
  if (name == "start")
    return command::start;
  if (name == "status")
    return command::status;
  if (name == "stop")
    return command::stop;
  if (name == "list")
    return command::list;
  if (name == "watch")
    return command::watch;
  return name == "nodes" ? command::nodes : command::members;
}

/// `members`, `members add` or `members remove`.
command members_command(const CLI::App& members) {
  auto subs = members.get_subcommands();
  if (subs.empty())
    return command::members;
  return subs.front()->get_name() == "add" ? command::add_voter
                                           : command::remove_voter;
}

} // namespace

std::optional<int> parse_command_line(int argc, const char* const* argv,
                                      invocation& out) {
  CLI::App app{"dtask: the command line client of a dtask cluster.", "dtask"};
  app.formatter(std::make_shared<help_formatter>());
  app.get_formatter()->column_width(26);
  app.get_formatter()->label("SUBCOMMAND", "COMMAND");
  // As before CLI11: an option given twice takes its last value.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  // The commands inherit it: the general options may follow the command.
  app.fallthrough();
  raw_values raw;
  add_general_options(app, raw);
  add_start(app, out, raw);
  add_queries(app, out, raw);
  add_watch(app, raw);
  for (auto* sub : app.get_subcommands({}))
    sub->group("Commands");
  app.require_subcommand(0, 1);
  app.footer(general_footer);
  std::vector<std::string> args;
  auto secret = split_args(app, argc, argv, args, out.caf_args);
  if (!secret.empty())
    return usage_error(secret);
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  }
  auto commands = app.get_subcommands();
  if (commands.empty())
    return usage_error("missing command: start, status, stop, list, nodes, "
                       "members or watch");
  out.cmd = command_named(commands.front()->get_name());
  if (out.cmd == command::members)
    out.cmd = members_command(*commands.front());
  if (auto rc = check_general(raw, out))
    return rc;
  return check_command(raw, out);
}

} // namespace dtask::cli
