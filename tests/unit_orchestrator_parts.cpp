// The plain parts of an orchestrator: its majority and the windows of the
// timing argument (actors/quorum_tracker.hpp). One test per rule.

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pending_reads.hpp"
#include "quorum_tracker.hpp"
#include "recent_set.hpp"
#include "verdict_rounds.hpp"
#include "outcome_rounds.hpp"
#include "end_reads.hpp"

namespace {

using dtask::clock_type;
using dtask::lease_duration;
using dtask::lease_margin;
using std::chrono::milliseconds;

clock_type::time_point at(int64_t ms) {
  return clock_type::time_point{milliseconds(ms)};
}

TEST(quorum_tracker, holds_nothing_before_a_majority_answered) {
  dtask::quorum_tracker q{2, false};
  EXPECT_FALSE(q.ack("a", at(100), at(110)));
  EXPECT_FALSE(q.holds(at(110)));
  EXPECT_FALSE(q.first());
}

TEST(quorum_tracker, holds_until_the_kth_latest_answered_send_plus_l) {
  dtask::quorum_tracker q{2, false};
  q.ack("a", at(100), at(110));
  EXPECT_TRUE(q.ack("b", at(300), at(310)));
  q.ack("c", at(200), at(320));
  // The 2nd latest send is 200 ms.
  EXPECT_TRUE(q.holds(at(200) + lease_duration - milliseconds(1)));
  EXPECT_FALSE(q.holds(at(200) + lease_duration));
}

TEST(quorum_tracker, first_is_when_the_majority_first_held) {
  dtask::quorum_tracker q{2, false};
  q.ack("a", at(100), at(110));
  q.ack("b", at(100), at(120));
  ASSERT_TRUE(q.first());
  EXPECT_EQ(*q.first(), at(120));
  EXPECT_FALSE(q.ack("a", at(200), at(210))); // Not a first time again.
  EXPECT_EQ(*q.first(), at(120));
}

TEST(quorum_tracker, a_majority_back_after_a_lapse_is_a_takeover_from_then) {
  dtask::quorum_tracker q{1, false};
  EXPECT_TRUE(q.ack("a", at(100), at(100)));
  EXPECT_FALSE(q.takeover());
  auto back = at(100) + lease_duration + milliseconds(500);
  EXPECT_FALSE(q.holds(back));
  EXPECT_TRUE(q.ack("a", back, back)); // Held again: reported.
  EXPECT_TRUE(q.takeover());
  EXPECT_EQ(*q.first(), back);
  EXPECT_EQ(q.leases_end(), back + 2 * lease_duration + lease_margin);
  EXPECT_FALSE(q.outcomes_open(back + lease_duration));
}

TEST(quorum_tracker, an_answer_older_than_the_voters_last_counts_for_nothing) {
  dtask::quorum_tracker q{1, false};
  q.ack("a", at(500), at(510));
  q.ack("a", at(100), at(520));
  EXPECT_TRUE(q.holds(at(500) + lease_duration - milliseconds(1)));
}

TEST(quorum_tracker, a_forgotten_voter_no_longer_counts) {
  dtask::quorum_tracker q{2, false};
  q.ack("a", at(100), at(110));
  q.forget("a");
  EXPECT_FALSE(q.ack("b", at(100), at(120)));
  EXPECT_FALSE(q.holds(at(120)));
}

TEST(quorum_tracker, outcomes_open_at_once_for_the_first_orchestrator) {
  dtask::quorum_tracker q{1, false};
  q.ack("a", at(100), at(100));
  EXPECT_TRUE(q.outcomes_open(at(100)));
}

TEST(quorum_tracker, a_takeover_records_outcomes_only_from_t_plus_l_plus_m) {
  dtask::quorum_tracker q{1, true};
  q.ack("a", at(100), at(100));
  for (int i = 1; i < 30; ++i) // Keep the majority.
    q.ack("a", at(100 + 100 * i), at(100 + 100 * i));
  EXPECT_FALSE(q.outcomes_open(at(100) + lease_duration + lease_margin
                               - milliseconds(1)));
  EXPECT_TRUE(q.outcomes_open(at(100) + lease_duration + lease_margin));
}

TEST(quorum_tracker, no_outcomes_without_a_majority) {
  dtask::quorum_tracker q{1, false};
  q.ack("a", at(100), at(100));
  EXPECT_FALSE(q.outcomes_open(at(100) + lease_duration));
}

TEST(quorum_tracker, a_dropped_nodes_tasks_end_at_r_plus_l_plus_m) {
  dtask::quorum_tracker q{1, false};
  q.ack("a", at(0), at(0));
  EXPECT_EQ(q.fence_time(at(5000)), at(5000) + lease_duration + lease_margin);
}

TEST(quorum_tracker, after_a_takeover_not_before_t_plus_2l_plus_m) {
  dtask::quorum_tracker q{1, true};
  q.ack("a", at(1000), at(1000));
  EXPECT_EQ(q.fence_time(at(0)), at(1000) + 2 * lease_duration + lease_margin);
  EXPECT_EQ(q.leases_end(), at(1000) + 2 * lease_duration + lease_margin);
  // A drop long after the takeover: r + L + M again.
  EXPECT_EQ(q.fence_time(at(9000)), at(9000) + lease_duration + lease_margin);
}

// -- coverage ---------------------------------------------------------------

TEST(coverage, without_mirrored_member_lists_nothing_is_covered) {
  auto c = dtask::coverage::decide(false, {"a"}, {"a"}, {});
  EXPECT_FALSE(c.covered);
}

TEST(coverage, every_required_node_synced_is_covered_for_good) {
  auto c = dtask::coverage::decide(true, {"a", "b"}, {"a", "b"}, {});
  EXPECT_TRUE(c.covered);
  EXPECT_TRUE(c.holds_past(at(1000000)));
}

TEST(coverage, an_unsynced_node_needs_a_promise_that_outlasts_the_leases) {
  auto c = dtask::coverage::decide(true, {"a", "b"}, {"a"}, {{"b", at(5000)}});
  EXPECT_TRUE(c.covered);
  EXPECT_TRUE(c.holds_past(at(5000)));
  EXPECT_FALSE(c.holds_past(at(5001)));
}

TEST(coverage, an_unsynced_node_without_a_promise_is_not_covered) {
  auto c = dtask::coverage::decide(true, {"a", "b"}, {"a"}, {});
  EXPECT_FALSE(c.covered);
}

} // namespace

TEST(quorum_tracker, confirmed_is_the_kth_latest_answered_send) {
  dtask::quorum_tracker q{2, false};
  EXPECT_EQ(q.confirmed(), clock_type::time_point{});
  q.ack("a", at(100), at(110));
  EXPECT_EQ(q.confirmed(), clock_type::time_point{}); // One is no majority.
  q.ack("b", at(300), at(310));
  EXPECT_EQ(q.confirmed(), at(100));
  q.ack("c", at(200), at(320));
  EXPECT_EQ(q.confirmed(), at(200));
}

TEST(quorum_tracker, silent_voters_answered_no_ping_sent_within_l) {
  dtask::quorum_tracker q{2, false};
  q.ack("a", at(100), at(110));
  q.ack("b", at(1000), at(1010));
  auto now = at(100) + lease_duration;
  EXPECT_EQ(q.silent({"a", "b", "c"}, now),
            (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(q.silent({"a", "b", "c"}, now - milliseconds(1)),
            (std::vector<std::string>{"c"}));
}

// -- pending_reads --------------------------------------------------------------

using reads = dtask::pending_reads<int>;

std::vector<std::string> settled(reads& r, clock_type::time_point confirmed) {
  std::vector<std::string> result;
  r.settle(confirmed, [&](const std::string& name, int&) {
    result.push_back(name);
  });
  return result;
}

TEST(pending_reads, a_read_waits_for_a_ping_sent_no_earlier_than_its_arrival) {
  reads r{10};
  ASSERT_TRUE(r.add("x", at(100), 1));
  ASSERT_TRUE(r.add("y", at(200), 2));
  EXPECT_TRUE(settled(r, at(99)).empty());
  EXPECT_EQ(settled(r, at(100)), std::vector<std::string>{"x"});
  EXPECT_EQ(r.size(), 1u);
}

TEST(pending_reads, expire_answers_reads_that_arrived_before) {
  reads r{10};
  r.add("x", at(100), 1);
  r.add("y", at(200), 2);
  std::vector<std::string> expired;
  r.expire(at(150), [&](const std::string& name, int&) {
    expired.push_back(name);
  });
  EXPECT_EQ(expired, std::vector<std::string>{"x"});
}

TEST(pending_reads, at_most_max_reads_wait) {
  reads r{2};
  EXPECT_TRUE(r.add("x", at(1), 1));
  EXPECT_TRUE(r.add("y", at(2), 2));
  EXPECT_FALSE(r.add("z", at(3), 3));
  EXPECT_EQ(r.size(), 2u);
}

// -- recent_set -----------------------------------------------------------------

TEST(recent_set, keeps_only_its_newest_elements) {
  dtask::recent_set<int> set{3};
  for (int i = 1; i <= 3; ++i)
    set.insert(i);
  set.insert(2); // Known: changes nothing.
  EXPECT_EQ(set.size(), 3u);
  set.insert(4); // Forgets 1, the oldest.
  EXPECT_EQ(set.size(), 3u);
  EXPECT_FALSE(set.contains(1));
  for (int i = 2; i <= 4; ++i)
    EXPECT_TRUE(set.contains(i)) << i;
}

namespace {

// -- verdict_rounds -----------------------------------------------------------

dtask::lost_note lost(std::string name, uint64_t epoch) {
  dtask::lost_note n;
  n.status.name = std::move(name);
  n.status.epoch = epoch;
  n.status.state = dtask::task_state::lost;
  return n;
}

std::vector<std::string> names_of(const std::vector<dtask::lost_note>& ns) {
  std::vector<std::string> result;
  for (auto& n : ns)
    result.push_back(n.status.name);
  return result;
}

} // namespace

TEST(verdict_rounds, a_round_is_told_once_when_a_majority_kept_it) {
  dtask::verdict_rounds v{2, false, 9};
  auto id = v.open({lost("a", 1)}, false, at(0));
  ASSERT_NE(v.find(id), nullptr);
  EXPECT_EQ(v.find(id)->verdicts.orch_epoch, 9u);
  EXPECT_FALSE(v.kept(id, "n1"));
  EXPECT_FALSE(v.kept(id, "n1")); // The same voter twice is one.
  auto told = v.kept(id, "n2");
  ASSERT_TRUE(told);
  EXPECT_EQ(names_of(*told), std::vector<std::string>{"a"});
  EXPECT_FALSE(v.kept(id, "n3")); // Gone once told.
  EXPECT_EQ(v.open_rounds(), 0u);
}

TEST(verdict_rounds, a_round_not_kept_in_time_is_due_again) {
  dtask::verdict_rounds v{2, false, 9};
  auto id = v.open({lost("a", 1)}, false, at(0));
  EXPECT_TRUE(v.due(at(999), milliseconds(1000)).empty());
  EXPECT_EQ(v.due(at(1000), milliseconds(1000)), std::vector<uint64_t>{id});
  EXPECT_TRUE(v.due(at(1500), milliseconds(1000)).empty()); // Time restarted.
}

TEST(verdict_rounds, a_first_orchestrator_is_settled_from_the_start) {
  dtask::verdict_rounds v{2, false, 9};
  EXPECT_TRUE(v.settled());
  EXPECT_FALSE(v.reading());
}

TEST(verdict_rounds, a_takeover_adopts_once_a_majority_answered) {
  dtask::verdict_rounds v{2, true, 9};
  EXPECT_TRUE(v.reading());
  EXPECT_FALSE(v.settled());
  v.read("n1", dtask::lost_verdicts{5, {lost("a", 1)}, true});
  EXPECT_TRUE(v.answered("n1"));
  EXPECT_FALSE(v.ready_to_adopt());
  v.read("n2", dtask::lost_verdicts{7, {lost("b", 2)}, true});
  ASSERT_TRUE(v.ready_to_adopt());
  // Only the newest orchestrator's notes: its own include every older
  // verdict a majority kept.
  EXPECT_EQ(names_of(v.adopt()), std::vector<std::string>{"b"});
  EXPECT_FALSE(v.reading());
  EXPECT_FALSE(v.ready_to_adopt()); // Once only.
  v.read("n3", dtask::lost_verdicts{8, {lost("c", 3)}, true});
  EXPECT_FALSE(v.answered("n3"));
}

TEST(verdict_rounds, adoption_joins_the_newest_notes_of_every_answer) {
  dtask::verdict_rounds v{2, true, 9};
  v.read("n1", dtask::lost_verdicts{7, {lost("a", 1)}, true});
  v.read("n2", dtask::lost_verdicts{7, {lost("b", 2), lost("a", 1)}, true});
  EXPECT_EQ(names_of(v.adopt()), (std::vector<std::string>{"a", "b"}));
}

TEST(verdict_rounds, a_takeover_settles_when_its_complete_round_is_kept) {
  dtask::verdict_rounds v{2, true, 9};
  v.read("n1", dtask::lost_verdicts{0, {}, true});
  v.read("n2", dtask::lost_verdicts{0, {}, true});
  auto first = v.open(v.adopt(), true, at(0));
  auto later = v.open({lost("c", 3)}, false, at(0));
  v.kept(later, "n1");
  v.kept(later, "n2");
  EXPECT_FALSE(v.settled()); // Not by another round.
  v.kept(first, "n1");
  EXPECT_FALSE(v.settled());
  v.kept(first, "n2");
  EXPECT_TRUE(v.settled());
}

TEST(verdict_rounds, a_lapse_of_the_majority_starts_the_takeover_over) {
  dtask::verdict_rounds v{1, false, 9};
  v.restart_takeover();
  EXPECT_TRUE(v.reading());
  EXPECT_FALSE(v.settled());
  v.read("n1", dtask::lost_verdicts{0, {}, true});
  auto first = v.open(v.adopt(), true, at(0));
  v.kept(first, "n1");
  EXPECT_TRUE(v.settled());
}

TEST(verdict_rounds, an_answer_of_a_voter_that_may_have_forgotten_does_not_count) {
  dtask::verdict_rounds v{2, true, 9};
  v.read("n1", dtask::lost_verdicts{7, {lost("a", 1)}, false});
  EXPECT_FALSE(v.answered("n1")); // Asked again.
  v.read("n2", dtask::lost_verdicts{5, {lost("b", 2)}, true});
  EXPECT_FALSE(v.ready_to_adopt());
  v.read("n3", dtask::lost_verdicts{5, {}, true});
  ASSERT_TRUE(v.ready_to_adopt());
  // Its notes still count: verdicts kept are verdicts kept.
  EXPECT_EQ(names_of(v.adopt()), std::vector<std::string>{"a"});
}

// -- outcome_rounds -----------------------------------------------------------

namespace {

dtask::lost_note ended(std::string name, uint64_t epoch) {
  auto n = lost(std::move(name), epoch);
  n.status.state = dtask::task_state::done;
  return n;
}

} // namespace

TEST(outcome_rounds, what_waits_is_released_once_when_a_majority_kept_the_round) {
  dtask::outcome_rounds<std::string> r{2, 9};
  r.add(ended("a", 1), "tell a");
  r.add(ended("b", 1), "tell b");
  EXPECT_TRUE(r.pending("a", 1));
  auto id = r.flush(at(0));
  ASSERT_NE(id, 0u);
  EXPECT_EQ(r.find(id)->verdicts.notes.size(), 2u);
  EXPECT_TRUE(r.kept(id, "n1").empty());
  EXPECT_TRUE(r.kept(id, "n1").empty()); // The same voter twice is one.
  EXPECT_TRUE(r.pending("a", 1));
  EXPECT_EQ(r.kept(id, "n2"), (std::vector<std::string>{"tell a", "tell b"}));
  EXPECT_FALSE(r.pending("a", 1));
  EXPECT_TRUE(r.kept(id, "n3").empty()); // Once.
  EXPECT_EQ(r.open_rounds(), 0u);
}

TEST(outcome_rounds, a_flush_without_outcomes_opens_no_round) {
  dtask::outcome_rounds<int> r{2, 9};
  EXPECT_EQ(r.flush(at(0)), 0u);
  r.add(ended("a", 1), 1);
  auto first = r.flush(at(0));
  r.add(ended("b", 1), 2);
  auto second = r.flush(at(1));
  EXPECT_NE(first, second);
  EXPECT_EQ(r.kept(second, "n1"), std::vector<int>{});
  EXPECT_EQ(r.kept(second, "n2"), std::vector<int>{2});
  EXPECT_TRUE(r.pending("a", 1)); // Its own round is not kept yet.
}

TEST(outcome_rounds, a_round_not_kept_in_time_is_due_again) {
  dtask::outcome_rounds<int> r{2, 9};
  r.add(ended("a", 1), 1);
  auto id = r.flush(at(0));
  EXPECT_TRUE(r.due(at(999), milliseconds(1000)).empty());
  EXPECT_EQ(r.due(at(1000), milliseconds(1000)), std::vector<uint64_t>{id});
}

// -- end_reads ----------------------------------------------------------------

TEST(end_reads, a_read_ends_once_a_majority_answered_with_every_outcome_found) {
  dtask::end_reads r{2};
  auto id = r.open({dtask::task_key{"a", 1}, dtask::task_key{"b", 1}}, at(0));
  EXPECT_FALSE(r.answer(id, "n1", true, {}));
  EXPECT_FALSE(r.answer(id, "n1", true, {ended("a", 1)})); // Once.
  auto res = r.answer(id, "n2", true, {});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->keys.size(), 2u);
  EXPECT_EQ(names_of(res->found), std::vector<std::string>{"a"});
  EXPECT_FALSE(r.answer(id, "n3", true, {ended("b", 1)})); // Gone.
  EXPECT_EQ(r.open_reads(), 0u);
}

TEST(end_reads, an_answer_of_a_voter_that_may_have_forgotten_does_not_count) {
  dtask::end_reads r{2};
  auto id = r.open({dtask::task_key{"a", 1}}, at(0));
  EXPECT_FALSE(r.answer(id, "n1", false, {}));
  EXPECT_FALSE(r.answer(id, "n2", true, {}));
  auto res = r.answer(id, "n3", true, {});
  ASSERT_TRUE(res);
}

TEST(end_reads, a_read_not_answered_in_time_is_due_again) {
  dtask::end_reads r{2};
  auto id = r.open({dtask::task_key{"a", 1}}, at(0));
  EXPECT_TRUE(r.due(at(999), milliseconds(1000)).empty());
  EXPECT_EQ(r.due(at(1000), milliseconds(1000)), std::vector<uint64_t>{id});
  EXPECT_TRUE(r.due(at(1999), milliseconds(1000)).empty());
}
