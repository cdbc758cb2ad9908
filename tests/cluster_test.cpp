// Multi-process tests: real `dtask-node` processes on loopback, killed and
// stopped for real, checked through the CLI and the client library as users
// would see them. Test names carry the numbered item of the core issue they
// hold the code to.

#include <atomic>
#include <condition_variable>
#include <fstream>
#include <sstream>
#include <map>
#include <mutex>
#include <thread>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <gtest/gtest.h>

#include "cluster_harness.hpp"
#include "dtask/client.hpp"
#include "dtask/errors.hpp"
#include "dtask/names.hpp"
#include "dtask/node.hpp"
#include "dtask/ring.hpp"
#include "dtask/utf8.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;
using dtask_test::wait_until;
using dtask_test::mono_now_ns;

namespace {

// A failed test shows the logs of its nodes.
const bool dump_logs_installed = [] {
  dtask_test::dump_logs_if = [] { return ::testing::Test::HasFailure(); };
  return true;
}();

caf::actor_system_config& prepared(caf::actor_system_config& cfg) {
  dtask::configure(cfg);
  return cfg;
}

/// Collects the callback messages one actor receives.
struct inbox {
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<dtask::task_status> received;

  /// Waits until `n` messages arrived; false after `timeout`.
  bool wait_for(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> guard{mtx};
    return cv.wait_for(guard, timeout, [&] { return received.size() >= n; });
  }

  std::vector<dtask::task_status> copy() {
    std::unique_lock<std::mutex> guard{mtx};
    return received;
  }
};

/// A process-local actor system with a client, as a user's program has.
struct local_client {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::optional<dtask::client> cli;
  std::vector<caf::actor> spawned;

  explicit local_client(const cluster& c, int gateway = 0)
    : sys(prepared(cfg)) {
    auto res = dtask::client::connect(sys, {"127.0.0.1", c.port(gateway)});
    if (res)
      cli = std::move(*res);
    else
      ADD_FAILURE() << "cannot connect: " << caf::to_string(res.error());
  }

  ~local_client() {
    if (cli)
      caf::anon_send_exit(cli->actor(), caf::exit_reason::kill);
    for (auto& hdl : spawned)
      caf::anon_send_exit(hdl, caf::exit_reason::kill);
  }

  /// An actor that records every message it receives in `box`.
  caf::actor recorder(std::shared_ptr<inbox> box) {
    auto hdl = sys.spawn([box](caf::event_based_actor*) -> caf::behavior {
      return {
        [box](dtask::task_status& st) {
          std::unique_lock<std::mutex> guard{box->mtx};
          box->received.push_back(std::move(st));
          box->cv.notify_all();
        },
      };
    });
    spawned.push_back(hdl);
    return hdl;
  }

  caf::expected<dtask::task_ref> start(const std::string& type,
                                       caf::message args,
                                       const std::string& name = "",
                                       caf::actor callback = {}) {
    dtask::start_options opts;
    opts.name = name;
    opts.callback = std::move(callback);
    opts.want_worker = true; // The tests compare workers.
    return cli->start(type, std::move(args), std::move(opts));
  }

  /// The state of `name`, or the error code.
  std::string state(const std::string& name) {
    auto st = cli->status(name);
    return st ? dtask::to_string(st->state) : dtask::code_name(st.error());
  }

  /// The node id of the process listening at `port`.
  caf::node_id node_of(uint16_t port) {
    auto hdl = sys.middleman().remote_actor<dtask::gateway_api>("127.0.0.1", port);
    return hdl ? hdl->node() : caf::node_id{};
  }
};

/// A name that the ring of `c`'s running nodes places on node `target`.
std::string name_on(cluster& c, int target, const std::string& prefix) {
  dtask::hash_ring ring;
  std::vector<std::string> names;
  for (int i = 0; i < c.size(); ++i)
    if (c.running(i))
      names.push_back(c.name(i));
  ring.assign(names);
  for (int i = 0;; ++i) {
    auto name = prefix + std::to_string(i);
    if (ring.owner(name) == c.name(target))
      return name;
  }
}

/// Success if every line `res` printed on stdout is valid UTF-8; else the
/// first line that is not, escaped.
::testing::AssertionResult stdout_is_utf8(const dtask_test::run_result& res) {
  for (auto& line : res.lines)
    if (dtask::invalid_utf8_at(line) != std::string::npos)
      return ::testing::AssertionFailure()
             << "not UTF-8: " << dtask::escaped(line, 200);
  return ::testing::AssertionSuccess();
}

int other_than(int a, int b = -1) {
  for (int i = 0;; ++i)
    if (i != a && i != b)
      return i;
}

} // namespace

// -- 1. cluster ---------------------------------------------------------------

TEST(cluster_1, every_node_knows_every_member_and_one_orchestrator) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  for (int i = 0; i < 3; ++i) {
    std::string orch;
    auto ms = c.members(i, &orch, "members");
    EXPECT_EQ(ms.size(), 3u) << "node " << c.name(i);
    EXPECT_GE(c.index_of(orch), 0);
  }
}

TEST(cluster_1, nodes_joining_through_one_seed_connect_to_each_other) {
  cluster c{3, "", DTASK_NODE_BIN, true};
  ASSERT_TRUE(c.start_all());
  // Node 0 is the only seed: 1 and 2 know each other through it.
  EXPECT_EQ(c.members(1, nullptr, "members").size(), 3u);
  EXPECT_EQ(c.members(2, nullptr, "members").size(), 3u);
  // Without it they stay connected, but the seeds list is the cluster's
  // voting membership: node 0 alone was the majority, so 1 and 2 refuse
  // starts rather than risk running a name twice.
  c.signal(0, SIGKILL);
  ASSERT_TRUE(wait_until(
    [&] { return c.members(1, nullptr, "members").size() == 2; }, 10s));
  auto res = c.cli({"start", "sleep", "10", "--retry-window=500"}, 1);
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("error"), "no_quorum") << res.lines.size();
}

TEST(cluster_1, a_restarted_node_rejoins) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto victim = other_than(c.orchestrator());
  c.signal(victim, SIGKILL);
  ASSERT_TRUE(wait_until([&] { return c.formed(); }, 10s));
  EXPECT_EQ(c.members(-1).size(), 2u);
  ASSERT_TRUE(c.start(victim));
  ASSERT_TRUE(wait_until([&] { return c.formed(); }, 10s));
  EXPECT_EQ(c.members(-1).size(), 3u);
  // And it runs tasks again.
  auto name = name_on(c, victim, "back-");
  auto res = c.cli({"start", "echo", "hi", "--name=" + name, "--wait"});
  ASSERT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.field("node"), c.name(victim));
  EXPECT_EQ(res.field("state", 1), "done");
}

TEST(cluster_1, broken_configuration_stops_the_node_naming_the_key) {
  auto dir = ::testing::TempDir();
  struct bad {
    const char* ini;
    const char* key;
  };
  for (auto& b : {bad{"[cluster]\nport=\"abc\"\n", "cluster.port"},
                  bad{"[cluster]\nport=70000\n", "cluster.port"},
                  bad{"[cluster]\nseeds=[\"127.0.0.1\"]\n", "cluster.seeds"},
                  bad{"[cluster]\nfinished-ttl=\"soon\"\n",
                      "cluster.finished-ttl"},
                  bad{"[cluster]\nprot=4101\n", "cluster.prot"}}) {
    auto path = dir + "dtask-bad.ini";
    std::ofstream{path} << b.ini;
    auto res = dtask_test::run({DTASK_NODE_BIN, "--config-file=" + path});
    EXPECT_EQ(res.rc, 2) << b.ini;
    EXPECT_NE(res.err.find(b.key), std::string::npos) << res.err;
  }
  auto res = dtask_test::run(
    {DTASK_NODE_BIN, "--cluster.port=" + std::to_string(dtask_test::free_port()),
     "--cluster.seeds=nonsense"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("cluster.seeds"), std::string::npos) << res.err;
}

TEST(cluster_1, a_port_in_use_is_an_error_not_a_hang) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  auto res = dtask_test::run(
    {DTASK_NODE_BIN, "--cluster.port=" + std::to_string(c.port(0))}, 10s);
  EXPECT_EQ(res.rc, 1) << res.err;
  EXPECT_NE(res.err.find("cannot start"), std::string::npos) << res.err;
}

// -- 2. tasks are actor behaviours --------------------------------------------

TEST(cluster_2, builtin_task_types) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto res = c.cli({"start", "sleep", "50", "--wait"});
  ASSERT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.field("result", 1), "[50]");
  res = c.cli({"start", "echo", "a", "7", "--wait"});
  EXPECT_EQ(res.field("result", 1), "[\"a\",7]");
  res = c.cli({"start", "fail", "out", "of", "disk", "--wait"});
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("state", 1), "failed");
  EXPECT_EQ(res.field("reason", 1), "out of disk");
  res = c.cli({"start", "sleep", "soon", "--wait"});
  EXPECT_EQ(res.field("state", 1), "failed");
  EXPECT_NE(res.field("reason", 1).find("sleep expects"), std::string::npos);
}

TEST(cluster_2, a_users_own_node_program_runs_its_own_task_type) {
  cluster c{3, "", DTASK_EXAMPLE_NODE_BIN};
  ASSERT_TRUE(c.start_all());
  for (int i = 0; i < 6; ++i) {
    auto res = c.cli({"start", "square", std::to_string(i), "--wait"}, i % 3);
    ASSERT_EQ(res.rc, 0) << res.err;
    EXPECT_EQ(res.field("result", 1), "[" + std::to_string(i * i) + "]");
  }
  auto res = c.cli({"start", "square", "x", "--wait"});
  EXPECT_EQ(res.field("reason", 1), "square expects one integer");
}

// -- 3. start_async -----------------------------------------------------------

TEST(cluster_3, tasks_really_run_on_the_node_the_ring_picks) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  std::map<std::string, caf::node_id> ids;
  for (int i = 0; i < 3; ++i)
    ids[c.name(i)] = lc.node_of(c.port(i));
  dtask::hash_ring ring;
  ring.assign({c.name(0), c.name(1), c.name(2)});
  std::map<std::string, int> count;
  const int total = 3000;
  int without_worker = 0;
  for (int i = 0; i < total; ++i) {
    auto name = "spread-" + std::to_string(i);
    auto ref = lc.start("echo", caf::make_message(i), name);
    ASSERT_TRUE(ref) << caf::to_string(ref.error());
    // Same placement in this process as in the orchestrator's...
    ASSERT_EQ(ref->node, ring.owner(name));
    // ...and the worker really lives in that node's process. (A start the
    // client retried after its `echo` already ended is answered without a
    // handle: the worker is gone. Seen on a loaded machine.)
    if (ref->worker)
      ASSERT_EQ(ref->worker.node(), ids[ref->node]) << name;
    else
      ++without_worker;
    ++count[ref->node];
  }
  EXPECT_LT(without_worker, total / 10);
  ASSERT_EQ(count.size(), 3u);
  double max_ratio = 0;
  for (auto& kvp : count) {
    auto ratio = kvp.second / (total / 3.0);
    max_ratio = std::max(max_ratio, ratio);
    EXPECT_LE(ratio, 1.10) << kvp.first;
  }
  RecordProperty("spread_max_over_mean", std::to_string(max_ratio));
  std::cout << "spread: " << total << " tasks over 3 nodes, max/mean "
            << max_ratio << std::endl;
}

TEST(cluster_3, without_a_name_a_uuid_is_the_name) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  auto res = c.cli({"start", "echo"});
  ASSERT_EQ(res.rc, 0);
  auto name = res.field("name");
  EXPECT_EQ(name.size(), 36u) << name;
  EXPECT_EQ(name[8], '-');
  EXPECT_EQ(name[14], '4'); // Version 4: random.
  auto other = c.cli({"start", "echo"}).field("name");
  EXPECT_NE(other, name);
  EXPECT_EQ(c.cli({"status", name}).field("state"), "done");
}

TEST(cluster_3, a_running_name_is_refused_with_the_running_worker) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c, 1};
  auto first = lc.start("sleep", caf::make_message(int64_t{5000}), "dup");
  ASSERT_TRUE(first);
  for (int via = 0; via < 3; ++via) {
    auto again = c.cli({"start", "sleep", "10", "--name=dup"}, via);
    EXPECT_EQ(again.rc, 1);
    EXPECT_EQ(again.field("error"), "already_running");
    EXPECT_EQ(again.field("node"), first->node);
  }
  auto again = lc.start("echo", caf::make_message(), "dup");
  ASSERT_FALSE(again);
  ASSERT_TRUE(dtask::is(again.error(), dtask::errc::already_running));
  auto& ctx = again.error().context();
  ASSERT_TRUE((ctx.match_elements<std::string, std::string, caf::actor>()));
  EXPECT_EQ(ctx.get_as<caf::actor>(2), first->worker);
  EXPECT_EQ(lc.state("dup"), "running");
  // A start that does not ask for the worker's handle gets none.
  dtask::start_options plain;
  plain.name = "plain";
  auto ref = lc.cli->start("sleep", caf::make_message(int64_t{5000}), plain);
  ASSERT_TRUE(ref);
  EXPECT_FALSE(ref->worker);
  EXPECT_FALSE(ref->node.empty());
}

TEST(cluster_3, concurrent_starts_of_one_name_run_it_once) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  std::vector<std::thread> threads;
  std::mutex mtx;
  std::vector<dtask_test::run_result> results;
  for (int i = 0; i < 12; ++i)
    threads.emplace_back([&, i] {
      auto res = c.cli({"start", "sleep", "60000", "--name=once"}, i % 3);
      std::unique_lock<std::mutex> guard{mtx};
      results.push_back(res);
    });
  for (auto& t : threads)
    t.join();
  int accepted = 0;
  int refused = 0;
  std::set<std::string> nodes;
  for (auto& res : results) {
    if (res.rc == 0)
      ++accepted;
    else if (res.field("error") == "already_running")
      ++refused;
    else
      ADD_FAILURE() << "rc " << res.rc << ", stdout "
                    << (res.lines.empty() ? "" : res.lines[0]) << ", stderr "
                    << res.err;
    nodes.insert(res.field("node"));
  }
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(refused, 11);
  EXPECT_EQ(nodes.size(), 1u);
}

TEST(cluster_3, a_retried_start_is_answered_as_the_first_never_run_twice) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  auto box = std::make_shared<inbox>();
  auto cb = lc.recorder(box);
  dtask::start_options opts;
  opts.name = "retried";
  opts.callback = cb;
  opts.token = 42;
  auto first = lc.cli->start("echo", caf::make_message("one"), opts);
  ASSERT_TRUE(first);
  ASSERT_TRUE(box->wait_for(1, 10s));
  // The same attempt again (a client that timed out and retried): answered
  // as the first start although that one already ended.
  auto again = lc.cli->start("echo", caf::make_message("two"), opts);
  ASSERT_TRUE(again) << caf::to_string(again.error());
  EXPECT_EQ(again->node, first->node);
  // Barrier: a duplicate callback would arrive before this one.
  ASSERT_TRUE(lc.start("echo", caf::make_message(), "after-retry", cb));
  ASSERT_TRUE(box->wait_for(2, 10s));
  auto got = box->copy();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].result.get_as<std::string>(0), "one");
  EXPECT_EQ(got[1].name, "after-retry");
  // A new attempt (another token) does start the finished name again.
  opts.token = 43;
  ASSERT_TRUE(lc.cli->start("echo", caf::make_message("three"), opts));
  EXPECT_TRUE(wait_until(
    [&] {
      auto st = lc.cli->status("retried");
      return st && st->state == dtask::task_state::done
             && st->result.get_as<std::string>(0) == "three";
    },
    5s));
}

TEST(cluster_3, a_finished_name_may_be_started_again) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  EXPECT_EQ(c.cli({"start", "echo", "--name=again", "--wait"}).rc, 0);
  auto res = c.cli({"start", "echo", "2", "--name=again", "--wait"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.field("result", 1), "[2]");
}

TEST(cluster_3, bad_input_is_refused_with_a_clear_error) {
  cluster c{1, "max-args-bytes=1000"};
  ASSERT_TRUE(c.start_all());
  auto res = c.cli({"start", "nosuchtype"});
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("error"), "unknown_task_type");
  EXPECT_EQ(res.field("type"), "nosuchtype");
  res = c.cli({"start", "echo", "--name=" + std::string(256, 'n')});
  EXPECT_EQ(res.field("error"), "invalid_name");
  EXPECT_NE(res.field("reason").find("256 bytes"), std::string::npos);
  res = c.cli({"start", "echo", "--name=bad\x01name"});
  EXPECT_EQ(res.field("error"), "invalid_name");
  res = c.cli({"start", "echo", "--name="});
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("error"), "invalid_name");
  EXPECT_EQ(res.field("reason"), "the name is empty");
  res = c.cli({"start", "echo", std::string(2000, 'x')});
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("error"), "args_too_large");
  EXPECT_EQ(res.field("limit"), "1000");
  // The node is still fine.
  EXPECT_EQ(c.cli({"start", "echo", "ok", "--wait"}).rc, 0);
}

// -- 4. callbacks -------------------------------------------------------------

TEST(cluster_4, a_callback_in_another_process_gets_exactly_one_message) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  auto box = std::make_shared<inbox>();
  auto cb = lc.recorder(box);
  ASSERT_TRUE(lc.start("echo", caf::make_message("x"), "cb-done", cb));
  ASSERT_TRUE(lc.start("fail", caf::make_message("no"), "cb-failed", cb));
  ASSERT_TRUE(box->wait_for(2, 10s));
  // A barrier: the same orchestrator sends every callback to `cb` in order,
  // so a duplicate of the two above would arrive before this one.
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{100}), "cb-late", cb));
  ASSERT_TRUE(box->wait_for(3, 10s));
  auto got = box->copy();
  ASSERT_EQ(got.size(), 3u);
  std::map<std::string, dtask::task_status> by_name;
  for (auto& st : got)
    by_name[st.name] = st;
  EXPECT_EQ(by_name["cb-done"].state, dtask::task_state::done);
  EXPECT_EQ(by_name["cb-done"].result.get_as<std::string>(0), "x");
  EXPECT_EQ(by_name["cb-failed"].state, dtask::task_state::failed);
  EXPECT_EQ(by_name["cb-failed"].reason, "no");
  EXPECT_EQ(by_name["cb-late"].state, dtask::task_state::done);
}

// `stop`: the task ends `cancelled`, saying who asked, its callback says
// so, the answer comes once the name is free (it starts again at once), and
// stopping an ended task answers its status.
TEST(cluster_4, a_stopped_task_ends_cancelled_and_frees_its_name) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  auto box = std::make_shared<inbox>();
  auto cb = lc.recorder(box);
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{60000}), "halt", cb));
  auto stopped = lc.cli->stop("halt");
  ASSERT_TRUE(stopped) << caf::to_string(stopped.error());
  EXPECT_EQ(stopped->state, dtask::task_state::cancelled);
  EXPECT_EQ(stopped->reason.rfind("stopped on request of ", 0), 0u)
    << stopped->reason;
  ASSERT_TRUE(box->wait_for(1, 10s));
  EXPECT_EQ(box->copy().front().state, dtask::task_state::cancelled);
  EXPECT_EQ(c.cli({"status", "halt"}).field("state"), "cancelled");
  // The name is free: it starts again at once.
  auto again = lc.start("sleep", caf::make_message(int64_t{60000}), "halt");
  ASSERT_TRUE(again) << caf::to_string(again.error());
  // A task that ended already is answered with its status.
  ASSERT_TRUE(lc.start("echo", caf::make_message("e"), "ended"));
  ASSERT_TRUE(dtask_test::wait_until(
    [&] { return c.cli({"status", "ended"}).field("state") == "done"; }, 10s));
  auto ended = lc.cli->stop("ended");
  ASSERT_TRUE(ended);
  EXPECT_EQ(ended->state, dtask::task_state::done);
  auto missing = lc.cli->stop("never-started");
  ASSERT_FALSE(missing);
  EXPECT_TRUE(dtask::is(missing.error(), dtask::errc::not_found));
  // The CLI: exit 0 and the cancelled status (again for a second stop);
  // exit 1 with the status of a task that ended otherwise.
  ASSERT_EQ(c.cli({"start", "sleep", "60000", "--name=cli-halt"}).rc, 0);
  auto res = c.cli({"stop", "cli-halt"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.field("state"), "cancelled");
  res = c.cli({"stop", "cli-halt"});
  EXPECT_EQ(res.rc, 0);
  EXPECT_EQ(res.field("state"), "cancelled");
  res = c.cli({"stop", "ended"});
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("state"), "done");
}

// `task_context::progress`: the built-in sleep reports its elapsed
// milliseconds once a second; `status` and `list` show the latest while it
// runs, and the final status has none.
TEST(cluster_4, a_running_task_shows_its_latest_progress) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  ASSERT_EQ(c.cli({"start", "sleep", "3500", "--name=slow"}).rc, 0);
  std::string seen;
  EXPECT_TRUE(dtask_test::wait_until(
    [&] {
      seen = c.cli({"status", "slow"}).field("progress");
      return seen == "[2000]" || seen == "[3000]";
    },
    10s))
    << "progress: " << seen;
  auto listed = c.cli({"list"});
  ASSERT_FALSE(listed.lines.empty());
  EXPECT_NE(listed.field("progress"), "") << listed.lines.front();
  ASSERT_TRUE(dtask_test::wait_until(
    [&] { return c.cli({"status", "slow"}).field("state") == "done"; }, 10s));
  EXPECT_EQ(c.cli({"status", "slow"}).field("progress"), "");
}

TEST(cluster_4, a_dead_or_crashing_callback_does_not_change_the_status) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  auto dead = lc.sys.spawn([] {});
  auto crashing = lc.sys.spawn([](caf::event_based_actor* self)
                                 -> caf::behavior {
    return {
      [self](dtask::task_status&) { self->quit(caf::sec::runtime_error); },
    };
  });
  lc.spawned.push_back(crashing);
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{50}), "cb-dead",
                       dead));
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{50}), "cb-crash",
                       crashing));
  EXPECT_TRUE(wait_until([&] { return lc.state("cb-dead") == "done"; }, 5s));
  EXPECT_TRUE(wait_until([&] { return lc.state("cb-crash") == "done"; }, 5s));
}

// -- 5. status ----------------------------------------------------------------

TEST(cluster_5, fast_tasks_are_done_not_failed) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  for (int i = 0; i < 200; ++i) {
    auto name = "fast-" + std::to_string(i);
    ASSERT_TRUE(lc.start(i % 2 ? "echo" : "sleep",
                         caf::make_message(int64_t{0}), name));
  }
  for (int i = 0; i < 200; ++i) {
    auto name = "fast-" + std::to_string(i);
    EXPECT_TRUE(wait_until([&] { return lc.state(name) == "done"; }, 5s))
      << name << " is " << lc.state(name);
  }
}

TEST(cluster_5, status_and_list_report_every_state) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  EXPECT_EQ(c.cli({"start", "sleep", "20000", "--name=s-running"}).rc, 0);
  EXPECT_EQ(c.cli({"start", "echo", "1", "--name=s-done", "--wait"}).rc, 0);
  EXPECT_EQ(c.cli({"start", "fail", "bad", "--name=s-failed", "--wait"}).rc,
            1);
  auto res = c.cli({"status", "s-running"});
  EXPECT_EQ(res.rc, 0);
  EXPECT_EQ(res.field("state"), "running");
  EXPECT_GE(c.index_of(res.field("node")), 0);
  res = c.cli({"status", "s-done"});
  EXPECT_EQ(res.field("state"), "done");
  EXPECT_EQ(res.field("result"), "[1]");
  res = c.cli({"status", "s-failed"});
  EXPECT_EQ(res.field("state"), "failed");
  EXPECT_EQ(res.field("reason"), "bad");
  res = c.cli({"status", "s-never"});
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("error"), "not_found");
  EXPECT_EQ(res.field("name"), "s-never");
  res = c.cli({"list"});
  EXPECT_EQ(res.rc, 0);
  std::map<std::string, std::string> states;
  for (auto& line : res.lines)
    states[dtask_test::json_field(line, "name")]
      = dtask_test::json_field(line, "state");
  EXPECT_EQ(states["s-running"], "running");
  EXPECT_EQ(states["s-done"], "done");
  EXPECT_EQ(states["s-failed"], "failed");
}

TEST(cluster_5, finished_tasks_are_kept_for_the_ttl_then_forgotten) {
  cluster c{3, "finished-ttl=2s"};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  auto box = std::make_shared<inbox>();
  auto sent = std::chrono::steady_clock::now();
  ASSERT_TRUE(lc.start("echo", caf::make_message(), "ttl", lc.recorder(box)));
  ASSERT_TRUE(box->wait_for(1, 5s));
  auto ended = std::chrono::steady_clock::now();
  // The task ended after `sent` and before `ended`: it must be visible until
  // sent + TTL and gone by ended + TTL + 1 s.
  // (A status round trip takes well under the 50 ms margin.)
  while (std::chrono::steady_clock::now() < sent + 2s - 50ms) {
    ASSERT_EQ(lc.state("ttl"), "done");
    std::this_thread::sleep_for(50ms); // The polling interval.
  }
  EXPECT_TRUE(wait_until([&] { return lc.state("ttl") == "not_found"; },
                         std::chrono::duration_cast<std::chrono::milliseconds>(
                           ended + 3s - std::chrono::steady_clock::now())));
}

// -- 6. orchestrator failover -------------------------------------------------

TEST(cluster_6, orchestrator_failover_is_invisible_to_callers) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  ASSERT_GE(orch, 0);
  auto gateway = other_than(orch);
  auto survivor = other_than(orch, gateway);
  local_client lc{c, gateway};
  auto box = std::make_shared<inbox>();
  auto name = name_on(c, survivor, "keeps-running-");
  auto first = lc.start("sleep", caf::make_message(int64_t{3000}), name,
                        lc.recorder(box));
  ASSERT_TRUE(first);
  // A caller that keeps starting tasks while the orchestrator's node dies.
  std::atomic<bool> killed{false};
  std::atomic<int> errors{0};
  std::atomic<int> after_kill{0};
  std::chrono::steady_clock::time_point kill_time;
  std::chrono::steady_clock::time_point first_ok_after;
  std::string first_error;
  std::thread caller([&] {
    for (int i = 0; after_kill < 50 && i < 100000; ++i) {
      auto ref = lc.start("echo", caf::make_message(i), "");
      if (!ref) {
        if (errors++ == 0)
          first_error = caf::to_string(ref.error());
      } else if (killed && after_kill++ == 0) {
        first_ok_after = std::chrono::steady_clock::now();
      }
    }
  });
  std::this_thread::sleep_for(200ms); // Let the caller run at full speed.
  kill_time = std::chrono::steady_clock::now();
  c.signal(orch, SIGKILL);
  killed = true;
  caller.join();
  EXPECT_EQ(errors, 0) << first_error;
  ASSERT_EQ(after_kill, 50);
  auto ms = std::chrono::duration_cast<std::chrono::microseconds>(
              first_ok_after - kill_time)
              .count()
            / 1000.0;
  RecordProperty("failover_ms", std::to_string(ms));
  std::cout << "failover: first start after SIGKILL succeeded " << ms
            << " ms after the kill" << std::endl;
  // Exactly one new orchestrator, on a survivor.
  ASSERT_TRUE(wait_until([&] { return c.formed(); }, 10s));
  auto next = c.orchestrator();
  EXPECT_NE(next, orch);
  EXPECT_GE(next, 0);
  // The task on the survivor kept running: the new orchestrator refuses a
  // second instance and names the running worker (which it fetches from the
  // task's registry: it rebuilt its table without handles).
  auto dup = lc.start("sleep", caf::make_message(int64_t{10}), name);
  ASSERT_FALSE(dup);
  ASSERT_TRUE(dtask::is(dup.error(), dtask::errc::already_running))
    << caf::to_string(dup.error());
  EXPECT_EQ(dup.error().context().get_as<caf::actor>(2), first->worker);
  // And it still delivers its callback.
  auto st = lc.state(name);
  EXPECT_TRUE(st == "running" || st == "done") << st;
  ASSERT_TRUE(box->wait_for(1, 10s));
  EXPECT_EQ(box->copy()[0].state, dtask::task_state::done);
  EXPECT_EQ(lc.state(name), "done");
  // Only one callback: a barrier through the new orchestrator.
  ASSERT_TRUE(lc.start("echo", caf::make_message(), "barrier",
                       lc.recorder(box)));
  ASSERT_TRUE(box->wait_for(2, 10s));
  EXPECT_EQ(box->copy().size(), 2u);
}

// -- 7. node death ------------------------------------------------------------

TEST(cluster_7, tasks_of_a_dead_node_are_lost_and_their_callbacks_say_so) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto victim = other_than(orch);
  local_client lc{c, orch};
  auto box = std::make_shared<inbox>();
  auto cb = lc.recorder(box);
  auto on_victim = name_on(c, victim, "doomed-");
  auto on_orch = name_on(c, orch, "safe-");
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{60000}), on_victim,
                       cb));
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{60000}), on_orch));
  c.signal(victim, SIGKILL);
  ASSERT_TRUE(box->wait_for(1, 5s));
  auto got = box->copy();
  EXPECT_EQ(got[0].name, on_victim);
  EXPECT_EQ(got[0].state, dtask::task_state::lost);
  EXPECT_EQ(lc.state(on_victim), "lost");
  EXPECT_EQ(lc.state(on_orch), "running");
  auto res = c.cli({"status", on_victim}, orch);
  EXPECT_EQ(res.field("state"), "lost");
  EXPECT_EQ(res.field("node"), c.name(victim));
}

TEST(cluster_7, tasks_on_the_orchestrators_own_node_are_lost_too) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto gateway = other_than(orch);
  local_client lc{c, gateway};
  auto box = std::make_shared<inbox>();
  auto name = name_on(c, orch, "with-orch-");
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{60000}), name,
                       lc.recorder(box)));
  c.signal(orch, SIGKILL);
  ASSERT_TRUE(box->wait_for(1, 10s));
  EXPECT_EQ(box->copy()[0].state, dtask::task_state::lost);
  EXPECT_EQ(lc.state(name), "lost");
}

// -- 8. hangs -----------------------------------------------------------------

TEST(cluster_8, a_stopped_node_is_treated_as_dead_within_about_a_second) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto victim = other_than(orch);
  local_client lc{c, orch};
  auto name = name_on(c, victim, "hung-");
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{60000}), name));
  auto stopped = std::chrono::steady_clock::now();
  auto since_stop = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now() - stopped)
      .count();
  };
  c.signal(victim, SIGSTOP);
  ASSERT_TRUE(wait_until([&] { return c.members(orch).size() == 2u; }, 5s));
  auto detect_ms = since_stop();
  RecordProperty("hang_detect_ms", std::to_string(detect_ms));
  std::cout << "hang detection: " << detect_ms << " ms" << std::endl;
  EXPECT_LE(detect_ms, 1500);
  // The task is declared lost only once the stopped node's lease surely
  // ended (its last lease request left before the SIGSTOP, so its lease
  // ends within 1.5 s of it), never before: the name may run elsewhere then.
  ASSERT_TRUE(wait_until([&] { return lc.state(name) == "lost"; }, 8s));
  auto lost_ms = since_stop();
  std::cout << "lost after: " << lost_ms << " ms" << std::endl;
  EXPECT_GE(lost_ms, 1500);
  EXPECT_LE(lost_ms, detect_ms + 1500 + 250 + 1000);
}

TEST(cluster_8, a_resumed_node_rejoins_as_a_follower_and_its_lost_tasks_stop) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto victim = other_than(orch);
  local_client lc{c, orch};
  auto name = name_on(c, victim, "zombie-");
  auto ref = lc.start("sleep", caf::make_message(int64_t{60000}), name);
  ASSERT_TRUE(ref);
  c.signal(victim, SIGSTOP);
  ASSERT_TRUE(wait_until([&] { return lc.state(name) == "lost"; }, 8s));
  // Resume once every survivor dropped the node. (A hang that only some
  // nodes noticed is a partial partition, outside this test's scope.)
  for (int i = 0; i < 3; ++i) {
    if (i != victim) {
      ASSERT_TRUE(wait_until(
        [&] { return c.members(i, nullptr, "members").size() == 2; }, 5s));
    }
  }
  c.signal(victim, SIGCONT);
  ASSERT_TRUE(wait_until([&] { return c.formed(); }, 10s));
  // One orchestrator, the one the majority had; the task stays lost and its
  // worker is stopped by its own node as soon as it runs again: its lease
  // ran out during the hang.
  EXPECT_EQ(c.orchestrator(victim), orch);
  EXPECT_EQ(lc.state(name), "lost");
  auto stopped = std::string{"lease ran out; stopped 1 tasks"};
  EXPECT_TRUE(wait_until(
    [&] {
      std::ifstream in{c.log(victim)};
      std::stringstream text;
      text << in.rdbuf();
      return text.str().find(stopped) != std::string::npos;
    },
    5s));
}

/// The steady-clock times in a `stamp` task's file (see example-node.cpp).
std::vector<int64_t> stamps(const std::string& path) {
  std::vector<int64_t> result;
  std::ifstream in{path};
  uint64_t epoch = 0;
  int64_t ns = 0;
  while (in >> epoch >> ns)
    result.push_back(ns);
  return result;
}

TEST(cluster_8, a_resumed_node_runs_no_task_code_past_its_lease) {
  // Tasks with a side effect outside the cluster: each appends a timestamp
  // to a file of its own every 2 ms. When a hung node resumes, its workers'
  // timers are long overdue; none of them may run once the lease is over,
  // not even before the registry gets round to stopping them.
  cluster c{3, "", DTASK_EXAMPLE_NODE_BIN};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto victim = other_than(orch);
  local_client lc{c, orch};
  auto file = [&](const std::string& name) { return c.dir() + "/" + name; };
  std::vector<std::string> hung;
  std::vector<std::string> kept;
  for (int i = 0; i < 30; ++i) {
    auto h = name_on(c, victim, "stamp-" + std::to_string(i) + "-");
    auto k = name_on(c, orch, "kept-" + std::to_string(i) + "-");
    for (auto& name : {h, k})
      ASSERT_TRUE(lc.start("stamp", caf::make_message(file(name), "2"), name));
    hung.push_back(h);
    kept.push_back(k);
  }
  auto all_stamping = [&](const std::vector<std::string>& names) {
    for (auto& name : names)
      if (stamps(file(name)).empty())
        return false;
    return true;
  };
  ASSERT_TRUE(wait_until([&] { return all_stamping(hung); }, 10s));
  c.signal(victim, SIGSTOP);
  ASSERT_TRUE(wait_until([&] { return lc.state(hung[0]) == "lost"; }, 8s));
  for (int i = 0; i < 3; ++i) {
    if (i != victim) {
      ASSERT_TRUE(wait_until(
        [&] { return c.members(i, nullptr, "members").size() == 2; }, 5s));
    }
  }
  auto resumed = mono_now_ns();
  c.signal(victim, SIGCONT);
  ASSERT_TRUE(wait_until([&] { return c.formed(); }, 10s));
  // The other node's tasks ran on all along: stamps after the resume.
  ASSERT_TRUE(wait_until(
    [&] {
      for (auto& name : kept) {
        auto ns = stamps(file(name));
        if (ns.empty() || ns.back() <= resumed)
          return false;
      }
      return true;
    },
    5s));
  // The stopped node's tasks: no stamp after the resume, from any of them.
  size_t late = 0;
  std::string first_late;
  for (auto& name : hung) {
    EXPECT_EQ(lc.state(name), "lost") << name;
    for (auto ns : stamps(file(name)))
      if (ns > resumed && late++ == 0)
        first_late = name;
  }
  EXPECT_EQ(late, 0u) << "stamps written after the resume, e.g. by "
                      << first_late;
}

// -- 9. from other actors -----------------------------------------------------

TEST(cluster_9, any_actor_can_start_and_observe_tasks) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  local_client lc{c};
  auto box = std::make_shared<inbox>();
  auto cb = lc.recorder(box);
  // An event-based actor that talks to the client actor's typed interface.
  auto api = lc.cli->actor();
  auto user = lc.sys.spawn([api, cb](caf::event_based_actor* self) {
    dtask::start_options opts;
    opts.name = "from-actor";
    opts.callback = cb;
    self->request(api, std::chrono::seconds(10), dtask::start_atom::value,
                  std::string{"echo"}, caf::make_message("hello"), opts)
      .then([](const dtask::task_ref&) {});
  });
  ASSERT_TRUE(box->wait_for(1, 10s));
  EXPECT_EQ(box->copy()[0].result.get_as<std::string>(0), "hello");
  // An actor that only knows a node: the node's published actor takes the
  // same messages and hands them to the orchestrator.
  auto node = lc.sys.middleman().remote_actor<dtask::gateway_api>(
    "127.0.0.1", c.port(2));
  ASSERT_TRUE(node);
  auto typed = caf::actor_cast<dtask::orchestrator_api>(*node);
  caf::scoped_actor self{lc.sys};
  dtask::start_options opts;
  opts.name = "via-node";
  opts.callback = cb;
  self->request(typed, 10s, dtask::start_atom::value, std::string{"echo"},
                caf::make_message(int64_t{3}), opts)
    .receive([](const dtask::task_ref& ref) { EXPECT_EQ(ref.name, "via-node"); },
             [](caf::error& err) { ADD_FAILURE() << caf::to_string(err); });
  ASSERT_TRUE(box->wait_for(2, 10s));
  self->request(typed, 10s, dtask::status_atom::value, std::string{"via-node"})
    .receive(
      [](const dtask::task_status& st) {
        EXPECT_EQ(st.state, dtask::task_state::done);
      },
      [](caf::error& err) { ADD_FAILURE() << caf::to_string(err); });
  caf::anon_send_exit(user, caf::exit_reason::kill);
}

// -- 10. restart policy ---------------------------------------------------------

TEST(cluster_10, restart_on_node_loss_runs_the_task_again_elsewhere) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto victim = other_than(orch);
  local_client lc{c, orch};
  auto box = std::make_shared<inbox>();
  auto cb = lc.recorder(box);
  auto again = name_on(c, victim, "again-");
  auto once = name_on(c, victim, "once-");
  dtask::start_options opts;
  opts.name = again;
  opts.callback = cb;
  opts.restart = dtask::restart_policy::on_node_loss;
  ASSERT_TRUE(lc.cli->start("sleep", caf::make_message(int64_t{3000}), opts));
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{3000}), once, cb));
  auto killed = std::chrono::steady_clock::now();
  c.signal(victim, SIGKILL);
  // It runs again on a survivor, as attempt 2, only once the dead node's
  // lease surely ended; the task without the policy is lost.
  ASSERT_TRUE(wait_until(
    [&] {
      auto st = lc.cli->status(again);
      return st && st->state == dtask::task_state::running
             && st->attempt == 2 && st->node != c.name(victim);
    },
    10s));
  EXPECT_GE(std::chrono::steady_clock::now() - killed, 1500ms);
  ASSERT_TRUE(box->wait_for(2, 15s));
  auto got = box->copy();
  std::map<std::string, dtask::task_status> by_name;
  for (auto& st : got)
    by_name[st.name] = st;
  EXPECT_EQ(by_name[once].state, dtask::task_state::lost);
  EXPECT_EQ(by_name[once].attempt, 1u);
  EXPECT_EQ(by_name[again].state, dtask::task_state::done);
  EXPECT_EQ(by_name[again].attempt, 2u);
  EXPECT_NE(by_name[again].node, c.name(victim));
  EXPECT_EQ(got.size(), 2u);
  // Two incarnations, on two nodes, with growing epochs.
  std::vector<std::string> starts;
  for (auto& path : c.event_logs()) {
    std::ifstream in{path};
    std::string line;
    while (std::getline(in, line))
      if (line.compare(0, 6, "start ") == 0
          && line.size() > again.size()
          && line.substr(line.size() - again.size() - 1) == " " + again)
        starts.push_back(line);
  }
  EXPECT_EQ(starts.size(), 2u);
  auto res = c.cli({"start", "sleep", "10", "--restart=sometimes"}, orch);
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("--restart= takes never or on-node-loss"),
            std::string::npos)
    << res.err;
}

// -- 11. graceful leave ---------------------------------------------------------

TEST(cluster_11, a_leaving_node_finishes_or_cuts_short_its_tasks_and_takes_no_new) {
  cluster c{3, "leave-timeout=2s"};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto victim = other_than(orch);
  local_client lc{c, orch};
  auto box = std::make_shared<inbox>();
  auto cb = lc.recorder(box);
  auto quick = name_on(c, victim, "quick-");
  auto slow = name_on(c, victim, "slow-");
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{1000}), quick, cb));
  ASSERT_TRUE(lc.start("sleep", caf::make_message(int64_t{60000}), slow, cb));
  kill(c.pid(victim), SIGTERM);
  // The cluster stops placing tasks there at once.
  ASSERT_TRUE(wait_until(
    [&] {
      auto res = c.cli({"nodes"}, orch);
      for (auto& line : res.lines)
        if (dtask_test::json_field(line, "node") == c.name(victim))
          return dtask_test::json_field(line, "state") == "leaving";
      return false;
    },
    5s));
  for (int i = 0; i < 20; ++i) {
    auto ref = lc.start("echo", caf::make_message(int64_t{i}),
                        name_on(c, victim, "new-" + std::to_string(i) + "-"));
    ASSERT_TRUE(ref) << caf::to_string(ref.error());
    EXPECT_NE(ref->node, c.name(victim));
  }
  // The quick task finishes; the slow one is cut short and says so.
  ASSERT_TRUE(box->wait_for(2, 10s));
  std::map<std::string, dtask::task_status> by_name;
  for (auto& st : box->copy())
    by_name[st.name] = st;
  EXPECT_EQ(by_name[quick].state, dtask::task_state::done);
  EXPECT_EQ(by_name[slow].state, dtask::task_state::failed);
  EXPECT_NE(by_name[slow].reason.find("cut short"), std::string::npos)
    << by_name[slow].reason;
  // It leaves once its outcomes are recorded, with exit code 0.
  EXPECT_EQ(c.reap(victim, 10s), 0);
  EXPECT_EQ(lc.state(slow), "failed");
  ASSERT_TRUE(wait_until([&] { return c.formed(); }, 10s));
}

TEST(cluster_11, the_orchestrators_node_leaves_without_a_failed_start) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto orch = c.orchestrator();
  auto via = other_than(orch);
  local_client lc{c, via};
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::vector<std::string> errors;
  std::thread caller([&] {
    for (int i = 0; !stop; ++i) {
      auto ref = lc.start("echo", caf::make_message(int64_t{i}));
      if (ref)
        ++ok;
      else
        errors.push_back(caf::to_string(ref.error()));
    }
  });
  ASSERT_TRUE(wait_until([&] { return ok > 100; }, 10s));
  kill(c.pid(orch), SIGTERM);
  EXPECT_EQ(c.reap(orch, 15s), 0);
  auto before = ok.load();
  ASSERT_TRUE(wait_until([&] { return ok > before + 100; }, 10s));
  stop = true;
  caller.join();
  EXPECT_TRUE(errors.empty()) << errors.size() << " errors, first: "
                              << (errors.empty() ? "" : errors.front());
  ASSERT_TRUE(wait_until([&] { return c.formed(); }, 10s));
  EXPECT_NE(c.orchestrator(via), orch);
}

// -- the command line ---------------------------------------------------------

TEST(cli, exit_codes_and_json) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  auto res = c.cli({"start", "sleep", "10000", "--name=j"});
  EXPECT_EQ(res.rc, 0);
  ASSERT_EQ(res.lines.size(), 1u);
  // The epoch: the orchestrator's epoch in the high half (round 1, voter
  // index 0: 1 << 8), then the first start.
  EXPECT_EQ(res.lines[0], "{\"name\":\"j\",\"node\":\"" + c.name(0)
                            + "\",\"state\":\"running\",\"epoch\":"
                            + std::to_string((uint64_t{1} << 40) | 1) + "}");
  res = c.cli({"start", "sleep", "10000", "--name=j"});
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.lines[0], "{\"error\":\"already_running\",\"name\":\"j\","
                          "\"node\":\""
                            + c.name(0) + "\"}");
  res = c.cli({"nodes"});
  EXPECT_EQ(res.lines[0], "{\"node\":\"" + c.name(0)
                            + "\",\"state\":\"up\",\"orchestrator\":true,"
                              "\"running\":1}");
  res = c.cli({"bogus"});
  EXPECT_EQ(res.rc, 2);
  // Numbers on the command line parse strictly: a unit, an exponent, a
  // sign or an overflow is a usage error, not a silent 5 or garbage.
  for (auto bad : {"--timeout=5s", "--timeout=99999999999", "--timeout=-3",
                   "--retry-window=1e3", "--retry-window=0"}) {
    res = c.cli({"start", "echo", bad});
    EXPECT_EQ(res.rc, 2) << bad;
    EXPECT_TRUE(res.lines.empty()) << bad;
  }
  // The client reads CAF settings like a node does (here: a node's file).
  res = c.cli({"--config-file=" + std::string{DTASK_SOURCE_DIR}
                 + "/config/node1.ini",
               "status", "j"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(res.field("state"), "running");
  res = dtask_test::run({DTASK_CLI_BIN, "--connect=127.0.0.1:"
                                          + std::to_string(
                                            dtask_test::free_port()),
                         "nodes"});
  EXPECT_EQ(res.rc, 2);
  EXPECT_NE(res.err.find("cannot connect"), std::string::npos) << res.err;
}

// Names come from users: one that is not UTF-8 is refused by the node like
// any invalid name, and the refusal, which echoes the name, is still valid
// UTF-8 (each invalid byte printed as U+FFFD).
TEST(cli, names_that_are_not_utf8_are_refused_in_valid_utf8) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  const std::string fffd = "\xef\xbf\xbd";
  std::vector<std::pair<std::string, std::string>> names = {
    {"\xff\xfe", "0"},                // bytes that start no sequence
    {"a\xc0\xaf", "1"},               // overlong '/'
    {"ab\xed\xa0\x80", "2"},          // the surrogate U+D800
    {"\xf4\x90\x80\x80", "0"},        // U+110000
    {"cut\xe2\x9c", "3"},             // cut short
  };
  for (auto& [name, at] : names) {
    auto res = c.cli({"start", "echo", "--name=" + name, "--wait"});
    EXPECT_EQ(res.rc, 1) << dtask::escaped(name);
    ASSERT_EQ(res.lines.size(), 1u) << dtask::escaped(name);
    EXPECT_TRUE(stdout_is_utf8(res));
    EXPECT_EQ(res.field("error"), "invalid_name");
    EXPECT_EQ(res.field("reason"), "the name is not valid UTF-8 at byte " + at);
    EXPECT_NE(res.field("name").find(fffd), std::string::npos);
  }
  // A name that cannot exist is refused by status too, echoed the same way.
  auto res = c.cli({"status", names[0].first});
  EXPECT_EQ(res.rc, 1);
  EXPECT_TRUE(stdout_is_utf8(res));
  EXPECT_EQ(res.field("error"), "invalid_name");
  EXPECT_EQ(res.field("name"), fffd + fffd);
  res = c.cli({"list"});
  EXPECT_EQ(res.rc, 0);
  EXPECT_TRUE(res.lines.empty()) << "a refused name started a task";
}

// Results and reasons are whatever a task made: the CLI prints them as
// valid UTF-8 (each invalid byte as U+FFFD), never raw.
TEST(cli, results_and_reasons_that_are_not_utf8_print_as_valid_utf8) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  const std::string fffd = "\xef\xbf\xbd";
  const std::string result = "[\"bad" + fffd + "byte\",\"" + fffd + fffd
                             + "\",\"caf\xc3\xa9\"]";
  auto res = c.cli({"start", "echo", "bad\xff" "byte", "\xc0\xaf",
                    "caf\xc3\xa9", "--name=e", "--wait"});
  EXPECT_EQ(res.rc, 0) << res.err;
  ASSERT_EQ(res.lines.size(), 2u);
  EXPECT_TRUE(stdout_is_utf8(res));
  EXPECT_EQ(res.field("state", 1), "done");
  EXPECT_EQ(res.field("result", 1), result);
  res = c.cli({"status", "e"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_TRUE(stdout_is_utf8(res));
  EXPECT_EQ(res.field("result"), result);
  res = c.cli({"start", "fail", "no\xfe" "disk", "--name=f", "--wait"});
  EXPECT_EQ(res.rc, 1);
  ASSERT_EQ(res.lines.size(), 2u);
  EXPECT_TRUE(stdout_is_utf8(res));
  EXPECT_EQ(res.field("state", 1), "failed");
  EXPECT_EQ(res.field("reason", 1), "no" + fffd + "disk");
  res = c.cli({"list"});
  EXPECT_EQ(res.rc, 0);
  EXPECT_EQ(res.lines.size(), 2u);
  EXPECT_TRUE(stdout_is_utf8(res));
}
