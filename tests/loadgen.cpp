// dtask-loadgen: a steady stream of starts for the fault-injection tests.
//
// Starts `sleep` tasks with names drawn from a small pool (so names are
// started again and again, and duplicates are refused while they run), keeps
// `--concurrency` starts in flight, and records what a user would see, one
// line per event, flushed at once (the file survives a kill):
//   accepted T_NS NAME EPOCH NODE TOKEN RESTARTABLE(0|1)
//   refused T_NS NAME CODE
//   callback T_NS NAME EPOCH STATE TOKEN ATTEMPT
// (TOKEN identifies the start; a restarted task's callback carries the epoch
// of its last attempt.)
// T_NS is the machine's monotonic clock, comparable with the nodes' event
// logs. After `--duration` it stops starting and waits (at most `--drain`)
// for the callbacks of every accepted start, then exits 0.
//
//   dtask-loadgen --gateway=HOST:PORT --out=FILE [--names=20] [--prefix=n]
//                 [--seed=1] [--duration=5s] [--drain=10s] [--concurrency=4]
//                 [--min-sleep=20] [--max-sleep=300] [--window=MS]
//                 [--restart-share=PERCENT] [CAF options]
// --restart-share: that share of the starts asks for restart=on-node-loss.

#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "dtask/client.hpp"
#include "dtask/errors.hpp"
#include "dtask/node.hpp"

namespace {

using clock_type = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

struct options {
  dtask::endpoint gateway;
  std::string out;
  int names = 20;
  std::string prefix = "n";
  uint64_t seed = 1;
  std::chrono::milliseconds duration{5000};
  std::chrono::milliseconds drain{10000};
  std::chrono::milliseconds window{5000};
  int concurrency = 4;
  int min_sleep = 20;
  int max_sleep = 300;
  int restart_share = 0;
};

struct driver_state {
  options opts;
  dtask::orchestrator_api client;
  std::FILE* out = nullptr;
  std::mt19937_64 rng;
  clock_type::time_point stop_at;
  clock_type::time_point drain_until;
  int in_flight = 0;
  /// Tokens of accepted starts without a callback yet.
  std::set<uint64_t> open;
  bool stopping = false;

  static const char* name;
};

const char* driver_state::name = "dtask.loadgen";

using stop_atom = caf::atom_constant<caf::atom("stop")>;

void line(driver_state& st, const std::string& text) {
  std::fputs(text.c_str(), st.out);
  std::fputc('\n', st.out);
  std::fflush(st.out);
}

void maybe_quit(caf::stateful_actor<driver_state>* self) {
  auto& st = self->state;
  if (st.stopping && st.in_flight == 0
      && (st.open.empty() || clock_type::now() >= st.drain_until))
    self->quit();
}

void start_one(caf::stateful_actor<driver_state>* self) {
  auto& st = self->state;
  std::uniform_int_distribution<int> pick(0, st.opts.names - 1);
  std::uniform_int_distribution<int64_t> sleep(st.opts.min_sleep,
                                               st.opts.max_sleep);
  auto name = st.opts.prefix + std::to_string(pick(st.rng));
  dtask::start_options so;
  so.name = name;
  so.callback = caf::actor_cast<caf::actor>(self);
  so.token = st.rng() | 1;
  if (static_cast<int>(st.rng() % 100) < st.opts.restart_share)
    so.restart = dtask::restart_policy::on_node_loss;
  auto token = so.token;
  auto restartable = so.restart != dtask::restart_policy::never;
  ++st.in_flight;
  self
    ->request(st.client, st.opts.window + std::chrono::seconds(5),
              dtask::start_atom::value, std::string{"sleep"},
              caf::make_message(sleep(st.rng)), so)
    .then(
      [=](dtask::task_ref& ref) {
        auto& st = self->state;
        --st.in_flight;
        st.open.insert(token);
        line(st, "accepted " + std::to_string(now_ns()) + " " + ref.name + " "
                   + std::to_string(ref.epoch) + " " + ref.node + " "
                   + std::to_string(token) + (restartable ? " 1" : " 0"));
        if (!st.stopping)
          start_one(self);
        maybe_quit(self);
      },
      [=](caf::error& err) {
        auto& st = self->state;
        --st.in_flight;
        line(st, "refused " + std::to_string(now_ns()) + " " + name + " "
                   + dtask::code_name(err));
        if (!st.stopping) {
          // Pace retries of refused starts a little.
          self->delayed_send(self, std::chrono::milliseconds(5),
                             dtask::tick_atom::value);
        }
        maybe_quit(self);
      });
}

caf::behavior driver(caf::stateful_actor<driver_state>* self, options opts,
                     dtask::orchestrator_api client, std::FILE* out) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.client = std::move(client);
  st.out = out;
  st.rng.seed(st.opts.seed);
  st.stop_at = clock_type::now() + st.opts.duration;
  for (int i = 0; i < st.opts.concurrency; ++i)
    start_one(self);
  self->delayed_send(self, st.opts.duration, stop_atom::value);
  return {
    [=](dtask::tick_atom) {
      if (!self->state.stopping)
        start_one(self);
      else
        maybe_quit(self);
    },
    [=](stop_atom) {
      auto& st = self->state;
      if (st.stopping) {
        maybe_quit(self);
        return;
      }
      st.stopping = true;
      st.drain_until = clock_type::now() + st.opts.drain;
      self->delayed_send(self, st.opts.drain, dtask::tick_atom::value);
      // Re-checked at the end of the drain (the tick above) too.
      self->delayed_send(self, st.opts.drain + std::chrono::milliseconds(10),
                         stop_atom::value);
      maybe_quit(self);
    },
    [=](dtask::task_status& status) {
      auto& st = self->state;
      st.open.erase(status.token);
      line(st, "callback " + std::to_string(now_ns()) + " " + status.name + " "
                 + std::to_string(status.epoch) + " "
                 + dtask::to_string(status.state) + " "
                 + std::to_string(status.token) + " "
                 + std::to_string(status.attempt));
      maybe_quit(self);
    },
  };
}

std::chrono::milliseconds parse_ms(const std::string& text) {
  auto value = std::stoll(text);
  if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0)
    return std::chrono::milliseconds(value);
  if (!text.empty() && text.back() == 's')
    return std::chrono::milliseconds(value * 1000);
  return std::chrono::milliseconds(value);
}

} // namespace

int main(int argc, char** argv) {
  options opts;
  std::vector<std::string> caf_args;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    auto key = arg.substr(0, eq);
    auto val = eq == std::string::npos ? std::string{} : arg.substr(eq + 1);
    if (key == "--gateway") {
      auto err = dtask::parse_endpoint(val, opts.gateway);
      if (!err.empty()) {
        std::cerr << "dtask-loadgen: --gateway: " << err << std::endl;
        return 2;
      }
    } else if (key == "--out") {
      opts.out = val;
    } else if (key == "--names") {
      opts.names = std::stoi(val);
    } else if (key == "--prefix") {
      opts.prefix = val;
    } else if (key == "--seed") {
      opts.seed = std::stoull(val);
    } else if (key == "--duration") {
      opts.duration = parse_ms(val);
    } else if (key == "--drain") {
      opts.drain = parse_ms(val);
    } else if (key == "--window") {
      opts.window = parse_ms(val);
    } else if (key == "--concurrency") {
      opts.concurrency = std::stoi(val);
    } else if (key == "--min-sleep") {
      opts.min_sleep = std::stoi(val);
    } else if (key == "--max-sleep") {
      opts.max_sleep = std::stoi(val);
    } else if (key == "--restart-share") {
      opts.restart_share = std::stoi(val);
    } else {
      caf_args.push_back(arg);
    }
  }
  if (opts.gateway.port == 0 || opts.out.empty()) {
    std::cerr << "dtask-loadgen: --gateway and --out are required" << std::endl;
    return 2;
  }
  auto out = std::fopen(opts.out.c_str(), "a");
  if (out == nullptr) {
    std::cerr << "dtask-loadgen: cannot open " << opts.out << std::endl;
    return 2;
  }
  caf::actor_system_config cfg;
  dtask::configure(cfg);
  if (auto err = cfg.parse(caf_args)) {
    std::cerr << "dtask-loadgen: " << caf::to_string(err) << std::endl;
    return 2;
  }
  caf::actor_system sys{cfg};
  // The gateway may be unreachable for a moment (a partition, a restart).
  caf::expected<dtask::orchestrator_api> client{caf::error{}};
  for (int attempt = 0; attempt < 50; ++attempt) {
    client = dtask::spawn_client(sys, opts.gateway, opts.window);
    if (client)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (!client) {
    std::cerr << "dtask-loadgen: cannot connect: "
              << sys.render(client.error()) << std::endl;
    return 2;
  }
  std::cout << "dtask-loadgen running" << std::endl;
  auto drv = sys.spawn(driver, opts, *client, out);
  {
    caf::scoped_actor self{sys};
    self->monitor(drv);
    self->receive([](caf::down_msg&) {});
  }
  std::fclose(out);
  // The client actor would keep the system alive: leave at once.
  std::cout.flush();
  std::_Exit(0);
}
