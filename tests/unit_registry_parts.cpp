// The plain parts of a registry: lease gate, parking queue, mirror origin
// and mirror store (actors/*.hpp). One test per rule of each file comment.

#include <gtest/gtest.h>

#include "lease_cover.hpp"
#include "lease_gate.hpp"
#include "lost_note_store.hpp"
#include "mirror_origin.hpp"
#include "mirror_store.hpp"
#include "parked_orders.hpp"

namespace {

using dtask::clock_type;
using std::chrono::milliseconds;

clock_type::time_point at(int64_t ms) {
  return clock_type::time_point{milliseconds(ms)};
}

dtask::registry_entry entry(std::string name, uint64_t epoch,
                            dtask::task_state state
                            = dtask::task_state::running) {
  dtask::registry_entry e;
  e.order.name = std::move(name);
  e.order.epoch = epoch;
  e.status.state = state;
  return e;
}

// -- lease_gate ---------------------------------------------------------------

TEST(lease_gate, holds_no_lease_before_a_grant) {
  dtask::lease_gate gate;
  EXPECT_FALSE(gate.valid(at(0)));
}

TEST(lease_gate, a_grant_counts_from_the_request_send_time) {
  dtask::lease_gate gate;
  gate.grant(at(1000), 0);
  EXPECT_TRUE(gate.valid(at(1000) + dtask::lease_duration - milliseconds(1)));
  EXPECT_FALSE(gate.valid(at(1000) + dtask::lease_duration));
  EXPECT_EQ(gate.until(), at(1000) + dtask::lease_duration);
}

TEST(lease_gate, a_late_grant_of_an_old_request_never_shrinks_the_lease) {
  dtask::lease_gate gate;
  gate.grant(at(2000), 0);
  gate.grant(at(1000), 0);
  EXPECT_EQ(gate.until(), at(2000) + dtask::lease_duration);
}

TEST(lease_gate, the_workers_see_each_grant) {
  dtask::lease_gate gate;
  auto cut = gate.published()->cuts.load();
  gate.grant(at(1000), 0);
  EXPECT_TRUE(gate.published()->valid(at(1500), cut));
  EXPECT_FALSE(gate.published()->valid(at(1000) + dtask::lease_duration, cut));
}

TEST(lease_gate, a_cut_stops_workers_spawned_before_it_even_under_a_new_grant) {
  dtask::lease_gate gate;
  auto before = gate.published()->cuts.load();
  gate.cut();
  gate.grant(at(5000), 0);
  EXPECT_FALSE(gate.published()->valid(at(5100), before));
  EXPECT_TRUE(gate.published()->valid(at(5100), gate.published()->cuts.load()));
}

TEST(lease_gate, node_gen_only_grows_until_a_new_orchestrator_is_followed) {
  dtask::lease_gate gate;
  gate.grant(at(0), 3);
  gate.grant(at(0), 2);
  EXPECT_EQ(gate.node_gen(), 3u);
  gate.follow_new_orchestrator();
  EXPECT_EQ(gate.node_gen(), 0u);
}

// -- parked_orders ------------------------------------------------------------

dtask::spawn_order order(std::string name) {
  dtask::spawn_order o;
  o.name = std::move(name);
  return o;
}

TEST(parked_orders, take_returns_only_orders_parked_for_that_reason) {
  dtask::parked_orders<int> q;
  q.park(order("a"), 1, dtask::wait_reason::lease, at(100));
  q.park(order("b"), 2, dtask::wait_reason::stopping_worker);
  q.park(order("c"), 3, dtask::wait_reason::mirror_promise);
  auto taken = q.take(dtask::wait_reason::stopping_worker,
                      [](const auto&) { return true; });
  ASSERT_EQ(taken.size(), 1u);
  EXPECT_EQ(taken[0].order.name, "b");
  EXPECT_EQ(taken[0].promise, 2);
  EXPECT_EQ(q.count(dtask::wait_reason::lease), 1u);
  EXPECT_EQ(q.count(dtask::wait_reason::mirror_promise), 1u);
  EXPECT_EQ(q.count(dtask::wait_reason::stopping_worker), 0u);
}

TEST(parked_orders, take_keeps_what_is_not_ready_and_keeps_arrival_order) {
  dtask::parked_orders<int> q;
  q.park(order("a"), 1, dtask::wait_reason::lease, at(300));
  q.park(order("b"), 2, dtask::wait_reason::lease, at(100));
  q.park(order("c"), 3, dtask::wait_reason::lease, at(200));
  auto due = q.take(dtask::wait_reason::lease,
                    [](const auto& p) { return p.deadline <= at(200); });
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].order.name, "b");
  EXPECT_EQ(due[1].order.name, "c");
  EXPECT_EQ(q.count(dtask::wait_reason::lease), 1u);
}

// -- mirror_origin ------------------------------------------------------------

TEST(mirror_origin, a_promise_to_the_current_mirror_blocks_nothing) {
  dtask::mirror_origin<std::string> origin;
  origin.promise("m1", at(0));
  EXPECT_FALSE(origin.blocked("m1", at(100)));
}

TEST(mirror_origin, a_promise_to_another_mirror_blocks_until_it_ran_out) {
  dtask::mirror_origin<std::string> origin;
  origin.promise("m1", at(0));
  EXPECT_TRUE(origin.blocked("m2", at(100)));
  EXPECT_TRUE(origin.blocked("", at(100))); // No mirror at all.
  EXPECT_TRUE(origin.blocked("m2", at(0) + dtask::mirror_promise
                                     - milliseconds(1)));
  EXPECT_FALSE(origin.blocked("m2", at(0) + dtask::mirror_promise));
}

TEST(mirror_origin, a_promise_is_extended_never_shortened) {
  dtask::mirror_origin<std::string> origin;
  origin.promise("m1", at(1000));
  origin.promise("m1", at(0));
  EXPECT_TRUE(origin.blocked("m2", at(1000) + dtask::mirror_promise
                                     - milliseconds(1)));
}

// -- mirror_store ---------------------------------------------------------------

TEST(mirror_store, stores_every_entry_of_a_batch_under_its_name) {
  dtask::mirror_store<int> store;
  std::vector<dtask::registry_entry> batch{entry("a", 1), entry("b", 2),
                                           entry("c", 3)};
  store.store("o", batch);
  EXPECT_EQ(store.entries_of("o"), 3u);
}

TEST(mirror_store, an_older_incarnation_never_replaces_a_newer_one) {
  // The origin reports an older incarnation's outcome again (not yet
  // acknowledged) after it started the name anew: the running one stays.
  dtask::mirror_store<int> store;
  std::vector<dtask::registry_entry> running{entry("a", 9)};
  store.store("o", running);
  std::vector<dtask::registry_entry> old{
    entry("a", 5, dtask::task_state::done)};
  store.store("o", old);
  auto seen = std::vector<std::pair<uint64_t, bool>>{};
  store.for_each_entry([&](const std::string&, const dtask::local_entry& e) {
    seen.emplace_back(e.order.epoch, e.running());
  });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, 9u);
  EXPECT_TRUE(seen[0].second);
  // Its own outcome replaces it.
  std::vector<dtask::registry_entry> ended{
    entry("a", 9, dtask::task_state::done)};
  store.store("o", ended);
  seen.clear();
  store.for_each_entry([&](const std::string&, const dtask::local_entry& e) {
    seen.emplace_back(e.order.epoch, e.running());
  });
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, 9u);
  EXPECT_FALSE(seen[0].second);
}

TEST(mirror_store, replace_all_replaces_and_an_empty_one_is_a_drop) {
  dtask::mirror_store<int> store;
  std::vector<dtask::registry_entry> batch{entry("a", 1), entry("b", 2)};
  store.store("o", batch);
  std::vector<dtask::registry_entry> one{entry("c", 3)};
  store.store("o", one, true);
  EXPECT_EQ(store.entries_of("o"), 1u);
  store.drop("o");
  EXPECT_EQ(store.entries_of("o"), 0u);
}

TEST(mirror_store, removes_only_the_named_incarnation) {
  dtask::mirror_store<int> store;
  std::vector<dtask::registry_entry> batch{entry("a", 5)};
  store.store("o", batch);
  store.remove("o", {dtask::task_key{"a", 4}});
  EXPECT_EQ(store.entries_of("o"), 1u);
  store.remove("o", {dtask::task_key{"a", 5}});
  EXPECT_EQ(store.entries_of("o"), 0u);
}

TEST(mirror_store, forget_takes_an_incarnation_over_from_any_origin) {
  dtask::mirror_store<int> store;
  std::vector<dtask::registry_entry> batch{entry("a", 5)};
  store.store("o", batch);
  EXPECT_FALSE(store.forget("a", 4));
  EXPECT_TRUE(store.forget("a", 5));
  EXPECT_EQ(store.entries_of("o"), 0u);
}

TEST(mirror_store, promises_count_only_from_the_origins_registry) {
  dtask::mirror_store<int> store;
  store.note_origin("o", 7);
  store.promised("o", 8, at(500));
  EXPECT_EQ(store.promise_of("o"), clock_type::time_point{});
  store.promised("o", 7, at(500));
  store.promised("o", 7, at(400));
  EXPECT_EQ(store.promise_of("o"), at(500));
}

TEST(mirror_store, a_restarted_origin_holds_no_promise_yet) {
  dtask::mirror_store<int> store;
  store.note_origin("o", 7);
  store.promised("o", 7, at(500));
  store.note_origin("o", 9);
  EXPECT_EQ(store.promise_of("o"), clock_type::time_point{});
}

TEST(mirror_store, member_lists_carry_their_origins_promise) {
  dtask::mirror_store<int> store;
  store.note_origin("o", 7);
  store.set_members("o", {"x", "y"});
  store.promised("o", 7, at(500));
  auto lists = store.member_lists();
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_EQ(lists[0].origin, "o");
  EXPECT_EQ(lists[0].members.size(), 2u);
  EXPECT_EQ(lists[0].promised_until, dtask::mono_ns(at(500)));
}

TEST(mirror_store, asks_promises_only_of_origins_with_a_registry) {
  dtask::mirror_store<int> store;
  store.note_origin("o", 7);
  store.note_origin("p", 0);
  std::vector<int> asked;
  store.for_each_origin([&](int r) { asked.push_back(r); });
  EXPECT_EQ(asked, std::vector<int>{7});
}

// -- lost_note_store ----------------------------------------------------------

dtask::lost_note note(std::string name, uint64_t epoch) {
  dtask::lost_note n;
  n.status.name = std::move(name);
  n.status.epoch = epoch;
  n.status.state = dtask::task_state::lost;
  return n;
}

dtask::lost_verdicts verdicts(uint64_t orch_epoch,
                              std::vector<dtask::lost_note> notes) {
  return dtask::lost_verdicts{orch_epoch, std::move(notes), false};
}

std::vector<std::string> names_in(const dtask::lost_verdicts& v) {
  std::vector<std::string> result;
  for (auto& n : v.notes)
    result.push_back(n.status.name);
  return result;
}

TEST(lost_note_store, keeps_the_notes_of_its_orchestrator_and_reads_them_whole) {
  dtask::lost_note_store store;
  auto v = verdicts(5, {note("a", 1)});
  EXPECT_TRUE(store.keep(v, at(0)));
  auto w = verdicts(5, {note("b", 2), note("a", 1)}); // "a" once.
  EXPECT_TRUE(store.keep(w, at(10)));
  auto r = store.read(0, at(0));
  EXPECT_EQ(r.orch_epoch, 5u);
  EXPECT_FALSE(r.complete); // A voter whose process is new: see below.
  EXPECT_EQ(names_in(r), (std::vector<std::string>{"a", "b"}));
}

TEST(lost_note_store, refuses_an_older_orchestrator) {
  dtask::lost_note_store store;
  auto v = verdicts(5, {note("a", 1)});
  store.keep(v, at(0));
  auto old = verdicts(4, {note("b", 2)});
  EXPECT_FALSE(store.keep(old, at(10)));
  EXPECT_EQ(names_in(store.read(0, at(0))), std::vector<std::string>{"a"});
  EXPECT_EQ(store.read(0, at(0)).orch_epoch, 5u);
}

TEST(lost_note_store, after_a_read_refuses_orchestrators_older_than_the_reader) {
  dtask::lost_note_store store;
  auto v = verdicts(5, {note("a", 1)});
  store.keep(v, at(0));
  EXPECT_EQ(names_in(store.read(7, at(0))), std::vector<std::string>{"a"});
  auto late = verdicts(5, {note("b", 2)}); // The old one, after the read.
  EXPECT_FALSE(store.keep(late, at(10)));
  auto reader = verdicts(7, {note("a", 1)});
  EXPECT_TRUE(store.keep(reader, at(20)));
  EXPECT_EQ(names_in(store.read(0, at(0))), std::vector<std::string>{"a"});
}

TEST(lost_note_store, a_newer_orchestrator_replaces_the_kept_set) {
  dtask::lost_note_store store;
  auto v = verdicts(5, {note("a", 1)});
  store.keep(v, at(0));
  auto newer = verdicts(6, {note("b", 2)});
  EXPECT_TRUE(store.keep(newer, at(10)));
  EXPECT_EQ(names_in(store.read(0, at(0))), std::vector<std::string>{"b"});
  EXPECT_EQ(store.read(0, at(0)).orch_epoch, 6u);
}

TEST(lost_note_store, forgets_notes_after_the_ttl) {
  dtask::lost_note_store store{std::chrono::seconds(60)};
  auto v = verdicts(5, {note("a", 1)});
  store.keep(v, at(0));
  auto w = verdicts(5, {note("b", 1)});
  store.keep(w, at(1000));
  store.expire(at(59999));
  EXPECT_EQ(store.size(), 2u);
  store.expire(at(60000));
  EXPECT_EQ(names_in(store.read(0, at(0))), std::vector<std::string>{"b"});
}

TEST(lost_note_store, beyond_max_the_oldest_note_goes_first) {
  dtask::lost_note_store store{std::chrono::seconds(60), 2};
  auto v = verdicts(5, {note("a", 1), note("b", 1), note("c", 1)});
  store.keep(v, at(0));
  EXPECT_EQ(names_in(store.read(0, at(0))), (std::vector<std::string>{"b", "c"}));
}

// Outcomes kept by a majority before they are told ((h)).

dtask::lost_note end_note(std::string name, uint64_t epoch) {
  auto n = note(std::move(name), epoch);
  n.status.state = dtask::task_state::done;
  return n;
}

std::vector<dtask::task_key> keys(std::vector<std::string> names) {
  std::vector<dtask::task_key> result;
  for (auto& n : names)
    result.push_back(dtask::task_key{n, 1});
  return result;
}

TEST(lost_note_store, outcomes_of_every_orchestrator_are_kept_side_by_side) {
  dtask::lost_note_store store;
  auto v = verdicts(5, {end_note("a", 1)});
  EXPECT_TRUE(store.keep_ends(v, at(0)));
  auto w = verdicts(6, {end_note("b", 1)}); // A newer one drops nothing.
  EXPECT_TRUE(store.keep_ends(w, at(10)));
  EXPECT_EQ(names_in(store.read_ends(6, keys({"a", "b", "c"}), at(0))),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(store.read(0, at(0)).notes.empty()); // Not verdicts.
}

TEST(lost_note_store, a_read_of_outcomes_includes_later_incarnations_of_the_name) {
  dtask::lost_note_store store;
  auto v = verdicts(5, {end_note("a", 1), end_note("a", 3), end_note("ab", 2),
                        end_note("b", 9)});
  store.keep_ends(v, at(0));
  auto r = store.read_ends(5, {dtask::task_key{"a", 2}}, at(0));
  ASSERT_EQ(r.notes.size(), 1u); // Not the older one, nor another name.
  EXPECT_EQ(r.notes[0].status.epoch, 3u);
}

TEST(lost_note_store, a_read_of_outcomes_refuses_older_orchestrators_after_it) {
  dtask::lost_note_store store;
  EXPECT_TRUE(store.read_ends(7, keys({"a"}), at(0)).notes.empty());
  auto late = verdicts(5, {end_note("a", 1)});
  EXPECT_FALSE(store.keep_ends(late, at(10)));
  auto old_verdict = verdicts(5, {note("b", 1)});
  EXPECT_FALSE(store.keep(old_verdict, at(10)));
  EXPECT_TRUE(store.read_ends(7, keys({"a"}), at(0)).notes.empty());
}

TEST(lost_note_store, outcomes_of_an_orchestrator_older_than_the_verdicts_are_refused) {
  dtask::lost_note_store store;
  auto v = verdicts(6, {note("a", 1)});
  store.keep(v, at(0));
  auto old = verdicts(5, {end_note("b", 1)});
  EXPECT_FALSE(store.keep_ends(old, at(10)));
  EXPECT_EQ(store.ends(), 0u);
}

TEST(lost_note_store, a_new_voter_is_complete_after_the_ttl_or_at_the_first_round) {
  dtask::lost_note_store store{std::chrono::seconds(60), 100, at(1000)};
  EXPECT_FALSE(store.complete(at(60999)));
  EXPECT_FALSE(store.read_ends(5, keys({"a"}), at(2000)).complete);
  EXPECT_TRUE(store.complete(at(61000))); // All it forgot expired.
  EXPECT_FALSE(
    dtask::lost_note_store(std::chrono::seconds(60), 100, at(1000))
      .read(7, at(2000))
      .complete);
  dtask::lost_note_store first{std::chrono::seconds(60), 100, at(1000)};
  first.mark_complete();
  EXPECT_TRUE(first.read_ends(5, keys({"a"}), at(2000)).complete);
}

TEST(lost_note_store, a_new_voter_is_complete_once_it_merged_a_majority_of_complete_peers) {
  dtask::lost_note_store store{std::chrono::seconds(60), 100, at(0)};
  EXPECT_TRUE(store.dump(at(0)).ends.notes.empty()); // Not complete.
  dtask::voter_dump incomplete{verdicts(0, {end_note("a", 1)}),
                               verdicts(4, {note("x", 1)})};
  store.merge("n2", incomplete, 2, at(10));
  dtask::voter_dump complete{verdicts(0, {end_note("b", 1)}),
                             verdicts(6, {note("y", 1)})};
  complete.ends.complete = true;
  store.merge("n3", complete, 2, at(10));
  EXPECT_FALSE(store.complete(at(10))); // n2 was not complete.
  dtask::voter_dump again{verdicts(0, {}), verdicts(5, {note("z", 1)})};
  again.ends.complete = true;
  store.merge("n3", again, 2, at(20)); // The same peer counts once.
  EXPECT_FALSE(store.complete(at(20)));
  EXPECT_FALSE(store.merged("n2"));
  EXPECT_TRUE(store.merged("n3"));
  store.merge("n4", again, 2, at(30));
  EXPECT_TRUE(store.complete(at(30)));
  EXPECT_EQ(names_in(store.read_ends(5, keys({"a", "b"}), at(30))),
            (std::vector<std::string>{"a", "b"})); // Merged either way.
  EXPECT_EQ(store.dump(at(30)).ends.notes.size(), 2u);
  // The newest orchestrator's verdicts, as a read would have found them.
  auto r = store.read(6, at(30));
  EXPECT_EQ(r.orch_epoch, 6u);
  EXPECT_EQ(names_in(r), std::vector<std::string>{"y"});
}

TEST(lost_note_store, outcomes_go_after_the_ttl_and_beyond_max) {
  dtask::lost_note_store store{std::chrono::seconds(60), 2};
  auto v = verdicts(5, {end_note("a", 1), end_note("b", 1), end_note("c", 1)});
  store.keep_ends(v, at(0));
  EXPECT_EQ(names_in(store.read_ends(5, keys({"a", "b", "c"}), at(0))),
            (std::vector<std::string>{"b", "c"}));
  store.expire(at(60000));
  EXPECT_EQ(store.ends(), 0u);
}

// -- lease_cover: whom the orchestrator may lease to --------------------------

TEST(lease_cover, leases_to_anyone_while_no_promise_holds) {
  dtask::lease_cover<std::string> c;
  EXPECT_TRUE(c.may_lease("x", at(0)));
  c.listed("m", {"a"});
  EXPECT_TRUE(c.may_lease("x", at(0))) << "a list without a promise";
}

TEST(lease_cover, leases_only_to_listed_nodes_while_a_promise_holds) {
  dtask::lease_cover<std::string> c;
  c.listed("m", {"a", "b"});
  c.promised("m", at(1000));
  EXPECT_TRUE(c.may_lease("a", at(500)));
  EXPECT_FALSE(c.may_lease("x", at(500)));
  c.listed("m", {"a", "b", "x"});
  EXPECT_TRUE(c.may_lease("x", at(600)));
}

TEST(lease_cover, every_mirror_with_a_promise_must_list_the_node) {
  dtask::lease_cover<std::string> c;
  c.listed("old", {"a"});
  c.promised("old", at(1000));
  c.listed("new", {"a", "x"});
  c.promised("new", at(2000));
  c.forget("old"); // Its promise still holds: kept.
  EXPECT_FALSE(c.may_lease("x", at(999)));
  EXPECT_TRUE(c.may_lease("x", at(1000))) << "the old promise ended";
}

TEST(lease_cover, a_switched_away_mirror_without_a_promise_is_forgotten) {
  dtask::lease_cover<std::string> c;
  c.listed("old", {"a"});
  c.forget("old");
  c.promised("old", at(1000)); // A late promise starts a new entry...
  EXPECT_FALSE(c.may_lease("a", at(10))) << "...that lists no one yet";
}

} // namespace
