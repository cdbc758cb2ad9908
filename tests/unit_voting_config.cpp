// The voting configuration (dtask/voting_config.hpp), the commit rule of a
// change (actors/config_change.hpp) and the membership file
// (actors/config_cell.hpp). One test per rule.

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "config_cell.hpp"
#include "config_change.hpp"
#include "dtask/voting_config.hpp"

namespace {

using dtask::voting_config;

voting_config abc() {
  return voting_config::initial({"c:3", "a:1", "b:2"});
}

TEST(voting_config, the_seeds_are_epoch_0_with_their_sorted_index_as_slot) {
  auto x = abc();
  EXPECT_EQ(x.epoch, 0u);
  ASSERT_EQ(x.names(), (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  EXPECT_EQ(x.find("c:3")->slot, 2);
  EXPECT_EQ(x.next_slot, 3);
  EXPECT_EQ(x.quorum(), 2u);
  EXPECT_EQ(dtask::check(x), "");
}

TEST(voting_config, adding_takes_a_free_slot_and_the_next_epoch) {
  std::string err;
  auto x = abc().with_added("aa:9", 0x105, err);
  EXPECT_EQ(err, "");
  EXPECT_EQ(x.epoch, 1u);
  EXPECT_EQ(x.by, 0x105u);
  EXPECT_EQ(x.names(),
            (std::vector<std::string>{"a:1", "aa:9", "b:2", "c:3"}));
  EXPECT_EQ(x.find("aa:9")->slot, 3);
  EXPECT_EQ(x.quorum(), 3u);
  EXPECT_EQ(dtask::check(x), "");
}

TEST(voting_config, a_removed_voters_slot_is_not_reused_at_once) {
  std::string err;
  auto x = abc().with_removed("c:3", 1, err).with_added("d:4", 2, err);
  EXPECT_EQ(err, "");
  EXPECT_EQ(x.find("d:4")->slot, 3) << "not c:3's slot 2";
  EXPECT_EQ(x.epoch, 2u);
}

TEST(voting_config, adding_a_voter_or_removing_a_stranger_is_refused) {
  std::string err;
  auto x = abc().with_added("b:2", 1, err);
  EXPECT_NE(err, "");
  EXPECT_EQ(x, abc());
  err.clear();
  abc().with_removed("z:26", 1, err);
  EXPECT_NE(err, "");
}

TEST(voting_config, the_last_voter_is_never_removed) {
  std::string err;
  voting_config::initial({"a:1"}).with_removed("a:1", 1, err);
  EXPECT_NE(err, "");
}

TEST(voting_config, newer_orders_by_epoch_then_proposer) {
  std::string err;
  auto by_old = abc().with_added("d:4", 0x100, err);
  auto by_new = abc().with_removed("c:3", 0x201, err);
  EXPECT_TRUE(newer(by_new, by_old));
  EXPECT_FALSE(newer(by_old, by_new));
  EXPECT_TRUE(newer(by_old, abc()));
}

TEST(voting_config, may_adopt_only_a_newer_one) {
  std::string err;
  auto next = abc().with_added("d:4", 0x100, err);
  EXPECT_TRUE(abc().may_adopt(next, 0));
  EXPECT_FALSE(next.may_adopt(abc(), 0));
  EXPECT_FALSE(next.may_adopt(next, 0));
}

TEST(voting_config, may_adopt_no_next_epoch_of_a_superseded_proposer) {
  std::string err;
  auto next = abc().with_added("d:4", 0x100, err);
  EXPECT_TRUE(abc().may_adopt(next, 0x100)) << "its proposer is the fence";
  EXPECT_FALSE(abc().may_adopt(next, 0x201)) << "a newer one was followed";
  // Two changes ahead: committed, so taken whoever proposed it.
  auto after = next.with_removed("a:1", 0x100, err);
  EXPECT_TRUE(abc().may_adopt(after, 0x201));
}

TEST(voting_config, check_names_each_malformed_part) {
  auto x = abc();
  x.voters.clear();
  EXPECT_EQ(dtask::check(x), "no voters");
  x = abc();
  std::swap(x.voters[0], x.voters[1]);
  EXPECT_NE(dtask::check(x).find("not sorted"), std::string::npos);
  x = abc();
  x.voters[1].slot = 0;
  EXPECT_NE(dtask::check(x).find("slot 0"), std::string::npos);
  x = abc();
  x.voters[1].slot = 255;
  EXPECT_NE(dtask::check(x).find("slot 255"), std::string::npos);
  x = abc();
  x.voters[2].node.clear();
  EXPECT_NE(dtask::check(x), "");
}

TEST(voting_config, text_round_trips) {
  std::string err;
  auto x = abc().with_added("d:4", 0x1234, err);
  voting_config y;
  EXPECT_EQ(from_text(to_text(x), y), "");
  EXPECT_EQ(x, y);
}

TEST(voting_config, bad_text_names_its_line) {
  voting_config y;
  EXPECT_EQ(from_text("", y), "empty file");
  EXPECT_NE(from_text("dtask-membership 2\n", y).find("line 1"),
            std::string::npos);
  auto text = "dtask-membership 1\nepoch 1\nvoter a:1 0\nfoo 3\n";
  EXPECT_NE(from_text(text, y).find("line 4"), std::string::npos);
  text = "dtask-membership 1\nepoch x\n";
  EXPECT_NE(from_text(text, y).find("line 2"), std::string::npos);
  text = "dtask-membership 1\nvoter a:1 300\n";
  EXPECT_NE(from_text(text, y).find("line 2"), std::string::npos);
  text = "dtask-membership 1\nepoch 1\n";
  EXPECT_EQ(from_text(text, y), "no voters");
}

// -- the commit rule -----------------------------------------------------------

TEST(config_change, commits_with_majorities_of_the_old_and_the_new_voters) {
  std::string err;
  auto from = abc();
  auto to = from.with_added("d:4", 1, err); // 4 voters: a majority is 3.
  dtask::config_change c{from, to};
  EXPECT_FALSE(c.accepted("a:1"));
  EXPECT_FALSE(c.accepted("b:2")) << "a majority of the old voters only";
  EXPECT_TRUE(c.accepted("d:4"));
}

TEST(config_change, a_removed_voters_acceptance_counts_for_the_old_set_only) {
  std::string err;
  auto from = abc();
  auto to = from.with_removed("c:3", 1, err); // 2 voters: a majority is 2.
  dtask::config_change c{from, to};
  EXPECT_FALSE(c.accepted("c:3"));
  EXPECT_FALSE(c.accepted("a:1")) << "one of the two new voters";
  EXPECT_TRUE(c.accepted("b:2"));
}

TEST(config_change, non_voters_count_for_nothing) {
  std::string err;
  auto from = abc();
  dtask::config_change c{from, from.with_removed("c:3", 1, err)};
  EXPECT_FALSE(c.accepted("x:1"));
  EXPECT_FALSE(c.accepted("y:2"));
  EXPECT_FALSE(c.committed());
}

// -- the membership file -------------------------------------------------------

struct temp_dir {
  std::string path;
  temp_dir() {
    char templ[] = "/tmp/dtask-unit-XXXXXX";
    path = ::mkdtemp(templ);
  }
  ~temp_dir() {
    std::string cmd = "rm -rf " + path;
    [[maybe_unused]] auto rc = std::system(cmd.c_str());
  }
};

TEST(membership_file, is_written_whole_and_read_back) {
  temp_dir dir;
  std::string err;
  auto x = abc().with_added("d:4", 7, err);
  EXPECT_EQ(dtask::write_membership(dir.path, x), "");
  voting_config y;
  bool found = false;
  EXPECT_EQ(dtask::read_membership(dir.path, y, found), "");
  EXPECT_TRUE(found);
  EXPECT_EQ(x, y);
  EXPECT_NE(::access((dtask::membership_file(dir.path) + ".tmp").c_str(), F_OK),
            0)
    << "the temporary file was renamed";
}

TEST(membership_file, a_missing_file_is_no_error_and_the_seeds_are_used) {
  temp_dir dir;
  dtask::config_cell_ptr cell;
  EXPECT_EQ(dtask::make_voting({"b:2", "a:1"}, dir.path, cell), "");
  ASSERT_TRUE(cell);
  EXPECT_EQ(*cell->current(), voting_config::initial({"a:1", "b:2"}));
}

TEST(membership_file, a_newer_file_wins_over_the_seeds) {
  temp_dir dir;
  std::string err;
  auto x = abc().with_removed("c:3", 7, err);
  ASSERT_EQ(dtask::write_membership(dir.path, x), "");
  dtask::config_cell_ptr cell;
  EXPECT_EQ(dtask::make_voting({"a:1", "b:2", "c:3"}, dir.path, cell), "");
  EXPECT_EQ(*cell->current(), x);
}

TEST(membership_file, a_corrupt_file_stops_the_start_with_its_problem) {
  temp_dir dir;
  std::ofstream{dtask::membership_file(dir.path)} << "dtask-membership 1\n"
                                                      "voter a:1\n";
  dtask::config_cell_ptr cell;
  auto err = dtask::make_voting({"a:1"}, dir.path, cell);
  EXPECT_NE(err.find("line 2"), std::string::npos) << err;
}

TEST(membership_file, an_adopted_configuration_is_written_before_it_counts) {
  temp_dir dir;
  dtask::config_cell cell{abc(), dir.path};
  std::string err;
  auto x = abc().with_added("d:4", 7, err);
  int changes = 0;
  cell.on_change([&] { ++changes; });
  EXPECT_TRUE(cell.adopt(x));
  EXPECT_EQ(changes, 1);
  voting_config y;
  bool found = false;
  EXPECT_EQ(dtask::read_membership(dir.path, y, found), "");
  EXPECT_EQ(y, x);
  EXPECT_TRUE(cell.adopt(x)) << "the current one";
  EXPECT_EQ(changes, 1);
  EXPECT_FALSE(cell.adopt(abc())) << "an older one";
}

TEST(membership_file, a_write_that_fails_adopts_nothing) {
  dtask::config_cell cell{abc(), "/nonexistent/dtask-dir"};
  std::string err;
  auto x = abc().with_added("d:4", 7, err);
  std::string why;
  EXPECT_FALSE(cell.adopt(x, &why));
  EXPECT_NE(why.find("/nonexistent/dtask-dir"), std::string::npos);
  EXPECT_EQ(*cell.current(), abc());
}

TEST(config_cell, a_superseded_proposal_is_refused_after_a_newer_orchestrator) {
  dtask::config_cell cell{abc(), ""};
  std::string err;
  auto x = abc().with_added("d:4", 0x100, err);
  cell.note_followed(0x201);
  EXPECT_FALSE(cell.adopt(x));
  EXPECT_TRUE(cell.adopt(abc().with_added("d:4", 0x201, err)));
}

} // namespace
