// Changes of the voting membership with real node processes: `dtask members
// add|remove`, a dead voter replaced, and a node that comes back with a
// stale membership file (README, "Changing the voters").

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;
using dtask_test::json_field;
using dtask_test::run_result;
using dtask_test::wait_until;

namespace {

const bool dump_logs_installed = [] {
  dtask_test::dump_logs_if = [] { return ::testing::Test::HasFailure(); };
  return true;
}();

/// The voters named by the last line of `dtask members` via node `via`.
std::string voters_of(cluster& c, int via) {
  auto res = c.cli({"members"}, via);
  if (res.rc != 0 || res.lines.empty())
    return "";
  return json_field(res.lines.back(), "voters");
}

std::string quoted_list(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string result = "[";
  for (auto& n : names)
    result += (result.size() > 1 ? ",\"" : "\"") + n + "\"";
  return result + "]";
}

/// Runs `members add|remove node` via `via` until it succeeds (a new
/// orchestrator refuses changes for its first 3.25 s); its last answer.
run_result change(cluster& c, const char* verb, const std::string& node,
                  int via) {
  run_result res;
  wait_until(
    [&] {
      res = c.cli({"members", verb, node}, via);
      return res.rc == 0;
    },
    20s);
  return res;
}

/// True once a start via node `via` is accepted (the cluster has an
/// orchestrator with a majority).
bool accepts_starts(cluster& c, int via) {
  int k = 0;
  return wait_until(
    [&] {
      auto res = c.cli({"start", "sleep", "60000", "--name=probe"
                                                     + std::to_string(k++)},
                       via);
      return res.rc == 0;
    },
    20s);
}

std::string file_text(const std::string& path) {
  std::ifstream in{path};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

/// Three voters (nodes 0-2) and a fourth member that is no voter, each
/// with a state directory.
struct four_nodes : ::testing::Test {
  cluster c{4};

  void SetUp() override {
    c.set_seeds(3);
    c.use_state_dirs();
    ASSERT_TRUE(c.start_all());
  }

  /// Kills node 2 for good, removes it, adds node 3: voters 0, 1, 3.
  void replace_node_2() {
    c.signal(2, SIGKILL);
    auto res = change(c, "remove", c.name(2), 0);
    ASSERT_EQ(res.rc, 0) << res.err << (res.lines.empty() ? "" : res.lines[0]);
    EXPECT_EQ(json_field(res.lines[0], "config"), "1");
    EXPECT_EQ(json_field(res.lines[0], "voters"),
              quoted_list({c.name(0), c.name(1)}));
    res = change(c, "add", c.name(3), 1);
    ASSERT_EQ(res.rc, 0) << res.err << (res.lines.empty() ? "" : res.lines[0]);
    EXPECT_EQ(json_field(res.lines[0], "config"), "2");
  }
};

} // namespace

TEST_F(four_nodes, members_shows_the_voters_and_who_is_none) {
  auto res = c.cli({"members"}, 3);
  ASSERT_EQ(res.rc, 0);
  ASSERT_EQ(res.lines.size(), 5u);
  for (int i = 0; i < 4; ++i) {
    auto& line = res.lines[static_cast<size_t>(i)];
    auto node = c.index_of(json_field(line, "node"));
    EXPECT_EQ(json_field(line, "voter"), node < 3 ? "true" : "false") << line;
    EXPECT_EQ(json_field(line, "state"), "up");
  }
  EXPECT_EQ(json_field(res.lines[4], "config"), "0");
  EXPECT_EQ(json_field(res.lines[4], "voters"),
            quoted_list({c.name(0), c.name(1), c.name(2)}));
  // A change the orchestrator refuses names why (exit 1).
  res = change(c, "remove", "127.0.0.1:1", 0);
  EXPECT_EQ(res.rc, 0) << "not a voter: nothing to do, the current set";
  res = c.cli({"members", "add", "127.0.0.1:1"}, 0);
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("error"), "invalid_change") << res.lines[0];
  res = c.cli({"members", "add", "no-port"}, 0);
  EXPECT_EQ(res.rc, 1);
  EXPECT_EQ(res.field("error"), "invalid_change");
}

// Issue item (a): a dead voter is replaced; then another original voter
// dies, and the two left of the three voters still form a majority.
TEST_F(four_nodes, a_replaced_voter_keeps_the_cluster_going_after_another_loss) {
  replace_node_2();
  for (int i : {0, 1, 3})
    EXPECT_TRUE(wait_until(
      [&] {
        return voters_of(c, i) == quoted_list({c.name(0), c.name(1), c.name(3)});
      },
      10s))
      << "node " << i << " took the committed configuration";
  // `members` names the dead node no more: it is no voter and no member.
  EXPECT_EQ(c.cli({"members"}, 0).lines.size(), 4u);
  EXPECT_NE(file_text(c.state_dir(0) + "/membership").find("epoch 2"),
            std::string::npos);
  c.signal(1, SIGKILL);
  EXPECT_TRUE(accepts_starts(c, 0)) << "voters 0 and 3 of {0, 1, 3}";
  auto res = c.cli({"members"}, 3);
  ASSERT_FALSE(res.lines.empty());
  bool one_unreachable = false;
  for (auto& line : res.lines)
    if (json_field(line, "node") == c.name(1))
      one_unreachable = json_field(line, "state") == "unreachable";
  EXPECT_TRUE(one_unreachable) << "the dead voter is listed as unreachable";
}

// A live voter that is removed leaves as on SIGTERM: it exits 0, its
// tasks handed over, and the others go on with a majority of two.
TEST_F(four_nodes, a_removed_live_voter_leaves_the_cluster) {
  auto res = change(c, "remove", c.name(1), 0);
  ASSERT_EQ(res.rc, 0);
  EXPECT_EQ(c.reap(1, 15s), 0) << "node 1 left by itself, exit 0";
  EXPECT_TRUE(accepts_starts(c, 3));
  EXPECT_EQ(voters_of(c, 2), quoted_list({c.name(0), c.name(2)}));
}

// Issue item (c): node 2 comes back with its membership file of the old
// set {0, 1, 2}. It must not vote with that set: it learns the committed
// one from its peers, sees it is no voter, and leaves; no orchestrator
// ever holds a majority on it.
TEST_F(four_nodes, a_restart_from_a_stale_file_does_not_vote_with_the_old_set) {
  replace_node_2();
  ASSERT_NE(file_text(c.state_dir(2) + "/membership").find("epoch 0"),
            std::string::npos)
    << "node 2 died before the change";
  auto orch = c.orchestrator(0);
  auto majorities = c.log_lines(2, "holds a majority"); // Its earlier life.
  ASSERT_TRUE(c.start(2));
  EXPECT_EQ(c.reap(2, 15s), 0) << "node 2 left once it saw it was removed";
  EXPECT_EQ(c.log_lines(2, "holds a majority"), majorities);
  EXPECT_EQ(c.log_lines(2, "removed from the voters"), 1);
  EXPECT_NE(file_text(c.state_dir(2) + "/membership").find("epoch 2"),
            std::string::npos)
    << "it kept the committed configuration";
  EXPECT_EQ(c.orchestrator(0), orch);
  EXPECT_TRUE(accepts_starts(c, 3));
}

// A membership file that cannot be read stops the node at start, naming
// the file and the line.
TEST(membership, a_corrupt_membership_file_stops_the_node) {
  cluster c{1};
  c.use_state_dirs();
  std::ofstream{c.state_dir(0) + "/membership"} << "dtask-membership 1\n"
                                                   "voter nonsense\n";
  auto res = dtask_test::run(
    {DTASK_NODE_BIN, "--config-file=" + c.dir() + "/node0.ini"});
  EXPECT_NE(res.rc, 0);
  EXPECT_NE(res.err.find("/membership: line 2"), std::string::npos) << res.err;
  // A state directory that cannot take the file stops it too.
  c.use_state_dirs();
  ::rmdir((c.state_dir(0) + "/membership").c_str());
  ::unlink((c.state_dir(0) + "/membership").c_str());
  ::rmdir(c.state_dir(0).c_str());
  res = dtask_test::run(
    {DTASK_NODE_BIN, "--config-file=" + c.dir() + "/node0.ini"});
  EXPECT_NE(res.rc, 0);
  EXPECT_NE(res.err.find("cluster.state-dir"), std::string::npos) << res.err;
}
