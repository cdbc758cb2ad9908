// The client actor: `orchestrator_api` for callers outside the cluster (or
// inside it). It asks a gateway node `whereis`, sends each request to the
// orchestrator, and watches the orchestrator: if it dies, every unanswered
// request is sent again to the next one, until the retry window of that
// request runs out. CAF never fails a request whose receiver's node died (it
// would wait forever), so the monitor is what moves such a request on. If
// the gateway node dies too, the client connects to another member it knows.
//
// Lifetime. The actor system's destructor waits for every actor, and this
// one would never end by itself: CAF keeps every actor whose handle crossed
// the network (this one sends every request and routes every callback) in
// its registry until the actor quits, and the refresh timer fires forever.
// So the handles users hold lead to a front actor that only forwards. When
// the last of them is gone, the front ends and tells the client actor, which
// quits once it owes nobody an answer or a callback; a callback actor that
// ends takes its routes with it. Stopping the front (an exit message) stops
// the client at once.

#include <algorithm>
#include <memory>
#include <atomic>
#include <map>
#include <unordered_map>
#include <random>

#include <boost/uuid/random_generator.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "dtask/client.hpp"
#include "dtask/errors.hpp"
#include "dtask/node.hpp"

namespace dtask {

namespace {

using clock_type = std::chrono::steady_clock;

/// Pause between two attempts to find the orchestrator while it moves.
constexpr auto retry_pause = std::chrono::milliseconds(10);

/// Bound on one `whereis` or connect round trip.
constexpr auto resolve_timeout = std::chrono::seconds(1);

/// Longest wait for the answer to one attempt of a request.
constexpr auto attempt_timeout = std::chrono::milliseconds(2000);

/// How often the client reconnects to the members it knows of.
constexpr auto refresh_interval = std::chrono::seconds(1);

using refresh_atom = caf::atom_constant<caf::atom("refresh")>;

/// From the front actor: its users are gone (see `users_state`).
using release_atom = caf::atom_constant<caf::atom("release")>;

/// The client actor's interface: the orchestrator's (its public handle is an
/// `orchestrator_api`), the gateway's own view of the members, the
/// callbacks of its starts, and its own timers.
using client_api = orchestrator_api::extend<
  caf::replies_to<members_atom>::with<std::vector<node_info>>,
  caf::replies_to<voting_atom>::with<voting_config>,
  caf::reacts_to<task_status>, caf::reacts_to<tick_atom>,
  caf::reacts_to<refresh_atom>, caf::reacts_to<release_atom>>;

/// What users hold: the orchestrator's interface and the gateway's members.
using front_api = orchestrator_api::extend<
  caf::replies_to<members_atom>::with<std::vector<node_info>>,
  caf::replies_to<voting_atom>::with<voting_config>>;

/// What became of the users' handles of a client (all lead to its front).
/// Written only by the front's end, in this process: a `release` message
/// from elsewhere changes nothing.
enum class users_state { holding, gone, stopped };

using users_flag = std::shared_ptr<std::atomic<users_state>>;

struct pending_request {
  caf::response_promise promise;
  clock_type::time_point deadline;
  /// Epoch of the orchestrator it was last sent to; 0 while unsent.
  uint64_t sent_epoch = 0;
  std::function<void(const orchestrator_api&)> send;
  /// The cluster's last refusal of this request (`no_quorum`), if any: what
  /// the caller gets if the window runs out.
  caf::error last_refusal;
  /// For starts: the token, whose callback route is dropped on failure.
  uint64_t token = 0;
  /// For watches: the subscriber, whose watch is dropped on failure.
  caf::actor_addr watcher;
};

/// Most watches (`(watch, subscriber, name)`) one client keeps.
constexpr size_t max_watches = 64;

/// An actor subscribed to the orchestrator's events through this client:
/// subscribed again at each orchestrator the client moves to (events in
/// between are missed).
struct watch_entry {
  caf::actor subscriber;
  std::string name;
};

struct client_state {
  std::chrono::milliseconds window{default_retry_window};
  /// Members to ask `whereis`; `gateway` is the one connected now.
  std::vector<endpoint> endpoints;
  size_t next_endpoint = 0;
  gateway_api gateway;
  orchestrator_ref orchestrator;
  bool resolving = false;
  bool tick_scheduled = false;
  /// Why the last resolve failed, if the cluster said so (`no_quorum`).
  caf::error last_refusal;
  /// The orchestrator whose node went down, and until when a node that has
  /// not noticed yet and still names it is asked again instead.
  orchestrator_ref lost;
  clock_type::time_point lost_until;
  std::map<uint64_t, pending_request> pending;
  uint64_t next_id = 0;
  boost::uuids::random_generator uuids;
  std::mt19937_64 tokens{std::random_device{}()};
  /// Start token -> the caller's callback. The cluster sends callbacks here
  /// (at least once); the first for a token is forwarded, later copies (a
  /// failover can send one twice) find no route and are dropped.
  std::unordered_map<uint64_t, caf::actor> callbacks;
  /// How many routes lead to each callback actor; each is monitored once.
  std::unordered_map<caf::actor_addr, size_t> watched;
  users_flag users;
  /// `members` requests waiting for the gateway's answer.
  size_t members_asked = 0;
  std::vector<watch_entry> watches;

  static const char* name;
};

const char* client_state::name = "dtask.client";

using client_ptr = client_api::stateful_pointer<client_state>;

void resolve(client_ptr self);

// -- lifetime (see the top of this file) --------------------------------------

/// Quits at once if the user stopped the front, or once no user holds a
/// handle and no request or callback is left.
void quit_if_done(client_ptr self) {
  auto& st = self->state;
  auto users = st.users->load();
  if (users == users_state::stopped)
    self->quit(caf::exit_reason::user_shutdown);
  else if (users == users_state::gone && st.pending.empty()
           && st.callbacks.empty() && st.members_asked == 0
           && st.watches.empty())
    self->quit();
}

/// Forgets the watch of `subscriber`, if any.
void drop_watch(client_ptr self, const caf::actor_addr& subscriber) {
  auto& ws = self->state.watches;
  auto i = std::find_if(ws.begin(), ws.end(), [&](const watch_entry& w) {
    return w.subscriber.address() == subscriber;
  });
  if (i == ws.end())
    return;
  self->demonitor(subscriber);
  ws.erase(i);
}

/// Subscribes every watch at the orchestrator the client uses now. A watch
/// that fails here is subscribed again at the next orchestrator.
void resubscribe(client_ptr self) {
  auto& st = self->state;
  for (auto& w : st.watches)
    self->request(st.orchestrator.handle, attempt_timeout, watch_atom::value,
                  w.subscriber, w.name)
      .then([](uint64_t) {}, [](caf::error&) {});
}

void drop_route(client_ptr self, uint64_t token) {
  auto& st = self->state;
  auto i = st.callbacks.find(token);
  if (i == st.callbacks.end())
    return;
  auto w = st.watched.find(i->second.address());
  if (w != st.watched.end() && --w->second == 0) {
    self->demonitor(i->second.address());
    st.watched.erase(w);
  }
  st.callbacks.erase(i);
}

/// Routes the callback of the start `token` through this actor, watching the
/// callback actor.
void add_route(client_ptr self, uint64_t token, caf::actor callback) {
  auto& st = self->state;
  drop_route(self, token);
  if (st.watched[callback.address()]++ == 0)
    self->monitor(callback);
  st.callbacks[token] = std::move(callback);
}

/// A callback actor ended: nobody waits for its callbacks any more.
void drop_routes_to(client_ptr self, const caf::actor_addr& callback) {
  auto& st = self->state;
  if (st.watched.erase(callback) == 0)
    return;
  for (auto i = st.callbacks.begin(); i != st.callbacks.end();)
    i = i->second.address() == callback ? st.callbacks.erase(i) : ++i;
}

/// The handle users hold: forwards each request to the client actor, which
/// answers the sender directly.
front_api::behavior_type client_front(front_api::pointer self,
                                      client_api client) {
  return {
    [=](start_atom a, std::string& type, caf::message& args,
        start_options& opts) {
      return self->delegate(client, a, std::move(type), std::move(args),
                            std::move(opts));
    },
    [=](status_atom a, std::string& name) {
      return self->delegate(client, a, std::move(name));
    },
    [=](stop_atom a, std::string& name) {
      return self->delegate(client, a, std::move(name));
    },
    [=](list_atom a, list_query& q) {
      return self->delegate(client, a, std::move(q));
    },
    [=](list_atom a) { return self->delegate(client, a); },
    [=](nodes_atom a) { return self->delegate(client, a); },
    [=](watch_atom a, caf::actor& sub, std::string& name) {
      return self->delegate(client, a, std::move(sub), std::move(name));
    },
    [=](events_atom a, event_query& q) {
      return self->delegate(client, a, std::move(q));
    },
    [=](members_atom a) { return self->delegate(client, a); },
    [=](members_atom a, add_voter_atom b, std::string& node) {
      return self->delegate(client, a, b, std::move(node));
    },
    [=](members_atom a, remove_voter_atom b, std::string& node) {
      return self->delegate(client, a, b, std::move(node));
    },
    [=](voting_atom a) { return self->delegate(client, a); },
  };
}

void schedule_retry(client_ptr self) {
  auto& st = self->state;
  if (!st.tick_scheduled) {
    st.tick_scheduled = true;
    self->delayed_send(self, retry_pause, tick_atom::value);
  }
}

void send_unsent(client_ptr self) {
  auto& st = self->state;
  for (auto& kvp : st.pending)
    if (kvp.second.sent_epoch == 0) {
      kvp.second.sent_epoch = st.orchestrator.epoch;
      kvp.second.send(st.orchestrator.handle);
    }
}

void adopt(client_ptr self, orchestrator_ref ref) {
  auto& st = self->state;
  if (st.orchestrator.handle == ref.handle)
    return;
  if (st.orchestrator.handle)
    self->demonitor(st.orchestrator.handle.address());
  st.orchestrator = std::move(ref);
  self->monitor(st.orchestrator.handle);
  resubscribe(self);
}

/// Connects to every member in `nodes` (a no-op for members connected
/// already) and remembers them as gateways; calls `done` once every attempt
/// ended.
///
/// Why every member: a callback actor of this process travels to the
/// orchestrator and to the registry of the task's node. A node that reached
/// this process only through another node kills its proxies of this
/// process's actors when that other node dies, and the callback would be
/// gone. With a direct connection from every node, no other node's death
/// cuts a callback off.
void connect_members(client_ptr self, const std::vector<node_info>& nodes,
                     std::function<void()> done) {
  auto& st = self->state;
  auto mm = network_of(self->system());
  auto left = std::make_shared<size_t>(nodes.size() + 1);
  auto step = [left, done] {
    if (--*left == 0)
      done();
  };
  for (auto& n : nodes) {
    endpoint ep;
    if (!parse_endpoint(n.node, ep).empty()) {
      step();
      continue;
    }
    if (std::find(st.endpoints.begin(), st.endpoints.end(), ep)
        == st.endpoints.end())
      st.endpoints.push_back(ep);
    self->request(mm, resolve_timeout, caf::connect_atom::value, ep.host,
                  ep.port)
      .then([=](const caf::node_id&, caf::strong_actor_ptr&,
                const std::set<std::string>&) { step(); },
            [=](caf::error&) { step(); });
  }
  step();
}

/// Keeps the connections to all members as members come and go.
void refresh_members(client_ptr self) {
  auto& st = self->state;
  if (st.orchestrator.handle)
    self->request(st.orchestrator.handle, resolve_timeout, nodes_atom::value)
      .then(
        [=](std::vector<node_info>& nodes) {
          connect_members(self, nodes, [] {});
        },
        [](caf::error&) {});
  self->delayed_send(self, refresh_interval, refresh_atom::value);
}

/// Gives up on requests whose window ran out; retries the rest.
void retry(client_ptr self) {
  auto& st = self->state;
  auto now = clock_type::now();
  for (auto i = st.pending.begin(); i != st.pending.end();) {
    if (i->second.sent_epoch == 0 && i->second.deadline <= now) {
      drop_route(self, i->second.token);
      drop_watch(self, i->second.watcher);
      if (i->second.last_refusal)
        i->second.promise.deliver(i->second.last_refusal);
      else if (st.last_refusal)
        i->second.promise.deliver(st.last_refusal);
      else
        i->second.promise.deliver(make_error(
          errc::no_orchestrator, "no orchestrator answered within the retry "
                                 "window"));
      i = st.pending.erase(i);
    } else {
      ++i;
    }
  }
  if (st.pending.empty() && st.watches.empty()) {
    quit_if_done(self);
    return;
  }
  if (st.orchestrator.handle)
    send_unsent(self);
  else
    resolve(self);
}

/// Marks every request sent to the orchestrator of `epoch` as unsent.
void orchestrator_lost(client_ptr self, uint64_t epoch) {
  auto& st = self->state;
  if (st.orchestrator.epoch == epoch && st.orchestrator.handle) {
    self->demonitor(st.orchestrator.handle.address());
    st.orchestrator = orchestrator_ref{};
  }
  for (auto& kvp : st.pending)
    if (kvp.second.sent_epoch == epoch)
      kvp.second.sent_epoch = 0;
  retry(self);
}

/// Connects directly to the orchestrator's node and to all members before
/// using the orchestrator. Through the gateway alone, messages would take an
/// indirect route, and CAF does not report the death of a node reached that
/// way: requests would hang.
void connect_and_adopt(client_ptr self, orchestrator_ref ref) {
  endpoint ep;
  if (!parse_endpoint(ref.node, ep).empty()) {
    self->state.resolving = false;
    schedule_retry(self);
    return;
  }
  auto mm = network_of(self->system());
  self->request(mm, resolve_timeout, caf::connect_atom::value, ep.host, ep.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr&,
          const std::set<std::string>&) {
        auto finish = [=] {
          self->state.resolving = false;
          adopt(self, ref);
          retry(self);
        };
        self->request(ref.handle, resolve_timeout, nodes_atom::value)
          .then(
            [=](std::vector<node_info>& nodes) {
              connect_members(self, nodes, finish);
            },
            [=](caf::error&) { finish(); });
      },
      [=](caf::error&) {
        self->state.resolving = false;
        schedule_retry(self);
      });
}

void ask_whereis(client_ptr self) {
  auto& st = self->state;
  self->request(st.gateway, resolve_timeout, whereis_atom::value)
    .then(
      [=](orchestrator_ref& ref) {
        auto& st = self->state;
        if (ref.handle == st.lost.handle && clock_type::now() < st.lost_until) {
          // The gateway did not notice yet: ask again shortly.
          st.resolving = false;
          schedule_retry(self);
          return;
        }
        st.last_refusal = caf::error{};
        connect_and_adopt(self, std::move(ref));
      },
      [=](caf::error& err) {
        if (is(err, errc::no_quorum))
          self->state.last_refusal = std::move(err);
        self->state.resolving = false;
        schedule_retry(self);
      });
}

/// Finds the orchestrator through the gateway, or through another member if
/// the gateway is gone.
void resolve(client_ptr self) {
  auto& st = self->state;
  if (st.resolving)
    return;
  st.resolving = true;
  if (st.gateway) {
    ask_whereis(self);
    return;
  }
  auto ep = st.endpoints[st.next_endpoint++ % st.endpoints.size()];
  auto mm = network_of(self->system());
  self->request(mm, resolve_timeout, caf::connect_atom::value, ep.host, ep.port)
    .then(
      [=](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        auto& st = self->state;
        if (!ptr) {
          st.resolving = false;
          schedule_retry(self);
          return;
        }
        st.gateway = caf::actor_cast<gateway_api>(ptr);
        self->monitor(st.gateway);
        ask_whereis(self);
      },
      [=](caf::error&) {
        self->state.resolving = false;
        schedule_retry(self);
      });
}

bool retryable(const caf::error& err) {
  if (err.category() == error_category)
    return is(err, errc::no_orchestrator) || is(err, errc::stale_orchestrator)
           || is(err, errc::no_quorum) || is(err, errc::node_down);
  // Timeouts and a receiver that went away.
  return true;
}

/// A request's arguments for one attempt: a start's second or later
/// attempt says so (`start_options::retry`).
template <class T>
const T& for_attempt(const T& x, bool) {
  return x;
}

inline start_options for_attempt(start_options x, bool again) {
  x.retry = again;
  return x;
}

template <class Reply, class... Ts>
caf::result<Reply> submit(client_ptr self, Ts... xs) {
  auto& st = self->state;
  auto id = ++st.next_id;
  auto& p = st.pending[id];
  p.promise = self->make_response_promise();
  p.deadline = clock_type::now() + st.window;
  // One attempt waits at most `attempt_timeout`: a start is answered by the
  // registry of the task's node, and if that node dies the answer never
  // comes. The retry carries the same token, so it is answered as the first
  // attempt or, if the first never ran, starts the task.
  auto timeout = std::min<std::chrono::milliseconds>(st.window,
                                                     attempt_timeout);
  auto attempts = std::make_shared<int>(0);
  p.send = [self, id, timeout, attempts, xs...](const orchestrator_api& orch) {
    auto again = (*attempts)++ > 0;
    self->request(orch, timeout, for_attempt(xs, again)...)
      .then(
        [=](Reply& reply) {
          auto& st = self->state;
          auto i = st.pending.find(id);
          if (i == st.pending.end())
            return; // Answered by an earlier attempt.
          i->second.promise.deliver(std::move(reply));
          st.pending.erase(i);
          quit_if_done(self);
        },
        [=](caf::error& err) {
          auto& st = self->state;
          auto i = st.pending.find(id);
          if (i == st.pending.end())
            return;
          if (!retryable(err) || clock_type::now() >= i->second.deadline) {
            drop_route(self, i->second.token);
            drop_watch(self, i->second.watcher);
            i->second.promise.deliver(std::move(err));
            st.pending.erase(i);
            quit_if_done(self);
            return;
          }
          if (is(err, errc::no_quorum)) {
            i->second.last_refusal = err;
            // The orchestrator lacks a majority for now (or waits for old
            // leases to end): ask again shortly; the periodic refresh moves
            // to a new orchestrator if one is elected elsewhere.
            i->second.sent_epoch = 0;
            schedule_retry(self);
            return;
          }
          if (err == caf::sec::request_timeout) {
            // The orchestrator may be fine (the task's node was not): send
            // this one again without giving up on the orchestrator.
            i->second.sent_epoch = 0;
            retry(self);
            return;
          }
          orchestrator_lost(self, i->second.sent_epoch);
        });
  };
  auto rp = p.promise;
  retry(self);
  return rp;
}

/// A callback: forwarded once per start.
void forward_callback(client_ptr self, task_status status) {
  auto& st = self->state;
  auto token = status.token;
  auto i = st.callbacks.find(token);
  if (i == st.callbacks.end())
    return;
  // To any actor: see deliver_callback in orchestrator.cpp.
  self->anon_send(i->second, std::move(status));
  drop_route(self, token);
  quit_if_done(self);
}

/// `(watch, subscriber, name)`: subscribed now, and again at each new
/// orchestrator, until the subscriber ends.
caf::result<uint64_t> add_watch(client_ptr self, caf::actor& sub,
                                std::string& name) {
  auto& st = self->state;
  if (!sub)
    return make_error(errc::not_allowed,
                      std::string{"watch without a subscriber"});
  auto i = std::find_if(st.watches.begin(), st.watches.end(),
                        [&](const watch_entry& w) { return w.subscriber == sub; });
  if (i != st.watches.end()) {
    i->name = name;
  } else if (st.watches.size() >= max_watches) {
    return make_error(errc::too_many, uint64_t{st.watches.size()},
                      uint64_t{max_watches});
  } else {
    self->monitor(sub);
    st.watches.push_back(watch_entry{sub, name});
  }
  auto addr = sub.address();
  auto rp = submit<uint64_t>(self, watch_atom::value, std::move(sub),
                             std::move(name));
  auto p = st.pending.find(st.next_id);
  if (p != st.pending.end())
    p->second.watcher = addr;
  return rp;
}

/// The gateway's own view (of the members, or of the voting
/// configuration); not retried.
template <class Reply, class Atom>
caf::result<Reply> ask_gateway(client_ptr self, Atom atom) {
  auto& gw = self->state.gateway;
  if (!gw)
    return make_error(errc::no_orchestrator, "the gateway node is gone");
  auto rp = self->make_response_promise<Reply>();
  ++self->state.members_asked;
  auto answered = [=] {
    --self->state.members_asked;
    quit_if_done(self);
  };
  self->request(gw, resolve_timeout, atom)
    .then(
      [=](Reply& xs) mutable {
        rp.deliver(xs);
        answered();
      },
      [=](caf::error& err) mutable {
        rp.deliver(err);
        answered();
      });
  return rp;
}

client_api::behavior_type client_actor(client_ptr self, gateway_api gateway,
                                       endpoint ep,
                                       std::chrono::milliseconds window,
                                       users_flag users) {
  auto& st = self->state;
  st.users = std::move(users);
  st.window = window;
  st.gateway = std::move(gateway);
  st.endpoints.push_back(std::move(ep));
  self->monitor(st.gateway);
  self->delayed_send(self, refresh_interval, refresh_atom::value);
  self->set_down_handler([=](caf::down_msg& dm) {
    auto& st = self->state;
    if (dm.source == st.gateway.address())
      st.gateway = nullptr;
    if (st.orchestrator.handle
        && dm.source == st.orchestrator.handle.address()) {
      st.lost = st.orchestrator;
      st.lost_until = clock_type::now() + std::chrono::seconds(2);
      orchestrator_lost(self, st.orchestrator.epoch);
    }
    drop_routes_to(self, dm.source);
    drop_watch(self, dm.source);
    quit_if_done(self);
  });
  return {
    [=](start_atom a, std::string& type, caf::message& args,
        start_options& opts) {
      auto& st = self->state;
      // A name and a token chosen here make a retried start idempotent.
      if (opts.name.empty())
        opts.name = boost::uuids::to_string(st.uuids());
      if (opts.token == 0)
        opts.token = st.tokens() | 1;
      auto token = opts.token;
      if (opts.callback) {
        add_route(self, token, std::move(opts.callback));
        opts.callback = caf::actor_cast<caf::actor>(self);
      }
      auto rp = submit<task_ref>(self, a, std::move(type), std::move(args),
                                 std::move(opts));
      auto i = st.pending.find(st.next_id);
      if (i != st.pending.end())
        i->second.token = token;
      return rp;
    },
    [=](task_status& status) { forward_callback(self, std::move(status)); },
    [=](status_atom a, std::string& name) {
      return submit<task_status>(self, a, std::move(name));
    },
    [=](stop_atom a, std::string& name) {
      return submit<task_status>(self, a, std::move(name));
    },
    [=](list_atom a, list_query& q) {
      return submit<list_page>(self, a, std::move(q));
    },
    [=](list_atom a) { return submit<std::vector<task_status>>(self, a); },
    [=](nodes_atom a) { return submit<std::vector<node_info>>(self, a); },
    [=](watch_atom, caf::actor& sub, std::string& name) {
      return add_watch(self, sub, name);
    },
    [=](events_atom a, event_query& q) {
      return submit<std::vector<task_event>>(self, a, std::move(q));
    },
    [=](members_atom a) { return ask_gateway<std::vector<node_info>>(self, a); },
    [=](voting_atom a) { return ask_gateway<voting_config>(self, a); },
    [=](members_atom a, add_voter_atom b, std::string& node) {
      return submit<voting_config>(self, a, b, std::move(node));
    },
    [=](members_atom a, remove_voter_atom b, std::string& node) {
      return submit<voting_config>(self, a, b, std::move(node));
    },
    [=](tick_atom) {
      self->state.tick_scheduled = false;
      retry(self);
    },
    [=](refresh_atom) { refresh_members(self); },
    [=](release_atom) { quit_if_done(self); },
  };
}

/// The client actor and its front; returns the front.
orchestrator_api spawn_pair(caf::actor_system& sys, gateway_api gateway,
                            const endpoint& ep,
                            std::chrono::milliseconds window) {
  auto users = std::make_shared<std::atomic<users_state>>(
    users_state::holding);
  auto client = sys.spawn(client_actor, std::move(gateway), ep, window, users);
  auto front = sys.spawn(client_front, client);
  // Runs in this process only, when the front ends: `unreachable` means
  // that the last handle was dropped, anything else that it was stopped.
  front->attach_functor([client, users](const caf::error& reason) {
    users->store(reason == caf::exit_reason::unreachable ? users_state::gone
                                                         : users_state::stopped);
    caf::anon_send(client, release_atom::value);
  });
  return caf::actor_cast<orchestrator_api>(front);
}

} // namespace

caf::expected<orchestrator_api>
spawn_client(caf::actor_system& sys, const endpoint& gateway,
             std::chrono::milliseconds retry_window) {
  auto tls_err = tls_config_error(sys.config());
  if (!tls_err.empty())
    return caf::make_error(caf::sec::invalid_argument, tls_err);
  caf::scoped_actor self{sys};
  caf::expected<orchestrator_api> result{caf::sec::bad_function_call};
  self
    ->request(network_of(sys), std::chrono::seconds(3),
              caf::connect_atom::value, gateway.host, gateway.port)
    .receive(
      [&](const caf::node_id&, caf::strong_actor_ptr& ptr,
          const std::set<std::string>&) {
        if (!ptr) {
          result = caf::make_error(caf::sec::no_actor_published_at_port);
          return;
        }
        result = spawn_pair(sys, caf::actor_cast<gateway_api>(ptr), gateway,
                            retry_window);
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

// -- blocking facade ----------------------------------------------------------

caf::expected<client> client::connect(caf::actor_system& sys,
                                      const endpoint& gateway,
                                      std::chrono::milliseconds retry_window) {
  auto hdl = spawn_client(sys, gateway, retry_window);
  if (!hdl)
    return std::move(hdl.error());
  // A request never waits longer than the retry window plus the time one
  // orchestrator takes to answer (it learns of a dead node within a second).
  return client{sys, std::move(*hdl), retry_window + std::chrono::seconds(30)};
}

namespace {

template <class T, class Handle, class... Ts>
caf::expected<T> blocking_request(caf::actor_system& sys, const Handle& hdl,
                                  std::chrono::milliseconds timeout,
                                  Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> result{caf::sec::bad_function_call};
  self->request(hdl, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

caf::expected<task_ref> client::start(const std::string& type,
                                      caf::message args,
                                      start_options opts) {
  return blocking_request<task_ref>(*sys_, actor_, timeout_, start_atom::value,
                                    type, std::move(args), std::move(opts));
}

caf::expected<task_status> client::status(const std::string& name) {
  return blocking_request<task_status>(*sys_, actor_, timeout_,
                                       status_atom::value, name);
}

caf::expected<task_status> client::stop(const std::string& name) {
  return blocking_request<task_status>(*sys_, actor_, timeout_,
                                       stop_atom::value, name);
}

caf::expected<std::vector<task_status>> client::list() {
  return blocking_request<std::vector<task_status>>(*sys_, actor_, timeout_,
                                                    list_atom::value);
}

caf::expected<list_page> client::list(const list_query& query) {
  return blocking_request<list_page>(*sys_, actor_, timeout_, list_atom::value,
                                     query);
}

caf::expected<std::vector<node_info>> client::members() {
  return blocking_request<std::vector<node_info>>(
    *sys_, caf::actor_cast<front_api>(actor_), timeout_, members_atom::value);
}

caf::expected<voting_config> client::voting() {
  return blocking_request<voting_config>(
    *sys_, caf::actor_cast<front_api>(actor_), timeout_, voting_atom::value);
}

caf::expected<voting_config> client::add_voter(const std::string& node) {
  return blocking_request<voting_config>(*sys_, actor_, timeout_,
                                         members_atom::value,
                                         add_voter_atom::value, node);
}

caf::expected<voting_config> client::remove_voter(const std::string& node) {
  return blocking_request<voting_config>(*sys_, actor_, timeout_,
                                         members_atom::value,
                                         remove_voter_atom::value, node);
}

caf::expected<uint64_t> client::watch(const caf::actor& subscriber,
                                      const std::string& name) {
  return blocking_request<uint64_t>(*sys_, actor_, timeout_, watch_atom::value,
                                    subscriber, name);
}

caf::expected<std::vector<task_event>>
client::events(const event_query& query) {
  return blocking_request<std::vector<task_event>>(*sys_, actor_, timeout_,
                                                   events_atom::value, query);
}

caf::expected<std::vector<node_info>> client::nodes() {
  return blocking_request<std::vector<node_info>>(*sys_, actor_, timeout_,
                                                  nodes_atom::value);
}

} // namespace dtask
