#include "cluster_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <cstdlib>
#include <fstream>
#include <set>
#include <iostream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace dtask_test {

std::function<bool()> dump_logs_if;

uint16_t free_port() {
  // Outside the kernel's ephemeral range (32768-60999 by default): a port
  // from that range can be taken by any outgoing connection between this
  // check and the node's bind, which parallel tests make likely.
  // A port handed out once is never handed out again by this process: the
  // check below cannot see it taken until its node binds it, so two nodes of
  // one cluster could otherwise get the same port (seen once in CI).
  static std::mt19937 rng{std::random_device{}()};
  static std::set<uint16_t> handed_out;
  std::uniform_int_distribution<int> dist{20000, 32000};
  for (;;) {
    auto port = static_cast<uint16_t>(dist(rng));
    if (!handed_out.insert(port).second)
      continue;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    auto ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (ok)
      return port;
  }
}

std::string json_field(const std::string& line, const std::string& key) {
  auto doc = nlohmann::json::parse(line, nullptr, false);
  if (!doc.is_object())
    return {};
  auto i = doc.find(key);
  if (i == doc.end())
    return {};
  if (i->is_string())
    return i->get<std::string>();
  return i->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

pid_t spawn(const std::vector<std::string>& argv, int out_fd, int err_fd) {
  // Everything the child needs is prepared before fork: the tests fork from
  // several threads, and a child of a multithreaded process may only make
  // async-signal-safe calls (no malloc) before exec.
  std::vector<char*> args;
  for (auto& arg : argv)
    args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  auto pid = fork();
  if (pid == 0) {
    // Nodes and programs die with the test or benchmark that started them.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);)
    if (!line.empty())
      lines.push_back(line);
  return lines;
}

} // namespace

run_result run(const std::vector<std::string>& argv,
               std::chrono::milliseconds timeout) {
  int out[2];
  int err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
    return {};
  auto pid = spawn(argv, out[1], err[1]);
  close(out[1]);
  close(err[1]);
  std::string out_text;
  std::string err_text;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      kill(pid, SIGKILL);
      err_text += "\n[killed after timeout]";
      break;
    }
    if (poll(fds, 2, static_cast<int>(left.count())) <= 0)
      continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP)) == 0)
        continue;
      char buf[4096];
      auto n = read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? out_text : err_text).append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (auto& fd : fds)
    if (fd.fd >= 0)
      close(fd.fd);
  int status = 0;
  waitpid(pid, &status, 0);
  run_result result;
  result.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.lines = split_lines(out_text);
  result.err = err_text;
  return result;
}

background_process run_background(const std::vector<std::string>& argv) {
  int out[2];
  background_process result;
  if (pipe2(out, O_CLOEXEC) != 0)
    return result;
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  result.pid = spawn(argv, out[1], devnull);
  close(out[1]);
  close(devnull);
  pollfd fd{out[0], POLLIN, 0};
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  char c;
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll(&fd, 1, 100) <= 0)
      continue;
    if (read(out[0], &c, 1) != 1 || c == '\n')
      break;
    result.first_line += c;
  }
  close(out[0]);
  return result;
}

bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (pred())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int spawn_logged(const std::vector<std::string>& argv,
                 const std::string& log_path) {
  int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                0644);
  if (fd < 0)
    return 0;
  auto pid = spawn(argv, fd, fd);
  close(fd);
  return pid > 0 ? pid : 0;
}

int wait_exit(int pid, std::chrono::milliseconds timeout) {
  int status = 0;
  auto done = wait_until(
    [&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!done) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int64_t mono_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

namespace {

/// Runs a shell command for the namespaced clusters; false (with a message)
/// if it failed.
bool sh(const std::string& cmd, bool quiet = false) {
  auto rc = std::system((cmd + (quiet ? " >/dev/null 2>&1" : "")).c_str());
  if (rc != 0 && !quiet)
    std::cerr << "command failed (" << rc << "): " << cmd << std::endl;
  return rc == 0;
}

} // namespace

std::string cluster::netns_unavailable() {
  if (geteuid() != 0)
    return "network namespaces need root (running as uid "
           + std::to_string(geteuid()) + ")";
  auto probe = "dtprobe" + std::to_string(getpid());
  if (!sh("ip netns add " + probe, true))
    return "'ip netns add' failed: no iproute2 or no CAP_SYS_ADMIN";
  sh("ip netns del " + probe, true);
  return {};
}

cluster::cluster(int n, std::string extra, std::string node_binary,
                 bool single_seed)
  : binary_(std::move(node_binary)) {
  char tmpl[] = "/tmp/dtask-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  for (int i = 0; i < n; ++i) {
    hosts_.push_back("127.0.0.1");
    ports_.push_back(free_port());
  }
  pids_.assign(n, 0);
  write_configs(extra, single_seed);
}

cluster::cluster(int n, netns_tag, std::string extra)
  : binary_(DTASK_NODE_BIN) {
  char tmpl[] = "/tmp/dtask-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  pids_.assign(n, 0);
  // A private subnet and link names no other test run uses at the same time.
  std::mt19937 rng{std::random_device{}() ^ static_cast<unsigned>(getpid())};
  int b = 0, c = 0;
  for (int attempt = 0; attempt < 50; ++attempt) {
    b = 64 + static_cast<int>(rng() % 128);
    c = static_cast<int>(rng() % 250) + 1;
    bridge_ = "dtb" + std::to_string(b) + "x" + std::to_string(c);
    if (!sh("ip link show " + bridge_, true))
      break;
  }
  auto prefix = "dt" + std::to_string(b) + "x" + std::to_string(c);
  auto subnet = "10." + std::to_string(b) + "." + std::to_string(c) + ".";
  sh("ip link add " + bridge_ + " type bridge");
  sh("ip addr add " + subnet + "254/24 dev " + bridge_);
  sh("ip link set " + bridge_ + " up");
  for (int i = 0; i < n; ++i) {
    auto ns = prefix + "n" + std::to_string(i);
    auto link = prefix + "v" + std::to_string(i);
    auto host = subnet + std::to_string(i + 1);
    netns_.push_back(ns);
    links_.push_back(link);
    hosts_.push_back(host);
    ports_.push_back(static_cast<uint16_t>(4101 + i));
    sh("ip netns add " + ns);
    sh("ip link add " + link + " type veth peer name eth0 netns " + ns);
    sh("ip link set " + link + " master " + bridge_ + " up");
    sh("ip -n " + ns + " addr add " + host + "/24 dev eth0");
    sh("ip -n " + ns + " link set eth0 up");
    sh("ip -n " + ns + " link set lo up");
  }
  write_configs(extra, false);
}

void cluster::write_configs(const std::string& extra, bool single_seed) {
  extra_ = extra;
  single_seed_ = single_seed;
  std::string seeds;
  auto seed_count = single_seed ? 1 : seed_count_ > 0 ? seed_count_ : size();
  for (int i = 0; i < seed_count; ++i)
    seeds += (i > 0 ? ", \"" : "\"") + name(i) + "\"";
  for (int i = 0; i < size(); ++i) {
    std::ofstream f{dir_ + "/node" + std::to_string(i) + ".ini"};
    f << "[cluster]\nhost=\"" << (every_interface_ ? "0.0.0.0" : hosts_[i])
      << "\"\nport=" << ports_[i] << "\nseeds=[" << seeds
      << "]\nevent-log=\"" << event_log(i) << "\"\n"
      << extra << "\n";
    if (every_interface_)
      f << "advertise=\"" << name(i) << "\"\n";
    if (state_dirs_)
      f << "state-dir=\"" << state_dir(i) << "\"\n";
    // Namespaced nodes listen on private addresses: without TLS, a node
    // refuses that unless told it is meant.
    if (!tls_ && hosts_[i].rfind("127.", 0) != 0)
      f << "insecure=true\n";
    f << "[middleman]\nheartbeat-interval=100ms\n"
      << "connection-timeout=600ms\n";
    if (!http_ports_.empty())
      f << "[http]\nport=" << http_ports_[i] << "\n";
    if (tls_)
      f << "[openssl]\ncertificate=\"" << certs_dir() << "/node" << i
        << ".pem\"\nkey=\"" << certs_dir() << "/node" << i
        << ".key\"\ncafile=\"" << certs_dir() << "/ca.pem\"\n";
  }
}

int cluster::downs(int i) const {
  return log_lines(i, " down");
}

int cluster::log_lines(int i, const std::string& text) const {
  std::ifstream f{log(i)};
  int n = 0;
  for (std::string line; std::getline(f, line);)
    if (line.find(text) != std::string::npos)
      ++n;
  return n;
}

std::string cluster::event_log(int i) const {
  return dir_ + "/events" + std::to_string(i) + ".log";
}

std::vector<std::string> cluster::event_logs() const {
  std::vector<std::string> result;
  for (int i = 0; i < size(); ++i)
    result.push_back(event_log(i));
  return result;
}

std::vector<std::string> cluster::near(int i,
                                       std::vector<std::string> argv) const {
  if (netns_.empty())
    return argv;
  static const std::string ip = access("/usr/sbin/ip", X_OK) == 0
                                  ? "/usr/sbin/ip"
                                  : "/sbin/ip";
  argv.insert(argv.begin(), {ip, "netns", "exec", netns_[i]});
  return argv;
}

bool cluster::partition(const std::vector<std::vector<int>>& groups) {
  if (netns_.empty())
    return false;
  heal();
  bool ok = true;
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t h = 0; h < groups.size(); ++h)
      if (g != h)
        for (auto a : groups[g])
          for (auto b : groups[h]) {
            ok &= sh("ip -n " + netns_[a] + " route add blackhole " + hosts_[b]
                     + "/32");
            cut_.emplace_back(a, b);
          }
  return ok;
}

bool cluster::heal() {
  bool ok = true;
  for (auto& ab : cut_)
    ok &= sh("ip -n " + netns_[ab.first] + " route del blackhole "
             + hosts_[ab.second] + "/32");
  cut_.clear();
  return ok;
}

bool cluster::netem(int i, int delay_ms, int loss_percent) {
  if (netns_.empty())
    return false;
  sh("tc qdisc del dev " + links_[i] + " root", true);
  if (delay_ms == 0 && loss_percent == 0)
    return true;
  return sh("tc qdisc add dev " + links_[i] + " root netem delay "
              + std::to_string(delay_ms) + "ms loss "
              + std::to_string(loss_percent) + "%",
            true);
}

cluster::~cluster() {
  for (int i = 0; i < size(); ++i)
    if (pids_[i] > 0) {
      kill(pids_[i], SIGCONT);
      signal(i, SIGKILL);
    }
  for (auto& ns : netns_)
    sh("ip netns del " + ns, true);
  if (!bridge_.empty() && !netns_.empty())
    sh("ip link del " + bridge_, true);
  if (dump_logs_if && dump_logs_if()) {
    // The nodes' own account of what happened, for the failure report.
    for (int i = 0; i < size(); ++i) {
      std::ifstream in{log(i)};
      std::stringstream text;
      text << in.rdbuf();
      std::cerr << "---- log of node " << name(i) << " ----\n" << text.str()
                << "\n";
    }
  }
  if (std::getenv("DTASK_KEEP_LOGS") == nullptr)
    std::system(("rm -rf " + dir_).c_str());
}

std::string cluster::name(int i) const {
  return hosts_[i] + ":" + std::to_string(ports_[i]);
}

std::string cluster::log(int i) const {
  return dir_ + "/node" + std::to_string(i) + ".log";
}

int cluster::index_of(const std::string& node) const {
  for (int i = 0; i < size(); ++i)
    if (name(i) == node)
      return i;
  return -1;
}

bool cluster::start(int i) {
  auto path = log(i);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pids_[i] = spawn(near(i, {binary_, "--config-file=" + dir_ + "/node"
                                       + std::to_string(i) + ".ini"}),
                   fd, fd);
  close(fd);
  auto up = "dtask-node " + name(i) + " up";
  auto ok = wait_until(
    [&] {
      std::ifstream in{path};
      std::stringstream text;
      text << in.rdbuf();
      return text.str().find(up) != std::string::npos;
    },
    std::chrono::seconds(10));
  if (!ok) {
    int status = 0;
    auto exited = waitpid(pids_[i], &status, WNOHANG) == pids_[i];
    std::cerr << "node " << name(i) << " did not come up"
              << (exited ? " (it exited, status " + std::to_string(status) + ")"
                         : std::string{" (still running)"})
              << std::endl;
    if (exited)
      pids_[i] = 0;
  }
  return ok;
}

void cluster::signal(int i, int sig) {
  if (pids_[i] <= 0)
    return;
  kill(pids_[i], sig);
  if (sig == SIGKILL || sig == SIGTERM) {
    waitpid(pids_[i], nullptr, 0);
    pids_[i] = 0;
    if (sig == SIGKILL) {
      // After the reap: the process surely ran nothing after this time.
      std::ofstream f{kill_log(), std::ios::app};
      f << "kill " << mono_now_ns() << " " << name(i) << "\n";
    }
  }
}

int cluster::reap(int i, std::chrono::milliseconds timeout) {
  if (pids_[i] <= 0)
    return -1;
  auto rc = wait_exit(pids_[i], timeout);
  pids_[i] = 0;
  return rc;
}

bool cluster::start_all(std::chrono::milliseconds timeout) {
  for (int i = 0; i < size(); ++i)
    if (!start(i))
      return false;
  if (!wait_until([&] { return formed(); }, timeout)) {
    std::cerr << "the cluster did not form" << std::endl;
    return false;
  }
  return true;
}

bool cluster::use_tls() {
  std::vector<std::string> argv{DTASK_SOURCE_DIR "/scripts/certs", certs_dir()};
  for (int i = 0; i < size(); ++i)
    argv.push_back("node" + std::to_string(i));
  argv.push_back("client");
  auto res = run(argv, std::chrono::seconds(60));
  if (res.rc != 0) {
    std::cerr << "scripts/certs failed: " << res.err << std::endl;
    return false;
  }
  tls_ = true;
  write_configs(extra_, single_seed_);
  return true;
}

void cluster::enable_http() {
  http_ports_.clear();
  for (int i = 0; i < size(); ++i)
    http_ports_.push_back(free_port());
  write_configs(extra_, single_seed_);
}

void cluster::set_seeds(int k) {
  seed_count_ = k;
  write_configs(extra_, single_seed_);
}

void cluster::use_state_dirs() {
  state_dirs_ = true;
  for (int i = 0; i < size(); ++i)
    ::mkdir(state_dir(i).c_str(), 0755);
  write_configs(extra_, single_seed_);
}

std::string cluster::state_dir(int i) const {
  return dir_ + "/state" + std::to_string(i);
}

void cluster::listen_on_every_interface() {
  every_interface_ = true;
  write_configs(extra_, single_seed_);
}

std::vector<std::string> cluster::tls_flags() const {
  if (!tls_)
    return {};
  return {"--openssl.certificate=" + certs_dir() + "/client.pem",
          "--openssl.key=" + certs_dir() + "/client.key",
          "--openssl.cafile=" + certs_dir() + "/ca.pem"};
}

run_result cluster::cli(std::vector<std::string> args, int via) {
  if (via < 0)
    for (int i = 0; i < size() && via < 0; ++i)
      if (running(i))
        via = i;
  for (auto& flag : tls_flags())
    args.insert(args.begin(), flag);
  args.insert(args.begin(), "--connect=" + name(via));
  args.insert(args.begin(), DTASK_CLI_BIN);
  return run(near(via, std::move(args)));
}

std::vector<std::string> cluster::members(int via, std::string* orch,
                                          const char* cmd) {
  std::vector<std::string> result;
  auto res = cli({cmd}, via);
  if (res.rc != 0)
    return result;
  for (auto& line : res.lines) {
    // `members` also names the voters that are no members, and ends with
    // the voting configuration.
    if (json_field(line, "node").empty()
        || json_field(line, "state") == "unreachable")
      continue;
    result.push_back(json_field(line, "node"));
    if (orch != nullptr && json_field(line, "orchestrator") == "true")
      *orch = json_field(line, "node");
  }
  return result;
}

bool cluster::formed() {
  std::vector<std::string> expected;
  for (int i = 0; i < size(); ++i)
    if (running(i))
      expected.push_back(name(i));
  std::sort(expected.begin(), expected.end());
  std::string agreed;
  for (int i = 0; i < size(); ++i) {
    if (!running(i))
      continue;
    std::string orch;
    auto ms = members(i, &orch, "members");
    std::sort(ms.begin(), ms.end());
    if (ms != expected || orch.empty() || (!agreed.empty() && orch != agreed))
      return false;
    agreed = orch;
  }
  // The orchestrator's view, too.
  std::string orch;
  auto ms = members(-1, &orch, "nodes");
  std::sort(ms.begin(), ms.end());
  return ms == expected && orch == agreed;
}

int cluster::orchestrator(int via) {
  std::string orch;
  members(via, &orch);
  return index_of(orch);
}

} // namespace dtask_test
