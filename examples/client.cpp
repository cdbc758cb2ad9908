// A client program: an actor starts tasks of the example node with itself as
// their callback, checks each callback and then each task's status, and
// prints what it sees. Exit code 0 when everything was as expected, 1 when
// not, 2 for usage and connection errors.
//
//   example-client HOST:PORT      (any node of a cluster of example-node)

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>

#include <caf/all.hpp>
#include <dtask/client.hpp>
#include <dtask/node.hpp>

#include "summary.hpp"

namespace {

constexpr auto request_timeout = std::chrono::seconds(10);

/// Longest wait for the next callback or answer.
constexpr auto idle_timeout = std::chrono::seconds(20);

/// A task to start and what must come of it.
struct expectation {
  std::string type;
  caf::message args;
  dtask::task_state state;
  /// Text the outcome (see `outcome_text`) must contain.
  std::string shows;
};

/// The tasks to start, by name.
std::map<std::string, expectation> expectations() {
  using dtask::task_state;
  return {
    {"example-summarize",
     {"summarize", caf::make_message(int64_t{3}, int64_t{4}, int64_t{5}),
      task_state::done, "count 3, sum 12, min 3, max 5"}},
    {"example-countdown",
     {"countdown", caf::make_message(int64_t{5}), task_state::done,
      "liftoff"}},
    {"example-bad-countdown",
     {"countdown", caf::make_message(int64_t{-1}), task_state::failed,
      "countdown expects an integer from 0 to 1000"}},
  };
}

/// A failed or lost task's reason, a summary's fields, a text, or any other
/// result.
std::string outcome_text(const dtask::task_status& st) {
  if (st.state != dtask::task_state::done)
    return st.reason;
  if (st.result.match_elements<example::summary>())
    return example::to_text(st.result.get_as<example::summary>(0));
  if (st.result.match_elements<std::string>())
    return st.result.get_as<std::string>(0);
  return caf::to_string(st.result);
}

struct checker_state {
  std::map<std::string, expectation> tasks;
  /// Tasks whose callback and status were not checked yet.
  size_t unchecked = 0;
  bool ok = true;

  static const char* name;
};

const char* checker_state::name = "example.checker";

using checker_actor = caf::stateful_actor<checker_state>;

/// Compares what `what` (callback or status) said about a task with `exp`.
void check(checker_actor* self, const char* what, const dtask::task_status& st,
           const expectation& exp) {
  std::cout << what << ' ' << st.name << ": " << dtask::to_string(st.state)
            << " (" << outcome_text(st) << ")" << std::endl;
  if (st.state == exp.state && outcome_text(st).find(exp.shows)
                                 != std::string::npos)
    return;
  std::cout << "  expected " << dtask::to_string(exp.state) << " ("
            << exp.shows << ")" << std::endl;
  self->state.ok = false;
}

/// One task fewer to wait for; the verdict once none is left.
void check_off(checker_actor* self, const std::shared_ptr<bool>& verdict) {
  if (--self->state.unchecked > 0)
    return;
  *verdict = self->state.ok;
  self->quit();
}

void start(checker_actor* self, const dtask::orchestrator_api& api,
           const std::string& name, const expectation& exp,
           std::shared_ptr<bool> verdict) {
  dtask::start_options opts;
  opts.name = name;
  opts.callback = caf::actor_cast<caf::actor>(self);
  self->request(api, request_timeout, dtask::start_atom::value, exp.type,
                exp.args, opts)
    .then(
      [=](const dtask::task_ref& ref) {
        std::cout << "started " << ref.name << " (" << exp.type << ") on "
                  << ref.node << std::endl;
      },
      [=](caf::error& err) {
        std::cout << "start " << name << ": "
                  << self->system().render(err) << std::endl;
        self->state.ok = false;
        check_off(self, verdict);
      });
}

/// A task ended: checks its callback, then asks for its status.
void on_callback(checker_actor* self, const dtask::orchestrator_api& api,
                 const dtask::task_status& st,
                 std::shared_ptr<bool> verdict) {
  auto i = self->state.tasks.find(st.name);
  if (i == self->state.tasks.end()) {
    std::cout << "callback for a task never started: " << st.name << std::endl;
    self->state.ok = false;
    return;
  }
  auto exp = i->second;
  check(self, "callback", st, exp);
  self->request(api, request_timeout, dtask::status_atom::value, st.name)
    .then(
      [=](const dtask::task_status& now) {
        check(self, "status", now, exp);
        check_off(self, verdict);
      },
      [=](caf::error& err) {
        std::cout << "status " << exp.type << ": "
                  << self->system().render(err) << std::endl;
        self->state.ok = false;
        check_off(self, verdict);
      });
}

caf::behavior checker(checker_actor* self, dtask::orchestrator_api api,
                      std::shared_ptr<bool> verdict) {
  self->state.tasks = expectations();
  self->state.unchecked = self->state.tasks.size();
  for (auto& kvp : self->state.tasks)
    start(self, api, kvp.first, kvp.second, verdict);
  return {
    [=](const dtask::task_status& st) { on_callback(self, api, st, verdict); },
    caf::after(idle_timeout) >> [=] {
      std::cout << "nothing happened for " << idle_timeout.count() << " s"
                << std::endl;
      self->quit();
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  dtask::endpoint gateway;
  if (argc != 2 || !dtask::parse_endpoint(argv[1], gateway).empty()) {
    std::cerr << "usage: " << argv[0] << " HOST:PORT" << std::endl;
    return 2;
  }
  caf::actor_system_config cfg;
  dtask::configure(cfg); // dtask's message types and heartbeats
  example::add_types(cfg);
  caf::actor_system sys{cfg};
  auto verdict = std::make_shared<bool>(false);
  {
    auto api = dtask::spawn_client(sys, gateway);
    if (!api) {
      std::cerr << "cannot connect to " << argv[1] << ": "
                << sys.render(api.error()) << std::endl;
      return 2;
    }
    sys.spawn(checker, *api, verdict);
  }
  // The checker ends after its last check, then the client: it ends once
  // no handle of it is left and it owes no answer and no callback.
  sys.await_all_actors_done();
  std::cout << (*verdict ? "all as expected" : "NOT as expected") << std::endl;
  return *verdict ? 0 : 1;
}
