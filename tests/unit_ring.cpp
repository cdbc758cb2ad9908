// The hash ring: stable hashing, balance, and how many names move.

#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "dtask/ring.hpp"

namespace {

std::vector<std::string> nodes(int n, int first_port = 4101) {
  std::vector<std::string> result;
  for (int i = 0; i < n; ++i)
    result.push_back("127.0.0.1:" + std::to_string(first_port + i));
  return result;
}

double max_over_mean(const dtask::hash_ring& ring, int names) {
  std::map<std::string, int> count;
  for (int i = 0; i < names; ++i)
    ++count[ring.owner("task-" + std::to_string(i))];
  int max = 0;
  for (auto& kvp : count)
    max = std::max(max, kvp.second);
  return max / (static_cast<double>(names) / ring.members().size());
}

} // namespace

TEST(ring, hash_is_pinned) {
  // Golden values: any change of the hash function moves every task in a
  // running cluster whose nodes run different builds. Keep them.
  EXPECT_EQ(dtask::stable_hash(""), 0xefd01f60ba992926ull);
  EXPECT_EQ(dtask::stable_hash("task-1"), 0x599bc41316911c67ull);
  EXPECT_EQ(dtask::stable_hash("127.0.0.1:4101", 7), 0x682431a36ecffb05ull);
}

TEST(ring, spreads_3000_names_over_3_nodes_within_10_percent) {
  dtask::hash_ring ring;
  ring.assign(nodes(3));
  EXPECT_LE(max_over_mean(ring, 3000), 1.10);
}

TEST(ring, spreads_30000_names_over_3_nodes_within_5_percent) {
  dtask::hash_ring ring;
  ring.assign(nodes(3));
  EXPECT_LE(max_over_mean(ring, 30000), 1.05);
}

TEST(ring, spreads_within_5_percent_for_any_member_names) {
  // Real clusters have arbitrary host:port names: try many member sets.
  std::mt19937 rng{42};
  for (int round = 0; round < 50; ++round) {
    std::set<std::string> names;
    while (names.size() < 3)
      names.insert("10.0." + std::to_string(rng() % 256) + "."
                   + std::to_string(rng() % 256) + ":"
                   + std::to_string(1024 + rng() % 60000));
    dtask::hash_ring ring;
    ring.assign({names.begin(), names.end()});
    EXPECT_LE(max_over_mean(ring, 30000), 1.05) << *names.begin();
  }
}

TEST(ring, spreads_over_24_nodes) {
  dtask::hash_ring ring;
  ring.assign(nodes(24));
  EXPECT_LE(max_over_mean(ring, 48000), 1.15);
}

TEST(ring, member_order_does_not_matter) {
  dtask::hash_ring a;
  dtask::hash_ring b;
  auto ns = nodes(5);
  a.assign(ns);
  std::reverse(ns.begin(), ns.end());
  ns.push_back(ns.front()); // A duplicate, too.
  b.assign(ns);
  for (int i = 0; i < 1000; ++i) {
    auto name = "n" + std::to_string(i);
    EXPECT_EQ(a.owner(name), b.owner(name));
  }
}

TEST(ring, join_moves_about_one_in_n_names_and_only_to_the_new_node) {
  dtask::hash_ring before;
  dtask::hash_ring after;
  before.assign(nodes(3));
  after.assign(nodes(4));
  int moved = 0;
  const int total = 20000;
  for (int i = 0; i < total; ++i) {
    auto name = "task-" + std::to_string(i);
    auto& x = before.owner(name);
    auto& y = after.owner(name);
    if (x != y) {
      ++moved;
      EXPECT_EQ(y, "127.0.0.1:4104");
    }
  }
  EXPECT_NEAR(moved / static_cast<double>(total), 0.25, 0.04);
}

TEST(ring, leave_moves_only_the_names_of_the_node_that_left) {
  dtask::hash_ring before;
  dtask::hash_ring after;
  auto ns = nodes(4);
  before.assign(ns);
  ns.erase(ns.begin() + 1);
  after.assign(ns);
  int moved = 0;
  const int total = 20000;
  for (int i = 0; i < total; ++i) {
    auto name = "task-" + std::to_string(i);
    auto& x = before.owner(name);
    if (x != after.owner(name)) {
      ++moved;
      EXPECT_EQ(x, "127.0.0.1:4102");
    }
  }
  EXPECT_NEAR(moved / static_cast<double>(total), 0.25, 0.04);
}

namespace {

/// The ring as the definition says: every point, sorted by (hash, member).
std::string reference_owner(std::vector<std::string> members,
                            const std::string& name, size_t vnodes) {
  std::sort(members.begin(), members.end());
  std::vector<std::pair<uint64_t, uint32_t>> points;
  for (uint32_t m = 0; m < members.size(); ++m)
    for (uint64_t v = 0; v < vnodes; ++v)
      points.emplace_back(dtask::stable_hash(members[m], v + 1), m);
  std::sort(points.begin(), points.end());
  auto i = std::lower_bound(points.begin(), points.end(),
                            std::make_pair(dtask::stable_hash(name),
                                           uint32_t{0}));
  if (i == points.end())
    i = points.begin();
  return members[i->second];
}

} // namespace

TEST(ring, a_ring_changed_step_by_step_equals_one_built_at_once) {
  constexpr size_t vnodes = 64;
  dtask::hash_ring ring{vnodes};
  std::vector<std::vector<std::string>> steps{
    {"a:1", "b:2", "c:3"},
    {"a:1", "b:2", "c:3", "d:4"},
    {"b:2", "d:4"},
    {"e:5", "b:2", "d:4", "a:1"},
    {"e:5", "b:2", "d:4", "a:1"},
  };
  for (auto& members : steps) {
    ring.assign(members);
    for (int i = 0; i < 2000; ++i) {
      auto name = "task-" + std::to_string(i);
      ASSERT_EQ(ring.owner(name), reference_owner(members, name, vnodes))
        << name;
    }
  }
}
