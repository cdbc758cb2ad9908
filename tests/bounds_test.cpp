// Bounds on what a cluster keeps and sends, with real node processes: each
// limit is a `[cluster]` key, and each refusal a clear error. Each test
// failed before the change it names.

#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "cluster_harness.hpp"

using namespace std::chrono_literals;
using dtask_test::cluster;

namespace {

/// Lines of `path` that contain `text`.
int count_lines(const std::string& path, const std::string& text) {
  std::ifstream in{path};
  int n = 0;
  for (std::string line; std::getline(in, line);)
    if (line.find(text) != std::string::npos)
      ++n;
  return n;
}

} // namespace

// The orchestrator remembers at most `max-finished` ended tasks: a task that
// ends beyond it makes the oldest ended one `not_found` before its TTL,
// never a running one, and the log says once which key was reached.
// Before: every ended task stayed for `finished-ttl`, however many.
TEST(bounds, the_orchestrator_remembers_at_most_max_finished_tasks) {
  cluster c{1, "max-finished=2"};
  ASSERT_TRUE(c.start_all());
  ASSERT_EQ(c.cli({"start", "sleep", "60000", "--name=r"}).rc, 0);
  for (auto name : {"a", "b", "c", "d"}) {
    auto res = c.cli({"start", "echo", name, "--name=" + std::string{name},
                      "--wait"});
    ASSERT_EQ(res.rc, 0) << res.err;
  }
  EXPECT_EQ(c.cli({"status", "a"}).field("error"), "not_found");
  EXPECT_EQ(c.cli({"status", "b"}).field("error"), "not_found");
  EXPECT_EQ(c.cli({"status", "c"}).field("state"), "done");
  EXPECT_EQ(c.cli({"status", "d"}).field("state"), "done");
  EXPECT_EQ(c.cli({"status", "r"}).field("state"), "running");
  auto logged = [&] {
    return count_lines(c.log(0), "max-finished=2 reached") == 1;
  };
  EXPECT_TRUE(dtask_test::wait_until(logged, 5s));
  EXPECT_EQ(count_lines(c.log(0), "max-finished"), 1);
}

// A result larger than `max-result-bytes` fails its task on the node that
// ran it, naming the size and the limit; the callback gets that failure,
// and `status` says the same. A result within the limit is unchanged.
// Before: any result was recorded and sent, however large.
TEST(bounds, a_result_beyond_max_result_bytes_fails_its_task) {
  cluster c{1, "max-result-bytes=1000"};
  ASSERT_TRUE(c.start_all());
  auto big = c.cli({"start", "echo", std::string(2000, 'x'), "--name=big",
                    "--wait"});
  EXPECT_EQ(big.rc, 1) << big.err;
  ASSERT_EQ(big.lines.size(), 2u);
  EXPECT_EQ(big.field("state", 1), "failed");
  auto reason = big.field("reason", 1);
  EXPECT_EQ(reason.rfind("the result has ", 0), 0u) << reason;
  EXPECT_NE(reason.find(" bytes, more than max-result-bytes=1000"),
            std::string::npos)
    << reason;
  EXPECT_EQ(big.field("result", 1), "");
  auto status = c.cli({"status", "big"});
  EXPECT_EQ(status.field("state"), "failed");
  EXPECT_EQ(status.field("reason"), reason);
  auto small = c.cli({"start", "echo", std::string(900, 'y'), "--wait"});
  EXPECT_EQ(small.rc, 0) << small.err;
  EXPECT_EQ(small.field("state", 1), "done");
}
