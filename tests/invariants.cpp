#include "invariants.hpp"

#include <algorithm>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

namespace dtask_test {

namespace {

constexpr int64_t forever = std::numeric_limits<int64_t>::max();

struct instance {
  std::string name;
  uint64_t epoch = 0;
  std::string node;
  int64_t start = 0;
  int64_t end = forever;
  bool stopped = false;
  int64_t last_stamp = 0;
  bool late_stamp = false;
  bool killed = false;
};

/// Reads the rest of a line after `n` space-separated fields: names may
/// hold spaces, so they come last.
std::string rest_of(std::istringstream& in) {
  std::string rest;
  std::getline(in >> std::ws, rest);
  return rest;
}

std::string ms(int64_t ns) {
  return std::to_string(ns / 1000000) + " ms";
}

void violation(invariant_report& rep, int64_t t, std::string text) {
  rep.violations.push_back(std::move(text));
  rep.violation_times.push_back(t);
}

std::string read_file(const std::string& path) {
  std::ifstream f{path};
  std::ostringstream out;
  out << f.rdbuf();
  return out.str();
}

} // namespace

std::string invariant_report::summary() const {
  std::ostringstream out;
  out << "starts " << starts << ", stops " << stops << ", kills " << kills
      << ", accepted " << accepted << ", callbacks " << callbacks;
  for (auto& kvp : outcomes)
    out << ", " << kvp.first << " " << kvp.second;
  for (auto& kvp : refused)
    out << ", refused " << kvp.first << " " << kvp.second;
  out << "; violations " << violations.size();
  for (size_t i = 0; i < violations.size() && i < 20; ++i)
    out << "\n  " << violations[i];
  return out.str();
}

invariant_report check_invariants(const invariant_inputs& in) {
  invariant_texts texts;
  for (auto& path : in.event_logs)
    texts.event_logs.push_back(read_file(path));
  for (auto& path : in.client_logs)
    texts.client_logs.push_back(read_file(path));
  texts.kill_log = read_file(in.kill_log);
  texts.exactly_once_callbacks = in.exactly_once_callbacks;
  return check_invariant_texts(texts);
}

invariant_report check_invariant_texts(const invariant_texts& in) {
  invariant_report rep;
  // -- node events -> instances ---------------------------------------------
  std::map<std::pair<std::string, uint64_t>, instance> instances;
  std::map<std::string, std::vector<int64_t>> kills; // node -> times
  {
    std::istringstream f{in.kill_log};
    std::string kind, node;
    int64_t t;
    while (f >> kind >> t >> node) {
      kills[node].push_back(t);
      ++rep.kills;
    }
    for (auto& kvp : kills)
      std::sort(kvp.second.begin(), kvp.second.end());
  }
  for (auto& log : in.event_logs) {
    std::istringstream f{log};
    std::string text;
    while (std::getline(f, text)) {
      std::istringstream ln{text};
      std::string kind;
      ln >> kind;
      if (kind == "start") {
        instance x;
        ln >> x.start >> x.epoch >> x.node;
        x.name = rest_of(ln);
        ++rep.starts;
        auto key = std::make_pair(x.name, x.epoch);
        if (instances.count(key) > 0)
          violation(rep, x.start, "incarnation " + x.name + "#"
                                   + std::to_string(x.epoch)
                                   + " started twice");
        instances[key] = x;
      } else if (kind == "stop") {
        int64_t t = 0, end = 0;
        uint64_t epoch = 0;
        std::string node, state;
        ln >> t >> end >> epoch >> node >> state;
        auto name = rest_of(ln);
        ++rep.stops;
        auto i = instances.find(std::make_pair(name, epoch));
        if (i == instances.end()) {
          violation(rep, t, "stop without start: " + name + "#"
                                   + std::to_string(epoch));
          continue;
        }
        i->second.end = end;
        i->second.stopped = true;
      }
    }
  }
  // An instance without a stop ended when its process was killed.
  for (auto& kvp : instances) {
    auto& x = kvp.second;
    if (x.stopped)
      continue;
    auto k = kills.find(x.node);
    if (k == kills.end())
      continue;
    auto j = std::upper_bound(k->second.begin(), k->second.end(), x.start);
    if (j != k->second.end()) {
      x.end = *j;
      x.killed = true;
    }
  }
  // Task code that ran (stamps): an instance runs at least until its last
  // stamp, and task code after its recorded end is a violation in itself.
  {
    std::istringstream f{in.stamps};
    std::string kind;
    int64_t t = 0;
    uint64_t epoch = 0;
    while (f >> kind >> t >> epoch) {
      auto name = rest_of(f);
      auto i = instances.find(std::make_pair(name, epoch));
      if (i == instances.end()) {
        violation(rep, t, "task code ran without a start: " + name + "#"
                            + std::to_string(epoch));
        continue;
      }
      auto& x = i->second;
      if (t - 1000 > x.end && !x.late_stamp) {
        x.late_stamp = true;
        violation(rep, t, "task code ran " + ms(t - x.end)
                            + " after the recorded end of " + name + "#"
                            + std::to_string(epoch) + " on " + x.node);
      }
      x.last_stamp = std::max(x.last_stamp, t);
    }
    for (auto& kvp : instances) {
      auto& x = kvp.second;
      if (in.killed_end_at_last_stamp && x.killed)
        x.end = std::max(x.start, x.last_stamp);
      x.end = std::max(x.end, x.last_stamp);
    }
  }
  // -- at most one instance per name, epochs grow ------------------------------
  std::map<std::string, std::vector<const instance*>> by_name;
  for (auto& kvp : instances)
    by_name[kvp.first.first].push_back(&kvp.second);
  for (auto& kvp : by_name) {
    auto& xs = kvp.second;
    std::sort(xs.begin(), xs.end(), [](const instance* a, const instance* b) {
      return a->start < b->start;
    });
    const instance* prev = nullptr;
    for (auto x : xs) {
      if (prev != nullptr) {
        if (x->start < prev->end)
          violation(rep, x->start,
            "overlap: " + x->name + "#" + std::to_string(prev->epoch) + " on "
            + prev->node + " ran until "
            + (prev->end == forever ? std::string{"the end"}
                                    : ms(prev->end - x->start) + " after")
            + " the start of #" + std::to_string(x->epoch) + " on " + x->node);
        if (x->epoch <= prev->epoch)
          violation(rep, x->start, "epoch did not grow: " + x->name + "#"
                                   + std::to_string(prev->epoch) + " then #"
                                   + std::to_string(x->epoch));
      }
      if (prev == nullptr || x->end > prev->end)
        prev = x;
    }
  }
  // -- what the clients saw ------------------------------------------------------
  // Starts are identified by their token (a restarted task's callback
  // carries its last attempt's epoch).
  std::map<uint64_t, std::string> accepted; // token -> name#epoch
  std::map<uint64_t, std::vector<std::string>> calls; // token -> states
  // Accepted starts with no start event: fine if the task was lost before
  // it ran (its node died first; a retry is answered as that start).
  std::map<uint64_t, std::string> never_started;
  std::map<uint64_t, std::string> final_state;
  std::map<uint64_t, int64_t> accepted_at, final_at;
  std::map<uint64_t, std::vector<int64_t>> call_times;
  for (auto& log : in.client_logs) {
    std::istringstream f{log};
    std::string text;
    while (std::getline(f, text)) {
      std::istringstream ln{text};
      std::string kind;
      int64_t t = 0;
      ln >> kind >> t;
      if (kind == "accepted") {
        std::string name, node;
        uint64_t epoch = 0, token = 0;
        int restartable = 0;
        ln >> name >> epoch >> node >> token >> restartable;
        ++rep.accepted;
        accepted[token] = name + "#" + std::to_string(epoch);
        accepted_at[token] = t;
        if (restartable == 0 && instances.count(std::make_pair(name, epoch)) == 0)
          never_started.emplace(token, name + "#" + std::to_string(epoch));
      } else if (kind == "status") {
        // A status answer may lag behind, but never names an outcome of an
        // incarnation that did not run.
        std::string name, state;
        uint64_t epoch = 0;
        ln >> name >> epoch >> state;
        if ((state == "done" || state == "failed")
            && instances.count(std::make_pair(name, epoch)) == 0)
          violation(rep, t, "status says " + state + " but never started: "
                              + name + "#" + std::to_string(epoch));
      } else if (kind == "stopped") {
        // A stop is answered once the name is free: the incarnation it
        // names ended (its worker is gone) no later than the answer.
        uint64_t epoch = 0;
        std::string state;
        ln >> epoch >> state;
        auto name = rest_of(ln);
        auto i = instances.find(std::make_pair(name, epoch));
        if (i != instances.end() && i->second.end > t)
          violation(rep, t, "stop answered " + state + " while " + name + "#"
                              + std::to_string(epoch) + " still ran on "
                              + i->second.node);
      } else if (kind == "not_found") {
        // `not_found` says that no instance runs: false while one ran from
        // before the request was sent until after the answer came.
        int64_t sent = 0;
        ln >> sent;
        auto name = rest_of(ln);
        for (auto i = instances.lower_bound(std::make_pair(name, uint64_t{0}));
             i != instances.end() && i->first.first == name; ++i)
          if (i->second.start < sent && i->second.end > t)
            violation(rep, t, "status said not_found while " + name + "#"
                                + std::to_string(i->second.epoch)
                                + " ran on " + i->second.node);
      } else if (kind == "refused") {
        std::string name, code;
        ln >> name >> code;
        ++rep.refused[code];
      } else if (kind == "callback") {
        std::string name, state;
        uint64_t epoch = 0, token = 0;
        uint32_t attempt = 0;
        ln >> name >> epoch >> state >> token >> attempt;
        ++rep.callbacks;
        ++rep.outcomes[state];
        if (attempt > 1)
          ++rep.outcomes["after a restart"];
        calls[token].push_back(name + "#" + std::to_string(epoch) + " "
                               + state);
        final_state[token] = state;
        final_at[token] = t;
        call_times[token].push_back(t);
        if (state == "running")
          violation(rep, t, "callback with a non-terminal state: "
                                   + name + "#" + std::to_string(epoch));
      }
    }
  }
  for (auto& kvp : never_started) {
    auto i = final_state.find(kvp.first);
    if (i != final_state.end() && i->second != "lost")
      violation(rep, final_at[kvp.first], "ended " + i->second
                                            + " but never started: "
                                            + kvp.second);
  }
  for (auto& kvp : accepted)
    if (in.exactly_once_callbacks && calls.count(kvp.first) == 0)
      violation(rep, accepted_at[kvp.first],
                "accepted but no callback: " + kvp.second);
  for (auto& kvp : calls)
    if (kvp.second.size() > 1)
      violation(rep, call_times[kvp.first][1], "callback delivered "
                               + std::to_string(kvp.second.size())
                               + " times for one start: " + kvp.second[0]
                               + ", " + kvp.second[1]);
  return rep;
}

} // namespace dtask_test
