// A user's program that returns from `main` exits by itself, promptly: the
// actor system's destructor waits for every actor, and a client actor that
// kept itself alive made such a program hang forever (see
// clean_exit_client.cpp for what each mode does).

#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;

namespace {

/// Far more than a program needs to start a task, get its callback and shut
/// its actor system down (about 0.1 s here).
constexpr auto exit_bound = 10s;

dtask_test::run_result run_client(const cluster& c, const char* mode) {
  return dtask_test::run(
    {DTASK_CLEAN_EXIT_CLIENT_BIN, std::to_string(c.port(0)), mode}, exit_bound);
}

} // namespace

TEST(clean_exit, a_blocking_client_returning_from_main_exits) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto res = run_client(c, "blocking");
  EXPECT_EQ(res.rc, 0) << res.err;
  ASSERT_EQ(res.lines.size(), 1u) << res.err;
  EXPECT_EQ(res.lines[0].rfind("callback ", 0), 0u) << res.lines[0];
}

TEST(clean_exit, an_actor_system_waiting_for_its_actors_exits_after_the_callback) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto res = run_client(c, "actor");
  EXPECT_EQ(res.rc, 0) << res.err;
  ASSERT_EQ(res.lines.size(), 1u) << res.err;
  EXPECT_EQ(res.lines[0].rfind("callback ", 0), 0u) << res.lines[0];
}

TEST(clean_exit, a_program_that_returns_before_its_callback_exits) {
  cluster c{3};
  ASSERT_TRUE(c.start_all());
  auto res = run_client(c, "early");
  EXPECT_EQ(res.rc, 0) << res.err;
  ASSERT_EQ(res.lines.size(), 1u) << res.err;
  EXPECT_EQ(res.lines[0].rfind("started ", 0), 0u) << res.lines[0];
}
