// Messages a peer that reaches a node's port (plaintext loopback: anyone on
// the machine) can send with one line of CAF, and what they must not do.
// Each test failed before the fix it names.

#include <fstream>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <gtest/gtest.h>

#include "cluster_harness.hpp"
#include "dtask/node.hpp"
#include "dtask/protocol.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;

namespace {

/// A process that talks to a node as any CAF program can.
struct peer {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  dtask::gateway_api gateway;
  dtask::orchestrator_ref orchestrator;

  explicit peer(uint16_t port)
    : sys((dtask::configure(cfg), cfg)), self(sys) {
    auto gw = sys.middleman().remote_actor<dtask::gateway_api>("127.0.0.1",
                                                               port);
    if (!gw)
      return;
    gateway = *gw;
    self->request(gateway, 5s, dtask::whereis_atom::value)
      .receive([&](dtask::orchestrator_ref& ref) { orchestrator = ref; },
               [](caf::error&) {});
  }

  /// A round trip to the gateway: what was sent before has arrived.
  bool gateway_answers() {
    bool ok = false;
    self->request(gateway, 5s, dtask::whereis_atom::value)
      .receive([&](dtask::orchestrator_ref&) { ok = true; },
               [](caf::error&) {});
    return ok;
  }
};

} // namespace

// Fixed by the guard of node_actor.hpp (`trusted_system_message`): without
// it, the first exit message stopped the node's published actor.
TEST(hostile, exit_messages_from_a_peer_stop_nothing) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  peer p{c.port(0)};
  ASSERT_TRUE(p.gateway);
  ASSERT_TRUE(p.orchestrator.handle);
  auto epoch = p.orchestrator.epoch;
  // Anonymous, and from this process's actor, to the published actor and
  // to the orchestrator.
  caf::anon_send_exit(p.gateway, caf::exit_reason::kill);
  p.self->send_exit(p.gateway, caf::exit_reason::kill);
  caf::anon_send_exit(p.orchestrator.handle, caf::exit_reason::kill);
  p.self->send_exit(p.orchestrator.handle, caf::exit_reason::user_shutdown);
  EXPECT_TRUE(p.gateway_answers());
  EXPECT_TRUE(c.formed());
  auto res = c.cli({"start", "echo", "still-here", "--wait"});
  EXPECT_EQ(res.rc, 0) << res.err;
  EXPECT_EQ(c.cli({"nodes"}).lines.size(), 3u);
  peer again{c.port(1)};
  EXPECT_EQ(again.orchestrator.epoch, epoch) << "the orchestrator changed";
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(c.downs(i), 0) << "node " << i;
}

// A down message sent by an actor that is not the one it names is dropped
// (CAF sends a real one from the actor that went down). Without the guard,
// the node dropped its orchestrator and elected another.
TEST(hostile, a_forged_down_message_from_a_peer_is_dropped) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  peer p{c.port(0)};
  ASSERT_TRUE(p.orchestrator.handle);
  auto epoch = p.orchestrator.epoch;
  p.self->send(caf::actor_cast<caf::actor>(p.gateway),
               caf::down_msg{p.orchestrator.handle.address(),
                             caf::exit_reason::remote_link_unreachable});
  EXPECT_TRUE(p.gateway_answers());
  peer again{c.port(0)};
  EXPECT_EQ(again.orchestrator.epoch, epoch) << "the orchestrator changed";
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(c.downs(i), 0) << "node " << i;
}

// Epochs no orchestrator of the cluster can have are refused (valid_epoch
// in election.hpp). Before: an announced orchestrator of epoch UINT64_MAX
// was adopted (requests went to whoever announced it), and a join naming
// UINT64_MAX as the last epoch seen made the real orchestrator step down
// for good (every later epoch looked outdated).
TEST(hostile, impossible_orchestrator_epochs_are_refused) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  peer p{c.port(0)};
  ASSERT_TRUE(p.orchestrator.handle);
  auto epoch = p.orchestrator.epoch;
  auto sup = caf::actor_cast<dtask::supervisor_api>(p.gateway);
  auto fake = caf::actor_cast<dtask::orchestrator_internal_api>(
    p.sys.spawn([]() -> caf::behavior { return {[](int) {}}; }));
  // An orchestrator announced with an epoch near overflow, and one that
  // claims another voter's epoch.
  p.self->send(sup, dtask::orch_atom::value,
               dtask::orchestrator_ref{fake, c.name(0), UINT64_MAX});
  p.self->send(sup, dtask::orch_atom::value,
               dtask::orchestrator_ref{fake, c.name(1),
                                       ((epoch >> 8) + 5) << 8 | 0xFE});
  // A join that claims to have seen an epoch near overflow.
  bool answered = false;
  p.self
    ->request(sup, 5s, dtask::join_atom::value, dtask::member{},
              uint64_t{UINT64_MAX})
    .receive([&](dtask::cluster_view&) { answered = true; },
             [](caf::error&) {});
  EXPECT_TRUE(answered);
  EXPECT_TRUE(p.gateway_answers());
  peer again{c.port(0)};
  EXPECT_EQ(again.orchestrator.epoch, epoch) << "the orchestrator changed";
  EXPECT_NE(again.orchestrator.handle, fake);
  auto res = c.cli({"start", "echo", "still-here", "--wait"}, 0);
  EXPECT_EQ(res.rc, 0) << res.err;
  caf::anon_send_exit(fake, caf::exit_reason::kill);
}

// A node runs at most `max-running` tasks; a start beyond it is refused
// with `capacity` (naming the node and the limit), nothing else changes,
// and a slot that frees up is used again. Before: no bound at all.
TEST(bounds, a_node_runs_at_most_max_running_tasks) {
  cluster c{1, "max-running=2"};
  ASSERT_TRUE(c.start_all());
  EXPECT_EQ(c.cli({"start", "sleep", "60000", "--name=a"}).rc, 0);
  auto b = c.cli({"start", "sleep", "800", "--name=b"});
  EXPECT_EQ(b.rc, 0) << b.err;
  auto full = c.cli({"start", "sleep", "60000", "--name=c"});
  EXPECT_EQ(full.rc, 1);
  EXPECT_EQ(full.field("error"), "capacity");
  EXPECT_EQ(full.field("node"), c.name(0));
  EXPECT_EQ(full.field("limit"), "2");
  EXPECT_EQ(c.cli({"status", "c"}).field("error"), "not_found");
  EXPECT_EQ(c.cli({"status", "a"}).field("state"), "running");
  // Once b ended, its slot takes a new task.
  EXPECT_TRUE(dtask_test::wait_until(
    [&] { return c.cli({"status", "b"}).field("state") == "done"; }, 10s));
  auto again = c.cli({"start", "sleep", "60000", "--name=c"});
  EXPECT_EQ(again.rc, 0) << again.err;
}

// Messages no handler takes are dropped and counted, and only the first of
// each kind is logged, escaped (node_actor.cpp, drop_unexpected). Before,
// CAF printed every one as sent: 300 messages made 300 log lines, and a
// newline in a string started a line of the sender's choosing.
TEST(hostile, unexpected_messages_are_logged_once_per_kind_and_escaped) {
  cluster c{1};
  ASSERT_TRUE(c.start_all());
  peer p{c.port(0)};
  ASSERT_TRUE(p.gateway);
  auto dyn = caf::actor_cast<caf::actor>(p.gateway);
  for (int i = 0; i < 150; ++i) {
    p.self->send(dyn, std::string{"x\ndtask-node FORGED line"});
    p.self->send(dyn, int32_t{i});
  }
  EXPECT_TRUE(p.gateway_answers());
  std::ifstream f{c.log(0)};
  int unexpected = 0;
  for (std::string line; std::getline(f, line);) {
    if (line.find("unexpected") != std::string::npos)
      ++unexpected;
    EXPECT_NE(line.rfind("dtask-node FORGED", 0), 0u) << line;
  }
  EXPECT_GE(unexpected, 1);
  EXPECT_LE(unexpected, 2); // One per kind: a string, an integer.
  EXPECT_EQ(c.cli({"start", "echo", "fine", "--wait"}, 0).rc, 0);
}
