// dtask-bench: starts its own local cluster of real dtask-node processes,
// measures the runtime against baselines taken in the same run, stops
// everything, and prints a table (or, with --json, one JSON object).
//
//   dtask-bench [--nodes=3] [--quick] [--tls] [--json] [--n=20000]
//               [--failover-reps=5] [--failover-gap-ms=5000]
//
// Every figure is measured here, in this run; the targets and the original's
// figures are printed beside them for comparison only.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "cluster_harness.hpp"
#include "dtask/client.hpp"
#include "dtask/node.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// -- statistics ---------------------------------------------------------------

double percentile(std::vector<double> xs, double p) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto idx = static_cast<size_t>(p * (xs.size() - 1) + 0.5);
  return xs[std::min(idx, xs.size() - 1)];
}

double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0)
    .count();
}

// -- baseline: raw TCP ping-pong ------------------------------------------------

double tcp_rtt_us_p50(size_t rounds) {
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
  listen(lfd, 1);
  auto pid = fork();
  if (pid == 0) {
    int fd = accept(lfd, nullptr, nullptr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    char c;
    while (read(fd, &c, 1) == 1)
      if (write(fd, &c, 1) != 1)
        break;
    _exit(0);
  }
  close(lfd);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  std::vector<double> lat;
  char c = 'x';
  for (size_t i = 0; i < rounds; ++i) {
    auto t0 = clock_type::now();
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
      break;
    lat.push_back(us_since(t0));
  }
  close(fd);
  waitpid(pid, nullptr, 0);
  return percentile(lat, 0.5);
}

// -- load generator -------------------------------------------------------------

struct load_result {
  std::vector<double> latency_us;
  double seconds = 0;
  size_t errors = 0;
  std::string first_error;

  double per_s() const {
    return seconds > 0 ? latency_us.size() / seconds : 0;
  }
};

/// Runs `n` requests made by `make(self, i)` from one actor, at most `window`
/// in flight, and records each one's latency. `on_reply` sees every reply.
template <class Reply, class Make>
load_result run_load(caf::actor_system& sys, size_t n, size_t window,
                     Make make, std::function<void(Reply&)> on_reply = {}) {
  struct state {
    load_result res;
    size_t issued = 0;
    size_t completed = 0;
    clock_type::time_point start;
    std::promise<void> done;
  };
  auto st = std::make_shared<state>();
  st->res.latency_us.reserve(n);
  auto finished = st->done.get_future();
  sys.spawn([=](caf::event_based_actor* self) {
    auto issue = std::make_shared<std::function<void()>>();
    auto complete = [=] {
      if (++st->completed == n) {
        st->res.seconds = us_since(st->start) / 1e6;
        st->done.set_value();
        self->quit();
      } else {
        (*issue)();
      }
    };
    *issue = [=] {
      if (st->issued >= n)
        return;
      auto i = st->issued++;
      auto t0 = clock_type::now();
      make(self, i).then(
        [=](Reply& r) {
          st->res.latency_us.push_back(us_since(t0));
          if (on_reply)
            on_reply(r);
          complete();
        },
        [=](caf::error& err) {
          if (st->res.errors++ == 0)
            st->res.first_error = caf::to_string(err);
          complete();
        });
    };
    st->start = clock_type::now();
    for (size_t i = 0; i < window && i < n; ++i)
      (*issue)();
  });
  finished.wait();
  return st->res;
}

// -- baseline: CAF remote request/response ----------------------------------------

using ping_atom = caf::atom_constant<caf::atom("ping")>;

/// The second process of the CAF baseline: an echo actor, published.
int caf_echo_server() {
  caf::actor_system_config cfg;
  dtask::configure(cfg);
  caf::actor_system sys{cfg};
  auto echo = sys.spawn([]() -> caf::behavior {
    return {[](ping_atom, int64_t x) { return x; }};
  });
  auto port = sys.middleman().publish(echo, 0, "127.0.0.1");
  if (!port)
    return 1;
  std::cout << *port << std::endl;
  // Runs until the parent kills it.
  for (;;)
    pause();
}

// -- the cluster -----------------------------------------------------------------

uint64_t rss_kb(int pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stoull(line.substr(6));
  return 0;
}

struct params {
  int nodes = 3;
  bool quick = false;
  bool json = false;
  size_t n = 20000;
  size_t window = 256;
  size_t latency_rounds = 2000;
  size_t memory_tasks = 10000;
  size_t spread_names = 30000;
  int failover_reps = 5;
  /// Pause after one failover before the next fault: each run starts from
  /// a settled cluster. A node that ran the orchestrator until a few seconds
  /// ago still keeps its mirror promise (4.25 s) to its old mirror and
  /// parks its own starts meanwhile; 0 measures such back-to-back faults.
  int failover_gap_ms = 5000;
  int hang_reps = 3;
  /// The cluster and the benchmark's client speak mutual TLS (the CAF
  /// baseline stays plaintext: the ratio to it shows what TLS costs).
  bool tls = false;
};

struct figures {
  std::map<std::string, double> values;
  std::vector<std::string> order;

  void set(const std::string& key, double x) {
    if (values.count(key) == 0)
      order.push_back(key);
    values[key] = x;
  }
};

} // namespace

int main(int argc, char** argv) {
  params p;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--caf-echo-server")
      return caf_echo_server();
    if (arg == "--quick")
      p.quick = true;
    else if (arg == "--tls")
      p.tls = true;
    else if (arg == "--json")
      p.json = true;
    else if (arg.rfind("--nodes=", 0) == 0)
      p.nodes = std::max(2, std::atoi(arg.c_str() + 8));
    else if (arg.rfind("--n=", 0) == 0)
      p.n = std::max<size_t>(100, std::atol(arg.c_str() + 4));
    else if (arg.rfind("--failover-reps=", 0) == 0)
      p.failover_reps = std::max(1, std::atoi(arg.c_str() + 16));
    else if (arg.rfind("--failover-gap-ms=", 0) == 0)
      p.failover_gap_ms = std::max(0, std::atoi(arg.c_str() + 18));
    else {
      std::cerr << "usage: dtask-bench [--nodes=N] [--n=N] [--failover-reps=N] "
                   "[--failover-gap-ms=MS] [--quick] [--tls] [--json]"
                << std::endl;
      return 2;
    }
  }
  if (p.quick) {
    p.n = 2000;
    p.latency_rounds = 300;
    p.memory_tasks = 1000;
    p.spread_names = 3000;
    p.failover_reps = 2;
    p.failover_gap_ms = 0;
    p.hang_reps = 1;
  }
  auto log = [&](const std::string& what) {
    if (!p.json)
      std::cerr << "dtask-bench: " << what << std::endl;
  };
  figures f;
  // The cluster's nodes start after the baselines; with TLS, their
  // certificates (and the client's) must exist before this process's
  // actor system does.
  dtask_test::cluster c{p.nodes};
  caf::actor_system_config cfg;
  dtask::configure(cfg);
  if (p.tls) {
    if (!c.use_tls())
      return 1;
    cfg.openssl_certificate = c.certs_dir() + "/client.pem";
    cfg.openssl_key = c.certs_dir() + "/client.key";
    cfg.openssl_cafile = c.certs_dir() + "/ca.pem";
  }
  caf::actor_system sys{cfg};

  // Baselines.
  log("baseline: TCP ping-pong");
  f.set("baseline_tcp_rtt_us_p50", tcp_rtt_us_p50(p.latency_rounds * 5));
  log("baseline: CAF remote request/response");
  {
    auto server = dtask_test::run_background({argv[0], "--caf-echo-server"});
    auto port = static_cast<uint16_t>(std::stoi(server.first_line));
    auto echo = sys.middleman().remote_actor("127.0.0.1", port);
    if (!echo) {
      std::cerr << "dtask-bench: CAF baseline failed: "
                << caf::to_string(echo.error()) << std::endl;
      return 1;
    }
    auto hdl = *echo;
    auto req = [hdl](caf::event_based_actor* self, size_t i) {
      return self->request(hdl, 30s, ping_atom::value,
                           static_cast<int64_t>(i));
    };
    auto seq = run_load<int64_t>(sys, p.latency_rounds, 1, req);
    f.set("baseline_caf_rtt_us_p50", percentile(seq.latency_us, 0.5));
    auto pip = run_load<int64_t>(sys, p.n, p.window, req);
    f.set("baseline_caf_pipelined_per_s", pip.per_s());
    kill(server.pid, SIGKILL);
    waitpid(server.pid, nullptr, 0);
  }

  // The cluster.
  log("starting " + std::to_string(p.nodes) + " nodes"
      + (p.tls ? " (TLS)" : ""));
  if (!c.start_all()) {
    std::cerr << "dtask-bench: the cluster did not form" << std::endl;
    return 1;
  }
  auto cli = dtask::client::connect(sys, {"127.0.0.1", c.port(0)});
  if (!cli) {
    std::cerr << "dtask-bench: cannot connect" << std::endl;
    return 1;
  }
  auto api = cli->actor();
  std::atomic<uint64_t> name_seq{0};
  auto start_req = [api, &name_seq](caf::event_based_actor* self, size_t) {
    dtask::start_options opts;
    opts.name = "b" + std::to_string(name_seq++);
    return self->request(api, 30s, dtask::start_atom::value,
                         std::string{"echo"}, caf::message{}, opts);
  };

  log("start latency and sequential starts");
  run_load<dtask::task_ref>(sys, p.latency_rounds, 1, start_req); // Warm-up.
  auto seq = run_load<dtask::task_ref>(sys, p.n, 1, start_req);
  f.set("start_latency_us_p50", percentile(seq.latency_us, 0.5));
  f.set("start_latency_us_p99", percentile(seq.latency_us, 0.99));
  f.set("starts_per_s_sequential", seq.per_s());

  // The same without the client actor (no retries): how much its local hop
  // costs. The orchestrator is found as the client finds it.
  {
    caf::scoped_actor self{sys};
    dtask::orchestrator_api orch;
    auto gw = p.tls ? caf::openssl::remote_actor<dtask::gateway_api>(
                        sys, "127.0.0.1", c.port(0))
                    : sys.middleman().remote_actor<dtask::gateway_api>(
                        "127.0.0.1", c.port(0));
    if (gw)
      self->request(*gw, 5s, dtask::whereis_atom::value)
        .receive([&](dtask::orchestrator_ref& ref) { orch = ref.handle; },
                 [](caf::error&) {});
    if (orch) {
      auto direct = [orch, &name_seq](caf::event_based_actor* self, size_t) {
        dtask::start_options opts;
        opts.name = "d" + std::to_string(name_seq++);
        opts.token = name_seq;
        return self->request(orch, 30s, dtask::start_atom::value,
                             std::string{"echo"}, caf::message{}, opts);
      };
      auto d = run_load<dtask::task_ref>(sys, p.latency_rounds, 1, direct);
      f.set("start_latency_direct_us_p50", percentile(d.latency_us, 0.5));
      auto status_direct = [orch](caf::event_based_actor* self, size_t) {
        return self->request(orch, 30s, dtask::status_atom::value,
                             std::string{"b0"});
      };
      auto sd = run_load<dtask::task_status>(sys, p.latency_rounds, 1,
                                             status_direct);
      f.set("status_latency_direct_us_p50", percentile(sd.latency_us, 0.5));
    }
  }

  log("pipelined starts");
  auto pip = run_load<dtask::task_ref>(sys, p.n, p.window, start_req);
  f.set("starts_per_s_pipelined", pip.per_s());

  log("completions (start to callback, pipelined)");
  {
    struct counter {
      std::atomic<size_t> received{0};
      std::promise<void> all;
      size_t expected = 0;
    };
    auto cnt = std::make_shared<counter>();
    cnt->expected = p.n;
    auto all = cnt->all.get_future();
    auto cb = sys.spawn([cnt](caf::event_based_actor* self) -> caf::behavior {
      return {[cnt, self](const dtask::task_status&) {
        if (++cnt->received == cnt->expected) {
          cnt->all.set_value();
          self->quit();
        }
      }};
    });
    auto with_cb = [api, cb, &name_seq](caf::event_based_actor* self,
                                        size_t) {
      dtask::start_options opts;
      opts.name = "c" + std::to_string(name_seq++);
      opts.callback = cb;
      return self->request(api, 30s, dtask::start_atom::value,
                           std::string{"echo"}, caf::message{}, opts);
    };
    auto t0 = clock_type::now();
    run_load<dtask::task_ref>(sys, p.n, p.window, with_cb);
    if (all.wait_for(60s) == std::future_status::ready)
      f.set("completions_per_s", p.n / (us_since(t0) / 1e6));
    else
      f.set("completions_per_s", 0);
  }

  log("status latency");
  {
    auto status_req = [api](caf::event_based_actor* self, size_t) {
      return self->request(api, 30s, dtask::status_atom::value,
                           std::string{"b0"});
    };
    run_load<dtask::task_status>(sys, p.latency_rounds, 1, status_req);
    auto st = run_load<dtask::task_status>(sys, p.latency_rounds * 5, 1,
                                           status_req);
    f.set("status_latency_us_p50", percentile(st.latency_us, 0.5));
    f.set("status_latency_us_p99", percentile(st.latency_us, 0.99));
  }

  log("spread over the live nodes");
  {
    std::map<std::string, size_t> count;
    auto spread = run_load<dtask::task_ref>(
      sys, p.spread_names, p.window, start_req,
      [&count](dtask::task_ref& ref) { ++count[ref.node]; });
    size_t max = 0;
    for (auto& kvp : count)
      max = std::max(max, kvp.second);
    f.set("spread_max_over_mean",
          max / (static_cast<double>(p.spread_names) / p.nodes));
  }

  log("memory per running task");
  {
    auto rss = [&] {
      uint64_t total = 0;
      for (int i = 0; i < c.size(); ++i)
        total += rss_kb(c.pid(i));
      return total;
    };
    auto before = rss();
    auto sleep_req = [api, &name_seq](caf::event_based_actor* self, size_t) {
      dtask::start_options opts;
      opts.name = "m" + std::to_string(name_seq++);
      return self->request(api, 30s, dtask::start_atom::value,
                           std::string{"sleep"},
                           caf::make_message(int64_t{3600000}), opts);
    };
    run_load<dtask::task_ref>(sys, p.memory_tasks, p.window, sleep_req);
    auto after = rss();
    f.set("bytes_per_running_task",
          (after - before) * 1024.0 / p.memory_tasks);
  }

  // Failover: `sig` hits the orchestrator's node while a caller does
  // back-to-back starts; the time until the next start succeeds. After a
  // SIGKILL the node is restarted, after a SIGSTOP resumed; then the next
  // round waits for the cluster to form again.
  auto failover = [&](int sig, const std::string& prefix) {
    std::vector<double> ms;
    size_t client_errors = 0;
    for (int rep = 0; rep < p.failover_reps; ++rep) {
      auto orch = c.orchestrator();
      auto gateway = orch == 0 ? 1 : 0;
      auto lc = dtask::client::connect(sys, {"127.0.0.1", c.port(gateway)});
      if (orch < 0 || !lc)
        break;
      std::atomic<bool> hit{false};
      clock_type::time_point hit_time;
      double elapsed = -1;
      std::thread caller([&] {
        for (int i = 0; i < 1000000; ++i) {
          dtask::start_options opts;
          opts.name = "f" + std::to_string(name_seq++);
          // Only a start sent after the fault counts (one in flight may be
          // answered by a registry that the fault did not touch).
          auto sent_after = hit.load();
          auto ref = lc->start("echo", caf::message{}, opts);
          if (!ref)
            ++client_errors;
          else if (sent_after) {
            elapsed = us_since(hit_time) / 1000.0;
            return;
          }
        }
      });
      std::this_thread::sleep_for(100ms); // The caller runs at full speed.
      hit_time = clock_type::now();
      c.signal(orch, sig);
      hit = true;
      caller.join();
      caf::anon_send_exit(lc->actor(), caf::exit_reason::kill);
      ms.push_back(elapsed);
      if (sig == SIGKILL)
        c.start(orch);
      else
        c.signal(orch, SIGCONT);
      if (!dtask_test::wait_until([&] { return c.formed(); }, 15s))
        break;
      // A time, not a condition: promises run out on their own.
      std::this_thread::sleep_until(
        hit_time + std::chrono::milliseconds{p.failover_gap_ms});
    }
    f.set(prefix + "_ms_p50", percentile(ms, 0.5));
    f.set(prefix + "_ms_max",
          ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end()));
    f.set(prefix + "_client_errors", static_cast<double>(client_errors));
    f.set(prefix + "_reps", static_cast<double>(ms.size()));
  };
  log("failover after SIGKILL of the orchestrator's node");
  failover(SIGKILL, "failover");
  log("failover after SIGSTOP of the orchestrator's node");
  failover(SIGSTOP, "failover_stop");

  log("hang detection after SIGSTOP");
  {
    std::vector<double> ms;
    for (int rep = 0; rep < p.hang_reps; ++rep) {
      auto orch = c.orchestrator();
      auto victim = orch == 0 ? 1 : 0;
      auto lc = dtask::client::connect(sys, {"127.0.0.1", c.port(orch)});
      if (orch < 0 || !lc)
        break;
      auto t0 = clock_type::now();
      c.signal(victim, SIGSTOP);
      auto gone = dtask_test::wait_until(
        [&] {
          auto xs = lc->nodes();
          return xs && xs->size() == static_cast<size_t>(p.nodes - 1);
        },
        10s);
      if (gone)
        ms.push_back(us_since(t0) / 1000.0);
      c.signal(victim, SIGCONT);
      caf::anon_send_exit(lc->actor(), caf::exit_reason::kill);
      if (!dtask_test::wait_until([&] { return c.formed(); }, 15s))
        break;
    }
    f.set("hang_detect_ms_p50", percentile(ms, 0.5));
  }

  caf::anon_send_exit(cli->actor(), caf::exit_reason::kill);
  f.set("param_n", static_cast<double>(p.n));
  f.set("param_window", static_cast<double>(p.window));
  f.set("param_nodes", p.nodes);
  f.set("param_failover_gap_ms", p.failover_gap_ms);
  f.set("machine_cores", std::thread::hardware_concurrency());

  if (p.json) {
    std::ostringstream out;
    out << "{";
    bool first = true;
    for (auto& key : f.order) {
      out << (first ? "" : ",") << "\"" << key << "\":" << f.values[key];
      first = false;
    }
    out << ",\"param_quick\":" << (p.quick ? "true" : "false")
        << ",\"param_tls\":" << (p.tls ? "true" : "false")
        << ",\"param_caf\":\"scheduler.policy=sharing, "
           "middleman.heartbeat-interval=100ms, "
           "middleman.connection-timeout=600ms\"}";
    std::cout << out.str() << std::endl;
  } else {
    struct row {
      const char* key;
      const char* target;
      const char* original;
    };
    std::vector<row> rows = {
      {"baseline_tcp_rtt_us_p50", "", "~28"},
      {"baseline_caf_rtt_us_p50", "", "100-300"},
      {"baseline_caf_pipelined_per_s", "", "30-40k"},
      {"start_latency_us_p50", "<= 2x caf rtt", ""},
      {"start_latency_us_p99", "", ""},
      {"start_latency_direct_us_p50", "(no client actor)", ""},
      {"status_latency_direct_us_p50", "(no client actor)", ""},
      {"starts_per_s_sequential", ">= 10000", "~2000"},
      {"starts_per_s_pipelined", ">= 30000", "BullMQ 13500"},
      {"completions_per_s", "", ""},
      {"status_latency_us_p50", "<= 1.2x caf rtt", "61"},
      {"status_latency_us_p99", "", "141"},
      {"spread_max_over_mean", "<= 1.05", "3.0"},
      {"bytes_per_running_task", "<= 2048", "11253"},
      {"failover_ms_p50", "<= 50", "134"},
      {"failover_ms_max", "", ""},
      {"failover_client_errors", "0", "10-20"},
      {"failover_stop_ms_p50", "", ""},
      {"failover_stop_ms_max", "", ""},
      {"failover_stop_client_errors", "0", ""},
      {"hang_detect_ms_p50", "<= 1000", ""},
    };
    std::printf("%-30s %14s  %-16s %s\n", "figure", "measured", "target",
                "original");
    for (auto& r : rows)
      std::printf(f.values[r.key] < 10 ? "%-30s %14.3f  %-16s %s\n"
                                       : "%-30s %14.1f  %-16s %s\n",
                  r.key, f.values[r.key], r.target, r.original);
    std::printf("nodes %d, n %zu, window %zu, cores %u%s%s\n", p.nodes, p.n,
                p.window, std::thread::hardware_concurrency(),
                p.quick ? ", quick" : "", p.tls ? ", TLS" : "");
  }
  std::fflush(stdout);
  std::_Exit(0);
}
