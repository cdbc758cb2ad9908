// The election (include/dtask/election.hpp) and the membership view it reads
// (include/dtask/membership.hpp): one test per verdict of `should_elect` and
// per rule, with time passed in. Handles do not matter here: members carry
// default (invalid) ones.

#include <set>

#include <gtest/gtest.h>

#include "dtask/election.hpp"
#include "dtask/names.hpp"
#include "dtask/membership.hpp"

using namespace std::chrono_literals;
using dtask::election_verdict;
using dtask::member;
using dtask::membership;

namespace {

const std::vector<std::string> three_voters{"a:1", "b:2", "c:3"};

member node(std::string name) {
  return member{std::move(name), {}, {}};
}

struct election_test : ::testing::Test {
  dtask::clock_type::time_point t0 = dtask::clock_type::time_point{} + 1h;
  /// Node "a:1", the smallest voter, with "b:2" as its peer: a majority of
  /// three, and an election after a pre-vote unless something says no.
  membership members{node("a:1"), three_voters};
  bool has_orchestrator = false;
  bool first_round_done = true;
  bool prevoting = false;
  bool prevoted = true;
  /// It knows an epoch (not the first boot).
  uint64_t last_epoch = 256;

  void SetUp() override {
    members.start_watchdog(t0);
    members.add(node("b:2"));
  }

  election_verdict decide(dtask::clock_type::time_point now) {
    dtask::election_view v{members};
    v.has_orchestrator = has_orchestrator;
    v.first_round_done = first_round_done;
    v.prevoting = prevoting;
    v.prevoted = prevoted;
    v.last_epoch = last_epoch;
    return dtask::should_elect(v, now);
  }

  election_verdict decide() {
    return decide(t0);
  }
};

} // namespace

// -- one test per verdict -----------------------------------------------------

TEST_F(election_test, elects_with_a_majority_as_the_smallest_voter) {
  EXPECT_EQ(decide(), election_verdict::elect);
}

TEST_F(election_test, asks_the_peers_first_unless_prevoted) {
  prevoted = false;
  EXPECT_EQ(decide(), election_verdict::prevote_first);
}

TEST_F(election_test, a_node_without_peers_elects_without_a_prevote) {
  membership alone{node("a:1"), {"a:1"}};
  alone.start_watchdog(t0);
  dtask::election_view v{alone};
  v.first_round_done = true;
  EXPECT_EQ(dtask::should_elect(v, t0), election_verdict::elect);
}

TEST_F(election_test, not_while_following_an_orchestrator) {
  has_orchestrator = true;
  EXPECT_EQ(decide(), election_verdict::has_orchestrator);
}

TEST_F(election_test, not_before_the_first_round_of_seeds_ended) {
  first_round_done = false;
  EXPECT_EQ(decide(), election_verdict::first_round_pending);
}

TEST_F(election_test, not_while_a_prevote_is_under_way) {
  prevoting = true;
  EXPECT_EQ(decide(), election_verdict::prevote_under_way);
}

TEST_F(election_test, not_while_leaving) {
  members.set_leaving();
  EXPECT_EQ(decide(), election_verdict::leaving);
}

TEST_F(election_test, not_a_node_outside_the_seeds_list) {
  membership outsider{node("0:9"), three_voters};
  outsider.start_watchdog(t0);
  outsider.add(node("a:1"));
  outsider.add(node("b:2"));
  dtask::election_view v{outsider};
  v.first_round_done = true;
  v.prevoted = true;
  EXPECT_EQ(dtask::should_elect(v, t0), election_verdict::not_a_voter);
}

TEST_F(election_test, not_without_a_majority) {
  members.remove("b:2", t0);
  EXPECT_EQ(decide(t0 + 10s), election_verdict::no_majority);
}

TEST_F(election_test, not_knowing_an_epoch_without_every_voter) {
  // A majority of voters that all restarted knows no epoch; the voter it
  // cannot see may remember the last one (seed 8415661990).
  last_epoch = 0;
  EXPECT_EQ(decide(), election_verdict::epoch_unknown);
  members.add(node("c:3"));
  EXPECT_EQ(decide(), election_verdict::elect);
}

TEST_F(election_test, epoch_unknown_comes_after_no_majority) {
  last_epoch = 0;
  members.remove("b:2", t0);
  EXPECT_EQ(decide(t0 + 10s), election_verdict::no_majority);
}

TEST(membership, sees_all_voters_counts_self_and_voter_peers) {
  membership a{node("a:1"), three_voters};
  EXPECT_FALSE(a.sees_all_voters());
  a.add(node("b:2"));
  a.add(node("x:9"));
  EXPECT_FALSE(a.sees_all_voters());
  a.add(node("c:3"));
  EXPECT_TRUE(a.sees_all_voters());
  membership outsider{node("0:9"), three_voters};
  outsider.add(node("a:1"));
  outsider.add(node("b:2"));
  EXPECT_FALSE(outsider.sees_all_voters());
  outsider.add(node("c:3"));
  EXPECT_TRUE(outsider.sees_all_voters());
}

TEST_F(election_test, not_while_a_smaller_voter_is_live) {
  membership b{node("b:2"), three_voters};
  b.start_watchdog(t0);
  b.add(node("a:1"));
  dtask::election_view v{b};
  v.first_round_done = true;
  v.prevoted = true;
  v.last_epoch = 256;
  EXPECT_EQ(dtask::should_elect(v, t0), election_verdict::smaller_voter_exists);
}

TEST_F(election_test, not_within_the_grace_after_losing_every_peer) {
  membership single{node("a:1"), {"a:1"}};
  single.start_watchdog(t0);
  single.add(node("x:7"));
  single.remove("x:7", t0);
  dtask::election_view v{single};
  v.first_round_done = true;
  EXPECT_EQ(dtask::should_elect(v, t0 + 1s),
            election_verdict::alone_within_grace);
}

TEST_F(election_test, not_while_stalled) {
  // The watchdog last ran at t0: half a second later without a run, the
  // node is stalled right now.
  EXPECT_EQ(decide(t0 + 500ms), election_verdict::stalled);
}

TEST_F(election_test, reasons_come_in_order_first_one_wins) {
  has_orchestrator = true;
  first_round_done = false;
  members.set_leaving();
  EXPECT_EQ(decide(), election_verdict::has_orchestrator);
  has_orchestrator = false;
  EXPECT_EQ(decide(), election_verdict::first_round_pending);
  first_round_done = true;
  EXPECT_EQ(decide(), election_verdict::leaving);
}

// -- majority -----------------------------------------------------------------

TEST(membership, majority_counts_the_node_itself_if_it_is_a_voter) {
  membership a{node("a:1"), three_voters};
  EXPECT_FALSE(a.sees_majority()); // 1 of 3
  a.add(node("c:3"));
  EXPECT_TRUE(a.sees_majority()); // 2 of 3
  a.add(node("b:2"));
  EXPECT_TRUE(a.sees_majority());
}

TEST(membership, majority_of_a_non_voter_counts_only_voter_peers) {
  membership outsider{node("z:9"), three_voters};
  outsider.add(node("a:1"));
  EXPECT_FALSE(outsider.sees_majority()); // 1 of 3: itself does not count
  outsider.add(node("y:8"));
  EXPECT_FALSE(outsider.sees_majority()); // non-voter peers do not count
  outsider.add(node("b:2"));
  EXPECT_TRUE(outsider.sees_majority()); // 2 of 3
}

TEST(membership, majority_is_strict) {
  const std::vector<std::string> four{"a:1", "b:2", "c:3", "d:4"};
  membership a{node("a:1"), four};
  a.add(node("b:2"));
  EXPECT_FALSE(a.sees_majority()); // 2 of 4 is no majority
  a.add(node("c:3"));
  EXPECT_TRUE(a.sees_majority());
}

TEST(membership, leaving_peers_still_count_for_the_majority) {
  membership a{node("a:1"), three_voters};
  a.add(node("b:2"));
  ASSERT_TRUE(a.mark_leaving("b:2"));
  EXPECT_TRUE(a.sees_majority());
}

// -- who elects -----------------------------------------------------------------

TEST(membership, next_voter_is_the_smallest_voter_peer_not_leaving) {
  membership c{node("c:3"), three_voters};
  EXPECT_EQ(c.next_voter(), nullptr);
  c.add(node("0:0")); // not a voter
  EXPECT_EQ(c.next_voter(), nullptr);
  c.add(node("b:2"));
  c.add(node("a:1"));
  ASSERT_NE(c.next_voter(), nullptr);
  EXPECT_EQ(c.next_voter()->node, "a:1");
  c.mark_leaving("a:1");
  EXPECT_EQ(c.next_voter()->node, "b:2");
}

TEST_F(election_test, a_smaller_voter_that_is_leaving_does_not_block) {
  membership b{node("b:2"), three_voters};
  b.start_watchdog(t0);
  b.add(node("a:1"));
  b.mark_leaving("a:1");
  dtask::election_view v{b};
  v.first_round_done = true;
  v.prevoted = true;
  v.last_epoch = 256;
  EXPECT_EQ(dtask::should_elect(v, t0), election_verdict::elect);
}

TEST_F(election_test, a_smaller_non_voter_peer_does_not_block) {
  members.add(node("0:0"));
  EXPECT_EQ(decide(), election_verdict::elect);
}

TEST(membership, mark_leaving_only_for_peers) {
  membership a{node("a:1"), three_voters};
  EXPECT_FALSE(a.mark_leaving("b:2"));
  a.add(node("b:2"));
  EXPECT_TRUE(a.mark_leaving("b:2"));
  auto all = a.all_members();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_FALSE(all[0].leaving);
  EXPECT_TRUE(all[1].leaving);
  // A peer that comes back after it left is no longer leaving.
  a.remove("b:2", dtask::clock_type::time_point{});
  a.add(node("b:2"));
  EXPECT_FALSE(a.all_members()[1].leaving);
}

TEST(membership, all_members_start_with_the_node_itself) {
  membership b{node("b:2"), three_voters};
  b.add(node("c:3"));
  b.add(node("a:1"));
  b.set_leaving();
  auto all = b.all_members();
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].node, "b:2");
  EXPECT_TRUE(all[0].leaving);
  EXPECT_EQ(all[1].node, "a:1");
  EXPECT_EQ(all[2].node, "c:3");
  EXPECT_EQ(b.names(), (std::vector<std::string>{"b:2", "a:1", "c:3"}));
  EXPECT_FALSE(b.self().leaving); // what it sends in `join`
}

TEST(membership, own_view_is_sorted_and_marks_the_followed_orchestrator) {
  membership b{node("b:2"), three_voters};
  b.add(node("a:1"));
  b.mark_leaving("a:1");
  auto rows = b.own_view(dtask::orchestrator_ref{});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].node, "a:1");
  EXPECT_EQ(rows[0].state, "leaving");
  EXPECT_EQ(rows[1].state, "up");
  // Without a handle the named orchestrator is not followed.
  rows = b.own_view(dtask::orchestrator_ref{{}, "b:2", 256});
  EXPECT_FALSE(rows[1].orchestrator);
}

TEST(membership, admits_neither_itself_nor_members_without_handles) {
  membership a{node("a:1"), three_voters};
  EXPECT_EQ(a.admit(node("a:1")), dtask::admission::ignore);
  EXPECT_EQ(a.admit(node("b:2")), dtask::admission::ignore);
}

// -- alone --------------------------------------------------------------------

TEST_F(election_test, grace_ends_two_seconds_after_the_last_peer_left) {
  membership single{node("a:1"), {"a:1"}};
  single.add(node("x:7"));
  single.remove("x:7", t0);
  ASSERT_TRUE(single.alone_since());
  EXPECT_EQ(*single.alone_since(), t0);
  auto now = t0 + dtask::alone_grace;
  single.start_watchdog(now); // no stall
  dtask::election_view v{single};
  v.first_round_done = true;
  EXPECT_EQ(dtask::should_elect(v, now - 1ms),
            election_verdict::alone_within_grace);
  EXPECT_EQ(dtask::should_elect(v, now), election_verdict::elect);
}

TEST_F(election_test, a_node_that_never_had_a_peer_has_no_grace) {
  membership single{node("a:1"), {"a:1"}};
  single.start_watchdog(t0);
  EXPECT_FALSE(single.alone_since());
  dtask::election_view v{single};
  v.first_round_done = true;
  EXPECT_EQ(dtask::should_elect(v, t0), election_verdict::elect);
}

TEST(membership, a_new_peer_ends_being_alone) {
  membership a{node("a:1"), three_voters};
  auto t = dtask::clock_type::time_point{} + 1h;
  a.add(node("b:2"));
  a.add(node("c:3"));
  a.remove("b:2", t);
  EXPECT_FALSE(a.alone_since()); // c:3 is still there
  a.remove("c:3", t + 1s);
  EXPECT_EQ(*a.alone_since(), t + 1s);
  a.add(node("b:2"));
  EXPECT_FALSE(a.alone_since());
  EXPECT_FALSE(a.remove("x:0", t)); // not a peer
}

// -- stalls -------------------------------------------------------------------

TEST(membership, watchdog_reports_a_gap_above_the_threshold) {
  membership a{node("a:1"), three_voters};
  auto t = dtask::clock_type::time_point{} + 1h;
  a.start_watchdog(t);
  EXPECT_FALSE(a.watchdog_tick(t + dtask::stall_threshold));
  t += dtask::stall_threshold;
  auto gap = a.watchdog_tick(t + dtask::stall_threshold + 1ms);
  ASSERT_TRUE(gap);
  EXPECT_EQ(*gap, dtask::stall_threshold + 1ms);
}

TEST_F(election_test, a_stall_holds_elections_for_the_hold_time) {
  auto woke = t0 + 3s;
  ASSERT_TRUE(members.watchdog_tick(woke));
  // The watchdog runs on time from now on; elections stay held until the
  // hold ends.
  auto now = woke;
  while (now + dtask::watchdog_interval < woke + dtask::stall_hold) {
    now += dtask::watchdog_interval;
    EXPECT_FALSE(members.watchdog_tick(now));
    EXPECT_EQ(decide(now), election_verdict::stalled);
  }
  now = woke + dtask::stall_hold;
  members.watchdog_tick(now);
  EXPECT_EQ(decide(now), election_verdict::elect);
}

// -- the orchestrator that went down --------------------------------------------

TEST(membership, a_dead_orchestrator_is_ignored_for_half_a_second) {
  membership a{node("a:1"), three_voters};
  auto t = dtask::clock_type::time_point{} + 1h;
  a.orchestrator_down({}, t);
  EXPECT_TRUE(a.reported_dead({}, t));
  EXPECT_TRUE(a.reported_dead({}, t + 499ms));
  EXPECT_FALSE(a.reported_dead({}, t + 500ms));
}

// -- epochs -------------------------------------------------------------------

TEST(epochs, next_epoch_is_the_next_round_and_the_voter_index) {
  EXPECT_EQ(dtask::next_epoch(0, 0), 0x100u);
  EXPECT_EQ(dtask::next_epoch(0, 2), 0x102u);
  EXPECT_EQ(dtask::next_epoch(0x102, 0), 0x200u);
  EXPECT_EQ(dtask::next_epoch(0x1ff, 1), 0x201u);
}

TEST(epochs, next_epoch_is_unique_per_voter_and_above_the_last) {
  // Two sides of a partition that elect in the same round get different
  // epochs; every epoch of a round is above every epoch of the round before.
  for (uint64_t last : {0x0ull, 0x100ull, 0x3feull}) {
    std::set<uint64_t> seen;
    for (size_t index = 0; index < 7; ++index) {
      auto epoch = dtask::next_epoch(last, index);
      EXPECT_GT(epoch, last);
      EXPECT_TRUE(seen.insert(epoch).second) << "index " << index;
      EXPECT_GT(dtask::next_epoch(epoch, 0), epoch);
    }
  }
}

TEST(epochs, voter_index_is_the_position_among_sorted_voters) {
  EXPECT_EQ(dtask::voter_index(three_voters, "a:1"), 0u);
  EXPECT_EQ(dtask::voter_index(three_voters, "c:3"), 2u);
}

TEST(epochs, an_orchestrator_below_the_highest_epoch_seen_is_outdated) {
  dtask::seen_epochs epochs;
  EXPECT_FALSE(epochs.outdated(0));
  EXPECT_TRUE(epochs.note(0x201));
  EXPECT_EQ(epochs.highest(), 0x201u);
  EXPECT_TRUE(epochs.outdated(0x200));
  EXPECT_FALSE(epochs.outdated(0x201));
  EXPECT_FALSE(epochs.outdated(0x300));
  // Outdated for good: a lower epoch seen later changes nothing.
  EXPECT_FALSE(epochs.note(0x100));
  EXPECT_FALSE(epochs.note(0x201));
  EXPECT_EQ(epochs.highest(), 0x201u);
  EXPECT_TRUE(epochs.outdated(0x200));
}

// -- the pre-vote ---------------------------------------------------------------

TEST(prevote, ends_after_every_peer_answered_or_failed) {
  dtask::prevote_tally tally{3};
  EXPECT_FALSE(tally.record(dtask::orchestrator_ref{}));
  EXPECT_FALSE(tally.record_no_answer());
  EXPECT_TRUE(tally.record(dtask::orchestrator_ref{}));
  // No peer named a live orchestrator.
  EXPECT_FALSE(tally.best().handle);
}

// -- joining ------------------------------------------------------------------

TEST(join_attempts, first_round_ends_with_its_last_attempt) {
  dtask::join_attempts joins;
  joins.start_first_round(2);
  EXPECT_FALSE(joins.first_round_done());
  EXPECT_FALSE(joins.first_round_step());
  EXPECT_TRUE(joins.first_round_step());
  EXPECT_TRUE(joins.first_round_done());
  EXPECT_FALSE(joins.first_round_step()); // ended once
}

TEST(join_attempts, without_seeds_the_first_round_is_over_at_once) {
  dtask::join_attempts joins;
  joins.start_first_round(0);
  EXPECT_TRUE(joins.first_round_done());
}

TEST(join_attempts, one_attempt_per_endpoint_at_a_time) {
  dtask::join_attempts joins;
  EXPECT_TRUE(joins.begin("a:1"));
  EXPECT_FALSE(joins.begin("a:1"));
  EXPECT_TRUE(joins.begin("b:2"));
  joins.end("a:1");
  EXPECT_TRUE(joins.begin("a:1"));
}

// -- valid_epoch: what a node accepts from peers ------------------------------

TEST(valid_epoch, a_voters_own_epochs_are_valid) {
  std::vector<std::string> voters{"a:1", "b:2", "c:3"};
  std::string b = "b:2";
  EXPECT_TRUE(dtask::valid_epoch(dtask::next_epoch(0, 1), voters, &b));
  EXPECT_TRUE(dtask::valid_epoch(dtask::next_epoch(5000, 1), voters, &b));
  EXPECT_TRUE(dtask::valid_epoch(0, voters)); // "none seen"
  EXPECT_TRUE(dtask::valid_epoch(0x301, voters));
}

TEST(valid_epoch, an_epoch_of_another_voter_or_a_stranger_is_not) {
  std::vector<std::string> voters{"a:1", "b:2", "c:3"};
  std::string b = "b:2", x = "x:9";
  EXPECT_FALSE(dtask::valid_epoch(dtask::next_epoch(0, 2), voters, &b));
  EXPECT_FALSE(dtask::valid_epoch(dtask::next_epoch(0, 1), voters, &x));
  EXPECT_FALSE(dtask::valid_epoch(0x1, voters, &b)); // Round 0: none.
  EXPECT_FALSE(dtask::valid_epoch(0x1FF, voters)); // Slot 255: never given.
  EXPECT_FALSE(dtask::valid_epoch(0x103, voters)); // No slot 3 given yet.
  // A slot an earlier configuration gave: its orchestrators' epochs count.
  std::string err;
  auto later = dtask::voting_config::initial(voters).with_removed("b:2", 1, err);
  EXPECT_TRUE(dtask::valid_epoch(0x201, later));
  EXPECT_FALSE(dtask::valid_epoch(0x201, later, &b));
  EXPECT_FALSE(dtask::valid_epoch(0x3, voters)); // Round 0: none.
}

TEST(valid_epoch, epochs_near_overflow_are_refused) {
  std::vector<std::string> voters{"a:1", "b:2", "c:3"};
  std::string a = "a:1";
  EXPECT_FALSE(dtask::valid_epoch(UINT64_MAX, voters));
  EXPECT_FALSE(dtask::valid_epoch(UINT64_MAX & ~uint64_t{0xFF}, voters, &a));
  EXPECT_FALSE(dtask::valid_epoch(dtask::max_epoch + 1, voters));
  auto last = dtask::max_epoch & ~uint64_t{0xFF};
  EXPECT_TRUE(dtask::valid_epoch(last, voters, &a));
  // The next election from the largest accepted epoch still fits in 32 bits
  // (incarnation epochs are orchestrator epoch << 32 | sequence).
  EXPECT_LT(dtask::next_epoch(dtask::max_epoch, 2), uint64_t{1} << 32);
}

TEST(escaped, control_characters_and_long_names_cannot_forge_log_lines) {
  EXPECT_EQ(dtask::escaped("node-1:4101"), "node-1:4101");
  EXPECT_EQ(dtask::escaped("a\nb\\c"), "a\\x0ab\\x5cc");
  EXPECT_EQ(dtask::escaped(std::string(100, 'x'), 10), "xxxxxxxxxx...");
  EXPECT_EQ(dtask::escaped("\xff"), "\\xff");
}
