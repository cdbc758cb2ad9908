// What the simulation runs on the cluster: the task type `sim`, which stamps
// the virtual time each time its code runs, and a client that starts tasks
// the way the client library does (a token per start, retries of refused
// and unanswered attempts, one callback forwarded per start), and at the end
// asks every node whom it follows.

#include <map>

#include "dtask/errors.hpp"
#include "world.hpp"

namespace dtask_sim {

namespace {

using namespace std::chrono;

/// How often a `sim` task runs task code (a stamp each time).
constexpr auto stamp_interval = milliseconds(20);

/// How many names the client draws from: few, so names start again and
/// again and duplicates are refused while they run.
constexpr uint64_t name_pool = 16;

constexpr int max_tries = 8;

struct start_attempt {
  std::string name;
  int64_t duration_ms = 0;
  dtask::start_options opts;
  int tries = 0;
};

struct client_state {
  std::vector<start_attempt> attempts;
  /// Token -> "EPOCH STATE" of the callback forwarded for it.
  std::map<uint64_t, std::string> called;
};

using client_state_ptr = std::shared_ptr<client_state>;

void log_line(world* w, const std::string& text) {
  w->recs().client_log << text << '\n';
}

bool retryable(const caf::error& err) {
  if (err.category() == dtask::error_category)
    return dtask::is(err, dtask::errc::no_orchestrator)
           || dtask::is(err, dtask::errc::stale_orchestrator)
           || dtask::is(err, dtask::errc::no_quorum)
           || dtask::is(err, dtask::errc::node_down);
  return true; // Timeouts and a receiver that went away.
}

/// One attempt of start `k` through a random node; refused and unanswered
/// attempts are tried again with the same token, as the client library does.
void attempt(caf::event_based_actor* self, world* w, client_state_ptr st,
             uint64_t k) {
  auto& a = st->attempts[k];
  a.opts.retry = a.tries++ > 0; // As the client library marks its retries.
  self
    ->request(w->random_gateway(), seconds(1), dtask::start_atom::value,
              std::string{"sim"}, caf::make_message(a.duration_ms), a.opts)
    .then(
      [=](dtask::task_ref& ref) {
        auto& a = st->attempts[k];
        if (ref.worker && !a.opts.want_worker)
          w->note_violation("a start that did not ask for the worker's "
                            "handle got one: "
                            + ref.name + "#" + std::to_string(ref.epoch));
        log_line(w, "accepted " + std::to_string(w->now_ns()) + " " + ref.name
                      + " " + std::to_string(ref.epoch) + " " + ref.node + " "
                      + std::to_string(a.opts.token) + " "
                      + (a.opts.restart == dtask::restart_policy::never
                           ? "0"
                           : "1"));
      },
      [=](caf::error& err) {
        auto& a = st->attempts[k];
        if (retryable(err) && a.tries < max_tries) {
          self->delayed_send(self, milliseconds(300), tick_atom::value, k);
          return;
        }
        log_line(w, "refused " + std::to_string(w->now_ns()) + " " + a.name
                      + " " + dtask::code_name(err));
      });
}

/// Asks a random node for the status of a random name.
void query(caf::event_based_actor* self, world* w) {
  auto name = "t" + std::to_string(w->rng()() % name_pool);
  auto sent = w->now_ns();
  self
    ->request(w->random_gateway(), seconds(1), dtask::status_atom::value, name)
    .then(
      [=](dtask::task_status& s) {
        log_line(w, "status " + std::to_string(w->now_ns()) + " " + s.name
                      + " " + std::to_string(s.epoch) + " "
                      + dtask::to_string(s.state) + " "
                      + (s.stale ? "stale" : "fresh"));
      },
      [=](caf::error& err) {
        if (err.category() == dtask::error_category
            && static_cast<dtask::errc>(err.code()) == dtask::errc::not_found)
          log_line(w, "not_found " + std::to_string(w->now_ns()) + " "
                        + std::to_string(sent) + " " + name);
      });
}

} // namespace

dtask::catalog sim_catalog(world* w) {
  dtask::catalog cat;
  cat.add("sim", [w](caf::event_based_actor* self, const caf::message& args,
                     dtask::task_context ctx) -> caf::behavior {
    int64_t ms = 0;
    dtask::arg_as_int(args, 0, ms);
    auto until = self->clock().now() + milliseconds(ms);
    self->delayed_send(self, stamp_interval, tick_atom::value);
    return {
      [=](tick_atom) {
        w->recs().stamps << "stamp " << w->now_ns() << ' ' << ctx.epoch()
                         << ' ' << ctx.name() << '\n';
        if (self->clock().now() >= until)
          ctx.done(caf::make_message(ms));
        else
          self->delayed_send(self, stamp_interval, tick_atom::value);
      },
    };
  });
  return cat;
}

/// Stops `name` through a random node; the answer names the incarnation
/// that ended (its worker must be gone by then).
void stop(caf::event_based_actor* self, world* w, const std::string& name) {
  self
    ->request(w->random_gateway(), seconds(12), dtask::stop_atom::value, name)
    .then(
      [=](dtask::task_status& s) {
        if (s.state != dtask::task_state::running)
          log_line(w, "stopped " + std::to_string(w->now_ns()) + " "
                        + std::to_string(s.epoch) + " "
                        + dtask::to_string(s.state) + " " + s.name);
      },
      [](caf::error&) {});
}

caf::behavior sim_client(caf::event_based_actor* self, world* w, int starts,
                         int64_t spread_ms, bool stops) {
  auto st = std::make_shared<client_state>();
  auto& rng = w->rng();
  for (int k = 0; k < starts; ++k) {
    start_attempt a;
    a.name = "t" + std::to_string(rng() % name_pool);
    a.duration_ms = 40 + static_cast<int64_t>(rng() % 1200);
    a.opts.name = a.name;
    a.opts.callback = caf::actor_cast<caf::actor>(self);
    a.opts.token = rng() | 1;
    if (rng() % 5 == 0)
      a.opts.restart = dtask::restart_policy::on_node_loss;
    st->attempts.push_back(std::move(a));
    auto at = milliseconds(300 + static_cast<int64_t>(
                                   rng() % static_cast<uint64_t>(spread_ms)));
    self->delayed_send(self, at, tick_atom::value, static_cast<uint64_t>(k));
    if (k % 3 == 0)
      self->delayed_send(self, at + milliseconds(150), dtask::status_atom::value);
    if (stops && k % 4 == 1)
      self->delayed_send(self, at + milliseconds(50 + rng() % 800),
                         dtask::stop_atom::value, st->attempts.back().name);
  }
  return {
    [=](tick_atom, uint64_t k) { attempt(self, w, st, k); },
    [=](dtask::status_atom) { query(self, w); },
    [=](dtask::stop_atom, const std::string& name) { stop(self, w, name); },
    [=](dtask::task_status& s) {
      // A callback: forwarded once per start, as the client library does;
      // a second one that says something else is a violation.
      auto what = std::to_string(s.epoch) + " " + dtask::to_string(s.state);
      auto i = st->called.find(s.token);
      if (i != st->called.end()) {
        if (i->second != what)
          w->note_violation("two different callbacks for one start of "
                            + s.name + ": " + i->second + ", then " + what);
        return;
      }
      st->called.emplace(s.token, what);
      log_line(w, "callback " + std::to_string(w->now_ns()) + " " + s.name
                    + " " + what + " " + std::to_string(s.token) + " "
                    + std::to_string(s.attempt));
    },
    [=](probe_atom) {
      for (auto& kvp : w->live_supervisors()) {
        auto node = kvp.first;
        self->request(kvp.second, seconds(2), dtask::whereis_atom::value)
          .then(
            [=](dtask::orchestrator_ref& ref) {
              w->final_views[node] = ref.node + "#" + std::to_string(ref.epoch);
            },
            [=](caf::error& err) {
              w->final_views[node] = "error: " + dtask::code_name(err);
            });
      }
    },
  };
}

} // namespace dtask_sim
