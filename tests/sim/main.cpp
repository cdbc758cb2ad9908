// dtask-sim: the deterministic simulation of a dtask cluster (see sim.hpp).
//
//   dtask-sim --seeds=N [--first-seed=S] [--nodes=K] [--jobs=J]
//   dtask-sim --seed=S [--trace] [--trace-hash]
//   dtask-sim --list-mutations | --mutate=NAME ...
//   more knobs: --starts=300 --faults=12 --fault-ms=20000 --drain-ms=15000
//   --first-sequence=N: where orchestrators' task sequences start (near
//   2^32 - 1: they must step down, never wrap)
//   --flood=N: at the start, N timer messages (tick, flush, watchdog, join)
//   from outside to every node's supervisor and registry
//   --check=safety|at-most-once|exactly-once: which invariants (sim.hpp,
//   `check_level`); at-most-once, the default, is the fault suite's
//   --stop-at-first: stop at the first failing seed (for mutations)
//   --stops: the client also stops tasks (a quarter of the starts)
//   --changes=N: N changes of the voting membership during the faults
//   (the first three nodes are the seeds; see sim.hpp)
//
// With --seeds it prints one line per failing seed (seed, the first violated
// invariant, its virtual time) and `N seeds, V violations, T s`; it exits 0
// only without violations. Seeds run in J processes (default 2).

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "sim.hpp"

namespace {

using dtask_sim::sim_options;

struct cli {
  sim_options opts;
  uint64_t seeds = 0;
  uint64_t first_seed = 1;
  bool single = false;
  bool trace_hash = false;
  bool stop_at_first = false;
  bool all_violations = false;
  int jobs = 2;
};

/// FNV-1a over the trace text.
uint64_t hash_of(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

bool parse(int argc, char** argv, cli& c, std::string& err) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    auto key = arg.substr(0, eq);
    auto val = eq == std::string::npos ? std::string{} : arg.substr(eq + 1);
    auto number = [&](uint64_t& out) {
      if (val.empty() || val.find_first_not_of("0123456789") != std::string::npos) {
        err = key + ": expected a non-negative integer, got \"" + val + "\"";
        return false;
      }
      out = std::stoull(val);
      return true;
    };
    uint64_t x = 0;
    if (key == "--seeds") {
      if (!number(c.seeds))
        return false;
    } else if (key == "--first-seed") {
      if (!number(c.first_seed))
        return false;
    } else if (key == "--seed") {
      if (!number(c.first_seed))
        return false;
      c.single = true;
    } else if (key == "--nodes") {
      if (!number(x))
        return false;
      if (x < 3 || x > 7) {
        err = "--nodes: expected 3 to 7, got " + val;
        return false;
      }
      c.opts.nodes = static_cast<int>(x);
    } else if (key == "--jobs") {
      if (!number(x) || x == 0)
        return err = err.empty() ? "--jobs: expected at least 1" : err, false;
      c.jobs = static_cast<int>(x);
    } else if (key == "--starts") {
      if (!number(x))
        return false;
      c.opts.starts = static_cast<int>(x);
    } else if (key == "--faults") {
      if (!number(x))
        return false;
      c.opts.faults = static_cast<int>(x);
    } else if (key == "--fault-ms") {
      if (!number(x) || x < 3000)
        return err = err.empty() ? "--fault-ms: expected at least 3000" : err,
               false;
      c.opts.fault_ms = static_cast<int64_t>(x);
    } else if (key == "--drain-ms") {
      if (!number(x))
        return false;
      c.opts.drain_ms = static_cast<int64_t>(x);
    } else if (key == "--first-sequence") {
      if (!number(x))
        return false;
      c.opts.first_sequence = x;
    } else if (key == "--flood") {
      if (!number(x))
        return false;
      c.opts.flood = static_cast<int>(x);
    } else if (key == "--check") {
      using dtask_sim::check_level;
      if (val == "safety")
        c.opts.check = check_level::safety;
      else if (val == "at-most-once")
        c.opts.check = check_level::at_most_once;
      else if (val == "exactly-once")
        c.opts.check = check_level::exactly_once;
      else {
        err = "--check: expected safety, at-most-once or exactly-once, got \""
              + val + "\"";
        return false;
      }
    } else if (key == "--all-violations") {
      c.all_violations = true;
    } else if (key == "--stop-at-first") {
      c.stop_at_first = true;
    } else if (key == "--stops") {
      c.opts.stops = true;
    } else if (key == "--changes") {
      if (!number(x))
        return false;
      c.opts.changes = static_cast<int>(x);
    } else if (key == "--trace") {
      c.opts.trace = true;
    } else if (key == "--trace-hash") {
      c.trace_hash = true;
      c.opts.trace = true;
    } else if (key == "--mutate") {
      auto found = false;
      for (auto& m : dtask_sim::mutation_names())
        if (val == m.name) {
          c.opts.mutation = m.value;
          found = true;
        }
      if (!found) {
        err = "--mutate: no mutation \"" + val + "\" (see --list-mutations)";
        return false;
      }
    } else {
      err = "unknown argument \"" + arg + "\" (see the comment in tests/sim/main.cpp or the README)";
      return false;
    }
  }
  if (!c.single && c.seeds == 0) {
    err = "expected --seeds=N or --seed=S";
    return false;
  }
  return true;
}

/// One line per failing seed; empty if the seed passed.
std::string run_one(sim_options opts, uint64_t seed, bool all = false) {
  opts.seed = seed;
  auto r = dtask_sim::run_seed(opts);
  if (r.violations.empty())
    return {};
  std::ostringstream out;
  if (all) {
    for (size_t i = 0; i < r.violations.size(); ++i)
      out << (i > 0 ? " | " : "") << "seed " << seed << ": "
          << r.violations[i] << " (at " << r.violation_ms[i] << " ms virtual)";
    return out.str();
  }
  out << "seed " << seed << ": " << r.violations.front() << " (at "
      << r.violation_ms.front() << " ms virtual";
  if (r.violations.size() > 1)
    out << ", " << r.violations.size() - 1 << " more";
  out << ")";
  return out.str();
}

int run_single(const cli& c) {
  auto opts = c.opts;
  opts.seed = c.first_seed;
  auto r = dtask_sim::run_seed(opts);
  if (opts.trace && !c.trace_hash)
    std::cout << r.trace;
  for (size_t i = 0; i < r.violations.size(); ++i)
    std::cout << "violation at " << r.violation_ms[i]
              << " ms virtual: " << r.violations[i] << "\n";
  std::cout << "seed " << opts.seed << ": " << r.messages << " messages, "
            << r.faults << " faults, " << r.accepted << " accepted starts, "
            << r.instances << " task instances, " << r.violations.size()
            << " violations\n";
  if (c.trace_hash)
    std::cout << "trace hash " << std::hex << hash_of(r.trace) << std::dec
              << " (" << r.trace.size() << " bytes)\n";
  return r.violations.empty() ? 0 : 1;
}

int run_many(const cli& c) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<pid_t> pids;
  std::vector<pollfd> fds;
  std::vector<std::string> partial;
  for (int j = 0; j < c.jobs; ++j) {
    int p[2];
    if (pipe(p) != 0) {
      std::perror("dtask-sim: pipe");
      return 2;
    }
    auto pid = fork();
    if (pid == 0) {
      close(p[0]);
      auto out = fdopen(p[1], "w");
      for (uint64_t s = c.first_seed + static_cast<uint64_t>(j);
           s < c.first_seed + c.seeds; s += static_cast<uint64_t>(c.jobs)) {
        auto line = run_one(c.opts, s, c.all_violations);
        std::fprintf(out, "%llu %s\n", static_cast<unsigned long long>(s),
                     line.c_str());
        std::fflush(out);
      }
      std::fclose(out);
      _exit(0);
    }
    close(p[1]);
    pids.push_back(pid);
    fds.push_back(pollfd{p[0], POLLIN, 0});
    partial.emplace_back();
  }
  std::map<uint64_t, std::string> failing;
  uint64_t done = 0;
  size_t open_pipes = fds.size();
  bool stopped = false;
  while (open_pipes > 0 && !stopped) {
    if (poll(fds.data(), fds.size(), -1) < 0)
      break;
    for (size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].fd < 0 || fds[k].revents == 0)
        continue;
      char buf[4096];
      auto n = read(fds[k].fd, buf, sizeof(buf));
      if (n <= 0) {
        close(fds[k].fd);
        fds[k].fd = -1;
        --open_pipes;
        continue;
      }
      partial[k].append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = partial[k].find('\n')) != std::string::npos) {
        auto text = partial[k].substr(0, nl);
        partial[k].erase(0, nl + 1);
        auto sp = text.find(' ');
        ++done;
        if (sp != std::string::npos && sp + 1 < text.size()) {
          failing.emplace(std::stoull(text.substr(0, sp)), text.substr(sp + 1));
          if (c.stop_at_first)
            stopped = true;
        }
      }
    }
  }
  for (auto pid : pids) {
    if (stopped)
      kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
  }
  for (auto& kvp : failing)
    std::cout << kvp.second << "\n";
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                            - t0)
                .count();
  std::cout << done << " seeds, " << failing.size() << " violations, "
            << static_cast<int64_t>(secs * 10) / 10.0 << " s\n";
  if (!stopped && done != c.seeds) {
    std::cout << "dtask-sim: only " << done << " of " << c.seeds
              << " seeds reported back (a run crashed)\n";
    return 2;
  }
  return failing.empty() ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--list-mutations") == 0) {
      for (auto& m : dtask_sim::mutation_names())
        std::cout << m.name << ": " << m.what << "\n";
      return 0;
    }
  cli c;
  std::string err;
  if (!parse(argc, argv, c, err)) {
    std::cerr << "dtask-sim: " << err << "\n";
    return 2;
  }
  return c.single ? run_single(c) : run_many(c);
}
