// Bounds on what a cluster keeps and sends, with real node processes: each
// limit is a `[cluster]` key, and each refusal a clear error. Each test
// failed before the change it names.

#include <fstream>
#include <string>

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include "cluster_harness.hpp"
#include "dtask/client.hpp"
#include "dtask/errors.hpp"
#include "dtask/node.hpp"

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

/// The client library in this process, connected to a node.
struct api_client {
  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::expected<dtask::client> cli;

  explicit api_client(uint16_t port)
    : sys((dtask::configure(cfg), cfg)),
      cli(dtask::client::connect(sys, {"127.0.0.1", port})) {
    // nop
  }

  ~api_client() {
    // The client actor's timers would keep the actor system alive.
    if (cli)
      caf::anon_send_exit(cli->actor(), caf::exit_reason::kill);
  }
};

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

// A failure reason is cut to `max-result-bytes`, saying so. Before: a
// task's reason of any size was kept and sent as it was.
TEST(bounds, a_failure_reason_is_cut_to_max_result_bytes) {
  cluster c{1, "max-result-bytes=1000"};
  ASSERT_TRUE(c.start_all());
  auto res = c.cli({"start", "fail", std::string(2000, 'x'), "--wait"});
  EXPECT_EQ(res.rc, 1) << res.err;
  ASSERT_EQ(res.lines.size(), 2u);
  EXPECT_EQ(res.field("state", 1), "failed");
  auto reason = res.field("reason", 1);
  EXPECT_EQ(reason, std::string(1000, 'x') + "... (cut from 2000 bytes)");
  auto short_one = c.cli({"start", "fail", "brief", "--wait"});
  EXPECT_EQ(short_one.field("reason", 1), "brief");
}

// A `list` reply holds at most `max-list` tasks: the CLI pages by name
// (`--limit`, `--after`, and a last line {"next":NAME} while more follow),
// and the unpaged request of the API is refused with `too_many` (count,
// limit) beyond the bound. Before: one reply held every task.
TEST(bounds, a_list_reply_holds_at_most_max_list_tasks) {
  cluster c{1, "max-list=3"};
  ASSERT_TRUE(c.start_all());
  for (auto name : {"t5", "t2", "t4", "t1"})
    ASSERT_EQ(c.cli({"start", "echo", "--name=" + std::string{name},
                     "--wait"}).rc, 0);
  ASSERT_EQ(c.cli({"start", "sleep", "60000", "--name=t3"}).rc, 0);
  auto names = [](const dtask_test::run_result& res) {
    std::string out;
    for (auto& line : res.lines)
      out += dtask_test::json_field(line, "name") + " ";
    return out;
  };
  auto all = c.cli({"list"});
  EXPECT_EQ(all.rc, 0) << all.err;
  EXPECT_EQ(names(all), "t1 t2 t3  ");
  EXPECT_EQ(all.field("next", 3), "t3");
  auto rest = c.cli({"list", "--after=t3"});
  EXPECT_EQ(names(rest), "t4 t5 ");
  auto two = c.cli({"list", "--limit=2"});
  EXPECT_EQ(names(two), "t1 t2  ");
  EXPECT_EQ(two.field("next", 2), "t2");
  auto next_two = c.cli({"list", "--after=t2", "--limit=2"});
  EXPECT_EQ(names(next_two), "t3 t4  ");
  EXPECT_EQ(next_two.field("next", 2), "t4");
  auto capped = c.cli({"list", "--limit=100"});
  EXPECT_EQ(names(capped), "t1 t2 t3  ");
  // The unpaged request of the API.
  api_client api{c.port(0)};
  auto& sys = api.sys;
  auto& cli = api.cli;
  ASSERT_TRUE(cli) << sys.render(cli.error());
  auto unpaged = cli->list();
  ASSERT_FALSE(unpaged);
  EXPECT_TRUE(dtask::is(unpaged.error(), dtask::errc::too_many))
    << sys.render(unpaged.error());
  auto& context = unpaged.error().context();
  ASSERT_TRUE((context.match_elements<uint64_t, uint64_t>()));
  EXPECT_EQ(context.get_as<uint64_t>(0), 5u); // Count.
  EXPECT_EQ(context.get_as<uint64_t>(1), 3u); // Limit.
  auto page = cli->list(dtask::list_query{"t4", 0});
  ASSERT_TRUE(page) << sys.render(page.error());
  ASSERT_EQ(page->tasks.size(), 1u);
  EXPECT_EQ(page->tasks[0].name, "t5");
  EXPECT_EQ(page->next, "");
  // --limit parses strictly, and only list takes it.
  for (auto bad : {"0", "-1", "2x", "1e3", "1000001", ""}) {
    auto res = c.cli({"list", "--limit=" + std::string{bad}});
    EXPECT_EQ(res.rc, 2) << bad;
    EXPECT_NE(res.err.find("--limit= takes a whole number"),
              std::string::npos)
      << res.err;
  }
  EXPECT_EQ(c.cli({"status", "t1", "--limit=2"}).rc, 2);
  EXPECT_EQ(c.cli({"nodes", "--after=t1"}).rc, 2);
}
