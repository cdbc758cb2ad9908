// The task lifecycle (include/dtask/task_table.hpp): one test per edge of the
// diagram there, with an injected clock.

#include <gtest/gtest.h>

#include "dtask/task_table.hpp"

using namespace std::chrono_literals;
using dtask::task_state;

namespace {

struct task_table_test : ::testing::Test {
  dtask::clock_type::time_point t0 = dtask::clock_type::time_point{} + 1h;
  dtask::task_table table{60s};
};

} // namespace

TEST_F(task_table_test, edge1_begin_makes_the_name_running) {
  table.begin("a", "n1:1", 7, 42, caf::actor{});
  auto rec = table.find("a", t0);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->state, task_state::running);
  EXPECT_EQ(rec->node, "n1:1");
  EXPECT_EQ(rec->token, 42u);
  EXPECT_EQ(table.running_on("n1:1"), 1u);
  EXPECT_EQ(table.find("b", t0), nullptr);
}

TEST_F(task_table_test, edge2_confirm_only_the_running_incarnation) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  EXPECT_FALSE(table.find("a", t0)->confirmed);
  EXPECT_EQ(table.confirm("a", 6, caf::actor{}), nullptr);
  EXPECT_EQ(table.confirm("b", 7, caf::actor{}), nullptr);
  EXPECT_FALSE(table.find("a", t0)->confirmed);
  EXPECT_NE(table.confirm("a", 7, caf::actor{}), nullptr);
  // Confirmed even without a handle (a table rebuilt after a failover).
  EXPECT_TRUE(table.find("a", t0)->confirmed);
}

TEST_F(task_table_test, edge3_abort_frees_the_name) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  EXPECT_FALSE(table.abort("a", 8));
  EXPECT_TRUE(table.abort("a", 7));
  EXPECT_EQ(table.find("a", t0), nullptr);
  EXPECT_EQ(table.running_on("n1:1"), 0u);
}

TEST_F(task_table_test, edge4_finish_ends_a_task_exactly_once) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  auto rec = table.finish("a", 7, task_state::done, caf::make_message(5), "",
                          t0);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->state, task_state::done);
  EXPECT_EQ(rec->status().result.get_as<int>(0), 5);
  // A second report of the same end (a retry, a late message) is refused,
  // so the caller delivers the callback once.
  EXPECT_EQ(table.finish("a", 7, task_state::failed, {}, "x", t0), nullptr);
  EXPECT_EQ(table.find("a", t0)->state, task_state::done);
  EXPECT_EQ(table.running_on("n1:1"), 0u);
}

TEST_F(task_table_test, edge4_a_task_that_ends_at_once_is_done_not_failed) {
  // The registry may report the end before the orchestrator saw the
  // confirmation of the start: finish works on unconfirmed tasks.
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  auto rec = table.finish("a", 7, task_state::done, {}, "", t0);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(table.find("a", t0)->state, task_state::done);
}

TEST_F(task_table_test, edge4_failed_keeps_the_reason) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  table.finish("a", 7, task_state::failed, {}, "boom", t0);
  EXPECT_EQ(table.find("a", t0)->state, task_state::failed);
  EXPECT_EQ(table.find("a", t0)->status().reason, "boom");
}

TEST_F(task_table_test, edge4_stale_incarnation_cannot_end_a_newer_one) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  table.finish("a", 7, task_state::done, {}, "", t0);
  table.begin("a", "n2:1", 9, 0, caf::actor{});
  EXPECT_EQ(table.finish("a", 7, task_state::failed, {}, "late", t0),
            nullptr);
  EXPECT_EQ(table.find("a", t0)->state, task_state::running);
  EXPECT_EQ(table.find("a", t0)->node, "n2:1");
}

TEST_F(task_table_test, edge5_node_lost_ends_only_that_nodes_running_tasks) {
  table.begin("a", "n1:1", 1, 0, caf::actor{});
  table.begin("b", "n2:1", 2, 0, caf::actor{});
  table.begin("c", "n1:1", 3, 0, caf::actor{});
  table.finish("c", 3, task_state::done, {}, "", t0);
  auto lost = table.node_lost("n1:1", t0);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0]->name, "a");
  EXPECT_EQ(table.find("a", t0)->state, task_state::lost);
  EXPECT_EQ(table.find("b", t0)->state, task_state::running);
  EXPECT_EQ(table.find("c", t0)->state, task_state::done);
  EXPECT_TRUE(table.node_lost("n1:1", t0).empty());
}

TEST_F(task_table_test, edge6_finished_tasks_are_kept_for_the_ttl_then_gone) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  table.finish("a", 7, task_state::done, {}, "", t0);
  EXPECT_NE(table.find("a", t0 + 60s - 1ms), nullptr);
  EXPECT_EQ(table.find("a", t0 + 60s), nullptr);
  EXPECT_EQ(table.size(), 0u);
}

TEST_F(task_table_test, edge6_expiry_of_an_old_end_keeps_a_restarted_name) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  table.finish("a", 7, task_state::done, {}, "", t0);
  table.begin("a", "n1:1", 8, 0, caf::actor{});
  auto rec = table.find("a", t0 + 61s);
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->epoch, 8u);
  EXPECT_TRUE(rec->running());
}

TEST_F(task_table_test, running_tasks_never_expire) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  EXPECT_NE(table.find("a", t0 + 24h), nullptr);
}

TEST_F(task_table_test, edge5_a_fence_spares_tasks_the_nodes_registry_vouched_for) {
  // Fence 3 was set on n1:1; its registry then reported "a" running (it
  // follows this orchestrator and holds its lease), but not "b".
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  table.begin("b", "n1:1", 8, 0, caf::actor{});
  table.vouch("a", 7, 3);
  auto lost = table.node_lost("n1:1", t0, UINT64_MAX, "cut off", 3);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0]->name, "b");
  EXPECT_TRUE(table.find("a", t0)->running());
  // A later fence (the node is cut off again) does not spare it.
  lost = table.node_lost("n1:1", t0, UINT64_MAX, "cut off", 4);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0]->name, "a");
}

TEST_F(task_table_test, edge5_node_lost_spares_incarnations_after_the_drop) {
  table.begin("old", "n1:1", 7, 0, caf::actor{});
  table.begin("new", "n1:1", 9, 0, caf::actor{});
  auto lost = table.node_lost("n1:1", t0, 8, "cut off");
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_EQ(lost[0]->name, "old");
  EXPECT_EQ(lost[0]->status().reason, "cut off");
  EXPECT_TRUE(table.find("new", t0)->running());
}

TEST_F(task_table_test, edge7_restart_moves_a_running_task_to_its_next_attempt) {
  auto& rec = table.begin("a", "n1:1", 7, 42, caf::actor{});
  rec.restart = dtask::restart_policy::on_node_loss;
  rec.spec = std::make_shared<const dtask::restart_spec>(
    dtask::restart_spec{"sleep", caf::message{}});
  EXPECT_TRUE(rec.restartable());
  auto next = table.restart("a", 7, "n2:2", 11);
  ASSERT_NE(next, nullptr);
  EXPECT_EQ(next->epoch, 11u);
  EXPECT_EQ(next->attempt, 2u);
  EXPECT_EQ(next->node, "n2:2");
  EXPECT_EQ(next->token, 42u);
  EXPECT_EQ(next->spec->type, "sleep");
  EXPECT_FALSE(next->confirmed);
  EXPECT_EQ(table.running_on("n1:1"), 0u);
  EXPECT_EQ(table.running_on("n2:2"), 1u);
  // Only the running incarnation restarts, and only up to max_attempts.
  EXPECT_EQ(table.restart("a", 7, "n2:2", 12), nullptr);
  table.restart("a", 11, "n3:3", 13);
  EXPECT_EQ(table.find("a", t0)->attempt, dtask::max_attempts);
  EXPECT_FALSE(table.find("a", t0)->restartable());
}

TEST_F(task_table_test, ended_here_remembers_ends_even_after_a_restart_of_the_name) {
  table.begin("a", "n1:1", 7, 0, caf::actor{});
  EXPECT_FALSE(table.ended_here("a", 7));
  table.finish("a", 7, task_state::lost, {}, "", t0);
  table.begin("a", "n1:1", 8, 0, caf::actor{});
  EXPECT_TRUE(table.ended_here("a", 7));
  EXPECT_FALSE(table.ended_here("a", 8));
  table.expire(t0 + 60s);
  EXPECT_FALSE(table.ended_here("a", 7));
}

TEST_F(task_table_test, an_ended_start_is_found_by_its_token_after_its_name_ran_again) {
  table.begin("a", "n1:1", 7, 42, caf::actor{});
  table.finish("a", 7, task_state::done, caf::message{}, "", t0);
  table.begin("a", "n2:2", 8, 43, caf::actor{}); // Another start of "a".
  auto ended = table.ended_start(42);
  ASSERT_NE(ended, nullptr);
  EXPECT_EQ(ended->name, "a");
  EXPECT_EQ(ended->node, "n1:1");
  EXPECT_EQ(ended->epoch, 7u);
  EXPECT_EQ(table.ended_start(43), nullptr); // Still running.
  EXPECT_EQ(table.ended_start(0), nullptr);  // No token, no memory.
}

TEST_F(task_table_test, edge8_remember_ended_marks_an_incarnation_another_holds_the_name_of) {
  table.begin("a", "n2:2", 8, 43, caf::actor{}); // The newer start holds "a".
  table.remember_ended("a", 7, 42, "n1:1", t0);  // A kept verdict on epoch 7.
  EXPECT_TRUE(table.ended_here("a", 7));
  EXPECT_FALSE(table.ended_here("a", 8));
  ASSERT_NE(table.ended_start(42), nullptr);
  EXPECT_EQ(table.ended_start(42)->node, "n1:1");
  auto rec = table.find("a", t0); // The running start is untouched.
  ASSERT_NE(rec, nullptr);
  EXPECT_EQ(rec->epoch, 8u);
  EXPECT_TRUE(rec->running());
  table.expire(t0 + 60s); // Forgotten with the TTL, as any end.
  EXPECT_FALSE(table.ended_here("a", 7));
  EXPECT_EQ(table.ended_start(42), nullptr);
}

TEST_F(task_table_test, edge8_remember_ended_twice_is_remembered_once) {
  dtask::task_table small{60s, 1};
  small.remember_ended("a", 7, 42, "n1:1", t0);
  small.remember_ended("a", 7, 42, "n1:1", t0); // Takes no second place.
  EXPECT_TRUE(small.ended_here("a", 7));
  small.remember_ended("b", 3, 0, "n1:1", t0); // Beyond max: "a" goes first.
  EXPECT_FALSE(small.ended_here("a", 7));
  EXPECT_TRUE(small.ended_here("b", 3));
}

TEST_F(task_table_test, edge6_an_ended_starts_token_is_forgotten_with_the_ttl) {
  table.begin("a", "n1:1", 7, 42, caf::actor{});
  table.finish("a", 7, task_state::done, caf::message{}, "", t0);
  table.expire(t0 + 59s);
  EXPECT_NE(table.ended_start(42), nullptr);
  table.expire(t0 + 60s);
  EXPECT_EQ(table.ended_start(42), nullptr);
}

TEST_F(task_table_test, edge6_beyond_max_finished_the_oldest_end_is_forgotten_early) {
  dtask::task_table small{60s, 2};
  for (uint64_t i = 1; i <= 3; ++i) {
    auto name = "t" + std::to_string(i);
    small.begin(name, "n1:1", i, 0, caf::actor{});
    small.finish(name, i, task_state::done, {}, "", t0);
  }
  EXPECT_EQ(small.find("t1", t0), nullptr);
  EXPECT_NE(small.find("t2", t0), nullptr);
  EXPECT_NE(small.find("t3", t0), nullptr);
  EXPECT_EQ(small.forgotten_early(), 1u);
}

TEST_F(task_table_test, edge6_max_finished_never_forgets_running_tasks) {
  dtask::task_table small{60s, 1};
  small.begin("r", "n1:1", 1, 0, caf::actor{});
  small.begin("a", "n1:1", 2, 0, caf::actor{});
  small.begin("b", "n1:1", 3, 0, caf::actor{});
  small.finish("a", 2, task_state::done, {}, "", t0);
  small.finish("b", 3, task_state::failed, {}, "x", t0);
  EXPECT_EQ(small.find("a", t0), nullptr);
  EXPECT_EQ(small.find("b", t0)->state, task_state::failed);
  EXPECT_TRUE(small.find("r", t0)->running());
  EXPECT_EQ(small.running_on("n1:1"), 1u);
}

TEST_F(task_table_test, edge6_an_early_forget_of_an_old_end_keeps_the_restarted_name) {
  dtask::task_table small{60s, 1};
  small.begin("a", "n1:1", 7, 42, caf::actor{});
  small.finish("a", 7, task_state::done, {}, "", t0);
  small.begin("a", "n1:1", 8, 43, caf::actor{});
  small.begin("b", "n1:1", 9, 0, caf::actor{});
  small.finish("b", 9, task_state::done, {}, "", t0);
  EXPECT_FALSE(small.ended_here("a", 7));
  EXPECT_EQ(small.ended_start(42), nullptr);
  auto rec = small.find("a", t0);
  ASSERT_NE(rec, nullptr);
  EXPECT_TRUE(rec->running());
  EXPECT_EQ(rec->epoch, 8u);
}

TEST_F(task_table_test, edge6_ends_past_their_ttl_are_not_counted_as_forgotten_early) {
  dtask::task_table small{60s, 1};
  small.begin("a", "n1:1", 1, 0, caf::actor{});
  small.finish("a", 1, task_state::done, {}, "", t0);
  small.begin("b", "n1:1", 2, 0, caf::actor{});
  small.finish("b", 2, task_state::done, {}, "", t0 + 60s);
  EXPECT_EQ(small.forgotten_early(), 0u);
  EXPECT_NE(small.find("b", t0 + 60s), nullptr);
}

TEST_F(task_table_test, edge5_node_lost_makes_room_for_every_task_it_ends) {
  dtask::task_table small{60s, 2};
  small.begin("d1", "n2:2", 1, 0, caf::actor{});
  small.begin("d2", "n2:2", 2, 0, caf::actor{});
  small.finish("d1", 1, task_state::done, {}, "", t0);
  small.finish("d2", 2, task_state::done, {}, "", t0);
  for (uint64_t i = 3; i <= 5; ++i)
    small.begin("l" + std::to_string(i), "n1:1", i, 0, caf::actor{});
  auto lost = small.node_lost("n1:1", t0);
  // Every returned record is still in the table (the caller delivers their
  // callbacks), even though they alone outnumber the bound.
  ASSERT_EQ(lost.size(), 3u);
  for (auto rec : lost)
    EXPECT_EQ(small.find(rec->name, t0), rec);
  EXPECT_EQ(small.find("d1", t0), nullptr);
  EXPECT_EQ(small.find("d2", t0), nullptr);
  EXPECT_EQ(small.forgotten_early(), 2u);
  // The next end brings the table back within the bound.
  small.begin("x", "n2:2", 6, 0, caf::actor{});
  small.finish("x", 6, task_state::done, {}, "", t0);
  EXPECT_EQ(small.size(), 2u);
}

TEST_F(task_table_test, pages_follow_the_order_of_names) {
  for (auto name : {"c", "a", "d", "b"})
    table.begin(name, "n1:1", 1, 0, caf::actor{});
  table.finish("b", 1, task_state::done, {}, "", t0);
  std::vector<std::string> seen;
  auto collect = [&](dtask::task_record& rec) { seen.push_back(rec.name); };
  EXPECT_TRUE(table.for_each_after("", 2, t0, collect));
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b"}));
  seen.clear();
  EXPECT_FALSE(table.for_each_after("b", 2, t0, collect));
  EXPECT_EQ(seen, (std::vector<std::string>{"c", "d"}));
  seen.clear();
  EXPECT_FALSE(table.for_each_after("bb", 5, t0, collect));
  EXPECT_EQ(seen, (std::vector<std::string>{"c", "d"}));
  seen.clear();
  EXPECT_FALSE(table.for_each_after("d", 2, t0, collect));
  EXPECT_TRUE(seen.empty());
  // Ended tasks past their TTL are not listed.
  EXPECT_TRUE(table.for_each_after("", 1, t0 + 60s, collect));
  EXPECT_EQ(seen, (std::vector<std::string>{"a"}));
}
