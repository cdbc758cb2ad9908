#include "cluster_harness.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace dtask_test {

std::function<bool()> dump_logs_if;

uint16_t free_port() {
  // Outside the kernel's ephemeral range (32768-60999 by default): a port
  // from that range can be taken by any outgoing connection between this
  // check and the node's bind, which parallel tests make likely.
  static std::mt19937 rng{std::random_device{}()};
  std::uniform_int_distribution<int> dist{20000, 32000};
  for (;;) {
    auto port = static_cast<uint16_t>(dist(rng));
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
  auto needle = "\"" + key + "\":";
  auto pos = line.find(needle);
  if (pos == std::string::npos)
    return {};
  pos += needle.size();
  if (pos < line.size() && line[pos] == '"') {
    std::string out;
    for (++pos; pos < line.size() && line[pos] != '"'; ++pos) {
      if (line[pos] == '\\' && pos + 1 < line.size())
        ++pos;
      out += line[pos];
    }
    return out;
  }
  if (pos < line.size() && line[pos] == '[') {
    auto end = line.find(']', pos);
    return line.substr(pos, end - pos + 1);
  }
  auto end = line.find_first_of(",}", pos);
  return line.substr(pos, end - pos);
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

cluster::cluster(int n, std::string extra, std::string node_binary,
                 bool single_seed)
  : binary_(std::move(node_binary)) {
  char tmpl[] = "/tmp/dtask-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  for (int i = 0; i < n; ++i)
    ports_.push_back(free_port());
  pids_.assign(n, 0);
  std::string seeds;
  for (int i = 0; i < (single_seed ? 1 : n); ++i)
    seeds += (i > 0 ? ", \"" : "\"") + name(i) + "\"";
  for (int i = 0; i < n; ++i) {
    std::ofstream f{dir_ + "/node" + std::to_string(i) + ".ini"};
    f << "[cluster]\nhost=\"127.0.0.1\"\nport=" << ports_[i] << "\nseeds=["
      << seeds << "]\n"
      << extra << "\n[middleman]\nheartbeat-interval=100ms\n"
      << "connection-timeout=600ms\n";
  }
}

cluster::~cluster() {
  for (int i = 0; i < size(); ++i)
    if (pids_[i] > 0) {
      kill(pids_[i], SIGCONT);
      signal(i, SIGKILL);
    }
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
  return "127.0.0.1:" + std::to_string(ports_[i]);
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
  pids_[i] = spawn({binary_, "--config-file=" + dir_ + "/node"
                                + std::to_string(i) + ".ini"},
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
  }
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

run_result cluster::cli(std::vector<std::string> args, int via) {
  if (via < 0)
    for (int i = 0; i < size() && via < 0; ++i)
      if (running(i))
        via = i;
  args.insert(args.begin(), "--connect=" + name(via));
  args.insert(args.begin(), DTASK_CLI_BIN);
  return run(args);
}

std::vector<std::string> cluster::members(int via, std::string* orch,
                                          const char* cmd) {
  std::vector<std::string> result;
  auto res = cli({cmd}, via);
  if (res.rc != 0)
    return result;
  for (auto& line : res.lines) {
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
