// Starting a node: configuration, message types, publishing, and `main`.

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors.hpp"
#include "dtask/node.hpp"

namespace dtask {

log_line::~log_line() {
  static std::mutex mtx;
  buf_ << '\n';
  auto text = buf_.str();
  std::lock_guard<std::mutex> guard{mtx};
  auto& out = to_stderr_ ? std::cerr : std::cout;
  out << text << std::flush;
}

event_sink::event_sink(const std::string& path) {
  if (!path.empty())
    file_ = std::fopen(path.c_str(), "a");
}

event_sink::~event_sink() {
  if (file_ != nullptr)
    std::fclose(file_);
}

void event_sink::write(const std::string& line) const {
  if (file_ == nullptr)
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fputc('\n', file_);
  std::fflush(file_);
}

void add_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<task_state>("dtask.task_state");
  cfg.add_message_type<restart_policy>("dtask.restart_policy");
  cfg.add_message_type<task_ref>("dtask.task_ref");
  cfg.add_message_type<task_status>("dtask.task_status");
  cfg.add_message_type<std::vector<task_status>>("dtask.task_status_list");
  cfg.add_message_type<node_info>("dtask.node_info");
  cfg.add_message_type<std::vector<node_info>>("dtask.node_info_list");
  cfg.add_message_type<start_options>("dtask.start_options");
  cfg.add_message_type<member>("dtask.member");
  cfg.add_message_type<std::vector<member>>("dtask.member_list");
  cfg.add_message_type<orchestrator_ref>("dtask.orchestrator_ref");
  cfg.add_message_type<cluster_view>("dtask.cluster_view");
  cfg.add_message_type<spawn_order>("dtask.spawn_order");
  cfg.add_message_type<registry_entry>("dtask.registry_entry");
  cfg.add_message_type<std::vector<registry_entry>>("dtask.registry_entries");
  cfg.add_message_type<task_key>("dtask.task_key");
  cfg.add_message_type<std::vector<task_key>>("dtask.task_keys");
  cfg.add_message_type<mirrored_members>("dtask.mirrored_members");
  cfg.add_message_type<std::vector<mirrored_members>>(
    "dtask.mirrored_members_list");
  cfg.add_message_type<lease_grant>("dtask.lease_grant");
  cfg.add_message_type<refused_order>("dtask.refused_order");
  cfg.add_message_type<mirror_confirmation>("dtask.mirror_confirmation");
  cfg.add_message_type<mirror_update>("dtask.mirror_update");
  cfg.add_message_type<mirror_target>("dtask.mirror_target");
}

void configure(caf::actor_system_config& cfg) {
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::milliseconds(100)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::milliseconds(600)});
  // Measured with dtask-bench: `sharing` answers a remote request in about
  // 60 % of the time the default work-stealing scheduler takes on 2 cores;
  // fewer scheduler threads (max-threads 1 or 2) made no difference beyond
  // the noise, so CAF's default thread count stays.
  cfg.set("scheduler.policy", caf::atom("sharing"));
  // CAF prints a report of unhandled messages and errors to stderr otherwise.
  cfg.set("logger.console", caf::atom("none"));
}

caf::expected<node_handle> start_node(caf::actor_system& sys,
                                      const node_config& cfg, catalog cat) {
  auto events = std::make_shared<event_sink>(cfg.event_log);
  if (!cfg.event_log.empty() && !events->enabled())
    return caf::make_error(caf::sec::cannot_open_file,
                           "cluster.event-log: cannot open " + cfg.event_log);
  auto ctx = std::make_shared<node_context>(
    node_context{cfg, cfg.name(), std::move(cat), cfg.voters(),
                 std::move(events), node_clock{}, connector_api{}});
  ctx->connector = sys.middleman().actor_handle();
  auto registry = spawn_registry(sys, ctx);
  auto supervisor = spawn_supervisor(sys, ctx, registry);
  // Reuse the address: a restarted node must be able to listen again while
  // the connections of its previous incarnation linger in TIME_WAIT.
  auto port = sys.middleman().publish(supervisor, cfg.port, cfg.host.c_str(),
                                      true);
  if (!port) {
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
    return std::move(port.error());
  }
  caf::anon_send(supervisor, join_atom::value);
  return node_handle{ctx->name, supervisor, registry};
}

void stop_node(caf::actor_system& sys, const node_handle& node) {
  sys.middleman().unpublish(node.supervisor, 0);
  caf::anon_send_exit(node.supervisor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(node.registry, caf::exit_reason::user_shutdown);
}

std::string read_node_config(std::vector<std::string>& args,
                             node_config& out) {
  caf::settings cluster;
  // The file first, then command-line overrides.
  std::string path;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i].compare(0, 14, "--config-file=") == 0)
      path = args[i].substr(14);
    else if (args[i] == "--config-file" && i + 1 < args.size())
      path = args[i + 1];
  }
  // Without --config-file, CAF reads caf-application.ini if there is one.
  if (path.empty() && std::ifstream{"caf-application.ini"}.good())
    path = "caf-application.ini";
  if (!path.empty()) {
    auto file = caf::actor_system_config::parse_config_file(path.c_str());
    if (!file)
      return "config file " + path + ": " + caf::to_string(file.error());
    auto i = file->find("cluster");
    if (i != file->end()) {
      auto dict = caf::get_if<caf::config_value::dictionary>(
        &i->second.get_data());
      if (dict == nullptr)
        return "config file " + path + ": cluster must be a section";
      for (auto& kvp : *dict)
        cluster[kvp.first] = kvp.second;
    }
  }
  std::vector<std::string> rest;
  for (auto& arg : args) {
    if (arg.compare(0, 10, "--cluster.") != 0) {
      rest.push_back(arg);
      continue;
    }
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return arg.substr(2) + ": expected --" + arg.substr(2) + "=VALUE";
    auto key = arg.substr(10, eq - 10);
    auto text = arg.substr(eq + 1);
    auto val = caf::config_value::parse(text);
    // Unquoted text that is no other value (a host name) is a string.
    cluster[key] = val ? std::move(*val) : caf::config_value{text};
  }
  args = std::move(rest);
  return read_cluster_config(cluster, out);
}

int node_main(int argc, char** argv, catalog cat) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& arg : args)
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: " << argv[0]
                << " [--config-file=FILE] [--cluster.KEY=VALUE ...]\n"
                << cluster_config_help()
                << "  CAF keys (middleman.*, scheduler.*) as in --long-help\n";
      return 0;
    }
  node_config ncfg;
  auto err = read_node_config(args, ncfg);
  if (!err.empty()) {
    std::cerr << "dtask-node: broken configuration: " << err << std::endl;
    return 2;
  }
  caf::actor_system_config cfg;
  configure(cfg);
  if (auto perr = cfg.parse(args)) {
    std::cerr << "dtask-node: broken configuration: " << caf::to_string(perr)
              << std::endl;
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  // Block the stop signals before CAF starts threads, then wait for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  caf::actor_system sys{cfg};
  auto node = start_node(sys, ncfg, std::move(cat));
  if (!node) {
    std::cerr << "dtask-node " << ncfg.name()
              << ": cannot start: " << sys.render(node.error()) << std::endl;
    std::_Exit(1);
  }
  log_line{} << "dtask-node " << node->name << " up";
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_line{} << "dtask-node " << node->name << " stopping on signal " << sig;
  // A graceful leave: the cluster stops placing tasks here and elects a new
  // orchestrator if this node ran it; running tasks get `leave-timeout` to
  // finish, then are cut short and reported so; the node leaves once every
  // outcome reached the orchestrator. A second signal leaves at once.
  std::thread second([&] {
    int again = 0;
    sigwait(&stop_signals, &again);
    log_line{} << "dtask-node " << node->name << ": second signal, leaving now";
    std::_Exit(1);
  });
  second.detach();
  caf::scoped_actor self{sys};
  bool clean = false;
  self
    ->request(node->supervisor,
              ncfg.leave_timeout + std::chrono::seconds(10), leave_atom::value)
    .receive([&](bool x) { clean = x; }, [&](caf::error&) { clean = false; });
  log_line{} << "dtask-node " << node->name << " left"
             << (clean ? "" : " (some outcomes were not acknowledged)");
  std::_Exit(clean ? 0 : 1);
}

} // namespace dtask
