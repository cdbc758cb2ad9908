#include "world.hpp"

#include <algorithm>
#include <cmath>
#include <iostream>

#include "dtask/errors.hpp"
#include "invariants.hpp"

namespace dtask_sim {

namespace {

using namespace std::chrono;

/// The heartbeat timeout of `dtask::configure` (connection-timeout): a
/// partition or a hang that lasts longer breaks the connection.
constexpr auto detection = milliseconds(600);

/// Largest relative clock drift of a node: over the longest interval the
/// timing argument compares (2L + M plus a mirror promise, about 8 s),
/// two nodes drift apart by at most 2 * 0.01 * 8 s = 160 ms < M.
constexpr double max_drift = 0.01;

/// Converts the node-clock times of a node's event log back to virtual time.
class sim_sink : public dtask::event_sink {
public:
  sim_sink(std::string* out, double rate) : out_(out), rate_(rate) {
    // nop
  }

  bool enabled() const override {
    return true;
  }

  void write(const std::string& line) const override {
    std::istringstream in{line};
    std::string kind, rest;
    int64_t t = 0, end = 0;
    in >> kind >> t;
    std::ostringstream out;
    out << kind << ' ' << virt(t);
    if (kind == "stop") {
      in >> end;
      out << ' ' << virt(end);
    }
    std::getline(in, rest);
    *out_ += out.str() + rest + "\n";
  }

private:
  int64_t virt(int64_t node_ns) const {
    return static_cast<int64_t>(std::floor(static_cast<double>(node_ns) / rate_));
  }

  std::string* out_;
  double rate_;
};

bool is_system(const caf::mailbox_element& x) {
  return x.content().match_elements<caf::down_msg>()
         || x.content().match_elements<caf::exit_msg>();
}

} // namespace

struct world::sim_node {
  std::string name;
  double rate = 1.0;
  bool alive = false;
  bool hung = false;
  uint32_t hang_id = 0;
  int incarnation = 0;
  dtask::supervisor_api supervisor;
  dtask::registry_api registry;
  std::vector<caf::actor_addr> actors;
  std::shared_ptr<sim_sink> sink;
  /// Its voting configuration: the one it took last survives restarts
  /// (as in a state directory).
  dtask::config_cell_ptr voting;
};

struct world::link {
  /// The connection broke (and was not made again): messages are dropped.
  bool broken = false;
  /// Until when this link is slow.
  vtime slow_until;
  /// When the last message on this directed link is released (order).
  vtime last_release;
  /// Messages held back while a partition separates the ends.
  std::deque<held> blocked;
};

struct world::held {
  int from = -1;
  int to = -1;
  bool system = false;
  caf::strong_actor_ptr receiver;
  caf::mailbox_element_ptr msg;
};

struct world::fault {
  enum kind_t { kill, restart, hang, resume, cut, heal, detect_cut,
                detect_hang, reset, slow, change } kind;
  int a = -1;
  int b = -1;
  int64_t ms = 0;
  uint32_t side = 0;
  uint32_t id = 0;
};

world::world(const sim_options& opts) : opts_(opts), rng_(opts.seed) {
  dtask::add_message_types(cfg_);
  cfg_.set("scheduler.policy", caf::atom("testing"));
  cfg_.set("logger.console", caf::atom("none"));
  cfg_.set("logger.file-verbosity", caf::atom("quiet"));
  saved_cout_ = std::cout.rdbuf(trace_.rdbuf());
  saved_cerr_ = std::cerr.rdbuf(trace_.rdbuf());
  dtask::active_mutation = opts.mutation;
  dtask::first_task_sequence = opts.first_sequence;
  dtask::active_message_filter = this;
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  sched_->clock().current_time += hours(1);
  t0_ = now();
  auto n = static_cast<size_t>(opts.nodes);
  nodes_.resize(n);
  recs_.event_logs.resize(n);
  links_ = std::vector<link>((n + 1) * (n + 1));
  group_.assign(n, 0);
  std::uniform_real_distribution<double> drift(1.0 - max_drift,
                                               1.0 + max_drift);
  for (size_t i = 0; i < n; ++i) {
    nodes_[i].name = "node" + std::to_string(i + 1) + ":"
                     + std::to_string(4101 + i);
    nodes_[i].rate = drift(rng_);
  }
}

world::~world() {
  shutdown();
  dtask::active_message_filter = nullptr;
  dtask::active_mutation = dtask::mutation::none;
  dtask::first_task_sequence = 0;
  std::cout.rdbuf(saved_cout_);
  std::cerr.rdbuf(saved_cerr_);
}

// -- nodes ----------------------------------------------------------------------

void world::start_node(int i) {
  auto& nd = nodes_[static_cast<size_t>(i)];
  dtask::node_config cfg;
  auto colon = nd.name.find(':');
  cfg.host = nd.name.substr(0, colon);
  cfg.port = static_cast<uint16_t>(std::stoi(nd.name.substr(colon + 1)));
  // With `--changes`, the first three nodes are the seeds (the voters at
  // first); the others join and may become voters.
  auto seeds = opts_.changes > 0 ? std::min<size_t>(3, nodes_.size())
                                 : nodes_.size();
  for (size_t k = 0; k < seeds; ++k) {
    dtask::endpoint ep;
    dtask::parse_endpoint(nodes_[k].name, ep);
    cfg.seeds.push_back(ep);
  }
  nd.sink = std::make_shared<sim_sink>(&recs_.event_logs[static_cast<size_t>(i)],
                                       nd.rate);
  auto ctx = std::make_shared<dtask::node_context>(dtask::node_context{
    cfg, cfg.name(), sim_catalog(this), nullptr, nd.sink,
    dtask::node_clock{nd.rate}, network_,
    // Derived from the seed without drawing from the world's generator.
    dtask::derive_key(opts_.seed, nd.name + "#"
                                    + std::to_string(nd.incarnation)),
    nullptr, {}, // No metrics: the simulation serves no HTTP.
    std::make_shared<dtask::lease_cover<>>()});
  dtask::make_voting(cfg.voters(), cfg.state_dir, ctx->voting);
  // As if from its state directory: the configuration it took last.
  if (nd.voting) {
    if (newer(*nd.voting->current(), *ctx->voting->current()))
      ctx->voting = std::make_shared<dtask::config_cell>(
        *nd.voting->current(), "");
    // With `--changes` only, so that earlier seeds replay as they did.
    if (opts_.changes > 0)
      ctx->voting->note_epoch(nd.voting->seen_epoch());
  }
  nd.voting = ctx->voting;
  ++nd.incarnation;
  nd.alive = true;
  nd.hung = false;
  nd.actors.clear();
  current_node_ = i;
  current_incarnation_ = nd.incarnation;
  nd.registry = dtask::spawn_registry(*sys_, ctx);
  nd.supervisor = dtask::spawn_supervisor(*sys_, ctx, nd.registry);
  current_node_ = -1;
  caf::send_as(nd.supervisor, nd.supervisor, dtask::join_atom::value);
  trace("start " + nd.name + " incarnation " + std::to_string(nd.incarnation));
}

void world::kill_node(int i) {
  auto& nd = nodes_[static_cast<size_t>(i)];
  if (!nd.alive)
    return;
  nd.alive = false;
  nd.hung = false;
  recs_.kill_log << "kill " << now_ns() << ' ' << nd.name << '\n';
  trace("kill " + nd.name);
  for (auto& addr : nd.actors)
    if (auto h = caf::actor_cast<caf::actor>(addr))
      dtask::stop_actor(h, caf::exit_reason::kill);
  // Peers hear of it through their monitors (CAF sends the down messages);
  // what is on the wire to or from it is gone.
  for (int j = 0; j < opts_.nodes; ++j)
    if (j != i)
      break_link(i, j, false);
}

void world::hang_node(int i, int64_t ms) {
  auto& nd = nodes_[static_cast<size_t>(i)];
  if (!nd.alive || nd.hung)
    return;
  nd.hung = true;
  ++nd.hang_id;
  trace("hang " + nd.name + " for " + std::to_string(ms) + " ms");
  fault resume{fault::resume, i};
  resume.id = nd.hang_id;
  faults_.emplace(std::make_pair(now() + milliseconds(ms), ++seq_), resume);
  fault detect{fault::detect_hang, i};
  detect.id = nd.hang_id;
  faults_.emplace(std::make_pair(now() + detection, ++seq_), detect);
}

void world::partition(uint32_t side, int64_t ms) {
  ++partition_id_;
  for (int i = 0; i < opts_.nodes; ++i)
    group_[static_cast<size_t>(i)] = (side >> i) & 1;
  std::string text = "partition {";
  for (int i = 0; i < opts_.nodes; ++i)
    if ((side >> i) & 1)
      text += " " + nodes_[static_cast<size_t>(i)].name;
  trace(text + " } for " + std::to_string(ms) + " ms");
  fault heal{fault::heal};
  heal.id = partition_id_;
  faults_.emplace(std::make_pair(now() + milliseconds(ms), ++seq_), heal);
  fault detect{fault::detect_cut};
  detect.id = partition_id_;
  faults_.emplace(std::make_pair(now() + detection, ++seq_), detect);
}

world::link& world::link_of(int a, int b) {
  auto n = static_cast<size_t>(opts_.nodes);
  auto ia = a < 0 ? n : static_cast<size_t>(a);
  auto ib = b < 0 ? n : static_cast<size_t>(b);
  return links_[ia * (n + 1) + ib];
}

/// The connection between `a` and `b` broke: what is on it is lost, and
/// (with `notify`) each side's supervisor hears that the other side's
/// supervisor and orchestrators are unreachable, as CAF tells monitors.
void world::break_link(int a, int b, bool notify) {
  for (auto [x, y] : {std::make_pair(a, b), std::make_pair(b, a)}) {
    auto& l = link_of(x, y);
    l.broken = true;
    l.blocked.clear();
  }
  if (!notify)
    return;
  trace("connection " + nodes_[static_cast<size_t>(a)].name + " - "
        + nodes_[static_cast<size_t>(b)].name + " broke");
  for (auto [x, y] : {std::make_pair(a, b), std::make_pair(b, a)}) {
    auto& watcher = nodes_[static_cast<size_t>(x)];
    if (!watcher.alive)
      continue;
    for (auto& addr : nodes_[static_cast<size_t>(y)].actors) {
      auto h = caf::actor_cast<caf::actor>(addr);
      if (!h)
        continue;
      auto ptr = dynamic_cast<caf::local_actor*>(
        caf::actor_cast<caf::abstract_actor*>(h));
      std::string kind = ptr ? ptr->name() : "";
      if (kind == "dtask.supervisor" || kind == "dtask.orchestrator")
        // From the actor that is cut off, as CAF sends it from a proxy.
        caf::send_as(h, caf::actor_cast<caf::actor>(watcher.supervisor),
                     caf::down_msg{addr,
                                   caf::exit_reason::remote_link_unreachable});
    }
  }
}

caf::strong_actor_ptr world::connect(int from, const std::string& to,
                                     bool& hung) {
  hung = false;
  for (int j = 0; j < opts_.nodes; ++j) {
    auto& nd = nodes_[static_cast<size_t>(j)];
    if (nd.name != to)
      continue;
    if (!nd.alive || (from >= 0 && group_[static_cast<size_t>(from)]
                                     != group_[static_cast<size_t>(j)]))
      return nullptr;
    if (nd.hung) {
      hung = true;
      return nullptr;
    }
    if (from >= 0) {
      link_of(from, j).broken = false;
      link_of(j, from).broken = false;
    }
    return caf::actor_cast<caf::strong_actor_ptr>(nd.supervisor);
  }
  return nullptr;
}

dtask::gateway_api world::random_gateway() {
  std::vector<size_t> up;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].alive)
      up.push_back(i);
  if (up.empty())
    return {};
  return nodes_[up[rng_() % up.size()]].supervisor;
}

std::map<std::string, dtask::gateway_api> world::live_supervisors() const {
  std::map<std::string, dtask::gateway_api> result;
  for (auto& nd : nodes_)
    if (nd.alive)
      result.emplace(nd.name, nd.supervisor);
  return result;
}

int world::node_of(caf::actor_id id) const {
  auto i = owner_.find(id);
  return i != owner_.end() ? i->second.first : -1;
}

// -- the network ------------------------------------------------------------------

void world::created(caf::scheduled_actor& self) {
  auto id = self.id();
  if (current_node_ < 0)
    return;
  owner_[id] = std::make_pair(current_node_, current_incarnation_);
  nodes_[static_cast<size_t>(current_node_)].actors.push_back(self.address());
  self.attach_functor([this, id] {
    terminated_.insert(id);
    for (auto i = admitted_.begin(); i != admitted_.end();)
      i = i->second == id ? admitted_.erase(i) : std::next(i);
  });
}

void world::enqueued(caf::scheduled_actor&, const caf::mailbox_element& x) {
  // Inside a job the hop starts at the running actor's node (a delegated
  // message keeps its original sender); outside one (timers, the
  // simulation's own sends) the sender tells.
  origin_[&x] = current_node_ >= 0 ? current_node_
                                   : (x.sender ? node_of(x.sender->id()) : -1);
}

bool world::admit(caf::scheduled_actor& self, caf::mailbox_element& x) {
  auto a = admitted_.find(&x);
  if (a != admitted_.end()) {
    admitted_.erase(a);
  } else {
    auto o = owner_.find(self.id());
    auto to = o != owner_.end() ? o->second.first : -1;
    if (to >= 0) {
      auto& nd = nodes_[static_cast<size_t>(to)];
      // A killed incarnation handles nothing but its exit.
      if ((!nd.alive || nd.incarnation != o->second.second)
          && !x.content().match_elements<caf::exit_msg>())
        return false;
    }
    auto hop = origin_.find(&x);
    auto from = hop != origin_.end() ? hop->second : -1;
    if (hop != origin_.end())
      origin_.erase(hop);
    if (x.sender != nullptr && from != to) {
      hold(from, to, self, x, is_system(x));
      return false;
    }
  }
  ++messages_;
  if (opts_.trace) {
    auto to = node_of(self.id());
    auto from = x.sender ? node_of(x.sender->id()) : -1;
    trace(std::string{self.name()} + "#" + std::to_string(self.id()) + "@"
          + (to >= 0 ? nodes_[static_cast<size_t>(to)].name : "sim")
          + " <- "
          + (x.sender ? std::to_string(x.sender->id()) : std::string{"-"})
          + "@"
          + (from >= 0 ? nodes_[static_cast<size_t>(from)].name : "sim")
          + " " + x.content().stringify());
  }
  return true;
}

void world::skipped(caf::scheduled_actor& self, caf::mailbox_element& x) {
  admitted_.emplace(&x, self.id());
}

void world::hold(int from, int to, caf::scheduled_actor& self,
                 caf::mailbox_element& x, bool system) {
  auto& l = link_of(from, to);
  if (l.broken && !system)
    return; // Lost with the connection.
  held h;
  h.from = from;
  h.to = to;
  h.system = system;
  h.receiver = caf::actor_cast<caf::strong_actor_ptr>(&self);
  h.msg = caf::make_mailbox_element(x.sender, x.mid, std::move(x.stages),
                                    x.move_content_to_message());
  if (!system && from >= 0 && to >= 0
      && group_[static_cast<size_t>(from)] != group_[static_cast<size_t>(to)]) {
    l.blocked.push_back(std::move(h));
    return;
  }
  // Mostly a loopback-like hop; now and then a slow one; on a slow link,
  // tens to hundreds of milliseconds. One link never reorders.
  auto r = rng_() % 1000;
  microseconds delay{50 + static_cast<int64_t>(rng_() % 450)};
  if (now() < l.slow_until)
    delay = microseconds(50000 + static_cast<int64_t>(rng_() % 250000));
  else if (r < 20)
    delay = microseconds(2000 + static_cast<int64_t>(rng_() % 20000));
  auto at = std::max(now() + delay, l.last_release);
  l.last_release = at;
  timed_.emplace(std::make_pair(at, ++seq_), std::move(h));
}

void world::release_due() {
  while (!timed_.empty() && timed_.begin()->first.first <= now()) {
    auto h = std::move(timed_.begin()->second);
    timed_.erase(timed_.begin());
    if (!h.system && link_of(h.from, h.to).broken)
      continue;
    if (terminated_.count(h.receiver->id()) > 0)
      continue;
    admitted_.emplace(h.msg.get(), h.receiver->id());
    h.receiver->enqueue(std::move(h.msg), nullptr);
  }
}

// -- faults -----------------------------------------------------------------------

void world::schedule_faults() {
  auto n = opts_.nodes;
  for (int k = 0; k < opts_.faults; ++k) {
    fault f{fault::kill};
    auto at = t0_ + milliseconds(1500 + static_cast<int64_t>(
                                          rng_() % static_cast<uint64_t>(
                                            opts_.fault_ms - 1500)));
    f.a = static_cast<int>(rng_() % static_cast<uint64_t>(n));
    f.b = static_cast<int>(rng_() % static_cast<uint64_t>(n));
    switch (rng_() % 6) {
      case 0:
        f.kind = fault::kill;
        f.ms = 300 + static_cast<int64_t>(rng_() % 4000);
        break;
      case 1:
        f.kind = fault::hang;
        f.ms = 200 + static_cast<int64_t>(rng_() % 4000);
        break;
      case 2:
      case 3:
        f.kind = fault::cut;
        f.ms = 200 + static_cast<int64_t>(rng_() % 5000);
        f.side = static_cast<uint32_t>(1 + rng_() % ((1u << n) - 2));
        break;
      case 4:
        f.kind = fault::reset;
        break;
      default:
        f.kind = fault::slow;
        f.ms = 200 + static_cast<int64_t>(rng_() % 3000);
        break;
    }
    faults_.emplace(std::make_pair(at, ++seq_), f);
  }
  // Changes of the voting membership, from their own generator: the other
  // faults of a seed stay those it has without `--changes`.
  std::mt19937_64 gen{opts_.seed ^ 0x6368616e676573ull};
  for (int k = 0; k < opts_.changes; ++k) {
    fault f{fault::change};
    f.ms = 1500 + static_cast<int64_t>(gen() % static_cast<uint64_t>(
                                           opts_.fault_ms - 1500));
    f.a = static_cast<int>(gen() % static_cast<uint64_t>(n));
    f.b = static_cast<int>(gen() % static_cast<uint64_t>(n));
    faults_.emplace(std::make_pair(t0_ + milliseconds(f.ms), ++seq_), f);
  }
}

/// Asks node `via` to add node `target` to the voters, or to remove it if
/// it is one in `via`'s configuration.
void world::propose_change(int target, int via) {
  auto& v = nodes_[static_cast<size_t>(via)];
  auto& t = nodes_[static_cast<size_t>(target)];
  if (!v.alive)
    return;
  auto remove = v.voting->current()->is_voter(t.name);
  trace(std::string{remove ? "propose remove " : "propose add "} + t.name
        + " via " + v.name);
  if (remove)
    caf::anon_send(v.supervisor, dtask::members_atom::value,
                   dtask::remove_voter_atom::value, t.name);
  else
    caf::anon_send(v.supervisor, dtask::members_atom::value,
                   dtask::add_voter_atom::value, t.name);
}

void world::apply(const fault& f) {
  auto& a = nodes_[static_cast<size_t>(std::max(f.a, 0))];
  switch (f.kind) {
    case fault::kill:
      if (!a.alive)
        return;
      kill_node(f.a);
      faults_.emplace(std::make_pair(now() + milliseconds(f.ms), ++seq_),
                      fault{fault::restart, f.a});
      break;
    case fault::restart:
      if (!a.alive)
        start_node(f.a);
      return;
    case fault::hang:
      hang_node(f.a, f.ms);
      break;
    case fault::resume:
      if (a.hung && a.hang_id == f.id) {
        a.hung = false;
        trace("resume " + a.name);
      }
      return;
    case fault::detect_hang:
      if (a.hung && a.hang_id == f.id)
        for (int j = 0; j < opts_.nodes; ++j)
          if (j != f.a)
            break_link(f.a, j, true);
      return;
    case fault::cut:
      partition(f.side, f.ms);
      break;
    case fault::heal:
    case fault::detect_cut: {
      if (f.id != partition_id_)
        return;
      for (int x = 0; x < opts_.nodes; ++x)
        for (int y = x + 1; y < opts_.nodes; ++y)
          if (group_[static_cast<size_t>(x)] != group_[static_cast<size_t>(y)]
              && f.kind == fault::detect_cut)
            break_link(x, y, true);
      if (f.kind == fault::heal) {
        trace("heal");
        group_.assign(group_.size(), 0);
        release_blocked();
      }
      return;
    }
    case fault::reset:
      if (f.a != f.b && a.alive && nodes_[static_cast<size_t>(f.b)].alive)
        break_link(f.a, f.b, true);
      break;
    case fault::change:
      propose_change(f.a, f.b);
      break;
    case fault::slow:
      if (f.a != f.b) {
        trace("slow link " + a.name + " - "
              + nodes_[static_cast<size_t>(f.b)].name);
        link_of(f.a, f.b).slow_until = now() + milliseconds(f.ms);
        link_of(f.b, f.a).slow_until = now() + milliseconds(f.ms);
      }
      break;
  }
  ++faults_applied_;
}

/// What a partition held back flows again, in order per link.
void world::release_blocked() {
  for (int x = 0; x < opts_.nodes; ++x)
    for (int y = 0; y < opts_.nodes; ++y) {
      auto& l = link_of(x, y);
      while (!l.blocked.empty()) {
        auto at = std::max(now() + microseconds(100), l.last_release);
        l.last_release = at;
        timed_.emplace(std::make_pair(at, ++seq_),
                       std::move(l.blocked.front()));
        l.blocked.pop_front();
      }
    }
}

void world::heal_all() {
  trace("heal all");
  ++partition_id_;
  group_.assign(group_.size(), 0);
  for (auto& l : links_)
    l.slow_until = vtime{};
  release_blocked();
  for (int i = 0; i < opts_.nodes; ++i) {
    auto& nd = nodes_[static_cast<size_t>(i)];
    nd.hung = false;
    if (!nd.alive)
      start_node(i);
  }
  // Pending restarts, resumes and heals of the fault phase are moot now.
  faults_.clear();
}

// -- the run loop -----------------------------------------------------------------

bool world::runnable(caf::resumable* job) const {
  auto ptr = dynamic_cast<caf::scheduled_actor*>(job);
  if (ptr == nullptr)
    return true;
  auto i = owner_.find(ptr->id());
  return i == owner_.end() || !nodes_[static_cast<size_t>(i->second.first)].hung
         || i->second.second != nodes_[static_cast<size_t>(i->second.first)].incarnation;
}

void world::run_ready_jobs() {
  std::vector<size_t> ready;
  uint64_t steps = 0;
  for (;;) {
    auto& jobs = sched_->jobs;
    auto any_hung = std::any_of(nodes_.begin(), nodes_.end(),
                                [](const sim_node& nd) { return nd.hung; });
    size_t pick = 0;
    if (any_hung) {
      ready.clear();
      for (size_t i = 0; i < jobs.size(); ++i)
        if (runnable(jobs[i]))
          ready.push_back(i);
      if (ready.empty())
        return;
      pick = ready[rng_() % ready.size()];
    } else {
      if (jobs.empty())
        return;
      pick = rng_() % jobs.size();
    }
    if (++steps > 2000000) {
      livelock_ = true;
      return;
    }
    if (pick != 0)
      std::rotate(jobs.begin(), jobs.begin() + static_cast<long>(pick),
                  jobs.begin() + static_cast<long>(pick) + 1);
    auto ptr = dynamic_cast<caf::scheduled_actor*>(jobs.front());
    current_node_ = -1;
    if (ptr != nullptr) {
      auto i = owner_.find(ptr->id());
      if (i != owner_.end()) {
        current_node_ = i->second.first;
        current_incarnation_ = i->second.second;
      }
    }
    sched_->try_run_once();
    current_node_ = -1;
  }
}

vtime world::next_event() const {
  auto t = vtime::max();
  auto& timers = sched_->clock().schedule();
  if (!timers.empty())
    t = std::min(t, timers.begin()->first);
  if (!timed_.empty())
    t = std::min(t, timed_.begin()->first.first);
  if (!faults_.empty())
    t = std::min(t, faults_.begin()->first.first);
  return t;
}

void world::trace(const std::string& line) {
  if (!opts_.trace)
    return;
  auto us = duration_cast<microseconds>(now() - t0_).count();
  trace_ << us << "us " << line << '\n';
}

sim_result world::run() {
  network_ = sys_->spawn(sim_network, this);
  for (int i = 0; i < opts_.nodes; ++i)
    start_node(i);
  for (int k = 0; k < opts_.flood; ++k)
    for (auto& nd : nodes_) {
      caf::anon_send(nd.supervisor, dtask::tick_atom::value);
      caf::anon_send(nd.supervisor, dtask::watchdog_atom::value);
      caf::anon_send(nd.supervisor, dtask::join_atom::value);
      caf::anon_send(nd.registry, dtask::tick_atom::value);
      caf::anon_send(nd.registry, dtask::flush_atom::value);
    }
  schedule_faults();
  client_ = sys_->spawn(sim_client, this, opts_.starts, opts_.fault_ms,
                        opts_.stops);
  auto faults_end = t0_ + milliseconds(opts_.fault_ms);
  auto end = faults_end + milliseconds(opts_.drain_ms);
  bool healed = false;
  for (;;) {
    run_ready_jobs();
    if (livelock_)
      break;
    auto t = next_event();
    if (!healed)
      t = std::min(t, faults_end);
    if (t > end)
      break;
    if (t > now())
      sched_->clock().advance_time(t - now());
    release_due();
    if (!healed && now() >= faults_end) {
      heal_all();
      healed = true;
    }
    while (!faults_.empty() && faults_.begin()->first.first <= now()) {
      auto f = faults_.begin()->second;
      faults_.erase(faults_.begin());
      apply(f);
    }
  }
  final_round();
  sim_result result;
  check(result);
  result.messages = messages_;
  result.faults = faults_applied_;
  if (opts_.trace)
    result.trace = trace_.str();
  return result;
}

/// Asks every node whom it follows, and lets the answers arrive.
void world::final_round() {
  if (livelock_)
    return;
  caf::anon_send(client_, probe_atom::value);
  auto until = now() + seconds(3);
  while (final_views.size() < live_supervisors().size()) {
    run_ready_jobs();
    auto t = next_event();
    if (t > until || livelock_)
      break;
    if (t > now())
      sched_->clock().advance_time(t - now());
    release_due();
  }
}

void world::check(sim_result& result) {
  auto ms = [&](int64_t t) { return (t - t0_.time_since_epoch().count()) / 1000000; };
  if (livelock_) {
    result.violations.push_back("livelock: a virtual instant never ended");
    result.violation_ms.push_back(ms(now_ns()));
    return;
  }
  dtask_test::invariant_texts in;
  in.event_logs = recs_.event_logs;
  in.client_logs.push_back(recs_.client_log.str());
  in.kill_log = recs_.kill_log.str();
  in.stamps = recs_.stamps.str();
  in.killed_end_at_last_stamp = true;
  auto rep = dtask_test::check_invariant_texts(in);
  for (size_t i = 0; i < rep.violations.size(); ++i) {
    result.violations.push_back(rep.violations[i]);
    result.violation_ms.push_back(ms(rep.violation_times[i]));
  }
  for (auto& v : late_violations_) {
    result.violations.push_back(v.second);
    result.violation_ms.push_back(ms(v.first));
  }
  // Every node agrees on one orchestrator after the heal.
  std::set<std::string> views;
  std::string all;
  for (auto& kvp : final_views) {
    views.insert(kvp.second);
    all += " " + kvp.first + "->" + kvp.second;
  }
  if (views.size() != 1 || final_views.size() != live_supervisors().size()
      || views.begin()->compare(0, 6, "error:") == 0) {
    result.violations.push_back("no single orchestrator after the heal:"
                                + all);
    result.violation_ms.push_back(ms(now_ns()));
  }
  result.accepted = rep.accepted;
  result.instances = rep.starts;
}

void world::shutdown() {
  if (!sys_)
    return;
  for (auto& nd : nodes_)
    for (auto& addr : nd.actors)
      if (auto h = caf::actor_cast<caf::actor>(addr))
        dtask::stop_actor(h, caf::exit_reason::kill);
  caf::anon_send_exit(client_, caf::exit_reason::kill);
  caf::anon_send_exit(network_, caf::exit_reason::kill);
  client_ = nullptr;
  network_ = nullptr;
  for (auto& nd : nodes_) {
    nd.supervisor = nullptr;
    nd.registry = nullptr;
    nd.alive = false;
  }
  timed_.clear();
  for (auto& l : links_)
    l.blocked.clear();
  // Run until every actor is gone; timers then fire into dead actors.
  for (int round = 0; round < 100; ++round) {
    while (sched_->try_run_once()) {
      // nop
    }
    if (!sched_->has_pending_timeout())
      break;
    sched_->trigger_timeouts();
  }
  sys_.reset();
}

} // namespace dtask_sim
