// A user's program that talks to a cluster and returns from `main`: the
// test `clean_exit.*` runs it and requires it to exit by itself, promptly.
//
//   dtask-clean-exit-client PORT blocking  client::connect, start an `echo`
//                                         with a callback, receive it, return
//   dtask-clean-exit-client PORT actor     spawn_client; an actor starts it
//                                         and gets the callback, main returns
//                                         and the actor system waits for it
//   dtask-clean-exit-client PORT early     start a long `sleep` with a
//                                         callback and return without it
//
// Exit codes: 0 as expected, 1 an unexpected answer, 2 usage or connection.

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "dtask/client.hpp"
#include "dtask/node.hpp"

namespace {

constexpr auto callback_timeout = std::chrono::seconds(10);

dtask::start_options with_callback(caf::actor callback) {
  dtask::start_options opts;
  opts.callback = std::move(callback);
  return opts;
}

int blocking(caf::actor_system& sys, const dtask::endpoint& gateway) {
  auto cli = dtask::client::connect(sys, gateway);
  if (!cli) {
    std::cerr << "cannot connect: " << sys.render(cli.error()) << std::endl;
    return 2;
  }
  caf::scoped_actor self{sys};
  auto ref = cli->start("echo", caf::make_message("hi"),
                        with_callback(caf::actor_cast<caf::actor>(self)));
  if (!ref) {
    std::cerr << "start: " << sys.render(ref.error()) << std::endl;
    return 1;
  }
  int rc = 1;
  self->receive(
    [&](const dtask::task_status& st) {
      std::cout << "callback " << st.name << ": " << dtask::to_string(st.state)
                << std::endl;
      rc = st.state == dtask::task_state::done ? 0 : 1;
    },
    caf::after(callback_timeout) >> [] { std::cerr << "no callback\n"; });
  return rc;
}

/// Starts an `echo` with itself as the callback and quits after it.
caf::behavior starter(caf::event_based_actor* self, dtask::orchestrator_api api,
                      std::shared_ptr<int> rc) {
  self->request(api, callback_timeout, dtask::start_atom::value,
                std::string{"echo"}, caf::make_message("hi"),
                with_callback(caf::actor_cast<caf::actor>(self)))
    .then([](const dtask::task_ref&) {},
          [=](caf::error& err) {
            std::cerr << "start: " << self->system().render(err) << std::endl;
            self->quit();
          });
  return {
    [=](const dtask::task_status& st) {
      std::cout << "callback " << st.name << ": " << dtask::to_string(st.state)
                << std::endl;
      *rc = st.state == dtask::task_state::done ? 0 : 1;
      self->quit();
    },
    caf::after(callback_timeout) >> [=] {
      std::cerr << "no callback\n";
      self->quit();
    },
  };
}

int actor(caf::actor_system& sys, const dtask::endpoint& gateway) {
  auto rc = std::make_shared<int>(1);
  {
    auto api = dtask::spawn_client(sys, gateway);
    if (!api) {
      std::cerr << "cannot connect: " << sys.render(api.error()) << std::endl;
      return 2;
    }
    sys.spawn(starter, *api, rc);
  }
  // The starter ends after its callback, the client once nothing is left.
  sys.await_all_actors_done();
  return *rc;
}

int early(caf::actor_system& sys, const dtask::endpoint& gateway) {
  auto cli = dtask::client::connect(sys, gateway);
  if (!cli) {
    std::cerr << "cannot connect: " << sys.render(cli.error()) << std::endl;
    return 2;
  }
  caf::scoped_actor self{sys};
  auto ref = cli->start("sleep", caf::make_message(int64_t{60000}),
                        with_callback(caf::actor_cast<caf::actor>(self)));
  if (!ref) {
    std::cerr << "start: " << sys.render(ref.error()) << std::endl;
    return 1;
  }
  std::cout << "started " << ref->name << std::endl;
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " PORT blocking|actor|early\n";
    return 2;
  }
  std::string mode = argv[2];
  dtask::endpoint gateway{"127.0.0.1",
                          static_cast<uint16_t>(std::atoi(argv[1]))};
  caf::actor_system_config cfg;
  dtask::configure(cfg);
  caf::actor_system sys{cfg};
  if (mode == "blocking")
    return blocking(sys, gateway);
  if (mode == "actor")
    return actor(sys, gateway);
  if (mode == "early")
    return early(sys, gateway);
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
