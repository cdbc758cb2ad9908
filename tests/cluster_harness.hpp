#pragma once

// Real `dtask-node` processes on loopback for multi-process tests: free
// ports, a config file per node, the CLI run as a user would run it, and
// bounded waits for conditions (never a blind sleep).

#include <chrono>
#include <csignal>
#include <functional>
#include <string>
#include <vector>

namespace dtask_test {

/// When set and true at a cluster's destruction, the cluster prints its
/// nodes' logs to stderr (the tests set it to "the test failed").
extern std::function<bool()> dump_logs_if;

/// A port that was free a moment ago (bound to port 0, then released).
uint16_t free_port();

/// The value of `key` in a one-line JSON object: a string's contents
/// (unescaped), any other value as compact JSON (`[50]`, `true`, `7`).
/// Empty if absent, or if the line is no JSON object.
std::string json_field(const std::string& line, const std::string& key);

/// What a program printed and how it ended.
struct run_result {
  int rc = -1;
  std::vector<std::string> lines;
  std::string err;

  std::string field(const std::string& key, size_t line = 0) const {
    return line < lines.size() ? json_field(lines[line], key) : std::string{};
  }
};

/// Runs `argv` with a bound on its run time (killed after `timeout`).
run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout = std::chrono::seconds(30));

/// A program started in the background, after its first line of output.
struct background_process {
  int pid = 0;
  std::string first_line;
};

/// Starts `argv` and waits (bounded, 10 s) for its first line on stdout.
background_process run_background(const std::vector<std::string>& argv);

/// Polls `pred` every 10 ms until it holds or `timeout` passes.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout);

/// Starts `argv` in the background with stdout and stderr appended to
/// `log_path`; returns its pid (0 on failure).
int spawn_logged(const std::vector<std::string>& argv,
                 const std::string& log_path);

/// Waits (bounded) for process `pid` to exit; returns its exit status, or
/// -1 after killing it when `timeout` passed.
int wait_exit(int pid, std::chrono::milliseconds timeout);

/// Monotonic nanoseconds, comparable with the nodes' event logs.
int64_t mono_now_ns();

/// Selects a cluster whose nodes each run in a network namespace of their
/// own, joined by a bridge, so that tests can cut links between them.
struct netns_tag {};

/// A cluster of real node processes that all share one seeds list.
///
/// Every node writes its task event log into the cluster's directory, and
/// every SIGKILL the harness sends is recorded in `kill_log()`, for the
/// invariant checkers.
class cluster {
public:
  /// Empty if network namespaces can be used here, else why not.
  static std::string netns_unavailable();

  /// `n` nodes, each in a network namespace of its own on a private subnet
  /// (10.X.Y.1..n), joined by a bridge in the caller's namespace. Every
  /// namespace, link and address is created here and removed by the
  /// destructor.
  cluster(int n, netns_tag, std::string extra_cluster_keys = "");

  /// Prepares `n` nodes (not started). `extra_cluster_keys` lines go into
  /// the `[cluster]` section of every node.
  /// With `single_seed`, every node's seeds list holds only node 0.
  explicit cluster(int n, std::string extra_cluster_keys = "",
                   std::string node_binary = DTASK_NODE_BIN,
                   bool single_seed = false);

  /// Kills every node still running.
  ~cluster();

  cluster(const cluster&) = delete;
  cluster& operator=(const cluster&) = delete;

  /// Starts all nodes and waits until every one sees all members and one
  /// orchestrator. Returns false (with a message on stderr) otherwise.
  bool start_all(std::chrono::milliseconds timeout = std::chrono::seconds(15));

  /// Starts (or restarts) node `i` and waits for its "up" line.
  bool start(int i);

  /// Sends `sig` to node `i`; SIGKILL and SIGTERM also reap it.
  void signal(int i, int sig);

  /// Waits (bounded) for node `i` to exit by itself; its exit status, or -1
  /// (then it was killed).
  int reap(int i, std::chrono::milliseconds timeout);

  int size() const {
    return static_cast<int>(ports_.size());
  }

  /// `127.0.0.1:PORT` of node `i`.
  std::string name(int i) const;

  uint16_t port(int i) const {
    return ports_[i];
  }

  /// Index of the node called `name`, or -1.
  int index_of(const std::string& name) const;

  bool running(int i) const {
    return pids_[i] > 0;
  }

  int pid(int i) const {
    return pids_[i];
  }

  /// Makes every node (not started yet) and the CLI use mutual TLS with
  /// the certificates `scripts/certs` made in `certs_dir`: node i uses
  /// `node<i>.pem`, the CLI `client.pem`. Returns false if that failed.
  bool use_tls();

  /// Makes every node (not started yet) listen on every interface
  /// (`host="0.0.0.0"`) under its usual name as `advertise`
  /// (127.0.0.1:PORT). Without `use_tls`, the nodes then refuse to start.
  void listen_on_every_interface();

  /// Makes only the first `k` nodes the seeds (the voters at first) of
  /// every node (not started yet).
  void set_seeds(int k);

  /// Gives every node (not started yet) a state directory of its own
  /// (`[cluster] state-dir`, `state_dir(i)`).
  void use_state_dirs();

  std::string state_dir(int i) const;

  /// Makes every node (not started yet) serve HTTP (`[http] port`) on a
  /// free port of its own (`http_port`).
  void enable_http();

  /// Node i's HTTP port; 0 without `enable_http`.
  uint16_t http_port(int i) const {
    return http_ports_.empty() ? 0 : http_ports_[i];
  }

  /// The CLI's TLS flags (empty without TLS).
  std::vector<std::string> tls_flags() const;

  /// Where `use_tls` put the certificates.
  std::string certs_dir() const {
    return dir_ + "/certs";
  }

  /// Runs the CLI against node `via` (the first running node if -1).
  run_result cli(std::vector<std::string> args, int via = -1);

  /// The members node `via` reports (`cmd` is "members" for the node's own
  /// view, "nodes" for the orchestrator's), and which is orchestrator.
  std::vector<std::string> members(int via, std::string* orchestrator = nullptr,
                                   const char* cmd = "nodes");

  /// True once every running node reports exactly the running nodes as
  /// members and all agree on one orchestrator.
  bool formed();

  /// The orchestrator's node index, as node `via` reports it; -1 if none.
  int orchestrator(int via = -1);

  /// Path of node `i`'s log.
  std::string log(int i) const;

  /// How many lines of node `i`'s log say a member or orchestrator went
  /// down (" down").
  int downs(int i) const;

  /// How many lines of node `i`'s log contain `text`.
  int log_lines(int i, const std::string& text) const;

  /// The cluster's scratch directory, its nodes' event logs and kill log.
  const std::string& dir() const {
    return dir_;
  }

  std::string event_log(int i) const;

  std::string kill_log() const {
    return dir_ + "/kills.log";
  }

  std::vector<std::string> event_logs() const;

  /// `argv` as it must run to reach node `i` (inside its namespace, if any).
  std::vector<std::string> near(int i, std::vector<std::string> argv) const;

  // -- network faults (namespaced clusters only) ------------------------------

  /// Cuts every link between nodes of different groups (both directions);
  /// nodes in no group keep all their links. Replaces any previous cut.
  bool partition(const std::vector<std::vector<int>>& groups);

  /// Restores every link.
  bool heal();

  /// Adds `delay_ms` of latency and `loss_percent` packet loss on node i's
  /// link (both 0: removes it).
  bool netem(int i, int delay_ms, int loss_percent);

private:
  void write_configs(const std::string& extra, bool single_seed);

  std::string extra_;
  bool single_seed_ = false;
  int seed_count_ = 0;
  bool state_dirs_ = false;
  bool tls_ = false;
  bool every_interface_ = false;

  std::string dir_;
  std::string binary_;
  std::vector<std::string> hosts_;
  std::vector<uint16_t> ports_;
  std::vector<uint16_t> http_ports_;
  std::vector<int> pids_;
  // Namespaced clusters: namespace names, host-side link names, the bridge,
  // and the blackhole routes of the current cut (namespace, address).
  std::vector<std::string> netns_;
  std::vector<std::string> links_;
  std::string bridge_;
  std::vector<std::pair<int, int>> cut_;
};

} // namespace dtask_test
