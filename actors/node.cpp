// Starting a node: configuration, message types, publishing, and `main`.

#include <csignal>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>
#include <dlfcn.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "actors.hpp"
#include "metrics.hpp"
#include "server.hpp"
#include "dtask/node.hpp"

// OpenSSL requires the calling thread's error queue to be empty before each
// TLS I/O call (SSL_get_error reads it). CAF 0.17's TLS session leaves
// errors there when a connection fails (a peer that closes without
// close_notify, a handshake with a bad certificate): the next read of any
// other connection on the same thread then counts as failed, and CAF
// closes it. Measured: one CLI call to a TLS cluster dropped every
// node-to-node connection. These definitions take the place of OpenSSL's
// for CAF (the executable's symbols come first), clear the queue, and call
// OpenSSL's own.
namespace {

template <class F>
F next_definition(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

} // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static auto next = next_definition<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static auto next
    = next_definition<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return next(ssl, buf, num);
}

int SSL_connect(SSL* ssl) {
  static auto next = next_definition<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return next(ssl);
}

int SSL_accept(SSL* ssl) {
  static auto next = next_definition<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return next(ssl);
}

} // extern "C"

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
  cfg.add_message_type<list_query>("dtask.list_query");
  cfg.add_message_type<list_page>("dtask.list_page");
  cfg.add_message_type<member>("dtask.member");
  cfg.add_message_type<std::vector<member>>("dtask.member_list");
  cfg.add_message_type<orchestrator_ref>("dtask.orchestrator_ref");
  cfg.add_message_type<cluster_view>("dtask.cluster_view");
  cfg.add_message_type<voter_slot>("dtask.voter_slot");
  cfg.add_message_type<std::vector<voter_slot>>("dtask.voter_slot_list");
  cfg.add_message_type<voting_config>("dtask.voting_config");
  cfg.add_message_type<spawn_order>("dtask.spawn_order");
  cfg.add_message_type<registry_entry>("dtask.registry_entry");
  cfg.add_message_type<std::vector<registry_entry>>("dtask.registry_entries");
  cfg.add_message_type<task_key>("dtask.task_key");
  cfg.add_message_type<task_progress>("dtask.task_progress");
  cfg.add_message_type<std::vector<task_progress>>("dtask.task_progress_list");
  cfg.add_message_type<std::vector<task_key>>("dtask.task_keys");
  cfg.add_message_type<mirrored_members>("dtask.mirrored_members");
  cfg.add_message_type<std::vector<mirrored_members>>(
    "dtask.mirrored_members_list");
  cfg.add_message_type<lease_grant>("dtask.lease_grant");
  cfg.add_message_type<lost_note>("dtask.lost_note");
  cfg.add_message_type<std::vector<lost_note>>("dtask.lost_note_list");
  cfg.add_message_type<lost_verdicts>("dtask.lost_verdicts");
  cfg.add_message_type<voter_dump>("dtask.voter_dump");
  cfg.add_message_type<refused_order>("dtask.refused_order");
  cfg.add_message_type<mirror_confirmation>("dtask.mirror_confirmation");
  cfg.add_message_type<mirror_update>("dtask.mirror_update");
  cfg.add_message_type<mirror_target>("dtask.mirror_target");
  cfg.add_message_type<event_kind>("dtask.event_kind");
  cfg.add_message_type<task_event>("dtask.task_event");
  cfg.add_message_type<std::vector<task_event>>("dtask.task_event_list");
  cfg.add_message_type<event_query>("dtask.event_query");
}

void configure(caf::actor_system_config& cfg) {
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.load<caf::openssl::manager>();
  // The config file, read later, takes precedence.
  if (auto passphrase = std::getenv("DTASK_TLS_PASSPHRASE"))
    cfg.openssl_passphrase = passphrase;
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

bool tls_enabled(const caf::actor_system_config& cfg) {
  return !cfg.openssl_certificate.empty() || !cfg.openssl_key.empty()
         || !cfg.openssl_cafile.empty() || !cfg.openssl_capath.empty();
}

namespace {

std::string openssl_error() {
  std::string msg;
  while (auto err = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    msg += msg.empty() ? buf : std::string{"; "} + buf;
  }
  return msg;
}

int passphrase_of(char* buf, int size, int, void* user) {
  auto& passphrase = *static_cast<const std::string*>(user);
  auto n = std::min(static_cast<size_t>(size - 1), passphrase.size());
  std::memcpy(buf, passphrase.data(), n);
  buf[n] = '\0';
  return static_cast<int>(n);
}

} // namespace

std::string tls_config_error(const caf::actor_system_config& cfg) {
  if (!tls_enabled(cfg))
    return {};
  if (cfg.openssl_certificate.empty())
    return "openssl.certificate: TLS needs this node's (or client's) "
           "certificate, signed by the cluster CA";
  if (cfg.openssl_key.empty())
    return "openssl.key: TLS needs the certificate's private key";
  if (cfg.openssl_cafile.empty() && cfg.openssl_capath.empty())
    return "openssl.cafile: TLS needs the cluster CA that peers' "
           "certificates are checked against";
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{SSL_CTX_new(TLS_method()),
                                                   SSL_CTX_free};
  if (!ctx)
    return "openssl: cannot create a TLS context: " + openssl_error();
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx.get(),
                                         cfg.openssl_certificate.c_str())
      != 1)
    return "openssl.certificate: cannot load " + cfg.openssl_certificate
           + ": " + openssl_error();
  SSL_CTX_set_default_passwd_cb(ctx.get(), passphrase_of);
  SSL_CTX_set_default_passwd_cb_userdata(
    ctx.get(), const_cast<std::string*>(&cfg.openssl_passphrase));
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), cfg.openssl_key.c_str(),
                                  SSL_FILETYPE_PEM)
      != 1)
    return "openssl.key: cannot load " + cfg.openssl_key
           + " (a wrong or missing passphrase?): " + openssl_error();
  if (SSL_CTX_check_private_key(ctx.get()) != 1)
    return "openssl.key: " + cfg.openssl_key + " does not belong to "
           + cfg.openssl_certificate;
  auto cafile = cfg.openssl_cafile.empty() ? nullptr
                                           : cfg.openssl_cafile.c_str();
  auto capath = cfg.openssl_capath.empty() ? nullptr
                                           : cfg.openssl_capath.c_str();
  if (SSL_CTX_load_verify_locations(ctx.get(), cafile, capath) != 1)
    return "openssl.cafile: cannot load the CA: " + openssl_error();
  return {};
}

std::string command_line_secret(const std::vector<std::string>& args) {
  for (auto& arg : args)
    if (arg.rfind("--openssl.passphrase", 0) == 0)
      return "openssl.passphrase: not on the command line (other users see "
             "it in the process list); put it in the config file or in the "
             "environment variable DTASK_TLS_PASSPHRASE";
  return {};
}

caf::io::middleman_actor network_of(caf::actor_system& sys) {
  return tls_enabled(sys.config()) ? sys.openssl_manager().actor_handle()
                                   : sys.middleman().actor_handle();
}

namespace {

/// 64 random bits from the operating system (see `node_context::secret`).
uint64_t process_secret() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

} // namespace

std::string exposure_error(const node_config& cfg, bool tls) {
  if (tls || cfg.insecure || is_loopback(cfg.host))
    return {};
  return "cluster.host=" + cfg.host
         + " is not a loopback address and TLS is off: anyone who reaches "
           "the port could act as a member of the cluster. Enable TLS ("
           "[openssl] certificate, key and cafile; scripts/certs makes a "
           "development CA), or set [cluster] insecure=true to accept that";
}

std::string http_host(const node_config& cfg, bool tls) {
  if (!cfg.http.host.empty())
    return cfg.http.host;
  return tls ? cfg.host : "127.0.0.1";
}

std::string http_exposure_error(const node_config& cfg, bool tls) {
  auto host = http_host(cfg, tls);
  if (!cfg.http.enabled() || tls || cfg.insecure || is_loopback(host))
    return {};
  return "http.host=" + host
         + " is not a loopback address and TLS is off: anyone who reaches "
           "the port could read the cluster's tasks. Enable TLS, or set "
           "[cluster] insecure=true to accept that";
}

namespace {

/// Starts the node's HTTP server if `[http] port` is set.
caf::expected<std::shared_ptr<http_server>>
start_http(caf::actor_system& sys, const node_context& ctx,
           const supervisor_api& supervisor, bool tls) {
  auto& cfg = ctx.config;
  if (!cfg.http.enabled())
    return std::shared_ptr<http_server>{};
  return http_server::start(sys, http_host(cfg, tls), cfg.http.port,
                            caf::actor_cast<gateway_api>(supervisor),
                            ctx.name, ctx.metrics);
}

} // namespace

caf::expected<node_handle> start_node(caf::actor_system& sys,
                                      const node_config& cfg, catalog cat) {
  auto tls = tls_enabled(sys.config());
  auto exposed = tls_config_error(sys.config());
  if (exposed.empty())
    exposed = exposure_error(cfg, tls);
  if (exposed.empty())
    exposed = http_exposure_error(cfg, tls);
  if (exposed.empty())
    exposed = identity_error(cfg);
  if (!exposed.empty())
    return caf::make_error(caf::sec::invalid_argument, exposed);
  if (cfg.insecure && !tls && !is_loopback(cfg.host))
    log_line{true} << "dtask-node " << cfg.name()
                   << ": WARNING: listening on " << cfg.host
                   << " without TLS ([cluster] insecure=true): anyone who "
                      "reaches the port can act as a member";
  auto non_voter = non_voter_warning(cfg);
  if (!non_voter.empty())
    log_line{true} << "dtask-node " << cfg.name() << ": WARNING: " << non_voter;
  auto events = std::make_shared<event_sink>(cfg.event_log);
  if (!cfg.event_log.empty() && !events->enabled())
    return caf::make_error(caf::sec::cannot_open_file,
                           "cluster.event-log: cannot open " + cfg.event_log);
  auto ctx = std::make_shared<node_context>(
    node_context{cfg, cfg.name(), std::move(cat), nullptr,
                 std::move(events), node_clock{}, connector_api{}, 0,
                 nullptr, {}, std::make_shared<lease_cover<>>()});
  auto voting_error = make_voting(cfg.voters(), cfg.state_dir, ctx->voting);
  if (!voting_error.empty())
    return caf::make_error(caf::sec::invalid_argument, voting_error);
  // Removed from the voters while it runs: it leaves as on SIGTERM (the
  // main thread waits for that signal, see `leave_on_signal`).
  ctx->on_removed = [] { ::kill(::getpid(), SIGTERM); };
  if (cfg.http.enabled())
    ctx->metrics = std::make_shared<node_metrics>();
  ctx->connector = network_of(sys);
  ctx->secret = process_secret();
  auto registry = spawn_registry(sys, ctx);
  auto supervisor = spawn_supervisor(sys, ctx, registry);
  // Reuse the address: a restarted node must be able to listen again while
  // the connections of its previous incarnation linger in TIME_WAIT.
  auto port = tls ? caf::openssl::publish(supervisor, cfg.port,
                                         cfg.host.c_str(), true)
                  : sys.middleman().publish(supervisor, cfg.port,
                                            cfg.host.c_str(), true);
  auto http = port ? start_http(sys, *ctx, supervisor, tls)
                   : caf::expected<std::shared_ptr<http_server>>{nullptr};
  if (!port || !http) {
    stop_actor(supervisor, caf::exit_reason::user_shutdown);
    stop_actor(registry, caf::exit_reason::user_shutdown);
    return !port ? std::move(port.error()) : std::move(http.error());
  }
  caf::send_as(supervisor, supervisor, join_atom::value); // Only from itself.
  return node_handle{ctx->name, supervisor, registry, std::move(*http)};
}

void stop_node(caf::actor_system& sys, const node_handle& node) {
  if (tls_enabled(sys.config()))
    caf::make_function_view(network_of(sys))(caf::unpublish_atom::value,
                                             node.supervisor.address(),
                                             uint16_t{0});
  else
    sys.middleman().unpublish(node.supervisor, 0);
  stop_actor(node.supervisor, caf::exit_reason::user_shutdown);
  stop_actor(node.registry, caf::exit_reason::user_shutdown);
}

namespace {

/// The dtask sections of a node's configuration, as read from its file and
/// its command line.
struct dtask_sections {
  caf::settings cluster;
  caf::settings http;

  caf::settings* find(const std::string& name) {
    return name == "cluster" ? &cluster : name == "http" ? &http : nullptr;
  }
};

/// Copies the dtask sections of the config file at `path` into `out`.
std::string read_sections_of_file(const std::string& path,
                                  dtask_sections& out) {
  auto file = caf::actor_system_config::parse_config_file(path.c_str());
  if (!file)
    return "config file " + path + ": " + caf::to_string(file.error());
  for (auto name : {"cluster", "http"}) {
    auto i = file->find(name);
    if (i == file->end())
      continue;
    auto dict = caf::get_if<caf::config_value::dictionary>(
      &i->second.get_data());
    if (dict == nullptr)
      return "config file " + path + ": " + name + " must be a section";
    for (auto& kvp : *dict)
      (*out.find(name))[kvp.first] = kvp.second;
  }
  return {};
}

/// The section a `--SECTION.KEY=VALUE` argument overrides, or nullptr.
caf::settings* section_of_arg(const std::string& arg, dtask_sections& in,
                              std::string& section) {
  auto dot = arg.find('.');
  if (arg.compare(0, 2, "--") != 0 || dot == std::string::npos)
    return nullptr;
  section = arg.substr(2, dot - 2);
  return in.find(section);
}

} // namespace

std::string read_node_config(std::vector<std::string>& args,
                             node_config& out) {
  dtask_sections sections;
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
    auto err = read_sections_of_file(path, sections);
    if (!err.empty())
      return err;
  }
  std::vector<std::string> rest;
  for (auto& arg : args) {
    std::string name;
    auto section = section_of_arg(arg, sections, name);
    if (section == nullptr) {
      rest.push_back(arg);
      continue;
    }
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      return arg.substr(2) + ": expected --" + arg.substr(2) + "=VALUE";
    auto key = arg.substr(name.size() + 3, eq - name.size() - 3);
    auto text = arg.substr(eq + 1);
    auto val = caf::config_value::parse(text);
    // Unquoted text that is no other value (a host name) is a string.
    (*section)[key] = val ? std::move(*val) : caf::config_value{text};
  }
  args = std::move(rest);
  auto err = read_cluster_config(sections.cluster, out);
  if (err.empty())
    err = read_http_config(sections.http, out.http);
  return err;
}

/// Reads the node's configuration from the command line and its file into
/// `ncfg` and `cfg`; returns the exit code if the node must not start (2:
/// broken, 0: help printed), else none.
caf::optional<int> configure_node(int argc, char** argv,
                                  const type_adder& add_types,
                                  node_config& ncfg,
                                  caf::actor_system_config& cfg) {
  std::vector<std::string> args(argv + 1, argv + argc);
  for (auto& arg : args)
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: " << argv[0]
                << " [--config-file=FILE] [--cluster.KEY=VALUE ...]\n"
                << cluster_config_help() << http_config_help()
                << "  CAF keys (middleman.*, scheduler.*, openssl.*) as in "
                   "--long-help\n";
      return 0;
    }
  auto err = command_line_secret(args);
  if (err.empty())
    err = read_node_config(args, ncfg);
  if (!err.empty()) {
    std::cerr << "dtask-node: broken configuration: " << err << std::endl;
    return 2;
  }
  configure(cfg);
  if (add_types)
    add_types(cfg);
  if (auto perr = cfg.parse(args)) {
    std::cerr << "dtask-node: broken configuration: " << caf::to_string(perr)
              << std::endl;
    return 2;
  }
  if (cfg.cli_helptext_printed)
    return 0;
  auto exposed = tls_config_error(cfg);
  if (exposed.empty())
    exposed = exposure_error(ncfg, tls_enabled(cfg));
  if (exposed.empty())
    exposed = http_exposure_error(ncfg, tls_enabled(cfg));
  if (exposed.empty())
    exposed = identity_error(ncfg);
  if (!exposed.empty()) {
    std::cerr << "dtask-node: broken configuration: " << exposed << std::endl;
    return 2;
  }
  return caf::none;
}

/// A graceful leave: the cluster stops placing tasks here and elects a new
/// orchestrator if this node ran it; running tasks get `leave-timeout` to
/// finish, then are cut short and reported so; the node leaves once every
/// outcome reached the orchestrator. A second signal leaves at once. Ends
/// the process.
[[noreturn]] void leave_on_signal(caf::actor_system& sys,
                                  const node_handle& node,
                                  const node_config& ncfg,
                                  sigset_t stop_signals) {
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log_line{} << "dtask-node " << node.name << " stopping on signal " << sig;
  std::thread second([name = node.name, stop_signals]() mutable {
    int again = 0;
    sigwait(&stop_signals, &again);
    log_line{} << "dtask-node " << name << ": second signal, leaving now";
    std::_Exit(1);
  });
  second.detach();
  caf::scoped_actor self{sys};
  bool clean = false;
  self
    ->request(node.supervisor,
              ncfg.leave_timeout + std::chrono::seconds(10), leave_atom::value)
    .receive([&](bool x) { clean = x; }, [&](caf::error&) { clean = false; });
  log_line{} << "dtask-node " << node.name << " left"
             << (clean ? "" : " (some outcomes were not acknowledged)");
  std::_Exit(clean ? 0 : 1);
}

int node_main(int argc, char** argv, catalog cat,
              const type_adder& add_types) {
  node_config ncfg;
  caf::actor_system_config cfg;
  if (auto code = configure_node(argc, argv, add_types, ncfg, cfg))
    return *code;
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
  if (node->http)
    log_line{} << "dtask-node " << node->name << ": http on "
               << http_host(ncfg, tls_enabled(cfg)) << ":"
               << node->http->port();
  leave_on_signal(sys, *node, ncfg, stop_signals);
}

} // namespace dtask
