// The registry's task book (actors/task_book.hpp): one test per edge of its
// lifecycle diagram, and the holds that keep one instance per name.

#include <gtest/gtest.h>

#include <caf/all.hpp>

#include "task_book.hpp"

namespace {

using dtask::task_book;
using dtask::task_key;
using dtask::task_state;

dtask::spawn_order order(std::string name, uint64_t epoch) {
  dtask::spawn_order o;
  o.name = std::move(name);
  o.epoch = epoch;
  o.token = epoch * 10;
  o.attempt = 1;
  o.args = caf::make_message(int64_t{42});
  return o;
}

/// Real (idle) actors stand in for workers: the book keys them by address.
struct task_book_test : ::testing::Test {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  task_book book;

  caf::actor worker() {
    return sys.spawn([]() -> caf::behavior {
      return {[](int) {}};
    });
  }

  /// Admits and launches `name#epoch`; returns the worker.
  caf::actor run(const std::string& name, uint64_t epoch) {
    auto& e = book.admit(order(name, epoch));
    auto w = worker();
    book.launched(e, w);
    return w;
  }

  void stop(const caf::actor& w) {
    caf::anon_send_exit(w, caf::exit_reason::kill);
  }

  /// The running count the book keeps, recounted from its entries after
  /// every test (it bounds the node's tasks: `max-running`).
  void TearDown() override {
    size_t n = 0;
    book.for_each_newest([&](const dtask::local_entry& e) {
      if (e.running())
        ++n;
    });
    EXPECT_EQ(book.running(), n) << "the running count drifted";
  }
};

auto no_reason = [] { return std::string{"stopped"}; };

TEST_F(task_book_test, edge1_an_admitted_order_waits_for_its_launch) {
  EXPECT_EQ(book.check("a"), task_book::hold::none);
  book.admit(order("a", 1));
  auto e = book.ordered(task_key{"a", 1});
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->running());
  EXPECT_FALSE(e->worker);
  // Ordered counts as running: a second order for the name is refused.
  EXPECT_EQ(book.check("a"), task_book::hold::running);
  EXPECT_EQ(book.ordered(task_key{"a", 2}), nullptr);
}

TEST_F(task_book_test, edge2_a_launched_entry_runs_in_its_worker) {
  auto w = run("a", 1);
  EXPECT_EQ(book.ordered(task_key{"a", 1}), nullptr); // Not waiting any more.
  EXPECT_EQ(book.running_worker("a"), w);
  EXPECT_EQ(book.running(), 1u);
  stop(w);
}

TEST_F(task_book_test, edge3_an_order_that_cannot_launch_frees_the_name) {
  book.admit(order("a", 1));
  EXPECT_FALSE(book.drop_ordered(task_key{"a", 2})); // Another incarnation.
  EXPECT_TRUE(book.drop_ordered(task_key{"a", 1}));
  EXPECT_EQ(book.check("a"), task_book::hold::none);
  EXPECT_TRUE(book.empty());
  // A launched entry is no longer droppable that way.
  auto w = run("b", 2);
  EXPECT_FALSE(book.drop_ordered(task_key{"b", 2}));
  stop(w);
}

TEST_F(task_book_test, edge4_a_worker_ends_with_the_result_it_reported) {
  auto w = run("a", 1);
  dtask::task_status st;
  st.name = "a";
  st.state = task_state::done;
  st.result = caf::make_message(std::string{"ok"});
  // From another worker, or for another epoch: not kept.
  dtask::task_status other = st;
  EXPECT_FALSE(book.hold_result(w.address(), 2, other));
  EXPECT_TRUE(book.hold_result(w.address(), 1, st));
  auto gone = book.worker_gone(w.address(), no_reason);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->ended);
  ASSERT_NE(gone->entry, nullptr);
  EXPECT_EQ(gone->entry->state, task_state::done);
  EXPECT_EQ(gone->entry->ended->result.get_as<std::string>(0), "ok");
  EXPECT_FALSE(gone->entry->worker);
  EXPECT_EQ(book.check("a"), task_book::hold::none); // The name is free.
  EXPECT_FALSE(book.empty()); // Until acknowledged.
  EXPECT_FALSE(book.worker_gone(w.address(), no_reason)); // Only once.
  stop(w);
}

TEST_F(task_book_test, edge4_a_worker_that_stops_without_a_result_failed) {
  auto w = run("a", 1);
  auto gone = book.worker_gone(w.address(), [] {
    return std::string{"the task's actor stopped: boom"};
  });
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->entry->state, task_state::failed);
  EXPECT_EQ(gone->entry->ended->reason, "the task's actor stopped: boom");
  stop(w);
}

TEST_F(task_book_test, edge4_a_lease_that_ran_out_ends_every_running_task) {
  auto w1 = run("a", 1);
  book.admit(order("b", 2)); // Ordered, not launched.
  auto end = dtask::clock_type::time_point{std::chrono::seconds(7)};
  auto ended = book.cut(end, "cut off");
  ASSERT_EQ(ended.size(), 2u);
  size_t with_worker = 0;
  for (auto& e : ended) {
    EXPECT_EQ(e.first->state, task_state::lost);
    EXPECT_EQ(e.first->ended->reason, "cut off");
    EXPECT_TRUE(e.first->order.args.empty()); // Never started again here.
    if (e.second) {
      EXPECT_EQ(e.second, w1);
      ++with_worker;
    }
  }
  EXPECT_EQ(with_worker, 1u);
  EXPECT_EQ(book.running(), 0u);
  // The worker was fenced at the lease's end: its stop line says so.
  auto gone = book.worker_gone(w1.address(), no_reason);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->info.fenced);
  EXPECT_EQ(gone->info.fenced_at, end);
  EXPECT_FALSE(gone->ended); // Ended by the cut already.
  stop(w1);
}

TEST_F(task_book_test, edge5_an_unacknowledged_outcome_moves_aside) {
  auto w = run("a", 1);
  book.worker_gone(w.address(), no_reason);
  auto w2 = run("a", 2); // Started again before the ack of #1.
  std::vector<uint64_t> outcomes;
  book.for_each_outcome(
    [&](const dtask::local_entry& e) { outcomes.push_back(e.order.epoch); });
  EXPECT_EQ(outcomes, std::vector<uint64_t>{1}); // Still reported.
  EXPECT_EQ(book.running_worker("a"), w2);
  EXPECT_EQ(book.find(task_key{"a", 1}), nullptr); // Not the newest.
  stop(w);
  stop(w2);
}

TEST_F(task_book_test, edge6_an_acknowledged_outcome_is_forgotten) {
  auto w = run("a", 1);
  book.worker_gone(w.address(), no_reason);
  auto w2 = run("a", 2);
  book.worker_gone(w2.address(), no_reason);
  EXPECT_TRUE(book.forget(task_key{"a", 1})); // The displaced one.
  EXPECT_TRUE(book.forget(task_key{"a", 2})); // The newest.
  EXPECT_FALSE(book.forget(task_key{"a", 2})); // Unknown (maybe mirrored).
  EXPECT_TRUE(book.empty());
  stop(w);
  stop(w2);
}

TEST_F(task_book_test, edge7_a_killed_worker_holds_its_name_until_gone) {
  auto w = run("a", 1);
  book.killing("a");
  EXPECT_TRUE(book.forget(task_key{"a", 1})); // Declared over while running.
  EXPECT_EQ(book.check("a"), task_book::hold::stopping);
  auto gone = book.worker_gone(w.address(), no_reason);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->name_freed);
  EXPECT_EQ(gone->entry, nullptr); // Its entry was dropped.
  EXPECT_EQ(book.check("a"), task_book::hold::none);
  stop(w);
}

TEST_F(task_book_test, edge8_a_stopped_task_ends_cancelled_once_its_worker_is_gone) {
  auto w = run("a", 1);
  EXPECT_FALSE(book.cancel(task_key{"a", 2}, "n1:1", "by x")); // Not running.
  auto to_kill = book.cancel(task_key{"a", 1}, "n1:1", "by x");
  EXPECT_EQ(to_kill, w);
  book.killing("a");
  // Until the worker is gone the name is held: at most one instance.
  EXPECT_EQ(book.check("a"), task_book::hold::stopping);
  EXPECT_TRUE(book.find(task_key{"a", 1})->running());
  auto gone = book.worker_gone(w.address(), no_reason);
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->ended);
  EXPECT_TRUE(gone->name_freed);
  EXPECT_EQ(gone->entry->state, task_state::cancelled);
  EXPECT_EQ(gone->entry->ended->reason, "by x");
  EXPECT_EQ(book.check("a"), task_book::hold::none);
  stop(w);
}

TEST_F(task_book_test, edge8_an_outcome_reported_before_the_stop_stays) {
  auto w = run("a", 1);
  dtask::task_status done;
  done.name = "a";
  done.state = task_state::done;
  ASSERT_TRUE(book.hold_result(w.address(), 1, done));
  EXPECT_EQ(book.cancel(task_key{"a", 1}, "n1:1", "by x"), w);
  auto gone = book.worker_gone(w.address(), no_reason);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->entry->state, task_state::done);
  stop(w);
}

TEST_F(task_book_test, a_name_killed_twice_waits_for_both_workers) {
  auto w1 = run("a", 1);
  book.killing("a");
  book.forget(task_key{"a", 1});
  book.killing("a"); // E.g. a lease cut and a declaration, both.
  auto g = book.worker_gone(w1.address(), no_reason);
  EXPECT_FALSE(g->name_freed);
  EXPECT_EQ(book.check("a"), task_book::hold::stopping);
  stop(w1);
}

TEST_F(task_book_test, a_leave_cuts_every_worker_short) {
  auto w = run("a", 1);
  auto to_stop = book.cut_short("n1:1", "cut short");
  ASSERT_EQ(to_stop.size(), 1u);
  EXPECT_EQ(to_stop[0], w.address());
  auto gone = book.worker_gone(w.address(), no_reason);
  EXPECT_EQ(gone->entry->state, task_state::failed);
  EXPECT_EQ(gone->entry->ended->reason, "cut short");
  stop(w);
}

} // namespace
